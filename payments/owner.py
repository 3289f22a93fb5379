"""What the owner's chat hears of payments: purchases (with OWNER_ALERT_PURCHASES), refunds and
payments flagged for review, recorded with the purchase event that says so (same transaction)."""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse

from notifications.models import AlertKind
from notifications.owner import owner_alert, owner_alerts_enabled
from payments.models import Payment, PurchaseEvent, is_mock_charge
from users.models import User

REFUND_BY = {"admin": "admin", "telegram": "telegram"}


def _buyer(payment: Payment) -> str:
    user = payment.user if Payment.user.is_cached(payment) else User.objects.filter(pk=payment.user_id).first()
    return str(user) if user is not None else f"#{payment.user_id}"


def _details(payment: Payment) -> dict:
    return {
        "buyer": _buyer(payment),
        "amount": payment.amount,
        "method": payment.method,
        "path": reverse("admin:payments_payment_change", args=[payment.pk]),
    }


def owner_alert_for_event(*, name: str, payment: Payment | None, metadata: dict | None) -> None:
    """The alert a purchase event makes, if any (called by event_record, in its transaction)."""
    if payment is None or not owner_alerts_enabled():
        return
    metadata = metadata or {}
    if name == PurchaseEvent.Name.SUCCEEDED:
        # Money only: trials and 100 % promos are no purchases, mock ones move no Stars.
        if not settings.OWNER_ALERT_PURCHASES or not payment.amount:
            return
        if is_mock_charge(charge_id=payment.telegram_payment_charge_id):
            return
        details = _details(payment)
        details.update(
            tariff=payment.tariff.title_for(settings.LANGUAGE_CODE) if payment.tariff_id else "",
            topup=payment.kind == Payment.Kind.TOPUP,
            renewal=payment.purchase_type == Payment.RENEWAL,
        )
        owner_alert(kind=AlertKind.PURCHASE, event="paid", details=details)
    elif name == PurchaseEvent.Name.REFUNDED:
        details = _details(payment)
        by = REFUND_BY.get(metadata.get("source", ""), "")
        # Telegram's refunds carry no reason of their own; an admin's says why.
        details.update(by=by, reason="" if by == "telegram" else str(metadata.get("reason") or "")[:200])
        owner_alert(kind=AlertKind.REFUND, event="refunded", details=details)
    elif name == PurchaseEvent.Name.NEEDS_REVIEW:
        details = _details(payment)
        details.update(reason=str(metadata.get("reason") or payment.review_reason or "")[:200])
        owner_alert(kind=AlertKind.REVIEW, event="flagged", details=details)
