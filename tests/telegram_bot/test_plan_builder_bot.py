"""The plan builder in the bot, in Russian, through python-telegram-bot and the fake Bot API:
period → devices → traffic → location (a step only where there is a choice), the price of
the configuration, the invoice and its payment, then a free change of location."""

import pytest

from payments.models import Payment
from subscriptions.models import ProvisioningTask, Subscription
from tests.subscriptions.factories import DeviceTierFactory, LocationFactory, TariffFactory, TrafficTierFactory
from tests.telegram_bot.support import buttons_of, callbacks_of, said

pytestmark = pytest.mark.django_db(transaction=True)

RU = {"id": 700_402, "is_bot": False, "first_name": "Иван", "language_code": "ru"}
NL_SQUAD = "11111111-1111-4111-8111-111111111111"
DE_SQUAD = "22222222-2222-4222-8222-222222222222"


def last_answer(fake_telegram):
    return max(fake_telegram.precheckout_answers.values(), key=lambda answer: answer.answered_at)


@pytest.fixture
def plan(db):
    """One plan, 30 days at 100 ⭐: 1 device or 3 (+30 ⭐), 100 GB (the only traffic tier),
    Netherlands or Germany (+10 ⭐)."""
    tariff = TariffFactory(code="vpn", title="VPN", title_ru="VPN на месяц", days=30, months=1, price_stars=100)
    one = DeviceTierFactory(device_limit=1)
    three = DeviceTierFactory(device_limit=3, monthly_price=30)
    traffic = TrafficTierFactory(traffic_limit_bytes=100 * 1024**3)
    nl = LocationFactory(title="Netherlands", title_ru="🇳🇱 Нидерланды", squads=[NL_SQUAD])
    de = LocationFactory(title="Germany", title_ru="🇩🇪 Германия", monthly_price=10, squads=[DE_SQUAD])
    tariff.device_tiers.set([one, three])
    tariff.traffic_tiers.set([traffic])
    tariff.locations.set([nl, de])
    return {"one": one, "three": three, "nl": nl, "de": de}


def test_a_buyer_builds_a_plan_pays_and_changes_location_in_russian(bot, fake_telegram, plan):
    three, nl, de = plan["three"].pk, plan["nl"].pk, plan["de"].pk

    # the period, then only the steps with a choice: devices, then location (one traffic tier: no step)
    [devices] = bot("inject_callback", RU, "t:vpn")
    assert "Сколько устройств?" in said([devices])
    assert [b["text"] for b in buttons_of(devices)][:2] == ["1 устройство", "3 устройства · +30 ⭐"]
    [location_step] = bot("inject_callback", RU, f"t:vpn:{three}.-.-")
    assert "Какая локация?" in said([location_step])
    assert f"t:vpn:{three}.-.{de}" in callbacks_of(location_step)

    [summary] = bot("inject_callback", RU, f"t:vpn:{three}.-.{de}")
    text = said([summary])
    assert "Итого: 140 ⭐" in text
    assert "📱 Устройства: 3 устройства" in text and "📍 Локация: 🇩🇪 Германия" in text
    assert f"pay:vpn:{three}.-.{de}" in callbacks_of(summary)

    # the invoice charges the configuration; its payment grants it
    bot("inject_callback", RU, f"pay:vpn:{three}.-.{de}")
    [invoice] = fake_telegram.invoices(RU["id"])
    assert invoice["prices"][0]["amount"] == 140
    bot("inject_pre_checkout", RU, invoice["payload"], 140)
    assert last_answer(fake_telegram).ok is True
    assert "Оплата получена" in said(bot("inject_successful_payment", RU, invoice["payload"], 140, charge_id="c-1"))
    subscription = Subscription.objects.get(user__telegram_id=RU["id"])
    assert (subscription.configuration["device_limit"], subscription.configuration["squads"]) == (3, [DE_SQUAD])

    # My subscription shows the location and offers to change it, free
    [mine] = bot("inject_callback", RU, "sub")
    assert "📍 Локация: 🇩🇪 Германия" in said([mine]) and "locs" in callbacks_of(mine)
    [choices] = bot("inject_callback", RU, "locs")
    assert callbacks_of(choices)[:2] == [f"loc:{nl}", f"loc:{de}"] and "✓ 🇩🇪 Германия" in [
        b["text"] for b in buttons_of(choices)
    ]

    changed = said(bot("inject_callback", RU, f"loc:{nl}"))

    assert "Локация изменена: 🇳🇱 Нидерланды." in changed
    subscription.refresh_from_db()
    assert subscription.configuration["squads"] == [NL_SQUAD]
    assert ProvisioningTask.objects.filter(user=subscription.user, reason="location", kind="sync").exists()
    assert Payment.objects.filter(user=subscription.user).count() == 1  # the change cost nothing


def test_a_changed_price_is_refused_at_precheckout_in_russian(bot, fake_telegram, plan):
    three, de = plan["three"].pk, plan["de"].pk
    bot("inject_callback", RU, f"pay:vpn:{three}.-.{de}")
    [invoice] = fake_telegram.invoices(RU["id"])
    plan["de"].monthly_price = 50
    plan["de"].save()

    bot("inject_pre_checkout", RU, invoice["payload"], 140)

    answer = last_answer(fake_telegram)
    assert answer.ok is False and "Цена изменилась" in answer.error_message


def test_a_plan_without_choices_goes_straight_to_its_price(bot, tariffs):
    [summary] = bot("inject_callback", RU, "t:1m")

    assert "Итого: 100 ⭐" in said([summary]) and "pay:1m" in callbacks_of(summary)
    assert "Устройства" not in said([summary])
