"""The provisioning worker: runs the outbox rows written by the subscription services.

A task is claimed in a short transaction (row lock with SKIP LOCKED on
PostgreSQL; a conditional UPDATE to `running` with a lease everywhere, which
SQLite's IMMEDIATE transactions serialize), then the panel or Telegram is
called outside any transaction, then the result is recorded. Failures are
retried with exponential backoff and marked failed, with the panel's error,
after PROVISIONING_MAX_ATTEMPTS. One user's tasks never run at the same time,
and pending sync tasks of a user are coalesced into the one that runs: it
sends the absolute state the database holds, so one sync covers them all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone, translation
from django.utils.translation import gettext

from subscriptions.backends import NoneBackend, get_backend, subscription_state
from subscriptions.models import ProvisioningTask, Subscription
from subscriptions.remnawave import retries_limited
from subscriptions.services import provisioning_enqueue
from users.models import User
from users.services import user_lock_row

logger = logging.getLogger(__name__)

OPEN_STATUSES = (ProvisioningTask.Status.PENDING, ProvisioningTask.Status.RETRYING)


@dataclass(frozen=True)
class Busy:
    """claim_task's answer when another task of the same user is running (this one stays due)."""

    task_id: int


def run_task_after_commit(task_id: int) -> None:
    """Best effort right after commit, without in-call retries (someone may be waiting
    for the answer); failures are left for `process_provisioning`. Off with
    PROVISIONING_RUN_AFTER_COMMIT=false (then only the worker runs tasks)."""
    if not settings.PROVISIONING_RUN_AFTER_COMMIT:
        return
    try:
        with retries_limited(0):
            run_task(task_id=task_id)
    except Exception:  # noqa: BLE001 - the queue retries; never break the caller
        logger.exception("provisioning task %s failed after commit; it will be retried", task_id)


def run_task(*, task_id: int) -> bool:
    """Claim this task if it is due and free, run it, record the result. False when not claimed."""
    task = claim_task(task_id=task_id)
    if not isinstance(task, ProvisioningTask):
        return False
    execute_task(task=task)
    return True


def process_due(*, limit: int | None = None, should_stop: Callable[[], bool] | None = None) -> int:
    """Run due tasks one by one until none is left (or `limit`, or `should_stop()`); returns how many ran."""
    processed = 0
    skipped: set[int] = set()
    while (limit is None or processed < limit) and not (should_stop and should_stop()):
        task = claim_task(exclude_ids=skipped)
        if task is None:
            break
        if isinstance(task, Busy):
            skipped.add(task.task_id)
            continue
        execute_task(task=task)
        processed += 1
    return processed


def _due(now) -> Q:
    stale_lease = Q(status=ProvisioningTask.Status.RUNNING, locked_until__lt=now)
    return Q(status__in=OPEN_STATUSES, next_attempt_at__lte=now) | stale_lease


def claim_task(*, task_id: int | None = None, exclude_ids: Iterable[int] = ()) -> ProvisioningTask | Busy | None:
    """Claim one due task (the oldest, or `task_id`): the task, now `running`; Busy; or None."""
    now = timezone.now()
    with transaction.atomic():
        candidates = ProvisioningTask.objects.filter(_due(now)).exclude(pk__in=list(exclude_ids))
        if task_id is not None:
            candidates = candidates.filter(pk=task_id)
        task = candidates.select_for_update(skip_locked=True).order_by("next_attempt_at", "pk").first()
        if task is None:
            return None
        # One task per user at a time, so an older state never overwrites a newer one.
        user_lock_row(user_id=task.user_id)
        running = ProvisioningTask.objects.filter(
            user_id=task.user_id, status=ProvisioningTask.Status.RUNNING, locked_until__gte=now
        ).exclude(pk=task.pk)
        if running.exists():
            return Busy(task_id=task.pk)
        claimed = (
            ProvisioningTask.objects.filter(pk=task.pk)
            .filter(_due(now))
            .update(
                status=ProvisioningTask.Status.RUNNING,
                locked_until=now + timedelta(seconds=settings.PROVISIONING_LEASE_SECONDS),
                attempts=F("attempts") + 1,
                updated_at=now,
            )
        )
        if not claimed:
            return None
        if task.kind == ProvisioningTask.Kind.SYNC:
            _coalesce_siblings(task, now=now)
        task.refresh_from_db()
        return task


def _coalesce_siblings(task: ProvisioningTask, *, now) -> None:
    # Their changes are committed (this claim saw them), so the state this task
    # reads after the claim includes them. Rows another worker holds are left alone.
    sibling_ids = list(
        ProvisioningTask.objects.select_for_update(skip_locked=True)
        .filter(user_id=task.user_id, kind=ProvisioningTask.Kind.SYNC, status__in=OPEN_STATUSES)
        .exclude(pk=task.pk)
        .values_list("pk", flat=True)
    )
    if sibling_ids:
        ProvisioningTask.objects.filter(pk__in=sibling_ids, status__in=OPEN_STATUSES).update(
            status=ProvisioningTask.Status.DONE, done_at=now, updated_at=now, note=f"coalesced into #{task.pk}"
        )


def execute_task(*, task: ProvisioningTask) -> bool:
    """Run a claimed task outside any transaction and record the outcome."""
    try:
        if task.kind == ProvisioningTask.Kind.LINK:
            _send_link(task)
        else:
            _sync(task)
    except Exception as exc:  # noqa: BLE001 - recorded on the task and retried
        _record_failure(task, exc)
        return False
    return True


