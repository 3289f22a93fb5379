"""Pre-checkout latency and update throughput of `manage.py runbot`, against a
minimal python-telegram-bot application that answers every pre-checkout with
ok and touches no database (bench/minimal_precheckout_bot.py). Not a test:
it prints figures and ratios.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bot_bench .venv/bin/python bench/bot_precheckout.py
    .venv/bin/python bench/bot_precheckout.py        # SQLite (a temporary file), for information only

Processes: this one runs the fake Bot API server (tests/fakes) and injects the
updates; the bot under test is the real `manage.py runbot` in a process of its
own (production settings: DEBUG off, INFO logs to a file, a Redis broker so no
embedded worker, as with the Procfile), and so is the minimal bot. Neither
shares the fake server's GIL; they take turns on the same server, in rounds.
The database is a throwaway test database (test_<name>), created and dropped here.

1. One at a time: pre-checkout queries injected one after the other, each waited
   for; latency from injection into the fake server to its answerPreCheckoutQuery.
2. Bursts: 50 buyers paying at once (50 pre-checkouts of 50 buyers injected
   together), repeated; the latency of every answer. Goal: runbot's p99 <= 50 ms.
3. Throughput: 2,000 pre-checkout queries injected at once, answered per second.
   Goal: runbot >= 300 updates/s, ten times Telegram's ~30 messages/s outbound
   ceiling. Afterwards every update must be stored and marked done.
4. Provisioning in flight (runbot only, with its embedded worker and a fake
   Remnawave panel): pre-checkouts one at a time while other buyers pay (one
   payment every PAY_EVERY queries); first a panel that answers at once, then one
   that takes 4 s per call. Goal: slow/instant <= 1.5 for p50 and p99 (a slow
   panel never holds up the bot), and every payment provisioned afterwards.

Each bot process's CPU per update is printed too (from /proc): where the gap
between runbot and the minimal bot comes from.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PYTHON = sys.executable
BENCH_ENV = {
    "DJANGO_SETTINGS_MODULE": "config.settings",
    "DJANGO_DEBUG": "false",  # like production: no query log
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
    "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
    "LOG_LEVEL": "INFO",
    "TELEGRAM_TEST_ENV": "false",
}
os.environ.update(BENCH_ENV)

import django  # noqa: E402

django.setup()

import httpx  # noqa: E402
import minimal_precheckout_bot as minimal  # noqa: E402 - bench/ is on sys.path (this script's directory)
from django.conf import settings  # noqa: E402
from django.db import connection, connections  # noqa: E402

from payments.models import Payment  # noqa: E402
from payments.services import new_invoice_payload  # noqa: E402
from subscriptions.models import Tariff  # noqa: E402
from telegram_bot import application as runbot_loop  # noqa: E402
from telegram_bot.constants import ALLOWED_UPDATES  # noqa: E402
from telegram_bot.models import TelegramUpdate  # noqa: E402
from tests.fakes.remnawave_panel import FakeRemnawavePanel  # noqa: E402
from tests.fakes.telegram_server import FakeTelegramServer  # noqa: E402
from users.models import User  # noqa: E402

ONE_AT_A_TIME = 500
BURST_BUYERS = 50
BURSTS = 20
THROUGHPUT = 2000
THROUGHPUT_BUYERS = 500
PROVISIONING_QUERIES = 400  # pre-checkouts measured per panel speed
PAY_EVERY = 10  # one buyer pays after every this many measured pre-checkouts
SLOW_PANEL_SECONDS = 4.0
POLL_TIMEOUT = 10  # both bots: the long poll returns as soon as updates arrive
ANSWER_TIMEOUT = 60.0
DRAIN_TIMEOUT = 120.0
GOAL_RATE = 300.0
GOAL_BURST_P99_MS = 50.0

Invoice = tuple[int, str, int]  # (telegram id, payload, amount)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


# --- Data ----------------------------------------------------------------------------------


class Buyers:
    """Pending invoices of fresh buyers, made in bulk (a user, its pending payments)."""

    def __init__(self) -> None:
        self.tariff, _ = Tariff.objects.get_or_create(
            code="bench1m", defaults={"title": "1 month", "months": 1, "days": 30, "price_stars": 100}
        )
        self._next_id = 900_000_000

    def invoices(self, count: int, *, buyers: int) -> list[Invoice]:
        first = self._next_id
        self._next_id += buyers
        users = User.objects.bulk_create(
            [User(telegram_id=first + i, username=f"tg_{first + i}", password="!") for i in range(buyers)],
            batch_size=1000,
        )
        payments = Payment.objects.bulk_create(
            [
                Payment(
                    user=users[i % buyers],
                    tariff=self.tariff,
                    base_price=100,
                    amount=100,
                    days=30,
                    invoice_payload=new_invoice_payload(),
                )
                for i in range(count)
            ],
            batch_size=1000,
        )
        return [(users[i % buyers].telegram_id, p.invoice_payload, p.amount) for i, p in enumerate(payments)]


# --- The bots under test ---------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process and its threads."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class BotProcess:
    name: str
    process: subprocess.Popen
    log: Path

    def cpu(self) -> float:
        return cpu_seconds(self.process.pid)


def child_env(database_url: str, fake: FakeTelegramServer, extra: dict[str, str]) -> dict[str, str]:
    env = {
        **os.environ,
        **BENCH_ENV,
        "DATABASE_URL": database_url,
        "TELEGRAM_BOT_TOKEN": fake.token,
        "TELEGRAM_API_BASE_URL": fake.base_url,
        "PYTHONUNBUFFERED": "1",
        **extra,
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return env


@contextmanager
def running(name: str, command: list[str], env: dict[str, str], fake: FakeTelegramServer, logs: Path) -> Iterator:
    """Start a bot, wait for its first long poll, yield it; then stop it (SIGTERM, as
    a deployment does) and confirm every update it left unconfirmed, so the next bot
    starts from an empty queue."""
    log = logs / f"{name}-{int(time.time() * 1000)}.log"
    started = time.monotonic()
    with open(log, "w") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    bot = BotProcess(name=name, process=process, log=log)
    try:
        try:
            fake.wait_for_call("getUpdates", timeout=60, predicate=lambda call: call.at > started)
        except TimeoutError:
            raise SystemExit(f"{name} did not start polling; its log:\n{log.read_text()[-3000:]}")
        yield bot
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        confirm_all(fake)


def confirm_all(fake: FakeTelegramServer) -> None:
    """getUpdates with an offset past every update: what a stopped bot fetched is confirmed."""
    last = max((update.update_id for update in fake.pending_updates()), default=0)
    if last:
        httpx.get(f"{fake.base_url}/bot{fake.token}/getUpdates", params={"offset": last + 1, "timeout": 0})


PROFILE: dict[str, Path] = {}  # "dir": where runbot's profiles go, with --profile


def runbot(database_url: str, fake: FakeTelegramServer, logs: Path, **extra: str):
    command = ["manage.py", "runbot", "--poll-timeout", str(POLL_TIMEOUT)]
    if "dir" in PROFILE:
        out = PROFILE["dir"] / f"runbot-{int(time.time() * 1000)}.prof"
        command = ["bench/profiled.py", str(out), *command]
    return running("runbot", [PYTHON, *command], child_env(database_url, fake, extra), fake, logs)


def minimal_bot(fake: FakeTelegramServer, logs: Path):
    command = [PYTHON, str(Path(minimal.__file__)), fake.base_url, fake.token, str(POLL_TIMEOUT)]
    # No Django, no database: only what python-telegram-bot needs.
    env = {name: value for name, value in os.environ.items() if not name.startswith(("DJANGO", "DATABASE"))}
    return running("minimal", command, env, fake, logs)


# --- Measurements ------------------------------------------------------------------------------


@dataclass
class Figures:
    latencies: list[float] = field(default_factory=list)  # ms
    refused: int = 0
    rate: float = 0.0  # answers per second
    cpu_per_update: float = 0.0  # ms of the bot process

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies)

    @property
    def p99(self) -> float:
        return percentile(self.latencies, 0.99)


def one_at_a_time(fake: FakeTelegramServer, bot: BotProcess, invoices: list[Invoice]) -> Figures:
    figures = Figures()
    cpu = bot.cpu()
    for telegram_id, payload, amount in invoices:
        answer = fake.wait_for_precheckout_answer(
            fake.inject_pre_checkout(telegram_id, payload, amount), ANSWER_TIMEOUT
        )
        figures.refused += not answer.ok
        figures.latencies.append(answer.latency * 1000)
    figures.cpu_per_update = (bot.cpu() - cpu) / len(invoices) * 1000
    return figures


def bursts(fake: FakeTelegramServer, bot: BotProcess, groups: list[list[Invoice]]) -> Figures:
    """Each group's pre-checkouts injected together (buyers paying at once), all answers awaited."""
    figures = Figures()
    cpu = bot.cpu()
    for group in groups:
        queries = [fake.inject_pre_checkout(telegram_id, payload, amount) for telegram_id, payload, amount in group]
        for query in queries:
            answer = fake.wait_for_precheckout_answer(query, ANSWER_TIMEOUT)
            figures.refused += not answer.ok
            figures.latencies.append(answer.latency * 1000)
        time.sleep(0.2)  # the next buyers come a moment later
    figures.cpu_per_update = (bot.cpu() - cpu) / sum(len(group) for group in groups) * 1000
    return figures


