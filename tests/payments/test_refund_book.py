import pytest

from payments.errors import InsufficientBalance, RefundNotAllowed
from payments.gateways.balance import purchase_pay_from_balance
from payments.ledger import balance_adjust
from payments.models import LedgerEntry, Payment, PurchaseEvent
from payments.refunds import refund_book
from payments.services import purchase_create_invoice, topup_create_invoice
from subscriptions.models import ProvisioningTask, Subscription
from tests.payments.factories import PaymentFactory
from tests.payments.helpers import pay
from tests.promos.factories import PromoCodeFactory
from tests.users.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_refund_books_negative_row_and_takes_the_days_back(tariff_1m):
    user = UserFactory()
    first = PaymentFactory(user=user)
    pay(first, charge_id="keep")
    second = PaymentFactory(user=user)
    pay(second, charge_id="refund-me")
    before = Subscription.objects.get(user=user).expires_at
    result = refund_book(payment=second, reason="asked nicely")
    assert result.created
    second.refresh_from_db()
    assert second.status == Payment.Status.REFUNDED and second.refunded_at
    row = LedgerEntry.objects.get(payment=second, kind="refund")
    assert (row.amount, row.balance_delta, row.gateway_tx_id) == (-100, 0, "refund-me")
    after = Subscription.objects.get(user=user).expires_at
    assert round((before - after).total_seconds() / 86400) == 30
    assert ProvisioningTask.objects.filter(user=user, reason="refund", purchase_id=second.purchase_id).exists()


def test_refund_twice_books_once(tariff_1m):
    payment = PaymentFactory()
    pay(payment, charge_id="twice")
    expires_after_first = None
    assert refund_book(payment=payment).created
    expires_after_first = Subscription.objects.get(user=payment.user).expires_at
    again = refund_book(payment=payment)
    assert not again.created
    assert LedgerEntry.objects.filter(payment=payment, kind="refund").count() == 1
    assert Subscription.objects.get(user=payment.user).expires_at == expires_after_first
    assert PurchaseEvent.objects.filter(payment=payment, name="purchase_refund_idempotent").count() == 1


def test_refund_releases_the_promo_use_once(tariff_1m):
    promo = PromoCodeFactory(code="BACK", max_uses=1)
    payment = purchase_create_invoice(user=UserFactory(), tariff="1m", promo_code="BACK").payment
    pay(payment, charge_id="p")
    refund_book(payment=payment)
    refund_book(payment=payment)
    promo.refresh_from_db()
    assert promo.used_count == 0


def test_pending_payment_cannot_be_refunded(tariff_1m):
    payment = PaymentFactory()
    with pytest.raises(RefundNotAllowed):
        refund_book(payment=payment)
    assert not LedgerEntry.objects.exists()


def test_refund_of_balance_purchase_returns_stars_to_balance(tariff_1m):
    user = UserFactory()
    balance_adjust(user=user, delta=100, reason="funding")
    payment = purchase_pay_from_balance(user=user, tariff="1m")
    refund_book(payment=payment)
    user.refresh_from_db()
    assert user.stars_balance == 100
    assert not Subscription.objects.get(user=user).is_active


def test_refund_of_spent_topup_is_refused_and_changes_nothing(tariff_1m):
    user = UserFactory()
    topup = topup_create_invoice(user=user, amount=100).payment
    pay(topup, charge_id="top")
    purchase_pay_from_balance(user=user, tariff="1m")
    with pytest.raises(InsufficientBalance):
        refund_book(payment=topup)
    topup.refresh_from_db()
    assert topup.status == Payment.Status.SUCCEEDED
    assert not LedgerEntry.objects.filter(kind="refund").exists()


def test_mismatched_charge_can_be_refunded(tariff_1m):
    payment = PaymentFactory()
    pay(payment, charge_id="odd", amount=3)
    assert refund_book(payment=payment).created
    assert LedgerEntry.objects.get(payment=payment, kind="refund").amount == -3
