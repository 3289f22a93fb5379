"""Refunds: asking Telegram (refundStarPayment) and booking what Telegram did.

The Telegram call is made outside any transaction. What a refund takes off the
internal balance (a top-up's Stars) is held first, in its own transaction, so
it cannot be spent while Telegram is being asked; it is given back if Telegram
refuses. Once Telegram has returned the Stars the refund is always booked: if
they were spent already, the part the balance no longer holds is recorded as
the buyer's debt (`refund_shortfall`) and the payment is flagged for review.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.audit import staff_action_record
from core.models import StaffAction
from payments.errors import InsufficientBalance, RefundNotAllowed
from payments.events import event_record
from payments.gateways.registry import gateway_for
from payments.ledger import ledger_book
from payments.models import LedgerEntry, Payment, PendingRefund, PurchaseEvent
from payments.reviews import review_close, review_flag
from payments.services import payment_lock
from payments.star_subscriptions import star_subscription_end
from promos.services import promo_release
from referrals.services import referral_bonus_revoke
from subscriptions.models import ProvisioningTask
from subscriptions.services import subscription_lock, subscription_shorten
from users.models import User
from users.services import user_lock, user_lock_row

HOLD_KINDS = (LedgerEntry.Kind.REFUND_HOLD, LedgerEntry.Kind.REFUND_RELEASE)
# A hold older than this outlived any Telegram call: its refund died on the way.
STALE_HOLD_AGE = timedelta(minutes=15)


@dataclass(frozen=True)
class RefundResult:
    payment: Payment
    created: bool  # False when the payment was already refunded
    shortfall: int = 0  # Stars Telegram returned that the balance no longer held (the buyer's debt)


def refund_book(
    *,
    payment: Payment,
    reason: str = "",
    actor: User | None = None,
    source: str = "admin",
    returned_by_telegram: bool = False,
) -> RefundResult:
    """Book a refund once: status refunded, a negative ledger row, the days the
    payment granted taken back, the promo use released, the referral bonus it
    earned taken back.

    `returned_by_telegram`: Telegram has already given the Stars back, so the
    refund is booked whatever the balance holds (a shortfall becomes a recorded
    debt and a review); otherwise a top-up whose Stars were spent is refused
    (InsufficientBalance). A second call (or a concurrent one) changes nothing and says so.
    """
    try:
        with transaction.atomic(durable=True):
            user = user_lock(user_id=payment.user_id)
            subscription_lock(user=user)
            locked = payment_lock(payment_id=payment.pk)
            if locked.status == Payment.Status.REFUNDED:
                return _already_refunded(locked, source=source)
            charged = not (locked.status == Payment.Status.FAILED and locked.telegram_payment_charge_id)
            if locked.status != Payment.Status.SUCCEEDED and charged:
                raise RefundNotAllowed(
                    _("Only paid purchases can be refunded (this one is %(status)s).") % {"status": locked.status}
                )
            shortfall = _book_refund_rows(
                user, locked, reason=reason, actor=actor, returned_by_telegram=returned_by_telegram
            )
            if locked.status == Payment.Status.SUCCEEDED and locked.days_granted:
                subscription_shorten(
                    user=user,
                    days=locked.days_granted,
                    reason=ProvisioningTask.Reason.REFUND,
                    purchase_id=locked.purchase_id,
                )
            if locked.star_subscription_id and locked.purchase_type == Payment.STAR_SUBSCRIPTION:
                # Its first payment refunded: the subscription is over (its later periods,
                # if Telegram charges any, are renewals that bring it back).
                star_subscription_end(subscription_id=locked.star_subscription_id, reason="first payment refunded")
            promo_release(purchase_id=locked.purchase_id)
            referral_bonus_revoke(purchase_id=locked.purchase_id)  # the referrer's bonus goes with it
            previous_status = locked.status
            locked.status = Payment.Status.REFUNDED
            locked.refunded_at = timezone.now()
            locked.refund_shortfall = shortfall
            if shortfall:
                review_flag(
                    locked, reason=f"refunded in Telegram after its Stars were spent: the buyer owes {shortfall}"
                )
            else:
                # Returning the money settles whatever the payment was flagged for.
                review_close(locked, note=f"refunded ({source}): {reason or 'no reason given'}", actor=actor)
            locked.save()
            event_record(
                name=PurchaseEvent.Name.REFUNDED,
                payment=locked,
                previous_status=previous_status,
                metadata={
                    "reason": reason,
                    "source": source,
                    "actor_id": actor.pk if actor else None,
                    "shortfall": shortfall,
                },
            )
            staff_action_record(
                action=StaffAction.Action.REFUND,
                actor=actor,
                target=locked,
                before={"status": previous_status},
                after={"status": locked.status, "amount": locked.amount, "shortfall": shortfall},
                note=reason,
            )
            return RefundResult(payment=locked, created=True, shortfall=shortfall)
    except IntegrityError:
        # The refund row already exists: another call booked it first.
        payment.refresh_from_db()
        return _already_refunded(payment, source=source)


def _already_refunded(payment: Payment, *, source: str) -> RefundResult:
    event_record(
        name=PurchaseEvent.Name.REFUND_IDEMPOTENT,
        payment=payment,
        previous_status=payment.status,
        metadata={"source": source},
    )
    return RefundResult(payment=payment, created=False, shortfall=payment.refund_shortfall)


def _book_refund_rows(
    user: User, payment: Payment, *, reason: str, actor: User | None, returned_by_telegram: bool
) -> int:
    """The refund's ledger row; returns the shortfall (Stars owed). `user` is locked and fresh."""
    received = LedgerEntry.objects.filter(payment=payment).aggregate(amount=Sum("amount"), balance=Sum("balance_delta"))
    revenue = received["amount"] or 0
    balance = received["balance"] or 0  # net of a hold: a held top-up has nothing left to take
    if payment.method == Payment.Method.BALANCE:
        # Paid from the balance: the Stars go back to the balance.
        amount, balance_delta = 0, -balance
    else:
        # Paid through Telegram: the Stars go back to the buyer; a refunded
        # top-up also leaves the balance.
        amount, balance_delta = -revenue, -balance
    shortfall = 0
    if balance_delta < 0 and user.stars_balance < -balance_delta:
        if not returned_by_telegram:
            raise InsufficientBalance(needed=-balance_delta, available=user.stars_balance)
        # The balance may not go below zero: take what is left, and record the rest as owed.
        shortfall = -balance_delta - user.stars_balance
        balance_delta = -user.stars_balance
    if amount == 0 and balance_delta == 0:
        return shortfall  # a free purchase moved no money
    gateway = payment.telegram_payment_charge_id if payment.method == Payment.Method.STARS else None
    ledger_book(
        user=user,
        kind=LedgerEntry.Kind.REFUND,
        amount=amount,
        balance_delta=balance_delta,
        payment=payment,
        gateway_tx_id=gateway,
        reason=reason or "refund",
        created_by=actor,
    )
    return shortfall


