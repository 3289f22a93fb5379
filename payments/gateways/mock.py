"""Mock payments (development and demos only, MOCK_PAYMENTS): a pending purchase
is paid without Telegram, through the same lifecycle as a real charge. Its
charge id starts with "mock_", so refunds and reconciliation know no Stars moved."""

from __future__ import annotations

from django.conf import settings

from payments.charges import Charge
from payments.errors import MockPaymentsDisabled
from payments.gateways.base import BookedOnly
from payments.models import MOCK_CHARGE_PREFIX, Payment
from payments.services import CompletionResult, payment_get_for_user, purchase_complete, record_duplicate
from users.models import User


class MockGateway(BookedOnly):
    name = "mock"


def purchase_mock_complete(*, user: User, purchase_id) -> CompletionResult:
    """POST /purchase: pay a pending purchase without Telegram (mock payments).
    Only with MOCK_PAYMENTS on; idempotent; another user's purchase is a conflict."""
    if not settings.MOCK_PAYMENTS:
        raise MockPaymentsDisabled()
    payment = payment_get_for_user(user=user, purchase_id=purchase_id)
    if payment.status in (Payment.Status.SUCCEEDED, Payment.Status.REFUNDED):
        return record_duplicate(payment, charge_id=payment.telegram_payment_charge_id or "")
    return purchase_complete(
        Charge(
            payload=payment.invoice_payload,
            charge_id=f"{MOCK_CHARGE_PREFIX}{payment.purchase_id.hex}",
            amount=payment.amount,
            currency=payment.currency,
            from_user_id=user.telegram_id,
        )
    )
