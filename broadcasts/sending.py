"""Sending a broadcast: the worker's side (run by the tasks in broadcasts/tasks.py).

One run at a time per broadcast. A run takes the broadcast's lease (a conditional UPDATE naming
this run's token and process), renews it before every batch and gives it back at the end. Another
worker may take over when the lease has run out, or at once when the holder is a dead process of
this host (a worker killed and restarted). A run works for BROADCAST_SLICE_SECONDS, then hands the
broadcast to the queue again: tasks stay short, other work gets its turn, and a worker that shuts
down stops after the batch in hand. The periodic sweep hands over every broadcast still sending
that nobody runs (the hand-over was lost, the worker died).

The first run fixes the recipients: one Delivery row per user of the segment, all in one
transaction (unique per broadcast and user), so a crash leaves all of them or none. Then, batch by
batch (BROADCAST_BATCH_SIZE rows), a row is claimed (pending → sending, with the run's token, in a
committed transaction) before its message is handed to Telegram, and marked sent, failed or
blocked after Telegram answered. The batch's messages go out at once from a few threads through
the process's one Telegram client, which keeps Telegram's limits (30 messages a second overall)
and waits out 429s by itself.

The crash window, and the choice made. A worker can die after Telegram accepted a message and
before its row was marked sent: the row stays `sending`. Telegram offers no way to ask whether a
message reached a chat, so what happened to that row cannot be learnt. We choose at-most-once: a
run that takes over marks such rows failed ("interrupted") and never sends them again. For a
marketing message a duplicate is worse than a miss (it reads as spam and makes people block the
bot), and the window holds at most one batch per crash. A send that timed out (TelegramTimedOut)
is the same uncertainty and is treated the same way. Only answers that prove Telegram did not take
the message put the row back to pending, to be sent later (at most MAX_ATTEMPTS claims): a 429
still there after the client's own retries (the run then pauses for its retry_after), a 5xx or a
refused connection.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from broadcasts.models import Broadcast, BroadcastImage, Delivery
from broadcasts.selectors import broadcast_recipients
from broadcasts.services import RUN_BROADCAST
from core.background import enqueue, process_is_dead, process_label
from core.backoff import backoff_seconds
from core.logs import log_context
from core.metrics import BROADCAST_MESSAGES
from integrations.telegram import (
    TelegramBlocked,
    TelegramError,
    TelegramRateLimited,
    TelegramRejected,
    TelegramTimedOut,
    TelegramUnavailable,
    client,
    telegram_configured,
)
from notifications import messages
from notifications.messages import Notice
from notifications.models import AlertKind
from notifications.owner import owner_alert, owner_alerts_enabled
from users.models import User
from users.services import users_mark_bot_blocked

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5  # claims of one row whose sends Telegram provably did not take (429, 5xx)
# A broadcast whose first messages Telegram all refuses (a picture it cannot read, a text it will
# not parse) would fail every recipient: after this many refusals in a row and none sent, it stops.
REFUSALS_BEFORE_STOP = 5
UPLOAD_TRIES_PER_BATCH = 3
# The longest wait between batches (a 429's retry_after); well inside the lease, renewed after it.
MAX_PAUSE = 60.0
# What the worker records on rows and broadcasts, in English like its logs; the admin shows these
# translated (broadcasts/admin.py, readable()).
INTERRUPTED = "interrupted: the worker stopped while Telegram was being asked; not sent again, so nobody gets it twice"
UNCERTAIN = "no answer in time (Telegram may have delivered it); not sent again, so nobody gets it twice: "
SKIPPED_BLOCKED = "skipped: the user blocked the bot meanwhile"
GAVE_UP = "gave up after {attempts} attempts: "
NOT_CONFIGURED = "Telegram is not configured (TELEGRAM_BOT_TOKEN) in the worker"
REFUSED = "Telegram refused the message: "

# Set when the worker process is shutting down: runs stop after the batch in hand.
_stopping = threading.Event()


def request_stop() -> None:
    _stopping.set()


@dataclass
class SliceResult:
    taken: bool  # False: another run holds the broadcast (or it is not sending)
    sent: int = 0
    failed: int = 0
    blocked: int = 0
    returned: int = 0  # claimed, not taken by Telegram, back to pending
    finished: bool = False
    handed_over: bool = False


# --- One slice of work ---------------------------------------------------------------------


def run_slice(*, broadcast_id: int, seconds: float | None = None) -> SliceResult:
    """Send a broadcast for up to `seconds` (BROADCAST_SLICE_SECONDS), then hand it over again."""
    token = uuid.uuid4().hex
    if not _take_lease(broadcast_id, token):
        return SliceResult(taken=False)
    result = SliceResult(taken=True)
    more = False
    with log_context(broadcast_id=broadcast_id):
        try:
            more = _work(broadcast_id, token, result, seconds or settings.BROADCAST_SLICE_SECONDS)
        finally:
            _release_lease(broadcast_id, token)
        if more:
            hand_over(broadcast_id)
            result.handed_over = True
        logger.info(
            "broadcast %s: %s sent, %s failed, %s blocked, %s back to the queue%s",
            broadcast_id,
            result.sent,
            result.failed,
            result.blocked,
            result.returned,
            " (finished)" if result.finished else "",
        )
    return result


def _work(broadcast_id: int, token: str, result: SliceResult, seconds: float) -> bool:
    """The slice's batches; True when work is left for the next slice."""
    if not _prepare(broadcast_id):
        return False
    _fail_interrupted(broadcast_id, token)
    broadcast = Broadcast.objects.get(pk=broadcast_id)
    if not telegram_configured():
        _stop(broadcast_id, reason=NOT_CONFIGURED)
        return False
    message = BroadcastMessage(broadcast)
    deadline = time.monotonic() + seconds
    refusals = 0
    batch_size = max(settings.BROADCAST_BATCH_SIZE, 1)
    with ThreadPoolExecutor(max_workers=batch_size, thread_name_prefix=f"broadcast-{broadcast_id}") as pool:
        while True:
            if not _renew_lease(broadcast_id, token):
                _cancel_leftovers(broadcast_id)
                return False
            batch = _claim_batch(broadcast_id, token, size=batch_size)
            if not batch:
                result.finished = _finish_if_done(broadcast_id)
                return False
            outcome = _send_batch(message, batch, pool)
            _record(outcome, result)
            refusals = 0 if outcome.sent else refusals + outcome.refused
            if refusals >= REFUSALS_BEFORE_STOP and not _anything_sent(broadcast_id):
                _stop(broadcast_id, reason=REFUSED + outcome.last_refusal)
                return False
            if outcome.pause:  # the returned rows are pending again (a cancel reaches them meanwhile)
                time.sleep(min(outcome.pause, MAX_PAUSE))
            if time.monotonic() >= deadline or _stopping.is_set():
                return True


