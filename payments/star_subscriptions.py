"""Star subscriptions: the record of a native Telegram subscription, kept in step
with what Telegram charged and what the buyer or an admin asked for.

Every change of status is a move of the state machine in
payments/star_subscription_states.py, applied as one UPDATE conditioned on the
state it was read in: a renewal, a cancel, a refund and the expiry job running
at once never overwrite each other (the one that finds the row changed reads it
again, or leaves it). Writes run inside the caller's transaction (the purchase
lifecycle holds the buyer's lock) or alone. Telegram itself is called by the
Stars subscription gateway, never from here.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from core.audit import staff_action_record
from core.models import StaffAction
from integrations.telegram import telegram_configured
from notifications import messages
from notifications.delivery import notify
from payments.charges import Charge
from payments.events import event_record
from payments.models import Payment, PurchaseEvent, StarSubscription
from payments.reviews import review_flag
from payments.star_subscription_states import Move, next_status
from subscriptions.services import subscription_set_auto_renewal
from users.models import User

logger = logging.getLogger(__name__)

# Telegram charges a renewal around the period's end; a subscription whose period
# ended longer ago than this without a renewal has ended (no Stars left, or
# canceled in Telegram's own settings, which the bot is not told about). Until
# then it is still live: Telegram may yet charge it.
RENEWAL_GRACE = timedelta(days=1)
# Moves that find the row changed since it was read read it again, at most this often.
MOVE_ATTEMPTS = 5


class StarSubscriptionChanged(RuntimeError):
    """The row kept changing under a move (or changed under a lock that should have kept it)."""


def _period_end(charge: Charge, *, start: datetime, days: int) -> datetime:
    expires_at = charge.recurring.expires_at if charge.recurring else None
    return expires_at or start + timedelta(days=days)


def _renewing(now: datetime) -> Q:
    """Renewing, also in the grace after its period, while Telegram's renewal may still come."""
    return Q(status=StarSubscription.Status.ACTIVE, current_period_end__gt=now - RENEWAL_GRACE)


def _live(now: datetime) -> Q:
    """Renewing (see _renewing), or canceled but paid for."""
    return _renewing(now) | Q(status=StarSubscription.Status.CANCELED, current_period_end__gt=now)


def star_subscription_live_for(
    *, user: User, exclude_id: int | None = None, renewing_only: bool = False
) -> StarSubscription | None:
    """The buyer's subscription that still renews (or may: in its renewal grace), or is
    canceled but paid for (the newest). `renewing_only`: one Telegram may still charge."""
    now = timezone.now()
    live = StarSubscription.objects.select_related("tariff").filter(
        _renewing(now) if renewing_only else _live(now), user=user
    )
    if exclude_id is not None:
        live = live.exclude(pk=exclude_id)
    return live.order_by("-created_at").first()


def star_subscription_for_renewal(*, invoice_payload: str) -> StarSubscription | None:
    """The subscription a renewal names, its row locked until the caller's transaction ends
    (a cancel or the expiry job then waits, and their conditional UPDATEs see the renewal)."""
    return (
        StarSubscription.objects.select_for_update(of=("self",), no_key=True)
        .filter(invoice_payload=invoice_payload)
        .first()
    )


def _as_read(subscription: StarSubscription) -> Q:
    """The row as it was read: its status, period and renewals."""
    return Q(
        pk=subscription.pk,
        status=subscription.status,
        current_period_end=subscription.current_period_end,
        renewals_count=subscription.renewals_count,
    )


def _auto_renewal_sync(*, user_id: int) -> None:
    """The VPN subscription renews automatically while one of the buyer's Star subscriptions does."""
    renews = StarSubscription.objects.filter(_renewing(timezone.now()), user_id=user_id).exists()
    subscription_set_auto_renewal(user_id=user_id, renews=renews)


