"""One bot Application per process for the webhook view and admin re-runs.

An Application is bound to the event loop it was initialized on, and Django
views are synchronous: the Application lives on its own loop in a daemon
thread, and callers submit coroutines to it and wait for the result.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from django.conf import settings

from integrations.telegram import bot_base_url
from telegram_bot.application import build_application
from telegram_bot.pipeline import Outcome, StoringApplication, db_close_connections

logger = logging.getLogger(__name__)

T = TypeVar("T")

START_TIMEOUT = 15.0
# Telegram waits for the webhook answer; a pre-checkout must be answered
# within 10 s. Past this the view answers 200 and the stored update is
# finished by the retry loop.
PROCESS_TIMEOUT = 8.0


class BackgroundBot:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._application: StoringApplication | None = None
        self._key: tuple[str, str] | None = None

    def _settings_key(self) -> tuple[str, str]:
        return settings.TELEGRAM_BOT_TOKEN, bot_base_url()

    def _ensure_started(self) -> tuple[asyncio.AbstractEventLoop, StoringApplication]:
        with self._lock:
            if self._application is not None and self._key != self._settings_key():
                self._stop_locked()  # the token or server changed (tests, reconfiguration)
            if self._application is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="telegram-bot-loop", daemon=True)
                thread.start()
                application = build_application()
                try:
                    asyncio.run_coroutine_threadsafe(application.initialize(), loop).result(START_TIMEOUT)
                except BaseException:
                    loop.call_soon_threadsafe(loop.stop)
                    thread.join(START_TIMEOUT)
                    raise
                self._loop, self._thread, self._application = loop, thread, application
                self._key = self._settings_key()
            return self._loop, self._application

    def run(self, fn: Callable[[StoringApplication], Awaitable[T]], *, timeout: float = PROCESS_TIMEOUT) -> T:
        loop, application = self._ensure_started()
        future = asyncio.run_coroutine_threadsafe(fn(application), loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            # Keep running in the background; the view answers now.
            logger.warning("bot processing took longer than %s s; answering the webhook anyway", timeout)
            raise

    def process_stored(self, raw: dict[str, Any], *, claimed: bool = False, timeout: float = PROCESS_TIMEOUT) -> str:
        return self.run(lambda application: application.process_stored(raw, claimed=claimed), timeout=timeout)

    def retry_due(self, *, limit: int = 50, timeout: float = 60.0) -> int:
        return self.run(lambda application: application.retry_due(limit=limit), timeout=timeout)

    def stop(self) -> None:
        with self._lock:
            self._stop_locked()

    def _stop_locked(self) -> None:
        if self._application is None:
            return
        loop, thread, application = self._loop, self._thread, self._application
        self._loop = self._thread = self._application = self._key = None

        async def shutdown() -> None:
            try:
                await application.shutdown()
            finally:
                await db_close_connections()

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), loop).result(START_TIMEOUT)
        except Exception:  # noqa: BLE001 - stopping anyway
            logger.exception("bot shutdown failed")
        loop.call_soon_threadsafe(loop.stop)
        thread.join(START_TIMEOUT)
        loop.close()


background_bot = BackgroundBot()

__all__ = ["background_bot", "BackgroundBot", "Outcome"]
