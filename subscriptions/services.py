from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from subscriptions.models import ProvisioningTask, Subscription
from users.models import User
from users.services import user_lock_row


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
    *, user: User, days: int, reason: str = ProvisioningTask.Reason.PURCHASE, payment=None
) -> Subscription:
    """Add `days` from max(now, current expiry). Runs in the caller's transaction."""
    subscription = subscription_lock(user=user)
    now = timezone.now()
    start = max(now, subscription.expires_at) if subscription.expires_at else now
    subscription.expires_at = start + timedelta(days=days)
    if subscription.status == Subscription.Status.DISABLED:
        subscription.status = Subscription.Status.ACTIVE
    subscription.status = _status_for(subscription.expires_at, subscription.status)
    subscription.save(update_fields=["expires_at", "status", "updated_at"])
    provisioning_enqueue(user=user, reason=reason, payment=payment)
    return subscription


def subscription_shorten(
    *, user: User, days: int, reason: str = ProvisioningTask.Reason.REFUND, payment=None
) -> Subscription:
    """Remove `days` from the expiry (a refund takes back what its payment granted)."""
    subscription = subscription_lock(user=user)
    if subscription.expires_at is not None and days > 0:
        subscription.expires_at = subscription.expires_at - timedelta(days=days)
        subscription.status = _status_for(subscription.expires_at, subscription.status)
        subscription.save(update_fields=["expires_at", "status", "updated_at"])
        provisioning_enqueue(user=user, reason=reason, payment=payment)
    return subscription


@transaction.atomic
def subscription_adjust(*, user: User, days: int) -> Subscription:
    """Admin change: extend (days > 0) or shorten (days < 0) a subscription;
    provisioning is queued in the same transaction."""
    user_lock_row(user_id=user.pk)
    if days >= 0:
        return subscription_extend(user=user, days=days, reason=ProvisioningTask.Reason.ADMIN)
    return subscription_shorten(user=user, days=-days, reason=ProvisioningTask.Reason.ADMIN)


def provisioning_enqueue(*, user: User, reason: str, payment=None) -> ProvisioningTask:
    """Write the outbox row in the caller's transaction; after commit the worker
    (or the `process_provisioning` command) makes the panel match the database."""
    task = ProvisioningTask.objects.create(user=user, payment=payment, reason=reason)
    transaction.on_commit(lambda: _run_after_commit(task.pk))
    return task


def _run_after_commit(task_id: int) -> None:
    # The provisioning runner is optional at import time so that the money
    # services never depend on the panel client being importable.
    from subscriptions import provisioning

    provisioning.run_task_after_commit(task_id)