def refund_payment(
    *, payment: Payment, reason: str = "", actor: User | None = None, source: str = "admin"
) -> RefundResult:
    """Give a payment's money back through its gateway (Telegram's refundStarPayment for
    Stars), then book it.

    The gateway's call runs outside any transaction. "Charge already refunded"
    counts as success, so calling this twice, or concurrently, books once.
    Payments whose money never left the shop (balance, free, mock) are only booked.
    A top-up's Stars are held on the balance before Telegram is asked (refused
    when they were spent) and given back if Telegram refuses, so the Stars never
    leave without a booking and the balance never pays for them twice.
    """
    payment = Payment.objects.select_related("user", "star_subscription").get(pk=payment.pk)
    if payment.status == Payment.Status.REFUNDED:
        return _already_refunded(payment, source=source)
    _refund_precheck(payment)
    gateway = gateway_for(payment)
    if not gateway.returns_money or not payment.telegram_payment_charge_id:
        try:
            return refund_book(payment=payment, reason=reason, actor=actor, source=source)
        except InsufficientBalance as exc:
            raise _topup_spent(exc) from exc
    _hold_balance(payment)
    try:
        gateway.refund_money(payment)
    except RefundNotAllowed:
        _release_hold(payment)
        raise
    return refund_book(payment=payment, reason=reason, actor=actor, source=source, returned_by_telegram=True)


def _refund_precheck(payment: Payment) -> None:
    """Refuse early, without asking Telegram, what refund_book would refuse."""
    charged = payment.status == Payment.Status.FAILED and payment.telegram_payment_charge_id
    if payment.status != Payment.Status.SUCCEEDED and not charged:
        raise RefundNotAllowed(
            _("Only paid purchases can be refunded (this one is %(status)s).") % {"status": payment.status},
            code="refund_not_paid",
        )


