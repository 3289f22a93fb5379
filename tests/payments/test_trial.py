"""The free trial: TRIAL_DAYS (or the admin's value), no invoice, at most once per
Telegram account (a database constraint), never for someone who has paid, and
granted like a purchase (extended, provisioned, refundable)."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from conftest import run_concurrently
from payments.errors import TrialUnavailable
from payments.gateways.free import trial_start
from payments.models import LedgerEntry, Payment, TrialClaim
from payments.refunds import refund_book
from payments.services import trial_refusal
from subscriptions.models import ProvisioningTask, ShopSettings, Subscription
from tests.payments.factories import PaymentFactory
from tests.payments.helpers import pay
from tests.users.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def trial_on(settings):
    settings.TRIAL_DAYS = 3


def test_the_trial_is_a_free_payment_that_extends_and_provisions():
    user = UserFactory()

    payment = trial_start(user=user)

    assert (payment.status, payment.method, payment.purchase_type) == ("succeeded", "free", "trial")
    assert (payment.amount, payment.days_granted) == (0, 3)
    assert not LedgerEntry.objects.filter(payment=payment).exists()  # no money moved
    subscription = Subscription.objects.get(user=user)
    assert abs(subscription.expires_at - (timezone.now() + timedelta(days=3))) < timedelta(minutes=1)
    assert subscription.link_state == Subscription.LinkState.DUE  # its link comes once, like a purchase's
    assert ProvisioningTask.objects.filter(user=user, purchase_id=payment.purchase_id).exists()
    assert TrialClaim.objects.get(telegram_id=user.telegram_id).purchase_id == payment.purchase_id


def test_a_second_trial_is_refused():
    user = UserFactory()
    trial_start(user=user)

    with pytest.raises(TrialUnavailable) as refused:
        trial_start(user=user)

    assert refused.value.reason == "used"
    assert Payment.objects.filter(user=user, purchase_type="trial").count() == 1


def test_no_trial_for_someone_who_has_paid(tariff_1m):
    user = UserFactory()
    pay(PaymentFactory(user=user, tariff=tariff_1m))

    with pytest.raises(TrialUnavailable) as refused:
        trial_start(user=user)

    assert refused.value.reason == "paid_before"


def test_a_refunded_purchase_still_counts_as_having_paid(tariff_1m):
    user = UserFactory()
    payment = PaymentFactory(user=user, tariff=tariff_1m)
    pay(payment)
    refund_book(payment=payment, reason="test")

    assert trial_refusal(user=user) == "paid_before"


def test_no_trial_while_it_is_off(settings):
    settings.TRIAL_DAYS = 0

    with pytest.raises(TrialUnavailable) as refused:
        trial_start(user=UserFactory())

    assert refused.value.reason == "off"


def test_the_admins_value_wins_over_the_environment(settings):
    settings.TRIAL_DAYS = 0
    ShopSettings.objects.create(pk=1, trial_days=5)

    payment = trial_start(user=UserFactory())

    assert payment.days_granted == 5


def test_the_admin_can_switch_the_trial_off(settings):
    ShopSettings.objects.create(pk=1, trial_days=0)

    assert trial_refusal(user=UserFactory()) == "off"


def test_one_claim_per_telegram_account_is_a_database_rule():
    user = UserFactory()
    TrialClaim.objects.create(telegram_id=user.telegram_id, user=user, purchase_id=PaymentFactory().purchase_id, days=3)

    with pytest.raises(IntegrityError), transaction.atomic():
        TrialClaim.objects.create(
            telegram_id=user.telegram_id, user=UserFactory(), purchase_id=PaymentFactory().purchase_id, days=3
        )


def test_a_refused_trial_leaves_nothing_behind():
    user = UserFactory()
    trial_start(user=user)
    payments = Payment.objects.count()

    with pytest.raises(TrialUnavailable):
        trial_start(user=user)

    assert Payment.objects.count() == payments


def test_a_refunded_trial_takes_its_days_back():
    user = UserFactory()
    payment = trial_start(user=user)

    refund_book(payment=payment, reason="abuse")

    assert not Subscription.objects.get(user=user).is_active
    assert trial_refusal(user=user) == "used"  # the claim stays: no second trial


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_taps_start_one_trial():
    # given a new buyer, when 12 threads start the trial at once
    user = UserFactory()

    results = run_concurrently(lambda _: trial_start(user=user), 12)

    # then one trial, one claim, one extension; every other tap is refused as used
    started = [r for r in results if isinstance(r, Payment)]
    refused = [r for r in results if isinstance(r, TrialUnavailable)]
    assert (len(started), len(refused)) == (1, 11), results
    assert {r.reason for r in refused} == {"used"}
    assert TrialClaim.objects.count() == 1
    assert Payment.objects.filter(purchase_type="trial").count() == 1
    subscription = Subscription.objects.get(user=user)
    assert subscription.expires_at < timezone.now() + timedelta(days=3, minutes=1)