def hand_over(broadcast_id: int) -> None:
    Broadcast.objects.filter(pk=broadcast_id).update(handed_over_at=timezone.now())
    enqueue(RUN_BROADCAST, broadcast_id)


# --- The lease -----------------------------------------------------------------------------


def _lease_until():
    return timezone.now() + timedelta(seconds=settings.BROADCAST_LEASE_SECONDS)


def _take_lease(broadcast_id: int, token: str) -> bool:
    now = timezone.now()
    mine = {"runner": process_label(), "runner_token": token, "runner_until": _lease_until()}
    sending = Broadcast.objects.filter(pk=broadcast_id, status=Broadcast.Status.SENDING)
    if sending.filter(Q(runner_until__isnull=True) | Q(runner_until__lt=now)).update(**mine):
        return True
    holder = sending.values_list("runner", "runner_token").first()
    if holder and holder[0] and process_is_dead(holder[0]):
        logger.warning("broadcast %s was run by %s, which died; taking it over", broadcast_id, holder[0])
        return bool(sending.filter(runner_token=holder[1]).update(**mine))
    return False


def _renew_lease(broadcast_id: int, token: str) -> bool:
    """False when the broadcast was cancelled or another run took it over: stop."""
    return bool(
        Broadcast.objects.filter(pk=broadcast_id, runner_token=token, status=Broadcast.Status.SENDING).update(
            runner_until=_lease_until()
        )
    )


