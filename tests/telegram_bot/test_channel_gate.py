"""The channel gate with the fake Bot API's getChatMember: members pass, people who left are
asked to join (and re-checked at once), answers are cached briefly, a bot that cannot check
lets everyone through and tells the owner, and nobody paying is ever stopped."""

import logging
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from campaigns.models import CampaignAttribution
from payments.models import Payment, TrialClaim
from telegram_bot.channel_gate import OTHER_SECONDS, _key
from tests.campaigns.factories import CampaignFactory
from tests.payments.factories import PaymentFactory
from tests.subscriptions.factories import SubscriptionFactory
from tests.telegram_bot.support import buttons_of, callbacks_of, message_text, said
from tests.users.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

RU = {"id": 701_001, "is_bot": False, "first_name": "Иван", "language_code": "ru"}
CHANNEL_ID = -1001234567890
GATE = "Чтобы получить бесплатный период, подпишитесь на наш канал"


@pytest.fixture(autouse=True)
def gate_on(settings, fake_telegram):
    settings.TRIAL_DAYS = 3
    settings.REQUIRED_CHANNEL = "@shopnews"
    settings.REQUIRED_CHANNEL_SCOPE = "trial"
    settings.REQUIRED_CHANNEL_LINK = ""
    fake_telegram.add_chat(CHANNEL_ID, username="shopnews", invite_link="https://t.me/+private")
    return fake_telegram


def press_trial(bot) -> list[dict]:
    [menu] = bot("inject_command", RU, "start")
    return bot("inject_callback", RU, "trial", message_id=menu["message_id"])


@pytest.mark.parametrize(("status", "is_member"), [("member", True), ("administrator", True), ("creator", True)])
def test_a_member_gets_the_trial(bot, gate_on, status, is_member):
    gate_on.set_member("@shopnews", RU["id"], status, is_member=is_member)

    [started] = press_trial(bot)

    assert "Бесплатный период включён: 3 дня." in message_text(started)
    assert TrialClaim.objects.count() == 1


def test_a_restricted_user_who_is_still_in_the_channel_counts_as_joined(bot, gate_on):
    gate_on.set_member("@shopnews", RU["id"], "restricted", is_member=True)

    assert "Бесплатный период включён" in said(press_trial(bot))


@pytest.mark.parametrize(("status", "is_member"), [("left", False), ("kicked", False), ("restricted", False)])
def test_someone_not_in_the_channel_is_asked_to_join_first(bot, gate_on, status, is_member):
    gate_on.set_member("@shopnews", RU["id"], status, is_member=is_member)

    [gate] = press_trial(bot)

    assert GATE in message_text(gate)
    assert buttons_of(gate)[0] == {"text": "📢 Подписаться на канал", "url": "https://t.me/shopnews"}
    assert callbacks_of(gate) == ["gate:check"]
    assert TrialClaim.objects.count() == 0


def test_i_have_joined_checks_again_at_once_and_shows_the_trial(bot, gate_on):
    [gate] = press_trial(bot)  # not in the channel: remembered for 30 s
    gate_on.set_member("@shopnews", RU["id"], "member")

    [after] = bot("inject_callback", RU, "gate:check", message_id=gate["message_id"])

    assert "Спасибо за подписку на канал!" in message_text(after)
    assert callbacks_of(after)[0] == "trial"
    assert len(gate_on.calls("getChatMember")) == 2


def test_i_have_joined_without_joining_shows_the_gate_again(bot, gate_on):
    [gate] = press_trial(bot)

    [again] = bot("inject_callback", RU, "gate:check", message_id=gate["message_id"])

    assert "Пока не видим вас среди подписчиков канала" in message_text(again)
    assert GATE in message_text(again)


def test_answers_are_cached_briefly(bot, gate_on):
    # given a member whose membership was asked once
    gate_on.set_member("@shopnews", RU["id"], "member")
    press_trial(bot)

    # when they come to the gate again (the trial screen says it was taken)
    bot("inject_callback", RU, "trial")

    # then Telegram was asked once
    assert len(gate_on.calls("getChatMember")) == 1


