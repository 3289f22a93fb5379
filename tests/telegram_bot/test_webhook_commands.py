"""setwebhook / deletewebhook against the fake Bot API server."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from telegram_bot.constants import ALLOWED_UPDATES

WEBHOOK_URL = "https://shop.example.com/telegram/webhook/"
SECRET = "s3cret_Token-1"


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.fixture
def webhook_settings(fake_telegram, settings):
    settings.TELEGRAM_WEBHOOK_URL = WEBHOOK_URL
    settings.TELEGRAM_WEBHOOK_SECRET = SECRET
    return settings


def test_setwebhook_sends_url_secret_and_allowed_updates(fake_telegram, webhook_settings):
    output = run("setwebhook")

    params = fake_telegram.wait_for_call("setWebhook").params
    assert params["url"] == WEBHOOK_URL
    assert params["secret_token"] == SECRET
    assert params["allowed_updates"] == ALLOWED_UPDATES
    assert fake_telegram.webhook["url"] == WEBHOOK_URL
    assert f"webhook set to {WEBHOOK_URL}" in output


def test_allowed_updates_include_payments_and_buttons():
    assert {"message", "callback_query", "pre_checkout_query"} <= set(ALLOWED_UPDATES)


def test_setwebhook_can_drop_pending_updates(fake_telegram, webhook_settings):
    fake_telegram.inject_message(42, "old")

    run("setwebhook", "--drop-pending-updates")

    assert fake_telegram.calls("setWebhook")[0].params["drop_pending_updates"] is True
    assert fake_telegram.pending_updates() == []


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("TELEGRAM_WEBHOOK_URL", "", "TELEGRAM_WEBHOOK_URL is not set"),
        ("TELEGRAM_WEBHOOK_URL", "http://shop.example.com/hook", "must be an https:// URL"),
        ("TELEGRAM_WEBHOOK_URL", "https:///hook", "must be an https:// URL"),
        ("TELEGRAM_WEBHOOK_SECRET", "", "TELEGRAM_WEBHOOK_SECRET is not set"),
        ("TELEGRAM_WEBHOOK_SECRET", "has spaces!", "must be 1-256 characters"),
        ("TELEGRAM_BOT_TOKEN", "", "TELEGRAM_BOT_TOKEN is not set"),
    ],
)
def test_setwebhook_refuses_a_missing_or_bad_setting(fake_telegram, webhook_settings, setting, value, message):
    setattr(webhook_settings, setting, value)

    with pytest.raises(CommandError, match=message):
        run("setwebhook")

    assert fake_telegram.calls("setWebhook") == []


def test_setwebhook_reports_a_telegram_refusal(fake_telegram, webhook_settings):
    fake_telegram.fail_next("setWebhook", status=400, description="Bad Request: bad webhook: Failed to resolve host")

    with pytest.raises(CommandError, match="Telegram refused the webhook"):
        run("setwebhook")


def test_deletewebhook_removes_it(fake_telegram, webhook_settings):
    run("setwebhook")

    output = run("deletewebhook")

    assert fake_telegram.webhook == {}
    assert "webhook deleted" in output


def test_deletewebhook_without_a_token_says_so(fake_telegram, settings):
    settings.TELEGRAM_BOT_TOKEN = ""

    with pytest.raises(CommandError, match="TELEGRAM_BOT_TOKEN is not set"):
        run("deletewebhook")


def test_deletewebhook_reports_a_telegram_error(fake_telegram):
    fake_telegram.fail_next("deleteWebhook", status=500)

    with pytest.raises(CommandError, match="Telegram refused to delete the webhook"):
        run("deletewebhook")
