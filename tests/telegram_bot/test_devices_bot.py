"""📱 Devices in the bot, end to end in Russian: the real bot (webhook view), the fake Bot API
and the fake Remnawave panel. The buyer sees the devices the panel registered, how many
of the tariff's limit they use, and removes one."""

from datetime import UTC, datetime

import pytest

from subscriptions.models import Subscription, Tariff
from tests.telegram_bot.support import buttons_of, callbacks_of, message_text

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("client_apps")]

RU = {"id": 700_601, "is_bot": False, "first_name": "Иван", "language_code": "ru"}
OTHER = {"id": 700_602, "is_bot": False, "first_name": "Пётр", "language_code": "ru"}


@pytest.fixture
def buyer_with_panel_user(bot, fake_telegram, fake_panel, tariffs):
    """A Russian buyer who paid for 1 month with a 3-device limit: the panel user exists."""

    def run(user: dict) -> str:
        Tariff.objects.filter(code="1m").update(device_limit=3)
        bot("inject_callback", user, "pay:1m")
        payload = fake_telegram.invoices(user["id"])[-1]["payload"]
        bot("inject_pre_checkout", user, payload, 100)
        bot("inject_successful_payment", user, payload, 100)
        return Subscription.objects.get(user__telegram_id=user["id"]).panel_username

    return run


def only(messages: list[dict]) -> dict:
    [message] = messages
    return message


def test_open_devices_see_two_of_three_remove_one_see_one_of_three(bot, fake_panel, buyer_with_panel_user):
    # given a buyer whose panel user has two devices
    username = buyer_with_panel_user(RU)
    fake_panel.add_device(
        username,
        hwid="hw-iphone",
        platform="iOS",
        os_version="18.2",
        device_model="iPhone 15",
        first_seen=datetime(2025, 3, 1, 10, tzinfo=UTC),
        last_seen=datetime(2025, 3, 5, 18, tzinfo=UTC),
    )
    fake_panel.add_device(username, hwid="hw-laptop", platform="Windows", os_version="11")

    # when they open My subscription, then it leads to the devices
    subscription = only(bot("inject_callback", RU, "sub"))
    assert {"text": "📱 Устройства", "callback_data": "dev"} in buttons_of(subscription)

    # when they open Devices
    screen = only(bot("inject_callback", RU, "dev"))

    # then they see both devices and 2 of 3 used
    text = message_text(screen)
    assert "📱 Устройства" in text
    assert "Использовано: 2 из 3." in text
    assert "1. iPhone 15 — iOS 18.2" in text
    assert "впервые 1 марта 2025, последний раз 5 марта 2025" in text
    assert "2. Windows — Windows 11" in text
    remove = [b for b in buttons_of(screen) if b["callback_data"].startswith("dev:rm:")]
    assert [b["text"] for b in remove] == ["🗑 Удалить 1. iPhone 15", "🗑 Удалить 2. Windows"]

    # when they remove the iPhone
    after = only(bot("inject_callback", RU, remove[0]["callback_data"]))

    # then the panel no longer has it, and the screen shows 1 of 3
    assert [d["hwid"] for d in fake_panel.devices_of(username)] == ["hw-laptop"]
    text = message_text(after)
    assert "✅ Устройство удалено." in text
    assert "Использовано: 1 из 3." in text
    assert "iPhone" not in text.split("Использовано")[1]
    assert [c for c in callbacks_of(after) if c.startswith("dev:rm:")] == [remove[1]["callback_data"]]


def test_a_second_press_on_a_removed_device_is_harmless(bot, fake_panel, buyer_with_panel_user):
    username = buyer_with_panel_user(RU)
    fake_panel.add_device(username, hwid="hw-a", platform="Android")
    screen = only(bot("inject_callback", RU, "dev"))
    [remove] = [c for c in callbacks_of(screen) if c.startswith("dev:rm:")]
    bot("inject_callback", RU, remove)

    # when the old button is pressed again (a double tap, a retried update)
    again = only(bot("inject_callback", RU, remove))

    # then nothing else is deleted and the buyer reads that it is gone
    assert "Этого устройства уже нет в вашем списке." in message_text(again)
    assert "Использовано: 0 из 3." in message_text(again)
    assert len(fake_panel.calls_to("POST", "/api/hwid/devices/delete")) == 1


