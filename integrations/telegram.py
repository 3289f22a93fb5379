"""The one outbound Telegram Bot API client for synchronous code (workers, services, admin, commands).

Each process keeps a single python-telegram-bot `ExtBot` on its own event loop in a daemon thread,
with one pooled HTTPX connection pool, PTB's `AIORateLimiter` (overall rate, 429s waited out and
retried) and a per-chat limiter for messages. Sync callers in any thread submit coroutines to that
loop and wait for the answer, so no call pays for a new loop, bot or TLS handshake.

Callers see plain values (`Button`, `StarTransaction`) and this module's errors, never PTB types.
Never call these inside a database transaction: a call may wait seconds for a rate limit.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import logging
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias, TypeVar

from aiolimiter import AsyncLimiter
from django.conf import settings
from django.core.cache import cache
from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LabeledPrice,
    LinkPreviewOptions,
    TransactionPartnerUser,
)
from telegram import StarTransaction as PTBStarTransaction
from telegram import error as ptb_error
from telegram.ext import AIORateLimiter, ExtBot
from telegram.request import HTTPXRequest

from core.metrics import TELEGRAM_RATE_LIMITED

__all__ = [
    "BotIdentity",
    "Button",
    "ChatInfo",
    "ChatMembership",
    "ChargeAlreadyRefunded",
    "Keyboard",
    "SentPhoto",
    "StarTransaction",
    "TelegramBlocked",
    "TelegramClient",
    "TelegramError",
    "TelegramNotConfigured",
    "TelegramRateLimited",
    "TelegramRejected",
    "TelegramTimedOut",
    "TelegramUnavailable",
    "bot_base_file_url",
    "bot_base_url",
    "bot_username",
    "client",
    "reset_client",
    "telegram_configured",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

CURRENCY = "XTR"

DEFAULT_MAX_PER_SECOND = 30.0  # Telegram's broadcast limit for a bot, all chats together
DEFAULT_PER_CHAT_PER_SECOND = 1.0  # Telegram allows about one message a second in a private chat
DEFAULT_MAX_RETRIES = 3
DEFAULT_REQUEST_TIMEOUT = 10.0

POOL_SIZE = 32  # concurrent requests; beyond this callers queue for a connection (pool timeout)
MAX_CHAT_LIMITERS = 4096  # per-chat limiters kept at once; idle ones are dropped first
# Besides request time, a call may sit behind 429 waits and the rate limiters; past this extra
# margin the caller stops waiting and gets TelegramUnavailable rather than blocking a worker forever.
QUEUE_AND_RETRY_MARGIN = 60.0
CLOSE_TIMEOUT = 5.0

# Telegram's limits for invoices in Stars (longer values are refused, so cut them).
TITLE_MAX, DESCRIPTION_MAX, LABEL_MAX = 32, 255, 32


# -- settings ----------------------------------------------------------------------------------


def telegram_configured() -> bool:
    return bool(settings.TELEGRAM_BOT_TOKEN)


def bot_base_url() -> str:
    """`<root>/bot<token>`, or `<root>/bot<token>/test` in Telegram's test environment."""
    root = settings.TELEGRAM_API_BASE_URL.rstrip("/")
    return f"{root}/bot{{token}}/test" if settings.TELEGRAM_TEST_ENV else f"{root}/bot{{token}}"


def bot_base_file_url() -> str:
    root = settings.TELEGRAM_API_BASE_URL.rstrip("/")
    return f"{root}/file/bot{{token}}/test" if settings.TELEGRAM_TEST_ENV else f"{root}/file/bot{{token}}"


