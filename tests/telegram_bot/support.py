"""Helpers for bot tests: the real update loop in a background thread, and
webhook POSTs through Django's test client. Both talk to the fake Bot API server.

On SQLite the test database is shared in memory between threads, so tests
arrange data before `start()` and read the database after `stop()` (or while the
bot is provably idle, e.g. after its last answer for a webhook call).
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import threading
import time
from dataclasses import dataclass

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


TAG = re.compile(r"<[^>]+>")


def plain(text: str) -> str:
    """What a user reads of an HTML text (parse_mode=HTML): tags gone, entities decoded."""
    return html.unescape(TAG.sub("", text))


def message_text(message: dict) -> str:
    """A sent message's text (as the user reads it), a photo's caption or an invoice's title."""
    return plain(message.get("text") or message.get("caption") or (message.get("invoice") or {}).get("title") or "")


def buttons_of(message: dict) -> list[dict]:
    return [b for row in (message.get("reply_markup") or {}).get("inline_keyboard", []) for b in row]


def callbacks_of(message: dict) -> list[str]:
    return [b["callback_data"] for b in buttons_of(message) if "callback_data" in b]


@dataclass(frozen=True)
class Mark:
    """Where the chat stood: the fake's call count and this chat's message count."""

    calls: int
    messages: int


def mark(fake, chat_id: int) -> Mark:
    return Mark(calls=len(fake.calls()), messages=len(fake.sent_messages(chat_id)))


def shown(fake, chat_id: int, since: Mark) -> list[dict]:
    """What the bot showed this chat since the mark: the messages it edited (as they
    read now), then the new ones, each once."""
    edited: list[dict] = []
    for call in fake.calls()[since.calls :]:
        if call.method != "editMessageText" or call.status != 200 or int(call.params.get("chat_id", 0)) != chat_id:
            continue
        message = fake.message(chat_id, int(call.params["message_id"]))
        if message is not None and message not in edited:
            edited.append(message)
    new = fake.sent_messages(chat_id)[since.messages :]
    return [m for m in edited if m not in new] + new


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

    def wait_shown(self, since: Mark, contains: str = "", *, timeout: float = 10.0) -> dict:
        """The first message sent or edited after the mark that contains the text."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in shown(self.fake, self.id, since):
                if contains in message_text(message):
                    return message
            time.sleep(0.01)
        texts = [message_text(m) for m in shown(self.fake, self.id, since)]
        raise AssertionError(f"nothing containing {contains!r} shown; shown: {texts}")

    def command(self, command: str, args: str = "", *, expect: str = "") -> dict:
        since = mark(self.fake, self.id)
        self.fake.inject_command(self.user, command, args)
        return self.wait_shown(since, expect)

    def say(self, text: str, *, expect: str = "") -> dict:
        since = mark(self.fake, self.id)
        self.fake.inject_message(self.user, text)
        return self.wait_shown(since, expect)

    def press(self, data: str, *, expect: str = "", message_id: int | None = None) -> dict:
        """Press a button on the bot's last message (or on `message_id`)."""
        since = mark(self.fake, self.id)
        self.fake.inject_callback(self.user, data, message_id=message_id)
        return self.wait_shown(since, expect)


def said(messages: list[dict]) -> str:
    return "\n".join(message_text(m) for m in messages)


@pytest.fixture
def bot(fake_telegram, webhook):
    """Send one update built by the fake server through the webhook view (it answers
    after the handlers ran); returns the messages the bot showed for it: sent, or
    edited in place."""

    def send(builder: str, user: dict, *args, **kwargs) -> list[dict]:
        update = getattr(fake_telegram, builder)(user, *args, deliver=False, **kwargs)
        since = mark(fake_telegram, user["id"])  # after: a button press may add the message it is on
        assert webhook(update).status_code == 200
        return shown(fake_telegram, user["id"], since)

    return send


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
