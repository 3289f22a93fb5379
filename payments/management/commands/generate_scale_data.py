"""Synthetic shop data at scale, for the admin's benchmark (bench/admin_scale.py).

    manage.py generate_scale_data                      # 100k users, 1M payments, 2M ledger rows
    manage.py generate_scale_data --payments 20000 --users 2000 --ledger 40000

PostgreSQL: INSERT ... SELECT over generate_series (a minute or so for the full
size). Other databases: bulk_create in batches (fine for a few thousand rows).
Rows are appended (a run never touches existing rows); balances are set from
the ledger at the end, so `verify_balances` still holds. Payments spread over
the last --days days: ~75 % paid (5 % of them from the balance), 2 % refunded,
15 % expired, 4 % failed, 4 % pending (recent); 10 % use one of --promos codes.
"""

from __future__ import annotations

import random
import uuid
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.db.models import Max, Sum
from django.utils import timezone

from payments.buyers import firsts_backfill
from payments.models import LedgerEntry, Payment
from promos.models import PromoCode
from subscriptions.models import Subscription, Tariff
from users.models import User


def _defaults_for(model, given: set[str]) -> tuple[list[str], list]:
    """Columns not given explicitly: NOT NULL ones get the field default as a parameter."""
    columns, params = [], []
    for field in model._meta.concrete_fields:
        if field.primary_key or field.column in given or field.null or field.generated:
            continue
        columns.append(field.column)
        params.append(field.get_db_prep_save(field.get_default(), connection))
    return columns, params


def insert_select(model, exprs: dict[str, str], source_sql: str, *, select_params=(), from_params=()) -> int:
    """INSERT INTO <model> (<columns>) SELECT <exprs>, <defaults> <source_sql>: one statement."""
    extra_columns, extra_params = _defaults_for(model, set(exprs))
    columns = [*exprs, *extra_columns]
    select = [*exprs.values(), *["%s"] * len(extra_columns)]
    sql = (
        f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) "  # noqa: S608 - our own identifiers
        f"SELECT {', '.join(select)} {source_sql}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*select_params, *extra_params, *from_params])
        return cursor.rowcount