def _release_lease(broadcast_id: int, token: str) -> None:
    Broadcast.objects.filter(pk=broadcast_id, runner_token=token).update(runner="", runner_token="", runner_until=None)


# --- Recipients ----------------------------------------------------------------------------


def _prepare(broadcast_id: int) -> bool:
    """Fix the recipients once (one Delivery row each, in one transaction). False when the
    broadcast is no longer sending."""
    with transaction.atomic():
        broadcast = Broadcast.objects.select_for_update().get(pk=broadcast_id)
        if broadcast.status != Broadcast.Status.SENDING:
            return False
        if broadcast.prepared_at is not None:
            return True
        now = timezone.now()
        total = _insert_deliveries(broadcast_id, broadcast_recipients(broadcast, now=now))
        fields = {"total": total, "prepared_at": now}
        if not total:
            fields.update(status=Broadcast.Status.DONE, finished_at=now)
        Broadcast.objects.filter(pk=broadcast_id).update(**fields)
        if not total:
            _tell_owner_finished(broadcast_id)
        logger.info("broadcast %s: %s recipients", broadcast_id, total)
        return bool(total)


def _insert_deliveries(broadcast_id: int, recipients: QuerySet[User]) -> int:
    """One pending Delivery per recipient, in one INSERT ... SELECT: the segment's query runs
    inside the database, so a hundred thousand rows take a second instead of a round trip per
    thousand (the transaction that fixes them holds the broadcast's row, which a cancel waits for)."""
    select, params = recipients.order_by().values(recipient_id=F("pk")).query.sql_with_params()
    table = connection.ops.quote_name(Delivery._meta.db_table)
    # Every NOT NULL column without a database default; the values are the model's defaults.
    sql = (
        f"INSERT INTO {table} (broadcast_id, user_id, status, attempts, claim_token, error) "  # noqa: S608 - our names
        f"SELECT %s, recipient.recipient_id, %s, 0, '', '' FROM ({select}) recipient ORDER BY recipient.recipient_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [broadcast_id, Delivery.Status.PENDING, *params])
        return cursor.rowcount


def _fail_interrupted(broadcast_id: int, token: str) -> int:
    """Rows a dead (or expired) run claimed and never settled: at most once, so failed, never resent."""
    failed = (
        Delivery.objects.filter(broadcast_id=broadcast_id, status=Delivery.Status.SENDING)
        .exclude(claim_token=token)
        .update(status=Delivery.Status.FAILED, done_at=timezone.now(), error=INTERRUPTED)
    )
    if failed:
        logger.warning("broadcast %s: %s message(s) interrupted by a stopped worker, not resent", broadcast_id, failed)
        BROADCAST_MESSAGES.labels(result="interrupted").inc(failed)
    return failed


def _claim_batch(broadcast_id: int, token: str, *, size: int) -> list[Delivery]:
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            Delivery.objects.filter(broadcast_id=broadcast_id, status=Delivery.Status.PENDING)
            .order_by("pk")
            .select_for_update(skip_locked=True)
            .values_list("pk", flat=True)[:size]
        )
        if not ids:
            return []
        Delivery.objects.filter(pk__in=ids, status=Delivery.Status.PENDING).update(
            status=Delivery.Status.SENDING, claim_token=token, claimed_at=now, attempts=F("attempts") + 1
        )
    return list(
        Delivery.objects.filter(pk__in=ids, status=Delivery.Status.SENDING, claim_token=token)
        .select_related("user")
        .order_by("pk")
    )


