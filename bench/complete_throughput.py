"""Throughput of the purchase transaction (purchase_complete) against PostgreSQL itself.

    .venv/bin/python bench/complete_throughput.py               # uses/creates shop_complete_bench
    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/other .venv/bin/python bench/complete_throughput.py
    .venv/bin/python bench/complete_throughput.py --payments 4000 --seconds 10 --threads 8

Same server, same run, two measurements:

1. purchase_complete from THREADS threads, each completing distinct pending Stars
   payments of distinct buyers who bought before and have a subscription (the common path:
   lock the buyer, claim the payment, book the ledger, extend the subscription,
   write the outbox row and the event). Provisioning is not handed over after the
   commit (PROVISIONING_RUN_AFTER_COMMIT=false: a broker publish is not part of the
   transaction); every row stays in the outbox for the sweeper, as in production.
2. pgbench -c THREADS running a transaction of the same shape on tables of its own
   in the same database: insert a payment, insert a ledger row, upsert a subscription.

Prints payments/s, pgbench's tps, their ratio (goal >= 0.05) and the statements per
completion. pgbench runs as its own process (the load generator never shares the
Python process). Not a test: the machine is shared and noisy, only the ratio counts.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GOAL = 0.05
PGBENCH_SETUP = """
DROP TABLE IF EXISTS bench_ledger, bench_payment, bench_subscription;
CREATE TABLE bench_payment (id bigserial PRIMARY KEY, user_id bigint NOT NULL, amount int NOT NULL,
    status varchar(16) NOT NULL, charge_id varchar(255) UNIQUE, paid_at timestamptz NOT NULL);
CREATE TABLE bench_ledger (id bigserial PRIMARY KEY, user_id bigint NOT NULL,
    payment_id bigint NOT NULL REFERENCES bench_payment (id), amount int NOT NULL, created_at timestamptz NOT NULL);
CREATE TABLE bench_subscription (user_id bigint PRIMARY KEY, expires_at timestamptz NOT NULL);
"""
# One purchase: the payment, its ledger row, the subscription extended (or created).
PGBENCH_SCRIPT = """
\\set user_id random(1, 100000)
BEGIN;
INSERT INTO bench_payment (user_id, amount, status, charge_id, paid_at)
    VALUES (:user_id, 100, 'succeeded', md5(random()::text || clock_timestamp()::text), now());
INSERT INTO bench_ledger (user_id, payment_id, amount, created_at)
    VALUES (:user_id, currval('bench_payment_id_seq'), 100, now());
INSERT INTO bench_subscription (user_id, expires_at) VALUES (:user_id, now() + interval '30 days')
    ON CONFLICT (user_id) DO UPDATE
    SET expires_at = greatest(bench_subscription.expires_at, now()) + interval '30 days';
END;
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--payments", type=int, default=4000, help="pending payments prepared (at most this many complete)"
    )
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()

    url = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/shop_complete_bench")
    if "bench" not in url.rsplit("/", 1)[-1]:
        parser.error("BENCH_DATABASE_URL must name a benchmark database (its name contains 'bench'): it is emptied")
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_DEBUG", "false")  # like production: no query log
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret-key-not-for-production-0123456789")
    os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "127.0.0.1")
    os.environ["PROVISIONING_RUN_AFTER_COMMIT"] = "false"
    os.environ["PROVISIONING_BACKEND"] = "none"
    ensure_database(url)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    payloads, per_completion = prepare(args.payments)
    ours = complete_in_threads(payloads, threads=args.threads, seconds=args.seconds)
    tps = pgbench(url, clients=args.threads, seconds=args.seconds)

    print(f"purchase_complete: {ours:8.1f} payments/s ({args.threads} threads, distinct buyers)")
    print(f"pgbench -c {args.threads}:      {tps:8.1f} tps (insert payment, insert ledger row, upsert subscription)")
    print(f"statements per completion: {per_completion} (BEGIN/COMMIT not counted)")
    ratio = ours / tps if tps else 0.0
    print(f"ratio: {ratio:.3f} (goal >= {GOAL}) {'OK' if ratio >= GOAL else 'BELOW GOAL'}")
    return 0