def star_subscription_start(
    *, user: User, payment: Payment, charge: Charge, review_reason: str = ""
) -> StarSubscription:
    """The first payment of a subscription invoice was granted: record the subscription
    (in the caller's transaction, the buyer locked) and attach the payment to it.
    `review_reason` flags the payment (a second live subscription of the same buyer:
    recorded too, the buyer paid, but Telegram would charge both every month)."""
    subscription = StarSubscription.objects.create(
        user=user,
        tariff_id=payment.tariff_id,
        invoice_payload=payment.invoice_payload,
        first_charge_id=charge.charge_id,
        amount=payment.amount,
        period_days=payment.days,
        current_period_end=_period_end(charge, start=payment.paid_at or timezone.now(), days=payment.days),
    )
    payment.star_subscription = subscription
    fields = ["star_subscription"]
    if review_reason:
        payment.needs_review = True
        payment.review_reason = review_reason[:255]
        fields += ["needs_review", "review_reason"]
    Payment.objects.filter(pk=payment.pk).update(**{field: getattr(payment, field) for field in fields})
    subscription_set_auto_renewal(user_id=user.pk, renews=True)
    event_record(
        name=PurchaseEvent.Name.STAR_SUBSCRIPTION_STARTED,
        payment=payment,
        metadata={"charge_id": charge.charge_id, "period_end": subscription.current_period_end.isoformat()},
    )
    if review_reason:
        event_record(name=PurchaseEvent.Name.NEEDS_REVIEW, payment=payment, metadata={"reason": review_reason})
    return subscription


def star_subscription_renewed(*, subscription: StarSubscription, renewal: Payment, charge: Charge, status: str) -> None:
    """One more period paid (in the caller's transaction, the row locked by
    star_subscription_for_renewal): the period end moves to what Telegram says, the
    count goes up, and the status becomes `status` (the state machine's renew move:
    a canceled one stays canceled, one whose first payment was refunded stays ended)."""
    start = max(subscription.current_period_end, timezone.now())
    period_end = max(_period_end(charge, start=start, days=subscription.period_days), subscription.current_period_end)
    now = timezone.now()
    moved = StarSubscription.objects.filter(_as_read(subscription)).update(
        renewals_count=F("renewals_count") + 1, current_period_end=period_end, status=status, updated_at=now
    )
    if not moved:
        raise StarSubscriptionChanged(f"Star subscription {subscription.pk} changed under its renewal's lock")
    previous_status = subscription.status
    subscription.status, subscription.current_period_end = status, period_end
    subscription.renewals_count += 1
    _auto_renewal_sync(user_id=subscription.user_id)
    event_record(
        name=PurchaseEvent.Name.STAR_SUBSCRIPTION_RENEWED,
        payment=renewal,
        metadata={
            "charge_id": charge.charge_id,
            "first_charge_id": subscription.first_charge_id,
            "previous_status": previous_status,
            "status": status,
        },
    )


@transaction.atomic
def star_subscription_record_edit(
    *, subscription: StarSubscription, canceled: bool, by: str, actor: User | None = None
) -> bool:
    """Record what Telegram accepted (editUserStarSubscription): canceled, or renewing
    again. A conditional UPDATE from the status the move starts from: False when the
    record already said so (or the subscription ended meanwhile)."""
    now = timezone.now()
    move = Move.CANCEL if canceled else Move.RESUME
    source = StarSubscription.Status.ACTIVE if canceled else StarSubscription.Status.CANCELED
    target = next_status(source, move)
    rows = StarSubscription.objects.filter(pk=subscription.pk, status=source)
    if canceled:
        changed = rows.update(status=target, canceled_at=now, canceled_by=by, updated_at=now)
    else:
        changed = rows.filter(current_period_end__gt=now).update(
            status=target, canceled_at=None, canceled_by="", updated_at=now
        )
    if changed:
        _auto_renewal_sync(user_id=subscription.user_id)
        name = (
            PurchaseEvent.Name.STAR_SUBSCRIPTION_CANCELED if canceled else PurchaseEvent.Name.STAR_SUBSCRIPTION_RESUMED
        )
        event_record(
            name=name,
            payment=star_subscription_first_payment(subscription=subscription),
            user=subscription.user,
            metadata={"by": by, "actor_id": actor.pk if actor else None},
        )
        staff_action_record(
            action=StaffAction.Action.AUTO_RENEWAL_CANCEL if canceled else StaffAction.Action.AUTO_RENEWAL_RESUME,
            actor=actor,
            target=subscription,
            before={"auto_renewal": canceled},
            after={"auto_renewal": not canceled},
        )
    subscription.refresh_from_db()
    return bool(changed)