def _finish_if_done(broadcast_id: int) -> bool:
    open_rows = Delivery.objects.filter(
        broadcast_id=broadcast_id, status__in=(Delivery.Status.PENDING, Delivery.Status.SENDING)
    )
    if open_rows.exists():
        return False
    with transaction.atomic():
        finished = Broadcast.objects.filter(pk=broadcast_id, status=Broadcast.Status.SENDING).update(
            status=Broadcast.Status.DONE, finished_at=timezone.now()
        )
        if finished:
            _tell_owner_finished(broadcast_id)
    return bool(finished)


def _tell_owner_finished(broadcast_id: int) -> None:
    """The owner's chat hears that a broadcast finished, with how many it reached (once: only
    the run whose conditional UPDATE finished it gets here)."""
    if not owner_alerts_enabled():
        return
    counts = dict(
        Delivery.objects.filter(broadcast_id=broadcast_id).order_by().values_list("status").annotate(count=Count("pk"))
    )
    name = Broadcast.objects.filter(pk=broadcast_id).values_list("name", flat=True).first() or ""
    details = {
        "name": name,
        "total": sum(counts.values()),
        "sent": counts.get(Delivery.Status.SENT, 0),
        "failed": sum(counts.values()) - counts.get(Delivery.Status.SENT, 0),
        "path": reverse("admin:broadcasts_broadcast_change", args=[broadcast_id]),
    }
    owner_alert(kind=AlertKind.BROADCAST, event="done", details=details, key=f"broadcast:{broadcast_id}")


def _cancel_leftovers(broadcast_id: int) -> None:
    """A cancelled broadcast's rows that went back to pending after the cancel are not sent either."""
    if Broadcast.objects.filter(pk=broadcast_id, status=Broadcast.Status.CANCELLED).exists():
        Delivery.objects.filter(broadcast_id=broadcast_id, status=Delivery.Status.PENDING).update(
            status=Delivery.Status.CANCELLED, done_at=timezone.now()
        )


def _stop(broadcast_id: int, *, reason: str) -> None:
    now = timezone.now()
    logger.error("broadcast %s stopped: %s", broadcast_id, reason)
    with transaction.atomic():
        Broadcast.objects.filter(pk=broadcast_id, status=Broadcast.Status.SENDING).update(
            status=Broadcast.Status.CANCELLED, cancelled_at=now, stop_reason=reason[:500]
        )
        Delivery.objects.filter(broadcast_id=broadcast_id, status=Delivery.Status.PENDING).update(
            status=Delivery.Status.CANCELLED, done_at=now
        )


def _anything_sent(broadcast_id: int) -> bool:
    return Delivery.objects.filter(broadcast_id=broadcast_id, status=Delivery.Status.SENT).exists()


# --- The message -------------------------------------------------------------------------------


class BroadcastMessage:
    """The broadcast as each recipient gets it: the admin's text, the button in their language,
    the picture (uploaded once; then sent by the file id Telegram gave it)."""

    def __init__(self, broadcast: Broadcast) -> None:
        self.broadcast = broadcast
        self._notices: dict[str, Notice] = {}
        self._file_id = broadcast.photo_file_id
        self._lock = threading.Lock()

    @property
    def has_picture(self) -> bool:
        return bool(self.broadcast.image_name)

    @property
    def needs_upload(self) -> bool:
        return self.has_picture and not self._file_id

    def notice(self, language: str) -> Notice:
        with self._lock:
            if language not in self._notices:
                b = self.broadcast
                self._notices[language] = messages.broadcast(
                    language=language, text=b.text, button=b.button, button_url=b.button_url, button_text=b.button_text
                )
            return self._notices[language]

    def send(self, *, chat_id: int, language: str) -> int:
        """Send it to one chat; returns Telegram's message id. Raises the integration's errors."""
        notice = self.notice(language)
        if not self.has_picture:
            return client().send_message(chat_id=chat_id, text=notice.text, buttons=notice.buttons)
        photo: bytes | str = self._file_id
        if not photo:
            photo = bytes(
                BroadcastImage.objects.filter(broadcast_id=self.broadcast.pk).values_list("data", flat=True).get()
            )
        sent = client().send_photo(
            chat_id=chat_id,
            photo=photo,
            caption=notice.text,
            buttons=notice.buttons,
            filename=self.broadcast.image_name,
        )
        if not self._file_id:
            self._file_id = sent.file_id
            # Kept once the broadcast is started (its picture can no longer change); a draft's test
            # does not keep it, so a picture replaced while the test is under way is never mixed up.
            Broadcast.objects.filter(pk=self.broadcast.pk, photo_file_id="").exclude(
                status=Broadcast.Status.DRAFT
            ).update(photo_file_id=sent.file_id)
        return sent.message_id


