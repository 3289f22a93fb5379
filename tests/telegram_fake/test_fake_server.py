"""The fake Bot API server speaks Telegram to the real python-telegram-bot."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, LabeledPrice
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, NetworkError, RetryAfter, TimedOut
from telegram.request import HTTPXRequest

from tests.fakes.telegram_server import USER_DEACTIVATED, Upload


def with_bot(fake, fn, *, timeout: float = 5.0, token: str | None = None, test_env: bool = False):
    async def runner():
        request = HTTPXRequest(read_timeout=timeout, connect_timeout=timeout)
        base = f"{fake.base_url}/bot{{token}}/test" if test_env else fake.ptb_base_url
        async with Bot(token or fake.token, base_url=base, request=request) as bot:
            return await fn(bot)

    return asyncio.run(runner())


def star_balance(fake) -> int:
    return with_bot(fake, lambda bot: bot.get_my_star_balance()).amount


def invoice_kwargs(**overrides):
    kwargs = {
        "title": "1 month",
        "description": "VPN for 30 days",
        "payload": "p-123",
        "currency": "XTR",
        "prices": [LabeledPrice("1 month", 100)],
    }
    kwargs.update(overrides)
    return kwargs


def test_get_me_returns_the_bot_user(fake_telegram):
    me = with_bot(fake_telegram, lambda bot: bot.get_me())

    assert me.is_bot and me.id == 123456


def test_wrong_token_is_unauthorized(fake_telegram):
    with pytest.raises(InvalidToken):
        with_bot(fake_telegram, lambda bot: bot.get_me(), token="999:WRONG")


def test_unknown_method_is_404(fake_telegram):
    response = httpx.post(f"{fake_telegram.base_url}/bot{fake_telegram.token}/noSuchMethod")

    assert response.status_code == 404
    assert response.json() == {"ok": False, "error_code": 404, "description": "Not Found"}


def test_test_environment_path_is_recorded(fake_telegram):
    with_bot(fake_telegram, lambda bot: bot.send_message(chat_id=7, text="hi"), test_env=True)

    assert fake_telegram.wait_for_call("sendMessage").test_env is True


def test_json_body_parameters_are_accepted(fake_telegram):
    response = httpx.post(
        f"{fake_telegram.base_url}/bot{fake_telegram.token}/sendMessage", json={"chat_id": 7, "text": "123"}
    )

    assert response.json()["result"]["text"] == "123"
    assert fake_telegram.sent_texts(7) == ["123"]


def test_send_message_with_keyboard_is_recorded_and_parsed(fake_telegram):
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Buy", callback_data="buy")]])

    message = with_bot(fake_telegram, lambda bot: bot.send_message(chat_id=42, text="Menu", reply_markup=markup))

    assert message.chat.id == 42 and message.text == "Menu"
    sent = fake_telegram.sent_messages(42)[0]
    assert sent["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "buy"


def test_edit_message_text_changes_the_sent_message(fake_telegram):
    async def flow(bot):
        message = await bot.send_message(chat_id=42, text="old")
        return await bot.edit_message_text(chat_id=42, message_id=message.message_id, text="new")

    edited = with_bot(fake_telegram, flow)

    assert edited.text == "new"
    assert fake_telegram.sent_texts(42) == ["new"]


def test_editing_to_the_same_text_and_keyboard_is_refused_as_not_modified(fake_telegram):
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Buy", callback_data="buy")]])

    async def flow(bot):
        message = await bot.send_message(chat_id=42, text="Menu", reply_markup=markup)
        with pytest.raises(BadRequest) as text_error:
            await bot.edit_message_text(chat_id=42, message_id=message.message_id, text="Menu", reply_markup=markup)
        with pytest.raises(BadRequest) as markup_error:
            await bot.edit_message_reply_markup(chat_id=42, message_id=message.message_id, reply_markup=markup)
        return text_error.value, markup_error.value

    errors = with_bot(fake_telegram, flow)

    for error in errors:
        assert error.message == (
            "Message is not modified: specified new message content and reply markup are exactly the same as a "
            "current content and reply markup of the message"
        )
    # Telegram's own words on the wire
    message_id = fake_telegram.sent_messages(42)[0]["message_id"]
    status, body = fake_telegram.handle(
        fake_telegram.token,
        "editMessageText",
        {"chat_id": 42, "message_id": message_id, "text": "Menu", "reply_markup": markup.to_dict()},
        False,
    )
    assert (status, body["description"]) == (
        400,
        "Bad Request: message is not modified: specified new message content and reply markup are exactly the "
        "same as a current content and reply markup of the message",
    )


def test_editing_a_message_the_bot_never_sent_or_deleted_is_not_found(fake_telegram):
    async def flow(bot):
        message = await bot.send_message(chat_id=42, text="gone soon")
        await bot.delete_message(chat_id=42, message_id=message.message_id)
        with pytest.raises(BadRequest) as deleted:
            await bot.edit_message_text(chat_id=42, message_id=message.message_id, text="new")
        with pytest.raises(BadRequest) as unknown:
            await bot.edit_message_reply_markup(chat_id=42, message_id=999_999, reply_markup=None)
        return deleted.value, unknown.value

    for error in with_bot(fake_telegram, flow):
        assert error.message == "Message to edit not found"
    status, body = fake_telegram.handle(
        fake_telegram.token, "editMessageText", {"chat_id": 42, "message_id": 999_999, "text": "x"}, False
    )
    assert (status, body["description"]) == (400, "Bad Request: message to edit not found")


def test_editing_the_text_of_a_photo_is_refused(fake_telegram):
    async def flow(bot):
        photo = await bot.send_photo(chat_id=42, photo=PNG)
        await bot.edit_message_text(chat_id=42, message_id=photo.message_id, text="text")

    with pytest.raises(BadRequest, match="There is no text in the message to edit"):
        with_bot(fake_telegram, flow)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('<b>bold</b> <i>it</i> <code>x &lt; y</code> <a href="https://e.example">link</a>', None),
        ("<blockquote expandable>long quote</blockquote>", None),
        ("<p>paragraph</p>", 'Unsupported start tag "p"'),
        ("<b>never closed", 'Can\'t find end tag corresponding to start tag "b"'),
        ("1 < 2", "Unsupported start tag"),
        ("Tom & Jerry", "Unsupported HTML entity"),
    ],
)
def test_html_texts_are_checked_like_telegram(fake_telegram, text, error):
    send = lambda bot: bot.send_message(chat_id=42, text=text, parse_mode="HTML")  # noqa: E731

    if error is None:
        assert with_bot(fake_telegram, send).text == text
    else:
        with pytest.raises(BadRequest, match="Can't parse entities") as refused:
            with_bot(fake_telegram, send)
        assert error.lower() in refused.value.message.lower()  # PTB drops "Bad Request: " and recases
    assert with_bot(fake_telegram, lambda bot: bot.send_message(chat_id=42, text="1 < 2 & 3")).text == "1 < 2 & 3"


def test_a_user_who_blocked_the_bot_gets_nothing_until_unblocked(fake_telegram):
    fake_telegram.block(42)

    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        with_bot(fake_telegram, lambda bot: bot.send_message(chat_id=42, text="hello"))
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        with_bot(fake_telegram, lambda bot: bot.send_photo(chat_id=42, photo=PNG))
    with_bot(fake_telegram, lambda bot: bot.send_message(chat_id=43, text="others still get theirs"))
    fake_telegram.unblock(42)
    with_bot(fake_telegram, lambda bot: bot.send_message(chat_id=42, text="welcome back"))

    assert fake_telegram.sent_texts(42) == ["welcome back"]
    assert [c.status for c in fake_telegram.calls("sendMessage")] == [403, 200, 200]


def test_a_deactivated_account_is_forbidden_with_telegrams_words(fake_telegram):
    fake_telegram.block(42, USER_DEACTIVATED)

    with pytest.raises(Forbidden, match="user is deactivated"):
        with_bot(fake_telegram, lambda bot: bot.send_message(chat_id=42, text="hello"))


def test_callback_press_carries_the_message_and_is_answered_once(fake_telegram):
    async def flow(bot):
        await bot.send_message(chat_id=42, text="Menu")
        fake_telegram.inject_callback(42, "buy")
        (update,) = await bot.get_updates(timeout=1)
        await bot.answer_callback_query(update.callback_query.id)
        with pytest.raises(BadRequest):
            await bot.answer_callback_query(update.callback_query.id)
        return update

    update = with_bot(fake_telegram, flow)

    assert update.callback_query.data == "buy"
    assert update.callback_query.message.text == "Menu"
    assert update.callback_query.id in fake_telegram.callback_answers


def test_send_invoice_in_stars_is_recorded(fake_telegram):
    message = with_bot(fake_telegram, lambda bot: bot.send_invoice(chat_id=42, **invoice_kwargs()))

    assert message.invoice.total_amount == 100
    (invoice,) = fake_telegram.invoices(42)
    assert invoice["amount"] == 100 and invoice["payload"] == "p-123" and invoice["currency"] == "XTR"


@pytest.mark.parametrize(
    "overrides",
    [
        {"currency": "USD"},
        {"title": "x" * 33},
        {"title": ""},
        {"description": "d" * 256},
        {"payload": "я" * 65},  # 130 bytes
        {"prices": [LabeledPrice("a", 50), LabeledPrice("b", 50)]},
        {"provider_token": "provider"},
    ],
    ids=["currency", "long-title", "empty-title", "long-description", "payload-bytes", "two-prices", "provider"],
)
def test_send_invoice_breaking_stars_rules_is_rejected(fake_telegram, overrides):
    with pytest.raises(BadRequest):
        with_bot(fake_telegram, lambda bot: bot.send_invoice(chat_id=42, **invoice_kwargs(**overrides)))

    assert fake_telegram.invoices() == []


def test_create_invoice_link(fake_telegram):
    link = with_bot(
        fake_telegram,
        lambda bot: bot.create_invoice_link(
            title="1 month",
            description="VPN",
            payload="p-1",
            currency="XTR",
            prices=[LabeledPrice(label="1 month", amount=100)],
        ),
    )

    assert link.startswith("https://t.me/$")
    assert fake_telegram.invoice_links[0]["prices"] == [{"label": "1 month", "amount": 100}]


def test_create_invoice_link_accepts_only_a_30_day_subscription_period(fake_telegram):
    with pytest.raises(BadRequest):
        with_bot(fake_telegram, lambda bot: bot.create_invoice_link(**invoice_kwargs(), subscription_period=86400))


def test_get_updates_long_poll_returns_an_update_injected_meanwhile(fake_telegram):
    async def flow(bot):
        asyncio.get_running_loop().call_later(0.2, fake_telegram.inject_message, 42, "hello")
        started = time.monotonic()
        updates = await bot.get_updates(timeout=5)
        return updates, time.monotonic() - started

    updates, waited = with_bot(fake_telegram, flow, timeout=10)

    assert [u.message.text for u in updates] == ["hello"]
    assert waited < 2


def test_get_updates_offset_confirms_earlier_updates(fake_telegram):
    first = fake_telegram.inject_message(42, "one")
    second = fake_telegram.inject_message(42, "two")

    async def flow(bot):
        again = await bot.get_updates(timeout=0)
        after_offset = await bot.get_updates(offset=first.update_id + 1, timeout=0)
        after_all = await bot.get_updates(offset=second.update_id + 1, timeout=0)
        return again, after_offset, after_all

    again, after_offset, after_all = with_bot(fake_telegram, flow)

    assert [u.update_id for u in again] == [first.update_id, second.update_id]  # unconfirmed: delivered again
    assert [u.update_id for u in after_offset] == [second.update_id]
    assert after_all == ()
    assert fake_telegram.confirmed_update_id == second.update_id


def test_get_updates_honours_allowed_updates(fake_telegram):
    fake_telegram.inject_message(42, "text")
    query = fake_telegram.inject_pre_checkout(42, "p-1", 100)

    updates = with_bot(fake_telegram, lambda bot: bot.get_updates(timeout=0, allowed_updates=["pre_checkout_query"]))

    assert [u.pre_checkout_query.id for u in updates] == [query.query_id]


def test_get_updates_conflicts_with_an_active_webhook(fake_telegram):
    async def flow(bot):
        await bot.set_webhook("https://shop.example/tg", secret_token="s3cret")
        with pytest.raises(BadRequest):
            await bot.set_webhook("http://insecure.example/tg")
        with pytest.raises(Conflict):
            await bot.get_updates(timeout=0)
        info = await bot.get_webhook_info()
        await bot.delete_webhook()
        return info

    info = with_bot(fake_telegram, flow)

    assert info.url == "https://shop.example/tg"
    assert fake_telegram.webhook == {}


def test_pre_checkout_answer_is_recorded_once(fake_telegram):
    query = fake_telegram.inject_pre_checkout(42, "p-1", 100)

    async def flow(bot):
        (update,) = await bot.get_updates(timeout=0)
        await update.pre_checkout_query.answer(ok=False, error_message="Sold out")
        with pytest.raises(BadRequest):
            await update.pre_checkout_query.answer(ok=True)

    with_bot(fake_telegram, flow)

    answer = fake_telegram.wait_for_precheckout_answer(query)
    assert (answer.ok, answer.error_message) == (False, "Sold out")
    assert answer.latency >= 0


def test_successful_payment_update_parses_and_is_a_star_transaction(fake_telegram):
    fake_telegram.inject_successful_payment(42, "p-1", 100, "charge-1")

    (update,) = with_bot(fake_telegram, lambda bot: bot.get_updates(timeout=0))

    payment = update.message.successful_payment
    assert (payment.total_amount, payment.invoice_payload, payment.telegram_payment_charge_id) == (
        100,
        "p-1",
        "charge-1",
    )
    assert [t["id"] for t in fake_telegram.star_transactions()] == ["charge-1"]


def test_refund_succeeds_once_then_charge_already_refunded(fake_telegram):
    fake_telegram.add_star_transaction(42, "p-1", 100, "charge-1")

    def refund(bot):
        return bot.refund_star_payment(user_id=42, telegram_payment_charge_id="charge-1")

    assert with_bot(fake_telegram, refund) is True
    with pytest.raises(BadRequest, match="(?i)charge_already_refunded"):
        with_bot(fake_telegram, refund)
    assert star_balance(fake_telegram) == 0


def test_refund_of_an_unknown_charge_is_a_bad_request(fake_telegram):
    with pytest.raises(BadRequest, match="(?i)charge_not_found"):
        with_bot(fake_telegram, lambda bot: bot.refund_star_payment(user_id=42, telegram_payment_charge_id="nope"))


def test_star_transactions_page_newest_first(fake_telegram):
    for i in range(150):
        fake_telegram.add_star_transaction(42, f"p-{i}", 1, f"charge-{i}", date=1_700_000_000 + i)
    fake_telegram.add_star_transaction(42, "p-0", 1, "charge-0", refund=True, date=1_800_000_000)

    first = with_bot(fake_telegram, lambda bot: bot.get_star_transactions(offset=0, limit=100)).transactions
    second = with_bot(fake_telegram, lambda bot: bot.get_star_transactions(offset=100, limit=100)).transactions

    assert len(first) == 100 and len(second) == 51
    assert first[0].id == "charge-0" and first[0].receiver.user.id == 42  # the refund, newest
    assert first[1].source.invoice_payload == "p-149"
    assert star_balance(fake_telegram) == 149


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
def test_rate_limit_raises_retry_after(fake_telegram):
    fake_telegram.fail_next("sendMessage", status=429, retry_after=3)

    with pytest.raises(RetryAfter, match="Retry in 3 seconds"):
        with_bot(fake_telegram, lambda bot: bot.send_message(chat_id=42, text="hi"))

    with_bot(fake_telegram, lambda bot: bot.send_message(chat_id=42, text="hi"))  # only the next call fails
    assert fake_telegram.sent_texts(42) == ["hi"]


def test_server_error_raises_network_error_times_times(fake_telegram):
    fake_telegram.fail_next("sendMessage", status=500, times=2)

    for _ in range(2):
        with pytest.raises(NetworkError, match="Internal Server Error"):
            with_bot(fake_telegram, lambda bot: bot.send_message(chat_id=42, text="hi"))
    with_bot(fake_telegram, lambda bot: bot.send_message(chat_id=42, text="hi"))

    assert [c.status for c in fake_telegram.calls("sendMessage")] == [500, 500, 200]


def test_a_failure_with_when_fails_only_the_calls_with_those_parameters(fake_telegram):
    fake_telegram.fail_next("sendMessage", status=500, when={"text": "second"})

    with_bot(fake_telegram, lambda bot: bot.send_message(chat_id=42, text="first"))
    with pytest.raises(NetworkError):
        with_bot(fake_telegram, lambda bot: bot.send_message(chat_id=42, text="second"))
    with_bot(fake_telegram, lambda bot: bot.send_message(chat_id=42, text="second"))

    assert [c.status for c in fake_telegram.calls("sendMessage")] == [200, 500, 200]


def test_heal_ends_an_outage_of_any_length(fake_telegram):
    fake_telegram.fail_next("*", status=502, times=1_000_000)
    with pytest.raises(NetworkError):
        with_bot(fake_telegram, lambda bot: bot.send_message(chat_id=42, text="down"))

    fake_telegram.heal()

    with_bot(fake_telegram, lambda bot: bot.send_message(chat_id=42, text="up"))
    assert fake_telegram.sent_texts(42) == ["up"]


def test_slow_answer_times_out_the_client(fake_telegram):
    fake_telegram.fail_next("sendMessage", delay=1.0)

    with pytest.raises(TimedOut):
        with_bot(fake_telegram, lambda bot: bot.send_message(chat_id=42, text="hi"), timeout=0.2)


def test_slow_answer_still_answers(fake_telegram):
    fake_telegram.fail_next("getMyStarBalance", delay=0.3)
    started = time.monotonic()

    assert star_balance(fake_telegram) == 0
    assert time.monotonic() - started >= 0.3


def test_a_delayed_answer_overtaken_by_reset_is_dropped(fake_telegram):
    fake_telegram.fail_next("sendMessage", delay=30.0)
    with pytest.raises(TimedOut):
        with_bot(fake_telegram, lambda bot: bot.send_message(chat_id=42, text="late"), timeout=0.2)

    fake_telegram.reset()
    fake_telegram.wait_idle(timeout=5)  # reset() woke the delayed answer long before its 30 s

    assert fake_telegram.calls() == [] and fake_telegram.sent_messages() == []


def test_many_connections_opened_at_once_are_all_answered(fake_telegram):
    url = f"{fake_telegram.base_url}/bot{fake_telegram.token}/sendMessage"

    def send(i: int) -> int:
        with httpx.Client() as http:  # a fresh connection each
            return http.post(url, json={"chat_id": 7, "text": f"m{i}"}).status_code

    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = list(pool.map(send, range(50)))

    assert statuses == [200] * 50
    assert len(fake_telegram.sent_texts(7)) == 50


def test_set_my_commands_are_stored_per_language(fake_telegram):
    async def flow(bot):
        await bot.set_my_commands([("start", "Start"), ("paysupport", "Payment help")], language_code="en")
        return await bot.get_my_commands(language_code="en")

    commands = with_bot(fake_telegram, flow)

    assert [c.command for c in commands] == ["start", "paysupport"]
    assert ("default", "en") in fake_telegram.commands


def test_wait_for_call_times_out_with_the_calls_seen(fake_telegram):
    with pytest.raises(TimeoutError, match="sendInvoice"):
        fake_telegram.wait_for_call("sendInvoice", timeout=0.1)


def test_reset_wakes_a_pending_long_poll(fake_telegram):
    async def flow(bot):
        asyncio.get_running_loop().call_later(0.2, fake_telegram.reset)
        started = time.monotonic()
        await bot.get_updates(timeout=10)
        return time.monotonic() - started

    assert with_bot(fake_telegram, flow, timeout=15) < 2


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


def test_send_photo_upload_is_recorded_with_caption_and_keyboard(fake_telegram):
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Open", url="https://example.com/sub")]])

    message = with_bot(
        fake_telegram,
        lambda bot: bot.send_photo(chat_id=42, photo=PNG, caption="Your QR", filename="qr.png", reply_markup=markup),
    )

    assert message.caption == "Your QR" and message.photo[-1].file_size == len(PNG)
    (photo,) = fake_telegram.sent_photos(42)
    assert (photo.data, photo.filename, photo.content_type, photo.caption) == (PNG, "qr.png", "image/png", "Your QR")
    assert photo.message["reply_markup"]["inline_keyboard"][0][0]["url"] == "https://example.com/sub"
    assert fake_telegram.sent_messages(42) == [photo.message]
    assert isinstance(fake_telegram.calls("sendPhoto")[0].params["photo"], Upload)


def test_send_photo_caption_in_cyrillic_arrives_intact(fake_telegram):
    with_bot(fake_telegram, lambda bot: bot.send_photo(chat_id=42, photo=PNG, caption="Ваш QR-код", filename="qr.png"))

    assert fake_telegram.sent_photos(42)[0].caption == "Ваш QR-код"


def test_send_photo_by_file_id_is_recorded_without_bytes(fake_telegram):
    with_bot(fake_telegram, lambda bot: bot.send_photo(chat_id=42, photo="AgACfileid"))

    (photo,) = fake_telegram.sent_photos(42)
    assert photo.data is None and photo.caption is None


def test_send_photo_that_is_not_an_image_is_rejected(fake_telegram):
    with pytest.raises(BadRequest, match="(?i)image_process_failed"):
        with_bot(fake_telegram, lambda bot: bot.send_photo(chat_id=42, photo=b"not an image", filename="x.png"))

    assert fake_telegram.sent_photos() == []


def test_send_photo_caption_longer_than_1024_is_rejected(fake_telegram):
    with pytest.raises(BadRequest, match="caption is too long"):
        with_bot(fake_telegram, lambda bot: bot.send_photo(chat_id=42, photo=PNG, caption="c" * 1025))


def test_create_invoice_link_records_a_30_day_subscription_period(fake_telegram):
    link = with_bot(fake_telegram, lambda bot: bot.create_invoice_link(**invoice_kwargs(), subscription_period=2592000))

    assert link.startswith("https://t.me/$")
    assert fake_telegram.invoice_links[0]["subscription_period"] == 2592000


def test_star_transaction_carries_its_subscription_period(fake_telegram):
    fake_telegram.add_star_transaction(42, "p-1", 100, "charge-1", subscription_period=2592000)

    result = with_bot(fake_telegram, lambda bot: bot.get_star_transactions())

    assert result.transactions[0].source.subscription_period.total_seconds() == 2592000


def test_edit_user_star_subscription_is_recorded(fake_telegram):
    fake_telegram.add_star_transaction(42, "p-1", 100, "charge-1", subscription_period=2592000)

    ok = with_bot(
        fake_telegram,
        lambda bot: bot.edit_user_star_subscription(
            user_id=42, telegram_payment_charge_id="charge-1", is_canceled=True
        ),
    )

    assert ok is True
    assert fake_telegram.subscription_edits == [{"user_id": 42, "charge_id": "charge-1", "is_canceled": True}]


@pytest.mark.parametrize(("user_id", "charge_id"), [(43, "charge-1"), (42, "nope")], ids=["other-user", "unknown"])
def test_edit_user_star_subscription_of_a_charge_the_user_did_not_pay_is_refused(fake_telegram, user_id, charge_id):
    fake_telegram.add_star_transaction(42, "p-1", 100, "charge-1", subscription_period=2592000)

    with pytest.raises(BadRequest, match="(?i)charge_id_invalid"):
        with_bot(
            fake_telegram,
            lambda bot: bot.edit_user_star_subscription(
                user_id=user_id, telegram_payment_charge_id=charge_id, is_canceled=True
            ),
        )

    assert fake_telegram.subscription_edits == []
