"""The first-payment flags: set by the services as payments become paid, and equal to what
the backfill (the migration's statement) computes from the history."""

import pytest

from payments.buyers import firsts_backfill
from payments.charges import Charge
from payments.gateways.balance import purchase_pay_from_balance
from payments.gateways.free import trial_start
from payments.models import Payment
from payments.refunds import refund_from_telegram, refund_payment
from payments.services import purchase_complete, purchase_create_invoice
from tests.admin.conftest import paid_payment
from tests.telegram_fake.helpers import paid_subscription, paid_topup
from tests.users.factories import UserFactory

pytestmark = pytest.mark.django_db


def flags(payment: Payment) -> tuple[bool, bool]:
    payment.refresh_from_db()
    return payment.first_paid, payment.first_paid_subscription


def flags_of_every_payment() -> dict[int, tuple[bool, bool]]:
    rows = Payment.objects.values_list("pk", "first_paid", "first_paid_subscription")
    return {pk: (first, first_subscription) for pk, first, first_subscription in rows}


def test_a_buyers_first_payment_and_first_subscription_are_flagged(fake_telegram, tariff_1m):
    buyer = UserFactory()

    topup = paid_topup(fake_telegram, buyer, amount=100)
    from_balance = purchase_pay_from_balance(user=buyer, tariff="1m")
    renewal = paid_subscription(fake_telegram, buyer)

    assert [flags(p) for p in (topup, from_balance, renewal)] == [(True, False), (False, True), (False, False)]


def test_trials_and_mock_payments_are_never_first(fake_telegram, tariff_1m, settings):
    settings.TRIAL_DAYS = 3
    buyer = UserFactory()
    trial = trial_start(user=buyer)
    mock = paid_payment(user=buyer)  # a mock charge

    real = paid_subscription(fake_telegram, buyer)

    assert [flags(p) for p in (trial, mock, real)] == [(False, False), (False, False), (True, True)]


def test_a_refund_keeps_the_flag(fake_telegram, tariff_1m):
    first = paid_subscription(fake_telegram, UserFactory())

    refund_payment(payment=first)
    again = paid_subscription(fake_telegram, first.user)

    assert (flags(first), flags(again)) == ((True, True), (False, False))


def test_a_charge_refunded_before_it_was_recorded_is_still_the_first(fake_telegram, tariff_1m):
    buyer = UserFactory()
    payment = purchase_create_invoice(user=buyer, tariff="1m").payment
    refund_from_telegram(user=buyer, charge_id="stxEARLYREFUND", amount=100)
    purchase_complete(
        Charge(
            payload=payment.invoice_payload,
            charge_id="stxEARLYREFUND",
            amount=100,
            currency="XTR",
            from_user_id=buyer.telegram_id,
        )
    )

    payment.refresh_from_db()
    assert payment.status == Payment.Status.REFUNDED
    assert flags(payment) == (True, True)


def test_the_backfill_computes_what_the_services_set(fake_telegram, tariffs, settings):
    # given buyers with every kind of payment, flagged by the services
    settings.TRIAL_DAYS = 3
    buyers = [UserFactory() for _ in range(4)]
    paid_topup(fake_telegram, buyers[0], amount=250)
    purchase_pay_from_balance(user=buyers[0], tariff="1m")
    paid_subscription(fake_telegram, buyers[0], tariff="3m")
    trial_start(user=buyers[1])
    paid_subscription(fake_telegram, buyers[1])
    paid_payment(user=buyers[2])  # mock only
    refund_payment(payment=paid_subscription(fake_telegram, buyers[3]))
    paid_subscription(fake_telegram, buyers[3])
    expected = flags_of_every_payment()

    # when every flag is cleared and the backfill runs
    Payment.objects.update(first_paid=False, first_paid_subscription=False)
    firsts_backfill()

    # then it flags the same payments
    assert flags_of_every_payment() == expected
    assert sum(first for first, _sub in expected.values()) == 3  # buyers 0, 1 and 3