@dataclass(frozen=True)
class _Config:
    token: str
    base_url: str
    base_file_url: str
    max_per_second: float
    per_chat_per_second: float
    max_retries: int
    request_timeout: float

    @classmethod
    def from_settings(cls) -> _Config:
        if not telegram_configured():
            raise TelegramNotConfigured("TELEGRAM_BOT_TOKEN is not set")
        # getattr: these settings are optional, the defaults are Telegram's documented limits.
        return cls(
            token=settings.TELEGRAM_BOT_TOKEN,
            base_url=bot_base_url(),
            base_file_url=bot_base_file_url(),
            max_per_second=float(getattr(settings, "TELEGRAM_OUTBOUND_MAX_PER_SECOND", DEFAULT_MAX_PER_SECOND)),
            per_chat_per_second=float(
                getattr(settings, "TELEGRAM_OUTBOUND_PER_CHAT_PER_SECOND", DEFAULT_PER_CHAT_PER_SECOND)
            ),
            max_retries=max(int(getattr(settings, "TELEGRAM_OUTBOUND_MAX_RETRIES", DEFAULT_MAX_RETRIES)), 0),
            request_timeout=float(getattr(settings, "TELEGRAM_REQUEST_TIMEOUT", DEFAULT_REQUEST_TIMEOUT)),
        )


# -- values ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Button:
    """An inline keyboard button: exactly one of callback_data or url."""

    text: str
    callback_data: str | None = None
    url: str | None = None

    def __post_init__(self) -> None:
        if (self.callback_data is None) == (self.url is None):
            raise ValueError(f"Button {self.text!r} needs exactly one of callback_data or url")


Keyboard: TypeAlias = Sequence[Sequence[Button]]


@dataclass(frozen=True)
class SentPhoto:
    """A sent photo: its message, and the file id Telegram gave the picture (send that instead of
    the bytes to show the same picture again, in any chat of this bot, without uploading it)."""

    message_id: int
    file_id: str


@dataclass(frozen=True)
class StarTransaction:
    """One entry of the bot's Star account: an incoming payment or an outgoing refund."""

    id: str
    amount: int
    date: dt.datetime
    incoming: bool
    partner_user_id: int | None
    invoice_payload: str | None
    subscription_period: int | None  # seconds

    @classmethod
    def from_ptb(cls, transaction: PTBStarTransaction) -> StarTransaction:
        incoming = transaction.source is not None
        partner = transaction.source if incoming else transaction.receiver
        user_id = payload = period = None
        if isinstance(partner, TransactionPartnerUser):
            user_id, payload = partner.user.id, partner.invoice_payload
            period = _seconds(partner.subscription_period)
        return cls(
            id=transaction.id,
            amount=int(transaction.amount),
            date=transaction.date,
            incoming=incoming,
            partner_user_id=user_id,
            invoice_payload=payload,
            subscription_period=period,
        )


def _seconds(value: dt.timedelta | float | None) -> int | None:
    # PTB 22 holds periods as timedelta; older versions (and PTB_TIMEDELTA=false paths) give ints.
    if value is None:
        return None
    if isinstance(value, dt.timedelta):
        return int(value.total_seconds())
    return int(value)


@dataclass(frozen=True)
class BotIdentity:
    """getMe: who the bot is."""

    id: int
    username: str
    first_name: str


@dataclass(frozen=True)
class ChatInfo:
    """getChat, the parts the shop reads."""

    id: int
    type: str
    title: str
    username: str
    invite_link: str  # only for chats where the bot may see it (an admin)


# ChatMember statuses that count as being in the chat; "restricted" counts when is_member is true.
MEMBER_STATUSES = frozenset({"creator", "administrator", "member"})


@dataclass(frozen=True)
class ChatMembership:
    """getChatMember: the user's status in the chat ("creator", "administrator", "member",
    "restricted", "left", "kicked") and whether that means they are in it."""

    status: str
    is_member: bool


# -- errors ------------------------------------------------------------------------------------


