"""A fake Telegram Bot API server for tests and benchmarks (real HTTP on 127.0.0.1).

    server = FakeTelegramServer().start()       # or the `fake_telegram` pytest fixture
    server.base_url                              # "http://127.0.0.1:PORT" (TELEGRAM_API_BASE_URL)
    server.token                                 # "123456:TEST-TOKEN"; any other token -> 401
    server.ptb_base_url                          # for telegram.Bot(token, base_url=...): "<base_url>/bot"
    ...
    server.stop()

Requests: `GET|POST /bot<token>/<method>` and `/bot<token>/test/<method>` (test environment),
parameters as a query string, form (urlencoded or multipart, non-string values JSON-encoded:
what python-telegram-bot sends) or a JSON body. Answers `{"ok": true, "result": ...}` or
`{"ok": false, "error_code": N, "description": "..."}`; unknown method -> 404 "Not Found".

Methods: getMe, getUpdates (long poll; offset confirms earlier updates; allowed_updates kept like
Telegram; 409 while a webhook is set), setWebhook (https only) / deleteWebhook / getWebhookInfo,
setMyCommands / getMyCommands / deleteMyCommands, sendMessage, sendPhoto (an uploaded image,
file_id or URL; caption <= 1024), editMessageText / editMessageReplyMarkup (Telegram's errors:
"Bad Request: message is not modified: ..." for the same content and keyboard, "Bad Request:
message to edit not found", "Bad Request: there is no text in the message to edit"), deleteMessage,
answerCallbackQuery, sendInvoice / createInvoiceLink (XTR rules: currency XTR, one price, title
1-32, description 1-255, payload 1-128 bytes, no provider token, subscription_period 2592000 only),
answerPreCheckoutQuery (once per query), refundStarPayment (repeat -> "Bad Request:
CHARGE_ALREADY_REFUNDED"), getStarTransactions (newest first, offset/limit <= 100), getMyStarBalance,
editUserStarSubscription (the charge must be that user's payment, else "Bad Request:
CHARGE_ID_INVALID"), getChat / getChatMember / getChatAdministrators (channels and groups added
with `add_chat`, see below), logOut/close. With parse_mode=HTML, texts and captions are checked like
Telegram does (only its tags; every other "<" and "&" escaped; "Bad Request: can't parse
entities: ...") and stored as sent.

Inspect: `calls(method=None)` -> [Call(method, params, at, test_env, status)],
`wait_for_call(method, timeout=5, predicate=None)`, `wait_for_calls(method, count)`,
`sent_messages(chat_id=None)` (Message dicts the bot sent, invoices and photos too), `sent_texts(chat_id)`,
`message(chat_id, message_id)` (one of them as edited since),
`sent_photos(chat_id=None)` (SentPhoto: chat_id, the uploaded bytes, filename, content type, caption,
message), `subscription_edits` (editUserStarSubscription calls that succeeded),
`wait_for_message(chat_id, predicate=None | contains="...")`, `invoices(chat_id=None)`,
`precheckout_answers`, `wait_for_precheckout_answer(query_id_or_update)`, `callback_answers`,
`webhook` (dict), `commands`, `star_transactions()`, `pending_updates()`, `confirmed_update_id`.

Inject updates (each returns the raw update dict, a `RawUpdate` with `.update_id` and `.query_id`;
`deliver=False` only builds it, for webhook tests that POST it themselves; `deliver(update)` queues
an update again, same update_id, or `new_id=True` for a copy under a fresh id): `inject_message(user, text)`,
`inject_command(user, "start", args="")`, `inject_callback(user, data, message_id=None)`,
`inject_pre_checkout(user, payload, total_amount, currency="XTR")`,
`inject_successful_payment(user, payload, amount, charge_id=None, currency="XTR")` (also a star
transaction), `inject_star_subscription_payment(user, payload, amount)` (the first payment of a Star
subscription, which the fake then keeps) and `renew_star_subscription(first_charge_id)` (the next
period's charge; ValueError once canceled with editUserStarSubscription; `star_subscription(id)`
inspects it), `inject_refunded_payment(user, payload, amount, charge_id)` (also a refund
transaction), `build_update(kind, body)`. `user` is a telegram id, a dict, or an object with
`telegram_id` (users.User). `add_star_transaction(user, payload, amount, charge_id=None,
refund=False, subscription_period=None)` records a transaction without an update (a lost update,
for reconciliation). Multipart file parts arrive in `Call.params` as `Upload` values.

Users who blocked the bot: `block(chat_id)` makes every send to that chat (sendMessage, sendPhoto,
sendInvoice) answer 403 "Forbidden: bot was blocked by the user" (`block(chat_id, description=
"Forbidden: user is deactivated")` for a deleted account), `unblock(chat_id)` lifts it.

Channels and groups (getChat, getChatMember, getChatAdministrators), after the Bot API's Chat,
ChatFullInfo and ChatMember objects (core.telegram.org/bots/api#chatmember: ChatMemberOwner
"creator", ChatMemberAdministrator "administrator", ChatMemberMember "member",
ChatMemberRestricted "restricted" with is_member, ChatMemberLeft "left", ChatMemberBanned
"kicked"): `add_chat(chat_id, username=None, title=..., type="channel", bot_status="administrator",
invite_link=None)`, `set_member(chat, user_id, status, is_member=True)` (`chat` is the id or
"@username"; anyone not set is "left"), `set_bot_status(chat, status)`. An unknown chat answers 400
"Bad Request: chat not found"; getChatMember about another user while the bot is not an
administrator answers 400 "Bad Request: member list is inaccessible" (what Telegram answers for a
channel; about the bot itself it always answers); an unknown user 400 "Bad Request: user not found"
is not modelled (every id is someone). The invite link is returned only to an administrator bot.

Failures: `fail_next(method, status=429, retry_after=1, times=1)`, `fail_next(method, status=500)`,
`fail_next(method, delay=2.0)` (slow answer, then the normal result; a reset() meanwhile drops it
unanswered and unrecorded, `wait_idle()` waits for answers in flight), `fail_next(..., status=400,
description="Bad Request: ...")`; method "*" matches any method; `when={"is_canceled": False}` fails
only the calls with those parameters. `reset()` forgets everything.
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

DEFAULT_TOKEN = "123456:TEST-TOKEN"
XTR = "XTR"
STAR_SUBSCRIPTION_PERIOD = 2592000
MAX_LONG_POLL = 50.0
COMMAND_NAME = re.compile(r"[a-z0-9_]{1,32}")
# PNG, JPEG, GIF, WebP (RIFF): what Telegram can turn into a photo.
IMAGE_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"RIFF")

# Parameters that are plain strings even when they look like JSON ("123", "true").
STRING_PARAMS = frozenset(
    {
        "text",
        "title",
        "description",
        "payload",
        "label",
        "caption",
        "url",
        "secret_token",
        "callback_query_id",
        "pre_checkout_query_id",
        "error_message",
        "telegram_payment_charge_id",
        "inline_message_id",
        "parse_mode",
        "start_parameter",
        "provider_token",
        "currency",
        "language_code",
        "ip_address",
        "business_connection_id",
        "photo_url",
    }
)
UPDATE_KINDS = (
    "message",
    "edited_message",
    "callback_query",
    "pre_checkout_query",
    "shipping_query",
    "my_chat_member",
    "purchased_paid_media",
)


class RawUpdate(dict):
    """A raw Telegram update (a dict) with shortcuts for tests."""

    @property
    def update_id(self) -> int:
        return self["update_id"]

    @property
    def query_id(self) -> str | None:
        for kind in ("pre_checkout_query", "callback_query"):
            if kind in self:
                return self[kind]["id"]
        return None

    @property
    def kind(self) -> str:
        return next(key for key in self if key != "update_id")

    @property
    def charge_id(self) -> str | None:
        """The telegram_payment_charge_id of a successful_payment update."""
        paid = self.get("message", {}).get("successful_payment")
        return paid["telegram_payment_charge_id"] if paid else None


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float  # time.monotonic()
    test_env: bool = False
    status: int = 200


@dataclass(frozen=True)
class Upload:
    """A file part of a multipart request (what python-telegram-bot sends for bytes or a file)."""

    filename: str
    content_type: str
    data: bytes


@dataclass
class SentPhoto:
    chat_id: int
    data: bytes | None  # None when the photo was a file_id or URL
    filename: str | None
    content_type: str | None
    caption: str | None
    message: dict


@dataclass
class Failure:
    status: int | None
    retry_after: int | None
    delay: float
    description: str | None
    times: int
    when: dict[str, Any] | None = None  # only calls whose parameters include these values


@dataclass
class PrecheckoutAnswer:
    query_id: str
    ok: bool
    error_message: str | None
    injected_at: float
    answered_at: float

    @property
    def latency(self) -> float:
        return self.answered_at - self.injected_at


class ApiError(Exception):
    def __init__(self, status: int, description: str, parameters: dict | None = None):
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


def bad_request(text: str) -> ApiError:
    return ApiError(400, f"Bad Request: {text}")


# Telegram's own words for the two edit failures a bot must expect.
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the same as a current "
    "content and reply markup of the message"
)
EDIT_NOT_FOUND = "message to edit not found"
NO_TEXT_TO_EDIT = "there is no text in the message to edit"

# parse_mode=HTML as Telegram reads it: these tags only, every other "<" and "&" escaped.
HTML_TAGS = frozenset(
    {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a", "code", "pre"}
    | {"blockquote", "tg-emoji"}
)
# Attributes with a quoted value, or none (<blockquote expandable>).
HTML_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)((?:\s+[A-Za-z-]+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'))?)*)\s*>")
HTML_ENTITY = re.compile(r"&(?:lt|gt|amp|quot|#\d{1,7}|#x[0-9A-Fa-f]{1,6});")


def check_html(text: str) -> None:
    """Raise Telegram's "can't parse entities" for text it would refuse with parse_mode=HTML."""
    open_tags: list[str] = []
    at = 0
    while at < len(text):
        char = text[at]
        if char == "<":
            tag = HTML_TAG.match(text, at)
            offset = len(text[:at].encode())
            if tag is None or tag.group(2).lower() not in HTML_TAGS:
                name = tag.group(2) if tag else text[at + 1 : at + 2]
                raise bad_request(f'can\'t parse entities: Unsupported start tag "{name}" at byte offset {offset}')
            closing, name = tag.group(1) == "/", tag.group(2).lower()
            if closing:
                if not open_tags or open_tags[-1] != name:
                    raise bad_request(
                        f'can\'t parse entities: Unmatched end tag at byte offset {offset}, expected "</{name}>"'
                    )
                open_tags.pop()
            else:
                open_tags.append(name)
            at = tag.end()
        elif char == "&":
            entity = HTML_ENTITY.match(text, at)
            if entity is None:
                offset = len(text[:at].encode())
                raise bad_request(f"can't parse entities: Unsupported HTML entity at byte offset {offset}")
            at = entity.end()
        else:
            at += 1
    if open_tags:
        raise bad_request(f"can't parse entities: Can't find end tag corresponding to start tag \"{open_tags[-1]}\"")


