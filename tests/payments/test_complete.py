from datetime import timedelta

import pytest
from django.utils import timezone

from payments.charges import Charge
from payments.models import LedgerEntry, Payment, PurchaseEvent
from payments.services import purchase_complete, purchase_create_invoice, topup_create_invoice
from promos.models import PromoCode, PromoRedemption
from subscriptions.models import ProvisioningTask, Subscription
from tests.payments.factories import PaymentFactory
from tests.payments.helpers import pay
from tests.promos.factories import PromoCodeFactory
from tests.users.factories import UserFactory

pytestmark = pytest.mark.django_db


def approx_days_from_now(moment) -> float:
    return (moment - timezone.now()).total_seconds() / 86400


def test_payment_grants_once_and_books_the_ledger(tariff_1m):
    # given a pending invoice for PROMO10 on 1 month
    user = UserFactory()
    promo = PromoCodeFactory(code="PROMO10", discount_percent=10, max_uses=100)
    payment = purchase_create_invoice(user=user, tariff="1m", promo_code="PROMO10").payment
    # when Telegram reports the payment
    result = pay(payment, charge_id="tg-charge-1")
    # then it succeeded, the ledger has 90 Stars, the promo counted, 30 days granted
    assert result.created and result.outcome == "granted"
    payment.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED and payment.telegram_payment_charge_id == "tg-charge-1"
    assert payment.paid_at and payment.days_granted == 30
    entry = LedgerEntry.objects.get(payment=payment)
    assert (entry.kind, entry.amount, entry.balance_delta, entry.gateway_tx_id) == ("purchase", 90, 0, "tg-charge-1")
    promo.refresh_from_db()
    assert promo.used_count == 1 and PromoRedemption.objects.get(promo=promo).purchase_id == payment.purchase_id
    subscription = Subscription.objects.get(user=user)
    assert subscription.status == "active" and 29.99 < approx_days_from_now(subscription.expires_at) <= 30
    assert ProvisioningTask.objects.filter(user=user, purchase_id=payment.purchase_id, reason="purchase").exists()
    succeeded = PurchaseEvent.objects.get(payment=payment, name="purchase_succeeded")
    assert succeeded.payload["previous_status"] == "pending" and "ms_to_pay" in succeeded.payload["metadata"]


def test_same_charge_twice_grants_once(tariff_1m):
    payment = PaymentFactory()
    first = pay(payment, charge_id="dup")
    second = pay(payment, charge_id="dup")
    assert first.created and not second.created and second.outcome == "duplicate"
    assert second.payment.pk == payment.pk
    assert LedgerEntry.objects.filter(payment=payment).count() == 1
    assert 29.99 < approx_days_from_now(Subscription.objects.get(user=payment.user).expires_at) <= 30
    assert PurchaseEvent.objects.filter(payment=payment, name="purchase_succeeded_idempotent").count() == 1


def test_renewal_extends_from_current_expiry(tariff_1m):
    user = UserFactory()
    pay(PaymentFactory(user=user), charge_id="a")
    pay(PaymentFactory(user=user), charge_id="b")
    assert 59.99 < approx_days_from_now(Subscription.objects.get(user=user).expires_at) <= 60


def test_expired_subscription_is_renewed_from_now(tariff_1m):
    user = UserFactory()
    Subscription.objects.create(user=user, expires_at=timezone.now() - timedelta(days=100), status="expired")
    pay(PaymentFactory(user=user), charge_id="c")
    subscription = Subscription.objects.get(user=user)
    assert subscription.status == "active" and 29.99 < approx_days_from_now(subscription.expires_at) <= 30


def test_wrong_amount_is_recorded_for_review_and_grants_nothing(tariff_1m):
    payment = PaymentFactory()
    result = pay(payment, charge_id="odd", amount=1)
    assert not result.created and result.outcome == "needs_review"
    payment.refresh_from_db()
    assert payment.needs_review and payment.status == Payment.Status.FAILED
    assert payment.telegram_payment_charge_id == "odd"  # never dropped: refundable
    assert LedgerEntry.objects.get(payment=payment).amount == 1
    assert not Subscription.objects.filter(user=payment.user, expires_at__isnull=False).exists()


