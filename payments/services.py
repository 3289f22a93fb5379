"""The purchase services: the only code that creates or moves a Payment.

Every door (bot handlers, API views, admin actions, commands) calls these.
Rules: idempotency lives in database constraints, row locks are taken in the
order user → subscription → payment, and no network call happens in here.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from core.db import fetch_first
from core.errors import ApplicationError
from payments.errors import (
    InvalidAmount,
    MockPaymentsDisabled,
    PaymentNotFound,
    PurchaseConflict,
    TariffUnavailable,
    TrialUnavailable,
)
from payments.events import event_record
from payments.ledger import ledger_book
from payments.models import LedgerEntry, Payment, PendingRefund, PurchaseEvent, TrialClaim
from payments.reviews import review_close
from promos.services import PromoInvalid, Quote, promo_check, promo_consume, promo_quote
from referrals.services import referral_bonus_grant
from subscriptions.models import Subscription, Tariff
from subscriptions.selectors import trial_days
from subscriptions.services import subscription_extend
from users.models import User
from users.services import user_get_or_create_from_telegram, user_lock, user_lock_row

logger = logging.getLogger(__name__)

CURRENCY = "XTR"
PAID_METHODS = (Payment.Method.STARS, Payment.Method.BALANCE)
OPEN_STATUSES = (Payment.Status.PENDING, Payment.Status.DRAFT)
# A successful payment for these is still granted: the buyer paid.
COMPLETABLE_STATUSES = (Payment.Status.PENDING, Payment.Status.DRAFT, Payment.Status.EXPIRED, Payment.Status.FAILED)


def new_invoice_payload() -> str:
    """Opaque and unique; says nothing about the user, tariff or price."""
    return secrets.token_urlsafe(24)


def payment_lock(*, payment_id: int) -> Payment:
    """Lock one payment row (after its user: lock order user → subscription → payment).

    Only the payment row is locked (`of=self`), never the tariff or promo it joins.
    """
    return (
        Payment.objects.select_for_update(of=("self",), no_key=True)
        .select_related("tariff", "promo", "user")
        .get(pk=payment_id)
    )


def pending_ttl() -> timedelta:
    return timedelta(minutes=settings.PAYMENT_PENDING_TTL_MINUTES)


# --- Invoices -------------------------------------------------------------


@dataclass(frozen=True)
class InvoiceResult:
    payment: Payment
    created: bool  # False when an open invoice was reused


def tariff_for_sale(*, tariff: Tariff | str | int) -> Tariff:
    if not isinstance(tariff, Tariff):
        lookup = {"id": tariff} if isinstance(tariff, int) else {"code": tariff}
        # By a unique key, on every invoice: a prebuilt SELECT (the ORM's first() also sorted by the model's ordering).
        tariff = fetch_first(Tariff, **lookup)
        if tariff is None:
            raise TariffUnavailable(_("Unknown tariff."), code="not_found", status=404)
    if not tariff.is_active:
        raise TariffUnavailable()
    return tariff


def _payment_from_quote(
    *, user: User, quote: Quote, source: str, method: str, status: str, purchase_id=None
) -> Payment:
    return Payment(
        purchase_id=purchase_id or uuid.uuid4(),
        user=user,
        kind=Payment.Kind.SUBSCRIPTION,
        method=method,
        source=source,
        tariff=quote.tariff,
        promo=quote.promo,
        status=status,
        base_price=quote.base_price,
        discount=quote.discount,
        amount=quote.amount,
        days=quote.days,
        bonus_days=quote.bonus_days,
        invoice_payload=new_invoice_payload(),
    )


def _guard_foreign_purchase_id(*, user: User, purchase_id) -> Payment | None:
    """A client-chosen purchase_id that belongs to another user is a conflict,
    recorded as an event that outlives the refused request."""
    if purchase_id is None:
        return None
    # Nearly always a new id (an Idempotency-Key's fresh reference): one prebuilt SELECT by the unique id.
    existing = fetch_first(Payment, purchase_id=purchase_id)
    if existing is not None and existing.user_id != user.pk:
        event_record(
            name=PurchaseEvent.Name.USER_MISMATCH,
            payment=existing,
            user=user,
            metadata={"owner_id": existing.user_id, "caller_id": user.pk},
        )
        raise PurchaseConflict()
    return existing


def purchase_create_invoice(
    *,
    user: User,
    tariff: Tariff | str | int,
    promo_code: str | None = None,
    source: str = Payment.Source.BOT,
    purchase_id: uuid.UUID | None = None,
    purchase_type: str = "subscription",
) -> InvoiceResult:
    """A pending payment to send an invoice for, or the user's open one for the
    same tariff, promo and price (event purchase_invoice_reused).

    A 100 % promo completes the purchase right away (no invoice): the result's
    payment is then `succeeded` with method `free`.
    """
    kwargs = dict(user=user, tariff=tariff, promo_code=promo_code, source=source, purchase_type=purchase_type)
    try:
        return _create_invoice_once(purchase_id=purchase_id, **kwargs)
    except IntegrityError:
        # A concurrent request inserted this client-chosen purchase_id first:
        # the second attempt sees it, as a reuse (same user) or a conflict.
        if purchase_id is None:
            raise
        return _create_invoice_once(purchase_id=purchase_id, **kwargs)


def _create_invoice_once(
    *, user: User, tariff: Tariff | str | int, promo_code: str | None, source: str, purchase_id, purchase_type: str
) -> InvoiceResult:
    existing = _guard_foreign_purchase_id(user=user, purchase_id=purchase_id)
    with transaction.atomic(durable=True):
        user_lock_row(user_id=user.pk)  # one invoice decision per user at a time
        if existing is not None:
            existing.refresh_from_db()
            event_record(name=PurchaseEvent.Name.INVOICE_REUSED, payment=existing, previous_status=existing.status)
            return InvoiceResult(payment=existing, created=False)
        tariff = tariff_for_sale(tariff=tariff)
        quote = promo_quote(tariff=tariff, user=user, code=promo_code)
        if quote.is_free:
            payment = _purchase_instant(
                user=user, quote=quote, source=source, method=Payment.Method.FREE, purchase_id=purchase_id
            )
            return InvoiceResult(payment=payment, created=True)
        reusable = (
            Payment.objects.filter(
                user=user,
                kind=Payment.Kind.SUBSCRIPTION,
                method=Payment.Method.STARS,
                status=Payment.Status.PENDING,
                tariff=tariff,
                promo=quote.promo,
                amount=quote.amount,
                bonus_days=quote.bonus_days,
                created_at__gt=timezone.now() - pending_ttl(),
            )
            .order_by("-created_at")
            .first()
        )
        if reusable is not None:
            # Matched on these very rows: attach them instead of joining them again.
            reusable.user, reusable.tariff, reusable.promo = user, tariff, quote.promo
            event_record(name=PurchaseEvent.Name.INVOICE_REUSED, payment=reusable, previous_status=reusable.status)
            return InvoiceResult(payment=reusable, created=False)
        payment = _payment_from_quote(
            user=user,
            quote=quote,
            source=source,
            method=Payment.Method.STARS,
            status=Payment.Status.PENDING,
            purchase_id=purchase_id,
        )
        payment.purchase_type = purchase_type
        payment.save()
        event_record(name=PurchaseEvent.Name.INVOICE_CREATED, payment=payment, metadata={"source": source})
        return InvoiceResult(payment=payment, created=True)


def topup_create_invoice(*, user: User, amount: int, source: str = Payment.Source.BOT) -> InvoiceResult:
    """A pending top-up of the internal balance (or the user's open one for the same amount)."""
    if not isinstance(amount, int) or amount < 1 or amount > settings.BALANCE_TOPUP_MAX:
        raise InvalidAmount(
            _("Top-up amount must be between 1 and %(max)s Stars.") % {"max": settings.BALANCE_TOPUP_MAX},
            details={"amount": amount},
        )
    with transaction.atomic(durable=True):
        user_lock_row(user_id=user.pk)
        reusable = (
            Payment.objects.filter(
                user=user,
                kind=Payment.Kind.TOPUP,
                status=Payment.Status.PENDING,
                amount=amount,
                created_at__gt=timezone.now() - pending_ttl(),
            )
            .order_by("-created_at")
            .first()
        )
        if reusable is not None:
            event_record(name=PurchaseEvent.Name.INVOICE_REUSED, payment=reusable, previous_status=reusable.status)
            return InvoiceResult(payment=reusable, created=False)
        payment = Payment.objects.create(
            user=user,
            kind=Payment.Kind.TOPUP,
            method=Payment.Method.STARS,
            source=source,
            base_price=amount,
            amount=amount,
            purchase_type="topup",
            invoice_payload=new_invoice_payload(),
        )
        event_record(name=PurchaseEvent.Name.INVOICE_CREATED, payment=payment, metadata={"source": source})
        return InvoiceResult(payment=payment, created=True)


# --- Pre-checkout ---------------------------------------------------------


@dataclass(frozen=True)
class PrecheckoutResult:
    ok: bool
    reason: str = ""  # stable machine code
    message: str = ""  # shown to the buyer by Telegram

    @classmethod
    def refuse(cls, reason: str, message) -> PrecheckoutResult:
        return cls(ok=False, reason=reason, message=str(message))


def precheckout_validate(*, payload: str, from_user_id: int, total_amount: int, currency: str) -> PrecheckoutResult:
    """Answer for a pre_checkout_query: indexed reads only, no writes, no network."""
    # Every pre-checkout runs this (Telegram waits at most 10 s): one prebuilt SELECT by the unique payload.
    payment = fetch_first(Payment, related=("user", "tariff", "promo"), invoice_payload=payload or "")
    if payment is None:
        return PrecheckoutResult.refuse("unknown_payload", _("This invoice is unknown. Please start a new purchase."))
    if payment.user.telegram_id != from_user_id:
        return PrecheckoutResult.refuse("user_mismatch", _("This invoice was issued to another user."))
    if payment.status in (Payment.Status.SUCCEEDED, Payment.Status.REFUNDED):
        return PrecheckoutResult.refuse("already_paid", _("This invoice has already been paid."))
    if payment.status != Payment.Status.PENDING or payment.created_at <= timezone.now() - pending_ttl():
        return PrecheckoutResult.refuse("expired", _("This invoice has expired. Please start a new purchase."))
    if currency != CURRENCY or currency != payment.currency:
        return PrecheckoutResult.refuse("wrong_currency", _("Wrong currency: this invoice is paid in Telegram Stars."))
    if total_amount != payment.amount:
        return PrecheckoutResult.refuse(
            "wrong_amount", _("The amount does not match the invoice. Please start a new purchase.")
        )
    if payment.kind == Payment.Kind.SUBSCRIPTION:
        if payment.tariff is None or not payment.tariff.is_active:
            return PrecheckoutResult.refuse("tariff_unavailable", _("This tariff is no longer on sale."))
        if payment.promo is not None:
            try:
                promo_check(promo=payment.promo, tariff=payment.tariff, user=payment.user)
            except PromoInvalid as exc:
                return PrecheckoutResult.refuse(f"promo_{exc.reason}", exc.message)
    return PrecheckoutResult(ok=True)


# --- Completion -----------------------------------------------------------


@dataclass(frozen=True)
class CompletionResult:
    payment: Payment
    created: bool  # True only for the call that granted
    outcome: str  # "granted", "duplicate", "needs_review" or "refunded" (refunded before it was recorded)
    subscription: Subscription | None = None


def _record_duplicate(payment: Payment, *, charge_id: str) -> CompletionResult:
    event_record(
        name=PurchaseEvent.Name.SUCCEEDED_IDEMPOTENT,
        payment=payment,
        previous_status=payment.status,
        metadata={"charge_id": charge_id},
    )
    return CompletionResult(payment=payment, created=False, outcome="duplicate")


def purchase_complete(
    *,
    payload: str,
    charge_id: str,
    amount: int,
    currency: str,
    provider_charge_id: str = "",
    from_user_id: int | None = None,
) -> CompletionResult:
    """Fulfil a successful payment exactly once.

    In one transaction: mark succeeded, book the ledger, count the promo,
    extend the subscription and queue provisioning. A repeat of the same charge
    (also concurrent) returns the existing result. A charge that does not match
    its invoice, or pays an invoice twice, or names an unknown invoice, is
    recorded and flagged for review, never dropped, and grants nothing. A
    charge Telegram already refunded (its refunded_payment came first and was
    kept as a PendingRefund) is recorded as refunded and grants nothing.
    """
    if not charge_id:
        raise ApplicationError(_("A charge id is required."), code="validation_error")
    known = Payment.objects.select_related("tariff").filter(telegram_payment_charge_id=charge_id).first()
    if known is not None:
        return _record_duplicate(known, charge_id=charge_id)
    target = Payment.objects.filter(invoice_payload=payload or "").values("pk", "user_id").first()
    if target is None:
        return _record_orphan_charge(
            payload=payload,
            charge_id=charge_id,
            amount=amount,
            currency=currency,
            provider_charge_id=provider_charge_id,
            from_user_id=from_user_id,
        )
    try:
        with transaction.atomic(durable=True):
            user = user_lock(user_id=target["user_id"])
            payment = payment_lock(payment_id=target["pk"])
            if payment.telegram_payment_charge_id == charge_id:
                return _record_duplicate(payment, charge_id=charge_id)
            charge = {"charge_id": charge_id, "amount": amount, "currency": currency}
            # Under the user lock, which refund_from_telegram also takes: a refund
            # kept before this payment is seen here, or it sees this payment.
            pending = _pending_refund(charge_id=charge_id)
            if payment.status not in COMPLETABLE_STATUSES or payment.telegram_payment_charge_id:
                result = _record_extra_charge(payment, provider_charge_id=provider_charge_id, **charge)
            elif currency != CURRENCY or amount != payment.amount:
                result = _record_mismatch(payment, provider_charge_id=provider_charge_id, **charge)
            elif pending is not None:
                return _record_refunded_before_recorded(
                    user, payment, pending=pending, charge_id=charge_id, provider_charge_id=provider_charge_id
                )
            else:
                return _grant(user, payment, charge_id=charge_id, provider_charge_id=provider_charge_id)
            if pending is not None:
                _apply_pending_refund(result.payment, pending=pending)
            return result
    except IntegrityError:
        # The unique charge id was taken by a concurrent delivery of the same charge.
        known = Payment.objects.select_related("tariff").filter(telegram_payment_charge_id=charge_id).first()
        if known is None:
            raise
        return _record_duplicate(known, charge_id=charge_id)


def _grant(
    user: User, payment: Payment, *, charge_id: str | None, provider_charge_id: str = "", count_promo: bool = True
) -> CompletionResult:
    """Mark a locked payment succeeded and give the user what it bought."""
    previous_status = payment.status
    now = timezone.now()
    payment.status = Payment.Status.SUCCEEDED
    payment.telegram_payment_charge_id = charge_id
    payment.provider_payment_charge_id = provider_charge_id or ""
    payment.paid_at = now
    payment.failure_reason = ""
    subscription = None
    if payment.kind == Payment.Kind.TOPUP:
        payment.save()
        ledger_book(
            user=user,
            kind=LedgerEntry.Kind.TOPUP,
            amount=payment.amount,
            balance_delta=payment.amount,
            payment=payment,
            gateway_tx_id=charge_id,
        )
    else:
        if payment.promo_id and count_promo:
            try:
                with transaction.atomic():
                    promo_consume(promo=payment.promo, user=user, purchase_id=payment.purchase_id)
            except PromoInvalid as exc:
                # The buyer paid the promo price after the promo ran out (a race
                # past pre-checkout): grant the tariff, not the bonus, and let an
                # admin decide.
                payment.bonus_days = 0
                payment.needs_review = True
                payment.review_reason = f"promo {payment.promo.code} unavailable at completion: {exc.reason}"
        payment.days_granted = payment.days + payment.bonus_days
        payment.save()
        if payment.method == Payment.Method.STARS:
            ledger_book(
                user=user,
                kind=LedgerEntry.Kind.PURCHASE,
                amount=payment.amount,
                payment=payment,
                gateway_tx_id=charge_id,
            )
        subscription = subscription_extend(
            user=user, days=payment.days_granted, purchase_id=payment.purchase_id, tariff=payment.tariff
        )
        if payment.method in PAID_METHODS and payment.amount > 0:
            # The invited buyer paid: their referrer's bonus, once (referrals keeps the rule).
            referral_bonus_grant(invited=user, purchase_id=payment.purchase_id)
    event_record(
        name=PurchaseEvent.Name.SUCCEEDED,
        payment=payment,
        previous_status=previous_status,
        metadata={
            "charge_id": charge_id,
            "method": payment.method,
            "source": payment.source,
            "ms_to_pay": int((now - payment.created_at).total_seconds() * 1000),
            "days_granted": payment.days_granted,
        },
    )
    if payment.needs_review:
        event_record(name=PurchaseEvent.Name.NEEDS_REVIEW, payment=payment, metadata={"reason": payment.review_reason})
    return CompletionResult(payment=payment, created=True, outcome="granted", subscription=subscription)


def _pending_refund(*, charge_id: str) -> PendingRefund | None:
    return PendingRefund.objects.filter(charge_id=charge_id, applied_at__isnull=True).first()


def _record_refunded_before_recorded(
    user: User, payment: Payment, *, pending: PendingRefund, charge_id: str, provider_charge_id: str
) -> CompletionResult:
    """The charge arrived after Telegram's refund of it: book the Stars in and out
    again, and grant nothing (no days, no balance, no promo use)."""
    payment.telegram_payment_charge_id = charge_id
    payment.provider_payment_charge_id = provider_charge_id or ""
    payment.paid_at = timezone.now()
    payment.failure_reason = ""
    payment.days_granted = 0
    payment.save()
    kind = LedgerEntry.Kind.TOPUP if payment.kind == Payment.Kind.TOPUP else LedgerEntry.Kind.PURCHASE
    ledger_book(user=user, kind=kind, amount=payment.amount, payment=payment, gateway_tx_id=charge_id)
    _apply_pending_refund(payment, pending=pending)
    logger.warning("charge %s was refunded before it was recorded: %s granted nothing", charge_id, payment.purchase_id)
    return CompletionResult(payment=payment, created=False, outcome="refunded")


def _apply_pending_refund(payment: Payment, *, pending: PendingRefund) -> None:
    """Inside the caller's transaction: book the kept refund of a payment that granted
    nothing (the Stars it received go back; a review it raised is settled by this)."""
    received = LedgerEntry.objects.filter(payment=payment).aggregate(total=Sum("amount"))["total"] or 0
    if received:
        ledger_book(
            user=payment.user,
            kind=LedgerEntry.Kind.REFUND,
            amount=-received,
            payment=payment,
            gateway_tx_id=payment.telegram_payment_charge_id,
            reason="refunded in Telegram before the payment was recorded",
        )
    previous_status = payment.status
    now = timezone.now()
    payment.status = Payment.Status.REFUNDED
    payment.refunded_at = now
    review_close(payment, note="refunded in Telegram before the payment was recorded")
    payment.save()
    PendingRefund.objects.filter(pk=pending.pk).update(applied_at=now, payment=payment)
    event_record(
        name=PurchaseEvent.Name.REFUNDED,
        payment=payment,
        previous_status=previous_status,
        metadata={"source": "telegram", "refunded_before_recorded": True, "charge_id": pending.charge_id},
    )


def _book_received_charge(payment: Payment, *, charge_id: str, amount: int, currency: str) -> None:
    """Money that reached the bot is always in the ledger, so it can be refunded."""
    if currency == CURRENCY and amount > 0:
        ledger_book(
            user=payment.user, kind=LedgerEntry.Kind.PURCHASE, amount=amount, payment=payment, gateway_tx_id=charge_id
        )


def _record_mismatch(
    payment: Payment, *, charge_id: str, amount: int, currency: str, provider_charge_id: str
) -> CompletionResult:
    previous_status = payment.status
    reason = f"charge {amount} {currency} does not match invoice {payment.amount} {payment.currency}"
    payment.status = Payment.Status.FAILED
    payment.telegram_payment_charge_id = charge_id
    payment.provider_payment_charge_id = provider_charge_id or ""
    payment.paid_at = timezone.now()
    payment.failure_reason = reason
    payment.needs_review = True
    payment.review_reason = reason
    payment.save()
    _book_received_charge(payment, charge_id=charge_id, amount=amount, currency=currency)
    event_record(
        name=PurchaseEvent.Name.NEEDS_REVIEW,
        payment=payment,
        previous_status=previous_status,
        metadata={
            "reason": reason,
            "charge_id": charge_id,
        },
    )
    logger.error("payment %s needs review: %s", payment.purchase_id, reason)
    return CompletionResult(payment=payment, created=False, outcome="needs_review")


def _record_review_payment(
    *,
    user: User,
    charge_id: str,
    amount: int,
    currency: str,
    provider_charge_id: str,
    reason: str,
    tariff: Tariff | None = None,
    kind: str = Payment.Kind.SUBSCRIPTION,
) -> Payment:
    """A payment row for money that arrived without a grantable invoice."""
    payment = Payment.objects.create(
        user=user,
        kind=kind,
        method=Payment.Method.STARS,
        source=Payment.Source.BOT,
        tariff=tariff,
        status=Payment.Status.FAILED,
        base_price=max(amount, 1),
        amount=max(amount, 1),
        purchase_type="review",
        invoice_payload=new_invoice_payload(),
        telegram_payment_charge_id=charge_id,
        provider_payment_charge_id=provider_charge_id or "",
        paid_at=timezone.now(),
        failure_reason=reason[:255],
        needs_review=True,
        review_reason=reason[:255],
    )
    _book_received_charge(payment, charge_id=charge_id, amount=amount, currency=currency)
    event_record(
        name=PurchaseEvent.Name.NEEDS_REVIEW, payment=payment, metadata={"reason": reason, "charge_id": charge_id}
    )
    logger.error("charge %s needs review: %s", charge_id, reason)
    return payment


def _record_extra_charge(
    payment: Payment, *, charge_id: str, amount: int, currency: str, provider_charge_id: str
) -> CompletionResult:
    reason = f"second charge for invoice {payment.purchase_id} (already {payment.status})"
    extra = _record_review_payment(
        user=payment.user,
        charge_id=charge_id,
        amount=amount,
        currency=currency,
        provider_charge_id=provider_charge_id,
        reason=reason,
        tariff=payment.tariff,
        kind=payment.kind,
    )
    return CompletionResult(payment=extra, created=False, outcome="needs_review")


def _record_orphan_charge(
    *, payload: str, charge_id: str, amount: int, currency: str, provider_charge_id: str, from_user_id: int | None
) -> CompletionResult:
    if from_user_id is None:
        raise PaymentNotFound(_("Unknown invoice payload and no payer to record the charge for."))
    user = user_get_or_create_from_telegram(telegram_id=from_user_id)
    try:
        with transaction.atomic():
            user_lock_row(user_id=user.pk)
            payment = _record_review_payment(
                user=user,
                charge_id=charge_id,
                amount=amount,
                currency=currency,
                provider_charge_id=provider_charge_id,
                reason=f"charge for unknown invoice payload {payload[:80]!r}",
            )
            pending = _pending_refund(charge_id=charge_id)
            if pending is not None:
                _apply_pending_refund(payment, pending=pending)
    except IntegrityError:
        known = Payment.objects.select_related("tariff").get(telegram_payment_charge_id=charge_id)
        return _record_duplicate(known, charge_id=charge_id)
    return CompletionResult(payment=payment, created=False, outcome="needs_review")


# --- Paying without an invoice ----------------------------------------------


def _purchase_instant(*, user: User, quote: Quote, source: str, method: str, purchase_id=None) -> Payment:
    """Inside the caller's transaction (user locked): create the payment, take
    the money from the balance if needed, and grant it."""
    payment = _payment_from_quote(
        user=user, quote=quote, source=source, method=method, status=Payment.Status.PENDING, purchase_id=purchase_id
    )
    payment.save()
    event_record(
        name=PurchaseEvent.Name.INVOICE_CREATED, payment=payment, metadata={"source": source, "method": method}
    )
    if quote.promo is not None:
        promo_consume(promo=quote.promo, user=user, purchase_id=payment.purchase_id)  # a refusal rolls everything back
    if method == Payment.Method.BALANCE:
        ledger_book(user=user, kind=LedgerEntry.Kind.BALANCE_SPEND, balance_delta=-payment.amount, payment=payment)
    result = _grant(user, payment, charge_id=None, count_promo=False)
    return result.payment


def purchase_pay_from_balance(
    *,
    user: User,
    tariff: Tariff | str | int,
    promo_code: str | None = None,
    source: str = Payment.Source.BOT,
    purchase_id: uuid.UUID | None = None,
) -> Payment:
    """Buy a tariff with the internal Stars balance, in one transaction; the
    balance never goes below zero (InsufficientBalance otherwise).

    With a `purchase_id` (a client's reference, e.g. derived from its
    Idempotency-Key) the purchase happens once: a repeat returns it unchanged.
    """
    existing = _guard_foreign_purchase_id(user=user, purchase_id=purchase_id)
    with transaction.atomic(durable=True):
        user_lock_row(user_id=user.pk)  # a repeat with the same purchase_id waits here, then finds it
        if existing is None and purchase_id is not None:
            existing = Payment.objects.filter(purchase_id=purchase_id, user=user).first()
        if existing is not None:
            existing.refresh_from_db()
            event_record(name=PurchaseEvent.Name.INVOICE_REUSED, payment=existing, previous_status=existing.status)
            return existing
        tariff = tariff_for_sale(tariff=tariff)
        quote = promo_quote(tariff=tariff, user=user, code=promo_code)
        method = Payment.Method.FREE if quote.is_free else Payment.Method.BALANCE
        return _purchase_instant(user=user, quote=quote, source=source, method=method, purchase_id=purchase_id)


# --- The free trial -------------------------------------------------------------


def has_paid_before(*, user: User) -> bool:
    """Any money from this buyer: a paid purchase or top-up (refunded ones count too)."""
    paid = Q(status__in=(Payment.Status.SUCCEEDED, Payment.Status.REFUNDED), amount__gt=0, method__in=PAID_METHODS)
    return Payment.objects.filter(paid | Q(telegram_payment_charge_id__isnull=False), user=user).exists()


def trial_refusal(*, user: User) -> str | None:
    """Why this buyer cannot start the free trial (a TrialUnavailable reason), or None when they can."""
    if trial_days() <= 0:
        return "off"
    if not user.telegram_id:
        return "no_telegram"
    if TrialClaim.objects.filter(telegram_id=user.telegram_id).exists():
        return "used"
    if has_paid_before(user=user):
        return "paid_before"
    return None


def trial_start(*, user: User, source: str = Payment.Source.BOT) -> Payment:
    """Grant the free trial: TRIAL_DAYS (or the admin's value) without an invoice,
    at most once per Telegram account and never to someone who has paid.

    It is a free Payment (purchase_type "trial") granted like a purchase, so the
    subscription is extended and provisioned through the outbox and its link is
    sent once. The unique TrialClaim row is the guarantee under concurrent taps."""
    with transaction.atomic(durable=True):
        user = user_lock(user_id=user.pk)
        reason = trial_refusal(user=user)
        if reason is not None:
            raise TrialUnavailable(reason)
        days = trial_days()
        payment = Payment(
            user=user,
            kind=Payment.Kind.SUBSCRIPTION,
            method=Payment.Method.FREE,
            source=source,
            status=Payment.Status.PENDING,
            base_price=0,
            amount=0,
            days=days,
            purchase_type=Payment.TRIAL,
            invoice_payload=new_invoice_payload(),
        )
        payment.save()
        event_record(
            name=PurchaseEvent.Name.INVOICE_CREATED, payment=payment, metadata={"source": source, "method": "trial"}
        )
        try:
            with transaction.atomic():
                TrialClaim.objects.create(
                    telegram_id=user.telegram_id, user=user, purchase_id=payment.purchase_id, days=days
                )
        except IntegrityError:
            raise TrialUnavailable("used") from None  # rolls the payment back with it
        return _grant(user, payment, charge_id=None, count_promo=False).payment


# --- Failing, expiring, mock completion -------------------------------------


def payment_get_for_user(*, user: User, purchase_id) -> Payment:
    """The user's own payment; another user's id is a conflict (and an event)."""
    payment = Payment.objects.select_related("tariff", "promo", "user").filter(purchase_id=purchase_id).first()
    if payment is None:
        raise PaymentNotFound()
    if payment.user_id != user.pk:
        event_record(
            name=PurchaseEvent.Name.USER_MISMATCH,
            payment=payment,
            user=user,
            metadata={"owner_id": payment.user_id, "caller_id": user.pk},
        )
        raise PurchaseConflict()
    return payment


def purchase_fail(*, payment: Payment, reason: str) -> bool:
    """pending/draft → failed (conditional UPDATE). Paid payments never fail:
    they are refunded instead. Returns False when nothing changed."""
    with transaction.atomic():
        previous = Payment.objects.filter(pk=payment.pk).values_list("status", flat=True).first()
        updated = Payment.objects.filter(pk=payment.pk, status__in=OPEN_STATUSES).update(
            status=Payment.Status.FAILED, failure_reason=reason[:255]
        )
        if updated:
            payment.refresh_from_db()
            event_record(
                name=PurchaseEvent.Name.FAILED, payment=payment, previous_status=previous, metadata={"reason": reason}
            )
    return bool(updated)


def payments_expire_stale(*, older_than: timedelta | None = None, batch_size: int = 1000) -> int:
    """Expire pending invoices older than the TTL; each gets an event. Safe to
    run concurrently: each row moves with a conditional UPDATE."""
    cutoff = timezone.now() - (older_than if older_than is not None else pending_ttl())
    expired = 0
    while True:
        ids = list(
            Payment.objects.filter(status=Payment.Status.PENDING, created_at__lt=cutoff).values_list("pk", flat=True)[
                :batch_size
            ]
        )
        if not ids:
            return expired
        with transaction.atomic():
            for payment in Payment.objects.select_related("tariff", "user").filter(pk__in=ids):
                if Payment.objects.filter(pk=payment.pk, status=Payment.Status.PENDING).update(
                    status=Payment.Status.EXPIRED, failure_reason="invoice expired unpaid"
                ):
                    event_record(
                        name=PurchaseEvent.Name.EXPIRED, payment=payment, previous_status=Payment.Status.PENDING
                    )
                    expired += 1


def purchase_mock_complete(*, user: User, purchase_id) -> CompletionResult:
    """POST /purchase: pay a pending purchase without Telegram (mock payments).
    Only with MOCK_PAYMENTS on; idempotent; another user's purchase is a conflict."""
    if not settings.MOCK_PAYMENTS:
        raise MockPaymentsDisabled()
    payment = payment_get_for_user(user=user, purchase_id=purchase_id)
    if payment.status in (Payment.Status.SUCCEEDED, Payment.Status.REFUNDED):
        return _record_duplicate(payment, charge_id=payment.telegram_payment_charge_id or "")
    return purchase_complete(
        payload=payment.invoice_payload,
        charge_id=f"mock_{payment.purchase_id.hex}",
        amount=payment.amount,
        currency=payment.currency,
        from_user_id=user.telegram_id,
    )


# --- What goes on the Telegram invoice ----------------------------------------


@dataclass(frozen=True)
class InvoiceParams:
    """sendInvoice / createInvoiceLink arguments for a pending payment (XTR, one price)."""

    title: str  # 1-32 characters
    description: str  # 1-255 characters
    payload: str  # opaque, ≤ 128 bytes
    amount: int  # whole Stars
    label: str
    currency: str = CURRENCY


def invoice_params(*, payment: Payment) -> InvoiceParams:
    """Invoice texts in the buyer's language; Telegram's limits are enforced here."""
    with translation.override(payment.user.language):
        if payment.kind == Payment.Kind.TOPUP:
            title = str(_("Balance top-up"))
            description = str(_("%(amount)s Stars to your shop balance") % {"amount": payment.amount})
        else:
            language = translation.get_language()
            title = str(_("VPN: %(tariff)s") % {"tariff": payment.tariff.title_for(language)})
            description = payment.tariff.description_for(language)
            description = description.rstrip(". ") + ". " if description else ""
            description += str(_("VPN subscription for %(days)s days") % {"days": payment.days})
            if payment.bonus_days:
                description += str(_(" + %(bonus)s bonus days") % {"bonus": payment.bonus_days})
            if payment.discount:
                description += str(_(", discount %(discount)s Stars") % {"discount": payment.discount})
    assert len(payment.invoice_payload.encode()) <= 128
    return InvoiceParams(
        title=title[:32] or "VPN",
        description=description[:255] or title[:255],
        payload=payment.invoice_payload,
        amount=payment.amount,
        label=title[:32] or "VPN",
    )