def test_a_device_id_of_another_buyer_removes_nothing(bot, fake_panel, buyer_with_panel_user):
    # given two buyers, each with a device
    mine = buyer_with_panel_user(RU)
    theirs = buyer_with_panel_user(OTHER)
    fake_panel.add_device(mine, hwid="hw-mine", platform="iOS")
    fake_panel.add_device(theirs, hwid="hw-theirs", platform="Android")
    their_screen = only(bot("inject_callback", OTHER, "dev"))
    [their_button] = [c for c in callbacks_of(their_screen) if c.startswith("dev:rm:")]

    # when the first buyer sends the other's remove button data
    answer = only(bot("inject_callback", RU, their_button))

    # then the other's device stays, and no delete reached the panel
    assert [d["hwid"] for d in fake_panel.devices_of(theirs)] == ["hw-theirs"]
    assert fake_panel.calls_to("POST", "/api/hwid/devices/delete") == []
    assert "Использовано: 1 из 3." in message_text(answer)


def test_panel_down_says_so_and_shows_the_last_known_list(bot, fake_panel, buyer_with_panel_user):
    username = buyer_with_panel_user(RU)
    fake_panel.add_device(username, hwid="hw-a", platform="Android", device_model="Pixel 8")
    bot("inject_callback", RU, "dev")  # a good reading first

    # when the panel stops answering
    fake_panel.down = True
    screen = only(bot("inject_callback", RU, "dev"))

    # then the buyer reads the last known list and why, not an error
    text = message_text(screen)
    assert "Pixel 8" in text
    assert "Панель VPN сейчас не отвечает: это последний известный список." in text

    # and a removal while it is down says it did not happen
    [remove] = [c for c in callbacks_of(screen) if c.startswith("dev:rm:")]
    failed = only(bot("inject_callback", RU, remove))
    assert "устройство не удалено" in message_text(failed)
    fake_panel.down = False
    assert [d["hwid"] for d in fake_panel.devices_of(username)] == ["hw-a"]


def test_panel_down_with_nothing_known_says_try_later(bot, fake_panel, buyer_with_panel_user):
    buyer_with_panel_user(RU)
    fake_panel.down = True

    screen = only(bot("inject_callback", RU, "dev"))

    assert "Панель VPN сейчас не отвечает. Попробуйте через минуту." in message_text(screen)


def test_my_subscription_shows_traffic_used_of_the_limit_and_the_reset_date(
    bot, fake_panel, buyer_with_panel_user, settings
):
    username = buyer_with_panel_user(RU)
    fake_panel.user(username).update(trafficLimitBytes=50 * 2**30, trafficLimitStrategy="MONTH")
    fake_panel.set_traffic(username, used_bytes=int(3.3 * 2**30))

    text = message_text(only(bot("inject_callback", RU, "sub")))

    assert "📊 Трафик: 3,3 ГБ из 50 ГБ · сброс 1 " in text


def test_without_a_panel_the_devices_screen_says_plainly_there_are_none(bot, settings, tariffs):
    settings.PROVISIONING_BACKEND = "none"

    screen = only(bot("inject_callback", RU, "dev"))

    assert "Этот магазин не управляет устройствами VPN, поэтому списка устройств здесь нет." in message_text(screen)


def test_paying_never_reads_the_panel_for_traffic_or_devices(bot, fake_telegram, fake_panel, tariffs, monkeypatch):
    # given panel reads that would fail loudly
    def refuse(**kwargs):
        raise AssertionError("a panel read on a payment path")

    monkeypatch.setattr("telegram_bot.screens.traffic_for", refuse)
    monkeypatch.setattr("telegram_bot.screens.devices_for", refuse)

    # when a buyer pays (pre-checkout, then the payment)
    bot("inject_callback", RU, "pay:1m")
    payload = fake_telegram.invoices(RU["id"])[-1]["payload"]
    bot("inject_pre_checkout", RU, payload, 100)
    confirmation = bot("inject_successful_payment", RU, payload, 100)

    # then it is accepted and confirmed as ever
    assert [answer.ok for answer in fake_telegram.precheckout_answers.values()] == [True]
    assert any("Оплата получена" in message_text(m) for m in confirmation)