class TelegramError(Exception):
    """Base of everything a call raises for a Telegram-side reason."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class TelegramNotConfigured(TelegramError):
    """No TELEGRAM_BOT_TOKEN: the shop runs on mock payments."""


class TelegramUnavailable(TelegramError):
    """Network error, timeout or a 5xx: the request may not have arrived; worth retrying later."""


class TelegramTimedOut(TelegramUnavailable):
    """No answer in time (or the call was cut off): Telegram may or may not have carried it out.
    A caller that must not repeat a message (a broadcast) treats it as possibly delivered."""


class TelegramRateLimited(TelegramUnavailable):
    """A 429 still there after the in-call retries; retry after `retry_after` seconds."""

    def __init__(self, description: str, retry_after: float) -> None:
        super().__init__(description)
        self.retry_after = retry_after

    def __reduce__(self) -> tuple[type, tuple[str, float]]:
        # Picklable with both arguments (Celery moves exceptions between processes).
        return self.__class__, (self.description, self.retry_after)


class TelegramRejected(TelegramError):
    """Telegram refused the request itself (4xx): retrying the same request will not help."""


class TelegramBlocked(TelegramRejected):
    """403 Forbidden: the user blocked the bot or the account is deactivated."""


class ChargeAlreadyRefunded(TelegramRejected):
    """refundStarPayment for a charge that was refunded before."""


_NOT_ALNUM = re.compile(r"[\s_]+")


def _is_already_refunded(description: str) -> bool:
    # "Bad Request: CHARGE_ALREADY_REFUNDED"; PTB turns it into "Charge_already_refunded".
    return "chargealreadyrefunded" in _NOT_ALNUM.sub("", description.lower())


def _retry_after_seconds(exc: ptb_error.RetryAfter) -> float:
    # PTB 22.8's public `retry_after` warns (PTBDeprecationWarning) and is an int or a timedelta
    # depending on the PTB_TIMEDELTA environment variable; the timedelta it keeps in
    # `_retry_after` is what AIORateLimiter itself sleeps on. Fall back to the public one.
    value: Any = getattr(exc, "_retry_after", None)
    if not isinstance(value, dt.timedelta):
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


def _translate(exc: ptb_error.TelegramError, *, method: str, token: str) -> TelegramError:
    """PTB's exception as one of ours. The token never goes into a description (logs, Sentry)."""
    description = str(exc).replace(token, "<token>") or type(exc).__name__
    if isinstance(exc, ptb_error.RetryAfter):
        return TelegramRateLimited(description, retry_after=_retry_after_seconds(exc))
    if isinstance(exc, ptb_error.Forbidden):
        return TelegramBlocked(description)
    if isinstance(exc, ptb_error.BadRequest):  # before NetworkError: BadRequest subclasses it
        if method == "refundStarPayment" and _is_already_refunded(description):
            return ChargeAlreadyRefunded(description)
        return TelegramRejected(description)
    if isinstance(
        exc, ptb_error.InvalidToken | ptb_error.Conflict | ptb_error.ChatMigrated | ptb_error.EndPointNotFound
    ):
        return TelegramRejected(description)
    if isinstance(exc, ptb_error.TimedOut):  # before NetworkError, its base class
        return TelegramTimedOut(description)
    if isinstance(exc, ptb_error.NetworkError):  # 5xx, connection errors
        return TelegramUnavailable(description)
    return TelegramError(description)


# -- the client --------------------------------------------------------------------------------


def _markup(buttons: Keyboard | None) -> InlineKeyboardMarkup | None:
    if not buttons:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(b.text, callback_data=b.callback_data, url=b.url) for b in row] for row in buttons]
    )