class Command(BaseCommand):
    help = "Generate synthetic users, payments and ledger rows for the admin benchmark."

    def add_arguments(self, parser):
        parser.add_argument("--users", type=int, default=100_000)
        parser.add_argument("--payments", type=int, default=1_000_000)
        parser.add_argument("--ledger", type=int, default=2_000_000, help="Total ledger rows to reach (at least).")
        parser.add_argument("--promos", type=int, default=50)
        parser.add_argument("--days", type=int, default=730, help="Spread payments over this many past days.")
        parser.add_argument("--seed", type=int, default=7)

    def handle(self, *args, **options):
        for name in ("users", "payments", "promos", "days"):
            if options[name] < 1:
                raise CommandError(f"--{name} must be at least 1")
        if not Tariff.objects.exists():
            raise CommandError("No tariffs: run migrate first.")
        run = uuid.uuid4().hex[:8]
        started = timezone.now()
        fill = self._postgres if connection.vendor == "postgresql" else self._generic
        with transaction.atomic():
            fill(run=run, **{k: options[k] for k in ("users", "payments", "ledger", "promos", "days", "seed")})
            self._set_balances()
            firsts_backfill()  # the flags the payment services set one by one
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                for model in (User, Payment, LedgerEntry, Subscription, PromoCode):
                    cursor.execute(f"ANALYZE {model._meta.db_table}")
        seconds = (timezone.now() - started).total_seconds()
        self.stdout.write(
            f"run {run}: {User.objects.count()} users, {Payment.objects.count()} payments, "
            f"{LedgerEntry.objects.count()} ledger rows in total ({seconds:.1f} s)"
        )

    # --- PostgreSQL: set-based ----------------------------------------------------------

    def _postgres(self, *, run, users, payments, ledger, promos, days, seed):
        with connection.cursor() as cursor:
            cursor.execute("SELECT setseed(%s)", [(seed % 1000) / 1000])
            cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            outermost = len(connection.atomic_blocks) == 1  # not inside a caller's (or a test's) transaction
            if cursor.fetchone()[0] and outermost:
                # The rows are consistent by construction: skip the per-row foreign-key
                # triggers (most of the time at COMMIT). Needs a superuser; else they run.
                cursor.execute("SET LOCAL session_replication_role = replica")
        first_user = (User.objects.aggregate(m=Max("pk"))["m"] or 0) + 1
        insert_select(
            User,
            {
                "password": "'!'",
                "username": "'scale_' || %s || '_' || g",
                "first_name": "'Buyer'",
                "telegram_id": "8000000000 + %s + g",
                "telegram_username": "'scale' || %s || '_' || g",
                "language_code": "'en'",
                "date_joined": "now() - random() * make_interval(days => %s)",
            },
            "FROM generate_series(1, %s) g",
            select_params=[run, first_user, run, days],
            from_params=[users],
        )
        user_ids = list(User.objects.filter(pk__gte=first_user).order_by("pk").values_list("pk", flat=True)[:1])
        base_user = user_ids[0]
        insert_select(
            PromoCode,
            {
                "code": "'SCALE' || %s || '_' || g",
                "discount_percent": "10 + mod(g, 5) * 10",
                "created_at": "now() - make_interval(days => g)",
            },
            "FROM generate_series(1, %s) g",
            select_params=[run],
            from_params=[promos],
        )
        promo_ids = list(PromoCode.objects.filter(code__startswith=f"SCALE{run}_").values_list("pk", flat=True))
        tariffs = list(Tariff.objects.order_by("pk").values_list("pk", "price_stars", "days"))
        # One row per payment: its random draws, then the columns computed from them (integers we built).
        draws = f"""
            FROM (
              SELECT g, r, r2, ti, pi,
                     CASE WHEN r < 0.75 THEN 'succeeded' WHEN r < 0.77 THEN 'refunded' WHEN r < 0.92 THEN 'expired'
                          WHEN r < 0.96 THEN 'failed' ELSE 'pending' END AS status,
                     CASE WHEN r >= 0.96 THEN now() - random() * interval '2 days'
                          ELSE now() - random() * make_interval(days => %s) END AS created,
                     CASE WHEN r2 < 0.05 THEN 'balance' ELSE 'stars' END AS method,
                     (ARRAY{[t[1] for t in tariffs]})[ti] AS price,
                     (ARRAY{[t[2] for t in tariffs]})[ti] AS tdays,
                     CASE WHEN pi > 0 THEN (ARRAY{promo_ids or [0]})[pi] END AS promo_id
              FROM (
                SELECT g, random() AS r, random() AS r2, 1 + mod(g, {len(tariffs)}) AS ti,
                       CASE WHEN random() < 0.1 THEN 1 + floor(random() * {max(len(promo_ids), 1)})::int ELSE 0 END
                         AS pi
                FROM generate_series(1, %s) g
              ) raw
            ) d
        """  # noqa: S608
        paid = "d.status IN ('succeeded', 'refunded')"
        discount = "CASE WHEN d.promo_id IS NOT NULL THEN d.price / 10 ELSE 0 END"
        insert_select(
            Payment,
            {
                "purchase_id": "gen_random_uuid()",
                "user_id": f"{base_user} + mod(d.g::bigint * 7919, %s)",
                "kind": "'subscription'",
                "method": "d.method",
                "source": "CASE WHEN d.r2 < 0.9 THEN 'bot' WHEN d.r2 < 0.99 THEN 'api' ELSE 'admin' END",
                "tariff_id": f"(ARRAY{[t[0] for t in tariffs]})[d.ti]",
                "promo_id": "d.promo_id",
                "status": "d.status",
                "base_price": "d.price",
                "discount": discount,
                "amount": f"d.price - {discount}",
                "days": "d.tdays",
                "days_granted": f"CASE WHEN {paid} THEN d.tdays ELSE 0 END",
                "invoice_payload": "'scale-' || %s || '-' || d.g",
                "telegram_payment_charge_id": f"CASE WHEN {paid} AND d.method = 'stars' "
                "THEN 'scale_' || %s || '_' || d.g END",
                "created_at": "d.created",
                "paid_at": f"CASE WHEN {paid} THEN d.created + random() * interval '10 minutes' END",
                "refunded_at": "CASE WHEN d.status = 'refunded' THEN d.created + interval '1 day' END",
                "needs_review": "d.r2 > 0.999",
            },
            draws,
            select_params=[users, run, run],
            from_params=[days, payments],
        )
        self._ledger_postgres(run=run, users=users, base_user=base_user, target=ledger)
        insert_select(
            Subscription,
            {
                "user_id": "u.id",
                "expires_at": "now() + (random() * 120 - 60) * interval '1 day'",
                "status": "'active'",
                "created_at": "now()",
                "updated_at": "now()",
            },
            "FROM users_user u WHERE u.id >= %s AND mod(u.id, 2) = 0 "
            "AND NOT EXISTS (SELECT 1 FROM subscriptions_subscription s WHERE s.user_id = u.id)",
            from_params=[base_user],
        )
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE subscriptions_subscription SET status = 'expired' "
                "WHERE expires_at < now() AND status = 'active'"
            )

    def _ledger_postgres(self, *, run, users, base_user, target):
        pay = f"FROM {Payment._meta.db_table} p WHERE p.invoice_payload LIKE %s"
        like = f"scale-{run}-%"
        common = {"user_id": "p.user_id", "payment_id": "p.id", "created_at": "p.paid_at"}
        insert_select(
            LedgerEntry,
            {**common, "kind": "'purchase'", "amount": "p.amount", "gateway_tx_id": "p.telegram_payment_charge_id"},
            pay + " AND p.paid_at IS NOT NULL AND p.method = 'stars'",
            from_params=[like],
        )
        insert_select(
            LedgerEntry,
            {
                **common,
                "created_at": "p.refunded_at",
                "kind": "'refund'",
                "amount": "-p.amount",
                "gateway_tx_id": "p.telegram_payment_charge_id",
                "reason": "'refund'",
            },
            pay + " AND p.status = 'refunded' AND p.method = 'stars'",
            from_params=[like],
        )
        # Balance purchases: a credit first (so no balance dips below zero), then the spend.
        insert_select(
            LedgerEntry,
            {
                "user_id": "p.user_id",
                "created_at": "p.created_at - interval '1 hour'",
                "kind": "'adjustment'",
                "balance_delta": "p.amount",
                "reason": "'scale data: credit'",
            },
            pay + " AND p.paid_at IS NOT NULL AND p.method = 'balance'",
            from_params=[like],
        )
        insert_select(
            LedgerEntry,
            {**common, "kind": "'balance_spend'", "balance_delta": "-p.amount"},
            pay + " AND p.paid_at IS NOT NULL AND p.method = 'balance'",
            from_params=[like],
        )
        missing = target - LedgerEntry.objects.count()
        if missing > 0:
            insert_select(
                LedgerEntry,
                {
                    "user_id": f"{base_user} + mod(g::bigint * 104729, %s)",
                    "created_at": "now() - random() * interval '730 days'",
                    "kind": "'adjustment'",
                    "balance_delta": "1 + mod(g, 50)",
                    "reason": "'scale data: goodwill'",
                },
                "FROM generate_series(1, %s) g",
                select_params=[users],
                from_params=[missing],
            )

    # --- Any database: bulk_create ---------------------------------------------------------

    def _generic(self, *, run, users, payments, ledger, promos, days, seed):
        rnd = random.Random(seed)
        now = timezone.now()
        first_user = (User.objects.aggregate(m=Max("pk"))["m"] or 0) + 1
        User.objects.bulk_create(
            [
                User(
                    username=f"scale_{run}_{i}",
                    password="!",
                    first_name="Buyer",
                    telegram_id=8_000_000_000 + first_user + i,
                    telegram_username=f"scale{run}_{i}",
                    language_code="en",
                )
                for i in range(users)
            ],
            batch_size=2000,
        )
        new_users = list(User.objects.filter(username__startswith=f"scale_{run}_"))
        PromoCode.objects.bulk_create(
            [PromoCode(code=f"SCALE{run}_{i}", discount_percent=10 + (i % 5) * 10) for i in range(promos)]
        )
        new_promos = list(PromoCode.objects.filter(code__startswith=f"SCALE{run}_"))
        tariffs = list(Tariff.objects.all())
        rows, created_times = [], []
        for i in range(payments):
            r, r2 = rnd.random(), rnd.random()
            status = (
                "succeeded"
                if r < 0.75
                else "refunded"
                if r < 0.77
                else "expired"
                if r < 0.92
                else "failed"
                if r < 0.96
                else "pending"
            )
            created = now - timedelta(days=rnd.random() * (2 if status == "pending" else days))
            tariff = tariffs[i % len(tariffs)]
            promo = rnd.choice(new_promos) if rnd.random() < 0.1 else None
            discount = tariff.price_stars // 10 if promo else 0
            created_times.append(created)
            method = "balance" if r2 < 0.05 else "stars"
            paid = status in ("succeeded", "refunded")
            rows.append(
                Payment(
                    user=new_users[(i * 7919) % len(new_users)],
                    method=method,
                    source="bot" if r2 < 0.9 else "api",
                    tariff=tariff,
                    promo=promo,
                    status=status,
                    base_price=tariff.price_stars,
                    discount=discount,
                    amount=tariff.price_stars - discount,
                    days=tariff.days,
                    days_granted=tariff.days if paid else 0,
                    invoice_payload=f"scale-{run}-{i}",
                    telegram_payment_charge_id=f"scale_{run}_{i}" if paid and method == "stars" else None,
                    paid_at=created + timedelta(minutes=rnd.random() * 10) if paid else None,
                    refunded_at=created + timedelta(days=1) if status == "refunded" else None,
                )
            )
        created_at = {p.invoice_payload: c for p, c in zip(rows, created_times, strict=True)}
        Payment.objects.bulk_create(rows, batch_size=2000)
        # auto_now_add overrides the values we gave: set the creation times afterwards.
        saved = list(Payment.objects.filter(invoice_payload__startswith=f"scale-{run}-").order_by("pk"))
        for payment in saved:
            payment.created_at = created_at[payment.invoice_payload]
        Payment.objects.bulk_update(saved, ["created_at"], batch_size=2000)
        entries = []
        for payment in saved:
            if payment.paid_at and payment.method == "stars":
                entries.append(
                    LedgerEntry(
                        user_id=payment.user_id,
                        payment=payment,
                        kind="purchase",
                        amount=payment.amount,
                        gateway_tx_id=payment.telegram_payment_charge_id,
                    )
                )
        while len(entries) < ledger - LedgerEntry.objects.count():
            entries.append(
                LedgerEntry(
                    user=rnd.choice(new_users), kind="adjustment", balance_delta=1 + rnd.randrange(50), reason="scale"
                )
            )
        LedgerEntry.objects.bulk_create(entries, batch_size=2000)
        Subscription.objects.bulk_create(
            [Subscription(user=u, expires_at=now + timedelta(days=30), status="active") for u in new_users[::2]],
            ignore_conflicts=True,
        )

    def _set_balances(self):
        """The cached balance is the ledger's sum, as verify_balances expects."""
        totals = LedgerEntry.objects.values("user_id").annotate(total=Sum("balance_delta")).filter(total__gt=0)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    f"""UPDATE {User._meta.db_table} u SET stars_balance = s.total
                        FROM (SELECT user_id, sum(balance_delta) AS total FROM {LedgerEntry._meta.db_table}
                              GROUP BY user_id) s
                        WHERE u.id = s.user_id AND u.stars_balance <> s.total"""  # noqa: S608 - our identifiers
                )
            return
        for row in totals:
            User.objects.filter(pk=row["user_id"]).update(stars_balance=row["total"])
