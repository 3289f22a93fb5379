"""Fixtures for the chaos tests: the shop's real processes against the PostgreSQL test
database, the fake Telegram server and the fake panel, and (for broker mode) Redis."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import psycopg
import pytest
from django.db import connection
from kombu import pools

from config import celery_app
from tests.chaos.processes import Processes, wait_until
from tests.chaos.tcp_proxy import TcpProxy
from tests.fakes.remnawave_fixtures import TEST_SQUAD


def database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def shop_env(fake_telegram, fake_panel):
    """The environment of every process: this test database, the fakes, and short
    timings where the behaviour does not depend on the length (leases, backoff, sweeps)."""

    def env(**overrides: str) -> dict[str, str]:
        return {
            **os.environ,
            "DATABASE_URL": database_url(),
            "DJANGO_DEBUG": "true",
            "PYTHONUNBUFFERED": "1",
            "TELEGRAM_BOT_TOKEN": fake_telegram.token,
            "TELEGRAM_API_BASE_URL": fake_telegram.base_url,
            "TELEGRAM_TEST_ENV": "false",
            "TELEGRAM_UPDATE_LEASE_SECONDS": "3",
            "TELEGRAM_UPDATE_RETRY_SECONDS": "0.5",
            "PROVISIONING_BACKEND": "remnawave",
            "REMNAWAVE_URL": fake_panel.url,
            "REMNAWAVE_TOKEN": fake_panel.token,
            "REMNAWAVE_SQUADS": TEST_SQUAD,
            "REMNAWAVE_TIMEOUT": "3",
            "REMNAWAVE_MAX_RETRIES": "0",
            "PROVISIONING_BACKOFF_SECONDS": "0.5",
            "PROVISIONING_BACKOFF_MAX_SECONDS": "2",
            "PROVISIONING_POLL_SECONDS": "0.5",
            "PROVISIONING_REQUEUE_SECONDS": "1",
            "CELERY_BROKER_URL": "",
            "CACHE_URL": "locmemcache://",
            **overrides,
        }

    return env


@pytest.fixture
def processes(tmp_path) -> Iterator[Processes]:
    started = Processes(tmp_path)
    yield started
    started.close()


def runbot_ready(fake_telegram, process, *, seen: int) -> None:
    """Polling started (deleteWebhook comes right before the first getUpdates)."""
    wait_until(
        lambda: len(fake_telegram.calls("deleteWebhook")) > seen,
        timeout=45,
        message=lambda: f"runbot did not start polling\n{process.describe()}",
    )


@contextmanager
def celery_broker(url: str, settings) -> Iterator[None]:
    """This (test) process hands work to the broker at `url`, as the web process would."""
    previous = celery_app.conf.broker_url
    settings.CELERY_BROKER_URL = url
    settings.BACKGROUND_TASKS_INLINE = False
    celery_app.conf.broker_url = url
    _drop_broker_connections()
    try:
        yield
    finally:
        celery_app.conf.broker_url = previous
        _drop_broker_connections()


def _drop_broker_connections() -> None:
    # kombu keeps pools per broker URL, and the app caches the ones it took.
    pools.reset()
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def redis_proxy(redis_url) -> Iterator[TcpProxy]:
    """A proxy in front of the test's Redis database, which the test may cut."""
    target = urlsplit(redis_url)
    proxy = TcpProxy((target.hostname or "127.0.0.1", target.port or 6379)).start()
    proxy.database = target.path  # "/13"
    yield proxy
    proxy.stop()


class Postgres:
    """A connection of the test's own, to hold row locks and end other backends of the test database."""

    def __init__(self) -> None:
        self.conn = psycopg.connect(database_url(), autocommit=True)
        self.test_pid = self._pid_of_django_connection()

    @staticmethod
    def _pid_of_django_connection() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            return cursor.fetchone()[0]

    @contextmanager
    def row_locked(self, table: str, pk: int) -> Iterator[None]:
        """Hold FOR UPDATE on one row (in a transaction of this connection) until the block ends."""
        with psycopg.connect(database_url()) as locker:
            locker.execute(f"SELECT 1 FROM {table} WHERE id = %s FOR UPDATE", [pk])  # noqa: S608 - our table
            try:
                yield
            finally:
                locker.rollback()

    def waiting_on_a_lock(self) -> list[int]:
        rows = self.conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchall()
        return [pid for (pid,) in rows]

    def terminate(self, pids: list[int] | None = None) -> int:
        """End the given backends of the test database (default: all but the test's own)."""
        sql = (
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND pid <> %s AND backend_type = 'client backend'"
        )
        params: list = [self.test_pid]
        if pids is not None:
            sql += " AND pid = ANY(%s)"
            params.append(pids)
        return self.conn.execute(sql, params).fetchone()[0]

    def close(self) -> None:
        self.conn.close()


@pytest.fixture
def postgres() -> Iterator[Postgres]:
    pg = Postgres()
    yield pg
    pg.close()
