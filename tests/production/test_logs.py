"""LOG_FORMAT=json: one JSON object per line, with the ids of what the line is about."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest
from django.core.management import call_command

from core.logs import JsonFormatter, formatter_config, log_context
from promos.models import PromoCode
from tests.production.support import ROOT, load_settings


def record(message: str = "hello %s", *args, name: str = "shop.test", **extra) -> logging.LogRecord:
    made = logging.LogRecord(name, logging.WARNING, __file__, 1, message, args or ("world",), None)
    for key, value in extra.items():
        setattr(made, key, value)
    return made


def test_a_json_line_names_level_logger_and_message():
    line = json.loads(JsonFormatter().format(record()))

    assert line["level"] == "WARNING" and line["logger"] == "shop.test" and line["message"] == "hello world"
    assert line["time"].endswith("+00:00")


def test_a_json_line_carries_the_ids_of_its_context():
    with log_context(update_id=42, purchase_id="p-1"), log_context(request_id="r-1"):
        line = json.loads(JsonFormatter().format(record()))
    outside = json.loads(JsonFormatter().format(record()))

    assert (line["update_id"], line["purchase_id"], line["request_id"]) == (42, "p-1", "r-1")
    assert "update_id" not in outside


def test_an_exception_stays_inside_its_one_line():
    try:
        raise ValueError("boom")
    except ValueError:
        made = logging.LogRecord("shop.test", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())

    text = JsonFormatter().format(made)

    assert "\n" not in text and "ValueError: boom" in json.loads(text)["exception"]


def test_gunicorns_access_line_gets_fields_of_its_own():
    atoms = {"m": "GET", "U": "/api/v1/tariffs", "s": "200", "B": "512", "M": "7", "h": "10.0.0.1"}
    atoms["{x-request-id}o"] = "abc123"
    made = logging.LogRecord("gunicorn.access", logging.INFO, __file__, 1, "%(m)s %(U)s", (atoms,), None)

    line = json.loads(JsonFormatter().format(made))

    assert line["message"] == "GET /api/v1/tariffs"
    assert (line["method"], line["path"], line["status"], line["duration_ms"]) == ("GET", "/api/v1/tariffs", 200, 7)
    assert line["request_id"] == "abc123"


def test_log_format_json_switches_the_settings_formatter(monkeypatch):
    try:
        values = load_settings(monkeypatch, {"DJANGO_DEBUG": "true", "LOG_FORMAT": "json"})
    finally:
        logging.captureWarnings(False)  # the settings turned it on for this whole process

    assert values["LOGGING"]["formatters"]["console"] == {"()": "core.logs.JsonFormatter"}


def test_an_unknown_log_format_is_a_clear_error():
    with pytest.raises(ValueError, match="LOG_FORMAT must be plain or json"):
        formatter_config("xml")


def test_gunicorn_logs_through_the_same_formatter():
    code = "import runpy, json; print(json.dumps(runpy.run_path('config/gunicorn.py')['logconfig_dict']))"
    env = {"PATH": "/usr/bin:/bin", "LOG_FORMAT": "json"}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)

    config = json.loads(result.stdout)
    assert config["formatters"]["console"] == {"()": "core.logs.JsonFormatter"}
    assert config["loggers"]["gunicorn.access"]["handlers"] == ["console"]
    assert config["loggers"]["gunicorn.error"]["propagate"] is False


@pytest.mark.django_db
def test_every_response_says_its_request_id(client):
    given = client.get("/api/v1/tariffs", HTTP_X_REQUEST_ID="proxy-id-1")
    made = client.get("/api/v1/tariffs", HTTP_X_REQUEST_ID="not a sane id\n")

    assert given["X-Request-ID"] == "proxy-id-1"
    assert len(made["X-Request-ID"]) == 32 and made["X-Request-ID"] != "not a sane id\n"


@pytest.mark.django_db
def test_the_release_command_migrates_and_creates_no_demo_data(caplog):
    with caplog.at_level(logging.INFO, logger="ops.release"):
        call_command("release", skip_static=True)

    assert "release: done" in caplog.text
    assert not PromoCode.objects.exists()


def test_sentry_is_set_up_only_when_a_dsn_is_given():
    code = "import django; django.setup(); import sentry_sdk; print(sentry_sdk.get_client().is_active())"
    base = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "config.settings", "DJANGO_DEBUG": "true"}

    def active(**env) -> str:
        result = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    assert active() == "False"
    assert active(SENTRY_DSN="http://public@127.0.0.1:9/1") == "True"  # loopback: nothing listens
