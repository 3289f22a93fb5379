"""The shop's process-local Prometheus metrics (counters and histograms).

Each process (gunicorn workers, the bot, Celery workers) counts its own. With
PROMETHEUS_MULTIPROC_DIR set in the environment of every process on a host,
prometheus_client writes them to files there and the web's /metrics adds them
up (multiprocess mode); without it /metrics shows the web process's own only.
Numbers that live in the database (payments, revenue, the outbox) are not
counted here: ops/metrics.py reads them at scrape time.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

UPDATE_SECONDS = Histogram(
    "shop_bot_update_handling_seconds",
    "Time to handle one stored Telegram update, by update kind and outcome.",
    ["kind", "outcome"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
UPDATE_FAILURES = Counter(
    "shop_bot_update_failures_total", "Telegram updates whose handling failed (they are retried).", ["kind"]
)
PRECHECKOUT_SECONDS = Histogram(
    "shop_precheckout_answer_seconds",
    "From receiving a pre_checkout_query to answering it (Telegram allows 10 s).",
    ["ok"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10),
)
PANEL_CALL_ERRORS = Counter(
    "shop_panel_call_errors_total", "Remnawave panel calls that failed, by error kind.", ["error"]
)
TELEGRAM_RATE_LIMITED = Counter(
    "shop_telegram_rate_limited_total", "Telegram answered 429 (flood control), by where it was met.", ["where"]
)
PROVISIONING_RUNS = Counter(
    "shop_provisioning_runs_total", "Provisioning outbox rows run by a worker, by kind and result.", ["kind", "result"]
)
BROADCAST_MESSAGES = Counter(
    "shop_broadcast_messages_total",
    "Broadcast messages settled by a worker: sent, failed, blocked, or interrupted by a worker that stopped.",
    ["result"],
)
