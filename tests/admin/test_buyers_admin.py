"""The buyers list: customers only, their subscription and money at a glance, the search,
the subscription filters, and a buyer's page that opens on the shop's data."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from payments.gateways.free import trial_start
from subscriptions.models import Subscription
from tests.admin.conftest import paid_payment
from tests.users.factories import StaffUserFactory, UserFactory

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:users_buyer_changelist")


def listed(response) -> set[int]:
    return {row.pk for row in response.context["cl"].result_list}


def expiring_in(user, delta: timedelta) -> None:
    moment = timezone.now() + delta
    status = Subscription.Status.ACTIVE if delta > timedelta(0) else Subscription.Status.EXPIRED
    Subscription.objects.filter(user=user).update(expires_at=moment, status=status)


@pytest.fixture
def shop(tariff_1m, settings):
    """Buyers in every state, and staff."""
    settings.TRIAL_DAYS = 3
    buyers = {
        "active": paid_payment(charge_prefix="stxBUYERS").user,
        "expiring": paid_payment(charge_prefix="stxBUYERS").user,
        "expired": paid_payment(charge_prefix="stxBUYERS").user,
        "never_paid": UserFactory(),
        "trial": UserFactory(),
    }
    expiring_in(buyers["expiring"], timedelta(days=2))
    expiring_in(buyers["expired"], -timedelta(days=2))
    trial_start(user=buyers["trial"])
    return buyers


def test_staff_are_not_buyers(admin_client_for, support_user, shop):
    StaffUserFactory(telegram_id=None)

    pks = listed(admin_client_for(support_user).get(CHANGELIST))

    assert pks == {buyer.pk for buyer in shop.values()}


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("active", {"active", "expiring", "trial"}),
        ("expiring", {"expiring", "trial"}),  # a 3-day trial runs out within 7 days
        ("expired", {"expired"}),
        ("never_paid", {"never_paid", "trial"}),
        ("trial", {"trial"}),
    ],
)
def test_the_subscription_filters(admin_client_for, support_user, shop, choice, expected):
    pks = listed(admin_client_for(support_user).get(CHANGELIST, {"subscription": choice}))

    assert pks == {shop[name].pk for name in expected}


@pytest.mark.parametrize("term", ["555123", "@findme", "findme"])
def test_buyers_are_found_by_telegram_id_or_username(admin_client_for, support_user, term):
    wanted = UserFactory(telegram_id=555123, telegram_username="findme")
    UserFactory()

    assert listed(admin_client_for(support_user).get(CHANGELIST, {"q": term})) == {wanted.pk}


@pytest.mark.parametrize("term", ["9999999999999999999", "99999999999999999999999", "' OR 1=1 --", "@"])
def test_any_search_answers(admin_client_for, support_user, term):
    assert admin_client_for(support_user).get(CHANGELIST, {"q": term}).status_code == 200


def test_the_columns_show_subscription_balance_and_money(admin_client_for, support_user, tariff_1m):
    buyer = paid_payment(user=UserFactory(first_name="Ann", last_name="Lee"), charge_prefix="stxBUYERS").user
    paid_payment(user=buyer)  # a mock payment: not money

    page = admin_client_for(support_user).get(CHANGELIST)

    (row,) = page.context["cl"].result_list
    content = page.content.decode()
    assert row.purchase_totals.stars_paid == 100
    assert "Ann Lee" in content and "active" in content
    assert page.context["cl"].list_display[1:5] == [
        "name",
        "telegram_username",
        "telegram_id",
        "subscription_state_display",
    ]


def test_a_buyers_page_opens_on_the_shop_and_hides_sign_in_from_staff(admin_client_for, support_user, tariff_1m):
    buyer = paid_payment(charge_prefix="stxBUYERS").user

    page = admin_client_for(support_user).get(reverse("admin:users_buyer_change", args=[buyer.pk]))

    names = [name for name, _options in page.context["adminform"].fieldsets]
    content = page.content.decode().lower()
    assert names == ["Shop", "Telegram"]
    assert 'name="password"' not in content and "is_superuser" not in content
    assert "100 stars paid through telegram" in content
    assert content.index("shop") < content.index("payments (newest 20)") < content.index("ledger rows (newest 20)")


def test_a_superuser_finds_sign_in_and_permissions_last(admin_client_for, superuser, tariff_1m):
    buyer = paid_payment(charge_prefix="stxBUYERS").user

    page = admin_client_for(superuser).get(reverse("admin:users_buyer_change", args=[buyer.pk]))

    content = page.content.decode().lower()
    names = [name for name, _options in page.context["adminform"].fieldsets]
    assert names == ["Shop", "Telegram", "Sign-in", "Permissions", "Important dates"]
    assert content.index("ledger rows (newest 20)") < content.index("id_is_superuser")


def test_nobody_adds_a_buyer_by_hand(admin_client_for, superuser):
    assert admin_client_for(superuser).get(reverse("admin:users_buyer_add")).status_code == 403


def test_the_buyers_list_is_linked_from_the_admin_index(admin_client_for, support_user):
    assert CHANGELIST in admin_client_for(support_user).get(reverse("admin:index")).content.decode()


def test_support_and_finance_may_view_buyers():
    from django.contrib.auth.models import Group

    for name in ("Support", "Finance"):
        assert Group.objects.get(name=name).permissions.filter(codename="view_buyer").exists()