def check_parse_mode(params: dict, key: str = "text") -> None:
    mode = params.get("parse_mode")
    if mode and str(mode).upper() == "HTML" and params.get(key):
        check_html(str(params[key]))


@dataclass
class FakeChat:
    """A channel or group the fake knows: the bot's own status in it and its members' statuses."""

    id: int
    type: str
    title: str
    username: str | None
    bot_status: str
    invite_link: str | None
    members: dict[int, tuple[str, bool]] = field(default_factory=dict)  # user id -> (status, is_member)


@dataclass
class _State:
    calls: list[Call] = field(default_factory=list)
    updates: list[RawUpdate] = field(default_factory=list)
    confirmed_update_id: int = 0
    allowed_updates: list[str] | None = None
    webhook: dict[str, Any] = field(default_factory=dict)
    commands: dict[tuple[str, str], list[dict]] = field(default_factory=dict)
    messages: dict[tuple[int, int], dict] = field(default_factory=dict)
    sent: list[dict] = field(default_factory=list)
    invoices: list[dict] = field(default_factory=list)
    invoice_links: list[dict] = field(default_factory=list)
    photos: list[SentPhoto] = field(default_factory=list)
    subscription_edits: list[dict] = field(default_factory=list)
    # Star subscriptions by their first charge id: user, payload, amount, expires (unix), canceled, charges.
    star_subscriptions: dict[str, dict] = field(default_factory=dict)
    callback_queries: dict[str, float] = field(default_factory=dict)
    callback_answers: dict[str, dict] = field(default_factory=dict)
    precheckout_queries: dict[str, float] = field(default_factory=dict)
    precheckout_answers: dict[str, PrecheckoutAnswer] = field(default_factory=dict)
    transactions: list[dict] = field(default_factory=list)  # oldest first
    star_balance: int | None = None  # None: computed from transactions
    failures: dict[str, list[Failure]] = field(default_factory=dict)
    blocked: dict[int, str] = field(default_factory=dict)  # chat id -> Telegram's 403 description
    chats: dict[int, FakeChat] = field(default_factory=dict)  # channels and groups by id


BLOCKED_BY_USER = "Forbidden: bot was blocked by the user"
USER_DEACTIVATED = "Forbidden: user is deactivated"