def throughput(fake: FakeTelegramServer, bot: BotProcess, invoices: list[Invoice]) -> Figures:
    figures = Figures()
    cpu = bot.cpu()
    started = time.monotonic()
    queries = [fake.inject_pre_checkout(telegram_id, payload, amount) for telegram_id, payload, amount in invoices]
    last = started
    for query in queries:
        answer = fake.wait_for_precheckout_answer(query, ANSWER_TIMEOUT)
        figures.refused += not answer.ok
        last = max(last, answer.answered_at)
    figures.rate = len(invoices) / (last - started)
    figures.cpu_per_update = (bot.cpu() - cpu) / len(invoices) * 1000
    return figures


def stored_and_done(queries_from: int) -> tuple[int, int]:
    """(pre-checkout updates stored since `queries_from`, of which done)."""
    rows = TelegramUpdate.objects.filter(update_id__gte=queries_from, kind="pre_checkout_query")
    counts = (rows.count(), rows.filter(status=TelegramUpdate.Status.DONE).count())
    connections.close_all()
    return counts


def wait_all_done(queries_from: int, expected: int, timeout: float = 30) -> tuple[int, int]:
    """runbot marks handled updates done in batches, after answering: wait for the last batch."""
    deadline = time.monotonic() + timeout
    while True:
        stored, done = stored_and_done(queries_from)
        if done >= expected or time.monotonic() > deadline:
            return stored, done
        time.sleep(0.2)


