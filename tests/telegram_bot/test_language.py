"""The language switch: 🌐 in the main menu and /language; the choice is stored per
user and wins over Telegram's language_code, across /start, restarts,
notifications and reminders."""

from datetime import timedelta

import pytest
from django.utils import timezone

from subscriptions.models import Subscription
from subscriptions.reminders import send_expiry_reminders
from tests.subscriptions.factories import SubscriptionFactory
from tests.telegram_bot.support import Buyer, callbacks_of, message_text
from tests.users.factories import UserFactory
from users.models import User

pytestmark = pytest.mark.django_db(transaction=True)

RU = {"id": 700_901, "is_bot": False, "first_name": "Иван", "language_code": "ru"}


def test_the_menu_has_a_language_button_with_both_choices(bot):
    [menu] = bot("inject_command", RU, "start")
    assert "lang" in callbacks_of(menu)

    [choice] = bot("inject_callback", RU, "lang", message_id=menu["message_id"])

    assert "Выберите язык" in message_text(choice) and "Choose your language" in message_text(choice)
    assert callbacks_of(choice) == ["lang:ru", "lang:en", "menu"]
    assert choice["reply_markup"]["inline_keyboard"][0][0]["text"] == "✓ 🇷🇺 Русский"


def test_choosing_english_redraws_the_menu_in_english_and_is_kept(bot):
    [menu] = bot("inject_command", RU, "start")

    [english] = bot("inject_callback", RU, "lang:en", message_id=menu["message_id"])

    assert "The bot now speaks English." in message_text(english)
    assert english["reply_markup"]["inline_keyboard"][0][0]["text"] == "🛒 Buy"
    assert User.objects.get(telegram_id=RU["id"]).bot_language == "en"
    # Telegram still says "ru" with every update: the choice wins
    assert "Choose an action" in message_text(bot("inject_command", RU, "start")[0])


def test_the_language_command_opens_the_switch(bot):
    [choice] = bot("inject_command", RU, "language")

    assert callbacks_of(choice)[:2] == ["lang:ru", "lang:en"]


def test_an_unknown_language_changes_nothing(bot):
    bot("inject_callback", RU, "lang:de")

    assert User.objects.get(telegram_id=RU["id"]).bot_language == ""


def test_the_choice_survives_a_restart_of_the_bot(fake_telegram, polling_bot):
    buyer = Buyer(fake_telegram, 700_902, language_code="ru")
    first = polling_bot().start()
    buyer.command("start", expect="Выберите действие")
    buyer.press("lang:en", expect="The bot now speaks English.")
    first.stop()

    polling_bot().start()

    assert "Choose an action" in message_text(buyer.command("start", expect="Choose an action"))


def test_reminders_use_the_chosen_language(fake_telegram):
    user = UserFactory(language_code="ru", bot_language="en")
    SubscriptionFactory(user=user, expires_at=timezone.now() + timedelta(hours=12), status=Subscription.Status.ACTIVE)

    send_expiry_reminders()

    [reminder] = fake_telegram.sent_messages(user.telegram_id)
    assert message_text(reminder).startswith("Your VPN subscription ends tomorrow")


def test_pre_checkout_refusals_use_the_chosen_language(bot, fake_telegram):
    UserFactory(telegram_id=RU["id"], language_code="ru", bot_language="en")

    bot("inject_pre_checkout", RU, "no-such-invoice", 100)

    [answer] = fake_telegram.precheckout_answers.values()
    assert answer.error_message == "This invoice is unknown. Please start a new purchase."