def test_wrong_currency_is_recorded_and_grants_nothing(tariff_1m):
    payment = PaymentFactory()
    result = pay(payment, charge_id="usd", currency="USD")
    payment.refresh_from_db()
    assert result.outcome == "needs_review" and payment.needs_review
    assert not LedgerEntry.objects.filter(payment=payment).exists()  # not Stars: nothing to book
    assert not Subscription.objects.filter(user=payment.user, expires_at__isnull=False).exists()


def test_second_charge_for_a_paid_invoice_is_kept_for_review(tariff_1m):
    payment = PaymentFactory()
    pay(payment, charge_id="first")
    result = pay(payment, charge_id="second")
    assert result.outcome == "needs_review" and result.payment.pk != payment.pk
    extra = result.payment
    assert extra.telegram_payment_charge_id == "second" and extra.needs_review and extra.days_granted == 0
    assert LedgerEntry.objects.filter(gateway_tx_id="second", kind="purchase").count() == 1
    assert 29.99 < approx_days_from_now(Subscription.objects.get(user=payment.user).expires_at) <= 30


def test_charge_for_unknown_invoice_is_recorded_for_review(db):
    telegram_id = 555_000
    result = purchase_complete(
        Charge(payload="lost-payload", charge_id="orphan", amount=70, currency="XTR", from_user_id=telegram_id)
    )
    assert result.outcome == "needs_review"
    payment = Payment.objects.get(telegram_payment_charge_id="orphan")
    assert payment.user.telegram_id == telegram_id and payment.needs_review and payment.amount == 70
    assert LedgerEntry.objects.get(payment=payment).amount == 70
    # and the same lost charge again is a duplicate, not a second row
    again = purchase_complete(
        Charge(payload="lost-payload", charge_id="orphan", amount=70, currency="XTR", from_user_id=1)
    )
    assert again.outcome == "duplicate" and Payment.objects.filter(telegram_payment_charge_id="orphan").count() == 1


def test_expired_invoice_paid_late_is_still_granted(tariff_1m):
    payment = PaymentFactory(status=Payment.Status.EXPIRED)
    result = pay(payment, charge_id="late")
    assert result.created
    assert PurchaseEvent.objects.get(payment=payment, name="purchase_succeeded").payload["previous_status"] == "expired"


def test_promo_used_up_after_precheckout_grants_tariff_without_bonus(tariff_1m):
    promo = PromoCodeFactory(code="RACE", discount_percent=10, bonus_days=7, max_uses=1)
    payment = purchase_create_invoice(user=UserFactory(), tariff="1m", promo_code="RACE").payment
    PromoCode.objects.filter(pk=promo.pk).update(used_count=1)  # someone else took the last use
    result = pay(payment, charge_id="race")
    payment.refresh_from_db()
    assert result.created and payment.needs_review and payment.days_granted == 30 and payment.bonus_days == 0
    promo.refresh_from_db()
    assert promo.used_count == 1


def test_topup_credits_the_balance(db):
    user = UserFactory()
    payment = topup_create_invoice(user=user, amount=250).payment
    assert pay(payment, charge_id="top").created
    user.refresh_from_db()
    assert user.stars_balance == 250
    entry = LedgerEntry.objects.get(payment=payment)
    assert (entry.kind, entry.amount, entry.balance_delta) == ("topup", 250, 250)
    assert pay(payment, charge_id="top").outcome == "duplicate"
    user.refresh_from_db()
    assert user.stars_balance == 250


def test_empty_charge_id_is_refused(tariff_1m):
    from core.errors import ApplicationError

    with pytest.raises(ApplicationError):
        purchase_complete(Charge(payload=PaymentFactory().invoice_payload, charge_id="", amount=100, currency="XTR"))
    assert not LedgerEntry.objects.exists()
