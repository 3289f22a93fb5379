"""What the API adds around the payments services: the pay URL of an invoice
(a Telegram invoice link, made after the service committed, or the local mock
page) and the mock completion that may create the purchase first."""

from __future__ import annotations

import dataclasses
import logging
import uuid

from django.conf import settings
from django.urls import reverse

from api.models import InvoiceLink
from core.db import fetch_first
from core.errors import ApplicationError
from integrations.telegram import TelegramError, client, telegram_configured
from payments.errors import MockPaymentsDisabled
from payments.gateways.mock import purchase_mock_complete
from payments.gateways.registry import invoice_params
from payments.models import Payment
from payments.services import CompletionResult, InvoiceResult, payment_get_for_user, purchase_create_invoice
from subscriptions.pricing import Selection
from users.models import User

logger = logging.getLogger(__name__)


class PaymentsUnavailable(ApplicationError):
    code = "payments_unavailable"
    status = 503

    def __init__(self, message="Payments are not available on this server (neither Telegram Stars nor mock)."):
        super().__init__(message)


def telegram_invoices_enabled() -> bool:
    return bool(settings.TELEGRAM_STARS_ENABLED and telegram_configured())


def payments_ensure_available() -> None:
    if not (telegram_invoices_enabled() or settings.MOCK_PAYMENTS):
        raise PaymentsUnavailable()


def invoice_create(
    *,
    user: User,
    tariff: str,
    promo_code: str | None,
    purchase_id: uuid.UUID | None,
    purchase_type: str,
    source: str,
    selection: Selection | None = None,
) -> InvoiceResult:
    payments_ensure_available()
    return purchase_create_invoice(
        user=user,
        tariff=tariff,
        promo_code=promo_code,
        source=source,
        purchase_id=purchase_id,
        purchase_type=purchase_type,
        selection=selection,
    )


def pay_url_for(*, payment: Payment, build_absolute_uri) -> str | None:
    """Where the buyer pays a pending payment: a Telegram invoice link (cached), or the mock page."""
    if payment.status != Payment.Status.PENDING:
        return None
    if telegram_invoices_enabled():
        return _telegram_invoice_link(payment=payment)
    if settings.MOCK_PAYMENTS:
        return build_absolute_uri(reverse("api:mock-pay", kwargs={"purchase_id": payment.purchase_id}))
    return None


def _telegram_invoice_link(*, payment: Payment) -> str:
    cached = InvoiceLink.objects.filter(payment=payment).values_list("url", flat=True).first()
    if cached:
        return cached
    params = dataclasses.asdict(invoice_params(payment=payment))
    params.pop("currency")  # always XTR; the client sets it
    try:
        url = client().create_invoice_link(**params)
    except TelegramError as exc:
        logger.warning("createInvoiceLink failed for %s: %s", payment.purchase_id, exc)
        raise ApplicationError(
            "Telegram did not create the invoice link; retry with the same purchase_id.",
            code="telegram_unavailable",
            status=503,
            details={"purchase_id": str(payment.purchase_id)},
        )
    link, _created = InvoiceLink.objects.get_or_create(payment=payment, defaults={"url": url})
    return link.url


def purchase_mock_record(
    *,
    user: User,
    purchase_id: uuid.UUID,
    tariff: str | None = None,
    promo_code: str | None = None,
    purchase_type: str = "subscription",
) -> CompletionResult:
    """POST /purchase: complete the caller's purchase without Telegram (mock payments),
    creating it first when the client names an item for a new purchase_id."""
    if not settings.MOCK_PAYMENTS:
        raise MockPaymentsDisabled()
    if tariff and not Payment.objects.filter(purchase_id=purchase_id).exists():
        invoice_create(
            user=user,
            tariff=tariff,
            promo_code=promo_code,
            purchase_id=purchase_id,
            purchase_type=purchase_type,
            source=Payment.Source.MOCK,
        )
    return purchase_mock_complete(user=user, purchase_id=purchase_id)


def purchase_for_caller(*, user: User, purchase_id: uuid.UUID) -> Payment:
    """The caller's own purchase (the hottest read), with its tariff, in one
    prebuilt SELECT (building and compiling the ORM query cost more than the rest
    of the read); anything else goes through payment_get_for_user, which answers
    404, or 409 with its event."""
    payment = fetch_first(Payment, related=("tariff",), purchase_id=purchase_id, user_id=user.pk)
    return payment if payment is not None else payment_get_for_user(user=user, purchase_id=purchase_id)


def mock_payments_ensure_enabled() -> None:
    if not settings.MOCK_PAYMENTS:
        raise MockPaymentsDisabled()


def mock_pay_owner_complete(*, purchase_id: uuid.UUID) -> CompletionResult:
    """The mock pay page: whoever holds the link pays the owner's purchase (mock money only)."""
    mock_payments_ensure_enabled()
    payment = Payment.objects.select_related("user").filter(purchase_id=purchase_id).first()
    if payment is None:
        raise ApplicationError("Purchase not found.", code="not_found", status=404)
    return purchase_mock_complete(user=payment.user, purchase_id=purchase_id)
