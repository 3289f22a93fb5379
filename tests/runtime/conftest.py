"""Fixtures for tests of the real runtime: the processes' database and
environment, the broker, and the process registry that leaves nothing behind."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from django.db import connection

from core.background import start_embedded_worker, stop_embedded_worker
from subscriptions.models import ProvisioningTask
from tests.fakes.remnawave_fixtures import TEST_SQUAD
from tests.runtime.broker import celery_broker
from tests.runtime.processes import ROOT, Processes
from tests.telegram_bot.support import (  # noqa: F401 - fixtures
    fresh_flood_counters,
    webhook,
)

SECRET_KEY = "runtime-tests-only-secret-key-0123456789-not-for-production"
# Variables the processes get from the test, never from the caller's environment.
CONTROLLED = {"DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL", "DJANGO_SETTINGS_MODULE"}


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory) -> Path:
    """A migrated SQLite file, copied for each test whose processes use SQLite."""
    path = tmp_path_factory.mktemp("runtime-db") / "template.sqlite3"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{path}", "DJANGO_DEBUG": "true"}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    return path


@pytest.fixture
def process_database_url(request, transactional_db, tmp_path) -> str:
    """The processes' database, with the default tariffs: the PostgreSQL test database
    itself (a transactional test commits, so they see the test's rows and the test sees
    theirs), or a fresh copy of a migrated SQLite file (the test's own lives in memory)."""
    if connection.vendor == "postgresql":
        request.getfixturevalue("tariffs")  # an earlier transactional test flushed the migration's
        db = connection.settings_dict
        return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    copy = tmp_path / "shop.sqlite3"
    with sqlite3.connect(request.getfixturevalue("migrated_sqlite")) as source, sqlite3.connect(copy) as target:
        source.backup(target)
    return f"sqlite:///{copy}"


def outbox(database_url: str, columns: tuple[str, ...] = ("kind", "status")) -> list[tuple]:
    """These columns of every provisioning task, oldest first, read from the processes' database."""
    if database_url.startswith("sqlite:///"):
        sql = f"SELECT {', '.join(columns)} FROM subscriptions_provisioningtask ORDER BY id"
        with sqlite3.connect(database_url.removeprefix("sqlite:///"), timeout=20) as db:
            return list(db.execute(sql))
    return list(ProvisioningTask.objects.order_by("pk").values_list(*columns))


def outbox_settled(database_url: str) -> bool:
    """Every task finished (and at least one exists)."""
    rows = outbox(database_url)
    return bool(rows) and all(status == ProvisioningTask.Status.DONE for _kind, status in rows)


@pytest.fixture
def shop_env(process_database_url, fake_telegram, fake_panel) -> Callable[..., dict[str, str]]:
    """The environment of the shop's processes: the test's database, the fake Bot API and
    the fake panel, short retry timings; `broker_url=""` (default) is the embedded mode."""

    def make(*, broker_url: str = "", **overrides: str) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if key not in CONTROLLED}
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "config.settings",
                "DJANGO_DEBUG": "true",
                "DJANGO_SECRET_KEY": SECRET_KEY,
                "DATABASE_URL": process_database_url,
                "CELERY_BROKER_URL": broker_url,
                "TELEGRAM_BOT_TOKEN": fake_telegram.token,
                "TELEGRAM_API_BASE_URL": fake_telegram.base_url,
                "TELEGRAM_TEST_ENV": "false",
                "TELEGRAM_STARS_ENABLED": "true",
                "MOCK_PAYMENTS": "false",
                "PROVISIONING_BACKEND": "remnawave",
                "REMNAWAVE_URL": fake_panel.url,
                "REMNAWAVE_TOKEN": fake_panel.token,
                "REMNAWAVE_API_VERSION": fake_panel.version,
                "REMNAWAVE_SQUADS": TEST_SQUAD,
                "REMNAWAVE_TIMEOUT": "10",  # a 4 s panel call is slow, not failed
                "REMNAWAVE_MAX_RETRIES": "1",
                "REMNAWAVE_RETRY_BACKOFF": "0.05",
                "PROVISIONING_POLL_SECONDS": "0.5",
                "PROVISIONING_BACKOFF_SECONDS": "0.5",
                "PROVISIONING_BACKOFF_MAX_SECONDS": "1",
                # Longer than any run here (a lease must outlast the slowest task), so a
                # row of a killed worker comes back through release_dead_claims, not the lease.
                "PROVISIONING_LEASE_SECONDS": "120",
                "LOG_LEVEL": "INFO",
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(overrides)
        return env

    return make


@pytest.fixture
def processes(tmp_path, process_database_url, fake_telegram, fake_panel):
    """Start real processes; every one left is stopped (SIGTERM, then SIGKILL) before the
    database, the fake server and the fake panel go away. Their output is printed, and
    pytest shows it when the test failed."""
    registry = Processes(tmp_path)
    yield registry
    registry.close()
    print(registry.describe())


@pytest.fixture
def broker(redis_url, settings):
    """This process hands its tasks to the test Redis (as the web and bot processes do)."""
    with celery_broker(redis_url, settings) as url:
        yield url


@pytest.fixture
def embedded_worker(settings, transactional_db):
    """This process's real embedded worker (not inline), with the outbox sweeper as its
    only periodic task (a failed send is retried soon); stopped before the database is flushed."""
    settings.BACKGROUND_TASKS_INLINE = False
    settings.CELERY_BROKER_URL = ""
    settings.PROVISIONING_BACKOFF_SECONDS = 0.5
    settings.PROVISIONING_BACKOFF_MAX_SECONDS = 1
    settings.PERIODIC_TASKS = {"sweep": {"task": "subscriptions.sweep_outbox", "every": 0.5}}
    worker = start_embedded_worker()
    yield worker
    stop_embedded_worker()