def test_a_non_member_is_cached_for_a_short_time_only(bot, gate_on):
    press_trial(bot)
    bot("inject_callback", RU, "trial")

    assert len(gate_on.calls("getChatMember")) == 1
    assert cache.get(_key(RU["id"])) == "0" and OTHER_SECONDS == 30
    cache.delete(_key(RU["id"]))  # what 30 seconds do
    gate_on.set_member("@shopnews", RU["id"], "member")
    assert "Бесплатный период включён" in said(bot("inject_callback", RU, "trial"))


@pytest.mark.parametrize("bot_status", ["member", "left"])
def test_a_bot_that_cannot_check_lets_everyone_through_and_tells_the_owner(bot, gate_on, caplog, bot_status):
    # given the owner forgot to make the bot an administrator of the channel
    gate_on.set_bot_status("@shopnews", bot_status)

    # when someone asks for the trial
    with caplog.at_level(logging.ERROR, logger="telegram_bot.channel_gate"):
        started = said(press_trial(bot))

    # then they get it (the gate fails open) and the log says why, once
    assert "Бесплатный период включён" in started
    [line] = [r for r in caplog.records if r.name == "telegram_bot.channel_gate"]
    assert "member list is inaccessible" in line.getMessage().lower() and "bot_check" in line.getMessage()


def test_a_wrong_channel_name_fails_open_too(bot, settings, caplog):
    settings.REQUIRED_CHANNEL = "@no_such_channel"

    with caplog.at_level(logging.ERROR, logger="telegram_bot.channel_gate"):
        started = said(press_trial(bot))

    assert "Бесплатный период включён" in started
    assert "chat not found" in caplog.text.lower()


def test_telegram_not_answering_lets_them_through(bot, gate_on):
    gate_on.fail_next("getChatMember", status=500)

    assert "Бесплатный период включён" in said(press_trial(bot))


def test_a_private_channel_gets_its_invite_link_from_telegram(bot, gate_on, settings):
    settings.REQUIRED_CHANNEL = str(CHANNEL_ID)

    [gate] = press_trial(bot)

    assert buttons_of(gate)[0]["url"] == "https://t.me/+private"


def test_the_gate_stands_only_before_the_trial_by_default(bot, gate_on, tariffs):
    [menu] = bot("inject_command", RU, "start")
    [tariff_list] = bot("inject_callback", RU, "buy", message_id=menu["message_id"])

    assert "t:1m" in callbacks_of(tariff_list)
    assert gate_on.calls("getChatMember") == []


# --- Scope "all": before anything, except paying and a subscriber's own screens --------------


@pytest.fixture
def scope_all(settings):
    settings.REQUIRED_CHANNEL_SCOPE = "all"


def test_scope_all_asks_before_the_menu_and_still_records_the_campaign(bot, scope_all):
    CampaignFactory(slug="ads")

    [gate] = bot("inject_command", RU, "start", "c_ads")

    assert "Чтобы пользоваться ботом, подпишитесь на наш канал" in message_text(gate)
    assert CampaignAttribution.objects.get().campaign.slug == "ads"


def test_scope_all_never_stops_a_payment(bot, gate_on, scope_all, tariff_1m, fake_telegram):
    # given someone not in the channel with an invoice sent before the gate was switched on
    user = UserFactory(telegram_id=RU["id"], language_code="ru")
    payment = PaymentFactory(user=user, tariff=tariff_1m)

    # when they pay
    bot("inject_pre_checkout", RU, payment.invoice_payload, 100)
    confirmation = said(bot("inject_successful_payment", RU, payment.invoice_payload, 100))

    # then the payment is accepted and confirmed, and nobody asked about the channel
    assert [answer.ok for answer in fake_telegram.precheckout_answers.values()] == [True]
    assert "Оплата получена" in confirmation
    assert Payment.objects.get().status == Payment.Status.SUCCEEDED
    assert fake_telegram.calls("getChatMember") == []


def test_scope_all_never_stops_a_subscribers_connect_screen(bot, gate_on, scope_all):
    user = UserFactory(telegram_id=RU["id"], language_code="ru")
    SubscriptionFactory(
        user=user, expires_at=timezone.now() + timedelta(days=10), subscription_url="https://panel.example/sub/abc"
    )

    shown = said(bot("inject_callback", RU, "conn"))

    assert "https://panel.example/sub/abc" in shown
    assert "подпишитесь на наш канал" not in shown


def test_scope_all_leaves_help_and_paysupport_open(bot, scope_all):
    assert "/paysupport" in said(bot("inject_command", RU, "help"))
