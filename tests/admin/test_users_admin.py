"""Balance and subscription changes from the users list: a reason, the service, the admin log."""

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from payments.models import LedgerEntry
from subscriptions.models import ProvisioningTask, Subscription
from tests.admin.conftest import paid_payment
from tests.users.factories import UserFactory

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:users_user_changelist")


def run_action(client, action, user, **form):
    data = {"action": action, "_selected_action": [user.pk], **form}
    if form:
        data["apply"] = "yes"
    return client.post(CHANGELIST, data)


def test_balance_adjustment_without_a_reason_is_refused(admin_client_for, finance_user):
    buyer = UserFactory()

    page = run_action(admin_client_for(finance_user), "adjust_balance", buyer, delta="50", reason="  ")

    buyer.refresh_from_db()
    assert page.status_code == 200 and "reason" in page.context["form"].errors
    assert buyer.stars_balance == 0


def test_balance_adjustment_is_booked_on_the_ledger_and_logged(admin_client_for, finance_user):
    buyer = UserFactory()

    run_action(admin_client_for(finance_user), "adjust_balance", buyer, delta="50", reason="goodwill")

    buyer.refresh_from_db()
    entry = LedgerEntry.objects.get(user=buyer)
    assert buyer.stars_balance == 50
    assert (entry.kind, entry.balance_delta, entry.reason, entry.created_by) == (
        "adjustment",
        50,
        "goodwill",
        finance_user,
    )
    assert LogEntry.objects.get(object_id=str(buyer.pk)).get_change_message() == "Balance +50 Stars; reason: goodwill"


def test_balance_cannot_go_below_zero(admin_client_for, finance_user):
    buyer = UserFactory()

    response = run_action(admin_client_for(finance_user), "adjust_balance", buyer, delta="-5", reason="oops")

    buyer.refresh_from_db()
    assert buyer.stars_balance == 0
    assert "not adjusted" in " ".join(str(m) for m in response.wsgi_request._messages)


def test_action_without_input_shows_the_form_first(admin_client_for, finance_user):
    buyer = UserFactory()

    page = run_action(admin_client_for(finance_user), "adjust_balance", buyer)

    assert page.status_code == 200 and 'name="reason"' in page.content.decode()
    assert not LedgerEntry.objects.exists()


def test_support_extends_a_subscription_with_a_reason_and_provisioning_is_queued(
    admin_client_for, support_user, tariff_1m
):
    buyer = paid_payment().user
    before = Subscription.objects.get(user=buyer).expires_at

    run_action(admin_client_for(support_user), "adjust_subscription", buyer, days="-10", reason="abuse")

    after = Subscription.objects.get(user=buyer).expires_at
    assert (before - after).days == 10
    assert ProvisioningTask.objects.filter(user=buyer, reason="admin").exists()
    assert "reason: abuse" in LogEntry.objects.get(object_id=str(buyer.pk)).change_message


def test_support_cannot_adjust_a_balance(admin_client_for, support_user):
    buyer = UserFactory()

    run_action(admin_client_for(support_user), "adjust_balance", buyer, delta="50", reason="x")

    buyer.refresh_from_db()
    assert buyer.stars_balance == 0


def test_user_page_shows_balance_subscription_ledger_and_payments(admin_client_for, superuser, tariff_1m):
    payment = paid_payment()

    page = admin_client_for(superuser).get(reverse("admin:users_user_change", args=[payment.user.pk]))

    content = page.content.decode()
    assert page.status_code == 200
    assert str(payment.purchase_id) in content
    assert "ledger rows (newest 20)" in content.lower() and "active, until" in content


@pytest.mark.parametrize("term", ["555777", "@findme", "findme"])
def test_users_search_by_exact_telegram_identity(admin_client_for, superuser, term):
    wanted = UserFactory(telegram_id=555777, telegram_username="findme")
    UserFactory()

    response = admin_client_for(superuser).get(CHANGELIST, {"q": term})

    assert [u.pk for u in response.context["cl"].result_list] == [wanted.pk]