def _topup_spent(exc: InsufficientBalance) -> RefundNotAllowed:
    needed, available = exc.details["needed"], exc.details["available"]
    return RefundNotAllowed(
        _("This top-up cannot be refunded: %(needed)s Stars must be on the balance, %(available)s are left.")
        % {"needed": needed, "available": available},
        code="refund_topup_spent",
        details={"needed": needed, "available": available},
    )


@transaction.atomic(durable=True)
def _hold_balance(payment: Payment) -> None:
    """Take what the payment put on the balance off it (a hold row), unless that is
    held already (a retry after a crash, a concurrent refund of the same payment)."""
    user = user_lock(user_id=payment.user_id)
    locked = payment_lock(payment_id=payment.pk)
    if locked.status == Payment.Status.REFUNDED:
        return
    credited = LedgerEntry.objects.filter(payment=locked).aggregate(total=Sum("balance_delta"))["total"] or 0
    if credited <= 0:
        return
    try:
        ledger_book(
            user=user,
            kind=LedgerEntry.Kind.REFUND_HOLD,
            balance_delta=-credited,
            payment=locked,
            reason="held while Telegram refunds the top-up",
        )
    except InsufficientBalance as exc:
        raise _topup_spent(exc) from exc
    event_record(name=PurchaseEvent.Name.REFUND_HELD, payment=locked, metadata={"stars": credited})


@transaction.atomic(durable=True)
def _release_hold(payment: Payment) -> None:
    """Telegram refused: give the held Stars back (nothing if the refund got booked meanwhile)."""
    user = user_lock(user_id=payment.user_id)
    locked = payment_lock(payment_id=payment.pk)
    if locked.status == Payment.Status.REFUNDED:
        return
    holds = LedgerEntry.objects.filter(payment=locked, kind__in=HOLD_KINDS)
    held = -(holds.aggregate(total=Sum("balance_delta"))["total"] or 0)
    if held <= 0:
        return
    ledger_book(
        user=user,
        kind=LedgerEntry.Kind.REFUND_RELEASE,
        balance_delta=held,
        payment=locked,
        reason="Telegram refused the refund",
    )
    event_record(name=PurchaseEvent.Name.REFUND_RELEASED, payment=locked, metadata={"stars": held})


def stale_refund_holds() -> list[Payment]:
    """Payments whose Stars are still held for a refund that never got booked (the
    refund's process died between the hold and the booking)."""
    held = (
        LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REFUND_HOLD, created_at__lt=timezone.now() - STALE_HOLD_AGE)
        .exclude(payment__status=Payment.Status.REFUNDED)
        .values_list("payment_id", flat=True)
        .distinct()
    )
    stale = []
    for payment in Payment.objects.filter(pk__in=list(held)).select_related("user", "tariff"):
        holds = LedgerEntry.objects.filter(payment=payment, kind__in=HOLD_KINDS)
        if (holds.aggregate(total=Sum("balance_delta"))["total"] or 0) < 0:
            stale.append(payment)
    return stale


def refund_hold_release(*, payment: Payment) -> None:
    """Give back the Stars held for a refund Telegram never made (reconciliation: no refund listed)."""
    _release_hold(payment)


# --- Telegram's refunded_payment --------------------------------------------------------


@dataclass(frozen=True)
class TelegramRefund:
    created: bool  # False for a repeat of a refund already booked or kept
    pending: bool  # kept until its payment is recorded
    payment: Payment | None = None
    shortfall: int = 0


def refund_from_telegram(*, user: User, charge_id: str, amount: int) -> TelegramRefund:
    """Telegram refunded a charge (by us or elsewhere): book it, or, when the charge is
    not recorded yet (its successful_payment waits for a retry), keep it as a
    PendingRefund that purchase_complete applies when the payment is recorded."""
    with transaction.atomic(durable=True):
        # The same lock purchase_complete holds while it looks for a kept refund.
        user_lock_row(user_id=user.pk)
        payment = Payment.objects.filter(telegram_payment_charge_id=charge_id).first()
        if payment is None:
            _pending, created = PendingRefund.objects.get_or_create(
                charge_id=charge_id, defaults={"telegram_user_id": user.telegram_id or 0, "amount": max(amount, 0)}
            )
            if created:
                event_record(
                    name=PurchaseEvent.Name.REFUND_PENDING,
                    user=user,
                    metadata={"charge_id": charge_id, "amount": amount},
                )
            return TelegramRefund(created=created, pending=True)
    result = refund_book(
        payment=payment, reason="refunded_payment from Telegram", source="telegram", returned_by_telegram=True
    )
    return TelegramRefund(created=result.created, pending=False, payment=result.payment, shortfall=result.shortfall)
