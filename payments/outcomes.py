"""What a charge does to the shop, decided from the states it meets.

A pure function: no database, no clock, no network. The purchase lifecycle
(payments/services.py) reads the invoice, the Star subscription and a kept refund
under the buyer's lock, asks `charge_outcome`, then applies the outcome's effects.
Every combination of those inputs is tested in tests/payments/test_outcomes.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from payments.charges import Charge
from payments.models import Payment
from payments.star_subscription_states import Move, next_status

# A successful payment for these is still granted: the buyer paid.
COMPLETABLE_STATUSES = (Payment.Status.PENDING, Payment.Status.DRAFT, Payment.Status.EXPIRED, Payment.Status.FAILED)


class Action(StrEnum):
    GRANT = "grant"  # pays its invoice as issued
    START = "start"  # pays a subscription invoice as issued: grant, and record the Star subscription
    RENEW = "renew"  # one more period of a Star subscription: a payment of its own, granted
    DUPLICATE = "duplicate"  # this very charge is recorded already
    MISMATCH = "mismatch"  # not the invoice's amount or currency: booked and flagged, nothing granted
    EXTRA = "extra"  # a charge with no grantable invoice: booked on a payment of its own and flagged
    REFUNDED = "refunded"  # Telegram refunded it before it was recorded: booked in and out, nothing granted
    RENEWAL_REFUNDED = "renewal_refunded"  # the same for a renewal: recorded as the subscription's, nothing granted


@dataclass(frozen=True)
class InvoiceState:
    """The invoice (payment row) the charge names, as read."""

    status: str
    charge_id: str | None  # the charge that paid it, if any
    amount: int
    currency: str
    purchase_type: str
    buyer_telegram_id: int | None
    purchase_id: str = ""

    @classmethod
    def of(cls, payment: Payment) -> InvoiceState:
        return cls(
            status=payment.status,
            charge_id=payment.telegram_payment_charge_id or None,
            amount=payment.amount,
            currency=payment.currency,
            purchase_type=payment.purchase_type,
            buyer_telegram_id=payment.user.telegram_id,
            purchase_id=str(payment.purchase_id),
        )

    @property
    def is_star_subscription(self) -> bool:
        return self.purchase_type == Payment.STAR_SUBSCRIPTION

    @property
    def is_paid(self) -> bool:
        return self.status not in COMPLETABLE_STATUSES or self.charge_id is not None


@dataclass(frozen=True)
class SubscriptionState:
    """The Star subscription a renewal belongs to, and the buyer's other live one."""

    status: str
    amount: int
    first_charge_id: str


@dataclass(frozen=True)
class Outcome:
    action: Action
    reason: str = ""  # why, in words; the review reason when `review`
    review: bool = False  # the payment this records waits for an admin
    apply_pending_refund: bool = False  # a refund Telegram made first is booked once the charge is recorded
    subscription_status: str | None = None  # RENEW: the subscription's status after it


def second_subscription_reason(other_first_charge_id: str) -> str:
    return f"a second auto-renewing subscription next to {other_first_charge_id}: cancel one"


def charge_outcome(
    *,
    invoice: InvoiceState,
    charge: Charge,
    subscription: SubscriptionState | None = None,
    other_live: str | None = None,
    pending_refund: bool = False,
) -> Outcome:
    """What `charge` does to `invoice`.

    `subscription`: the Star subscription the invoice started (None when there is no
    record of one). `other_live`: the first charge id of another live Star subscription
    of the buyer (for a first payment: renewing, in its renewal grace, or canceled but
    paid; for a renewal: one Telegram may still renew): the buyer would pay twice, so
    whatever starts or renews next to it is flagged.
    `pending_refund`: Telegram's refund of this charge arrived before the charge."""
    if invoice.charge_id is not None and invoice.charge_id == charge.charge_id:
        return Outcome(Action.DUPLICATE, "this charge is recorded already")
    if invoice.is_paid:
        if charge.recurring is not None and invoice.is_star_subscription:
            return _renewal_outcome(invoice, charge, subscription, other_live, pending_refund)
        return Outcome(
            Action.EXTRA,
            f"second charge for invoice {invoice.purchase_id} (already {invoice.status})",
            review=True,
            apply_pending_refund=pending_refund,
        )
    if charge.currency != invoice.currency or charge.amount != invoice.amount:
        return Outcome(
            Action.MISMATCH,
            f"charge {charge.amount} {charge.currency} does not match invoice {invoice.amount} {invoice.currency}",
            review=True,
            apply_pending_refund=pending_refund,
        )
    if pending_refund:
        return Outcome(Action.REFUNDED, "refunded in Telegram before the payment was recorded")
    if invoice.is_star_subscription:
        if other_live is not None:
            return Outcome(Action.START, second_subscription_reason(other_live), review=True)
        return Outcome(Action.START, "pays a subscription invoice as issued")
    return Outcome(Action.GRANT, "pays its invoice as issued")


def _renewal_outcome(
    invoice: InvoiceState,
    charge: Charge,
    subscription: SubscriptionState | None,
    other_live: str | None,
    pending_refund: bool,
) -> Outcome:
    """A recurring charge of a paid subscription invoice: Telegram renewed it by itself."""
    reason = ""
    if subscription is None:
        reason = f"renewal of a subscription the shop has no record of (invoice {invoice.purchase_id})"
    elif charge.from_user_id is not None and charge.from_user_id != invoice.buyer_telegram_id:
        reason = f"renewal of {subscription.first_charge_id} paid by another user ({charge.from_user_id})"
    elif charge.currency != invoice.currency or charge.amount != subscription.amount:
        reason = (
            f"renewal of {charge.amount} {charge.currency} for a subscription of {subscription.amount} "
            f"{invoice.currency}"
        )
    if reason:
        return Outcome(Action.EXTRA, reason, review=True, apply_pending_refund=pending_refund)
    if pending_refund:
        # Telegram gave this period's Stars back: the period is not granted, not counted, not announced.
        return Outcome(Action.RENEWAL_REFUNDED, "renewal refunded in Telegram before it was recorded")
    first_refunded = invoice.status == Payment.Status.REFUNDED
    status = next_status(subscription.status, Move.RENEW, first_payment_refunded=first_refunded)
    reasons = []
    if first_refunded:
        reasons.append(
            f"renewal of {subscription.first_charge_id}, whose first payment was refunded: "
            "refund this period if the buyer did not want it"
        )
    if other_live is not None:
        reasons.append(second_subscription_reason(other_live))
    if reasons:
        return Outcome(Action.RENEW, "; ".join(reasons), review=True, subscription_status=status)
    return Outcome(Action.RENEW, "one more period", subscription_status=status)
