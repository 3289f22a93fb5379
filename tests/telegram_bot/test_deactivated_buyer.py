"""A buyer deactivated in the admin (is_active off) is refused by the bot with a clear
message, not served and not a traceback; money Telegram already moved is still recorded."""

import pytest

from payments.ledger import balance_adjust
from payments.models import Payment
from telegram_bot.models import TelegramUpdate
from tests.payments.factories import PaymentFactory
from tests.telegram_bot.support import callbacks_of, message_text, said
from tests.users.factories import UserFactory
from users.models import User

pytestmark = pytest.mark.django_db(transaction=True)

EN = {"id": 700_961, "is_bot": False, "first_name": "Gone", "language_code": "en"}
REFUSAL = "Your account in this shop is deactivated"


@pytest.fixture
def deactivated(db):
    return UserFactory(telegram_id=EN["id"], language_code="en", is_active=False)


def assert_refused_without_error(messages):
    assert REFUSAL in said(messages)
    assert all(not callbacks_of(m) for m in messages)  # nothing left to press
    update = TelegramUpdate.objects.order_by("-pk").first()
    assert (update.status, update.error) == (TelegramUpdate.Status.DONE, "")


@pytest.mark.parametrize("command", ["start", "buy", "menu", "help"])
def test_a_command_is_answered_with_the_refusal(bot, deactivated, command):
    assert_refused_without_error(bot("inject_command", EN, command))


def test_russian_is_the_default_for_the_refusal(bot, db):
    UserFactory(telegram_id=700_962, language_code="", is_active=False)
    sender = {"id": 700_962, "is_bot": False, "first_name": "Ушёл"}

    assert "Ваш аккаунт в этом магазине отключён" in said(bot("inject_command", sender, "start"))


def test_a_button_buys_nothing(bot, deactivated, fake_telegram, tariff_1m):
    assert_refused_without_error(bot("inject_callback", EN, "pay:1m"))
    assert fake_telegram.invoices(EN["id"]) == []
    assert not Payment.objects.exists()


def test_the_balance_is_not_spent(bot, deactivated, tariff_1m):
    balance_adjust(user=deactivated, delta=500, reason="credit before deactivation")

    assert_refused_without_error(bot("inject_callback", EN, "bpay:1m"))
    assert User.objects.get(pk=deactivated.pk).stars_balance == 500
    assert not Payment.objects.exists()


def test_a_started_invoice_is_refused_at_pre_checkout(fake_telegram, webhook, deactivated, tariff_1m):
    payment = PaymentFactory(user=deactivated, tariff=tariff_1m)  # sent before the buyer was deactivated
    query = fake_telegram.inject_pre_checkout(EN, payment.invoice_payload, 100, deliver=False)

    assert webhook(query).status_code == 200

    answer = fake_telegram.wait_for_precheckout_answer(query)
    assert (answer.ok, answer.error_message.startswith("This account is deactivated")) == (False, True)


def test_money_telegram_moved_is_still_recorded(bot, deactivated, tariff_1m):
    payment = PaymentFactory(user=deactivated, tariff=tariff_1m)  # paid as it was deactivated

    bot("inject_successful_payment", EN, payment.invoice_payload, 100, charge_id="paid-while-deactivated")

    assert Payment.objects.get(pk=payment.pk).status == Payment.Status.SUCCEEDED
    update = TelegramUpdate.objects.order_by("-pk").first()
    assert (update.status, update.error) == (TelegramUpdate.Status.DONE, "")


def test_the_records_are_kept(bot, deactivated, tariff_1m):
    payment = PaymentFactory(user=deactivated, tariff=tariff_1m)

    bot("inject_command", EN, "start")

    assert User.objects.filter(pk=deactivated.pk, is_active=False).exists()
    assert Payment.objects.filter(pk=payment.pk).exists()


def test_an_active_buyer_is_served(bot, db):
    UserFactory(telegram_id=EN["id"], language_code="en")

    assert REFUSAL not in message_text(bot("inject_command", EN, "start")[0])