def prepare(count: int) -> tuple[list[str], int]:
    """`count` pending payments of distinct buyers who each bought before (one completed
    purchase, so their subscription exists); also measures one completion's statements."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from payments.charges import Charge
    from payments.models import LedgerEntry, Payment, PurchaseEvent
    from payments.services import new_invoice_payload, purchase_complete
    from subscriptions.models import ProvisioningTask, Subscription, Tariff
    from users.models import User

    # A clean slate each run: only this benchmark's rows live in this database.
    PurchaseEvent.objects.all().delete()
    LedgerEntry.objects.all().delete()
    ProvisioningTask.objects.all().delete()
    Subscription.objects.all().delete()
    Payment.objects.all().delete()
    User.objects.filter(username__startswith="bench_").delete()
    tariff = Tariff.objects.get(code="1m")
    base = 9_100_000_000
    users = User.objects.bulk_create(
        [User(username=f"bench_{i}", telegram_id=base + i) for i in range(count + 1)], batch_size=2000
    )
    active_until = timezone.now() + timedelta(days=10)
    Subscription.objects.bulk_create(
        [Subscription(user=user, status=Subscription.Status.ACTIVE, expires_at=active_until) for user in users],
        batch_size=2000,
    )
    # Each bought before (a paid payment a month ago, flagged as their first), and has a pending invoice now.
    month_ago = timezone.now() - timedelta(days=30)
    Payment.objects.bulk_create(
        [
            Payment(
                user=user,
                tariff=tariff,
                status=Payment.Status.SUCCEEDED,
                base_price=tariff.price_stars,
                amount=tariff.price_stars,
                days=tariff.days,
                days_granted=tariff.days,
                invoice_payload=new_invoice_payload(),
                telegram_payment_charge_id=f"bench-earlier-{user.pk}",
                paid_at=month_ago,
                first_paid=True,
                first_paid_subscription=True,
            )
            for user in users
        ],
        batch_size=2000,
    )
    payments = Payment.objects.bulk_create(
        [
            Payment(
                user=user,
                tariff=tariff,
                base_price=tariff.price_stars,
                amount=tariff.price_stars,
                days=tariff.days,
                invoice_payload=new_invoice_payload(),
            )
            for user in users
        ],
        batch_size=2000,
    )
    sample = payments.pop()
    with CaptureQueriesContext(connection) as ctx:
        purchase_complete(
            Charge(payload=sample.invoice_payload, charge_id="bench-sample", amount=sample.amount, currency="XTR")
        )
    control = {"BEGIN", "COMMIT"}
    per_completion = len([q for q in ctx.captured_queries if q["sql"].strip().upper() not in control])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return [p.invoice_payload for p in payments], per_completion


def complete_in_threads(payloads: list[str], *, threads: int, seconds: float) -> float:
    from django.db import connections

    from payments.charges import Charge
    from payments.services import purchase_complete

    lock = threading.Lock()
    queue = list(reversed(payloads))
    done = [0]
    deadline = [0.0]
    started = threading.Barrier(threads + 1)

    def worker(n: int) -> None:
        started.wait()
        try:
            while time.perf_counter() < deadline[0]:
                with lock:
                    if not queue:
                        return
                    payload = queue.pop()
                result = purchase_complete(
                    Charge(payload=payload, charge_id=f"bench-{payload}", amount=100, currency="XTR")
                )
                assert result.outcome == "granted", result
                with lock:
                    done[0] += 1
        finally:
            connections.close_all()

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    begin = time.perf_counter()
    deadline[0] = begin + seconds
    started.wait()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - begin
    if not queue:
        print(f"(all {len(payloads)} prepared payments completed in {elapsed:.1f} s: prepare more with --payments)")
    return done[0] / elapsed


def pgbench(url: str, *, clients: int, seconds: float) -> float:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(PGBENCH_SETUP)
    parts = urlparse(url)
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
        script.write(PGBENCH_SCRIPT)
    try:
        out = subprocess.run(
            [
                "pgbench",
                "-n",
                "-h",
                parts.hostname or "127.0.0.1",
                "-p",
                str(parts.port or 5432),
                "-U",
                parts.username or "postgres",
                "-c",
                str(clients),
                "-j",
                str(min(clients, os.cpu_count() or 1)),
                "-T",
                str(int(seconds)),
                "-f",
                script.name,
                parts.path.lstrip("/"),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(script.name)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS bench_ledger, bench_payment, bench_subscription")
    match = re.search(r"tps = ([0-9.]+)", out)
    return float(match.group(1)) if match else 0.0


def ensure_database(url: str) -> None:
    """Create the benchmark database when it does not exist (PostgreSQL only)."""
    import psycopg

    name = url.rsplit("/", 1)[-1]
    server = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(server, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


if __name__ == "__main__":
    sys.exit(main())