def provisioning_runs(database_url: str, fake: FakeTelegramServer, buyers: Buyers, logs: Path) -> dict[str, dict]:
    """Section 4: pre-checkouts one at a time while other buyers pay, an instant panel then a 4 s one."""
    per_run = PROVISIONING_QUERIES // PAY_EVERY
    runs: dict[str, dict] = {}
    panel = FakeRemnawavePanel().start()
    extra = {
        "PROVISIONING_BACKEND": "remnawave",
        "REMNAWAVE_URL": panel.url,
        "REMNAWAVE_TOKEN": panel.token,
        "REMNAWAVE_API_VERSION": str(panel.version),
        "REMNAWAVE_TIMEOUT": str(SLOW_PANEL_SECONDS * 4),  # slow, never timed out
        "CELERY_BROKER_URL": "",  # the embedded worker, as runbot runs it without a broker
    }
    try:
        with runbot(database_url, fake, logs, **extra):
            for name, latency in (("instant", 0.0), ("slow", SLOW_PANEL_SECONDS)):
                checks = buyers.invoices(PROVISIONING_QUERIES, buyers=BURST_BUYERS)
                payments = buyers.invoices(per_run, buyers=per_run)
                connections.close_all()
                panel.set_latency(latency)
                users_before, calls_before = len(panel.users), len(panel.calls)
                latencies = []
                for number, (telegram_id, payload, amount) in enumerate(checks, start=1):
                    answer = fake.wait_for_precheckout_answer(
                        fake.inject_pre_checkout(telegram_id, payload, amount), ANSWER_TIMEOUT
                    )
                    assert answer.ok, answer.error_message
                    latencies.append(answer.latency * 1000)
                    if number % PAY_EVERY == 0 and payments:
                        fake.inject_successful_payment(*payments.pop())
                runs[name] = {
                    "latencies": latencies,
                    "payments": per_run,
                    "provisioned_meanwhile": len(panel.users) - users_before,
                    "panel_calls": len(panel.calls) - calls_before,
                }
            panel.set_latency(0)  # the backlog drains quickly now
            deadline = time.monotonic() + DRAIN_TIMEOUT
            while len(panel.users) < 2 * per_run and time.monotonic() < deadline:
                time.sleep(0.2)
            runs["drain"] = {"all_provisioned": len(panel.users) >= 2 * per_run}
            time.sleep(2)  # the link messages of the last provisioned buyers
    finally:
        panel.set_latency(0)
        panel.stop()
    return runs


# --- The run -----------------------------------------------------------------------------------


