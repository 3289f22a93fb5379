"""Alerts to the owner's chat (OWNER_CHAT_ID): recorded by the services, grouped and sent by the worker.

`owner_alert` writes a row in the caller's transaction and hands the sending to the worker
after the commit; `owner_condition` turns a state the worker watches (the outbox is stuck, the
bot is silent) into one alert when it starts and one when it ends. `owner_alerts_deliver` (the
worker's task, also periodic) makes at most one message per kind per OWNER_ALERT_GROUP_SECONDS
out of the alerts waiting, and sends the due messages. A chat that refuses them (the bot was
removed, a wrong id, flood control) fails those messages and nothing else.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from core.background import enqueue_on_commit
from core.backoff import backoff_delay
from integrations.telegram import (
    TelegramError,
    TelegramNotConfigured,
    TelegramRateLimited,
    TelegramRejected,
    client,
)
from notifications.models import OwnerAlert, OwnerAlertGate, OwnerCondition, OwnerMessage
from notifications.owner_texts import render_message

logger = logging.getLogger(__name__)

SEND_TASK = "notifications.send_owner_alerts"
MAX_ATTEMPTS = 6  # a chat that is down (5xx, timeouts) this many times in a row: the message is given up
LEASE = timedelta(minutes=2)  # a worker that died while sending: the message is due again after this
SEND_BATCH = 20
RETENTION = timedelta(days=30)  # sent and failed messages (and their alerts) are deleted after this
TEXT_LIMIT = 4000  # Telegram takes 4096 characters


def owner_alerts_enabled() -> bool:
    return settings.OWNER_CHAT_ID is not None


def owner_alert(*, kind: str, event: str, details: dict[str, Any] | None = None, key: str | None = None) -> bool:
    """Record an alert for the owner in the current transaction; the worker sends it after the
    commit. With `key`, only the first alert of that key is kept. Never raises: the change the
    alert reports (a purchase, a refund) must not fail because of it. True when recorded."""
    if not owner_alerts_enabled():
        return False
    try:
        with transaction.atomic():
            OwnerAlert.objects.create(kind=kind, event=event, details=details or {}, key=key)
    except IntegrityError:
        return False  # this key was recorded before
    except DatabaseError:
        logger.exception("could not record an owner alert (%s %s)", kind, event)
        return False
    enqueue_on_commit(SEND_TASK)
    return True


def owner_condition(*, name: str, active: bool, now: datetime | None = None) -> bool:
    """Record whether a watched condition holds; True when it changed (started or ended), which
    happens for one caller only. A condition never seen before counts as not holding."""
    now = now or timezone.now()
    if OwnerCondition.objects.filter(name=name).exclude(active=active).update(active=active, changed_at=now):
        return True
    if not active:
        OwnerCondition.objects.get_or_create(name=name, defaults={"active": False, "changed_at": now})
        return False
    try:
        with transaction.atomic():
            OwnerCondition.objects.create(name=name, active=True, changed_at=now)
    except IntegrityError:
        return False  # it exists and holds already (or another worker just recorded it)
    return True


# --- The worker -------------------------------------------------------------------------------


def owner_alerts_deliver(*, now: datetime | None = None) -> int:
    """Group the waiting alerts into messages (one per kind per window) and send the due
    messages; returns how many were sent. Never raises for Telegram's reasons."""
    now = now or timezone.now()
    waiting = set(OwnerAlert.objects.filter(message__isnull=True).values_list("kind", flat=True).distinct())
    for kind in sorted(waiting):
        _compose(kind, now=now)
    sent = _send_due(now=now)
    _purge(now=now)
    return sent


def _compose(kind: str, *, now: datetime) -> OwnerMessage | None:
    """One message of the alerts of `kind` waiting, if this kind's window is open (one worker
    gets through the gate per window; the others leave the alerts for the next one)."""
    window = timedelta(seconds=settings.OWNER_ALERT_GROUP_SECONDS)
    OwnerAlertGate.objects.bulk_create([OwnerAlertGate(kind=kind, opens_at=now)], ignore_conflicts=True)
    with transaction.atomic():
        if not OwnerAlertGate.objects.filter(kind=kind, opens_at__lte=now).update(opens_at=now + window):
            return None
        message = OwnerMessage.objects.create(kind=kind, created_at=now, next_attempt_at=now)
        claimed = OwnerAlert.objects.filter(kind=kind, message__isnull=True, created_at__lte=now).update(
            message=message
        )
        if not claimed:  # another worker took them between our look and the gate
            message.delete()
            OwnerAlertGate.objects.filter(kind=kind).update(opens_at=now)
            return None
        alerts = list(message.alerts.order_by("created_at", "pk").values("event", "details", "created_at"))
        message.text = render_message(kind=kind, alerts=alerts, now=now)[:TEXT_LIMIT]
        message.save(update_fields=["text"])
    return message


def _send_due(*, now: datetime) -> int:
    due = list(
        OwnerMessage.objects.filter(status=OwnerMessage.Status.PENDING, next_attempt_at__lte=now)
        .order_by("created_at", "pk")
        .values_list("pk", flat=True)[:SEND_BATCH]
    )
    sent = 0
    for pk in due:
        taken = OwnerMessage.objects.filter(pk=pk, status=OwnerMessage.Status.PENDING, next_attempt_at__lte=now).update(
            next_attempt_at=now + LEASE, attempts=F("attempts") + 1
        )
        if taken:
            sent += _send_one(OwnerMessage.objects.get(pk=pk), now=now)
    return sent


def thread_for(kind: str) -> int | None:
    """The forum topic of a kind: OWNER_THREAD_IDS names some, OWNER_THREAD_ID the rest."""
    return settings.OWNER_THREAD_IDS.get(kind, settings.OWNER_THREAD_ID)


def _send_one(message: OwnerMessage, *, now: datetime) -> int:
    chat_id = settings.OWNER_CHAT_ID
    rows = OwnerMessage.objects.filter(pk=message.pk)
    if chat_id is None:
        rows.update(status=OwnerMessage.Status.FAILED, error="OWNER_CHAT_ID is not set")
        return 0
    try:
        message_id = client().send_message(
            chat_id=chat_id, text=message.text, message_thread_id=thread_for(message.kind)
        )
    except (TelegramRejected, TelegramNotConfigured) as exc:
        # Blocked, removed from the group, a wrong chat or topic: trying again will not help.
        logger.error("the owner's chat refused an alert (%s): %s", message.kind, exc.description)
        rows.update(status=OwnerMessage.Status.FAILED, error=exc.description[:500])
        return 0
    except (TelegramError, OSError) as exc:
        description = getattr(exc, "description", str(exc))
        if message.attempts >= MAX_ATTEMPTS:
            logger.error("an alert to the owner's chat failed %s times, given up: %s", message.attempts, description)
            rows.update(status=OwnerMessage.Status.FAILED, error=description[:500])
            return 0
        wait = exc.retry_after if isinstance(exc, TelegramRateLimited) else 0.0
        delay = backoff_delay(attempt=message.attempts, base=30.0, cap=3600.0, at_least=wait)
        logger.warning("an alert to the owner's chat failed (%s); retrying in %s", description, delay)
        rows.update(next_attempt_at=now + delay, error=description[:500])
        return 0
    rows.update(status=OwnerMessage.Status.SENT, sent_at=timezone.now(), telegram_message_id=message_id, error="")
    return 1


def _purge(*, now: datetime) -> None:
    # Their alerts go with them (a day's summary key is never recorded again: only yesterday's is).
    OwnerMessage.objects.filter(created_at__lt=now - RETENTION).exclude(status=OwnerMessage.Status.PENDING).delete()