# --- A batch -----------------------------------------------------------------------------------


@dataclass
class BatchOutcome:
    done: list[Delivery] = field(default_factory=list)  # settled: sent, failed or blocked
    returned: list[Delivery] = field(default_factory=list)  # back to pending
    blocked_user_ids: list[int] = field(default_factory=list)
    sent: int = 0
    refused: int = 0
    last_refusal: str = ""
    pause: float = 0.0  # seconds to wait before the next batch (a 429's retry_after, a 5xx's backoff)


def _reachable(user: User) -> bool:
    return bool(user.telegram_id) and user.is_active and user.bot_blocked_at is None


def _send_batch(message: BroadcastMessage, batch: list[Delivery], pool: ThreadPoolExecutor) -> BatchOutcome:
    outcome = BatchOutcome()
    to_send = []
    for delivery in batch:
        if _reachable(delivery.user):
            to_send.append(delivery)
        else:  # blocked the bot (another broadcast or a reminder found out) since the start
            _settle(outcome, delivery, Delivery.Status.BLOCKED, error=SKIPPED_BLOCKED)
    # Uploading the picture once: one message alone until Telegram has given the picture an id
    # (a few tries per batch; if none took, the rest wait for the next batch).
    uploads = 0
    while to_send and message.needs_upload:
        if uploads == UPLOAD_TRIES_PER_BATCH:
            for delivery in to_send:
                _give_back(outcome, delivery, error="waiting for the picture's upload", pause=1.0)
            return outcome
        uploads += 1
        delivery = to_send.pop(0)
        _apply(outcome, delivery, _attempt(message, delivery))
    futures = [(delivery, pool.submit(_attempt, message, delivery)) for delivery in to_send]
    for delivery, future in futures:
        _apply(outcome, delivery, future.result())
    return outcome


@dataclass(frozen=True)
class _Attempt:
    message_id: int | None = None
    error: Exception | None = None


def _attempt(message: BroadcastMessage, delivery: Delivery) -> _Attempt:
    # Runs on a pool thread: no database access here but the picture's one-time read and file id.
    try:
        return _Attempt(message_id=message.send(chat_id=delivery.user.telegram_id, language=delivery.user.language))
    except Exception as exc:  # noqa: BLE001 - every outcome is recorded on the row
        return _Attempt(error=exc)


def _apply(outcome: BatchOutcome, delivery: Delivery, attempt: _Attempt) -> None:
    exc = attempt.error
    if exc is None:
        delivery.message_id = attempt.message_id
        _settle(outcome, delivery, Delivery.Status.SENT)
        outcome.sent += 1
    elif isinstance(exc, TelegramBlocked):
        _settle(outcome, delivery, Delivery.Status.BLOCKED, error=exc.description)
        outcome.blocked_user_ids.append(delivery.user_id)
    elif isinstance(exc, TelegramRateLimited):
        _give_back(outcome, delivery, error=exc.description, pause=exc.retry_after)
    elif isinstance(exc, TelegramTimedOut):
        _settle(outcome, delivery, Delivery.Status.FAILED, error=UNCERTAIN + exc.description)
    elif isinstance(exc, TelegramUnavailable):
        pause = backoff_seconds(attempt=delivery.attempts, base=1.0, cap=30.0)
        _give_back(outcome, delivery, error=exc.description, pause=pause)
    elif isinstance(exc, TelegramRejected):
        _settle(outcome, delivery, Delivery.Status.FAILED, error=exc.description)
        outcome.refused += 1
        outcome.last_refusal = exc.description
    elif isinstance(exc, TelegramError):
        _settle(outcome, delivery, Delivery.Status.FAILED, error=exc.description)
    else:
        logger.error("broadcast delivery %s failed unexpectedly", delivery.pk, exc_info=exc)
        _settle(outcome, delivery, Delivery.Status.FAILED, error=f"unexpected error: {type(exc).__name__}: {exc}")


