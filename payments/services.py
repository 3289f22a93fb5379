"""The purchase services: the only code that creates or moves a Payment.

Every door (bot handlers, API views, admin actions, commands) calls these.
Rules: idempotency lives in database constraints, row locks are taken in the
order user → subscription → payment, and no network call happens in here.
"""

from __future__ import annotations

import functools
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, connections, router, transaction
from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.db import fetch_first
from core.errors import ApplicationError
from payments.buyers import first_paid_sql, moved_money, payment_mark_firsts
from payments.charges import Charge
from payments.errors import (
    AlreadySubscribed,
    InvalidAmount,
    PaymentNotFound,
    PurchaseConflict,
    TariffUnavailable,
)
from payments.events import event_record
from payments.ledger import ledger_book
from payments.models import LedgerEntry, Payment, PendingRefund, PurchaseEvent, StarSubscription, TrialClaim
from payments.outcomes import COMPLETABLE_STATUSES, Action, InvoiceState, Outcome, SubscriptionState, charge_outcome
from payments.reviews import review_close
from payments.star_subscriptions import (
    star_subscription_for_renewal,
    star_subscription_live_for,
    star_subscription_renewed,
    star_subscription_start,
)
from promos.services import PromoInvalid, Quote, promo_consume, promo_quote
from referrals.services import referral_bonus_grant
from subscriptions.models import ProvisioningTask, Tariff
from subscriptions.pricing import Selection, configuration_for
from subscriptions.selectors import trial_days
from subscriptions.services import subscription_extend
from users.models import User
from users.services import user_get_or_create_from_telegram, user_lock_row

logger = logging.getLogger(__name__)

CURRENCY = "XTR"
PAID_METHODS = (Payment.Method.STARS, Payment.Method.BALANCE)
OPEN_STATUSES = (Payment.Status.PENDING, Payment.Status.DRAFT)


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
        configuration=quote.snapshot,
        invoice_payload=new_invoice_payload(),
    )


def purchase_id_guard(*, user: User, purchase_id) -> Payment | None:
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


def quote_for_sale(*, user: User, tariff: Tariff, promo_code: str | None, selection: Selection | None = None) -> Quote:
    """The price of the plan in the chosen configuration, with the promo: what an invoice charges."""
    configuration = configuration_for(tariff=tariff, **(selection or Selection()).as_kwargs())
    return promo_quote(tariff=tariff, user=user, code=promo_code, configuration=configuration)


def purchase_create_invoice(
    *,
    user: User,
    tariff: Tariff | str | int,
    promo_code: str | None = None,
    source: str = Payment.Source.BOT,
    purchase_id: uuid.UUID | None = None,
    purchase_type: str = "subscription",
    selection: Selection | None = None,
) -> InvoiceResult:
    """A pending payment to send an invoice for, or the user's open one for the
    same configuration, promo and price (event purchase_invoice_reused).

    A 100 % promo completes the purchase right away (no invoice): the result's
    payment is then `succeeded` with method `free`.
    """
    kwargs = dict(
        user=user,
        tariff=tariff,
        promo_code=promo_code,
        source=source,
        purchase_type=purchase_type,
        selection=selection,
    )
    try:
        return _create_invoice_once(purchase_id=purchase_id, **kwargs)
    except IntegrityError:
        # A concurrent request inserted this client-chosen purchase_id first:
        # the second attempt sees it, as a reuse (same user) or a conflict.
        if purchase_id is None:
            raise
        return _create_invoice_once(purchase_id=purchase_id, **kwargs)


