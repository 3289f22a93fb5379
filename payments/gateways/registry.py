"""Which gateway a payment goes through, and the gateway-dispatched steps the doors call."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from core.db import fetch_first
from payments.gateways.balance import BalanceGateway
from payments.gateways.base import PaymentGateway
from payments.gateways.free import FreeGateway
from payments.gateways.mock import MockGateway
from payments.gateways.stars_invoice import InvoiceParams, PrecheckoutResult, StarsInvoiceGateway
from payments.gateways.stars_subscription import StarsSubscriptionGateway
from payments.models import Payment, is_mock_charge

STARS_INVOICE = StarsInvoiceGateway()
STARS_SUBSCRIPTION = StarsSubscriptionGateway()
BALANCE = BalanceGateway()
FREE = FreeGateway()
MOCK = MockGateway()


def gateway_for(payment: Payment) -> PaymentGateway:
    if payment.method == Payment.Method.BALANCE:
        return BALANCE
    if payment.method == Payment.Method.FREE:
        return FREE
    if is_mock_charge(charge_id=payment.telegram_payment_charge_id):
        return MOCK
    return stars_gateway_for(payment)


def stars_gateway_for(payment: Payment) -> StarsInvoiceGateway:
    """The Telegram gateway of a Stars payment (pending ones included)."""
    if payment.purchase_type in (Payment.STAR_SUBSCRIPTION, Payment.RENEWAL) or payment.star_subscription_id:
        return STARS_SUBSCRIPTION
    return STARS_INVOICE


def invoice_params(*, payment: Payment) -> InvoiceParams:
    """What the bot's sendInvoice / an API client's createInvoiceLink carries for a pending payment."""
    return stars_gateway_for(payment).invoice_params(payment)


def precheckout_validate(*, payload: str, from_user_id: int, total_amount: int, currency: str) -> PrecheckoutResult:
    """Answer for a pre_checkout_query: indexed reads only, no writes, no network."""
    # Every pre-checkout runs this (Telegram waits at most 10 s): one prebuilt SELECT by the unique payload.
    payment = fetch_first(Payment, related=("user", "tariff", "promo"), invoice_payload=payload) if payload else None
    if payment is None:
        return PrecheckoutResult.refuse("unknown_payload", _("This invoice is unknown. Please start a new purchase."))
    return stars_gateway_for(payment).precheckout(
        payment, from_user_id=from_user_id, total_amount=total_amount, currency=currency
    )
