"""integrations.telegram: the long-lived Bot API client, over real HTTP against the fake Bot API server."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import pickle
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from telegram import error as ptb_error

from integrations import telegram
from integrations.telegram import (
    Button,
    ChargeAlreadyRefunded,
    StarTransaction,
    TelegramBlocked,
    TelegramNotConfigured,
    TelegramRateLimited,
    TelegramRejected,
    TelegramTimedOut,
    TelegramUnavailable,
    client,
    reset_client,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
MONTH = 2592000


@pytest.fixture(autouse=True)
def fresh_client():
    """Settings change between tests: every test starts and ends without a client."""
    reset_client()
    yield
    reset_client()


@pytest.fixture
def fast_limits(settings):
    """Limits high enough that only the behaviour under test is paced."""
    settings.TELEGRAM_OUTBOUND_MAX_PER_SECOND = 1000
    settings.TELEGRAM_OUTBOUND_PER_CHAT_PER_SECOND = 1000


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def timed(fn):
    started = time.monotonic()
    result = fn()
    return result, time.monotonic() - started


# -- sending -----------------------------------------------------------------------------------


def test_send_message_delivers_html_with_an_inline_keyboard_and_returns_the_message_id(fake_telegram):
    buttons = [[Button("Buy", callback_data="buy:1m"), Button("Help", url="https://example.com/help")]]

    message_id = client().send_message(chat_id=42, text="<b>Menu</b>", buttons=buttons)

    (sent,) = fake_telegram.sent_messages(42)
    assert message_id == sent["message_id"]
    assert sent["text"] == "<b>Menu</b>"
    assert sent["reply_markup"]["inline_keyboard"] == [
        [{"text": "Buy", "callback_data": "buy:1m"}, {"text": "Help", "url": "https://example.com/help"}]
    ]
    params = fake_telegram.calls("sendMessage")[0].params
    assert params["parse_mode"] == "HTML"
    assert params["link_preview_options"] == {"is_disabled": True}


def test_send_message_without_parse_mode_or_buttons_sends_plain_text(fake_telegram):
    client().send_message(chat_id=42, text="1 < 2", parse_mode=None, disable_preview=False)

    params = fake_telegram.calls("sendMessage")[0].params
    assert "parse_mode" not in params and "reply_markup" not in params and "link_preview_options" not in params


def test_send_photo_uploads_the_bytes_with_caption_and_keyboard(fake_telegram):
    buttons = [[Button("Open", url="https://example.com/sub")]]

    sent = client().send_photo(chat_id=42, photo=PNG, caption="<b>Your QR</b>", buttons=buttons)

    (photo,) = fake_telegram.sent_photos(42)
    assert (photo.data, photo.filename, photo.content_type) == (PNG, "qr.png", "image/png")
    assert photo.caption == "<b>Your QR</b>"
    assert photo.message["message_id"] == sent.message_id
    assert photo.message["reply_markup"]["inline_keyboard"][0][0]["url"] == "https://example.com/sub"
    assert fake_telegram.calls("sendPhoto")[0].params["parse_mode"] == "HTML"


def test_send_photo_returns_the_file_id_of_the_largest_size_which_sends_it_again_without_uploading(fake_telegram):
    first = client().send_photo(chat_id=42, photo=PNG, caption="one", filename="offer.png")

    again = client().send_photo(chat_id=43, photo=first.file_id, caption="two")

    largest = max(fake_telegram.sent_photos(42)[0].message["photo"], key=lambda size: size["width"])
    assert first.file_id == largest["file_id"]
    (resent,) = fake_telegram.sent_photos(43)
    assert resent.data is None and resent.caption == "two"
    assert again.message_id == resent.message["message_id"]


def test_button_needs_exactly_one_of_callback_data_or_url():
    with pytest.raises(ValueError, match="exactly one"):
        Button("Neither")
    with pytest.raises(ValueError, match="exactly one"):
        Button("Both", callback_data="x", url="https://example.com")


# -- errors ------------------------------------------------------------------------------------


def test_forbidden_raises_telegram_blocked_chained_to_ptb(fake_telegram):
    fake_telegram.fail_next("sendMessage", 403, description="Forbidden: bot was blocked by the user")

    with pytest.raises(TelegramBlocked, match="blocked by the user") as caught:
        client().send_message(chat_id=42, text="hi")

    assert isinstance(caught.value, TelegramRejected)
    assert caught.value.description == "Forbidden: bot was blocked by the user"
    assert isinstance(caught.value.__cause__, ptb_error.Forbidden)


def test_bad_request_raises_telegram_rejected(fake_telegram):
    with pytest.raises(TelegramRejected, match="(?i)message text is empty") as caught:
        client().send_message(chat_id=42, text="   ")

    assert not isinstance(caught.value, TelegramBlocked | ChargeAlreadyRefunded)


def test_server_error_raises_telegram_unavailable(fake_telegram):
    fake_telegram.fail_next("sendMessage", 500)

    with pytest.raises(TelegramUnavailable, match="Internal Server Error") as caught:
        client().send_message(chat_id=42, text="hi")

    assert not isinstance(caught.value, TelegramRateLimited)


def test_refused_connection_raises_telegram_unavailable(fake_telegram, settings):
    settings.TELEGRAM_API_BASE_URL = f"http://127.0.0.1:{closed_port()}"

    with pytest.raises(TelegramUnavailable):
        client().get_my_star_balance()


def test_slow_answer_past_the_request_timeout_raises_telegram_timed_out(fake_telegram, settings):
    settings.TELEGRAM_REQUEST_TIMEOUT = 0.3
    client().get_my_star_balance()  # getMe done, so only the slow call is timed
    fake_telegram.fail_next("sendMessage", delay=1.5)

    with pytest.raises(TelegramTimedOut, match="(?i)timed out") as caught:
        client().send_message(chat_id=42, text="hi")

    # still a TelegramUnavailable (worth retrying), but one whose request may have been carried out
    assert isinstance(caught.value, TelegramUnavailable)
    assert isinstance(caught.value.__cause__, ptb_error.TimedOut)


def test_a_server_error_is_unavailable_but_not_timed_out(fake_telegram):
    fake_telegram.fail_next("sendMessage", 502)

    with pytest.raises(TelegramUnavailable) as caught:
        client().send_message(chat_id=42, text="hi")

    assert not isinstance(caught.value, TelegramTimedOut)


def test_refunding_a_charge_twice_raises_charge_already_refunded(fake_telegram):
    fake_telegram.add_star_transaction(42, "p-1", 100, "charge-1")
    client().refund_star_payment(user_id=42, charge_id="charge-1")

    with pytest.raises(ChargeAlreadyRefunded) as caught:
        client().refund_star_payment(user_id=42, charge_id="charge-1")

    assert isinstance(caught.value, TelegramRejected)
    assert [t["id"] for t in fake_telegram.star_transactions()] == ["charge-1", "charge-1"]  # payment, one refund


@pytest.mark.parametrize(
    "description",
    [
        "Bad Request: CHARGE_ALREADY_REFUNDED",
        "Bad Request: charge already refunded",
        "Bad Request: Charge_Already_Refunded",
    ],
)
def test_already_refunded_is_recognised_in_any_letter_case_with_or_without_underscores(fake_telegram, description):
    fake_telegram.fail_next("refundStarPayment", 400, description=description)

    with pytest.raises(ChargeAlreadyRefunded):
        client().refund_star_payment(user_id=42, charge_id="charge-1")


def test_refunding_an_unknown_charge_is_rejected_not_already_refunded(fake_telegram):
    with pytest.raises(TelegramRejected, match="(?i)charge_not_found") as caught:
        client().refund_star_payment(user_id=42, charge_id="nope")

    assert not isinstance(caught.value, ChargeAlreadyRefunded)


def test_without_a_token_client_raises_telegram_not_configured(settings):
    settings.TELEGRAM_BOT_TOKEN = ""

    assert telegram.telegram_configured() is False
    with pytest.raises(TelegramNotConfigured):
        client()


def test_a_rejected_token_is_telegram_rejected_without_the_token_in_the_description(fake_telegram, settings):
    settings.TELEGRAM_BOT_TOKEN = "999:WRONG-SECRET"

    with pytest.raises(TelegramRejected) as caught:
        client().send_message(chat_id=42, text="hi")

    assert "WRONG-SECRET" not in caught.value.description
    assert isinstance(caught.value.__cause__, ptb_error.InvalidToken)


def test_rate_limited_error_survives_pickling():
    error = pickle.loads(pickle.dumps(TelegramRateLimited("Flood control exceeded", retry_after=3.0)))

    assert (error.description, error.retry_after) == ("Flood control exceeded", 3.0)


# -- 429 -----------------------------------------------------------------------------------------

# PTB 22.8's RetryAfter.__init__ reads its own deprecated `retry_after` property, so every 429 warns.
ptb_retry_after_warns = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


@ptb_retry_after_warns
def test_a_429_once_is_waited_out_and_the_call_retried(fake_telegram):
    fake_telegram.fail_next("sendMessage", 429, retry_after=1)

    message_id, elapsed = timed(lambda: client().send_message(chat_id=42, text="hi"))

    assert elapsed >= 1.0
    assert [c.status for c in fake_telegram.calls("sendMessage")] == [429, 200]
    assert fake_telegram.sent_messages(42)[0]["message_id"] == message_id


@ptb_retry_after_warns
def test_a_429_outlasting_the_retries_raises_telegram_rate_limited_with_retry_after(fake_telegram, settings):
    settings.TELEGRAM_OUTBOUND_MAX_RETRIES = 1
    fake_telegram.fail_next("sendMessage", 429, retry_after=1, times=5)

    with pytest.raises(TelegramRateLimited) as caught:
        client().send_message(chat_id=42, text="hi")

    assert caught.value.retry_after == 1.0
    assert isinstance(caught.value, TelegramUnavailable)
    assert [c.status for c in fake_telegram.calls("sendMessage")] == [429, 429]  # the call and one retry


# -- rate limits (lower bounds only; a loaded machine is only slower) ----------------------------


def send_concurrently(chat_ids: list[int]) -> float:
    tg = client()
    tg.get_my_star_balance()  # getMe out of the way; no chat_id, so no limiter slot used

    def send(chat_id: int) -> int:
        return tg.send_message(chat_id=chat_id, text=f"hi {chat_id}")

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(chat_ids)) as pool:
        ids = list(pool.map(send, chat_ids))
    elapsed = time.monotonic() - started
    assert len(set(ids)) == len(chat_ids)
    return elapsed


def test_overall_limit_paces_messages_across_chats(fake_telegram, settings):
    settings.TELEGRAM_OUTBOUND_MAX_PER_SECOND = 10

    elapsed = send_concurrently(list(range(1, 26)))

    # A full bucket of 10 at once, then one every 0.1 s for the other 15.
    assert elapsed >= 1.5
    assert len(fake_telegram.calls("sendMessage")) == 25


def test_per_chat_limit_paces_messages_to_one_chat(fake_telegram, settings):
    settings.TELEGRAM_OUTBOUND_PER_CHAT_PER_SECOND = 1

    elapsed = send_concurrently([42, 42, 42])

    assert elapsed >= 1.8
    assert len(fake_telegram.sent_messages(42)) == 3


def test_per_chat_limit_does_not_serialize_different_chats(fake_telegram, settings):
    settings.TELEGRAM_OUTBOUND_PER_CHAT_PER_SECOND = 1
    settings.TELEGRAM_OUTBOUND_MAX_PER_SECOND = 100

    elapsed = send_concurrently(list(range(1, 11)))

    assert elapsed < 3.0  # serialized per chat would be 9 s or more
    assert len(fake_telegram.calls("sendMessage")) == 10


def test_per_chat_limiters_stay_bounded(fake_telegram, fast_limits, monkeypatch):
    monkeypatch.setattr(telegram, "MAX_CHAT_LIMITERS", 5)
    tg = client()

    for chat_id in range(1, 21):
        tg.send_message(chat_id=chat_id, text="hi")

    assert len(tg._chat_limiters) <= 5
    assert 20 in tg._chat_limiters  # the newest chat is kept
    assert len(fake_telegram.calls("sendMessage")) == 20


# -- one client per process ----------------------------------------------------------------------


def test_calls_from_20_threads_share_one_client_and_one_get_me(fake_telegram, fast_limits):
    def work(n: int) -> tuple[int, list[int]]:
        tg = client()
        results = [tg.send_message(chat_id=1000 + n, text=f"m{i}") for i in range(3)]
        results.append(tg.get_my_star_balance())
        return id(tg), results

    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = list(pool.map(work, range(20)))

    assert {client_id for client_id, _ in outcomes} == {id(client())}
    assert all(len(results) == 4 for _, results in outcomes)
    assert len(fake_telegram.calls("sendMessage")) == 60
    assert len(fake_telegram.calls("getMe")) == 1


def test_client_is_the_same_object_until_the_token_changes(fake_telegram, settings):
    first = client()
    assert client() is first

    settings.TELEGRAM_BOT_TOKEN = "654321:OTHER-TOKEN"
    second = client()

    assert second is not first
    assert first.closed and not second.closed
    assert second.config.token == "654321:OTHER-TOKEN"


def test_client_is_rebuilt_after_a_fork(fake_telegram, monkeypatch):
    parent = client()
    parent.get_my_star_balance()

    with monkeypatch.context() as patch:
        patch.setattr(os, "getpid", lambda: parent.pid + 1)  # what a forked child sees
        child = client()
        assert child is not parent
        with pytest.raises(RuntimeError, match="parent process"):
            parent.send_message(chat_id=42, text="from the child")
        child.send_message(chat_id=42, text="from the child")
        child.close()

    assert not parent.closed  # the child left the parent's loop and sockets alone
    assert fake_telegram.sent_texts(42) == ["from the child"]
    assert len(fake_telegram.calls("getMe")) == 2  # one per process
    parent.close()


def test_reset_client_closes_the_pool_and_stops_the_loop_thread(fake_telegram):
    tg = client()
    tg.get_my_star_balance()
    loop_thread = tg._thread

    reset_client()

    assert tg.closed and not loop_thread.is_alive()
    assert tg._request._client.is_closed
    assert client() is not tg
    with pytest.raises(TelegramUnavailable, match="closed"):
        tg.get_my_star_balance()


def test_closing_releases_a_caller_waiting_for_its_chat_with_telegram_unavailable(fake_telegram, settings):
    settings.TELEGRAM_OUTBOUND_PER_CHAT_PER_SECOND = 0.1  # one message per 10 s in a chat
    tg = client()
    tg.send_message(chat_id=42, text="first")

    with ThreadPoolExecutor(max_workers=1) as pool:
        second = pool.submit(tg.send_message, chat_id=42, text="second")  # waits ~10 s for the chat
        reset_client()
        with pytest.raises(TelegramUnavailable, match="closed"):
            second.result(timeout=5)

    assert fake_telegram.sent_texts(42) == ["first"]


def test_a_sync_call_on_the_client_loop_raises_runtime_error(fake_telegram):
    tg = client()

    async def inside_the_loop() -> None:
        tg.send_message(chat_id=42, text="deadlock?")

    future = asyncio.run_coroutine_threadsafe(inside_the_loop(), tg._loop)

    with pytest.raises(RuntimeError, match="own event loop"):
        future.result(timeout=5)
    assert fake_telegram.sent_messages(42) == []


# -- Stars ---------------------------------------------------------------------------------------


def test_get_star_transactions_maps_payments_and_refunds(fake_telegram):
    fake_telegram.add_star_transaction(42, "p-1", 100, "charge-1", date=1_700_000_000)
    fake_telegram.add_star_transaction(43, "p-2", 250, "charge-2", date=1_700_000_100, subscription_period=MONTH)
    fake_telegram.add_star_transaction(42, "p-1", 100, "charge-1", refund=True, date=1_700_000_200)

    transactions = client().get_star_transactions()

    utc = dt.UTC
    assert transactions == [
        StarTransaction(
            id="charge-1",
            amount=100,
            date=dt.datetime.fromtimestamp(1_700_000_200, utc),
            incoming=False,
            partner_user_id=42,
            invoice_payload="p-1",
            subscription_period=None,
        ),
        StarTransaction(
            id="charge-2",
            amount=250,
            date=dt.datetime.fromtimestamp(1_700_000_100, utc),
            incoming=True,
            partner_user_id=43,
            invoice_payload="p-2",
            subscription_period=MONTH,
        ),
        StarTransaction(
            id="charge-1",
            amount=100,
            date=dt.datetime.fromtimestamp(1_700_000_000, utc),
            incoming=True,
            partner_user_id=42,
            invoice_payload="p-1",
            subscription_period=None,
        ),
    ]


def test_get_star_transactions_pages_with_offset_and_limit(fake_telegram):
    for i in range(5):
        fake_telegram.add_star_transaction(42, f"p-{i}", 1, f"charge-{i}", date=1_700_000_000 + i)

    page = client().get_star_transactions(offset=1, limit=2)

    assert [t.id for t in page] == ["charge-3", "charge-2"]


def test_get_my_star_balance_is_payments_minus_refunds(fake_telegram):
    fake_telegram.add_star_transaction(42, "p-1", 100, "charge-1")
    fake_telegram.add_star_transaction(43, "p-2", 250, "charge-2")
    fake_telegram.add_star_transaction(42, "p-1", 100, "charge-1", refund=True)

    assert client().get_my_star_balance() == 250


def test_create_invoice_link_is_one_xtr_price_without_provider_token_and_cut_to_telegram_limits(fake_telegram):
    link = client().create_invoice_link(
        title="T" * 40, description="D" * 300, payload="p-1", amount=100, label="L" * 40
    )

    (recorded,) = fake_telegram.invoice_links
    assert recorded["link"] == link
    assert recorded["currency"] == "XTR" and "provider_token" not in recorded
    assert recorded["prices"] == [{"label": "L" * 32, "amount": 100}]
    assert (recorded["title"], recorded["description"]) == ("T" * 32, "D" * 255)
    assert "subscription_period" not in recorded


def test_create_invoice_link_with_a_30_day_subscription_period(fake_telegram):
    client().create_invoice_link(
        title="1 month", description="VPN", payload="p-1", amount=100, label="1 month", subscription_period=MONTH
    )

    assert fake_telegram.invoice_links[0]["subscription_period"] == MONTH


def test_create_invoice_link_with_another_subscription_period_is_rejected(fake_telegram):
    with pytest.raises(TelegramRejected, match="(?i)subscription_period_invalid"):
        client().create_invoice_link(
            title="1 day", description="VPN", payload="p-1", amount=100, label="1 day", subscription_period=86400
        )

    assert fake_telegram.invoice_links == []


def test_edit_user_star_subscription_cancels_and_reenables(fake_telegram):
    fake_telegram.add_star_transaction(42, "p-1", 100, "charge-1", subscription_period=MONTH)

    client().edit_user_star_subscription(user_id=42, charge_id="charge-1", is_canceled=True)
    client().edit_user_star_subscription(user_id=42, charge_id="charge-1", is_canceled=False)

    assert [e["is_canceled"] for e in fake_telegram.subscription_edits] == [True, False]


def test_edit_user_star_subscription_of_another_users_charge_is_rejected(fake_telegram):
    fake_telegram.add_star_transaction(42, "p-1", 100, "charge-1", subscription_period=MONTH)

    with pytest.raises(TelegramRejected, match="(?i)charge_id_invalid"):
        client().edit_user_star_subscription(user_id=43, charge_id="charge-1", is_canceled=True)

    assert fake_telegram.subscription_edits == []


# -- settings ------------------------------------------------------------------------------------


def test_base_urls_follow_the_test_environment_setting(settings):
    settings.TELEGRAM_API_BASE_URL = "https://api.example.org/"
    settings.TELEGRAM_TEST_ENV = False
    assert telegram.bot_base_url() == "https://api.example.org/bot{token}"
    assert telegram.bot_base_file_url() == "https://api.example.org/file/bot{token}"

    settings.TELEGRAM_TEST_ENV = True
    assert telegram.bot_base_url() == "https://api.example.org/bot{token}/test"
    assert telegram.bot_base_file_url() == "https://api.example.org/file/bot{token}/test"


def test_test_environment_calls_go_to_the_test_path(fake_telegram, settings):
    settings.TELEGRAM_TEST_ENV = True

    client().send_message(chat_id=42, text="hi")

    assert fake_telegram.calls("sendMessage")[0].test_env is True
