"""Reconciliation of the bot's Telegram Star transactions with the local payments.

With long polling, an update is confirmed to Telegram when it is fetched, so a
crash can lose a successful_payment or refunded_payment. Telegram's own list
(getStarTransactions) is the record of what really happened: this completes
payments whose update was lost, books refunds made outside the bot, and
reports what does not match. Every fix goes through the idempotent services
(purchase_complete, refund_book), so a second run changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from core.errors import ApplicationError
from integrations.telegram import StarTransaction, TelegramError, client, telegram_configured
from payments.gateways.stars_invoice import telegram_charge
from payments.models import MOCK_CHARGE_PREFIX, Payment, ReconciliationRun
from payments.refunds import refund_book, refund_hold_release, stale_refund_holds
from payments.services import purchase_complete

logger = logging.getLogger(__name__)

MAX_PAGE_SIZE = 100  # getStarTransactions' limit
REPORT_LIST_LIMIT = 500  # keep the stored report bounded


@dataclass(frozen=True)
class StarCharge:
    """One Telegram Star transaction with a user: an incoming payment, or its refund."""

    charge_id: str
    amount: int
    user_id: int
    payload: str | None
    is_refund: bool
    recurring: bool = False  # a payment of a Star subscription (its first or a renewal)


@dataclass
class ReconciliationReport:
    transactions_seen: int = 0
    completed: list[dict[str, Any]] = field(default_factory=list)
    refunds_booked: list[dict[str, Any]] = field(default_factory=list)
    holds_released: list[dict[str, Any]] = field(default_factory=list)
    mismatches: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""
    run: ReconciliationRun | None = None

    @property
    def fixed_count(self) -> int:
        return len(self.completed) + len(self.refunds_booked) + len(self.holds_released)

    @property
    def mismatch_count(self) -> int:
        return len(self.mismatches)

    @property
    def ok(self) -> bool:
        return not self.error and not self.mismatches

    def as_json(self) -> dict[str, Any]:
        return {
            "transactions_seen": self.transactions_seen,
            "completed": self.completed[:REPORT_LIST_LIMIT],
            "refunds_booked": self.refunds_booked[:REPORT_LIST_LIMIT],
            "holds_released": self.holds_released[:REPORT_LIST_LIMIT],
            "mismatches": self.mismatches[:REPORT_LIST_LIMIT],
            "error": self.error,
        }

    def mismatch(self, kind: str, charge_id: str | None, detail: str, **extra: Any) -> None:
        self.mismatches.append({"kind": kind, "charge_id": charge_id, "detail": detail, **extra})


def reconcile_star_transactions(*, page_size: int = MAX_PAGE_SIZE) -> ReconciliationReport:
    """Page through all of the bot's Star transactions and make the local state agree.

    Stored as a ReconciliationRun. A Telegram error ends the run (ok=False, `error` set)
    after what was fetched before it has not been acted on: a partial list would make
    every missing charge look like a mismatch.
    """
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ApplicationError(f"page_size must be 1-{MAX_PAGE_SIZE}", code="validation_error")
    if not telegram_configured():
        raise ApplicationError("TELEGRAM_BOT_TOKEN is not set: nothing to reconcile.", code="telegram_not_configured")
    run = ReconciliationRun.objects.create(started_at=timezone.now())
    report = ReconciliationReport(run=run)
    try:
        charges, report.transactions_seen = _fetch_star_charges(page_size=page_size)
    except TelegramError as exc:
        report.error = f"getStarTransactions failed: {exc}"
        logger.error("reconciliation stopped: %s", report.error)
    else:
        incoming = {c.charge_id: c for c in charges if not c.is_refund}
        refunds = {c.charge_id: c for c in charges if c.is_refund}
        for charge in incoming.values():
            _reconcile_payment(charge, report)
        for charge in refunds.values():
            _reconcile_refund(charge, report)
        _release_stale_holds(refunds=refunds, report=report)
        _report_local_only(incoming=incoming, refunds=refunds, report=report)
    _finish(run, report)
    return report


def _fetch_star_charges(*, page_size: int) -> tuple[list[StarCharge], int]:
    charges: list[StarCharge] = []
    seen: set[tuple[str, bool]] = set()  # a refund reuses its payment's id: key by (id, direction)
    offset = 0
    while True:
        page = client().get_star_transactions(offset=offset, limit=page_size)
        for transaction in page:
            charge = _star_charge(transaction)
            if charge is not None and (charge.charge_id, charge.is_refund) not in seen:
                seen.add((charge.charge_id, charge.is_refund))
                charges.append(charge)
        offset += len(page)
        if len(page) < page_size:
            return charges, offset


def _star_charge(transaction: StarTransaction) -> StarCharge | None:
    """Only transactions with a user count here (withdrawals, ads, gifts are not purchases)."""
    if transaction.partner_user_id is None:
        return None
    return StarCharge(
        charge_id=transaction.id,
        amount=int(transaction.amount),
        user_id=transaction.partner_user_id,
        payload=transaction.invoice_payload,
        is_refund=not transaction.incoming,
        recurring=bool(transaction.subscription_period),
    )


def _reconcile_payment(charge: StarCharge, report: ReconciliationReport) -> None:
    known = (
        Payment.objects.select_related("user", "star_subscription")
        .filter(telegram_payment_charge_id=charge.charge_id)
        .first()
    )
    if known is not None:
        _check_known_payment(known, charge, report)
        return
    if not charge.payload:
        report.mismatch("no_payload", charge.charge_id, "a user paid without an invoice payload", amount=charge.amount)
        return
    target = Payment.objects.select_related("user").filter(invoice_payload=charge.payload).first()
    if target is not None and target.user.telegram_id != charge.user_id:
        report.mismatch(
            "user_differs",
            charge.charge_id,
            f"invoice {target.purchase_id} belongs to another user than the payer {charge.user_id}",
        )
        return
    result = purchase_complete(
        telegram_charge(
            payload=charge.payload,
            charge_id=charge.charge_id,
            amount=charge.amount,
            currency="XTR",
            from_user_id=charge.user_id,
            is_recurring=charge.recurring,
        )
    )
    if result.outcome in ("granted", "refunded"):
        logger.warning("reconciliation completed payment %s (charge %s)", result.payment.purchase_id, charge.charge_id)
        report.completed.append(
            {"charge_id": charge.charge_id, "purchase_id": str(result.payment.purchase_id), "amount": charge.amount}
        )
    elif result.outcome == "needs_review":
        kind = "unknown_payload" if target is None else "amount_differs"
        if target is not None and result.payment.pk != target.pk:
            kind = "second_charge"
        report.mismatch(
            kind,
            charge.charge_id,
            result.payment.review_reason or "recorded for review",
            purchase_id=str(result.payment.purchase_id),
            amount=charge.amount,
        )


def _check_known_payment(payment: Payment, charge: StarCharge, report: ReconciliationReport) -> None:
    if payment.needs_review:
        # Flagged payments differ from their charge by nature (another amount, an unknown
        # payload): an open review is reported, a resolved one covers those differences.
        if payment.review_open:
            report.mismatch(
                "needs_review", charge.charge_id, payment.review_reason, purchase_id=str(payment.purchase_id)
            )
        return
    if payment.amount != charge.amount:
        report.mismatch(
            "amount_differs",
            charge.charge_id,
            f"Telegram charged {charge.amount}, the payment says {payment.amount}",
            purchase_id=str(payment.purchase_id),
        )
    elif charge.payload and charge.payload not in _payloads_of(payment):
        report.mismatch(
            "payload_differs",
            charge.charge_id,
            "the charge's invoice payload is not the payment's",
            purchase_id=str(payment.purchase_id),
        )


def _payloads_of(payment: Payment) -> set[str]:
    """A Star subscription's renewals carry its first invoice's payload."""
    payloads = {payment.invoice_payload}
    if payment.star_subscription_id:
        payloads.add(payment.star_subscription.invoice_payload)
    return payloads


def _reconcile_refund(charge: StarCharge, report: ReconciliationReport) -> None:
    payment = Payment.objects.filter(telegram_payment_charge_id=charge.charge_id).first()
    if payment is None:
        report.mismatch("refund_unknown_charge", charge.charge_id, "Telegram refunded a charge the shop never saw")
        return
    if payment.status == Payment.Status.REFUNDED:
        return
    try:
        result = refund_book(
            payment=payment,
            reason="refunded in Telegram (reconciliation)",
            source="reconciliation",
            returned_by_telegram=True,
        )
    except ApplicationError as exc:
        report.mismatch("refund_not_booked", charge.charge_id, str(exc.message), purchase_id=str(payment.purchase_id))
        return
    if result.created:
        logger.warning("reconciliation booked refund of %s (charge %s)", payment.purchase_id, charge.charge_id)
        report.refunds_booked.append(
            {"charge_id": charge.charge_id, "purchase_id": str(payment.purchase_id), "amount": charge.amount}
        )


def _release_stale_holds(*, refunds: dict[str, StarCharge], report: ReconciliationReport) -> None:
    """Stars held for a refund whose process died: Telegram lists no refund of the
    charge (a listed one was booked just above), so the buyer keeps them."""
    for payment in stale_refund_holds():
        if payment.telegram_payment_charge_id in refunds:
            continue
        refund_hold_release(payment=payment)
        logger.warning("reconciliation released the refund hold of %s: Telegram made no refund", payment.purchase_id)
        report.holds_released.append(
            {"charge_id": payment.telegram_payment_charge_id, "purchase_id": str(payment.purchase_id)}
        )


def _report_local_only(
    *, incoming: dict[str, StarCharge], refunds: dict[str, StarCharge], report: ReconciliationReport
) -> None:
    """Local Stars payments with a real charge id that Telegram does not list."""
    local = (
        Payment.objects.filter(
            method=Payment.Method.STARS,
            status__in=(Payment.Status.SUCCEEDED, Payment.Status.REFUNDED),
            telegram_payment_charge_id__isnull=False,
        )
        .exclude(telegram_payment_charge_id__startswith=MOCK_CHARGE_PREFIX)
        .values_list("telegram_payment_charge_id", "status", "purchase_id")
    )
    for charge_id, status, purchase_id in local.iterator():
        if charge_id not in incoming:
            report.mismatch(
                "missing_in_telegram",
                charge_id,
                "a paid Stars payment whose charge Telegram does not list",
                purchase_id=str(purchase_id),
            )
        elif status == Payment.Status.REFUNDED and charge_id not in refunds:
            report.mismatch(
                "refund_missing_in_telegram",
                charge_id,
                "refunded locally, but Telegram lists no refund",
                purchase_id=str(purchase_id),
            )


def _finish(run: ReconciliationRun, report: ReconciliationReport) -> None:
    run.finished_at = timezone.now()
    run.transactions_seen = report.transactions_seen
    run.fixed_count = report.fixed_count
    run.mismatch_count = report.mismatch_count
    run.ok = report.ok
    run.report = report.as_json()
    run.save()
