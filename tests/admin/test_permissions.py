"""Who may do what with money in the admin."""

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group
from django.urls import reverse

from payments.models import LedgerEntry, Payment, PurchaseEvent
from tests.admin.conftest import paid_payment

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:payments_payment_changelist")


def refund_post(client, payment, **extra):
    return client.post(CHANGELIST, {"action": "refund_selected", "_selected_action": [payment.pk], **extra})


def test_groups_support_and_finance_exist_with_their_rights():
    support = set(Group.objects.get(name="Support").permissions.values_list("codename", flat=True))
    finance = set(Group.objects.get(name="Finance").permissions.values_list("codename", flat=True))

    assert {"view_payment", "view_ledgerentry", "view_user", "adjust_subscription"} <= support
    assert not {"refund_payment", "adjust_balance"} & support
    assert {"view_payment", "adjust_subscription", "refund_payment", "adjust_balance", "add_promocode"} <= finance


def test_support_user_is_not_offered_the_refund_action(admin_client_for, support_user):
    paid_payment()

    page = admin_client_for(support_user).get(CHANGELIST)

    assert page.status_code == 200
    assert "refund_selected" not in page.content.decode()


def test_support_user_cannot_refund_by_posting_the_action(admin_client_for, support_user):
    payment = paid_payment()

    admin_client_for(support_user).post(
        CHANGELIST, {"action": "refund_selected", "_selected_action": [payment.pk], "confirm": "yes"}
    )

    payment.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED
    assert not LedgerEntry.objects.filter(payment=payment, kind=LedgerEntry.Kind.REFUND).exists()


@pytest.mark.parametrize("model", [Payment, LedgerEntry, PurchaseEvent])
def test_nobody_can_delete_money_rows_not_even_a_superuser(admin_client_for, superuser, model):
    paid_payment()
    row = model.objects.first()
    opts = model._meta
    client = admin_client_for(superuser)

    delete_page = client.post(
        reverse(f"admin:{opts.app_label}_{opts.model_name}_delete", args=[row.pk]), {"post": "yes"}
    )
    bulk = client.post(
        reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"),
        {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"},
    )

    assert delete_page.status_code == 403
    assert bulk.status_code in (200, 302)
    assert model.objects.filter(pk=row.pk).exists()


def test_a_superuser_cannot_edit_a_payments_money_fields(admin_client_for, superuser):
    payment = paid_payment()

    response = admin_client_for(superuser).post(
        reverse("admin:payments_payment_change", args=[payment.pk]), {"amount": 1, "status": "failed"}
    )

    payment.refresh_from_db()
    assert response.status_code == 403
    assert (payment.amount, payment.status) == (100, Payment.Status.SUCCEEDED)


def test_refund_first_shows_a_confirmation_page_with_each_payment_and_amount(admin_client_for, finance_user):
    payment = paid_payment()

    page = refund_post(admin_client_for(finance_user), payment)

    payment.refresh_from_db()
    assert page.status_code == 200
    assert str(payment.purchase_id) in page.content.decode()
    assert "100 XTR" in page.content.decode()
    assert payment.status == Payment.Status.SUCCEEDED


def test_confirmed_refund_books_it_and_logs_the_reason(admin_client_for, finance_user):
    payment = paid_payment()

    response = refund_post(admin_client_for(finance_user), payment, confirm="yes", reason="buyer asked")

    payment.refresh_from_db()
    assert response.status_code == 302
    assert payment.status == Payment.Status.REFUNDED
    assert LedgerEntry.objects.get(payment=payment, kind=LedgerEntry.Kind.REFUND).amount == -100
    assert LogEntry.objects.filter(object_id=str(payment.pk), change_message__contains="buyer asked").exists()


def test_refunding_twice_books_once(admin_client_for, finance_user):
    payment = paid_payment()
    client = admin_client_for(finance_user)

    refund_post(client, payment, confirm="yes")
    second = refund_post(client, payment, confirm="yes")

    assert LedgerEntry.objects.filter(payment=payment, kind=LedgerEntry.Kind.REFUND).count() == 1
    assert "Already refunded" in " ".join(str(m) for m in second.wsgi_request._messages)


def test_stars_refund_without_telegram_is_refused_and_books_nothing(admin_client_for, finance_user, settings):
    settings.TELEGRAM_BOT_TOKEN = ""
    payment = paid_payment()
    Payment.objects.filter(pk=payment.pk).update(telegram_payment_charge_id="stxREALCHARGE")

    response = refund_post(admin_client_for(finance_user), payment, confirm="yes")

    payment.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED
    assert not LedgerEntry.objects.filter(payment=payment, kind=LedgerEntry.Kind.REFUND).exists()
    assert "Telegram is not configured" in " ".join(str(m) for m in response.wsgi_request._messages)


def test_support_can_adjust_subscriptions_but_not_balances(admin_client_for, support_user):
    page = admin_client_for(support_user).get(reverse("admin:users_user_changelist"))

    content = page.content.decode()
    assert "adjust_subscription" in content
    assert "adjust_balance" not in content


def test_support_can_view_models_added_after_the_groups_migration():
    support = Group.objects.get(name="Support").permissions.values_list("content_type__app_label", "codename")

    assert ("payments", "view_reconciliationrun") in set(support)
    assert any(app == "telegram_bot" and codename.startswith("view_") for app, codename in support)
