"""Refund bookkeeping. The Telegram call (refundStarPayment) is made by the
caller before this, outside any transaction; this only makes the database agree."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from integrations.telegram import ChargeAlreadyRefunded, TelegramError, client, telegram_configured
from payments.errors import InsufficientBalance, RefundNotAllowed
from payments.events import event_record
from payments.ledger import ledger_book
from payments.models import LedgerEntry, Payment, PurchaseEvent
from payments.services import payment_lock
from promos.services import promo_release
from referrals.services import referral_bonus_revoke
from subscriptions.models import ProvisioningTask
from subscriptions.services import subscription_lock, subscription_shorten
from users.models import User
from users.services import user_lock


@dataclass(frozen=True)
class RefundResult:
    payment: Payment
    created: bool  # False when the payment was already refunded


def refund_book(
    *, payment: Payment, reason: str = "", actor: User | None = None, source: str = "admin"
) -> RefundResult:
    """Book a refund once: status refunded, a negative ledger row, the days the
    payment granted taken back, the promo use released, the referral bonus it
    earned taken back.

    A second call (or a concurrent one) changes nothing and says so.
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
            _book_refund_rows(user, locked, reason=reason, actor=actor)
            if locked.status == Payment.Status.SUCCEEDED and locked.days_granted:
                subscription_shorten(
                    user=user,
                    days=locked.days_granted,
                    reason=ProvisioningTask.Reason.REFUND,
                    purchase_id=locked.purchase_id,
                )
            promo_release(purchase_id=locked.purchase_id)
            referral_bonus_revoke(purchase_id=locked.purchase_id)  # the referrer's bonus goes with it
            previous_status = locked.status
            locked.status = Payment.Status.REFUNDED
            locked.refunded_at = timezone.now()
            locked.save(update_fields=["status", "refunded_at"])
            event_record(
                name=PurchaseEvent.Name.REFUNDED,
                payment=locked,
                previous_status=previous_status,
                metadata={"reason": reason, "source": source, "actor_id": actor.pk if actor else None},
            )
            return RefundResult(payment=locked, created=True)
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
    return RefundResult(payment=payment, created=False)


def _book_refund_rows(user: User, payment: Payment, *, reason: str, actor: User | None) -> None:
    received = LedgerEntry.objects.filter(payment=payment).aggregate(amount=Sum("amount"), balance=Sum("balance_delta"))
    revenue = received["amount"] or 0
    balance = received["balance"] or 0
    if payment.method == Payment.Method.BALANCE:
        # Paid from the balance: the Stars go back to the balance.
        amount, balance_delta = 0, -balance
    else:
        # Paid through Telegram: the Stars go back to the buyer; a refunded
        # top-up also leaves the balance (never below zero: InsufficientBalance).
        amount, balance_delta = -revenue, -balance
    if amount == 0 and balance_delta == 0:
        return  # a free purchase moved no money
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


def refund_payment(
    *, payment: Payment, reason: str = "", actor: User | None = None, source: str = "admin"
) -> RefundResult:
    """Refund a payment through Telegram (refundStarPayment), then book it.

    The Telegram call runs outside any transaction. "Charge already refunded"
    counts as success, so calling this twice, or concurrently, books once.
    Payments that did not go through Telegram (balance, free, mock) are only booked.
    What cannot be booked (not paid; a top-up whose Stars were spent) is refused
    before Telegram is asked, so the Stars never leave without a booking.
    """
    payment = Payment.objects.select_related("user").get(pk=payment.pk)
    if payment.status == Payment.Status.REFUNDED:
        return _already_refunded(payment, source=source)
    _refund_precheck(payment)
    charge_id = payment.telegram_payment_charge_id or ""
    if payment.method == Payment.Method.STARS and charge_id and not charge_id.startswith("mock_"):
        if not telegram_configured():
            raise RefundNotAllowed(_("Telegram is not configured: a Stars payment cannot be refunded here."))
        if not payment.user.telegram_id:
            raise RefundNotAllowed(_("The buyer has no Telegram account: the Stars cannot be returned."))
        try:
            client().refund_star_payment(user_id=payment.user.telegram_id, charge_id=charge_id)
        except ChargeAlreadyRefunded:
            pass  # refunded before (by us or elsewhere): make the books agree
        except TelegramError as exc:
            raise RefundNotAllowed(
                _("Telegram refused the refund: %(error)s") % {"error": exc}, code="refund_failed", status=502
            ) from exc
        try:
            return refund_book(payment=payment, reason=reason, actor=actor, source=source)
        except InsufficientBalance:
            # The balance was spent between the check and Telegram's refund: the buyer has the
            # Stars back, so leave the payment for an admin instead of losing the fact.
            _flag_refunded_but_unbooked(payment)
            raise RefundNotAllowed(
                _("Telegram refunded the Stars, but the top-up balance was spent meanwhile; flagged for review."),
                code="refund_needs_review",
            )
    return refund_book(payment=payment, reason=reason, actor=actor, source=source)


def _refund_precheck(payment: Payment) -> None:
    """Refuse early, without asking Telegram, what refund_book would refuse."""
    charged = payment.status == Payment.Status.FAILED and payment.telegram_payment_charge_id
    if payment.status != Payment.Status.SUCCEEDED and not charged:
        raise RefundNotAllowed(
            _("Only paid purchases can be refunded (this one is %(status)s).") % {"status": payment.status},
            code="refund_not_paid",
        )
    credited = LedgerEntry.objects.filter(payment=payment).aggregate(balance=Sum("balance_delta"))["balance"] or 0
    available = User.objects.filter(pk=payment.user_id).values_list("stars_balance", flat=True).first() or 0
    if credited > 0 and available < credited:
        raise RefundNotAllowed(
            _("This top-up cannot be refunded: %(needed)s Stars must be on the balance, %(available)s are left.")
            % {"needed": credited, "available": available},
            code="refund_topup_spent",
            details={"needed": credited, "available": available},
        )


def _flag_refunded_but_unbooked(payment: Payment) -> None:
    note = "refunded in Telegram but the balance was already spent"
    Payment.objects.filter(pk=payment.pk).update(needs_review=True, review_reason=note)
    event_record(name=PurchaseEvent.Name.NEEDS_REVIEW, payment=payment, metadata={"reason": note})
