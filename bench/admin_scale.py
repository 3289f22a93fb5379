"""The admin at scale: 1,000,000 payments, 100,000 users, 2,000,000 ledger rows.

    .venv/bin/python bench/admin_scale.py                  # uses/creates shop_admin_bench
    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/other .venv/bin/python bench/admin_scale.py
    .venv/bin/python bench/admin_scale.py --payments 100000 --users 10000 --ledger 200000 --runs 7

Migrates the benchmark database, generates the data when it holds fewer
payments than asked (manage.py generate_scale_data), then measures pages with
the Django test client logged in as a superuser: the median time of several
runs and the number of queries, against the goals (300 ms for the lists,
500 ms for the dashboard) and a baseline page (the admin index) of the same run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--payments", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--ledger", type=int, default=2_000_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    os.environ["DATABASE_URL"] = os.environ.get(
        "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/shop_admin_bench"
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_DEBUG", "true")  # the benchmark's own admin session over plain HTTP
    import django

    ensure_database(os.environ["DATABASE_URL"])
    django.setup()
    from django.conf import settings

    settings.ALLOWED_HOSTS = ["*"]
    settings.TELEGRAM_BOT_TOKEN = ""  # the dashboard must not wait for Telegram here
    from datetime import timedelta

    from django.core.management import call_command
    from django.db import connection
    from django.db.models import Max
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from payments.models import Payment, SubscriberSnapshot
    from payments.subscribers import subscriber_snapshot_record
    from users.models import User

    call_command("migrate", verbosity=0)
    have = Payment.objects.order_by().aggregate(m=Max("pk"))["m"] or 0
    if have < args.payments:
        print(f"generating data ({args.payments} payments, {args.users} users, {args.ledger} ledger rows)…")
        started = time.perf_counter()
        call_command("generate_scale_data", payments=args.payments, users=args.users, ledger=args.ledger, verbosity=1)
        print(f"  generated in {time.perf_counter() - started:.1f} s")
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")

    admin, _ = User.objects.get_or_create(username="bench_admin", defaults={"is_staff": True, "is_superuser": True})
    client = Client()
    client.force_login(admin)
    sample_charge = (
        Payment.objects.filter(telegram_payment_charge_id__isnull=False)
        .order_by("-created_at")
        .values_list("telegram_payment_charge_id", flat=True)
        .first()
    )
    tariff_id = Payment.objects.order_by("-created_at").values_list("tariff_id", flat=True).first()
    sample_telegram_id = (
        User.objects.filter(is_staff=False).order_by("-pk").values_list("telegram_id", flat=True).first()
    )
    today = timezone.localdate()
    year_ago, year_ago_end = today - timedelta(days=365), today - timedelta(days=336)
    # The dashboard's history: a daily subscriber count for every day of the data, and
    # today's as the periodic task keeps it (every 10 minutes); its own cost is shown below.
    started = time.perf_counter()
    subscriber_snapshot_record()
    count_ms = (time.perf_counter() - started) * 1000
    if SubscriberSnapshot.objects.count() == 1:
        SubscriberSnapshot.objects.bulk_create(
            [
                SubscriberSnapshot(
                    day=today - timedelta(days=n),
                    active=40_000 + n,
                    paid_active=30_000 + n,
                    mrr=2_000_000 + n,
                    recorded_at=timezone.now() - timedelta(days=n),
                )
                for n in range(1, 800)
            ]
        )

    pages = [
        ("admin index (baseline)", "/admin/", None),
        ("payments list, default page", "/admin/payments/payment/", 300),
        ("payments list, status=succeeded", "/admin/payments/payment/?status__exact=succeeded", 300),
        ("payments list, tariff filter", f"/admin/payments/payment/?tariff__id__exact={tariff_id}", 300),
        ("payments list, status=pending", "/admin/payments/payment/?status__exact=pending", 300),
        ("payments list, search by charge id", f"/admin/payments/payment/?q={sample_charge}", 300),
        ("payments list, year drill-down", "/admin/payments/payment/?created_at__year=2026", 300),
        ("ledger list, default page", "/admin/payments/ledgerentry/", 300),
        ("users list, default page", "/admin/users/user/", 300),
        ("buyers list, default page", "/admin/users/buyer/", 300),
        ("buyers list, expiring in 7 days", "/admin/users/buyer/?subscription=expiring", 300),
        ("buyers list, never paid", "/admin/users/buyer/?subscription=never_paid", 300),
        ("buyers list, search by Telegram id", f"/admin/users/buyer/?q={sample_telegram_id}", 300),
        ("dashboard, last 30 days", "/admin/payments/payment/dashboard/", 500),
        ("dashboard, last 90 days", "/admin/payments/payment/dashboard/?preset=90d", 500),
        # A year and the year before it: every payment of the generated data, no goal.
        ("dashboard, last 365 days", "/admin/payments/payment/dashboard/?preset=365d", None),
        ("dashboard, a month a year ago", f"/admin/payments/payment/dashboard/?from={year_ago}&to={year_ago_end}", 500),
    ]
    counts = {
        "payments": Payment.objects.count(),
        "users": User.objects.count(),
        "ledger": connection.cursor().execute("SELECT count(*) FROM payments_ledgerentry").fetchone()[0],
    }
    print(f"data: {counts['payments']:,} payments, {counts['users']:,} users, {counts['ledger']:,} ledger rows")
    print(f"{'page':40} {'median ms':>10} {'queries':>8} {'goal ms':>8} {'x goal':>7} {'x index':>8}")
    baseline = None
    failures = 0
    for name, url, goal in pages:
        client.get(url)  # warm the caches once
        times = []
        for _ in range(args.runs):
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                response = client.get(url)
                times.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                print(f"{name}: HTTP {response.status_code}")
                failures += 1
                break
        median = statistics.median(times)
        baseline = baseline or median
        ratio_goal = f"{median / goal:.2f}" if goal else "-"
        print(f"{name:40} {median:10.1f} {len(queries):8d} {goal or '-':>8} {ratio_goal:>7} {median / baseline:8.2f}")
        if goal and median > goal:
            failures += 1
    print(f"{'the periodic subscriber count (not a page)':40} {count_ms:10.1f}")
    print("all pages within their goals" if not failures else f"{failures} page(s) over their goal")
    return 1 if failures else 0


def ensure_database(url: str) -> None:
    """Create the benchmark database when it does not exist (PostgreSQL only)."""
    import psycopg

    name = url.rsplit("/", 1)[-1]
    server = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(server, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


if __name__ == "__main__":
    sys.exit(main())