def _create_invoice_once(
    *,
    user: User,
    tariff: Tariff | str | int,
    promo_code: str | None,
    source: str,
    purchase_id,
    purchase_type: str,
    selection: Selection | None,
) -> InvoiceResult:
    existing = purchase_id_guard(user=user, purchase_id=purchase_id)
    with transaction.atomic(durable=True):
        user_lock_row(user_id=user.pk)  # one invoice decision per user at a time
        if existing is not None:
            existing.refresh_from_db()
            event_record(name=PurchaseEvent.Name.INVOICE_REUSED, payment=existing, previous_status=existing.status)
            return InvoiceResult(payment=existing, created=False)
        tariff = tariff_for_sale(tariff=tariff)
        if tariff.renews_monthly:
            # Telegram would charge two subscriptions every month: one at a time.
            if star_subscription_live_for(user=user) is not None:
                raise AlreadySubscribed()
            purchase_type = Payment.STAR_SUBSCRIPTION
        elif purchase_type in Payment.RESERVED_PURCHASE_TYPES:
            purchase_type = "subscription"  # a client's label never makes a purchase a trial or a renewal
        quote = quote_for_sale(user=user, tariff=tariff, promo_code=promo_code, selection=selection)
        snapshot = quote.snapshot
        if quote.is_free:
            payment = purchase_instant(
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
                purchase_type=purchase_type,
                configuration=snapshot,
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


# --- Completion -----------------------------------------------------------


@dataclass(frozen=True)
class CompletionResult:
    payment: Payment
    created: bool  # True only for the call that granted
    outcome: str  # "granted", "duplicate", "needs_review" or "refunded" (refunded before it was recorded)


def record_duplicate(payment: Payment, *, charge_id: str) -> CompletionResult:
    event_record(
        name=PurchaseEvent.Name.SUCCEEDED_IDEMPOTENT,
        payment=payment,
        previous_status=payment.status,
        metadata={"charge_id": charge_id},
    )
    return CompletionResult(payment=payment, created=False, outcome="duplicate")


def purchase_complete(charge: Charge) -> CompletionResult:
    """Fulfil a successful payment exactly once, whatever gateway it came through.

    In one transaction: mark succeeded, book the ledger, count the promo,
    extend the subscription and queue provisioning. A repeat of the same charge
    (also concurrent) returns the existing result. A charge that does not match
    its invoice, or pays an invoice twice, or names an unknown invoice, is
    recorded and flagged for review, never dropped, and grants nothing. A
    charge Telegram already refunded (its refunded_payment came first and was
    kept as a PendingRefund) is recorded as refunded and grants nothing.

    A recurring charge for a subscription invoice paid before is a renewal: a
    payment of its own that adds one period (once per charge id). The first
    charge of such an invoice starts the Star subscription.
    """
    if not charge.charge_id:
        raise ApplicationError(_("A charge id is required."), code="validation_error")
    try:
        with transaction.atomic(durable=True):
            invoice = _invoice_with_buyer_locked(payload=charge.payload)
            if invoice is not None:
                return _complete_locked(invoice, charge)
    except IntegrityError:
        # The unique charge id was taken by a concurrent delivery of the same charge.
        known = Payment.objects.select_related("tariff").filter(telegram_payment_charge_id=charge.charge_id).first()
        if known is None:
            raise
        return record_duplicate(known, charge_id=charge.charge_id)
    return _record_orphan_charge(charge)


def _invoice_with_buyer_locked(*, payload: str) -> Payment | None:
    """The invoice the charge names, its buyer locked (lock order: user first) in the
    same query. Only the user row is locked: the payment's columns are as the query
    found them, which is enough for what never changes (amount, days, promo, tariff)
    and is checked again by the conditional UPDATE that claims it."""
    if not payload:
        return None
    return fetch_first(Payment, related=("user", "tariff"), lock="user", invoice_payload=payload)


def _complete_locked(invoice: Payment, charge: Charge) -> CompletionResult:
    """The buyer is locked. What the charge does is decided from the states it meets
    (payments/outcomes.py), then applied. The common case (the charge pays a pending
    invoice as issued) is one conditional UPDATE that claims the payment as it was read;
    anything else reads it again, locked, and decides again."""
    user = invoice.user
    # Under the user lock, which refund_from_telegram also takes: a refund
    # kept before this payment is seen here, or it sees this payment.
    pending = _pending_refund(charge_id=charge.charge_id)
    if _pays_as_issued(invoice, charge) and pending is None:
        outcome, _subscription = _decide(invoice, charge, pending=None)
        result = _apply_grant(outcome, user, invoice, charge, claim_if_unchanged=True)
        if result is not None:
            return result
    payment = payment_lock(payment_id=invoice.pk)
    outcome, subscription = _decide(payment, charge, pending=pending)
    match outcome.action:
        case Action.DUPLICATE:
            return record_duplicate(payment, charge_id=charge.charge_id)
        case Action.GRANT | Action.START:
            return _apply_grant(outcome, user, payment, charge)
        case Action.REFUNDED:
            return _record_refunded_before_recorded(user, payment, pending=pending, charge=charge)
        case Action.RENEWAL_REFUNDED:
            renewal = _renewal_payment(user, payment, subscription)
            return _record_refunded_before_recorded(user, renewal, pending=pending, charge=charge)
        case Action.RENEW:
            return _record_renewal(user, payment, charge, subscription=subscription, outcome=outcome)
        case Action.MISMATCH:
            result = _record_mismatch(payment, charge)
        case _:
            result = _record_extra_charge(payment, charge, reason=outcome.reason)
    if outcome.apply_pending_refund:
        _apply_pending_refund(result.payment, pending=pending)
    return result


def _decide(
    payment: Payment, charge: Charge, *, pending: PendingRefund | None
) -> tuple[Outcome, StarSubscription | None]:
    """Read what the decision needs (a subscription invoice's Star subscription, locked,
    and the buyer's other live one) and decide. Other invoices need no more reads."""
    invoice = InvoiceState.of(payment)
    subscription, state, other_live = None, None, None
    if invoice.is_star_subscription:
        if invoice.is_paid:
            subscription = star_subscription_for_renewal(invoice_payload=payment.invoice_payload)
        if subscription is not None:
            state = SubscriptionState(
                status=subscription.status, amount=subscription.amount, first_charge_id=subscription.first_charge_id
            )
        # A new subscription next to any live one is flagged (the buyer pays twice for a while);
        # a renewal, next to one Telegram also renews (the buyer pays twice every month).
        other = star_subscription_live_for(
            user=payment.user,
            exclude_id=subscription.pk if subscription is not None else None,
            renewing_only=invoice.is_paid,
        )
        other_live = other.first_charge_id if other is not None else None
    outcome = charge_outcome(
        invoice=invoice, charge=charge, subscription=state, other_live=other_live, pending_refund=pending is not None
    )
    return outcome, subscription


def _apply_grant(
    outcome: Outcome, user: User, payment: Payment, charge: Charge, *, claim_if_unchanged: bool = False
) -> CompletionResult | None:
    result = purchase_grant(
        user,
        payment,
        charge_id=charge.charge_id,
        provider_charge_id=charge.provider_charge_id,
        claim_if_unchanged=claim_if_unchanged,
    )
    if result is not None and outcome.action == Action.START:
        star_subscription_start(
            user=user, payment=payment, charge=charge, review_reason=outcome.reason if outcome.review else ""
        )
    return result


def _pays_as_issued(invoice: Payment, charge: Charge) -> bool:
    return (
        invoice.status in COMPLETABLE_STATUSES
        and not invoice.telegram_payment_charge_id
        and charge.currency == CURRENCY
        and charge.amount == invoice.amount
    )


def _renewal_payment(user: User, first: Payment, subscription: StarSubscription) -> Payment:
    """The payment of one renewal: its own row, for the subscription's price and period."""
    renewal = Payment(
        user=user,
        kind=Payment.Kind.SUBSCRIPTION,
        method=Payment.Method.STARS,
        source=first.source,
        tariff_id=subscription.tariff_id,
        status=Payment.Status.PENDING,
        base_price=subscription.amount,
        amount=subscription.amount,
        days=subscription.period_days,
        configuration=first.configuration,  # what the first payment bought, at the price Telegram charges
        purchase_type=Payment.RENEWAL,
        invoice_payload=new_invoice_payload(),
        star_subscription=subscription,
    )
    renewal.save()
    return renewal


def _record_renewal(
    user: User, first: Payment, charge: Charge, *, subscription: StarSubscription, outcome: Outcome
) -> CompletionResult:
    """Telegram renewed a Star subscription by itself (no pre-checkout): a payment of its
    own for one more period, granted once per charge id; flagged when the outcome says
    (a second live subscription, a first payment refunded)."""
    renewal = _renewal_payment(user, first, subscription)
    if outcome.review:
        renewal.needs_review, renewal.review_reason = True, outcome.reason[:255]
        Payment.objects.filter(pk=renewal.pk).update(needs_review=True, review_reason=renewal.review_reason)
    result = purchase_grant(
        user,
        renewal,
        charge_id=charge.charge_id,
        provider_charge_id=charge.provider_charge_id,
        reason=ProvisioningTask.Reason.RENEWAL,
    )
    star_subscription_renewed(
        subscription=subscription, renewal=renewal, charge=charge, status=outcome.subscription_status
    )
    return result


def purchase_grant(
    user: User,
    payment: Payment,
    *,
    charge_id: str | None,
    provider_charge_id: str = "",
    count_promo: bool = True,
    reason: str = ProvisioningTask.Reason.PURCHASE,
    claim_if_unchanged: bool = False,
) -> CompletionResult | None:
    """Mark the payment succeeded and give the user what it bought (the buyer is locked).

    The payment moves with one UPDATE of the columns that change. With
    `claim_if_unchanged` (a payment read without its own lock) the UPDATE only
    happens while the payment is as it was read, still unpaid: None when it was
    not, and nothing was done."""
    previous_status = payment.status
    now = timezone.now()
    is_subscription = payment.kind == Payment.Kind.SUBSCRIPTION
    days_granted = payment.days + payment.bonus_days if is_subscription else payment.days_granted
    claimed, first_subscription = _claim(
        payment,
        charge_id=charge_id,
        provider_charge_id=provider_charge_id or "",
        paid_at=now,
        days_granted=days_granted,
        only_if_unchanged=claim_if_unchanged,
    )
    if not claimed:
        return None
    payment.status, payment.telegram_payment_charge_id = Payment.Status.SUCCEEDED, charge_id
    payment.provider_payment_charge_id, payment.paid_at = provider_charge_id or "", now
    payment.failure_reason, payment.days_granted = "", days_granted
    if payment.kind == Payment.Kind.TOPUP:
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
            _count_promo_use(user, payment)
        if payment.method == Payment.Method.STARS:
            ledger_book(
                user=user,
                kind=LedgerEntry.Kind.PURCHASE,
                amount=payment.amount,
                payment=payment,
                gateway_tx_id=charge_id,
            )
        subscription_extend(
            user=user,
            days=payment.days_granted,
            purchase_id=payment.purchase_id,
            tariff=payment.tariff,
            reason=reason,
            # A renewal keeps what the subscription has (a location changed since stays changed).
            configuration=None if payment.purchase_type == Payment.RENEWAL else payment.configuration,
        )
        first_paid = payment.method in PAID_METHODS and payment.amount > 0 and payment.purchase_type != Payment.RENEWAL
        # A buyer earns their referrer a bonus with their first paid subscription only: skip the
        # lookup when the claim found an earlier one (unknown for mock payments: look).
        if first_paid and first_subscription is not False:
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
    return CompletionResult(payment=payment, created=True, outcome="granted")


def _claim(
    payment: Payment,
    *,
    charge_id: str | None,
    provider_charge_id: str,
    paid_at,
    days_granted: int,
    only_if_unchanged: bool,
) -> tuple[bool, bool | None]:
    """The one UPDATE that makes a payment succeeded (the hottest statement of the shop: its
    SQL is built once, not compiled by the ORM on every purchase). It also decides, in the
    database and under the buyer's lock, whether this is the buyer's first paid payment and
    first paid subscription: the dashboard's new and returning buyers. Returns whether it
    claimed the payment, and whether it is the buyer's first paid subscription (None when
    not decided: no money moved, or not a subscription)."""
    connection = connections[router.db_for_write(Payment)]
    flags = moved_money(payment, charge_id=charge_id)
    sql, constants = _claim_sql(
        connection.alias,
        flags=flags,
        subscription_flag=flags and payment.kind == Payment.Kind.SUBSCRIPTION,
        only_if_unchanged=only_if_unchanged,
    )
    params = [
        Payment.Status.SUCCEEDED,
        charge_id,
        provider_charge_id,
        connection.ops.adapt_datetimefield_value(paid_at),
        days_granted,
        *constants,
        payment.pk,
    ]
    if only_if_unchanged:
        params.append(payment.status)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return False, None
    return True, (bool(row[0]) if row[0] is not None else None)


@functools.cache
def _claim_sql(alias: str, *, flags: bool, subscription_flag: bool, only_if_unchanged: bool) -> tuple[str, list]:
    quote = connections[alias].ops.quote_name
    table = quote(Payment._meta.db_table)
    column = {name: quote(Payment._meta.get_field(name).column) for name in CLAIMED_COLUMNS}
    assignments = [f"{column[name]} = %s" for name in CLAIMED_COLUMNS]
    assignments.append(f"{quote(Payment._meta.get_field('failure_reason').column)} = ''")
    constants: list = []
    if flags:
        for name, subscription in (("first_paid", False), ("first_paid_subscription", True)):
            if subscription and not subscription_flag:
                continue
            rule, rule_params = first_paid_sql(table=table, quote=quote, subscription=subscription)
            assignments.append(f"{quote(name)} = {rule}")
            constants += rule_params
    where = f"{quote(Payment._meta.pk.column)} = %s"
    if only_if_unchanged:
        where += f" AND {column['status']} = %s AND {column['telegram_payment_charge_id']} IS NULL"
    returned = quote("first_paid_subscription") if subscription_flag else "NULL"
    sql = f"UPDATE {table} SET {', '.join(assignments)} WHERE {where} RETURNING {returned}"  # noqa: S608 - model names
    return sql, constants


# The columns the claiming UPDATE sets from its parameters, in their order (it also clears failure_reason).
CLAIMED_COLUMNS = ("status", "telegram_payment_charge_id", "provider_payment_charge_id", "paid_at", "days_granted")


def _count_promo_use(user: User, payment: Payment) -> None:
    """Count the promo's use. The buyer paid the promo price after the promo ran out (a
    race past pre-checkout): grant the tariff, not the bonus, and let an admin decide."""
    try:
        with transaction.atomic():
            promo_consume(promo=payment.promo, user=user, purchase_id=payment.purchase_id)
    except PromoInvalid as exc:
        payment.bonus_days, payment.days_granted = 0, payment.days
        payment.needs_review = True
        payment.review_reason = f"promo {payment.promo.code} unavailable at completion: {exc.reason}"
        Payment.objects.filter(pk=payment.pk).update(
            bonus_days=0, days_granted=payment.days, needs_review=True, review_reason=payment.review_reason
        )


def _pending_refund(*, charge_id: str) -> PendingRefund | None:
    return PendingRefund.objects.filter(charge_id=charge_id, applied_at__isnull=True).first()


def _record_refunded_before_recorded(
    user: User, payment: Payment, *, pending: PendingRefund, charge: Charge
) -> CompletionResult:
    """The charge arrived after Telegram's refund of it: book the Stars in and out
    again, and grant nothing (no days, no balance, no promo use)."""
    charge_id = charge.charge_id
    payment.telegram_payment_charge_id = charge_id
    payment.provider_payment_charge_id = charge.provider_charge_id or ""
    payment.paid_at = timezone.now()
    payment.failure_reason = ""
    payment.days_granted = 0
    payment_mark_firsts(payment)  # paid, then refunded below: still the buyer's payment history
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


def _record_mismatch(payment: Payment, charge: Charge) -> CompletionResult:
    previous_status = payment.status
    charge_id, amount, currency = charge.charge_id, charge.amount, charge.currency
    reason = f"charge {amount} {currency} does not match invoice {payment.amount} {payment.currency}"
    payment.status = Payment.Status.FAILED
    payment.telegram_payment_charge_id = charge_id
    payment.provider_payment_charge_id = charge.provider_charge_id or ""
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
    *, user: User, charge: Charge, reason: str, tariff: Tariff | None = None, kind: str = Payment.Kind.SUBSCRIPTION
) -> Payment:
    """A payment row for money that arrived without a grantable invoice."""
    charge_id, amount, currency = charge.charge_id, charge.amount, charge.currency
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
        provider_payment_charge_id=charge.provider_charge_id or "",
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


