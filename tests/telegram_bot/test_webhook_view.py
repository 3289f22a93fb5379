"""The webhook door: who may post, what is stored, and that it always answers fast and never 500."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from telegram_bot import texts
from telegram_bot.models import TelegramUpdate
from telegram_bot.webhook import background_bot
from tests.telegram_bot.support import WEBHOOK_URL, message_text

pytestmark = pytest.mark.django_db(transaction=True)

USER = {"id": 700_201, "is_bot": False, "first_name": "Carol", "language_code": "en"}


@pytest.mark.parametrize("secret", [None, "", "wrong-secret", "test-webhook-secret-but-longer"])
def test_missing_or_forged_secret_is_refused_and_nothing_stored(fake_telegram, webhook, secret):
    response = webhook(fake_telegram.inject_command(USER, "start", deliver=False), secret=secret)

    assert response.status_code == 403
    assert not TelegramUpdate.objects.exists()
    assert fake_telegram.sent_messages() == []


def test_webhook_is_off_without_a_configured_secret(fake_telegram, webhook, settings):
    settings.TELEGRAM_WEBHOOK_SECRET = ""

    response = webhook(fake_telegram.inject_command(USER, "start", deliver=False), secret="")

    assert response.status_code == 403
    assert not TelegramUpdate.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"\xff\xfe",
        b"[]",
        b'"update"',
        b'{"message": {"text": "hi"}}',
        b'{"update_id": "7", "message": {}}',
        b'{"update_id": true, "message": {}}',
        b'{"update_id": 7}',
        b'{"update_id": 7, "message": {"chat": "nope"}}',
    ],
)
def test_malformed_body_is_a_400_and_nothing_stored(fake_telegram, webhook, body):
    response = webhook(None, body=body)

    assert response.status_code == 400
    assert not TelegramUpdate.objects.exists()


def test_only_post_is_accepted(client, webhook):
    assert client.get(WEBHOOK_URL).status_code == 405


def test_replayed_update_is_a_no_op(fake_telegram, webhook):
    update = fake_telegram.inject_command(USER, "help", deliver=False)

    first, second = webhook(update), webhook(update)

    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json()["duplicate"] is True
    assert len(fake_telegram.sent_messages(USER["id"])) == 1
    assert TelegramUpdate.objects.get().status == TelegramUpdate.Status.DONE


def test_handler_error_answers_200_apologises_and_stores_the_error(fake_telegram, webhook, monkeypatch):
    # given a handler that breaks
    def broken() -> str:
        raise RuntimeError("help text exploded")

    monkeypatch.setattr(texts, "help_text", broken)

    # when the user asks for help
    response = webhook(fake_telegram.inject_command(USER, "help", deliver=False))

    # then Telegram gets 200, the user a short apology (no traceback), the row the error
    assert response.status_code == 200
    [message] = fake_telegram.sent_messages(USER["id"])
    assert message["text"] == "Sorry, something went wrong. Please try again in a minute."
    row = TelegramUpdate.objects.get()
    assert row.status == TelegramUpdate.Status.FAILED
    assert "help text exploded" in row.error
    assert row.next_attempt_at > timezone.now()


def test_telegram_500_leaves_the_update_failed_and_a_retry_delivers_it(fake_telegram, webhook):
    # given Telegram fails the bot's answer once
    fake_telegram.fail_next("sendMessage", status=500)

    # when the update arrives, then it is stored as failed (not lost) and Telegram still gets 200
    assert webhook(fake_telegram.inject_command(USER, "help", deliver=False)).status_code == 200
    row = TelegramUpdate.objects.get()
    assert row.status == TelegramUpdate.Status.FAILED

    # when its retry time has come and the retry runs, then the answer goes out and the row is done
    TelegramUpdate.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now())
    assert background_bot.retry_due() == 1
    row.refresh_from_db()
    assert (row.status, row.attempts) == (TelegramUpdate.Status.DONE, 2)
    assert "/paysupport" in message_text(fake_telegram.sent_messages(USER["id"])[-1])


def test_telegram_429_schedules_the_retry_after_the_flood_wait(fake_telegram, webhook):
    fake_telegram.fail_next("sendMessage", status=429, retry_after=120)

    webhook(fake_telegram.inject_command(USER, "help", deliver=False))

    row = TelegramUpdate.objects.get()
    assert row.status == TelegramUpdate.Status.FAILED
    assert row.next_attempt_at >= timezone.now() + timedelta(seconds=110)


def test_webhook_answers_json(fake_telegram, webhook):
    response = webhook(fake_telegram.inject_command(USER, "terms", deliver=False))

    assert json.loads(response.content) == {"ok": True, "outcome": "done"}


def test_an_update_holding_nul_is_stored_flagged_and_answered_not_a_500(fake_telegram, webhook):
    update = fake_telegram.inject_command(dict(USER, first_name="Car\x00ol"), "help", deliver=False)

    response = webhook(update)

    assert response.status_code == 200
    stored = TelegramUpdate.objects.get(update_id=update.update_id)
    assert stored.altered and stored.status == TelegramUpdate.Status.DONE
    assert stored.raw["message"]["from"]["first_name"] == "Car\ufffdol"
    assert fake_telegram.sent_messages(USER["id"])
