"""Resolving reviews in the admin: Finance only, with a note, found by the review filter."""

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group
from django.urls import reverse

from payments.models import Payment
from tests.admin.conftest import paid_payment

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:payments_payment_changelist")


@pytest.fixture
def flagged(tariff_1m) -> Payment:
    payment = paid_payment()
    Payment.objects.filter(pk=payment.pk).update(needs_review=True, review_reason="second charge")
    return Payment.objects.get(pk=payment.pk)


def resolve_post(client, payment, **form):
    data = {"action": "resolve_review", "_selected_action": [payment.pk], **form}
    if form:
        data["apply"] = "yes"
    return client.post(CHANGELIST, data)


def test_finance_may_resolve_reviews_and_support_may_not():
    assert Group.objects.get(name="Finance").permissions.filter(codename="resolve_review").exists()
    assert not Group.objects.get(name="Support").permissions.filter(codename="resolve_review").exists()


def test_finance_resolves_a_review_with_a_note_and_it_is_logged(admin_client_for, finance_user, flagged):
    resolve_post(admin_client_for(finance_user), flagged, note="refunded by hand in Telegram support")

    flagged.refresh_from_db()
    assert not flagged.review_open
    assert (flagged.review_resolved_by, flagged.review_note) == (finance_user, "refunded by hand in Telegram support")
    assert "Review resolved" in LogEntry.objects.get(object_id=str(flagged.pk)).change_message


def test_resolving_without_a_note_shows_the_form_and_changes_nothing(admin_client_for, finance_user, flagged):
    page = resolve_post(admin_client_for(finance_user), flagged, note=" ")

    assert page.status_code == 200 and "note" in page.context["form"].errors
    assert Payment.objects.get(pk=flagged.pk).review_open


def test_support_cannot_resolve_by_posting_the_action(admin_client_for, support_user, flagged):
    client = admin_client_for(support_user)

    assert "resolve_review" not in client.get(CHANGELIST).content.decode()
    resolve_post(client, flagged, note="looks fine")

    assert Payment.objects.get(pk=flagged.pk).review_open


def test_review_filter_lists_open_and_resolved_reviews(admin_client_for, finance_user, flagged, tariff_1m):
    paid_payment()  # never flagged
    client = admin_client_for(finance_user)

    open_before = {p.pk for p in client.get(CHANGELIST, {"review": "open"}).context["cl"].result_list}
    resolve_post(client, flagged, note="ok")
    open_after = {p.pk for p in client.get(CHANGELIST, {"review": "open"}).context["cl"].result_list}
    resolved = {p.pk for p in client.get(CHANGELIST, {"review": "resolved"}).context["cl"].result_list}

    assert (open_before, open_after, resolved) == ({flagged.pk}, set(), {flagged.pk})
