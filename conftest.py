"""Shared fixtures: the database kind, thread helpers for race tests (see tests/)."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import redis
from django.db import connections

from subscriptions.models import ClientApp
from tests.subscriptions.factories import TariffFactory

# The fake Telegram Bot API server and the fake Remnawave panel, shared by every test.
pytest_plugins = ["tests.fakes.telegram_fixtures", "tests.fakes.remnawave_fixtures"]


def pytest_collection_modifyitems(config, items):
    """Tests marked `postgres` need real row locks: on SQLite they are skipped
    with a visible reason, and CI runs them on PostgreSQL."""
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL=postgres://...); CI runs it there")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


# Tests that need Redis (the Celery broker, the shared cache) use this database
# and empty it before and after; REDIS_TEST_URL picks another one.
REDIS_TEST_URL = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def redis_url() -> str:
    """The test Redis database, emptied around the test (Redis runs on every machine and in CI)."""
    client = redis.Redis.from_url(REDIS_TEST_URL)
    client.flushdb()
    yield REDIS_TEST_URL
    client.flushdb()
    client.close()


@pytest.fixture(autouse=True)
def background_inline(settings):
    """Background tasks run at once on the calling thread, so a test sees their
    effect right after the commit that queued them. Tests of the real runtime
    (embedded threads, a Celery worker) switch this off."""
    settings.BACKGROUND_TASKS_INLINE = True
    settings.CELERY_BROKER_URL = ""
    yield


def run_concurrently(fn: Callable[[int], Any], count: int, *, workers: int | None = None) -> list[Any]:
    """Call fn(i) for i in range(count) from real threads, each with its own
    database connection (closed at the end). Exceptions are returned, not raised."""

    def call(i: int) -> Any:
        try:
            return fn(i)
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            return exc
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=workers or count) as pool:
        return list(pool.map(call, range(count)))


@pytest.fixture
def client_apps(db):
    """The default client apps of the data migration (a transactional test's flush removes them)."""
    defaults = importlib.import_module("subscriptions.migrations.0009_russian_tariff_titles_default_client_apps")
    ClientApp.objects.all().delete()
    return ClientApp.objects.bulk_create(
        [ClientApp(platform=p, name=n, url=u, sort_order=o) for p, n, u, o in defaults.DEFAULT_APPS]
    )


@pytest.fixture
def tariff_1m(db):
    return TariffFactory(code="1m", title="1 month", title_ru="1 месяц", months=1, days=30, price_stars=100)


@pytest.fixture
def renewing_tariff(db):
    """The monthly tariff Telegram renews by itself (a Star subscription), as the data migration makes it
    (a transactional test's flush removes migration data, so it is made again here)."""
    return TariffFactory(
        code="1m-auto",
        title="Monthly, auto-renewing",
        title_ru="Ежемесячно, автопродление",
        description="Renews every 30 days until you cancel",
        description_ru="Продлевается каждые 30 дней, пока вы не отмените",
        months=1,
        days=30,
        price_stars=100,
        renews_monthly=True,
        sort_order=4,
    )


@pytest.fixture
def tariffs(db):
    return {
        "1m": TariffFactory(code="1m", title="1 month", title_ru="1 месяц", months=1, days=30, price_stars=100),
        "3m": TariffFactory(
            code="3m", title="3 months", title_ru="3 месяца", months=3, days=90, price_stars=250, sort_order=1
        ),
        "6m": TariffFactory(
            code="6m", title="6 months", title_ru="6 месяцев", months=6, days=180, price_stars=450, sort_order=2
        ),
        "12m": TariffFactory(
            code="12m", title="12 months", title_ru="12 месяцев", months=12, days=360, price_stars=800, sort_order=3
        ),
    }