def star_subscription_record_edit_failure(
    *, subscription: StarSubscription, canceled: bool, error: str, actor: User | None = None
) -> None:
    event_record(
        name=PurchaseEvent.Name.STAR_SUBSCRIPTION_EDIT_FAILED,
        payment=star_subscription_first_payment(subscription=subscription),
        user=subscription.user,
        metadata={"is_canceled": canceled, "error": error[:500], "actor_id": actor.pk if actor else None},
    )


def star_subscription_refund_left_canceled(*, subscription: StarSubscription, payment: Payment, reason: str) -> None:
    """A refund Telegram refused left the subscription canceled (Telegram would not renew
    it again): the record already says canceled; flag the payment for an admin."""
    with transaction.atomic():
        locked = Payment.objects.select_for_update(of=("self",), no_key=True).get(pk=payment.pk)
        review_flag(locked, reason=reason)
        locked.save(
            update_fields=["needs_review", "review_reason", "review_resolved_at", "review_resolved_by", "review_note"]
        )
    logger.error("Star subscription %s: %s", subscription.pk, reason)


def star_subscription_first_payment(*, subscription: StarSubscription) -> Payment | None:
    return (
        Payment.objects.select_related("tariff").filter(telegram_payment_charge_id=subscription.first_charge_id).first()
    )


def star_subscription_end(*, subscription_id: int, reason: str) -> bool:
    """End a subscription now (its first payment was refunded). In the caller's transaction.
    A canceled one keeps its cancel (who, when) on record; a renewal Telegram charges later
    pays its period but never makes it renew again (see the state machine)."""
    for _attempt in range(MOVE_ATTEMPTS):
        subscription = StarSubscription.objects.select_related("user").filter(pk=subscription_id).first()
        if subscription is None:
            return False
        target = next_status(subscription.status, Move.END)
        if target is None:
            return False
        if StarSubscription.objects.filter(pk=subscription_id, status=subscription.status).update(
            status=target, updated_at=timezone.now()
        ):
            break
    else:
        raise StarSubscriptionChanged(f"Star subscription {subscription_id} kept changing while it was ended")
    _auto_renewal_sync(user_id=subscription.user_id)
    event_record(
        name=PurchaseEvent.Name.STAR_SUBSCRIPTION_EXPIRED,
        payment=star_subscription_first_payment(subscription=subscription),
        user=subscription.user,
        metadata={"previous_status": subscription.status, "reason": reason},
    )
    return True


def _lapsed(now: datetime) -> Q:
    """Canceled and its paid period over, or renewing but unrenewed for the grace after it."""
    return Q(status=StarSubscription.Status.CANCELED, current_period_end__lte=now) | Q(
        status=StarSubscription.Status.ACTIVE, current_period_end__lte=now - RENEWAL_GRACE
    )


def star_subscriptions_expire(*, now: datetime | None = None) -> int:
    """Live subscriptions whose paid period ended (a canceled one at its end, a renewing
    one after a grace period without a renewal) become expired; each gets an event.
    Each UPDATE is conditioned on the row as the job read it (status, period, renewals)
    and on the period still being over: a renewal recorded in between keeps it alive."""
    now = now or timezone.now()
    expired = 0
    for subscription in StarSubscription.objects.filter(_lapsed(now)).select_related("user"):
        target = next_status(subscription.status, Move.LAPSE)
        if target is None:
            continue
        moved = StarSubscription.objects.filter(_as_read(subscription), _lapsed(now)).update(
            status=target, updated_at=now
        )
        if not moved:
            continue
        event_record(
            name=PurchaseEvent.Name.STAR_SUBSCRIPTION_EXPIRED,
            payment=star_subscription_first_payment(subscription=subscription),
            user=subscription.user,
            metadata={"previous_status": subscription.status},
        )
        _auto_renewal_sync(user_id=subscription.user_id)
        expired += 1
    return expired


def star_subscription_tell_auto_renewal_off(*, subscription_id: int) -> bool:
    """Tell the buyer their auto-renewal stayed off after a refund Telegram refused
    (a background task: a Telegram call). False when there is no one to tell."""
    subscription = StarSubscription.objects.select_related("user").filter(pk=subscription_id).first()
    if subscription is None or not subscription.user.telegram_id or not telegram_configured():
        return False
    notice = messages.auto_renewal_off_after_failed_refund(
        language=subscription.user.language, paid_until=subscription.current_period_end
    )
    notify(chat_id=subscription.user.telegram_id, notice=notice)
    return True