def child_database_url(name: str) -> str:
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{name}"
    parsed = urlparse(os.environ["DATABASE_URL"])
    return parsed._replace(path=f"/{name}").geturl()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2, help="rounds of sections 2 and 3, the bots alternating")
    parser.add_argument("--no-provisioning", action="store_true", help="skip section 4")
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="run runbot under bench/profiled.py (cProfile in every thread, thread CPU) and print the top N "
        "functions of sections 1-3",
    )
    args = parser.parse_args()
    # The same loop shape on both sides, or the comparison says nothing.
    assert minimal.CONCURRENT_UPDATES == runbot_loop.CONCURRENT_UPDATES
    assert minimal.GET_UPDATES_LIMIT == runbot_loop.GET_UPDATES_LIMIT
    assert minimal.ALLOWED_UPDATES == ALLOWED_UPDATES

    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    scratch = Path(tempfile.mkdtemp(prefix="bench-bot-"))
    logs = Path(tempfile.mkdtemp(prefix="bench-bot-logs-"))  # kept: the bots' own output
    if args.profile:
        PROFILE["dir"] = logs
    if engine == "sqlite3":
        # A file, as in production: the bot process and this one share it (WAL).
        connection.settings_dict["TEST"]["NAME"] = str(scratch / "bench.sqlite3")
    broker = os.environ.get("BENCH_BROKER_URL", os.environ.get("CACHE_URL", "redis://127.0.0.1:6379/1"))
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    database_url = child_database_url(connection.settings_dict["NAME"])
    production = {"CELERY_BROKER_URL": broker, "CACHE_URL": broker}
    results: dict[str, list] = {key: [] for key in ("runbot_burst", "minimal_burst", "runbot_rate", "minimal_rate")}
    results["stored"] = []
    try:
        buyers = Buyers()
        with FakeTelegramServer() as fake:
            single = buyers.invoices(2 * ONE_AT_A_TIME, buyers=BURST_BUYERS)
            plans = []
            for _round in range(args.rounds):
                plans.append(
                    {
                        bot: (
                            [buyers.invoices(BURST_BUYERS, buyers=BURST_BUYERS) for _ in range(BURSTS)],
                            buyers.invoices(THROUGHPUT, buyers=THROUGHPUT_BUYERS),
                        )
                        for bot in ("runbot", "minimal")
                    }
                )
            connections.close_all()
            first_update = max((u.update_id for u in fake.pending_updates()), default=0) + 1
            handled = 0
            for index, plan in enumerate(plans):
                for name in ("runbot", "minimal"):
                    if name == "runbot":
                        starter = runbot(database_url, fake, logs, **production)
                    else:
                        starter = minimal_bot(fake, logs)
                    with starter as bot:
                        if index == 0:
                            own = single[:ONE_AT_A_TIME] if name == "runbot" else single[ONE_AT_A_TIME:]
                            results[f"{name}_single"] = [one_at_a_time(fake, bot, own)]
                        groups, burst = plan[name]
                        results[f"{name}_burst"].append(bursts(fake, bot, groups))
                        results[f"{name}_rate"].append(throughput(fake, bot, burst))
                        if name == "runbot":
                            handled += ONE_AT_A_TIME * (index == 0) + BURSTS * BURST_BUYERS + THROUGHPUT
                            results["stored"].append(wait_all_done(first_update, handled))
            provisioning = None if args.no_provisioning else provisioning_runs(database_url, fake, buyers, logs)
    finally:
        connections.close_all()
        connection.creation.destroy_test_db(old_name, verbosity=0)
    shutil.rmtree(scratch, ignore_errors=True)
    report(engine, args.rounds, results, provisioning, logs)
    if args.profile:
        print_profile(PROFILE["dir"], args.profile)


def print_profile(directory: Path, top: int) -> None:
    import pstats

    files = sorted(str(path) for path in directory.glob("*.prof"))
    if not files:
        print(f"no profiles in {directory}")
        return
    stats = pstats.Stats(*files)
    print("\nrunbot's profile (thread CPU seconds, every thread), by cumulative time:")
    stats.sort_stats("cumulative").print_stats(top)
    print("by own time:")
    stats.sort_stats("tottime").print_stats(top)


