"""Every screen reads in Russian for a Russian buyer and in English for an English
one: the bot's texts, tariff titles, the invoice, dates and the shop's own
notifications (no English left in the Russian chat, no Russian in the English one)."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from notifications import messages
from tests.telegram_bot.support import message_text

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("client_apps")]

CYRILLIC = re.compile("[А-Яа-яЁё]")
# English words that give away an untranslated text in the Russian chat.
ENGLISH = re.compile(r"\b(month|months|days?|Tariff|Total|Price|Payment|subscription|Choose|Balance|Invite|until)\b")
BILINGUAL = {"lang"}  # the language switch speaks both on purpose


def journey(bot, fake_telegram, user: dict) -> dict[str, str]:
    """Walk every screen once; the text of each, by step name."""
    seen: dict[str, str] = {}

    def step(name: str, *args, **kwargs) -> dict:
        shown = bot(*args, **kwargs)
        seen[name] = "\n".join(message_text(m) for m in shown)
        return shown[-1] if shown else {}

    menu = step("start", "inject_command", user, "start")
    at = {"message_id": menu["message_id"]}
    for name, data in [
        ("menu", "menu"),
        ("lang", "lang"),
        ("help", "help"),
        ("balance", "bal"),
        ("invite", "ref"),
        ("no subscription", "sub"),
        ("promo prompt", "promo"),
        ("promo cancelled", "cancel"),
        ("tariffs", "buy"),
        ("summary", "t:3m"),
    ]:
        step(name, "inject_callback", user, data, **at)
    step("invoice", "inject_callback", user, "pay:3m", **at)
    payload = fake_telegram.invoices(user["id"])[-1]["payload"]
    invoice = fake_telegram.invoices(user["id"])[-1]
    seen["invoice description"] = invoice["description"]
    bot("inject_pre_checkout", user, payload, 250)
    step("paid", "inject_successful_payment", user, payload, 250)
    status = step("my subscription", "inject_callback", user, "sub")
    step("apps", "inject_callback", user, "apps:android", message_id=status["message_id"])
    step("connect", "inject_callback", user, "conn", message_id=status["message_id"])
    step("qr", "inject_callback", user, "qr", message_id=status["message_id"])
    for command in ("paysupport", "terms", "privacy"):
        step(command, "inject_command", user, command)
    trial_user = dict(user, id=user["id"] + 1)
    trial_menu = step("trial offer", "inject_command", trial_user, "start")
    step("trial", "inject_callback", trial_user, "trial", message_id=trial_menu["message_id"])
    return seen


def notices(language: str) -> dict[str, str]:
    expires = datetime(2026, 12, 29, 14, 22, tzinfo=UTC)
    apps = {"ios": [messages.AppLink(name="Happ", url="https://apps.example/happ")]}
    found = {
        f"reminder {kind}": messages.expiry_reminder(kind=kind, language=language, expires_at=expires).text
        for kind in (messages.REMINDER_3_DAYS, messages.REMINDER_1_DAY, messages.REMINDER_EXPIRED)
    }
    link = messages.link_ready(language=language, url="https://sub.example/x", apps=apps, expires_at=expires)
    found["link ready"] = link.text
    found["bonus"] = messages.referral_bonus(language=language, days=7, expires_at=expires).text
    return found


@pytest.fixture
def walk(bot, fake_telegram, fake_panel, tariffs, settings):
    settings.TRIAL_DAYS = 3

    def run(language: str) -> dict[str, str]:
        user = {"id": 701_000 if language == "ru" else 702_000, "is_bot": False, "first_name": "Sam"}
        return {**journey(bot, fake_telegram, {**user, "language_code": language}), **notices(language)}

    return run


def test_every_screen_speaks_russian_to_a_russian_buyer(walk):
    screens = walk("ru")

    for name, text in screens.items():
        assert text, name
        if name not in BILINGUAL:
            assert CYRILLIC.search(text), f"{name}: {text!r}"
            assert not ENGLISH.search(text), f"{name}: {text!r}"
    assert "3 месяца — 250 ⭐" in screens["tariffs"]
    assert "Тариф: 3 месяца" in screens["summary"]
    assert screens["invoice"] == "VPN: 3 месяца"
    assert "29 декабря 2026" in screens["reminder 3d"]


def test_every_screen_speaks_english_to_an_english_buyer(walk):
    screens = walk("en")

    for name, text in screens.items():
        assert text, name
        if name not in BILINGUAL:
            assert not CYRILLIC.search(text), f"{name}: {text!r}"
    assert "Tariff: 3 months" in screens["summary"]
    assert screens["invoice"] == "VPN: 3 months"
    assert "29 December 2026" in screens["reminder 3d"]


def test_dates_are_in_the_shops_time_zone(settings):
    # 22:30 UTC on 28 December is already 29 December in Moscow
    late = datetime(2026, 12, 28, 22, 30, tzinfo=UTC)
    settings.SHOP_TIME_ZONE = "Europe/Moscow"
    assert "29 декабря 2026" in messages.expiry_reminder(kind="3d", language="ru", expires_at=late).text
    settings.SHOP_TIME_ZONE = "UTC"
    assert "28 December 2026" in messages.expiry_reminder(kind="3d", language="en", expires_at=late).text
    assert timezone.now() > late - timedelta(days=3650)
