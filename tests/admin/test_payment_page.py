"""The payment's own page: Refund and Resolve-review buttons with the list's permissions and
pages, the review's resolution shown, and a changelist narrow enough for a laptop."""

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from payments.models import LedgerEntry, Payment
from tests.admin.conftest import paid_payment

pytestmark = pytest.mark.django_db


def page_of(payment) -> str:
    return reverse("admin:payments_payment_change", args=[payment.pk])


def refund_url(payment) -> str:
    return reverse("admin:payments_payment_refund", args=[payment.pk])


def resolve_url(payment) -> str:
    return reverse("admin:payments_payment_resolve_review", args=[payment.pk])


@pytest.fixture
def flagged(tariff_1m) -> Payment:
    payment = paid_payment()
    Payment.objects.filter(pk=payment.pk).update(needs_review=True, review_reason="second charge")
    return Payment.objects.get(pk=payment.pk)


def test_finance_sees_the_refund_button_on_a_paid_payment(admin_client_for, finance_user, tariff_1m):
    payment = paid_payment()

    content = admin_client_for(finance_user).get(page_of(payment)).content.decode()

    assert f'href="{refund_url(payment)}"' in content


def test_support_sees_no_refund_button(admin_client_for, support_user, tariff_1m):
    payment = paid_payment()

    content = admin_client_for(support_user).get(page_of(payment)).content.decode()

    assert refund_url(payment) not in content


def test_the_button_leads_to_the_same_confirmation_page(admin_client_for, finance_user, tariff_1m):
    payment = paid_payment()

    page = admin_client_for(finance_user).get(refund_url(payment))

    content = page.content.decode()
    assert page.status_code == 200
    assert page.templates[0].name == "admin/payments/payment/refund_confirmation.html"
    assert str(payment.purchase_id) in content and "100 XTR" in content
    assert Payment.objects.get(pk=payment.pk).status == Payment.Status.SUCCEEDED


def test_confirming_refunds_once_logs_it_and_returns_to_the_payment(admin_client_for, finance_user, tariff_1m):
    payment = paid_payment()
    client = admin_client_for(finance_user)

    response = client.post(refund_url(payment), {"confirm": "yes", "reason": "asked in support"})
    again = client.post(refund_url(payment), {"confirm": "yes"})

    assert (response.status_code, response["Location"]) == (302, page_of(payment))
    assert Payment.objects.get(pk=payment.pk).status == Payment.Status.REFUNDED
    assert LedgerEntry.objects.filter(payment=payment, kind=LedgerEntry.Kind.REFUND).count() == 1
    assert LogEntry.objects.filter(object_id=str(payment.pk), change_message__contains="asked in support").exists()
    assert "Already refunded" in " ".join(str(m) for m in again.wsgi_request._messages)


def test_support_cannot_refund_through_the_page(admin_client_for, support_user, tariff_1m):
    payment = paid_payment()
    client = admin_client_for(support_user)

    shown = client.get(refund_url(payment))
    posted = client.post(refund_url(payment), {"confirm": "yes"})

    assert (shown.status_code, posted.status_code) == (403, 403)
    assert Payment.objects.get(pk=payment.pk).status == Payment.Status.SUCCEEDED


@pytest.mark.parametrize("object_id", ["999999", "abc", "1 OR 1"])
def test_a_payment_that_does_not_exist_is_not_found(admin_client_for, finance_user, object_id):
    url = reverse("admin:payments_payment_refund", args=[object_id])

    assert admin_client_for(finance_user).get(url).status_code == 404


def test_finance_resolves_a_review_from_the_page_and_the_page_shows_who_when_and_why(
    admin_client_for, finance_user, flagged
):
    client = admin_client_for(finance_user)
    before = client.get(page_of(flagged)).content.decode()

    form = client.get(resolve_url(flagged))
    response = client.post(resolve_url(flagged), {"note": "duplicate charge refunded by hand"})
    after = client.get(page_of(flagged)).content.decode()

    flagged.refresh_from_db()
    assert f'href="{resolve_url(flagged)}"' in before
    assert form.status_code == 200 and 'name="note"' in form.content.decode()
    assert response.status_code == 302 and not flagged.review_open
    assert (flagged.review_resolved_by, flagged.review_note) == (finance_user, "duplicate charge refunded by hand")
    assert "duplicate charge refunded by hand" in after and finance_user.username in after
    assert resolve_url(flagged) not in after  # nothing left to resolve


def test_a_review_needs_a_note(admin_client_for, finance_user, flagged):
    page = admin_client_for(finance_user).post(resolve_url(flagged), {"note": "  "})

    assert page.status_code == 200 and "note" in page.context["form"].errors
    assert Payment.objects.get(pk=flagged.pk).review_open


def test_support_cannot_resolve_a_review_from_the_page(admin_client_for, support_user, flagged):
    client = admin_client_for(support_user)

    content = client.get(page_of(flagged)).content.decode()
    posted = client.post(resolve_url(flagged), {"note": "looks fine"})

    assert resolve_url(flagged) not in content
    assert posted.status_code == 403
    assert Payment.objects.get(pk=flagged.pk).review_open


def test_a_flagged_payment_opens_on_its_review(admin_client_for, support_user, flagged):
    page = admin_client_for(support_user).get(page_of(flagged))

    first_fieldset = page.context["adminform"].fieldsets[0]
    assert first_fieldset[0] == "Review"


def test_the_list_shows_a_short_id_amount_and_status_first(admin_client_for, superuser, tariff_1m):
    payment = paid_payment()

    page = admin_client_for(superuser).get(reverse("admin:payments_payment_changelist"))

    content = page.content.decode()
    assert page.context["cl"].list_display[1:4] == ["short_id", "amount_xtr", "status"]
    assert f">{str(payment.purchase_id)[:8]}</a></th>" in content


@pytest.mark.parametrize(
    "name",
    [
        "admin:payments_reconciliationrun_changelist",
        "admin:subscriptions_expiryreminder_changelist",
        "admin:payments_subscribersnapshot_changelist",
    ],
)
def test_support_reads_the_records_an_operator_needs_and_changes_none(admin_client_for, support_user, name):
    client = admin_client_for(support_user)

    page = client.get(reverse(name))

    assert page.status_code == 200
    assert page.context["has_add_permission"] is False
