"""/health/live and /health/ready: JSON for probes, each check named by what it checks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from core.heartbeats import BOT_POLLING, heartbeat_record
from ops import health
from subscriptions.models import ProvisioningTask
from subscriptions.provisioning import process_due, task_retry_now
from tests.subscriptions.helpers import refund_the_panel_never_gets
from tests.users.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_liveness_answers_without_checking_anything(client):
    response = client.get("/health/live")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readiness_names_each_check_and_is_green_when_all_pass(client, settings):
    settings.TELEGRAM_BOT_TOKEN = ""

    response = client.get("/health/ready")

    body = response.json()
    assert response.status_code == 200 and body["status"] == "ok"
    assert set(body["checks"]) == {"database", "cache", "broker", "outbox", "panel_refunds", "panel"}
    assert all(check["ok"] for check in body["checks"].values())
    assert body["checks"]["panel"]["configured"] is False  # PROVISIONING_BACKEND=none


def test_probes_answer_any_host_over_plain_http(client, settings):
    # given a production host list and HTTPS redirect, and a probe that calls the container's address
    settings.ALLOWED_HOSTS = ["shop.example.com"]
    settings.SECURE_SSL_REDIRECT = True

    response = client.get("/health/ready", HTTP_HOST="10.1.2.3:8000")

    assert response.status_code == 200


def test_a_failing_database_makes_the_process_unready(client, monkeypatch):
    def broken():
        raise ConnectionError("could not connect to server")

    monkeypatch.setattr(health, "check_database", broken)

    response = client.get("/health/ready")

    assert response.status_code == 503
    assert response.json()["status"] == "fail"
    assert response.json()["checks"]["database"] == {
        "ok": False,
        "critical": True,
        "error": "ConnectionError: could not connect to server",
        "ms": response.json()["checks"]["database"]["ms"],
    }


def test_an_unreachable_broker_degrades_but_keeps_the_process_ready(client, settings):
    # given a broker nobody listens on: the shop still sells (rows stay due for the sweeper)
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"

    response = client.get("/health/ready")

    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["checks"]["broker"]["ok"] is False


def test_the_outbox_check_reports_the_oldest_due_row_and_goes_stale_past_the_limit(client, settings):
    settings.HEALTH_OUTBOX_MAX_AGE_SECONDS = 300
    ProvisioningTask.objects.create(user=UserFactory(), next_attempt_at=timezone.now() - timedelta(minutes=10))
    ProvisioningTask.objects.create(user=UserFactory(), next_attempt_at=timezone.now() + timedelta(minutes=10))

    outbox = client.get("/health/ready").json()["checks"]["outbox"]

    assert outbox["due"] == 1
    assert 595 <= outbox["oldest_due_age_seconds"] <= 660
    assert outbox["ok"] is False


def test_a_refund_the_panel_never_got_degrades_readiness_until_it_is_re_run(client, settings, fake_panel, tariff_1m):
    # given a refund whose panel update failed for good (the panel still grants the refunded days)
    settings.PROVISIONING_MAX_ATTEMPTS = 1
    settings.REMNAWAVE_MAX_RETRIES = 0
    task = refund_the_panel_never_gets(UserFactory(), fake_panel)

    # when the probe asks
    response = client.get("/health/ready")

    # then the shop is degraded, not down, and the check names the task to re-run
    assert (response.status_code, response.json()["status"]) == (200, "degraded")
    check = response.json()["checks"]["panel_refunds"]
    assert (check["ok"], check["not_applied"], check["task_ids"]) == (False, 1, [task.pk])

    # and once an admin re-runs it with the panel back, it is green again
    assert task_retry_now(task_id=task.pk)
    process_due()
    green = client.get("/health/ready").json()["checks"]["panel_refunds"]
    assert (green["ok"], green["not_applied"], green["task_ids"]) == (True, 0, [])


def test_in_polling_mode_readiness_reports_the_time_since_the_last_poll(client, settings):
    settings.TELEGRAM_BOT_TOKEN = "1:token"
    settings.TELEGRAM_WEBHOOK_URL = ""

    before = client.get("/health/ready").json()["checks"]["bot_polling"]
    heartbeat_record(name=BOT_POLLING)
    after = client.get("/health/ready").json()["checks"]["bot_polling"]

    assert before["ok"] is False and before["seconds_since_last_update"] is None
    assert after["ok"] is True and after["seconds_since_last_update"] < 5


def test_in_webhook_mode_there_is_no_polling_check(client, settings):
    settings.TELEGRAM_BOT_TOKEN = "1:token"
    settings.TELEGRAM_WEBHOOK_URL = "https://shop.example.com/telegram/webhook"

    assert "bot_polling" not in client.get("/health/ready").json()["checks"]


def test_the_healthcheck_command_fails_when_a_required_check_fails(settings, capsys):
    settings.TELEGRAM_BOT_TOKEN = "1:token"
    settings.TELEGRAM_WEBHOOK_URL = ""

    with pytest.raises(SystemExit) as exited:
        call_command("healthcheck", require=["bot_polling"])

    assert exited.value.code == 1
    assert '"bot_polling": {"ok": false' in capsys.readouterr().out


def test_the_healthcheck_command_passes_when_ready(capsys):
    call_command("healthcheck")

    assert '"status": "ok"' in capsys.readouterr().out


def test_probes_refuse_other_methods(client):
    assert client.post("/health/ready").status_code == 405
