"""Readiness checks, each named by what it checks.

Only `database` decides readiness (HTTP 503 when it fails): without it no
purchase can be taken. `cache` and `broker` (Redis, when configured) failing
make the answer `degraded` but keep it 200: the shop still sells (throttles
let hits through, rows stay due for the sweeper), and taking every web process
out of service for a Redis outage would stop it. The outbox's oldest due row
and, in polling mode, the bot's last getUpdates round are reported with their
age and a flag the same way (alert on them through the metrics, or require
them: `manage.py healthcheck --require bot_polling`). So are refunds whose
panel update gave up: the panel still grants the time the buyer got back, and
the panel itself as the last panel check found it (version, what the token may
not do, unknown squads, configuration problems provisioning met).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis
from celery import current_app
from django.conf import settings
from django.core.cache import cache
from django.db import connection

from core.background import broker_configured
from core.heartbeats import BOT_POLLING, heartbeat_age_seconds
from subscriptions.selectors import outbox_backlog, panel_status, provisioning_alerts

CACHE_PROBE_KEY = "health:probe"
BROKER_TIMEOUT_SECONDS = 2.0
ALERTS_NAMED = 10  # outbox rows listed by the panel_refunds check (the dashboard lists them all)


@dataclass
class CheckResult:
    ok: bool
    critical: bool
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "critical": self.critical, **self.details}


def check_database() -> CheckResult:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return CheckResult(ok=True, critical=True, details={"vendor": connection.vendor})


def check_cache() -> CheckResult:
    token = uuid.uuid4().hex
    cache.set(CACHE_PROBE_KEY, token, 30)
    ok = cache.get(CACHE_PROBE_KEY) == token
    backend = settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]
    return CheckResult(ok=ok, critical=False, details={"backend": backend})


def check_broker() -> CheckResult:
    if not broker_configured():
        return CheckResult(ok=True, critical=False, details={"configured": False})
    url = settings.CELERY_BROKER_URL
    if url.startswith(("redis://", "rediss://")):
        client = redis.Redis.from_url(
            url, socket_connect_timeout=BROKER_TIMEOUT_SECONDS, socket_timeout=BROKER_TIMEOUT_SECONDS
        )
        try:
            client.ping()
        finally:
            client.close()
    else:
        with current_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, timeout=BROKER_TIMEOUT_SECONDS)
    return CheckResult(ok=True, critical=False, details={"configured": True})


def check_outbox() -> CheckResult:
    backlog = outbox_backlog()
    stale = backlog.oldest_due_age_seconds > settings.HEALTH_OUTBOX_MAX_AGE_SECONDS
    return CheckResult(
        ok=not stale,
        critical=False,
        details={"due": backlog.due, "oldest_due_age_seconds": round(backlog.oldest_due_age_seconds, 3)},
    )


def check_panel_refunds() -> CheckResult:
    """Refunds whose panel update failed for good: access the buyer was refunded for stays
    until an admin re-runs the task (Provisioning tasks), so the shop is degraded, not down."""
    alerts = provisioning_alerts()
    return CheckResult(
        ok=not alerts,
        critical=False,
        details={"not_applied": len(alerts), "task_ids": [alert.task_id for alert in alerts[:ALERTS_NAMED]]},
    )


def check_panel() -> CheckResult:
    """The panel as the worker's last panel check found it (this request calls nothing):
    reachable, its version, the permissions the token lacks, unknown squads, and the
    configuration problems provisioning met since (each once)."""
    status = panel_status()
    if not status.configured:
        return CheckResult(ok=True, critical=False, details={"configured": False})
    return CheckResult(ok=status.ok, critical=False, details=status.as_details())


def bot_polls() -> bool:
    """The bot runs in polling mode: a token and no webhook URL."""
    return bool(settings.TELEGRAM_BOT_TOKEN) and not settings.TELEGRAM_WEBHOOK_URL


def check_bot_polling() -> CheckResult:
    age = heartbeat_age_seconds(name=BOT_POLLING)
    ok = age is not None and age <= settings.HEALTH_BOT_MAX_SILENCE_SECONDS
    return CheckResult(
        ok=ok,
        critical=False,
        details={"seconds_since_last_update": None if age is None else round(age, 3)},
    )


def readiness_checks() -> dict[str, Callable[[], CheckResult]]:
    checks = {
        "database": check_database,
        "cache": check_cache,
        "broker": check_broker,
        "outbox": check_outbox,
        "panel_refunds": check_panel_refunds,
        "panel": check_panel,
    }
    if bot_polls():
        checks["bot_polling"] = check_bot_polling
    return checks


def run_checks(*, required: frozenset[str] = frozenset()) -> tuple[bool, dict[str, Any]]:
    """(ready, body). Ready when every critical check, and every `required` one, passes;
    `degraded` when another one fails. A check that raises fails with the error's
    type and message (never a traceback)."""
    results: dict[str, Any] = {}
    ready, degraded = True, False
    for name, check in readiness_checks().items():
        started = time.monotonic()
        try:
            result = check()
        except Exception as exc:  # noqa: BLE001 - a failing dependency is the answer, not an error
            result = CheckResult(ok=False, critical=name in CRITICAL, details={"error": _describe(exc)})
        result.details["ms"] = round((time.monotonic() - started) * 1000, 1)
        results[name] = result.as_dict()
        if not result.ok:
            if result.critical or name in required:
                ready = False
            else:
                degraded = True
    for name in sorted(required - results.keys()):
        results[name] = {"ok": False, "critical": True, "error": "this check does not apply to this configuration"}
        ready = False
    status = "fail" if not ready else "degraded" if degraded else "ok"
    return ready, {"status": status, "checks": results}


CRITICAL = frozenset({"database"})


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]
