"""The free trial in the bot: a button only for eligible buyers, no invoice, one trial."""

import pytest

from payments.models import Payment, TrialClaim
from subscriptions.models import Subscription
from tests.payments.factories import PaymentFactory
from tests.payments.helpers import pay
from tests.telegram_bot.support import callbacks_of, message_text
from tests.users.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

RU = {"id": 700_701, "is_bot": False, "first_name": "Иван", "language_code": "ru"}


@pytest.fixture(autouse=True)
def trial_on(settings):
    settings.TRIAL_DAYS = 3


def test_a_new_buyer_sees_the_trial_button(bot):
    [menu] = bot("inject_command", RU, "start")

    assert callbacks_of(menu)[0] == "trial"
    assert menu["reply_markup"]["inline_keyboard"][0][0]["text"] == "🎁 Попробовать бесплатно: 3 дня"


def test_the_trial_starts_without_an_invoice_and_the_button_goes(bot, fake_telegram):
    [menu] = bot("inject_command", RU, "start")

    [started] = bot("inject_callback", RU, "trial", message_id=menu["message_id"])

    assert "Бесплатный период включён: 3 дня." in message_text(started)
    assert fake_telegram.invoices(RU["id"]) == []
    assert Subscription.objects.get(user__telegram_id=RU["id"]).is_active
    [menu_again] = bot("inject_callback", RU, "menu", message_id=started["message_id"])
    assert "trial" not in callbacks_of(menu_again)


def test_tapping_the_trial_twice_gives_one(bot):
    [menu] = bot("inject_command", RU, "start")
    bot("inject_callback", RU, "trial", message_id=menu["message_id"])

    [second] = bot("inject_callback", RU, "trial", message_id=menu["message_id"])

    assert "Вы уже воспользовались бесплатным периодом." in message_text(second)
    assert TrialClaim.objects.count() == 1
    assert Payment.objects.filter(purchase_type="trial").count() == 1


def test_no_trial_button_for_someone_who_has_paid(bot, tariff_1m):
    pay(PaymentFactory(user=UserFactory(telegram_id=RU["id"]), tariff=tariff_1m))

    [menu] = bot("inject_command", RU, "start")
    [status] = bot("inject_callback", RU, "sub", message_id=menu["message_id"])

    assert "trial" not in callbacks_of(menu)
    assert "trial" not in callbacks_of(status)


def test_no_trial_button_while_the_trial_is_off(bot, settings):
    settings.TRIAL_DAYS = 0

    [menu] = bot("inject_command", RU, "start")

    assert "trial" not in callbacks_of(menu)


def test_my_subscription_offers_the_trial_to_a_newcomer(bot):
    [status] = bot("inject_callback", RU, "sub")

    assert callbacks_of(status) == ["trial", "buy", "menu"]
