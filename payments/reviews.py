"""Payments flagged for review: flagging, resolving, and what is still open.

A flag is never cleared: resolving it records who, when and why, and only
unresolved flags count as open (the dashboard, reconciliation's alarm).
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.audit import staff_action_record
from core.errors import ApplicationError
from core.models import StaffAction
from payments.events import event_record
from payments.models import Payment, PurchaseEvent
from users.models import User

OPEN = Q(needs_review=True, review_resolved_at__isnull=True)


def reviews_open() -> QuerySet[Payment]:
    return Payment.objects.filter(OPEN)


def review_flag(payment: Payment, *, reason: str) -> None:
    """Flag a payment the caller has locked and will save: an earlier resolution no
    longer covers it (something new happened)."""
    payment.needs_review = True
    payment.review_reason = reason[:255]
    payment.review_resolved_at = None
    payment.review_resolved_by = None
    payment.review_note = ""
    event_record(name=PurchaseEvent.Name.NEEDS_REVIEW, payment=payment, metadata={"reason": reason})


def review_close(payment: Payment, *, note: str, actor: User | None = None) -> None:
    """Resolve the open review of a payment the caller has locked and will save."""
    if not payment.review_open:
        return
    payment.review_resolved_at = timezone.now()
    payment.review_resolved_by = actor
    payment.review_note = note[:500]
    event_record(
        name=PurchaseEvent.Name.REVIEW_RESOLVED,
        payment=payment,
        metadata={"note": note, "actor_id": actor.pk if actor else None},
    )


@transaction.atomic(durable=True)
def review_resolve(*, payment: Payment, actor: User, note: str) -> bool:
    """An admin resolves a flagged payment with a note. False when there was no open review."""
    note = (note or "").strip()
    if not note:
        raise ApplicationError(_("A note is required."), code="validation_error")
    locked = Payment.objects.select_for_update(of=("self",), no_key=True).select_related("tariff").get(pk=payment.pk)
    if not locked.review_open:
        return False
    review_close(locked, note=note, actor=actor)
    locked.save(update_fields=["review_resolved_at", "review_resolved_by", "review_note"])
    staff_action_record(
        action=StaffAction.Action.REVIEW_RESOLVE,
        actor=actor,
        target=locked,
        before={"review": "open", "reason": locked.review_reason},
        after={"review": "resolved"},
        note=note,
    )
    return True