class FakeTelegramServer:
    """See the module docstring."""

    def __init__(self, *, token: str = DEFAULT_TOKEN, host: str = "127.0.0.1", port: int = 0):
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self._host, self._port = host, port
        self._cond = threading.Condition(threading.RLock())
        self._state = _State()
        self._ids = itertools.count(1)
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._generation = 0  # bumped by reset() so sleeping long polls and delayed answers return
        self._in_flight = 0  # requests being answered (across resets)
        self.emit_refund_updates = False  # refundStarPayment also queues a refunded_payment message

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeTelegramServer:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._httpd = _Server((self._host, self._port), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="fake-telegram", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.reset()
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeTelegramServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._httpd, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def ptb_base_url(self) -> str:
        """For telegram.Bot(token, base_url=...) / ApplicationBuilder().base_url(...): PTB appends the token."""
        return f"{self.base_url}/bot"

    def reset(self) -> None:
        with self._cond:
            self._state = _State()
            self._generation += 1
            self.emit_refund_updates = False
            self._cond.notify_all()

    # -- inspection --------------------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[Call]:
        with self._cond:
            return [c for c in self._state.calls if method is None or c.method == method]

    def wait_for_call(self, method: str, timeout: float = 5.0, predicate: Callable[[Call], bool] | None = None) -> Call:
        """The first call of `method` (matching predicate(call)), waiting up to timeout seconds."""
        return self.wait_for_calls(method, 1, timeout=timeout, predicate=predicate)[0]

    def wait_for_calls(
        self, method: str, count: int, timeout: float = 5.0, predicate: Callable[[Call], bool] | None = None
    ) -> list[Call]:
        def matching() -> list[Call]:
            return [
                c
                for c in self._state.calls
                if c.method == method and c.status == 200 and (predicate is None or predicate(c))
            ]

        with self._cond:
            if not self._cond.wait_for(lambda: len(matching()) >= count, timeout=timeout):
                seen = [c.method for c in self._state.calls]
                raise TimeoutError(f"{count} x {method} not called within {timeout}s; calls: {seen}")
            return matching()[:count]

    def sent_messages(self, chat_id: int | None = None) -> list[dict]:
        """Messages the bot sent (sendMessage, sendInvoice), as Telegram Message dicts, oldest first;
        edits show the current text."""
        with self._cond:
            return [m for m in self._state.sent if chat_id is None or m["chat"]["id"] == int(chat_id)]

    def sent_texts(self, chat_id: int | None = None) -> list[str]:
        return [m["text"] for m in self.sent_messages(chat_id) if "text" in m]

    def message(self, chat_id: int, message_id: int) -> dict | None:
        """A message the bot sent, as it reads now (after its edits); None once deleted."""
        with self._cond:
            return self._state.messages.get((int(chat_id), int(message_id)))

    def wait_for_message(
        self,
        chat_id: int,
        predicate: Callable[[dict], bool] | None = None,
        *,
        contains: str | None = None,
        timeout: float = 5.0,
    ) -> dict:
        def find() -> dict | None:
            for message in self._state.sent:
                if message["chat"]["id"] != int(chat_id):
                    continue
                if contains is not None and contains not in message.get("text", ""):
                    continue
                if predicate is None or predicate(message):
                    return message
            return None

        with self._cond:
            if not self._cond.wait_for(lambda: find() is not None, timeout=timeout):
                raise TimeoutError(f"no matching message to {chat_id} in {timeout}s; sent: {self.sent_texts(chat_id)}")
            return find()

    def sent_photos(self, chat_id: int | None = None) -> list[SentPhoto]:
        """Successful sendPhoto calls, oldest first."""
        with self._cond:
            return [p for p in self._state.photos if chat_id is None or p.chat_id == int(chat_id)]

    @property
    def subscription_edits(self) -> list[dict]:
        """Successful editUserStarSubscription calls: {"user_id", "charge_id", "is_canceled"}."""
        with self._cond:
            return list(self._state.subscription_edits)

    def invoices(self, chat_id: int | None = None) -> list[dict]:
        """Parameters of successful sendInvoice calls (prices decoded)."""
        with self._cond:
            return [i for i in self._state.invoices if chat_id is None or i["chat_id"] == int(chat_id)]

    def star_subscription(self, first_charge_id: str) -> dict | None:
        """A Star subscription as Telegram holds it: user_id, payload, amount, expires (unix), canceled,
        charges (the first and each renewal's charge id)."""
        with self._cond:
            record = self._state.star_subscriptions.get(first_charge_id)
            return {**record, "charges": list(record["charges"])} if record else None

    @property
    def invoice_links(self) -> list[dict]:
        with self._cond:
            return list(self._state.invoice_links)

    @property
    def precheckout_answers(self) -> dict[str, PrecheckoutAnswer]:
        with self._cond:
            return dict(self._state.precheckout_answers)

    def wait_for_precheckout_answer(self, query: str | dict, timeout: float = 5.0) -> PrecheckoutAnswer:
        query_id = query if isinstance(query, str) else query["pre_checkout_query"]["id"]
        with self._cond:
            if not self._cond.wait_for(lambda: query_id in self._state.precheckout_answers, timeout=timeout):
                raise TimeoutError(f"pre-checkout query {query_id} not answered within {timeout}s")
            return self._state.precheckout_answers[query_id]

    @property
    def callback_answers(self) -> dict[str, dict]:
        with self._cond:
            return dict(self._state.callback_answers)

    @property
    def webhook(self) -> dict[str, Any]:
        with self._cond:
            return dict(self._state.webhook)

    @property
    def commands(self) -> dict[tuple[str, str], list[dict]]:
        """(scope type, language_code or "") -> [{"command", "description"}]"""
        with self._cond:
            return dict(self._state.commands)

    @property
    def confirmed_update_id(self) -> int:
        """Updates with an id up to this one were confirmed by a getUpdates offset."""
        with self._cond:
            return self._state.confirmed_update_id

    def pending_updates(self) -> list[RawUpdate]:
        with self._cond:
            return list(self._state.updates)

    def star_transactions(self) -> list[dict]:
        """Oldest first (getStarTransactions answers newest first)."""
        with self._cond:
            return list(self._state.transactions)

    def set_star_balance(self, amount: int | None) -> None:
        with self._cond:
            self._state.star_balance = amount

    # -- failures ----------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        status: int | None = None,
        *,
        retry_after: int | None = 1,
        delay: float = 0.0,
        times: int = 1,
        description: str | None = None,
        when: dict[str, Any] | None = None,
    ) -> None:
        """The next `times` calls of `method` ("*" = any) fail with `status` (default 429, which carries
        retry_after), or, with delay= and no status, answer normally after `delay` seconds. `when`
        picks the calls: only those whose parameters include these values (others answer normally)."""
        if status is None and not delay:
            status = 429
        with self._cond:
            self._state.failures.setdefault(method, []).append(
                Failure(
                    status=status,
                    retry_after=retry_after,
                    delay=delay,
                    description=description,
                    times=times,
                    when=when,
                )
            )

    def block(self, chat_id: int, description: str = BLOCKED_BY_USER) -> None:
        """The user blocked the bot (or, with USER_DEACTIVATED, deleted the account): sends answer 403."""
        with self._cond:
            self._state.blocked[int(chat_id)] = description

    def unblock(self, chat_id: int) -> None:
        with self._cond:
            self._state.blocked.pop(int(chat_id), None)

    def _check_reachable(self, chat_id: int) -> None:
        with self._cond:
            description = self._state.blocked.get(chat_id)
        if description is not None:
            raise ApiError(403, description)

    # -- channels and groups -------------------------------------------------------------------

    def add_chat(
        self,
        chat_id: int,
        *,
        username: str | None = None,
        title: str = "Shop news",
        type: str = "channel",  # noqa: A002 - the Bot API's field name
        bot_status: str = "administrator",
        invite_link: str | None = None,
    ) -> FakeChat:
        chat = FakeChat(
            id=int(chat_id),
            type=type,
            title=title,
            username=username.lstrip("@") if username else None,
            bot_status=bot_status,
            invite_link=invite_link,
        )
        with self._cond:
            self._state.chats[chat.id] = chat
        return chat

    def _chat(self, chat: int | str) -> FakeChat | None:
        with self._cond:
            if isinstance(chat, str) and chat.startswith("@"):
                name = chat[1:].lower()
                return next((c for c in self._state.chats.values() if (c.username or "").lower() == name), None)
            try:
                return self._state.chats.get(int(chat))
            except (TypeError, ValueError):
                return None

    def set_member(self, chat: int | str, user_id: int, status: str, *, is_member: bool = True) -> None:
        """The user's status in the chat: creator, administrator, member, restricted (with
        is_member), left or kicked."""
        found = self._chat(chat)
        assert found is not None, f"no chat {chat!r}: add_chat first"
        with self._cond:
            found.members[int(user_id)] = (status, is_member)

    def set_bot_status(self, chat: int | str, status: str) -> None:
        found = self._chat(chat)
        assert found is not None, f"no chat {chat!r}: add_chat first"
        with self._cond:
            found.bot_status = status

    def heal(self) -> None:
        """Drop the failures and delays not used up yet: the server answers normally again."""
        with self._cond:
            self._state.failures.clear()

    def _take_failure(self, method: str, params: dict[str, Any]) -> Failure | None:
        with self._cond:
            for key in (method, "*"):
                queue = self._state.failures.get(key) or []
                for index, failure in enumerate(queue):
                    if failure.when and any(params.get(k) != v for k, v in failure.when.items()):
                        continue
                    failure.times -= 1
                    if failure.times <= 0:
                        queue.pop(index)
                    return failure
        return None

    # -- injection ---------------------------------------------------------------------------

    def deliver(self, update: dict, *, new_id: bool = False) -> RawUpdate:
        """Queue an update for getUpdates: again with the same update_id (a redelivery), or with
        new_id=True as a copy under a fresh update_id (the same event in a second update)."""
        raw = RawUpdate(update)
        if new_id:
            raw["update_id"] = next(self._update_ids)
        with self._cond:
            self._state.updates.append(raw)
            self._cond.notify_all()
        return raw

    def build_update(self, kind: str, body: dict) -> RawUpdate:
        return RawUpdate({"update_id": next(self._update_ids), kind: body})

    def _emit(self, kind: str, body: dict, deliver: bool) -> RawUpdate:
        update = self.build_update(kind, body)
        if deliver:
            self.deliver(update)
        return update

    def user_dict(self, user: Any, **overrides: Any) -> dict:
        if isinstance(user, dict):
            data = dict(user)
        elif isinstance(user, int):
            data = {"id": user, "is_bot": False, "first_name": f"User{user}"}
        else:
            data = {
                "id": int(user.telegram_id),
                "is_bot": False,
                "first_name": getattr(user, "first_name", "") or "User",
            }
            if getattr(user, "telegram_username", ""):
                data["username"] = user.telegram_username
            if getattr(user, "language_code", ""):
                data["language_code"] = user.language_code
        data.setdefault("is_bot", False)
        data.setdefault("first_name", "User")
        data.update({k: v for k, v in overrides.items() if v is not None})
        return data

    def _private_chat(self, user: dict) -> dict:
        chat = {"id": user["id"], "type": "private", "first_name": user.get("first_name", "User")}
        if user.get("username"):
            chat["username"] = user["username"]
        return chat

    def _user_message(self, user: dict, **content: Any) -> dict:
        return {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": self._private_chat(user),
            "from": user,
            **content,
        }

    def inject_message(
        self, user: Any, text: str, *, language_code: str | None = None, deliver: bool = True
    ) -> RawUpdate:
        """A private text message; a leading /command gets its bot_command entity."""
        sender = self.user_dict(user, language_code=language_code)
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            command = text.split()[0]
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return self._emit("message", self._user_message(sender, **content), deliver)

    def inject_command(
        self, user: Any, command: str, args: str = "", *, language_code: str | None = None, deliver: bool = True
    ) -> RawUpdate:
        text = f"/{command.lstrip('/')}" + (f" {args}" if args else "")
        return self.inject_message(user, text, language_code=language_code, deliver=deliver)

    def inject_callback(
        self, user: Any, data: str, message_id: int | None = None, *, deliver: bool = True
    ) -> RawUpdate:
        """A button press on a bot message (by default the last one the bot sent to this user)."""
        sender = self.user_dict(user)
        chat_id = sender["id"]
        with self._cond:
            if message_id is None:
                own = [m for m in self._state.sent if m["chat"]["id"] == chat_id]
                message = own[-1] if own else None
            else:
                message = self._state.messages.get((chat_id, int(message_id)))
            if message is None:
                message = self._bot_message(chat_id, text="(message)", message_id=message_id)
            query_id = str(next(self._ids) + 10_000_000)
            self._state.callback_queries[query_id] = time.monotonic()
        body = {
            "id": query_id,
            "from": sender,
            "chat_instance": f"ci{chat_id}",
            "data": data,
            "message": dict(message),
        }
        return self._emit("callback_query", body, deliver)

    def inject_pre_checkout(
        self, user: Any, payload: str, total_amount: int, currency: str = XTR, *, deliver: bool = True
    ) -> RawUpdate:
        """Returns the update; its `.query_id` is what wait_for_precheckout_answer takes."""
        query_id = str(next(self._ids) + 20_000_000)
        with self._cond:
            self._state.precheckout_queries[query_id] = time.monotonic()
        body = {
            "id": query_id,
            "from": self.user_dict(user),
            "currency": currency,
            "total_amount": int(total_amount),
            "invoice_payload": payload,
        }
        return self._emit("pre_checkout_query", body, deliver)

    def inject_successful_payment(
        self,
        user: Any,
        payload: str,
        amount: int,
        charge_id: str | None = None,
        currency: str = XTR,
        *,
        provider_charge_id: str = "",
        subscription_expiration_date: int | None = None,
        is_recurring: bool | None = None,
        is_first_recurring: bool | None = None,
        deliver: bool = True,
    ) -> RawUpdate:
        """A successful_payment message; its charge is also recorded as a star transaction."""
        sender = self.user_dict(user)
        charge_id = charge_id or new_charge_id()
        payment: dict[str, Any] = {
            "currency": currency,
            "total_amount": int(amount),
            "invoice_payload": payload,
            "telegram_payment_charge_id": charge_id,
            "provider_payment_charge_id": provider_charge_id,
        }
        for key, value in (
            ("subscription_expiration_date", subscription_expiration_date),
            ("is_recurring", is_recurring),
            ("is_first_recurring", is_first_recurring),
        ):
            if value is not None:
                payment[key] = value
        if currency == XTR:
            self.add_star_transaction(sender, payload, amount, charge_id)
        return self._emit("message", self._user_message(sender, successful_payment=payment), deliver)

    def inject_star_subscription_payment(
        self, user: Any, payload: str, amount: int, *, charge_id: str | None = None, deliver: bool = True
    ) -> RawUpdate:
        """The first payment of a Star subscription (a subscription invoice link paid): Telegram
        keeps the subscription and charges it again every period (`renew_star_subscription`)."""
        charge_id = charge_id or new_charge_id()
        sender = self.user_dict(user)
        expires = int(time.time()) + STAR_SUBSCRIPTION_PERIOD
        with self._cond:
            self._state.star_subscriptions[charge_id] = {
                "user_id": sender["id"],
                "user": sender,
                "payload": payload,
                "amount": int(amount),
                "expires": expires,
                "canceled": False,
                "charges": [charge_id],
            }
        self.add_star_transaction(sender, payload, amount, charge_id, subscription_period=STAR_SUBSCRIPTION_PERIOD)
        return self.inject_successful_payment(
            sender,
            payload,
            amount,
            charge_id,
            subscription_expiration_date=expires,
            is_recurring=True,
            is_first_recurring=True,
            deliver=deliver,
        )

    def renew_star_subscription(
        self, first_charge_id: str, *, charge_id: str | None = None, deliver: bool = True
    ) -> RawUpdate:
        """Telegram charges the next period by itself: a new charge id, the first invoice's
        payload, is_recurring, a later expiration date; no pre-checkout. Refused (ValueError)
        for an unknown or canceled subscription, as Telegram charges nothing then."""
        charge_id = charge_id or new_charge_id()
        with self._cond:
            record = self._state.star_subscriptions.get(first_charge_id)
            if record is None or record["canceled"]:
                raise ValueError(f"no renewing Star subscription {first_charge_id!r}")
            record["expires"] += STAR_SUBSCRIPTION_PERIOD
            record["charges"].append(charge_id)
            sender, payload, amount, expires = record["user"], record["payload"], record["amount"], record["expires"]
        self.add_star_transaction(sender, payload, amount, charge_id, subscription_period=STAR_SUBSCRIPTION_PERIOD)
        return self.inject_successful_payment(
            sender, payload, amount, charge_id, subscription_expiration_date=expires, is_recurring=True, deliver=deliver
        )

    def inject_refunded_payment(
        self, user: Any, payload: str, amount: int, charge_id: str, currency: str = XTR, *, deliver: bool = True
    ) -> RawUpdate:
        """A refunded_payment message; also recorded as the refund transaction."""
        sender = self.user_dict(user)
        self.add_star_transaction(sender, payload, amount, charge_id, refund=True)
        refund = {
            "currency": currency,
            "total_amount": int(amount),
            "invoice_payload": payload,
            "telegram_payment_charge_id": charge_id,
        }
        return self._emit("message", self._user_message(sender, refunded_payment=refund), deliver)

    def add_star_transaction(
        self,
        user: Any,
        payload: str | None,
        amount: int,
        charge_id: str | None = None,
        *,
        refund: bool = False,
        date: int | None = None,
        subscription_period: int | None = None,
    ) -> dict:
        """Record a StarTransaction (incoming payment, or refund with the user as receiver) without
        any update. Recording the same (charge id, direction) twice keeps one. `subscription_period`
        (seconds) marks a payment for a Star subscription."""
        partner: dict[str, Any] = {"type": "user", "transaction_type": "invoice_payment", "user": self.user_dict(user)}
        if payload is not None:
            partner["invoice_payload"] = payload
        if subscription_period is not None:
            partner["subscription_period"] = int(subscription_period)
        transaction = {
            "id": charge_id or new_charge_id(),
            "amount": int(amount),
            "date": int(date if date is not None else time.time()),
            "receiver" if refund else "source": partner,
        }
        direction = "receiver" if refund else "source"
        with self._cond:
            for existing in self._state.transactions:
                if existing["id"] == transaction["id"] and direction in existing:
                    return existing
            self._state.transactions.append(transaction)
            self._cond.notify_all()
        return transaction

    # -- request handling --------------------------------------------------------------------

    def wait_idle(self, timeout: float = 5.0) -> None:
        """Wait until no request is being answered (a delayed one included)."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._in_flight == 0, timeout=timeout):
                raise TimeoutError(f"{self._in_flight} request(s) still being answered after {timeout}s")

    def handle(self, token: str, method: str, params: dict[str, Any], test_env: bool) -> tuple[int, dict]:
        with self._cond:
            self._in_flight += 1
            generation = self._generation
        try:
            return self._handle(token, method, params, test_env, generation)
        finally:
            with self._cond:
                self._in_flight -= 1
                self._cond.notify_all()

    def _handle(
        self, token: str, method: str, params: dict[str, Any], test_env: bool, generation: int
    ) -> tuple[int, dict]:
        if token != self.token:
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        status, body = 200, None
        failure = self._take_failure(method, params)
        if failure and failure.delay:
            with self._cond:
                self._cond.wait_for(lambda: self._generation != generation, timeout=failure.delay)
                if self._generation != generation:
                    # reset() during the delay: the request belongs to a finished test (its client
                    # gave up long ago), so it must not send or record anything in the next one.
                    return 503, {"ok": False, "error_code": 503, "description": "Service Unavailable: fake reset"}
        if failure and failure.status:
            status = failure.status
            if status == 429:
                body = {
                    "ok": False,
                    "error_code": 429,
                    "description": failure.description or f"Too Many Requests: retry after {failure.retry_after}",
                    "parameters": {"retry_after": failure.retry_after},
                }
            else:
                description = failure.description or HTTPStatus(status).phrase
                body = {"ok": False, "error_code": status, "description": description}
        else:
            handler = getattr(self, f"_api_{method.lower()}", None)
            if handler is None:
                status, body = 404, {"ok": False, "error_code": 404, "description": "Not Found"}
            else:
                try:
                    body = {"ok": True, "result": handler(params)}
                except ApiError as exc:
                    status = exc.status
                    body = {"ok": False, "error_code": exc.status, "description": exc.description}
                    if exc.parameters:
                        body["parameters"] = exc.parameters
        with self._cond:
            self._state.calls.append(
                Call(method=method, params=params, at=time.monotonic(), test_env=test_env, status=status)
            )
            self._cond.notify_all()
        return status, body

    def bot_user(self) -> dict:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "Fake Stars Shop",
            "username": "fake_stars_shop_bot",
            "can_join_groups": False,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    def _bot_message(self, chat_id: int, *, message_id: int | None = None, **content: Any) -> dict:
        markup = content.get("reply_markup")
        if not (isinstance(markup, dict) and "inline_keyboard" in markup):
            content.pop("reply_markup", None)  # like Telegram: a sent Message echoes only an inline keyboard
        message = {
            "message_id": message_id or next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": int(chat_id), "type": "private"},
            "from": self.bot_user(),
            **{k: v for k, v in content.items() if v is not None},
        }
        with self._cond:
            self._state.messages[(int(chat_id), message["message_id"])] = message
            self._state.sent.append(message)
        return message

    # The Bot API methods: _api_<lowercase name>(params) -> result, or raise ApiError.

    def _api_getme(self, params: dict) -> dict:
        return self.bot_user()

    def _api_logout(self, params: dict) -> bool:
        return True

    def _api_close(self, params: dict) -> bool:
        return True

    def _api_getupdates(self, params: dict) -> list[dict]:
        offset = int(params.get("offset") or 0)
        limit = max(1, min(int(params.get("limit") or 100), 100))
        timeout = min(float(params.get("timeout") or 0), MAX_LONG_POLL)
        deadline = time.monotonic() + timeout
        with self._cond:
            if self._state.webhook.get("url"):
                raise ApiError(
                    409,
                    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete "
                    "the webhook first",
                )
            if "allowed_updates" in params:
                self._state.allowed_updates = params["allowed_updates"] or None
            generation = self._generation
            while True:
                if offset:
                    # Like Telegram: an offset confirms every update below it.
                    self._state.updates = [u for u in self._state.updates if u.update_id >= offset]
                    self._state.confirmed_update_id = max(self._state.confirmed_update_id, offset - 1)
                ready = [u for u in self._state.updates if self._allowed(u)][:limit]
                remaining = deadline - time.monotonic()
                if ready or remaining <= 0 or generation != self._generation:
                    return [dict(u) for u in ready]
                self._cond.wait(remaining)

    def _allowed(self, update: RawUpdate) -> bool:
        allowed = self._state.allowed_updates
        return not allowed or update.kind in allowed

    def _api_setwebhook(self, params: dict) -> bool:
        url = params.get("url") or ""
        if not url:
            return self._api_deletewebhook(params)
        if not url.startswith("https://"):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and not (
            1 <= len(secret) <= 256 and all(ch.isalnum() or ch in "_-" for ch in secret) and secret.isascii()
        ):
            raise bad_request("secret token contains unallowed characters")
        with self._cond:
            if params.get("drop_pending_updates"):
                self._state.updates.clear()
            if "allowed_updates" in params:
                self._state.allowed_updates = params["allowed_updates"] or None
            self._state.webhook = {
                "url": url,
                "secret_token": secret,
                "allowed_updates": params.get("allowed_updates"),
                "max_connections": int(params.get("max_connections") or 40),
                "drop_pending_updates": bool(params.get("drop_pending_updates")),
            }
        return True

    def _api_deletewebhook(self, params: dict) -> bool:
        with self._cond:
            if params.get("drop_pending_updates"):
                self._state.updates.clear()
            self._state.webhook = {}
        return True

    def _api_getwebhookinfo(self, params: dict) -> dict:
        with self._cond:
            info: dict[str, Any] = {
                "url": self._state.webhook.get("url", ""),
                "has_custom_certificate": False,
                "pending_update_count": len(self._state.updates),
            }
            if self._state.webhook.get("url"):
                info["max_connections"] = self._state.webhook["max_connections"]
                if self._state.allowed_updates:
                    info["allowed_updates"] = list(self._state.allowed_updates)
        return info

    @staticmethod
    def _commands_key(params: dict) -> tuple[str, str]:
        scope = params.get("scope") or {}
        return (scope.get("type", "default") if isinstance(scope, dict) else "default", params.get("language_code", ""))

    def _api_setmycommands(self, params: dict) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise bad_request("commands must be a list of at most 100 BotCommand")
        for command in commands:
            name = str(command.get("command", "")) if isinstance(command, dict) else ""
            if not COMMAND_NAME.fullmatch(name) or not command.get("description"):
                raise bad_request("BOT_COMMAND_INVALID")
        with self._cond:
            self._state.commands[self._commands_key(params)] = commands
        return True

    def _api_getmycommands(self, params: dict) -> list[dict]:
        with self._cond:
            return list(self._state.commands.get(self._commands_key(params), []))

    def _api_deletemycommands(self, params: dict) -> bool:
        with self._cond:
            self._state.commands.pop(self._commands_key(params), None)
        return True

    @staticmethod
    def _chat_id(params: dict) -> int:
        try:
            return int(params["chat_id"])
        except (KeyError, TypeError, ValueError):
            raise bad_request("chat not found")

    def _api_sendmessage(self, params: dict) -> dict:
        chat_id = self._chat_id(params)
        self._check_reachable(chat_id)
        text = params.get("text")
        if not text or not str(text).strip():
            raise bad_request("message text is empty")
        if len(str(text)) > 4096:
            raise bad_request("message is too long")
        check_parse_mode(params)
        return self._bot_message(
            chat_id,
            text=str(text),
            reply_markup=params.get("reply_markup"),
            message_thread_id=params.get("message_thread_id"),
        )

    def _api_sendphoto(self, params: dict) -> dict:
        chat_id = self._chat_id(params)
        self._check_reachable(chat_id)
        photo = params.get("photo")
        if isinstance(photo, str) and photo.startswith("attach://"):
            photo = params.get(photo.removeprefix("attach://"))
        if not photo:
            raise bad_request("there is no photo in the request")
        if isinstance(photo, Upload) and not photo.data.startswith(IMAGE_SIGNATURES):
            raise bad_request("IMAGE_PROCESS_FAILED")
        caption = params.get("caption")
        if caption is not None and len(str(caption)) > 1024:
            raise bad_request("message caption is too long")
        check_parse_mode(params, "caption")
        size = len(photo.data) if isinstance(photo, Upload) else 0
        unique = secrets.token_hex(8)
        sizes = [
            {
                "file_id": f"AgAC{unique}{suffix}",
                "file_unique_id": f"AQAD{unique}{suffix}",
                "width": side,
                "height": side,
                "file_size": size,
            }
            for suffix, side in (("s", 90), ("m", 320))
        ]
        message = self._bot_message(
            chat_id, photo=sizes, caption=str(caption) if caption else None, reply_markup=params.get("reply_markup")
        )
        with self._cond:
            self._state.photos.append(
                SentPhoto(
                    chat_id=chat_id,
                    data=photo.data if isinstance(photo, Upload) else None,
                    filename=photo.filename if isinstance(photo, Upload) else None,
                    content_type=photo.content_type if isinstance(photo, Upload) else None,
                    caption=str(caption) if caption else None,
                    message=message,
                )
            )
        return message

    def _edited_message(self, params: dict) -> dict | bool:
        """The message an edit names, like Telegram: an unknown (or deleted) one is an error."""
        if params.get("inline_message_id"):
            return True
        chat_id = self._chat_id(params)
        try:
            message_id = int(params["message_id"])
        except (KeyError, TypeError, ValueError):
            raise bad_request("message identifier is not specified")
        with self._cond:
            message = self._state.messages.get((chat_id, message_id))
        if message is None:
            raise bad_request(EDIT_NOT_FOUND)
        return message

    @staticmethod
    def _markup_of(params: dict) -> dict | None:
        markup = params.get("reply_markup")
        return markup if isinstance(markup, dict) and markup.get("inline_keyboard") else None

    def _api_editmessagetext(self, params: dict) -> dict | bool:
        text = params.get("text")
        if not text or not str(text).strip():
            raise bad_request("message text is empty")
        if len(str(text)) > 4096:
            raise bad_request("message is too long")
        check_parse_mode(params)
        message = self._edited_message(params)
        if isinstance(message, dict):
            with self._cond:
                if "text" not in message:
                    raise bad_request(NO_TEXT_TO_EDIT)
                markup = self._markup_of(params)
                if message["text"] == str(text) and message.get("reply_markup") == markup:
                    raise bad_request(NOT_MODIFIED)
                message["text"] = str(text)
                message["edit_date"] = int(time.time())
                message.pop("reply_markup", None)
                if markup:
                    message["reply_markup"] = markup
        return message

    def _api_editmessagereplymarkup(self, params: dict) -> dict | bool:
        message = self._edited_message(params)
        if isinstance(message, dict):
            with self._cond:
                markup = self._markup_of(params)
                if message.get("reply_markup") == markup:
                    raise bad_request(NOT_MODIFIED)
                message.pop("reply_markup", None)
                if markup:
                    message["reply_markup"] = markup
                message["edit_date"] = int(time.time())
        return message

    def _api_deletemessage(self, params: dict) -> bool:
        chat_id = self._chat_id(params)
        with self._cond:
            message = self._state.messages.pop((chat_id, int(params.get("message_id") or 0)), None)
            if message is not None and message in self._state.sent:
                self._state.sent.remove(message)
        return True

    def _api_answercallbackquery(self, params: dict) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        with self._cond:
            if query_id not in self._state.callback_queries or query_id in self._state.callback_answers:
                raise bad_request("query is too old and response timeout expired or query ID is invalid")
            self._state.callback_answers[query_id] = dict(params)
        return True

    def _validate_invoice(self, params: dict) -> int:
        """XTR rules; returns the price in Stars."""
        title, description = params.get("title") or "", params.get("description") or ""
        payload = params.get("payload") or ""
        if not 1 <= len(title) <= 32:
            raise bad_request("invoice title must be 1-32 characters")
        if not 1 <= len(description) <= 255:
            raise bad_request("invoice description must be 1-255 characters")
        if not 1 <= len(payload.encode()) <= 128:
            raise bad_request("invoice payload must be 1-128 bytes")
        if params.get("currency") != XTR:
            raise bad_request("CURRENCY_INVALID: digital goods are paid in XTR")
        if params.get("provider_token"):
            raise bad_request("PAYMENT_PROVIDER_INVALID: no provider token for payments in Telegram Stars")
        prices = params.get("prices")
        if not isinstance(prices, list) or len(prices) != 1:
            raise bad_request("exactly one price must be given for payments in Telegram Stars")
        amount = prices[0].get("amount") if isinstance(prices[0], dict) else None
        if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0 or not prices[0].get("label"):
            raise bad_request("CURRENCY_TOTAL_AMOUNT_INVALID")
        return amount

    def _api_sendinvoice(self, params: dict) -> dict:
        chat_id = self._chat_id(params)
        self._check_reachable(chat_id)
        amount = self._validate_invoice(params)
        if params.get("subscription_period"):
            raise bad_request("subscription_period is supported only by createInvoiceLink")
        invoice = {
            "title": params["title"],
            "description": params["description"],
            "start_parameter": params.get("start_parameter", ""),
            "currency": XTR,
            "total_amount": amount,
        }
        message = self._bot_message(chat_id, invoice=invoice, reply_markup=params.get("reply_markup"))
        with self._cond:
            self._state.invoices.append({**params, "chat_id": chat_id, "amount": amount, "message": message})
        return message

    def _api_createinvoicelink(self, params: dict) -> str:
        amount = self._validate_invoice(params)
        period = params.get("subscription_period")
        if period is not None and (int(period) != STAR_SUBSCRIPTION_PERIOD or amount > 10000):
            raise bad_request("SUBSCRIPTION_PERIOD_INVALID")
        link = f"https://t.me/${secrets.token_urlsafe(12)}"
        with self._cond:
            self._state.invoice_links.append({**params, "amount": amount, "link": link})
        return link

    def _api_answerprecheckoutquery(self, params: dict) -> bool:
        query_id = str(params.get("pre_checkout_query_id") or "")
        ok = params.get("ok")
        if not isinstance(ok, bool):
            raise bad_request("ok must be a boolean")
        if not ok and not params.get("error_message"):
            raise bad_request("ERROR_MESSAGE_EMPTY")
        now = time.monotonic()
        with self._cond:
            injected_at = self._state.precheckout_queries.get(query_id)
            if injected_at is None or query_id in self._state.precheckout_answers:
                raise bad_request("query is too old and response timeout expired or query ID is invalid")
            self._state.precheckout_answers[query_id] = PrecheckoutAnswer(
                query_id=query_id,
                ok=ok,
                error_message=params.get("error_message"),
                injected_at=injected_at,
                answered_at=now,
            )
        return True

    def _api_refundstarpayment(self, params: dict) -> bool:
        charge_id = str(params.get("telegram_payment_charge_id") or "")
        user_id = int(params.get("user_id") or 0)
        with self._cond:
            payment = next((t for t in self._state.transactions if t["id"] == charge_id and "source" in t), None)
            if payment is None:
                raise bad_request("CHARGE_NOT_FOUND")
            if payment["source"]["user"]["id"] != user_id:
                raise bad_request("USER_ID_INVALID")
            if any(t["id"] == charge_id and "receiver" in t for t in self._state.transactions):
                raise bad_request("CHARGE_ALREADY_REFUNDED")
            user = payment["source"]["user"]
            payload = payment["source"].get("invoice_payload")
            amount = payment["amount"]
        if self.emit_refund_updates:
            self.inject_refunded_payment(user, payload or "", amount, charge_id)
        else:
            self.add_star_transaction(user, payload, amount, charge_id, refund=True)
        return True

    def _api_getstartransactions(self, params: dict) -> dict:
        offset = max(int(params.get("offset") or 0), 0)
        limit = int(params.get("limit") or 100)
        if not 1 <= limit <= 100:
            raise bad_request("limit must be 1-100")
        with self._cond:
            newest_first = list(reversed(self._state.transactions))
        return {"transactions": newest_first[offset : offset + limit]}

    def _api_getmystarbalance(self, params: dict) -> dict:
        with self._cond:
            if self._state.star_balance is not None:
                return {"amount": self._state.star_balance}
            balance = sum(t["amount"] if "source" in t else -t["amount"] for t in self._state.transactions)
        return {"amount": balance}

    def _api_edituserstarsubscription(self, params: dict) -> bool:
        charge_id = str(params.get("telegram_payment_charge_id") or "")
        user_id = int(params.get("user_id") or 0)
        is_canceled = params.get("is_canceled")
        if not isinstance(is_canceled, bool):
            raise bad_request("is_canceled must be a boolean")
        with self._cond:
            payment = next((t for t in self._state.transactions if t["id"] == charge_id and "source" in t), None)
            # Telegram looks the charge up among that user's payments: a charge id of another user
            # is as unknown as a made-up one.
            if payment is None or payment["source"].get("user", {}).get("id") != user_id:
                raise bad_request("CHARGE_ID_INVALID")
            self._state.subscription_edits.append(
                {"user_id": user_id, "charge_id": charge_id, "is_canceled": is_canceled}
            )
            record = self._state.star_subscriptions.get(charge_id)
            if record is not None:
                record["canceled"] = is_canceled
        return True

    # -- channels and groups (Bot API: getChat, getChatMember, getChatAdministrators) --------

    def _known_chat(self, params: dict) -> FakeChat:
        chat = self._chat(params.get("chat_id"))
        if chat is None:
            raise bad_request("chat not found")
        return chat

    def _member(self, chat: FakeChat, user: dict, status: str, is_member: bool) -> dict:
        """A ChatMember object of the Bot API, with the fields its type requires."""
        member: dict[str, Any] = {"user": user, "status": status}
        if status == "creator":
            member["is_anonymous"] = False
        elif status == "administrator":
            rights = (
                "can_manage_chat can_delete_messages can_manage_video_chats can_restrict_members "
                "can_promote_members can_change_info can_invite_users can_post_stories can_edit_stories "
                "can_delete_stories"
            ).split()
            member.update({"can_be_edited": False, "is_anonymous": False, **dict.fromkeys(rights, True)})
            if chat.type == "channel":
                member.update(can_post_messages=True, can_edit_messages=True)
        elif status == "restricted":
            rights = (
                "can_send_messages can_send_audios can_send_documents can_send_photos can_send_videos "
                "can_send_video_notes can_send_voice_notes can_send_polls can_send_other_messages "
                "can_add_web_page_previews can_change_info can_invite_users can_pin_messages can_manage_topics "
                "can_edit_tag can_react_to_messages"
            ).split()
            member.update({"is_member": is_member, "until_date": 0, **dict.fromkeys(rights, False)})
        elif status == "kicked":
            member["until_date"] = 0
        return member

    def _api_getchat(self, params: dict) -> dict:
        chat = self._known_chat(params)
        full: dict[str, Any] = {
            "id": chat.id,
            "type": chat.type,
            "title": chat.title,
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }
        if chat.username:
            full["username"] = chat.username
        if chat.invite_link and chat.bot_status in ("administrator", "creator"):
            full["invite_link"] = chat.invite_link
        return full

    def _api_getchatmember(self, params: dict) -> dict:
        chat = self._known_chat(params)
        try:
            user_id = int(params["user_id"])
        except (KeyError, TypeError, ValueError):
            raise bad_request("invalid user_id specified")
        if user_id == self.bot_id:
            return self._member(chat, self.bot_user(), chat.bot_status, chat.bot_status != "left")
        if chat.bot_status not in ("administrator", "creator"):
            raise bad_request("member list is inaccessible")
        with self._cond:
            status, is_member = chat.members.get(user_id, ("left", False))
        user = {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"}
        return self._member(chat, user, status, is_member)

    def _api_getchatadministrators(self, params: dict) -> list[dict]:
        chat = self._known_chat(params)
        if chat.bot_status not in ("administrator", "creator"):
            raise bad_request("member list is inaccessible")
        with self._cond:
            admins = [(uid, st) for uid, (st, _m) in chat.members.items() if st in ("creator", "administrator")]
        found = [
            self._member(chat, {"id": uid, "is_bot": False, "first_name": f"User{uid}"}, status, True)
            for uid, status in admins
        ]
        return [*found, self._member(chat, self.bot_user(), chat.bot_status, True)]


def new_charge_id() -> str:
    return "stxFake" + secrets.token_hex(12)


def decode_params(raw: dict[str, str]) -> dict[str, Any]:
    """Form values as python-telegram-bot sends them: strings as-is, the rest JSON-encoded."""
    decoded: dict[str, Any] = {}
    for key, value in raw.items():
        if key in STRING_PARAMS or not isinstance(value, str):
            decoded[key] = value
            continue
        try:
            decoded[key] = json.loads(value)
        except ValueError:
            decoded[key] = value
    return decoded


class _Server(ThreadingHTTPServer):
    # socketserver's default listen backlog of 5 drops connections when a pooled client opens
    # dozens at once (SYN retried after 1 s, or a reset read); Telegram accepts them all.
    request_queue_size = 128


class _Handler(BaseHTTPRequestHandler):
    fake: FakeTelegramServer
    protocol_version = "HTTP/1.1"  # keep-alive: httpx reuses connections
    disable_nagle_algorithm = True  # no 40 ms Nagle/delayed-ACK stalls between headers and body

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._serve()

    def do_POST(self) -> None:  # noqa: N802
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence request logs
        pass

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        segments = [s for s in parts.path.split("/") if s]
        test_env = len(segments) == 3 and segments[1] == "test"
        if len(segments) not in (2, 3) or not segments[0].startswith("bot") or (len(segments) == 3 and not test_env):
            self._reply(404, {"ok": False, "error_code": 404, "description": "Not Found"})
            return
        token, method = segments[0][3:], segments[-1]
        try:
            params = decode_params(dict(parse_qsl(parts.query)))
            params.update(self._body_params())
        except ValueError:
            self._reply(400, {"ok": False, "error_code": 400, "description": "Bad Request: can't parse parameters"})
            return
        status, body = self.fake.handle(token, method, params, test_env)
        self._reply(status, body)

    def _body_params(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if not body:
            return {}
        content_type = self.headers.get("Content-Type", "")
        if content_type.startswith("application/json"):
            data = json.loads(body)
            if not isinstance(data, dict):
                raise ValueError("JSON body must be an object")
            return data
        if content_type.startswith("multipart/form-data"):
            message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                f"Content-Type: {content_type}\r\n\r\n".encode() + body
            )
            raw: dict[str, Any] = {}
            uploads: dict[str, Upload] = {}
            for part in message.iter_parts():
                name = part.get_param("name", header="content-disposition")
                if not name:
                    continue
                if part.get_filename():
                    uploads[name] = Upload(
                        filename=part.get_filename(),
                        content_type=part.get_content_type(),
                        data=part.get_payload(decode=True) or b"",
                    )
                else:
                    # Form fields are UTF-8 text (python-telegram-bot names no charset): decode them as such.
                    raw[name] = (part.get_payload(decode=True) or b"").decode("utf-8")
            return {**decode_params(raw), **uploads}
        return decode_params(dict(parse_qsl(body.decode(), keep_blank_values=True)))

    def _reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout, shutdown): nothing to answer
