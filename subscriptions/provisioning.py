"""The provisioning worker: runs the outbox rows written by the subscription services.

A background task (subscriptions/tasks.py) runs one row right after the
commit that wrote it; the sweeper hands due rows (retries, rows whose worker
died) to the workers again. A task is claimed in a short transaction (row
lock with SKIP LOCKED on PostgreSQL; a conditional UPDATE to `running` with a lease everywhere, which
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
from django.utils import timezone

from core.background import enqueue, process_is_dead, process_label
from core.backoff import backoff_delay as exponential_delay
from core.logs import log_context
from core.metrics import PROVISIONING_RUNS
from integrations.remnawave import PanelConfigError
from integrations.telegram import telegram_configured
from notifications import messages
from notifications.delivery import notify
from subscriptions.backends import NoneBackend, get_backend, subscription_state
from subscriptions.models import COALESCED_NOTE_PREFIX, PANEL_NOTE_PREFIX, ProvisioningTask, Subscription
from subscriptions.panel_health import (
    config_wait_until,
    defer_syncs_for_configuration,
    is_configuration_error,
    panel_problem_report,
)
from subscriptions.selectors import client_apps
from subscriptions.services import RUN_PROVISIONING_TASK, provisioning_enqueue
from users.models import User
from users.services import user_lock_row

logger = logging.getLogger(__name__)

OPEN_STATUSES = (ProvisioningTask.Status.PENDING, ProvisioningTask.Status.RETRYING)


@dataclass(frozen=True)
class Busy:
    """claim_task's answer when another task of the same user is running (this one stays due)."""

    task_id: int


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
                locked_by=process_label(),
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
            status=ProvisioningTask.Status.DONE, done_at=now, updated_at=now, note=f"{COALESCED_NOTE_PREFIX}{task.pk}"
        )


def execute_task(*, task: ProvisioningTask) -> bool:
    """Run a claimed task outside any transaction and record the outcome."""
    with log_context(task_id=task.pk, purchase_id=task.purchase_id):
        try:
            if task.kind == ProvisioningTask.Kind.LINK:
                _send_link(task)
            elif task.kind == ProvisioningTask.Kind.BONUS:
                _send_bonus(task)
            else:
                _sync(task)
        except Exception as exc:  # noqa: BLE001 - recorded on the task and retried
            _record_failure(task, exc)
            PROVISIONING_RUNS.labels(kind=task.kind, result="failed").inc()
            return False
    PROVISIONING_RUNS.labels(kind=task.kind, result="done").inc()
    return True


def _sync(task: ProvisioningTask) -> None:
    subscription = Subscription.objects.select_related("user").filter(user_id=task.user_id).first()
    backend = get_backend()
    if subscription is None:
        _finish(task, note="no subscription")
        return
    if isinstance(backend, NoneBackend):
        with transaction.atomic():
            # No panel, so no link: nothing will be sent for the purchases waiting for one.
            Subscription.objects.filter(pk=subscription.pk).exclude(link_state="").update(link_state="")
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
            _queue_link_if_due(task, subscription_pk=subscription.pk)
        _finish(task, note=f"{PANEL_NOTE_PREFIX}{result.action}")


def _queue_link_if_due(task: ProvisioningTask, *, subscription_pk: int) -> None:
    """A purchase still waits for its link message: queue it, unless it is queued (caller holds the user lock)."""
    due = Subscription.objects.filter(pk=subscription_pk, link_state=Subscription.LinkState.DUE).exists()
    queued = ProvisioningTask.objects.filter(
        user_id=task.user_id,
        kind=ProvisioningTask.Kind.LINK,
        status__in=(*OPEN_STATUSES, ProvisioningTask.Status.RUNNING),
    ).exists()
    if due and not queued:
        provisioning_enqueue(
            user=task.user_id, reason=task.reason, purchase_id=task.purchase_id, kind=ProvisioningTask.Kind.LINK
        )


LINK_CLAIMABLE = (Subscription.LinkState.DUE, Subscription.LinkState.SENDING)


def _send_link(task: ProvisioningTask) -> None:
    """Send the purchase's link message unless the payment confirmation carried it.

    `due` → `sending` before the send, `sent` after it: a confirmation can no
    longer take it meanwhile, and a run that died mid-send (its row is run
    again) finds `sending` and sends again rather than never."""
    subscription = Subscription.objects.select_related("user").filter(user_id=task.user_id).first()
    if subscription is None or not subscription.subscription_url:
        _finish(task, note="no subscription link")
        return
    user = subscription.user
    if not user.telegram_id:
        _finish(task, note="user has no Telegram id")
        return
    if not telegram_configured():
        _finish(task, note="Telegram is not configured: link not sent")
        return
    claimed = Subscription.objects.filter(pk=subscription.pk, link_state__in=LINK_CLAIMABLE).update(
        link_state=Subscription.LinkState.SENDING
    )
    if not claimed:
        _finish(task, note="link already delivered")
        return
    try:
        notify(
            chat_id=user.telegram_id,
            notice=messages.link_ready(
                language=user.language,
                url=subscription.subscription_url,
                apps=client_apps(),
                expires_at=subscription.expires_at,
            ),
        )
    except Exception:
        Subscription.objects.filter(pk=subscription.pk, link_state=Subscription.LinkState.SENDING).update(
            link_state=Subscription.LinkState.DUE
        )
        raise
    with transaction.atomic():
        Subscription.objects.filter(pk=subscription.pk, link_state=Subscription.LinkState.SENDING).update(
            link_state=Subscription.LinkState.SENT, link_sent_at=timezone.now()
        )
        _finish(task, note="link sent")