def _record_extra_charge(payment: Payment, charge: Charge, *, reason: str = "") -> CompletionResult:
    reason = reason or f"second charge for invoice {payment.purchase_id} (already {payment.status})"
    extra = _record_review_payment(
        user=payment.user, charge=charge, reason=reason, tariff=payment.tariff, kind=payment.kind
    )
    return CompletionResult(payment=extra, created=False, outcome="needs_review")


def _record_orphan_charge(charge: Charge) -> CompletionResult:
    if charge.from_user_id is None:
        raise PaymentNotFound(_("Unknown invoice payload and no payer to record the charge for."))
    user = user_get_or_create_from_telegram(telegram_id=charge.from_user_id)
    charge_id = charge.charge_id
    try:
        with transaction.atomic():
            user_lock_row(user_id=user.pk)
            payment = _record_review_payment(
                user=user, charge=charge, reason=f"charge for unknown invoice payload {charge.payload[:80]!r}"
            )
            pending = _pending_refund(charge_id=charge_id)
            if pending is not None:
                _apply_pending_refund(payment, pending=pending)
    except IntegrityError:
        known = Payment.objects.select_related("tariff").get(telegram_payment_charge_id=charge_id)
        return record_duplicate(known, charge_id=charge_id)
    return CompletionResult(payment=payment, created=False, outcome="needs_review")


# --- Paying without an invoice ----------------------------------------------


def purchase_instant(*, user: User, quote: Quote, source: str, method: str, purchase_id=None) -> Payment:
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
    result = purchase_grant(user, payment, charge_id=None, count_promo=False)
    return result.payment


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


# --- Failing and expiring ----------------------------------------------------


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
