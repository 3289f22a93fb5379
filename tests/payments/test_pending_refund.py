"""A refunded_payment that arrives before its successful_payment is kept and applied
when the payment is recorded: the refunded charge never grants anything."""

from __future__ import annotations

import pytest

from conftest import run_concurrently
from payments.models import LedgerEntry, Payment, PendingRefund
from payments.refunds import refund_from_telegram
from payments.services import purchase_create_invoice, topup_create_invoice
from promos.models import PromoCode
from subscriptions.models import Subscription
from tests.payments.helpers import pay
from tests.promos.factories import PromoCodeFactory
from tests.users.factories import UserFactory


def ledger(payment: Payment) -> list[tuple]:
    return list(
        LedgerEntry.objects.filter(payment=payment).order_by("pk").values_list("kind", "amount", "balance_delta")
    )


def refunded_first(payment: Payment, *, charge_id: str = "charge-early"):
    """Telegram's refunded_payment for the charge of `payment`, before its successful_payment."""
    return refund_from_telegram(user=payment.user, charge_id=charge_id, amount=payment.amount)


@pytest.mark.django_db
def test_refund_of_a_charge_not_recorded_yet_is_kept(tariff_1m):
    payment = purchase_create_invoice(user=UserFactory(), tariff="1m").payment

    result = refunded_first(payment)

    assert (result.created, result.pending) == (True, True)
    kept = PendingRefund.objects.get(charge_id="charge-early")
    assert (kept.telegram_user_id, kept.amount, kept.applied_at) == (payment.user.telegram_id, 100, None)


@pytest.mark.django_db
def test_a_repeated_early_refund_is_kept_once(tariff_1m):
    payment = purchase_create_invoice(user=UserFactory(), tariff="1m").payment

    first, second = refunded_first(payment), refunded_first(payment)

    assert (first.created, second.created) == (True, False)
    assert PendingRefund.objects.count() == 1


@pytest.mark.django_db
def test_payment_recorded_after_its_refund_grants_nothing(tariff_1m):
    # given a refund kept for a charge whose successful_payment comes later
    PromoCodeFactory(code="TEN", discount_percent=10, max_uses=5)
    payment = purchase_create_invoice(user=UserFactory(), tariff="1m", promo_code="TEN").payment
    refunded_first(payment)

    # when the successful_payment is recorded
    result = pay(payment, charge_id="charge-early")

    # then the payment is refunded, the Stars booked in and out, and nothing was granted
    assert (result.created, result.outcome) == (False, "refunded")
    payment.refresh_from_db()
    assert payment.status == Payment.Status.REFUNDED and payment.days_granted == 0
    assert ledger(payment) == [("purchase", 90, 0), ("refund", -90, 0)]
    assert not Subscription.objects.filter(user=payment.user, expires_at__isnull=False).exists()
    assert PromoCode.objects.get(code="TEN").used_count == 0
    assert PendingRefund.objects.get(charge_id="charge-early").payment == payment


@pytest.mark.django_db
def test_topup_recorded_after_its_refund_credits_nothing():
    topup = topup_create_invoice(user=UserFactory(), amount=250).payment
    refunded_first(topup)

    pay(topup, charge_id="charge-early")

    topup.user.refresh_from_db()
    assert topup.user.stars_balance == 0
    assert ledger(topup) == [("topup", 250, 0), ("refund", -250, 0)]


@pytest.mark.django_db
def test_a_redelivered_payment_after_the_early_refund_stays_refunded(tariff_1m):
    payment = purchase_create_invoice(user=UserFactory(), tariff="1m").payment
    refunded_first(payment)
    pay(payment, charge_id="charge-early")

    again = pay(payment, charge_id="charge-early")

    assert again.outcome == "duplicate"
    assert Payment.objects.get(pk=payment.pk).status == Payment.Status.REFUNDED
    assert LedgerEntry.objects.filter(payment=payment).count() == 2


@pytest.mark.django_db
def test_a_mismatched_charge_refunded_first_is_booked_refunded_and_needs_no_review(tariff_1m):
    payment = purchase_create_invoice(user=UserFactory(), tariff="1m").payment
    refund_from_telegram(user=payment.user, charge_id="odd", amount=3)

    result = pay(payment, charge_id="odd", amount=3)

    assert result.outcome == "needs_review"
    payment.refresh_from_db()
    assert payment.status == Payment.Status.REFUNDED and not payment.review_open
    assert ledger(payment) == [("purchase", 3, 0), ("refund", -3, 0)]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("round_", range(10))
def test_refund_and_payment_arriving_at_once_never_grant(tariff_1m, round_):
    # given an invoice whose successful_payment and refunded_payment are handled at the same moment
    payment = purchase_create_invoice(user=UserFactory(), tariff="1m").payment
    charge_id = f"charge-race-{round_}"
    work = [
        lambda: refund_from_telegram(user=payment.user, charge_id=charge_id, amount=100),
        lambda: pay(payment, charge_id=charge_id),
    ]

    # when both run concurrently, in either order
    results = run_concurrently(lambda i: work[(i + round_) % 2](), 2)

    # then the payment ends refunded, with its Stars in and out once, and no days granted
    assert not [r for r in results if isinstance(r, Exception)], results
    payment.refresh_from_db()
    assert payment.status == Payment.Status.REFUNDED
    assert sorted(LedgerEntry.objects.filter(payment=payment).values_list("amount", flat=True)) == [-100, 100]
    subscription = Subscription.objects.filter(user=payment.user).first()
    assert subscription is None or subscription.expires_at is None or not subscription.is_active
