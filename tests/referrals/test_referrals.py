"""The referral program: personal codes, who invited whom (once, never yourself,
never overwritten), and the referrer's bonus for an invited buyer's first paid
purchase (once, extended and provisioned like a purchase, announced by the
worker, taken back on refund)."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from conftest import run_concurrently
from payments.gateways.balance import purchase_pay_from_balance
from payments.gateways.free import trial_start
from payments.ledger import balance_adjust
from payments.refunds import refund_book
from referrals.models import Referral, ReferralBonus
from referrals.selectors import referral_stats
from referrals.services import Attach, referral_attach, referral_code_for, referral_link
from subscriptions.models import ProvisioningTask, ShopSettings, Subscription
from tests.payments.factories import PaymentFactory
from tests.payments.helpers import pay
from tests.subscriptions.factories import SubscriptionFactory
from tests.users.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def bonus_of_seven(settings):
    settings.REFERRAL_BONUS_DAYS = 7


@pytest.fixture
def referrer(db):
    return UserFactory(date_joined=timezone.now() - timedelta(days=30))


@pytest.fixture
def invited(referrer):
    user = UserFactory()
    assert referral_attach(invited=user, code=referral_code_for(user=referrer)) == Attach.ATTACHED
    return user


def buy(user, tariff, *, charge_id: str):
    payment = PaymentFactory(user=user, tariff=tariff)
    assert pay(payment, charge_id=charge_id).created
    payment.refresh_from_db()
    return payment


def expiry(user):
    subscription = Subscription.objects.filter(user=user).first()
    return subscription.expires_at if subscription else None


# --- Codes and links ----------------------------------------------------------------


def test_a_users_code_is_created_once_and_kept(referrer):
    code = referral_code_for(user=referrer)

    assert referral_code_for(user=referrer) == code
    assert referral_link(bot_username="shop_bot", code=code) == f"https://t.me/shop_bot?start=ref_{code}"


def test_codes_differ_between_users():
    assert referral_code_for(user=UserFactory()) != referral_code_for(user=UserFactory())


# --- Who invited whom ------------------------------------------------------------------


def test_a_newcomer_is_attached_to_the_referrer(referrer, invited):
    assert Referral.objects.get(invited=invited).referrer == referrer


def test_nobody_refers_themselves(referrer):
    assert referral_attach(invited=referrer, code=referral_code_for(user=referrer)) == Attach.OWN_LINK
    assert not Referral.objects.exists()


def test_an_existing_referrer_is_never_overwritten(referrer, invited):
    other = UserFactory(date_joined=timezone.now() - timedelta(days=60))

    assert referral_attach(invited=invited, code=referral_code_for(user=other)) == Attach.ALREADY
    assert Referral.objects.get(invited=invited).referrer == referrer


def test_someone_who_already_had_a_subscription_is_not_a_newcomer(referrer):
    user = UserFactory()
    SubscriptionFactory(user=user, expires_at=timezone.now() + timedelta(days=3), status="active")

    assert referral_attach(invited=user, code=referral_code_for(user=referrer)) == Attach.NOT_NEW


def test_an_older_account_cannot_be_invited_by_a_newer_one(referrer):
    newer = UserFactory()

    assert referral_attach(invited=referrer, code=referral_code_for(user=newer)) == Attach.NOT_NEW


def test_an_unknown_code_attaches_nothing():
    assert referral_attach(invited=UserFactory(), code="NOPE1234") == Attach.UNKNOWN


def test_the_database_refuses_self_referral_and_a_second_referrer(referrer, invited):
    with pytest.raises(IntegrityError), transaction.atomic():
        Referral.objects.create(referrer=referrer, invited=referrer)
    with pytest.raises(IntegrityError), transaction.atomic():
        Referral.objects.create(referrer=UserFactory(), invited=invited)


# --- The bonus ----------------------------------------------------------------------------


def test_the_first_paid_purchase_gives_the_referrer_bonus_days(referrer, invited, tariff_1m):
    payment = buy(invited, tariff_1m, charge_id="first")

    bonus = ReferralBonus.objects.get()
    assert (bonus.referrer, bonus.purchase_id, bonus.days) == (referrer, payment.purchase_id, 7)
    assert abs(expiry(referrer) - (timezone.now() + timedelta(days=7))) < timedelta(minutes=1)
    # provisioned like a purchase, and the referrer is told by the worker
    tasks = ProvisioningTask.objects.filter(user=referrer, reason="referral")
    assert set(tasks.values_list("kind", flat=True)) == {"sync", "bonus"}


def test_the_bonus_is_paid_once_per_invited_buyer(referrer, invited, tariff_1m):
    buy(invited, tariff_1m, charge_id="first")
    after_first = expiry(referrer)

    buy(invited, tariff_1m, charge_id="second")

    assert ReferralBonus.objects.count() == 1
    assert expiry(referrer) == after_first


def test_the_database_allows_one_bonus_per_referral(referrer, invited, tariff_1m):
    payment = buy(invited, tariff_1m, charge_id="first")

    with pytest.raises(IntegrityError), transaction.atomic():
        ReferralBonus.objects.create(
            referral=Referral.objects.get(), referrer=referrer, purchase_id=PaymentFactory().purchase_id, days=7
        )
    assert ReferralBonus.objects.get().purchase_id == payment.purchase_id


def test_a_purchase_from_the_balance_counts_as_paid(referrer, invited, tariff_1m):
    balance_adjust(user=invited, delta=100, reason="funding")

    purchase_pay_from_balance(user=invited, tariff=tariff_1m.code)

    assert ReferralBonus.objects.get().days == 7


def test_the_free_trial_earns_no_bonus(referrer, invited, settings):
    settings.TRIAL_DAYS = 3

    trial_start(user=invited)

    assert not ReferralBonus.objects.exists()
    assert expiry(referrer) is None


def test_the_admin_sets_the_bonus_length(referrer, invited, tariff_1m):
    ShopSettings.objects.create(pk=1, referral_bonus_days=10)

    buy(invited, tariff_1m, charge_id="first")

    assert abs(expiry(referrer) - (timezone.now() + timedelta(days=10))) < timedelta(minutes=1)


def test_with_the_bonus_off_the_purchase_is_counted_but_gives_nothing(referrer, invited, tariff_1m, settings):
    settings.REFERRAL_BONUS_DAYS = 0

    buy(invited, tariff_1m, charge_id="first")

    assert ReferralBonus.objects.get().days == 0
    assert expiry(referrer) is None
    assert not ProvisioningTask.objects.filter(user=referrer).exists()
    assert referral_stats(user=referrer).paid == 1


def test_a_refund_takes_the_bonus_back_once(referrer, invited, tariff_1m):
    payment = buy(invited, tariff_1m, charge_id="first")
    with_bonus = expiry(referrer)

    refund_book(payment=payment, reason="test")
    refund_book(payment=payment, reason="test again")

    assert ReferralBonus.objects.get().revoked_at is not None
    assert expiry(referrer) == with_bonus - timedelta(days=7)
    assert referral_stats(user=referrer).bonus_days == 0


def test_a_refunded_first_purchase_does_not_make_the_next_one_pay_a_bonus(referrer, invited, tariff_1m):
    refund_book(payment=buy(invited, tariff_1m, charge_id="first"), reason="test")
    before = expiry(referrer)

    buy(invited, tariff_1m, charge_id="second")

    assert expiry(referrer) == before
    assert ReferralBonus.objects.count() == 1


def test_refunding_a_later_purchase_leaves_the_bonus(referrer, invited, tariff_1m):
    buy(invited, tariff_1m, charge_id="first")
    second = buy(invited, tariff_1m, charge_id="second")

    refund_book(payment=second, reason="test")

    assert ReferralBonus.objects.get().revoked_at is None


def test_the_referrer_is_told_in_their_language(
    referrer, invited, tariff_1m, fake_telegram, django_capture_on_commit_callbacks
):
    referrer.language_code = "ru"
    referrer.save()

    with django_capture_on_commit_callbacks(execute=True):
        buy(invited, tariff_1m, charge_id="first")

    [note] = fake_telegram.sent_messages(referrer.telegram_id)
    assert "🎁 +7 дней за покупку друга!" in note["text"]
    assert note["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "sub"


def test_stats_count_invited_buyers_and_bonus_days(referrer, invited, tariff_1m):
    second = UserFactory()
    referral_attach(invited=second, code=referral_code_for(user=referrer))
    buy(invited, tariff_1m, charge_id="first")

    stats = referral_stats(user=referrer)

    assert (stats.invited, stats.paid, stats.bonus_days) == (2, 1, 7)


# --- Races (PostgreSQL) -----------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_first_purchases_pay_one_bonus(tariff_1m):
    # given an invited buyer with ten open invoices
    referrer = UserFactory(date_joined=timezone.now() - timedelta(days=30))
    invited = UserFactory()
    referral_attach(invited=invited, code=referral_code_for(user=referrer))
    payments = [PaymentFactory(user=invited, tariff=tariff_1m) for _ in range(10)]

    # when all ten are paid at the same moment
    results = run_concurrently(lambda i: pay(payments[i], charge_id=f"charge-{i}"), 10)

    # then ten grants, one bonus, one extension of the referrer
    assert all(r.created for r in results), results
    assert ReferralBonus.objects.count() == 1
    assert abs(expiry(referrer) - (timezone.now() + timedelta(days=7))) < timedelta(minutes=1)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_referrer_buying_while_the_invited_pays_does_not_deadlock(tariff_1m):
    # given a referrer and an invited buyer, each with open invoices
    referrer = UserFactory(date_joined=timezone.now() - timedelta(days=30))
    invited = UserFactory()
    referral_attach(invited=invited, code=referral_code_for(user=referrer))
    payments = [PaymentFactory(user=user, tariff=tariff_1m) for user in (referrer, invited) * 5]

    # when all are paid at once (the bonus locks the referrer after the invited buyer)
    results = run_concurrently(lambda i: pay(payments[i], charge_id=f"mixed-{i}"), 10)

    # then every payment is granted and the referrer got five months plus one bonus
    assert all(not isinstance(r, Exception) and r.created for r in results), results
    assert abs(expiry(referrer) - (timezone.now() + timedelta(days=5 * 30 + 7))) < timedelta(minutes=1)
