"""The append-only ledger and the internal Stars balance derived from it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import F, Sum
from django.utils.translation import gettext_lazy as _

from core.audit import staff_action_record
from core.errors import ApplicationError
from core.models import StaffAction
from payments.errors import InsufficientBalance, MockPaymentsDisabled
from payments.events import event_record
from payments.models import LedgerEntry, Payment, PurchaseEvent
from users.models import User
from users.services import user_lock_row


def ledger_book(
    *,
    user: User,
    kind: str,
    amount: int = 0,
    balance_delta: int = 0,
    payment: Payment | None = None,
    gateway_tx_id: str | None = None,
    reason: str = "",
    created_by: User | None = None,
) -> LedgerEntry:
    """Append one row and move the cached balance with it, in the caller's
    transaction. A debit only happens while the balance covers it (conditional
    UPDATE), so the balance can never go below zero, even under races."""
    if balance_delta < 0:
        updated = User.objects.filter(pk=user.pk, stars_balance__gte=-balance_delta).update(
            stars_balance=F("stars_balance") + balance_delta
        )
        if not updated:
            available = User.objects.filter(pk=user.pk).values_list("stars_balance", flat=True).first() or 0
            raise InsufficientBalance(needed=-balance_delta, available=available)
    elif balance_delta > 0:
        User.objects.filter(pk=user.pk).update(stars_balance=F("stars_balance") + balance_delta)
    return LedgerEntry.objects.create(
        user=user,
        kind=kind,
        amount=amount,
        balance_delta=balance_delta,
        payment=payment,
        gateway_tx_id=gateway_tx_id,
        reason=reason[:255],
        created_by=created_by,
    )


def balance_of(*, user: User) -> int:
    """The balance as the ledger says (the source of truth)."""
    return LedgerEntry.objects.filter(user=user).aggregate(total=Sum("balance_delta"))["total"] or 0


@dataclass(frozen=True)
class BalanceMismatch:
    user_id: int
    cached: int
    ledger: int


def balances_verify() -> list[BalanceMismatch]:
    """Every user whose cached balance differs from the ledger sum."""
    ledger = dict(
        LedgerEntry.objects.values("user_id").annotate(total=Sum("balance_delta")).values_list("user_id", "total")
    )
    mismatches = []
    for user_id, cached in User.objects.exclude(stars_balance=0).values_list("pk", "stars_balance").iterator():
        if ledger.get(user_id, 0) != cached:
            mismatches.append(BalanceMismatch(user_id, cached, ledger.get(user_id, 0)))
    cached_nonzero = set(User.objects.exclude(stars_balance=0).values_list("pk", flat=True))
    for user_id, total in ledger.items():
        if total and user_id not in cached_nonzero:
            mismatches.append(BalanceMismatch(user_id, 0, total))
    return mismatches


@transaction.atomic(durable=True)
def balance_adjust(
    *, user: User, delta: int, reason: str, actor: User | None = None, reference: str | None = None
) -> LedgerEntry:
    """A manual balance change by an admin; the reason is required and booked.
    With a `reference` the change is booked once: a repeat returns the first row."""
    if not reason or not reason.strip():
        raise ApplicationError(_("A reason is required."), code="validation_error")
    if delta == 0:
        raise ApplicationError(_("The amount must not be zero."), code="validation_error")
    user_lock_row(user_id=user.pk)
    if reference is not None:
        booked = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.ADJUSTMENT, gateway_tx_id=reference).first()
        if booked is not None:
            return booked
    entry = ledger_book(
        user=user,
        kind=LedgerEntry.Kind.ADJUSTMENT,
        balance_delta=delta,
        reason=reason.strip(),
        created_by=actor,
        gateway_tx_id=reference,
    )
    event_record(
        name=PurchaseEvent.Name.BALANCE_ADJUSTED,
        user=user,
        metadata={"delta": delta, "reason": reason.strip(), "actor_id": actor.pk if actor else None},
    )
    balance = User.objects.values_list("stars_balance", flat=True).get(pk=user.pk)  # locked above
    staff_action_record(
        action=StaffAction.Action.BALANCE_ADJUST,
        actor=actor,
        target=user,
        before={"balance": balance - delta},
        after={"balance": balance},
        note=reason.strip(),
    )
    return entry


def dev_add_stars(*, user: User, amount: int, reference: uuid.UUID | None = None) -> LedgerEntry:
    """Credit test Stars; only with MOCK_PAYMENTS on. A `reference` books it once."""
    if not settings.MOCK_PAYMENTS:
        raise MockPaymentsDisabled()
    if amount <= 0 or amount > settings.BALANCE_TOPUP_MAX:
        raise ApplicationError(_("The amount is out of range."), code="validation_error")
    return balance_adjust(
        user=user,
        delta=amount,
        reason="dev add-stars (mock payments)",
        reference=f"dev-add-stars:{reference}" if reference else None,
    )
