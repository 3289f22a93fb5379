"""Subscription writes: extend, shorten, adjust, and the provisioning outbox row each change needs."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import DateTimeField, ExpressionWrapper, F, Value
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.audit import staff_action_record
from core.background import enqueue_on_commit
from core.errors import ApplicationError
from core.models import StaffAction
from subscriptions.models import Location, ProvisioningTask, Subscription, Tariff
from subscriptions.selectors import locations_for
from users.models import User
from users.services import user_lock_row

# The Celery task that runs one outbox row (subscriptions/tasks.py), named here
# because the task module imports this one.
RUN_PROVISIONING_TASK = "subscriptions.run_provisioning_task"


def subscription_lock(*, user: User) -> Subscription:
    """The user's subscription row, created on first need and locked for update.

    Callers hold the user lock first (lock order: user → subscription → payment).
    """
    Subscription.objects.get_or_create(user=user)
    return Subscription.objects.select_for_update(no_key=True).get(user=user)


def _status_for(expires_at: datetime | None, current: str) -> str:
    if current == Subscription.Status.DISABLED:
        return current
    if expires_at is None:
        return Subscription.Status.NONE
    return Subscription.Status.ACTIVE if expires_at > timezone.now() else Subscription.Status.EXPIRED


def subscription_extend(
    *,
    user: User,
    days: int,
    reason: str = ProvisioningTask.Reason.PURCHASE,
    purchase_id: uuid.UUID | None = None,
    tariff: Tariff | None = None,
    configuration: dict | None = None,
) -> None:
    """Add `days` from max(now, current expiry), and queue provisioning. A purchase's
    `configuration` (its snapshot) becomes what the panel gets; None keeps the current one. Runs in the
    caller's transaction; the caller holds the user lock.

    One UPDATE computes the new expiry in the database (no read first), so a change
    made meanwhile by something that does not take the user lock (a panel event) is
    extended, never overwritten. A purchase (reason `purchase`) also makes its link
    message due: the buyer gets the subscription link once for it (see Subscription.link_state).
    """
    if days <= 0:
        provisioning_enqueue(user=user, reason=reason, purchase_id=purchase_id)
        return
    now = timezone.now()
    period = timedelta(days=days)
    current = Coalesce(F("expires_at"), Value(now))
    expires_at = ExpressionWrapper(Greatest(current, Value(now)) + Value(period), output_field=DateTimeField())
    changes = {
        "expires_at": expires_at,
        "expiry_high_water": Greatest(Coalesce(F("expiry_high_water"), expires_at), expires_at),
        "status": Subscription.Status.ACTIVE,  # days > 0: the expiry is in the future, a disabled one comes back
        "updated_at": now,
    }
    if tariff is not None:
        changes["tariff"] = tariff
    if configuration is not None:
        changes["configuration"] = configuration
    if reason == ProvisioningTask.Reason.PURCHASE:
        changes["link_state"] = Subscription.LinkState.DUE
    if not Subscription.objects.filter(user_id=user.pk).update(**changes):
        # The first one (the user lock keeps a second first one out).
        Subscription.objects.create(
            user_id=user.pk,
            expires_at=now + period,
            expiry_high_water=now + period,
            status=Subscription.Status.ACTIVE,
            tariff=tariff,
            configuration=configuration or {},
            link_state=changes.get("link_state", Subscription.LinkState.NONE),
        )
    provisioning_enqueue(user=user, reason=reason, purchase_id=purchase_id)


def subscription_shorten(
    *, user: User, days: int, reason: str = ProvisioningTask.Reason.REFUND, purchase_id: uuid.UUID | None = None
) -> Subscription:
    """Remove `days` from the expiry (a refund takes back what its payment granted)."""
    subscription = subscription_lock(user=user)
    if subscription.expires_at is not None and days > 0:
        # Remember what the shop had set: the panel reporting it later is not a manual extension.
        subscription.expiry_high_water = max(
            subscription.expiry_high_water or subscription.expires_at, subscription.expires_at
        )
        subscription.expires_at = subscription.expires_at - timedelta(days=days)
        subscription.status = _status_for(subscription.expires_at, subscription.status)
        subscription.save(update_fields=["expires_at", "expiry_high_water", "status", "updated_at"])
        provisioning_enqueue(user=user, reason=reason, purchase_id=purchase_id)
    return subscription


@transaction.atomic
def subscription_adjust(*, user: User, days: int) -> Subscription:
    """Admin change: extend (days > 0) or shorten (days < 0) a subscription;
    provisioning is queued in the same transaction."""
    user_lock_row(user_id=user.pk)
    before = Subscription.objects.filter(user=user).values_list("expires_at", flat=True).first()
    if days >= 0:
        subscription_extend(user=user, days=days, reason=ProvisioningTask.Reason.ADMIN)
        subscription = Subscription.objects.get(user=user)
    else:
        subscription = subscription_shorten(user=user, days=-days, reason=ProvisioningTask.Reason.ADMIN)
    staff_action_record(
        action=StaffAction.Action.SUBSCRIPTION_ADJUST,
        target=user,
        before={"expires_at": before},
        after={"expires_at": subscription.expires_at},
        note=f"{days:+d}",
    )
    return subscription


def provisioning_enqueue(
    *,
    user: User | int,
    reason: str,
    purchase_id: uuid.UUID | None = None,
    kind: str = ProvisioningTask.Kind.SYNC,
    days: int = 0,
) -> ProvisioningTask:
    """Write the outbox row in the caller's transaction; once it commits, a
    background task claims the row and makes the panel match the database
    (or sends the message the row stands for)."""
    user_id = user if isinstance(user, int) else user.pk
    run_now = settings.PROVISIONING_RUN_AFTER_COMMIT
    task = ProvisioningTask.objects.create(
        user_id=user_id,
        purchase_id=purchase_id,
        reason=reason,
        kind=kind,
        days=days,
        enqueued_at=timezone.now() if run_now else None,
    )
    if run_now:
        enqueue_on_commit(RUN_PROVISIONING_TASK, task.pk)
    return task


def subscription_grant_bonus(*, user: User, days: int, purchase_id: uuid.UUID | None = None) -> None:
    """Bonus days (a referral): extended and provisioned like a purchase, and the
    user is told by a message of its own from the worker. Runs in the caller's
    transaction; the caller holds the user lock."""
    subscription_extend(user=user, days=days, reason=ProvisioningTask.Reason.REFERRAL, purchase_id=purchase_id)
    provisioning_enqueue(
        user=user,
        reason=ProvisioningTask.Reason.REFERRAL,
        purchase_id=purchase_id,
        kind=ProvisioningTask.Kind.BONUS,
        days=days,
    )


def subscription_set_auto_renewal(*, user_id: int, renews: bool) -> None:
    """Whether a Telegram Star subscription renews this subscription (set by the payments app)."""
    Subscription.objects.filter(user_id=user_id).exclude(renews_automatically=renews).update(
        renews_automatically=renews, updated_at=timezone.now()
    )


def link_claim_for_reply(*, user: User) -> Subscription | None:
    """The payment confirmation takes the purchase's link message when the link
    is known already: the subscription (with its URL) if this reply should carry
    it, else None (the worker sends it once provisioning finishes, or already did).
    A claimed link is `replied`, not `sent`: a resend of this confirmation (its first
    send failed) carries it again, a resend after the worker sent it does not."""
    claimed = (
        Subscription.objects.filter(user=user, link_state=Subscription.LinkState.DUE)
        .exclude(subscription_url="")
        .update(link_state=Subscription.LinkState.REPLIED, link_sent_at=timezone.now())
    )
    return Subscription.objects.filter(user=user).first() if claimed else None


class LocationUnavailable(ApplicationError):
    code = "location_unavailable"
    status = 409

    MESSAGES = {
        "no_subscription": _("You have no active subscription to change the location of."),
        "not_offered": _("This location is not offered with your plan."),
    }

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(self.MESSAGES[reason], details={"reason": reason})


@transaction.atomic
def subscription_location_change(*, user: User, location_id: int) -> Location:
    """Move an active subscription to another location its plan offers, free of charge. The
    panel gets the location's squads at once (a sync through the outbox); the period, devices
    and traffic stay as bought. Choosing the current location again changes nothing."""
    user_lock_row(user_id=user.pk)
    subscription = Subscription.objects.select_for_update(no_key=True).filter(user=user).first()
    if subscription is None or not subscription.is_active:
        raise LocationUnavailable("no_subscription")
    location = next((loc for loc in locations_for(subscription=subscription) if loc.pk == location_id), None)
    if location is None:
        raise LocationUnavailable("not_offered")
    configuration = dict(subscription.configuration or {})
    current = configuration.get("location") or {}
    if current.get("id") == location.pk and configuration.get("squads") == list(location.squads):
        return location
    if not configuration:  # bought before configurations were kept: the tariff's limits, as the panel has them
        tariff = subscription.tariff
        configuration = {
            "device_limit": tariff.device_limit if tariff else None,
            "traffic_limit_bytes": tariff.traffic_limit_bytes if tariff else 0,
            "traffic_strategy": None,
        }
    configuration["location"] = {
        "id": location.pk,
        "title": location.title_for("en"),
        "title_ru": location.title_for("ru"),
    }
    configuration["squads"] = list(location.squads)
    subscription.configuration = configuration
    subscription.save(update_fields=["configuration", "updated_at"])
    provisioning_enqueue(user=user, reason=ProvisioningTask.Reason.LOCATION)
    return location
