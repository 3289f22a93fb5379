"""Pre-checkout latency and update throughput of `runbot`'s real update loop
against the fake Bot API server (not a test: prints figures and ratios).

    .venv/bin/python bench/bot_precheckout.py            # SQLite (a temporary database file)
    DATABASE_URL=postgres://... .venv/bin/python bench/bot_precheckout.py

1. Latency: 1,000 pre-checkout queries, one at a time, from injection into the
   fake server to its answerPreCheckoutQuery (getUpdates, store the batch as
   claimed, precheckout_validate, answer, mark the batch done). Goal: p99 < 50 ms.
2. Throughput: a burst of pre-checkout queries handled by runbot, against the
   raw rate: a bare PTB client draining the same number of updates from the
   same fake server with the same batch size (limit) and Update.de_json
   parsing, but no processing, in the same run. Goal: ratio >= 0.5.
3. Provisioning in flight: pre-checkout queries one at a time while other
   buyers pay (one payment every PAY_EVERY queries), so the background worker
   (the embedded one, as in `runbot` without a broker) is provisioning them in
   a fake Remnawave panel: first a panel that answers at once, then one that
   takes 4 s per call. The second's p50/p99 against the first's. Goal: ratio
   <= 1.5 (a slow panel never holds up the bot). Afterwards the panel is quick
   again and every payment must end provisioned.

Everything runs in one process (the fake server, the bot's loop and its ORM
thread share the GIL), so the CPU time per update printed at the end says
where the gap comes from: runbot pays one Bot API request and one ORM query
per update, the raw client one request per 100 updates.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("DJANGO_DEBUG", "false")  # like production: no query log
os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret-key-not-for-production-0123456789")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "127.0.0.1")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import override_settings  # noqa: E402

from core.background import start_embedded_worker, stop_embedded_worker  # noqa: E402
from integrations.telegram import reset_client  # noqa: E402
from payments.models import Payment  # noqa: E402
from payments.services import new_invoice_payload  # noqa: E402
from subscriptions.backends import reset_backend  # noqa: E402
from subscriptions.models import Tariff  # noqa: E402
from telegram_bot.application import GET_UPDATES_LIMIT  # noqa: E402
from telegram_bot.constants import ALLOWED_UPDATES  # noqa: E402
from tests.fakes.remnawave_panel import FakeRemnawavePanel  # noqa: E402
from tests.fakes.telegram_server import FakeTelegramServer  # noqa: E402
from users.models import User  # noqa: E402

LATENCY_QUERIES = 1000
BURST = 2000
BUYERS = 50
PROVISIONING_QUERIES = 400  # pre-checkouts measured per panel speed
PAY_EVERY = 10  # one buyer pays after every this many measured pre-checkouts
SLOW_PANEL_SECONDS = 4.0
DRAIN_TIMEOUT = 120.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def make_invoices(count: int, *, buyers: int = BUYERS, first_id: int = 900_000) -> list[tuple[int, str, int]]:
    tariff, _ = Tariff.objects.get_or_create(
        code="bench1m", defaults={"title": "1 month", "months": 1, "days": 30, "price_stars": 100}
    )
    users = [
        User.objects.get_or_create(telegram_id=first_id + i, defaults={"username": f"tg_{first_id + i}"})[0]
        for i in range(buyers)
    ]
    payments = [
        Payment(
            user=users[i % buyers],
            tariff=tariff,
            base_price=100,
            amount=100,
            days=30,
            invoice_payload=new_invoice_payload(),
        )
        for i in range(count)
    ]
    Payment.objects.bulk_create(payments, batch_size=500)
    return [(p.user.telegram_id, p.invoice_payload, p.amount) for p in payments]


class BotThread:
    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stop_event: asyncio.Event | None = None
        self.thread: threading.Thread | None = None

    def start(self, fake: FakeTelegramServer) -> None:
        from telegram_bot.application import run_bot

        ready = threading.Event()

        def target() -> None:
            self.loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self.loop)
            self.stop_event = asyncio.Event()
            ready.set()
            self.loop.run_until_complete(run_bot(self.stop_event, poll_timeout=1, retry_interval=3600))
            self.loop.close()

        self.thread = threading.Thread(target=target, daemon=True)
        self.thread.start()
        ready.wait(5)
        fake.wait_for_call("getUpdates", timeout=10)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(30)


def raw_get_updates_rate(fake: FakeTelegramServer, invoices: list[tuple[int, str, int]]) -> float:
    """The baseline: updates per second a bare client drains from the same fake
    server, the way runbot fetches them (PTB's Bot.get_updates, the same batch
    size and HTTP client, Update.de_json for every update), but processes nothing."""
    from telegram import Bot

    for telegram_id, payload, amount in invoices:
        fake.inject_pre_checkout(telegram_id, payload, amount)

    async def drain() -> float:
        received, offset = 0, 0
        async with Bot(fake.token, base_url=fake.ptb_base_url) as bot:
            started = time.perf_counter()
            while received < len(invoices):
                updates = await bot.get_updates(
                    offset=offset, limit=GET_UPDATES_LIMIT, timeout=1, allowed_updates=ALLOWED_UPDATES
                )
                if updates:
                    received += len(updates)
                    offset = updates[-1].update_id + 1
            elapsed = time.perf_counter() - started
            await bot.get_updates(offset=offset, timeout=0)  # confirm the last batch
        return received / elapsed

    return asyncio.run(drain())


def precheckout_latencies(fake: FakeTelegramServer, invoices, *, payments=()) -> list[float]:
    """Milliseconds from injection to answer, one query at a time; a payment from
    `payments` succeeds after every PAY_EVERY queries (not waited for)."""
    payments = list(payments)
    latencies = []
    for number, (telegram_id, payload, amount) in enumerate(invoices, start=1):
        query = fake.inject_pre_checkout(telegram_id, payload, amount)
        answer = fake.wait_for_precheckout_answer(query, timeout=10)
        assert answer.ok, answer.error_message
        latencies.append(answer.latency * 1000)
        if number % PAY_EVERY == 0 and payments:
            telegram_id, payload, amount = payments.pop()
            fake.inject_successful_payment(telegram_id, payload, amount)
    return latencies


def wait_provisioned(panel: FakeRemnawavePanel, count: int) -> bool:
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while len(panel.users) < count:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def provisioning_runs(fake: FakeTelegramServer) -> dict[str, dict]:
    """Section 3 of the docstring: the same measurement with an instant panel, then with a 4 s one."""
    per_run = PROVISIONING_QUERIES // PAY_EVERY
    runs: dict[str, dict] = {}
    panel = FakeRemnawavePanel().start()
    try:
        with override_settings(
            PROVISIONING_BACKEND="remnawave",
            REMNAWAVE_URL=panel.url,
            REMNAWAVE_TOKEN=panel.token,
            REMNAWAVE_API_VERSION=panel.version,
            REMNAWAVE_TIMEOUT=SLOW_PANEL_SECONDS * 4,  # slow, never timed out
            BACKGROUND_TASKS_INLINE=False,
            CELERY_BROKER_URL="",  # the embedded worker, whatever the environment says
        ):
            reset_backend()
            worker = start_embedded_worker(schedule=False)
            bot = BotThread()
            bot.start(fake)
            try:
                for name, latency, first_id in (("instant", 0.0, 910_000), ("slow", SLOW_PANEL_SECONDS, 920_000)):
                    checks = make_invoices(PROVISIONING_QUERIES, first_id=first_id)
                    payments = make_invoices(per_run, buyers=per_run, first_id=first_id + 5_000)
                    panel.set_latency(latency)
                    users_before, calls_before = len(panel.users), len(panel.calls)
                    latencies = precheckout_latencies(fake, checks, payments=payments)
                    runs[name] = {
                        "latencies": latencies,
                        "payments": per_run,
                        "provisioned_meanwhile": len(panel.users) - users_before,
                        "panel_calls": len(panel.calls) - calls_before,
                    }
                panel.set_latency(0)  # the backlog drains quickly now
                runs["drain"] = {"all_provisioned": wait_provisioned(panel, 2 * per_run)}
                worker.wait_idle(DRAIN_TIMEOUT)  # and the link messages are sent
            finally:
                bot.stop()
                stop_embedded_worker()
                reset_client()
                reset_backend()
    finally:
        panel.set_latency(0)
        panel.stop()
    return runs


def main() -> None:
    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    scratch = tempfile.mkdtemp(prefix="bench-")
    if engine == "sqlite3":
        # A file, as in production: the worker's threads and the bot's write at the same
        # time, which SQLite's in-memory test database (shared cache) cannot take.
        connection.settings_dict["TEST"]["NAME"] = str(Path(scratch) / "bench.sqlite3")
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        with (
            FakeTelegramServer() as fake,
            override_settings(
                TELEGRAM_BOT_TOKEN=fake.token, TELEGRAM_API_BASE_URL=fake.base_url, TELEGRAM_TEST_ENV=False
            ),
        ):
            latency_invoices = make_invoices(LATENCY_QUERIES)
            burst_invoices = make_invoices(BURST)
            raw_invoices = make_invoices(BURST)
            bot = BotThread()
            bot.start(fake)
            try:
                # 1. latency, one query at a time
                latencies = []
                refused = 0
                for telegram_id, payload, amount in latency_invoices:
                    query = fake.inject_pre_checkout(telegram_id, payload, amount)
                    answer = fake.wait_for_precheckout_answer(query, timeout=10)
                    refused += not answer.ok
                    latencies.append(answer.latency * 1000)
                # 2. throughput of the bot on a burst
                started, cpu_started = time.perf_counter(), time.process_time()
                queries = [fake.inject_pre_checkout(t, p, a) for t, p, a in burst_invoices]
                for query in queries:
                    fake.wait_for_precheckout_answer(query, timeout=60)
                bot_rate = BURST / (time.perf_counter() - started)
                bot_cpu = (time.process_time() - cpu_started) / BURST
            finally:
                bot.stop()
            # 3. the fake server's raw getUpdates rate, same run, bot stopped
            cpu_started = time.process_time()
            raw_rate = raw_get_updates_rate(fake, raw_invoices)
            raw_cpu = (time.process_time() - cpu_started) / BURST
            # 4. pre-checkouts while payments are provisioned (section 3): instant panel, then a slow one
            provisioning = provisioning_runs(fake)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        shutil.rmtree(scratch, ignore_errors=True)

    p50, p99 = statistics.median(latencies), percentile(latencies, 0.99)
    print(f"database: {engine}")
    print(
        f"pre-checkout latency over {LATENCY_QUERIES} queries: p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
        f"max {max(latencies):.1f} ms (refused: {refused})"
    )
    print(f"  p99 / goal 50 ms: {p99 / 50:.2f} ({'met' if p99 < 50 else 'NOT met'})")
    print(
        f"runbot throughput ({BURST} pre-checkout queries): {bot_rate:.0f} updates/s, "
        f"process CPU {bot_cpu * 1e6:.0f} us/update"
    )
    print(
        f"raw getUpdates rate ({BURST} updates, limit {GET_UPDATES_LIMIT}, de_json): {raw_rate:.0f} updates/s, "
        f"process CPU {raw_cpu * 1e6:.0f} us/update"
    )
    ratio = bot_rate / raw_rate
    print(f"  ratio runbot / raw: {ratio:.2f} (goal >= 0.5: {'met' if ratio >= 0.5 else 'NOT met'})")
    print(
        f"pre-checkout latency while other buyers pay ({PROVISIONING_QUERIES} queries, a payment every "
        f"{PAY_EVERY}, embedded worker provisioning them):"
    )
    figures = {}
    for name, label in (("instant", "instant panel"), ("slow", f"panel {SLOW_PANEL_SECONDS:.0f} s per call")):
        run = provisioning[name]
        values = run["latencies"]
        figures[name] = statistics.median(values), percentile(values, 0.99)
        print(
            f"  {label:>18}: p50 {figures[name][0]:.1f} ms, p99 {figures[name][1]:.1f} ms, max {max(values):.1f} ms; "
            f"{run['payments']} payments, {run['provisioned_meanwhile']} provisioned meanwhile, "
            f"{run['panel_calls']} panel calls"
        )
    p50_ratio = figures["slow"][0] / figures["instant"][0]
    p99_ratio = figures["slow"][1] / figures["instant"][1]
    met = p50_ratio <= 1.5 and p99_ratio <= 1.5
    verdict = "met" if met else "NOT met"
    print(f"  ratio slow / instant panel: p50 {p50_ratio:.2f}, p99 {p99_ratio:.2f} (goal <= 1.5: {verdict})")
    print(f"  every payment provisioned afterwards: {'yes' if provisioning['drain']['all_provisioned'] else 'NO'}")


if __name__ == "__main__":
    main()