def _sync(task: ProvisioningTask) -> None:
    subscription = Subscription.objects.select_related("user").filter(user_id=task.user_id).first()
    backend = get_backend()
    if subscription is None:
        _finish(task, note="no subscription")
        return
    if isinstance(backend, NoneBackend):
        _finish(task, note="PROVISIONING_BACKEND=none: the subscription lives in the database")
        return
    result = backend.sync(subscription_state(subscription=subscription))
    now = timezone.now()
    with transaction.atomic():
        user_lock_row(user_id=task.user_id)
        fields = {
            "panel_username": result.panel_username,
            "panel_api_version": result.panel_api_version,
            "updated_at": now,
        }
        if result.action in ("created", "updated", "disabled"):
            fields.update(
                panel_user_uuid=result.panel_user_uuid,
                panel_user_id=result.panel_user_id,
                panel_short_uuid=result.panel_short_uuid,
            )
        if result.subscription_url:
            fields["subscription_url"] = result.subscription_url
        Subscription.objects.filter(pk=subscription.pk).update(**fields)
        if result.action in ("created", "updated"):
            Subscription.objects.filter(pk=subscription.pk, provisioned_at__isnull=True).update(provisioned_at=now)
            _enqueue_link_once(task, subscription_pk=subscription.pk)
        _finish(task, note=f"panel: {result.action}")


def _enqueue_link_once(task: ProvisioningTask, *, subscription_pk: int) -> None:
    """Queue the "here is your link" message unless it was sent or is queued (caller holds the user lock)."""
    sent = Subscription.objects.filter(pk=subscription_pk, link_sent_at__isnull=False).exists()
    queued = ProvisioningTask.objects.filter(
        user_id=task.user_id,
        kind=ProvisioningTask.Kind.LINK,
        status__in=(*OPEN_STATUSES, ProvisioningTask.Status.RUNNING),
    ).exists()
    if sent or queued:
        return
    link = ProvisioningTask.objects.create(user_id=task.user_id, reason=task.reason, kind=ProvisioningTask.Kind.LINK)
    transaction.on_commit(lambda: run_task_after_commit(link.pk))


def _send_link(task: ProvisioningTask) -> None:
    from telegram_bot import bot_api

    subscription = Subscription.objects.select_related("user").filter(user_id=task.user_id).first()
    if subscription is None or not subscription.subscription_url:
        _finish(task, note="no subscription link")
        return
    if subscription.link_sent_at:
        _finish(task, note="link already sent")
        return
    user = subscription.user
    if not user.telegram_id:
        _finish(task, note="user has no Telegram id")
        return
    if not bot_api.telegram_configured():
        _finish(task, note="Telegram is not configured: link not sent")
        return
    bot_api.send_message(
        chat_id=user.telegram_id, text=subscription_link_text(user=user, url=subscription.subscription_url)
    )
    now = timezone.now()
    with transaction.atomic():
        Subscription.objects.filter(pk=subscription.pk, link_sent_at__isnull=True).update(link_sent_at=now)
        _finish(task, note="link sent")


def subscription_link_text(*, user: User, url: str) -> str:
    with translation.override(user.language):
        return gettext("Your VPN subscription is ready.\n\nAdd this link to your VPN app:\n%(url)s") % {"url": url}


def _finish(task: ProvisioningTask, *, note: str) -> None:
    now = timezone.now()
    ProvisioningTask.objects.filter(pk=task.pk, status=ProvisioningTask.Status.RUNNING).update(
        status=ProvisioningTask.Status.DONE,
        done_at=now,
        locked_until=None,
        last_error="",
        note=note[:255],
        updated_at=now,
    )


def backoff_delay(*, attempts: int) -> timedelta:
    seconds = settings.PROVISIONING_BACKOFF_SECONDS * (2 ** max(attempts - 1, 0))
    return timedelta(seconds=min(seconds, settings.PROVISIONING_BACKOFF_MAX_SECONDS))


def _record_failure(task: ProvisioningTask, exc: Exception) -> None:
    now = timezone.now()
    error = f"{type(exc).__name__}: {exc}"[:2000]
    gave_up = task.attempts >= settings.PROVISIONING_MAX_ATTEMPTS
    update = {"locked_until": None, "last_error": error, "updated_at": now}
    if gave_up:
        update["status"] = ProvisioningTask.Status.FAILED
        logger.error("provisioning task %s failed for good after %s attempts: %s", task.pk, task.attempts, error)
    else:
        update["status"] = ProvisioningTask.Status.RETRYING
        update["next_attempt_at"] = now + backoff_delay(attempts=task.attempts)
        logger.warning("provisioning task %s attempt %s failed: %s", task.pk, task.attempts, error)
    ProvisioningTask.objects.filter(pk=task.pk, status=ProvisioningTask.Status.RUNNING).update(**update)


# --- Admin services ----------------------------------------------------------------
def task_retry_now(*, task_id: int) -> bool:
    """A failed or retrying task becomes due now (a failed one gets a fresh attempt budget).
    False when the task is not failed/retrying. Runs right after commit."""
    now = timezone.now()
    with transaction.atomic():
        changed = ProvisioningTask.objects.filter(pk=task_id, status=ProvisioningTask.Status.FAILED).update(
            status=ProvisioningTask.Status.PENDING, attempts=0, next_attempt_at=now, updated_at=now
        )
        changed += ProvisioningTask.objects.filter(pk=task_id, status=ProvisioningTask.Status.RETRYING).update(
            status=ProvisioningTask.Status.PENDING, next_attempt_at=now, updated_at=now
        )
        if changed:
            transaction.on_commit(lambda: run_task_after_commit(task_id))
    return bool(changed)


def provisioning_retry_for_user(*, user: User) -> ProvisioningTask:
    """Queue a fresh sync of the user's subscription to the panel (admin action)."""
    with transaction.atomic():
        return provisioning_enqueue(user=user, reason=ProvisioningTask.Reason.ADMIN)
