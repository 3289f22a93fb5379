"""Balance and subscription changes from the users list: a reason, the service, the admin log."""

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse
from django.utils.html import escape

from payments.gateways.balance import purchase_pay_from_balance
from payments.ledger import balance_adjust, balances_verify
from payments.models import LedgerEntry
from payments.refunds import refund_from_telegram
from subscriptions.models import ProvisioningTask, Subscription
from tests.admin.conftest import in_another_connection, paid_payment
from tests.subscriptions.factories import SubscriptionFactory
from tests.telegram_fake.helpers import paid_topup
from tests.users.factories import UserFactory
from users.admin import ShopUserAdmin

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


def change_form_data(page) -> dict:
    """What the admin's change form would post back unchanged."""
    form = page.context["adminform"].form
    data = {}
    for name, field in form.fields.items():
        value = form[name].value()
        if value is None or field.disabled:
            continue
        data[name] = list(value) if isinstance(value, list | tuple) else value
    for formset in page.context["inline_admin_formsets"]:
        management = formset.formset.management_form
        data.update({management[name].html_name: management[name].value() for name in management.fields})
    return data


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_saving_a_user_keeps_the_balance_booked_while_it_was_being_saved(admin_client_for, superuser, monkeypatch):
    # given a buyer with 50 Stars whose page an admin submits, and a top-up booked
    # after the admin's request read the row but before it saved it
    buyer = UserFactory()
    balance_adjust(user=buyer, delta=50, reason="first top-up")
    client = admin_client_for(superuser)
    url = reverse("admin:users_user_change", args=[buyer.pk])
    data = {**change_form_data(client.get(url)), "first_name": "Renamed"}
    form_class = ShopUserAdmin.form

    class TopUpMeanwhile(form_class):
        def clean(self):
            in_another_connection(lambda: balance_adjust(user=buyer, delta=30, reason="second top-up"))
            return super().clean()

    monkeypatch.setattr(ShopUserAdmin, "form", TopUpMeanwhile)

    # when the page is saved
    response = client.post(url, data)

    # then the edit is kept and the balance still equals the ledger
    assert response.status_code == 302, response.context["adminform"].form.errors
    buyer.refresh_from_db()
    assert (buyer.first_name, buyer.stars_balance) == ("Renamed", 80)
    assert balances_verify() == []


def test_a_stale_copy_of_a_user_never_writes_the_balance_back():
    buyer = UserFactory()
    stale = type(buyer).objects.get(pk=buyer.pk)
    balance_adjust(user=buyer, delta=25, reason="top-up")

    stale.first_name = "Stale"
    stale.save()

    buyer.refresh_from_db()
    assert (buyer.first_name, buyer.stars_balance) == ("Stale", 25)


def test_user_page_shows_what_the_buyer_owes_from_a_refund_of_spent_stars(
    admin_client_for, superuser, fake_telegram, tariff_1m
):
    buyer = UserFactory()
    topup = paid_topup(fake_telegram, buyer, amount=100)
    purchase_pay_from_balance(user=buyer, tariff="1m")
    refund_from_telegram(user=buyer, charge_id=topup.telegram_payment_charge_id, amount=100)

    page = admin_client_for(superuser).get(reverse("admin:users_user_change", args=[buyer.pk]))

    assert "100 Stars (see the payments flagged for review)" in page.content.decode()


@pytest.mark.parametrize("url", ["javascript:alert(document.cookie)", " JavaScript:alert(1)", "data:text/html,x"])
def test_a_panel_link_that_is_no_web_address_is_shown_as_text(admin_client_for, superuser, url):
    # given a subscription whose panel answered with something that is not a web address
    subscription = SubscriptionFactory(subscription_url=url)

    page = admin_client_for(superuser).get(reverse("admin:users_user_change", args=[subscription.user.pk]))

    content = page.content.decode()
    assert page.status_code == 200
    assert f'href="{url}' not in content and 'href="javascript' not in content.replace(" ", "").lower()
    assert escape(url) in content


def test_a_panel_link_to_a_web_address_is_a_link(admin_client_for, superuser):
    subscription = SubscriptionFactory(subscription_url="https://panel.example/sub/abc?x=1&y=2")

    page = admin_client_for(superuser).get(reverse("admin:users_user_change", args=[subscription.user.pk]))

    assert '<a href="https://panel.example/sub/abc?x=1&amp;y=2" rel="noopener noreferrer"' in page.content.decode()


def test_the_active_box_says_what_deactivating_a_buyer_does(admin_client_for, superuser):
    buyer = UserFactory(telegram_id=555777)

    content = admin_client_for(superuser).get(reverse("admin:users_user_change", args=[buyer.pk])).content.decode()

    assert "the bot, the API and the Mini App refuse the buyer" in content
    assert "are kept" in content


def test_a_deactivated_buyers_page_says_so(admin_client_for, support_user):
    buyer = UserFactory(telegram_id=555778, is_active=False)

    page = admin_client_for(support_user).get(reverse("admin:users_buyer_change", args=[buyer.pk]))

    assert "This account is deactivated: the bot, the API and the Mini App refuse it" in page.content.decode()
