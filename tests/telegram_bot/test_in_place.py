"""A chat that updates in place: a button press edits the message it belongs to;
only the invoice, confirmations and notifications are new messages. Telegram's
"message is not modified" and "message to edit not found" are handled."""

import pytest

from telegram_bot.models import TelegramUpdate
from tests.telegram_bot.support import Buyer, callbacks_of, message_text

pytestmark = pytest.mark.django_db(transaction=True)

EN = {"id": 700_601, "is_bot": False, "first_name": "Dan", "language_code": "en"}


def sends(fake, chat_id: int) -> int:
    return len(fake.sent_messages(chat_id))


def test_navigating_the_menus_edits_one_message(bot, fake_telegram, tariffs):
    [menu] = bot("inject_command", EN, "start")

    for data, expected in [
        ("buy", "Choose a tariff"),
        ("t:3m", "Total: 250 ⭐ for 90 days"),
        ("buy", "Choose a tariff"),
        ("menu", "Main menu"),
        ("sub", "You have no subscription yet."),
        ("menu", "Main menu"),
        ("bal", "Your balance"),
        ("menu", "Main menu"),
        ("help", "/paysupport"),
        ("menu", "Main menu"),
        ("ref", "Invite friends"),
        ("menu", "Main menu"),
        ("lang", "Choose your language"),
        ("menu", "Main menu"),
        ("promo", "Send the promo code"),
        ("cancel", "Promo code entry cancelled."),
    ]:
        [screen] = bot("inject_callback", EN, data, message_id=menu["message_id"])
        assert screen["message_id"] == menu["message_id"], data
        assert expected in message_text(screen), data

    assert sends(fake_telegram, EN["id"]) == 1  # only /start's answer was a new message


def test_only_the_invoice_is_a_new_message_on_the_way_to_paying(bot, fake_telegram, tariffs):
    [menu] = bot("inject_command", EN, "start")
    bot("inject_callback", EN, "buy", message_id=menu["message_id"])
    bot("inject_callback", EN, "t:1m", message_id=menu["message_id"])

    [invoice] = bot("inject_callback", EN, "pay:1m", message_id=menu["message_id"])

    assert invoice["invoice"]["title"] == "VPN: 1 month"
    assert sends(fake_telegram, EN["id"]) == 2
    assert "pay:1m" in callbacks_of(fake_telegram.message(EN["id"], menu["message_id"]))  # the summary stays


def test_pressing_a_button_for_the_screen_already_shown_is_fine(bot, fake_telegram):
    [menu] = bot("inject_command", EN, "start")
    bot("inject_callback", EN, "menu", message_id=menu["message_id"])

    again = bot("inject_callback", EN, "menu", message_id=menu["message_id"])

    # Telegram said "message is not modified": nothing new, and the update is done, not failed
    assert [c.status for c in fake_telegram.calls("editMessageText")][-1] == 400
    assert again == []
    assert sends(fake_telegram, EN["id"]) == 1
    assert set(TelegramUpdate.objects.values_list("status", flat=True)) == {"done"}


def test_a_message_that_cannot_be_edited_gets_a_new_one(bot, fake_telegram):
    [menu] = bot("inject_command", EN, "start")
    fake_telegram.fail_next("editMessageText", 400, description="Bad Request: message to edit not found")

    [screen] = bot("inject_callback", EN, "help", message_id=menu["message_id"])

    assert screen["message_id"] != menu["message_id"]
    assert "/paysupport" in message_text(screen)
    assert set(TelegramUpdate.objects.values_list("status", flat=True)) == {"done"}


def test_a_deleted_message_is_replaced_by_a_new_one(bot, fake_telegram, webhook):
    [menu] = bot("inject_command", EN, "start")
    update = fake_telegram.inject_callback(EN, "bal", message_id=menu["message_id"], deliver=False)
    fake_telegram.handle(
        fake_telegram.token, "deleteMessage", {"chat_id": EN["id"], "message_id": menu["message_id"]}, False
    )

    assert webhook(update).status_code == 200

    [balance] = fake_telegram.sent_messages(EN["id"])
    assert "Your balance" in message_text(balance)


def test_editing_works_through_the_polling_loop_too(fake_telegram, polling_bot, tariffs):
    polling_bot().start()
    buyer = Buyer(fake_telegram, 700_602)
    menu = buyer.command("start", expect="Choose an action")

    tariffs_screen = buyer.press("buy", expect="Choose a tariff")
    summary = buyer.press("t:1m", expect="Total: 100 ⭐")

    assert menu["message_id"] == tariffs_screen["message_id"] == summary["message_id"]
    assert buyer.seen() == 1
