"""`python manage.py runbot` as a real process against the fake Bot API server:
it answers an update, then stops cleanly on SIGTERM and on SIGINT (exit code 0,
within seconds, even in the middle of a 30 s long poll, no traceback)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from tests.telegram_bot.support import Buyer

ROOT = Path(settings.BASE_DIR)
START_TIMEOUT = 30.0  # Django's start-up in a fresh interpreter on a busy machine
STOP_TIMEOUT = 5.0

pytestmark = pytest.mark.django_db(transaction=True)


def _manage(*args: str, env: dict[str, str], **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


@pytest.fixture(scope="module")
def sqlite_file(tmp_path_factory) -> Path:
    """A migrated SQLite file for the process (the test database lives in memory)."""
    path = tmp_path_factory.mktemp("runbot") / "bot.sqlite3"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{path}"}
    migrate = _manage("migrate", "--no-input", env=env)
    _out, err = migrate.communicate(timeout=180)
    assert migrate.returncode == 0, err
    return path


@pytest.fixture
def database_url(request) -> str:
    """The process's database: the PostgreSQL test database itself, else a SQLite file."""
    if connection.vendor == "postgresql":
        db = connection.settings_dict
        return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    return f"sqlite:///{request.getfixturevalue('sqlite_file')}"


def _statuses(database_url: str, telegram_user_id: int) -> list[str]:
    """The stored updates of one user, read from the process's database."""
    if database_url.startswith("sqlite:///"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as db:
            sql = "SELECT status FROM telegram_bot_telegramupdate WHERE telegram_user_id = ?"
            return [row[0] for row in db.execute(sql, [telegram_user_id])]
    from telegram_bot.models import TelegramUpdate

    return list(TelegramUpdate.objects.filter(telegram_user_id=telegram_user_id).values_list("status", flat=True))


@pytest.fixture
def runbot(fake_telegram, database_url):
    """Start `manage.py runbot` (default 30 s long poll) pointed at the fake server."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "TELEGRAM_BOT_TOKEN": fake_telegram.token,
        "TELEGRAM_API_BASE_URL": fake_telegram.base_url,
        "TELEGRAM_TEST_ENV": "false",
        "PYTHONUNBUFFERED": "1",
    }
    process = _manage("runbot", env=env, start_new_session=True)
    try:
        # deleteWebhook comes right before polling starts (getUpdates is only
        # recorded when its long poll returns)
        fake_telegram.wait_for_call("deleteWebhook", timeout=START_TIMEOUT)
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=STOP_TIMEOUT)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_runbot_answers_then_stops_cleanly_on_a_signal(fake_telegram, runbot, database_url, sig):
    # given the bot process answered an update
    buyer = Buyer(fake_telegram, 700_900 + sig)
    buyer.command("help", expect="/paysupport")

    # when it is told to stop
    runbot.send_signal(sig)
    out, err = runbot.communicate(timeout=STOP_TIMEOUT)

    # then it exits at once (not after its 30 s long poll), cleanly, with the update stored as done
    assert runbot.returncode == 0, err
    assert "Traceback" not in err
    assert "bot process stopped" in err  # a log line (stderr)
    assert _statuses(database_url, buyer.id) == ["done"]
