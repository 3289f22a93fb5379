"""The Prometheus exposition: this host's process-local counters and histograms
(core/metrics.py, added up across processes in multiprocess mode) plus numbers
read from the database at scrape time, which are the same from any web process
(payments by status and source, Stars revenue, the outbox, refunds the panel never got,
the bot's heartbeat)."""

from __future__ import annotations

import os

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from core.heartbeats import BOT_POLLING, heartbeat_age_seconds
from payments.dashboard import payment_counts, stars_revenue_by_kind
from subscriptions.selectors import outbox_backlog, provisioning_alerts


class DatabaseCollector:
    """Gauges computed from the database on every scrape (a few grouped queries)."""

    def collect(self):
        payments = GaugeMetricFamily(
            "shop_payments",
            "Payments (purchases and top-ups) in the database, by status and source.",
            labels=["status", "source"],
        )
        for status, source, count in payment_counts():
            payments.add_metric([status, source], count)
        yield payments

        revenue = GaugeMetricFamily(
            "shop_stars_revenue",
            "Stars that moved through Telegram, from the ledger, by kind (refunds are negative).",
            labels=["kind"],
        )
        for kind, stars in sorted(stars_revenue_by_kind().items()):
            revenue.add_metric([kind], stars)
        yield revenue

        backlog = outbox_backlog()
        open_rows = GaugeMetricFamily(
            "shop_outbox_open_tasks", "Provisioning outbox rows not finished, by status.", labels=["status"]
        )
        for status in ("pending", "retrying", "running"):
            open_rows.add_metric([status], backlog.by_status.get(status, 0))
        yield open_rows
        yield GaugeMetricFamily("shop_outbox_due_tasks", "Outbox rows a worker should run now.", value=backlog.due)
        yield GaugeMetricFamily(
            "shop_outbox_oldest_due_age_seconds",
            "How long the oldest due outbox row has waited (0 when none is due).",
            value=backlog.oldest_due_age_seconds,
        )
        yield GaugeMetricFamily(
            "shop_panel_refunds_not_applied",
            "Refunds whose panel update failed for good (the panel still grants the refunded time).",
            value=len(provisioning_alerts()),
        )
        age = heartbeat_age_seconds(name=BOT_POLLING)
        if age is not None:
            yield GaugeMetricFamily(
                "shop_bot_seconds_since_last_poll",
                "Seconds since the polling bot last finished a getUpdates round.",
                value=age,
            )


def multiprocess_mode() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def exposition() -> bytes:
    """The text the endpoint answers."""
    if multiprocess_mode():
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    else:
        registry = CollectorRegistry()
        registry.register(_ProcessLocal())
    registry.register(DatabaseCollector())
    return generate_latest(registry)


class _ProcessLocal:
    """This process's own metrics (no multiprocess directory)."""

    def collect(self):
        yield from REGISTRY.collect()
