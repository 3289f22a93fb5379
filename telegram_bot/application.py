"""The bot's Application and its long-polling loop (used by `manage.py runbot`).

The loop calls getUpdates itself instead of PTB's Updater so that a batch is
stored in the database *before* its offset is confirmed to Telegram: a crash
between fetching and storing loses nothing, the batch is fetched again.
Stored updates are handed to a Dispatcher (telegram_bot/dispatch.py), which
runs different users side by side while the loop goes on fetching. Updates
whose handling failed are re-run by the background task
`telegram_bot.retry_due_updates` (a Celery worker, or this process's embedded one).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from django.conf import settings
from django.db import transaction
from django.utils import translation
from telegram import Bot, Update
from telegram.error import InvalidToken, RetryAfter, TelegramError
from telegram.ext import ApplicationBuilder

from core.backoff import backoff_seconds
from core.heartbeats import BOT_POLLING, Throttle, heartbeat_record
from core.metrics import TELEGRAM_RATE_LIMITED
from integrations.telegram import TelegramNotConfigured, bot_base_file_url, bot_base_url, telegram_configured
from telegram_bot import services, texts
from telegram_bot.constants import ALLOWED_UPDATES
from telegram_bot.dispatch import Dispatcher
from telegram_bot.handlers import register_handlers
from telegram_bot.pipeline import (
    StoringApplication,
    db,
    db_close_connections,
    record_handler_error,
    retry_after_seconds,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

POLL_TIMEOUT = 30  # seconds Telegram holds a getUpdates call open
GET_UPDATES_LIMIT = 100  # updates per getUpdates call (Telegram's maximum)
# Updates of different users handled at once: enough to overlap Telegram's
# round trips, but not PTB's default pool of 256 connections (httpcore checks
# every pooled connection on each request; the work is GIL-bound anyway).
CONCURRENT_UPDATES = 8
CONNECTION_POOL_SIZE = 16  # the handlers' requests plus the retry loop's
MAX_IN_FLIGHT = 500  # stored updates waiting to be handled before fetching more
RETRY_INTERVAL = 5.0  # seconds between looks for failed updates due again
MAX_BACKOFF = 30.0
# The heartbeat is written at most this often (in the batch's own database hop);
# an idle loop still beats once per long poll.
HEARTBEAT_SECONDS = 5.0


def build_application(*, request_timeout: float = 10.0, poll_timeout: int = POLL_TIMEOUT) -> StoringApplication:
    """An Application with the bot's handlers, pointed at TELEGRAM_API_BASE_URL
    (Telegram's test environment when TELEGRAM_TEST_ENV is on)."""
    if not telegram_configured():
        raise TelegramNotConfigured("TELEGRAM_BOT_TOKEN is not set")
    application = (
        ApplicationBuilder()
        .application_class(StoringApplication)
        .token(settings.TELEGRAM_BOT_TOKEN)
        .base_url(bot_base_url())
        .base_file_url(bot_base_file_url())
        .updater(None)
        .connection_pool_size(CONNECTION_POOL_SIZE)
        .connect_timeout(request_timeout)
        .read_timeout(request_timeout)
        .write_timeout(request_timeout)
        .pool_timeout(request_timeout)
        .get_updates_read_timeout(poll_timeout + request_timeout)
        .get_updates_pool_timeout(request_timeout)
        .build()
    )
    register_handlers(application)
    application.add_error_handler(record_handler_error)
    return application


def run_once(fn: Callable[[Bot], Awaitable[T]]) -> T:
    """A management command's one-off Bot API calls, on a short-lived loop of its own."""
    if not telegram_configured():
        raise TelegramNotConfigured("TELEGRAM_BOT_TOKEN is not set")

    async def main() -> T:
        bot = Bot(token=settings.TELEGRAM_BOT_TOKEN, base_url=bot_base_url(), base_file_url=bot_base_file_url())
        async with bot:
            return await fn(bot)

    return asyncio.run(main())


async def set_commands(bot: Bot) -> None:
    """The command menu in Russian (also the default) and English."""
    for language in ("ru", "en"):
        with translation.override(language):
            commands = texts.commands()
        await bot.set_my_commands(commands, language_code=language)
        if language == "ru":
            await bot.set_my_commands(commands)


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass


async def _fetch(application: StoringApplication, stop: asyncio.Event, offset: int | None, timeout: int):
    """getUpdates, abandoned (not confirmed) when asked to stop."""
    fetch = asyncio.ensure_future(
        application.bot.get_updates(
            offset=offset, limit=GET_UPDATES_LIMIT, timeout=timeout, allowed_updates=ALLOWED_UPDATES
        )
    )
    stopper = asyncio.ensure_future(stop.wait())
    await asyncio.wait({fetch, stopper}, return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    if not fetch.done():
        fetch.cancel()
        return None
    return fetch.result()


async def poll(application: StoringApplication, stop: asyncio.Event, *, timeout: int = POLL_TIMEOUT) -> None:
    """Fetch, store, confirm, hand over to the dispatcher, until `stop` is set.
    Telegram errors back off; a batch that could not be stored is fetched again
    (its offset is not confirmed). On stop, the updates in hand are finished."""
    dispatcher = Dispatcher(application, concurrency=CONCURRENT_UPDATES, max_in_flight=MAX_IN_FLIGHT)
    heartbeat = Throttle(HEARTBEAT_SECONDS)
    offset: int | None = None
    failures = 0
    try:
        # Telegram answered getMe and deleteWebhook: alive before the first long poll returns.
        await db(heartbeat_record)(name=BOT_POLLING)
        while not stop.is_set():
            try:
                updates = await _fetch(application, stop, offset, timeout)
                if updates is None:
                    break
                received = [update.to_dict() for update in updates]
                updates, raws = _as_stored(application, updates, received)
                done = dispatcher.take_done()
                beat = heartbeat.due()
                try:
                    # The services store (and flag) what was received; the handlers get it as stored.
                    fresh = set(await db(store_batch)(received, done, beat)) if received or done or beat else set()
                except Exception:
                    dispatcher.give_back(done)
                    raise
            except InvalidToken:
                raise
            except RetryAfter as exc:
                TELEGRAM_RATE_LIMITED.labels(where="getUpdates").inc()
                delay = retry_after_seconds(exc) or 1.0
                logger.warning("getUpdates: flood control, waiting %s s", delay)
                await _sleep_or_stop(stop, float(delay))
                continue
            except Exception as exc:  # noqa: BLE001 - network, Telegram 5xx or the database: wait and fetch again
                failures += 1
                delay = backoff_seconds(attempt=failures, base=1.0, cap=MAX_BACKOFF)
                logger.warning("getUpdates or storing failed (%s); retrying in %.0f s", exc, delay)
                await _sleep_or_stop(stop, delay)
                continue
            failures = 0
            if updates:
                offset = updates[-1].update_id + 1
            for update, raw in zip(updates, raws, strict=True):
                if update.update_id in fresh:
                    fresh.discard(update.update_id)  # once, even if Telegram repeated it in the batch
                    await dispatcher.submit(update, raw)
    finally:
        await dispatcher.drain()


def _as_stored(application: StoringApplication, updates, received: list[dict]) -> tuple[list[Update], list[dict]]:
    """The updates as the database will keep them: one holding characters it refuses
    (NUL from a client, say) is handled as stored, with those replaced."""
    kept, raws = [], []
    for update, original in zip(updates, received, strict=True):
        raw, altered = services.storable(original)
        kept.append(Update.de_json(raw, application.bot) if altered else update)
        raws.append(raw)
    return kept, raws


def store_batch(raws: list[dict], done: list[int], beat: bool = False) -> list[int]:
    """One database hop per getUpdates batch: store the new updates already
    claimed by this loop (so handling them needs no claim query) and mark the
    updates handled since the last batch done. `beat`: also record that the
    loop is alive (the readiness probe reads it). One transaction: a single
    commit to wait for (the durable store comes before any handling and is on
    every update's path); if any of it fails, none of it happened."""
    with transaction.atomic():
        stored = services.updates_store_batch(raws=raws, claim=True) if raws else []
        if done:
            services.updates_mark_done(update_ids=done)
        if beat:
            heartbeat_record(name=BOT_POLLING)
    return stored


async def retry_failed(application: StoringApplication, stop: asyncio.Event, *, interval: float = RETRY_INTERVAL):
    """Re-run failed or abandoned stored updates whose backoff has passed."""
    while not stop.is_set():
        try:
            await application.retry_due()
        except Exception:  # noqa: BLE001 - keep the loop alive; the rows stay due
            logger.exception("retrying stored updates failed")
        await _sleep_or_stop(stop, interval)


async def run_bot(
    stop: asyncio.Event,
    *,
    application: StoringApplication | None = None,
    poll_timeout: int = POLL_TIMEOUT,
    retry_interval: float | None = None,
    polling: bool = True,
) -> None:
    """The whole bot until `stop` is set: command menu and polling; with
    `retry_interval`, also its own loop re-running failed stored updates
    (else the background task does that)."""
    application = application or build_application(poll_timeout=poll_timeout)
    try:
        async with application:  # initialize (getMe) ... shutdown
            try:
                await set_commands(application.bot)
            except TelegramError as exc:
                logger.warning("setMyCommands failed: %s", exc)
            tasks = []
            if retry_interval is not None:
                tasks.append(asyncio.create_task(retry_failed(application, stop, interval=retry_interval)))
            if polling:
                # getUpdates answers 409 while a webhook is set: polling mode removes it.
                await application.bot.delete_webhook(drop_pending_updates=False)
                tasks.append(asyncio.create_task(poll(application, stop, timeout=poll_timeout)))
            logger.info("bot @%s running (%s)", application.bot.username, "polling" if polling else "retries only")
            done, _pending = await asyncio.wait(
                [*tasks, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED
            )
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            for task in done:
                if task in tasks and task.exception() is not None:
                    raise task.exception()
    finally:
        await db_close_connections()
    logger.info("bot stopped")