def report(engine: str, rounds: int, results: dict, provisioning: dict | None, logs: Path) -> None:
    print(
        f"database: {engine}; runbot and the minimal PTB bot each in a process of its own, the fake Bot API "
        f"server in this one; {rounds} round(s) of sections 2 and 3; the bots' logs in {logs}"
    )
    print(f"{'':<46}{'runbot':>16}{'minimal bot':>16}{'runbot/minimal':>16}")

    def row(label: str, runbot_value: float, minimal_value: float, unit: str, ratio: bool = True) -> None:
        shown = f"{runbot_value / minimal_value:.2f}" if ratio and minimal_value else ""
        print(f"{label:<46}{runbot_value:>13.1f}{unit:>3}{minimal_value:>13.1f}{unit:>3}{shown:>16}")

    single_r, single_m = results["runbot_single"][0], results["minimal_single"][0]
    print(f"1. one at a time ({ONE_AT_A_TIME} queries)")
    row("   p50 latency", single_r.p50, single_m.p50, "ms")
    row("   p99 latency", single_r.p99, single_m.p99, "ms")
    row("   process CPU per update", single_r.cpu_per_update, single_m.cpu_per_update, "ms")
    print(f"2. bursts: {BURST_BUYERS} buyers paying at once, x{BURSTS} per round")
    for index, (r, m) in enumerate(zip(results["runbot_burst"], results["minimal_burst"], strict=True), start=1):
        row(f"   round {index}: p50 latency", r.p50, m.p50, "ms")
        row(f"   round {index}: p99 latency", r.p99, m.p99, "ms")
        row(f"   round {index}: max latency", max(r.latencies), max(m.latencies), "ms")
        row(f"   round {index}: process CPU per update", r.cpu_per_update, m.cpu_per_update, "ms")
    burst_p99 = statistics.median(r.p99 for r in results["runbot_burst"])
    minimal_p99 = statistics.median(m.p99 for m in results["minimal_burst"])
    verdict = "met" if burst_p99 <= GOAL_BURST_P99_MS else "NOT met"
    print(
        f"   runbot p99 (median of rounds) {burst_p99:.1f} ms, minimal {minimal_p99:.1f} ms: "
        f"goal <= {GOAL_BURST_P99_MS:.0f} ms {verdict}"
    )
    print(f"3. throughput: {THROUGHPUT} pre-checkouts at once ({THROUGHPUT_BUYERS} buyers)")
    for index, (r, m) in enumerate(zip(results["runbot_rate"], results["minimal_rate"], strict=True), start=1):
        row(f"   round {index}: answered per second", r.rate, m.rate, "/s")
        row(f"   round {index}: process CPU per update", r.cpu_per_update, m.cpu_per_update, "ms")
    rate = statistics.median(r.rate for r in results["runbot_rate"])
    ratio = statistics.median(
        r.rate / m.rate for r, m in zip(results["runbot_rate"], results["minimal_rate"], strict=True)
    )
    verdict = "met" if rate >= GOAL_RATE else "NOT met"
    print(
        f"   runbot {rate:.0f} updates/s (median), {ratio:.2f} of the minimal bot's rate: "
        f"goal >= {GOAL_RATE:.0f}/s {verdict}"
    )
    refused = sum(figures.refused for key, values in results.items() if key != "stored" for figures in values)
    stored = results["stored"]
    print(
        "   every runbot update stored and done: "
        + ", ".join(f"{done}/{stored_count} done" for stored_count, done in stored)
        + f"; refused answers (must be 0): {refused}"
    )
    if provisioning is not None:
        print(
            f"4. runbot, pre-checkouts while other buyers pay ({PROVISIONING_QUERIES} queries, a payment every "
            f"{PAY_EVERY}, the embedded worker provisioning them):"
        )
        figures = {}
        for name, label in (("instant", "instant panel"), ("slow", f"panel {SLOW_PANEL_SECONDS:.0f} s per call")):
            run = provisioning[name]
            values = run["latencies"]
            figures[name] = statistics.median(values), percentile(values, 0.99)
            print(
                f"   {label:>18}: p50 {figures[name][0]:.1f} ms, p99 {figures[name][1]:.1f} ms, "
                f"max {max(values):.1f} ms; {run['payments']} payments, {run['provisioned_meanwhile']} provisioned "
                f"meanwhile, {run['panel_calls']} panel calls"
            )
        p50_ratio = figures["slow"][0] / figures["instant"][0]
        p99_ratio = figures["slow"][1] / figures["instant"][1]
        verdict = "met" if p50_ratio <= 1.5 and p99_ratio <= 1.5 else "NOT met"
        print(f"   ratio slow / instant panel: p50 {p50_ratio:.2f}, p99 {p99_ratio:.2f} (goal <= 1.5: {verdict})")
        print(f"   every payment provisioned afterwards: {'yes' if provisioning['drain']['all_provisioned'] else 'NO'}")


if __name__ == "__main__":
    main()
