"""Helpers for bot tests: the real update loop in a background thread, and
webhook POSTs through Django's test client. Both talk to the fake Bot API server.

On SQLite the test database is shared in memory between threads, so tests
arrange data before `start()` and read the database after `stop()` (or while the
bot is provably idle, e.g. after its last answer for a webhook call).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest
from django.core.cache import cache

from telegram_bot.application import run_bot
from telegram_bot.webhook import background_bot

WEBHOOK_SECRET = "test-webhook-secret"
WEBHOOK_URL = "/telegram/webhook"


class PollingBot:
    """`runbot`'s coroutine on its own loop and thread, stopped within a bound."""

    def __init__(self, fake, *, retry_interval: float = 3600.0) -> None:
        self.fake = fake
        self.retry_interval = retry_interval
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stop_event: asyncio.Event | None = None
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def start(self) -> PollingBot:
        ready = threading.Event()

        def target() -> None:
            self.loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self.loop)
            self.stop_event = asyncio.Event()
            ready.set()
            try:
                self.loop.run_until_complete(
                    run_bot(self.stop_event, poll_timeout=1, retry_interval=self.retry_interval)
                )
            except BaseException as exc:  # noqa: BLE001 - reported by stop()
                self.error = exc
            finally:
                self.loop.close()

        self.thread = threading.Thread(target=target, name="test-runbot", daemon=True)
        self.thread.start()
        assert ready.wait(5)
        self.fake.wait_for_call("getUpdates", timeout=10)
        return self

    def stop(self, timeout: float = 15.0) -> None:
        if self.thread is None:
            return
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "runbot did not stop in time"
        self.thread = None
        if self.error is not None:
            raise self.error


def message_text(message: dict) -> str:
    """A sent message's text, or an invoice's title."""
    return message.get("text") or (message.get("invoice") or {}).get("title") or ""


class Buyer:
    """A Telegram user talking to the bot through the fake server."""

    def __init__(self, fake, telegram_id: int, *, language_code: str = "en", first_name: str = "Alice") -> None:
        self.fake = fake
        self.id = telegram_id
        self.user = {"id": telegram_id, "is_bot": False, "first_name": first_name, "language_code": language_code}

    def seen(self) -> int:
        return len(self.fake.sent_messages(self.id))

    def wait_new(self, since: int, contains: str = "", *, timeout: float = 10.0) -> dict:
        """The first message sent to this user after `since` messages that contains the text."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self.fake.sent_messages(self.id)[since:]:
                if contains in message_text(message):
                    return message
            time.sleep(0.01)
        texts = [message_text(m) for m in self.fake.sent_messages(self.id)]
        raise AssertionError(f"no message containing {contains!r} after #{since}; sent: {texts}")

    def command(self, command: str, args: str = "", *, expect: str = "") -> dict:
        since = self.seen()
        self.fake.inject_command(self.user, command, args)
        return self.wait_new(since, expect)

    def say(self, text: str, *, expect: str = "") -> dict:
        since = self.seen()
        self.fake.inject_message(self.user, text)
        return self.wait_new(since, expect)

    def press(self, data: str, *, expect: str = "") -> dict:
        since = self.seen()
        self.fake.inject_callback(self.user, data)
        return self.wait_new(since, expect)


@pytest.fixture
def polling_bot(fake_telegram, transactional_db):
    bots: list[PollingBot] = []

    def make(**kwargs) -> PollingBot:
        bot = PollingBot(fake_telegram, **kwargs)
        bots.append(bot)
        return bot

    yield make
    for bot in bots:
        bot.stop()


@pytest.fixture
def webhook(fake_telegram, settings, client):
    """POST raw updates to the webhook view, with the right secret unless told otherwise."""
    settings.TELEGRAM_WEBHOOK_SECRET = WEBHOOK_SECRET

    def post(update, *, secret: str | None = WEBHOOK_SECRET, body: bytes | None = None):
        headers = {"HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN": secret} if secret is not None else {}
        data = body if body is not None else json.dumps(update)
        return client.post(WEBHOOK_URL, data=data, content_type="application/json", **headers)

    yield post
    background_bot.stop()


@pytest.fixture(autouse=True)
def fresh_flood_counters():
    cache.clear()
    yield
    cache.clear()
