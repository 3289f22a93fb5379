from __future__ import annotations

from typing import Any

from payments.models import Payment, PurchaseEvent
from payments.owner import owner_alert_for_event


def event_payload(
    payment: Payment, *, previous_status: str | None = None, metadata: dict | None = None
) -> dict[str, Any]:
    """The event payload: purchase_id, item_id, price, type, previous status, metadata."""
    return {
        "purchase_id": str(payment.purchase_id),
        "item_id": payment.tariff.code if payment.tariff_id else None,
        "price_stars": payment.amount,
        "purchase_type": payment.purchase_type,
        "previous_status": previous_status,
        "metadata": metadata or {},
    }


def event_record(
    *,
    name: str,
    payment: Payment | None = None,
    user=None,
    previous_status: str | None = None,
    metadata: dict | None = None,
) -> PurchaseEvent:
    payload = (
        event_payload(payment, previous_status=previous_status, metadata=metadata)
        if payment
        else {"metadata": metadata or {}}
    )
    # user_id, not payment.user: recording an event never costs a query for the user row.
    user_id = user.pk if user is not None else (payment.user_id if payment else None)
    event = PurchaseEvent.objects.create(name=name, payment=payment, user_id=user_id, payload=payload)
    # Purchases, refunds and reviews are also news for the owner's chat (recorded with the event).
    owner_alert_for_event(name=name, payment=payment, metadata=metadata)
    return event