class _CountingRateLimiter(AIORateLimiter):
    """AIORateLimiter that counts every 429 it meets (each is waited out and retried)."""

    async def _run_request(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super()._run_request(*args, **kwargs)
        except ptb_error.RetryAfter:
            TELEGRAM_RATE_LIMITED.labels(where="client").inc()
            raise


class TelegramClient:
    """Use `client()`, not this constructor: one client per process shares the pool and the limits."""

    def __init__(self, config: _Config) -> None:
        self.config = config
        self.pid = os.getpid()
        timeout = config.request_timeout
        self._request = HTTPXRequest(
            connection_pool_size=POOL_SIZE,
            connect_timeout=timeout,
            read_timeout=timeout,
            write_timeout=timeout,
            pool_timeout=timeout,
            media_write_timeout=timeout,
        )
        # PTB insists on a separate request object for getUpdates; this client never polls.
        self._updates_request = HTTPXRequest(connection_pool_size=1, connect_timeout=timeout, read_timeout=timeout)
        self._bot: ExtBot[int] = ExtBot(
            token=config.token,
            base_url=config.base_url,
            base_file_url=config.base_file_url,
            request=self._request,
            get_updates_request=self._updates_request,
            rate_limiter=_CountingRateLimiter(
                overall_max_rate=max(config.max_per_second, 0),
                overall_time_period=1,
                max_retries=config.max_retries,
            ),
        )
        # Per-chat limiters, touched only on the loop thread (no lock); least recently used first.
        self._chat_limiters: OrderedDict[int, AsyncLimiter] = OrderedDict()
        self._initialized = False
        self._init_lock: asyncio.Lock | None = None
        # Worst case per call: every attempt times out, plus waits for 429s and the limiters.
        self.wait_timeout = timeout * (config.max_retries + 1) + QUEUE_AND_RETRY_MARGIN
        self._closed = False
        self._close_lock = threading.Lock()  # guards _closed and _waiting
        self._waiting: set[concurrent.futures.Future[Any]] = set()  # sync callers still waiting
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run_loop, name="telegram-client", daemon=True)
        self._thread.start()

    @property
    def closed(self) -> bool:
        return self._closed

    # -- the Bot API -----------------------------------------------------------------------

    def send_message(
        self,
        *,
        chat_id: int,
        text: str,
        buttons: Keyboard | None = None,
        parse_mode: str | None = "HTML",
        disable_preview: bool = True,
        message_thread_id: int | None = None,
    ) -> int:
        """Returns the sent message's id. `message_thread_id`: a forum supergroup's topic."""
        message = self._run(
            "sendMessage",
            lambda bot: bot.send_message(
                chat_id=chat_id,
                text=text,
                parse_mode=parse_mode,
                reply_markup=_markup(buttons),
                link_preview_options=LinkPreviewOptions(is_disabled=True) if disable_preview else None,
                message_thread_id=message_thread_id,
            ),
            chat_id=chat_id,
        )
        return message.message_id

    def send_photo(
        self,
        *,
        chat_id: int,
        photo: bytes | str,
        caption: str = "",
        buttons: Keyboard | None = None,
        parse_mode: str | None = "HTML",
        filename: str = "qr.png",
    ) -> SentPhoto:
        """Uploads `photo` (bytes, multipart) or sends it by a file id Telegram gave before (str)."""
        message = self._run(
            "sendPhoto",
            lambda bot: bot.send_photo(
                chat_id=chat_id,
                photo=photo,
                filename=filename if isinstance(photo, bytes) else None,
                caption=caption or None,
                parse_mode=parse_mode if caption else None,
                reply_markup=_markup(buttons),
            ),
            chat_id=chat_id,
        )
        # Telegram answers with every size it made; the largest is the picture as uploaded.
        largest = max(message.photo, key=lambda size: size.width * size.height)
        return SentPhoto(message_id=message.message_id, file_id=largest.file_id)

    def refund_star_payment(self, *, user_id: int, charge_id: str) -> None:
        """Raises ChargeAlreadyRefunded when Telegram already refunded this charge."""
        self._run(
            "refundStarPayment",
            lambda bot: bot.refund_star_payment(user_id=user_id, telegram_payment_charge_id=charge_id),
        )

    def create_invoice_link(
        self,
        *,
        title: str,
        description: str,
        payload: str,
        amount: int,
        label: str,
        subscription_period: int | None = None,
    ) -> str:
        """A link to an invoice in Stars; `subscription_period` (seconds, Telegram takes 30 days only)
        makes it a Star subscription."""
        period = dt.timedelta(seconds=subscription_period) if subscription_period is not None else None
        return self._run(
            "createInvoiceLink",
            lambda bot: bot.create_invoice_link(
                title=title[:TITLE_MAX],
                description=description[:DESCRIPTION_MAX],
                payload=payload,
                currency=CURRENCY,
                prices=[LabeledPrice(label=label[:LABEL_MAX], amount=amount)],
                subscription_period=period,
            ),
        )

    def get_me(self) -> BotIdentity:
        me = self._run("getMe", lambda bot: bot.get_me())
        return BotIdentity(id=me.id, username=me.username or "", first_name=me.first_name or "")

    def get_chat(self, *, chat_id: int | str) -> ChatInfo:
        chat = self._run("getChat", lambda bot: bot.get_chat(chat_id=chat_id))
        return ChatInfo(
            id=chat.id,
            type=str(chat.type),
            title=chat.title or "",
            username=chat.username or "",
            invite_link=chat.invite_link or "",
        )

    def get_chat_member(self, *, chat_id: int | str, user_id: int) -> ChatMembership:
        member = self._run("getChatMember", lambda bot: bot.get_chat_member(chat_id=chat_id, user_id=user_id))
        return membership_of(member)

    def get_my_star_balance(self) -> int:
        balance = self._run("getMyStarBalance", lambda bot: bot.get_my_star_balance())
        return int(balance.amount)

    def get_star_transactions(self, *, offset: int = 0, limit: int = 100) -> list[StarTransaction]:
        """Newest first, as Telegram pages them."""
        page = self._run("getStarTransactions", lambda bot: bot.get_star_transactions(offset=offset, limit=limit))
        return [StarTransaction.from_ptb(t) for t in page.transactions]

    def edit_user_star_subscription(self, *, user_id: int, charge_id: str, is_canceled: bool) -> None:
        self._run(
            "editUserStarSubscription",
            lambda bot: bot.edit_user_star_subscription(
                user_id=user_id, telegram_payment_charge_id=charge_id, is_canceled=is_canceled
            ),
        )

    # -- running on the loop ---------------------------------------------------------------

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_forever()
        finally:
            # Calls that started after close() collected the tasks: cancel them too.
            leftover = asyncio.all_tasks(self._loop)
            for task in leftover:
                task.cancel()
            self._loop.run_until_complete(asyncio.gather(*leftover, return_exceptions=True))
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()

    def _run(
        self, method: str, call: Callable[[ExtBot[int]], Coroutine[Any, Any, T]], *, chat_id: int | None = None
    ) -> T:
        """Run `call(bot)` on the client's loop and wait for it from this (any other) thread."""
        if threading.get_ident() == self._thread.ident:
            raise RuntimeError(
                f"TelegramClient.{method} is synchronous and was called on the client's own event loop "
                "thread, where it would wait for itself forever; call it from another thread"
            )
        if self.pid != os.getpid():
            raise RuntimeError("this TelegramClient belongs to the parent process; call client() after a fork")
        with self._close_lock:
            # Checked and submitted under the lock, so close() sees every future it must release.
            if self._closed:
                raise TelegramUnavailable(f"{method}: the Telegram client is closed")
            future = asyncio.run_coroutine_threadsafe(self._call(method, call, chat_id), self._loop)
            self._waiting.add(future)
        try:
            return future.result(timeout=self.wait_timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TelegramTimedOut(f"{method}: no answer within {self.wait_timeout:.0f} s") from None
        except concurrent.futures.CancelledError:
            raise TelegramTimedOut(f"{method}: the Telegram client was closed during the call") from None
        finally:
            with self._close_lock:
                self._waiting.discard(future)

    async def _call(self, method: str, call: Callable[[ExtBot[int]], Coroutine[Any, Any, T]], chat_id: int | None) -> T:
        try:
            await self._ensure_initialized()
            if chat_id is None or self.config.per_chat_per_second <= 0:
                return await call(self._bot)
            # The per-chat slot is taken before AIORateLimiter's overall one, so a busy chat waits
            # without holding back messages to other chats.
            async with self._chat_limiter(chat_id):
                return await call(self._bot)
        except ptb_error.TelegramError as exc:
            raise _translate(exc, method=method, token=self.config.token) from exc

    async def _ensure_initialized(self) -> None:
        # Lazily, so building the client never touches the network: one getMe per client, and a
        # failed one is tried again by the next call.
        if self._initialized:
            return
        if self._init_lock is None:
            self._init_lock = asyncio.Lock()
        async with self._init_lock:
            if not self._initialized:
                await self._bot.initialize()
                self._initialized = True

    def _chat_limiter(self, chat_id: int) -> AsyncLimiter:
        limiter = self._chat_limiters.get(chat_id)
        if limiter is not None:
            self._chat_limiters.move_to_end(chat_id)
            return limiter
        if len(self._chat_limiters) >= MAX_CHAT_LIMITERS:
            self._drop_chat_limiters()
        rate = self.config.per_chat_per_second
        # AsyncLimiter cannot hand out a whole slot when max_rate < 1: express 0.5/s as 1 per 2 s.
        limiter = AsyncLimiter(rate, 1) if rate >= 1 else AsyncLimiter(1, 1 / rate)
        self._chat_limiters[chat_id] = limiter
        return limiter

    def _drop_chat_limiters(self) -> None:
        # An idle limiter (empty bucket) remembers nothing, so dropping it changes no timing.
        for chat_id, limiter in list(self._chat_limiters.items()):
            if limiter.has_capacity(limiter.max_rate):
                del self._chat_limiters[chat_id]
        # All busy (thousands of chats within a second): forget the least recently used anyway;
        # a bounded dict matters more than one extra message in a chat.
        while len(self._chat_limiters) >= MAX_CHAT_LIMITERS:
            self._chat_limiters.popitem(last=False)

    # -- shutdown --------------------------------------------------------------------------

    def close(self) -> None:
        """Cancel calls in flight (their callers get TelegramUnavailable), close the HTTP pools and
        stop the loop thread. Idempotent."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        if self.pid != os.getpid():
            return  # a forked child: the loop thread and the sockets are the parent's, leave them
        if threading.get_ident() == self._thread.ident:
            self._loop.create_task(self._shutdown(stop=True))
            return
        if not self._thread.is_alive():
            return
        future = asyncio.run_coroutine_threadsafe(self._shutdown(stop=False), self._loop)
        try:
            future.result(timeout=CLOSE_TIMEOUT)
        except (
            concurrent.futures.TimeoutError,
            concurrent.futures.CancelledError,
            ptb_error.TelegramError,
            OSError,
            RuntimeError,
        ):
            logger.warning("Telegram client did not shut down cleanly", exc_info=True)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=CLOSE_TIMEOUT)
            # A call submitted just before close() whose task never started would wait forever.
            with self._close_lock:
                stranded = list(self._waiting)
            for waiting in stranded:
                waiting.cancel()

    async def _shutdown(self, *, stop: bool) -> None:
        current = asyncio.current_task()
        pending = [task for task in asyncio.all_tasks() if task is not current]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await self._bot.shutdown()
        # Also when no call ever initialized the bot (then bot.shutdown() skips them).
        await asyncio.gather(self._request.shutdown(), self._updates_request.shutdown())
        if stop:
            self._loop.stop()


def membership_of(member: Any) -> ChatMembership:
    """A PTB ChatMember as the statuses the Bot API names (a restricted user may be in the chat or not)."""
    status = str(member.status)
    is_member = status in MEMBER_STATUSES or (status == "restricted" and bool(getattr(member, "is_member", False)))
    return ChatMembership(status=status, is_member=is_member)


BOT_USERNAME_CACHE_KEY = "telegram:bot_username"
BOT_USERNAME_CACHE_SECONDS = 24 * 3600


def bot_username() -> str | None:
    """The bot's @username without the @ (for t.me links outside the bot process): getMe once a
    day at most; None when Telegram is not configured or does not answer."""
    if not telegram_configured():
        return None
    key = f"{BOT_USERNAME_CACHE_KEY}:{settings.TELEGRAM_BOT_TOKEN.split(':', 1)[0]}"  # the bot's id
    cached = cache.get(key)
    if cached:
        return cached
    try:
        username = client().get_me().username
    except TelegramError:
        logger.warning("getMe failed: the bot's username is unknown for now", exc_info=True)
        return None
    if username:
        cache.set(key, username, BOT_USERNAME_CACHE_SECONDS)
    return username or None


# -- the process-wide client -------------------------------------------------------------------

_lock = threading.Lock()
_client: TelegramClient | None = None


def client() -> TelegramClient:
    """This process's client, built on first use and rebuilt after a fork or when the Telegram
    settings changed. Raises TelegramNotConfigured without a token."""
    global _client
    config = _Config.from_settings()
    with _lock:
        current = _client
        if current is not None and current.pid == os.getpid() and current.config == config and not current.closed:
            return current
        fresh = _client = TelegramClient(config)
    if current is not None and current.pid == os.getpid():
        current.close()
    return fresh


def reset_client() -> None:
    """Close this process's client; the next client() builds a new one (tests, shutdown)."""
    global _client
    with _lock:
        current, _client = _client, None
    if current is not None:
        current.close()


def _forget_after_fork() -> None:
    # The child inherits the parent's client object but not its loop thread, and the lock may have
    # been held by a thread that does not exist here.
    global _client, _lock
    _client = None
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)
