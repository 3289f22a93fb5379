"""`runbot`'s update loop against the fake Bot API server: the command menu, store-before-handle,
retries when Telegram fails, and the apology when a handler breaks."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from payments.models import LedgerEntry
from payments.services import purchase_create_invoice
from telegram_bot import services, texts
from telegram_bot.models import TelegramUpdate
from tests.telegram_bot.support import Buyer
from tests.users.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fast_retries(settings):
    settings.TELEGRAM_UPDATE_RETRY_SECONDS = 0


def test_start_sets_the_command_menu_in_russian_and_english(fake_telegram, polling_bot):
    polling_bot().start()
    fake_telegram.wait_for_calls("setMyCommands", 3)

    commands = fake_telegram.commands
    english = {c["command"]: c["description"] for c in commands[("default", "en")]}
    russian = {c["command"]: c["description"] for c in commands[("default", "ru")]}
    assert english["paysupport"] == "Help with payments"
    assert russian["terms"] == "Условия использования"
    assert set(english) == {"start", "buy", "language", "paysupport", "terms", "privacy", "help"}


def test_polling_asks_for_the_update_types_it_handles(fake_telegram, polling_bot):
    polling_bot().start()

    call = fake_telegram.wait_for_call("getUpdates")
    assert set(call.params["allowed_updates"]) >= {"message", "callback_query", "pre_checkout_query"}


def test_an_update_already_stored_is_not_handled_again(fake_telegram, polling_bot):
    # given an update that was stored (and handled) before a restart
    buyer = Buyer(fake_telegram, 700_501)
    old = fake_telegram.inject_command(buyer.user, "help", deliver=False)
    services.update_store(raw=dict(old))
    bot = polling_bot().start()

    # when Telegram delivers it again, followed by a new one
    fake_telegram.deliver(old)
    buyer.command("terms", expect="Terms of service")
    bot.stop()

    # then only the new one was answered
    assert len(fake_telegram.sent_messages(buyer.id)) == 1


def test_an_unfinished_stored_update_is_run_by_the_loop(fake_telegram, polling_bot):
    # given an update stored by a worker that died before handling it
    buyer = Buyer(fake_telegram, 700_502)
    row, _ = services.update_store(raw=dict(fake_telegram.inject_command(buyer.user, "help", deliver=False)))
    TelegramUpdate.objects.filter(pk=row.pk).update(received_at=timezone.now() - timedelta(minutes=5))

    # when the loop runs, then it is answered and done
    bot = polling_bot(retry_interval=0.1).start()
    buyer.wait_new(0, "/paysupport")
    bot.stop()
    assert TelegramUpdate.objects.get(pk=row.pk).status == TelegramUpdate.Status.DONE


@pytest.mark.parametrize("failure", [{"status": 500}, {"status": 429, "retry_after": 1}])
def test_get_updates_failures_are_retried_and_nothing_is_lost(fake_telegram, polling_bot, failure):
    buyer = Buyer(fake_telegram, 700_503)
    fake_telegram.fail_next("getUpdates", times=2, **failure)
    polling_bot().start()

    buyer.command("help", expect="/paysupport")


@pytest.mark.parametrize("failure", [{"status": 500}, {"status": 429, "retry_after": 1}])
def test_a_failed_answer_is_retried_until_it_is_sent(fake_telegram, polling_bot, fast_retries, failure):
    # given Telegram refuses the bot's first answer
    buyer = Buyer(fake_telegram, 700_504)
    fake_telegram.fail_next("sendMessage", **failure)
    bot = polling_bot(retry_interval=0.1).start()

    # when the user asks, then the answer arrives on a retry
    buyer.command("help", expect="/paysupport")
    bot.stop()
    row = TelegramUpdate.objects.get()
    assert (row.status, row.attempts) == (TelegramUpdate.Status.DONE, 2)


def test_handler_error_apologises_and_stores_the_error(fake_telegram, polling_bot, monkeypatch):
    def broken() -> str:
        raise RuntimeError("terms are on fire")

    monkeypatch.setattr(texts, "terms", broken)
    buyer = Buyer(fake_telegram, 700_505, language_code="ru")
    bot = polling_bot().start()

    apology = buyer.command("terms", expect="Извините")
    bot.stop()

    assert apology["text"] == "Извините, что-то пошло не так. Попробуйте ещё раз через минуту."
    row = TelegramUpdate.objects.get()
    assert row.status == TelegramUpdate.Status.FAILED
    assert "terms are on fire" in row.error


def test_the_same_payment_in_two_updates_grants_and_confirms_once(fake_telegram, polling_bot, tariffs):
    buyer = Buyer(fake_telegram, 700_506)
    bot = polling_bot().start()
    buyer.press("pay:1m", expect="VPN")
    payload = fake_telegram.invoices(buyer.id)[0]["payload"]

    since = buyer.seen()
    first = fake_telegram.inject_successful_payment(buyer.user, payload, 100, charge_id="poll-dup")
    fake_telegram.deliver(first, new_id=True)
    buyer.wait_new(since, "Payment received")
    buyer.command("help", expect="/paysupport")  # both payment updates were handled before this one
    bot.stop()

    texts_sent = [m.get("text", "") for m in fake_telegram.sent_messages(buyer.id)[since:]]
    assert sum("Payment received" in text for text in texts_sent) == 1
    assert LedgerEntry.objects.filter(gateway_tx_id="poll-dup").count() == 1
    assert TelegramUpdate.objects.filter(kind="successful_payment", status="done").count() == 2


def _wait_fetched(fake, update, timeout: float = 10.0) -> None:
    """Until the loop has stored `update` and asked for the next ones (its offset confirms it)."""
    deadline = time.monotonic() + timeout
    while fake.confirmed_update_id < update.update_id:
        assert time.monotonic() < deadline, f"update {update.update_id} was not fetched"
        time.sleep(0.01)


def test_a_slow_answer_to_one_user_does_not_hold_up_another(fake_telegram, polling_bot):
    # given Telegram is slow to take the first user's answer
    alice, bob = Buyer(fake_telegram, 700_601), Buyer(fake_telegram, 700_602)
    polling_bot().start()
    fake_telegram.fail_next("sendMessage", delay=3.0)
    _wait_fetched(fake_telegram, fake_telegram.inject_command(alice.user, "help"))

    # when another user writes meanwhile, then they are answered at once
    bob.command("terms", expect="Terms of service")
    assert alice.seen() == 0
    alice.wait_new(0, "/paysupport")


def test_one_users_updates_are_handled_in_order_even_when_the_first_is_slow(fake_telegram, polling_bot):
    buyer = Buyer(fake_telegram, 700_603)
    polling_bot().start()
    fake_telegram.fail_next("sendMessage", delay=1.0)
    _wait_fetched(fake_telegram, fake_telegram.inject_command(buyer.user, "help"))

    fake_telegram.inject_command(buyer.user, "terms")

    buyer.wait_new(1, "Terms of service")
    assert "/paysupport" in fake_telegram.sent_messages(buyer.id)[0]["text"]


def test_an_update_postgresql_cannot_store_never_blocks_the_ones_after_it(fake_telegram, polling_bot, tariffs):
    # given a buyer with an invoice, and a message holding U+0000 ahead of their pre-checkout
    buyer = Buyer(fake_telegram, 700_509)
    user = UserFactory(telegram_id=buyer.id)
    payment = purchase_create_invoice(user=user, tariff="1m").payment
    bad = fake_telegram.inject_message(buyer.user, "PROMO\x00CODE")
    query = fake_telegram.inject_pre_checkout(buyer.user, payment.invoice_payload, 100)

    # when the loop runs
    bot = polling_bot().start()
    answer = fake_telegram.wait_for_precheckout_answer(query.query_id, timeout=10)
    fake_telegram.wait_for_call("getUpdates", predicate=lambda c: c.params.get("offset", 0) > query.update_id)
    bot.stop()

    # then the pre-checkout is answered, and the bad update is stored as far as possible, flagged and handled
    assert answer.ok
    stored = TelegramUpdate.objects.get(update_id=bad.update_id)
    assert stored.altered and stored.raw["message"]["text"] == "PROMO\ufffdCODE"
    assert stored.status == TelegramUpdate.Status.DONE