def _settle(outcome: BatchOutcome, delivery: Delivery, status: str, *, error: str = "") -> None:
    delivery.status = status
    delivery.error = error[:500]
    delivery.done_at = timezone.now()
    outcome.done.append(delivery)


def _give_back(outcome: BatchOutcome, delivery: Delivery, *, error: str, pause: float) -> None:
    if delivery.attempts >= MAX_ATTEMPTS:
        _settle(outcome, delivery, Delivery.Status.FAILED, error=GAVE_UP.format(attempts=delivery.attempts) + error)
        return
    delivery.status = Delivery.Status.PENDING
    delivery.error = error[:500]
    delivery.claim_token = ""
    outcome.returned.append(delivery)
    outcome.pause = max(outcome.pause, pause)


def _record(outcome: BatchOutcome, result: SliceResult) -> None:
    """Write the batch's results. Unconditional on the rows' state: what Telegram answered is the
    truth, even for a row another run meanwhile marked interrupted."""
    with transaction.atomic():
        if outcome.done:
            Delivery.objects.bulk_update(outcome.done, ["status", "message_id", "error", "done_at"])
        if outcome.returned:
            Delivery.objects.bulk_update(outcome.returned, ["status", "error", "claim_token"])
        users_mark_bot_blocked(user_ids=outcome.blocked_user_ids)
    for delivery in outcome.done:
        BROADCAST_MESSAGES.labels(result=delivery.status).inc()
        if delivery.status == Delivery.Status.SENT:
            result.sent += 1
        elif delivery.status == Delivery.Status.BLOCKED:
            result.blocked += 1
        else:
            result.failed += 1
    result.returned += len(outcome.returned)


# --- The test message ------------------------------------------------------------------------


def send_test(*, broadcast_id: int) -> bool:
    """Send the draft to the admin who asked for it and record the answer on the broadcast."""
    broadcast = Broadcast.objects.select_related("test_user").get(pk=broadcast_id)
    user = broadcast.test_user
    if user is None or not user.telegram_id or broadcast.test_requested_at is None:
        return False
    error = ""
    try:
        BroadcastMessage(broadcast).send(chat_id=user.telegram_id, language=user.language)
    except TelegramBlocked as exc:
        users_mark_bot_blocked(user_ids=[user.pk])
        error = exc.description
    except TelegramError as exc:
        error = exc.description or type(exc).__name__
    fields: dict[str, object] = {"test_error": error[:500]} if error else {"test_sent_at": timezone.now()}
    # Only the request this run answers (not one made meanwhile).
    Broadcast.objects.filter(pk=broadcast_id, test_requested_at=broadcast.test_requested_at).update(**fields)
    return not error


# --- The sweep -------------------------------------------------------------------------------


def sweep(*, now=None, hand: Callable[[int], None] = hand_over) -> list[int]:
    """Hand over every broadcast still sending that no live run holds and that was not handed
    over recently (the hand-over was lost with a broker outage, or the worker died)."""
    now = now or timezone.now()
    recent = now - timedelta(seconds=4 * settings.BROADCAST_SWEEP_SECONDS)
    handed = []
    rows = Broadcast.objects.filter(status=Broadcast.Status.SENDING).values_list(
        "pk", "runner", "runner_until", "handed_over_at"
    )
    for pk, runner, runner_until, handed_over_at in rows:
        free = runner_until is None or runner_until < now or (runner and process_is_dead(runner))
        if free and (handed_over_at is None or handed_over_at < recent or (runner and process_is_dead(runner))):
            hand(pk)
            handed.append(pk)
    return handed