def _send_bonus(task: ProvisioningTask) -> None:
    """Tell the user about bonus days they were given (a referral). A run that
    died after the send sends it again: a repeated note beats a lost one."""
    subscription = Subscription.objects.select_related("user").filter(user_id=task.user_id).first()
    user = subscription.user if subscription is not None else None
    if user is None or not user.telegram_id:
        _finish(task, note="no Telegram user to tell")
        return
    if not telegram_configured():
        _finish(task, note="Telegram is not configured: bonus note not sent")
        return
    notice = messages.referral_bonus(language=user.language, days=task.days, expires_at=subscription.expires_at)
    notify(chat_id=user.telegram_id, notice=notice)
    _finish(task, note="bonus note sent")


def _finish(task: ProvisioningTask, *, note: str) -> None:
    now = timezone.now()
    ProvisioningTask.objects.filter(pk=task.pk, status=ProvisioningTask.Status.RUNNING).update(
        status=ProvisioningTask.Status.DONE,
        done_at=now,
        locked_until=None,
        locked_by="",
        last_error="",
        note=note[:255],
        updated_at=now,
    )


def backoff_delay(*, attempts: int) -> timedelta:
    return exponential_delay(
        attempt=attempts, base=settings.PROVISIONING_BACKOFF_SECONDS, cap=settings.PROVISIONING_BACKOFF_MAX_SECONDS
    )


def _record_failure(task: ProvisioningTask, exc: Exception) -> None:
    if is_configuration_error(exc):
        _wait_for_configuration(task, exc)
        return
    now = timezone.now()
    error = f"{type(exc).__name__}: {exc}"[:2000]
    gave_up = task.attempts >= settings.PROVISIONING_MAX_ATTEMPTS
    update = {"locked_until": None, "locked_by": "", "enqueued_at": None, "last_error": error, "updated_at": now}
    if gave_up:
        update["status"] = ProvisioningTask.Status.FAILED
        logger.error("provisioning task %s failed for good after %s attempts: %s", task.pk, task.attempts, error)
    else:
        update["status"] = ProvisioningTask.Status.RETRYING
        update["next_attempt_at"] = now + backoff_delay(attempts=task.attempts)
        logger.warning("provisioning task %s attempt %s failed: %s", task.pk, task.attempts, error)
    ProvisioningTask.objects.filter(pk=task.pk, status=ProvisioningTask.Status.RUNNING).update(**update)


def _wait_for_configuration(task: ProvisioningTask, exc: PanelConfigError) -> None:
    """The panel refuses the shop's configuration: one report per cause, and this row (with
    every other due sync) waits for the owner instead of spending its attempts."""
    now = timezone.now()
    until = config_wait_until(now=now)
    with transaction.atomic():
        panel_problem_report(cause=exc.cause, message=exc.message or str(exc))
        ProvisioningTask.objects.filter(pk=task.pk, status=ProvisioningTask.Status.RUNNING).update(
            status=ProvisioningTask.Status.RETRYING,
            attempts=F("attempts") - 1,
            next_attempt_at=until,
            locked_until=None,
            locked_by="",
            enqueued_at=None,
            last_error=f"{type(exc).__name__}: {exc}"[:2000],
            updated_at=now,
        )
        defer_syncs_for_configuration(until=until)


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
            transaction.on_commit(lambda: enqueue(RUN_PROVISIONING_TASK, task_id))
    return bool(changed)


def provisioning_retry_for_user(*, user: User) -> ProvisioningTask:
    """Queue a fresh sync of the user's subscription to the panel (admin action)."""
    with transaction.atomic():
        return provisioning_enqueue(user=user, reason=ProvisioningTask.Reason.ADMIN)


# --- The sweeper ---------------------------------------------------------------------

# A row handed to the queue is not handed over again for PROVISIONING_REQUEUE_SECONDS
# (it is probably still waiting in the queue, or the hand-over failed with the broker
# down); after that, a row that is still due is handed over again.
SWEEP_BATCH = 500


def release_dead_claims() -> int:
    """Rows claimed by a process of this host that no longer runs (a worker
    killed mid-task) become due at once instead of when their lease runs out."""
    now = timezone.now()
    running = ProvisioningTask.objects.filter(status=ProvisioningTask.Status.RUNNING, locked_until__gte=now).exclude(
        locked_by=""
    )
    released = 0
    for pk, holder in running.values_list("pk", "locked_by")[:SWEEP_BATCH]:
        if process_is_dead(holder):
            released += ProvisioningTask.objects.filter(
                pk=pk, status=ProvisioningTask.Status.RUNNING, locked_by=holder
            ).update(locked_until=now - timedelta(seconds=1), enqueued_at=None)
            logger.warning("provisioning task %s was held by %s, which died; running it again", pk, holder)
    return released


def sweep_due(*, now=None) -> list[int]:
    """Hand every due row to the workers (retries whose backoff passed, rows
    never handed over, rows whose worker died). Returns the ids handed over."""
    release_dead_claims()
    now = now or timezone.now()
    requeue_after = timedelta(seconds=settings.PROVISIONING_REQUEUE_SECONDS)
    fresh = Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=now - requeue_after)
    ids = list(
        ProvisioningTask.objects.filter(_due(now))
        .filter(fresh)
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    if ids:
        ProvisioningTask.objects.filter(pk__in=ids).update(enqueued_at=now)
        for task_id in ids:
            enqueue(RUN_PROVISIONING_TASK, task_id)
    return ids
