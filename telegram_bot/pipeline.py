"""Store first, then handle: the path every update takes, in polling and webhook mode.

`StoringApplication.process_update` saves the raw update (unique update id)
before any handler runs; a replay stops there. A new row is stored already
claimed by the worker that stored it (status processing, attempt 1, a lease),
so the first run needs no claim query; a retry claims the row with a
conditional UPDATE, so only one worker runs it. Then it is handled and marked
done (the polling loop marks a whole batch in one query) or failed. A failed
update keeps its error and is retried with backoff; a claimed update whose
worker died becomes due again when its lease runs out.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
import traceback
import warnings
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from datetime import timedelta
from typing import Any

from asgiref.sync import sync_to_async
from django.db import close_old_connections, connections
from telegram import Update
from telegram.error import RetryAfter
from telegram.ext import Application, ContextTypes
from telegram.warnings import PTBDeprecationWarning

from core.logs import log_context
from core.metrics import TELEGRAM_RATE_LIMITED, UPDATE_FAILURES, UPDATE_SECONDS
from telegram_bot import screens, services
from telegram_bot.services import RateDecision

logger = logging.getLogger(__name__)

_failures: ContextVar[list[BaseException] | None] = ContextVar("tg_update_failures", default=None)
_attempt: ContextVar[int] = ContextVar("tg_update_attempt", default=1)
_in_pipeline: ContextVar[bool] = ContextVar("tg_in_pipeline", default=False)
_received_at: ContextVar[float | None] = ContextVar("tg_received_at", default=None)


PAYMENT_KINDS = frozenset({"successful_payment", "refunded_payment"})


class Outcome:
    DUPLICATE = "duplicate"  # already stored: a replay, nothing done
    SKIPPED = "skipped"  # stored, but another worker holds it (or it is not due)
    DONE = "done"
    FAILED = "failed"
    LIMITED = "limited"  # flood limit: not handled


def current_attempt() -> int:
    """1 for the first run of the update being handled, more for a retry."""
    return _attempt.get()


def mark_received() -> None:
    """The update in hand arrived now (call before handing it to a task: the task copies the context)."""
    _received_at.set(time.monotonic())


def seconds_since_received() -> float:
    """How long ago the update being handled arrived (the pre-checkout answer's latency)."""
    received = _received_at.get()
    return 0.0 if received is None else time.monotonic() - received


# The bot's database work runs on a pool of its own, one connection per thread:
# Django's default (one shared thread for every sync_to_async call) made every
# update wait for the slowest one in the process.
DB_THREADS = 8
_db_executor = ThreadPoolExecutor(max_workers=DB_THREADS, thread_name_prefix="bot-db")


def db(fn):
    """Run a sync (ORM) function from async code on the bot's database threads."""

    def call(*args, **kwargs):
        drop_stale_connections()
        return fn(*args, **kwargs)

    return sync_to_async(functools.wraps(fn)(call), thread_sensitive=False, executor=_db_executor)


async def db_close_connections() -> None:
    """Close every bot database thread's connection (at shutdown): each thread closes its own."""
    barrier = threading.Barrier(DB_THREADS, timeout=10)

    def close() -> None:
        connections.close_all()
        try:
            barrier.wait()  # hold this thread so that the next call lands on another one
        except threading.BrokenBarrierError:
            pass

    loop = asyncio.get_running_loop()
    await asyncio.gather(*(loop.run_in_executor(_db_executor, close) for _ in range(DB_THREADS)))


CONNECTION_CHECK_SECONDS = 30.0
_connection_checks = threading.local()


def drop_stale_connections() -> None:
    """The loop lives for days: drop this thread's connections the database closed
    or that failed, like Django does between requests (but not before every update)."""
    now = time.monotonic()
    failed = any(conn.errors_occurred for conn in connections.all(initialized_only=True))
    if failed or now - getattr(_connection_checks, "last", 0.0) >= CONNECTION_CHECK_SECONDS:
        close_old_connections()
        _connection_checks.last = now


def _begin(update_id: int, kind: str, telegram_user_id: int | None) -> tuple[bool, int, str]:
    if not services.update_claim(update_id=update_id):
        return False, 0, RateDecision.ALLOW
    attempts = services.update_attempts(update_id=update_id)
    decision = RateDecision.ALLOW
    if telegram_user_id is not None and attempts == 1:
        decision = services.rate_limit_check(telegram_id=telegram_user_id, kind=kind)
    return True, attempts, decision


def retry_after_seconds(exc: BaseException) -> float | None:
    """Telegram's flood wait (429), whichever type this PTB version gives it."""
    if not isinstance(exc, RetryAfter):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def describe(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))[-4000:]


async def record_handler_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """PTB's error handler: remember the failure for the pipeline to store."""
    failures = _failures.get()
    if failures is not None:
        failures.append(context.error)
    else:
        logger.error("bot error outside an update: %s", context.error, exc_info=context.error)


