"""Star subscriptions: the record of a native Telegram subscription, kept in step
with what Telegram charged and what the buyer or an admin asked for.

Writes here run inside the caller's transaction (the purchase lifecycle holds the
buyer's lock) or are single conditional UPDATEs, so a concurrent renewal and a
cancel never lose each other's change. Telegram itself is called by the Stars
subscription gateway, never from here.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from core.audit import staff_action_record
from core.models import StaffAction
from payments.charges import Charge
from payments.events import event_record
from payments.models import Payment, PurchaseEvent, StarSubscription
from subscriptions.services import subscription_set_auto_renewal
from users.models import User

logger = logging.getLogger(__name__)

# Telegram charges a renewal around the period's end; a subscription whose period
# ended longer ago than this without a renewal has ended (no Stars left, or
# canceled in Telegram's own settings, which the bot is not told about).
RENEWAL_GRACE = timedelta(days=1)
LIVE = (StarSubscription.Status.ACTIVE, StarSubscription.Status.CANCELED)


def _period_end(charge: Charge, *, start: datetime, days: int) -> datetime:
    expires_at = charge.recurring.expires_at if charge.recurring else None
    return expires_at or start + timedelta(days=days)


def star_subscription_live_for(*, user: User) -> StarSubscription | None:
    """The buyer's subscription that still renews, or is canceled but paid for (the newest)."""
    return (
        StarSubscription.objects.select_related("tariff")
        .filter(user=user, status__in=LIVE, current_period_end__gt=timezone.now())
        .order_by("-created_at")
        .first()
    )


def star_subscription_start(*, user: User, payment: Payment, charge: Charge) -> StarSubscription:
    """The first payment of a subscription invoice was granted: record the subscription
    (in the caller's transaction, the buyer locked) and attach the payment to it.
    A second live subscription of the same buyer is recorded too (the buyer paid),
    and flagged on its payment: Telegram would charge both every month."""
    other = star_subscription_live_for(user=user)
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
    if other is not None:
        payment.needs_review = True
        payment.review_reason = f"a second auto-renewing subscription next to {other.first_charge_id}: cancel one"
        fields += ["needs_review", "review_reason"]
    Payment.objects.filter(pk=payment.pk).update(**{field: getattr(payment, field) for field in fields})
    subscription_set_auto_renewal(user_id=user.pk, renews=True)
    event_record(
        name=PurchaseEvent.Name.STAR_SUBSCRIPTION_STARTED,
        payment=payment,
        metadata={"charge_id": charge.charge_id, "period_end": subscription.current_period_end.isoformat()},
    )
    return subscription


def star_subscription_renewed(*, subscription: StarSubscription, renewal: Payment, charge: Charge) -> None:
    """One more period paid (in the caller's transaction): the period end moves to what
    Telegram says and the count goes up."""
    start = max(subscription.current_period_end, timezone.now())
    period_end = _period_end(charge, start=start, days=subscription.period_days)
    StarSubscription.objects.filter(pk=subscription.pk).update(
        renewals_count=F("renewals_count") + 1,
        current_period_end=max(period_end, subscription.current_period_end),
        # Canceled stays canceled (Telegram accepted the cancel after charging this period);
        # an expired one that Telegram renewed is alive again. Decided in the UPDATE, so a
        # cancel recorded meanwhile is never overwritten.
        status=Case(
            When(status=StarSubscription.Status.CANCELED, then=Value(StarSubscription.Status.CANCELED)),
            default=Value(StarSubscription.Status.ACTIVE),
        ),
        updated_at=timezone.now(),
    )
    if subscription.status != StarSubscription.Status.CANCELED:
        subscription_set_auto_renewal(user_id=subscription.user_id, renews=True)
    event_record(
        name=PurchaseEvent.Name.STAR_SUBSCRIPTION_RENEWED,
        payment=renewal,
        metadata={"charge_id": charge.charge_id, "first_charge_id": subscription.first_charge_id},
    )


@transaction.atomic
def star_subscription_record_edit(
    *, subscription: StarSubscription, canceled: bool, by: str, actor: User | None = None
) -> bool:
    """Record what Telegram accepted (editUserStarSubscription): canceled, or renewing
    again. A conditional UPDATE: False when the record already said so."""
    now = timezone.now()
    if canceled:
        changed = StarSubscription.objects.filter(pk=subscription.pk, status=StarSubscription.Status.ACTIVE).update(
            status=StarSubscription.Status.CANCELED, canceled_at=now, canceled_by=by, updated_at=now
        )
    else:
        changed = StarSubscription.objects.filter(
            pk=subscription.pk, status=StarSubscription.Status.CANCELED, current_period_end__gt=now
        ).update(status=StarSubscription.Status.ACTIVE, canceled_at=None, canceled_by="", updated_at=now)
    if changed:
        subscription_set_auto_renewal(user_id=subscription.user_id, renews=not canceled)
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


def star_subscription_first_payment(*, subscription: StarSubscription) -> Payment | None:
    return (
        Payment.objects.select_related("tariff").filter(telegram_payment_charge_id=subscription.first_charge_id).first()
    )


def star_subscription_end(*, subscription_id: int, reason: str) -> bool:
    """End a subscription now (its first payment was refunded). In the caller's transaction."""
    subscription = StarSubscription.objects.select_related("user").filter(pk=subscription_id).first()
    if subscription is None or subscription.status == StarSubscription.Status.EXPIRED:
        return False
    StarSubscription.objects.filter(pk=subscription_id).update(
        status=StarSubscription.Status.EXPIRED, updated_at=timezone.now()
    )
    subscription_set_auto_renewal(user_id=subscription.user_id, renews=False)
    event_record(
        name=PurchaseEvent.Name.STAR_SUBSCRIPTION_EXPIRED,
        payment=star_subscription_first_payment(subscription=subscription),
        user=subscription.user,
        metadata={"previous_status": subscription.status, "reason": reason},
    )
    return True


def star_subscriptions_expire(*, now: datetime | None = None) -> int:
    """Live subscriptions whose paid period ended (a canceled one at its end, a renewing
    one after a grace period without a renewal) become expired; each gets an event."""
    now = now or timezone.now()
    ended = Q(status=StarSubscription.Status.CANCELED, current_period_end__lte=now) | Q(
        status=StarSubscription.Status.ACTIVE, current_period_end__lte=now - RENEWAL_GRACE
    )
    expired = 0
    for subscription in StarSubscription.objects.filter(ended).select_related("user"):
        if StarSubscription.objects.filter(pk=subscription.pk, status=subscription.status).update(
            status=StarSubscription.Status.EXPIRED, updated_at=now
        ):
            event_record(
                name=PurchaseEvent.Name.STAR_SUBSCRIPTION_EXPIRED,
                payment=star_subscription_first_payment(subscription=subscription),
                user=subscription.user,
                metadata={"previous_status": subscription.status},
            )
            if not star_subscription_live_for(user=subscription.user):
                subscription_set_auto_renewal(user_id=subscription.user_id, renews=False)
            expired += 1
    return expired