class StoringApplication(Application):
    """An Application that never runs a handler on an update it has not stored."""

    async def process_update(self, update: object) -> None:
        if isinstance(update, Update) and not _in_pipeline.get():
            await self.receive(update.to_dict())
            return
        await super().process_update(update)

    async def receive(self, raw: dict[str, Any]) -> str:
        """Store the raw update, then handle it unless it was stored before."""
        mark_received()
        row, created = await db(services.update_store)(raw=raw, claim=True)
        if not created:
            return Outcome.DUPLICATE
        return await self.process_stored(row.raw, claimed=True)  # as stored (see update_store)

    async def process_stored(
        self,
        raw: dict[str, Any],
        *,
        update: Update | None = None,
        claimed: bool = False,
        done: list[int] | None = None,
    ) -> str:
        """Handle an update that is already stored. `claimed`: the caller stored it
        just now as claimed (attempt 1), so no claim query is needed. `done`: the
        caller marks handled updates done itself, for a whole batch in one query
        (until then they stay claimed under their lease)."""
        update = update or Update.de_json(raw, self.bot)
        if _received_at.get() is None:
            mark_received()
        with log_context(update_id=update.update_id):
            started = time.monotonic()
            outcome = await self._process_stored(raw, update, claimed=claimed, done=done)
        kind = services.update_kind(raw)
        if outcome in (Outcome.DONE, Outcome.FAILED):
            UPDATE_SECONDS.labels(kind=kind, outcome=outcome).observe(time.monotonic() - started)
        if outcome == Outcome.FAILED:
            UPDATE_FAILURES.labels(kind=kind).inc()
        return outcome

    async def _process_stored(
        self, raw: dict[str, Any], update: Update, *, claimed: bool, done: list[int] | None
    ) -> str:
        kind = services.update_kind(raw)
        user_id = services.update_user_id(raw)
        if claimed:
            # The flood counter lives in the cache, not the database: no thread hop.
            attempts = 1
            decision = (
                RateDecision.ALLOW if user_id is None else services.rate_limit_check(telegram_id=user_id, kind=kind)
            )
        else:
            claimed, attempts, decision = await db(_begin)(update.update_id, kind, user_id)
        if not claimed:
            return Outcome.SKIPPED
        if decision != RateDecision.ALLOW:
            await db(services.update_mark_done)(update_id=update.update_id, note="rate limited")
            if decision == RateDecision.WARN:
                await self._tell(update, screens.slow_down)
            return Outcome.LIMITED
        failures: list[BaseException] = []
        tokens = (_failures.set(failures), _attempt.set(attempts), _in_pipeline.set(True))
        try:
            await super().process_update(update)
        except Exception as exc:  # noqa: BLE001 - PTB catches handler errors; this is for anything else
            failures.append(exc)
        finally:
            _failures.reset(tokens[0])
            _attempt.reset(tokens[1])
            _in_pipeline.reset(tokens[2])
        if not failures:
            # Payment updates are marked done at once: a crash before a batched
            # mark-done would re-run them and repeat the buyer's confirmation.
            if done is None or kind in PAYMENT_KINDS:
                await db(services.update_mark_done)(update_id=update.update_id)
            else:
                done.append(update.update_id)
            return Outcome.DONE
        error = failures[0]
        if retry_after_seconds(error) is not None:
            TELEGRAM_RATE_LIMITED.labels(where="bot reply").inc()
        logger.error("update %s (%s) failed on attempt %s: %s", update.update_id, kind, attempts, error, exc_info=error)
        await db(services.update_mark_failed)(
            update_id=update.update_id, error=describe(error), retry_after=retry_after_seconds(error)
        )
        if attempts == 1:  # apologise once, not on every retry
            await self._tell(update, screens.apology)
        return Outcome.FAILED

    async def _tell(self, update: Update, render) -> None:
        """A short note to the user (never a traceback); best effort."""
        user = update.effective_user
        language_code = user.language_code if user else None
        try:
            # In the language the buyer chose in the bot (one indexed read).
            text = await db(render)(language_code, user.id if user else None)
            if update.pre_checkout_query is not None:
                await self.bot.answer_pre_checkout_query(update.pre_checkout_query.id, ok=False, error_message=text)
            elif update.effective_chat is not None:
                await self.bot.send_message(chat_id=update.effective_chat.id, text=text)
        except Exception as exc:  # noqa: BLE001 - the update is already recorded; the note is a courtesy
            logger.warning("could not notify about update %s: %s", update.update_id, exc)

    async def retry_due(self, *, limit: int = 50) -> int:
        """Run the stored updates whose retry time has come. Returns how many ran."""
        due = await db(services.updates_due)(limit=limit)
        for _update_id, raw in due:
            mark_received()
            await self.process_stored(raw)
        return len(due)
