"""Throughput of the purchase API relative to the authenticated ping view, on the
production server configuration, loaded by `wrk` from its own process.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/api_bench \\
    CACHE_URL=redis://127.0.0.1:6379/1 .venv/bin/python bench/api_throughput.py [--seconds 4] [--rounds 5]

The server is what the Procfile's `web` runs: gunicorn with config/gunicorn.py
(threaded workers, access log), DJANGO_DEBUG=false with a freshly generated
secret key, persistent database connections with health checks (the settings'
defaults), the Redis cache (CACHE_URL, so throttles count across workers) and
a Redis broker (so no embedded worker runs in the web process), on PostgreSQL
(the database is created and migrated). LOG_LEVEL is the production INFO:
every API-key call writes its audit line, gunicorn its access line (to a log
file here). Throttles are on with rates too high to refuse the benchmark.

The load generator is `wrk` (installed with apt-get when missing), a C program in
its own process: Python never generates load in this benchmark. Scenarios, all
with `Authorization: Api-Key` for an existing Telegram user:

- ping: GET /api/v1/ping, authentication, throttles and rendering only (the baseline);
- invoice: POST /api/v1/purchase/invoice {"item_id": "1m"} with a fresh
  Idempotency-Key per request, for buyers with no open invoice: the request a
  Mini App backend sends when a buyer taps "buy", and the expensive path (the
  key is claimed, a pending payment and its event are created, the response is
  stored). Each buyer gets one request: every answer must be 201;
- invoice_unkeyed: the same without an Idempotency-Key (no claim, no stored response);
- invoice_reuse: the same request for buyers who already have an open invoice
  for that tariff: the open invoice is returned (200) with a reuse event;
- read: GET /api/v1/purchases/{id} of the buyer's own purchase.

Each round runs every scenario for --seconds; rounds interleave the scenarios so
a busy machine slows them alike. Ratios are req/s of the scenario over req/s of
the ping in the same round; the median is reported. Goals: invoice >= 0.5,
read >= 0.7. wrk counts answers by status; a scenario that answered anything
but its expected status is reported. Not a test: it prints numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
USERS = 60_000  # buyers without an open invoice: each gets one invoice request
MAX_FRESH_RATE = 600  # invoices/s a run may reach before wrk would repeat a buyer
READ_USERS = 1_000
BASE_TELEGRAM_ID = 8_000_000_000
WRK_THREADS = 2


def ensure_wrk() -> str:
    """The path of wrk; installed from Debian when missing (as root)."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        raise SystemExit("wrk is not installed: run `apt-get install -y wrk` as root, then this benchmark again")
    print("installing wrk (apt-get install -y wrk)...", file=sys.stderr)
    quiet = {"stdout": subprocess.DEVNULL, "env": {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}}
    if subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=False, **quiet).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], check=True, **quiet)
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True, **quiet)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("apt-get installed wrk but it is not on PATH")
    return found


def server_env(*, database_url: str, cache_url: str, workers: int | None, threads: int | None) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        # Plain HTTP on the loopback: no TLS proxy in front to redirect for.
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "CACHE_URL": cache_url,
        # As in production (the Procfile's worker consumes it): no embedded worker in the web process.
        "CELERY_BROKER_URL": cache_url,
        # The benchmark pays with mock payments (loopback only, a throwaway database).
        "DANGEROUSLY_ENABLE_MOCK_PAYMENTS_IN_PRODUCTION": "true",
        "TELEGRAM_BOT_TOKEN": "",
        "API_THROTTLE_USER": "100000000/min",
        "API_THROTTLE_API_KEY": "100000000/min",
        "API_THROTTLE_ANON": "100000000/min",
        "LOG_LEVEL": "INFO",
        "LOG_FORMAT": "plain",
    }
    for name in ("DATABASE_CONN_MAX_AGE", "PROMETHEUS_MULTIPROC_DIR", "SENTRY_DSN"):
        env.pop(name, None)  # the settings' defaults
    if workers:
        env["WEB_CONCURRENCY"] = str(workers)
    if threads:
        env["GUNICORN_THREADS"] = str(threads)
    return env


def ensure_database(database_url: str) -> None:
    import psycopg

    parsed = urlparse(database_url)
    name = parsed.path.lstrip("/")
    admin_url = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def seed(env: dict[str, str]) -> dict:
    """Migrate, then create the API key and three pools of existing buyers: without
    an open invoice (each gets one new invoice), with one (the reuse path), and
    readers with one purchase each."""
    subprocess.run([PYTHON, "manage.py", "migrate", "--no-input", "-v", "0"], cwd=ROOT, env=env, check=True)
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from api.keys import api_key_create
    from api.models import Scope
    from payments.models import Payment
    from payments.services import new_invoice_payload
    from subscriptions.models import Tariff
    from users.models import User

    tariff, _ = Tariff.objects.update_or_create(
        code="1m", defaults={"title": "1 month", "days": 30, "price_stars": 100, "is_active": True}
    )
    run = int(time.time()) % 100_000 * 100_000  # fresh users on every run of the script
    first_id = BASE_TELEGRAM_ID + run
    total = USERS + 2 * READ_USERS
    User.objects.bulk_create(
        [User(username=f"tg_{first_id + i}", telegram_id=first_id + i, password="!") for i in range(total)],
        batch_size=5000,
    )
    users = {u.telegram_id: u for u in User.objects.filter(telegram_id__gte=first_id, telegram_id__lt=first_id + total)}

    def purchases(first: int, status: str) -> list:
        rows = [
            Payment(
                purchase_id=uuid.uuid4(),
                user=users[first + i],
                tariff=tariff,
                base_price=100,
                amount=100,
                days=30,
                invoice_payload=new_invoice_payload(),
                status=status,
            )
            for i in range(READ_USERS)
        ]
        return Payment.objects.bulk_create(rows, batch_size=5000)

    readers = purchases(first_id + USERS, Payment.Status.SUCCEEDED)
    open_invoices = purchases(first_id + USERS + READ_USERS, Payment.Status.PENDING)
    from django.db import connection, connections

    with connection.cursor() as cursor:
        # Statistics, as a database in service has them: without, the planner scans
        # the pending payments by status instead of the buyer's own.
        cursor.execute("ANALYZE")
    connections.close_all()
    return {
        "key": api_key_create(name=f"bench {run}", scopes=Scope.values).raw_key,
        "new_buyers": [first_id + i for i in range(USERS)],
        "reusing_buyers": [p.user.telegram_id for p in open_invoices],
        "reads": [(p.user.telegram_id, str(p.purchase_id)) for p in readers],
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(env: dict[str, str], port: int, log, *, config: str = "config/gunicorn.py") -> subprocess.Popen:
    """The Procfile's web command (config/gunicorn.py), bound to the loopback."""
    return subprocess.Popen(
        [
            PYTHON,
            "-m",
            "gunicorn",
            "config.wsgi",
            "--config",
            config,
            "--bind",
            f"127.0.0.1:{port}",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=log,
    )


def wait_until_serving(base_url: str, key: str, telegram_id: int, server: subprocess.Popen) -> None:
    """The port opens before the workers have imported Django: wait for a real answer."""
    import httpx

    deadline = time.monotonic() + 60
    headers = {"Authorization": f"Api-Key {key}", "X-Telegram-User-Id": str(telegram_id)}
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("gunicorn exited")
        try:
            if httpx.get(f"{base_url}/api/v1/ping", headers=headers, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit("the server does not answer /api/v1/ping")


# --- Scenarios --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    label: str
    expected: int  # the status every answer must have
    keyed: bool = False  # a fresh Idempotency-Key per request
    fresh: bool = False  # one request per buyer, from the pool of buyers without an open invoice
    goal: float | None = None


INVOICE_BODY = '{"item_id": "1m"}'
SCENARIOS = {
    "ping": Scenario("GET /api/v1/ping (baseline)", 200),
    "invoice": Scenario("POST /api/v1/purchase/invoice (new, keyed)", 201, keyed=True, fresh=True, goal=0.5),
    "invoice_unkeyed": Scenario("POST /api/v1/purchase/invoice (new, no key)", 201, fresh=True),
    "invoice_reuse": Scenario("POST /api/v1/purchase/invoice (reuse, keyed)", 200, keyed=True),
    "read": Scenario("GET /api/v1/purchases/{id}", 200, goal=0.7),
}


def scenarios(data: dict) -> dict[str, list[tuple[str, str, int, str]]]:
    """(method, path, telegram id, body) per request; fresh scenarios get their buyers per round."""
    reads = data["reads"]
    return {
        "ping": [("GET", "/api/v1/ping", tid, "") for tid, _pid in reads],
        "invoice_reuse": [("POST", "/api/v1/purchase/invoice", tid, INVOICE_BODY) for tid in data["reusing_buyers"]],
        "read": [("GET", f"/api/v1/purchases/{pid}", tid, "") for tid, pid in reads],
    }


class FreshBuyers:
    """Hands out buyers without an open invoice, each once."""

    def __init__(self, telegram_ids: list[int]) -> None:
        self._ids = telegram_ids
        self._next = 0

    def take(self, count: int) -> list[tuple[str, str, int, str]]:
        if self._next + count > len(self._ids):
            raise SystemExit("out of fresh buyers: raise USERS or lower --seconds/--rounds")
        chosen = self._ids[self._next : self._next + count]
        self._next += count
        return [("POST", "/api/v1/purchase/invoice", tid, INVOICE_BODY) for tid in chosen]


def lua_table(items) -> str:
    return "{" + ",".join(f"{{{json.dumps(m)},{json.dumps(p)},{t},{json.dumps(b)}}}" for m, p, t, b in items) + "}"


WRK_SCRIPT = """
local requests = %(requests)s
local key = %(key)s
local nonce = %(nonce)s
local keyed = %(keyed)s
local stride = %(threads)d
local threads = {}
local started = 0
function setup(thread)
  thread:set("id", started)
  started = started + 1
  table.insert(threads, thread)
end
local n = 0
statuses = {}  -- global: done() reads it with thread:get
function request()
  -- thread k sends items k, k+T, k+2T...: no two requests share a buyer until the list wraps
  local r = requests[((tonumber(id) + n * stride) %% #requests) + 1]
  n = n + 1
  local h = {["Authorization"] = "Api-Key " .. key, ["X-Telegram-User-Id"] = tostring(r[3])}
  if r[4] == "" then return wrk.format(r[1], r[2], h) end
  h["Content-Type"] = "application/json"
  if keyed then
    -- a fresh key per request, like a client that keys every new purchase
    h["Idempotency-Key"] = nonce .. "-" .. id .. "-" .. n
  end
  return wrk.format(r[1], r[2], h, r[4])
end
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    local counted = thread:get("statuses")
    for status, count in pairs(counted) do total[status] = (total[status] or 0) + count end
  end
  local parts = {}
  for status, count in pairs(total) do table.insert(parts, status .. "=" .. count) end
  io.write("STATUSES " .. table.concat(parts, ",") .. "\\n")
  local p50, p99 = latency:percentile(50) / 1000, latency:percentile(99) / 1000
  io.write(string.format("LATENCY p50=%%.2f p99=%%.2f\\n", p50, p99))
end
"""


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


class CpuMeter:
    """CPU seconds used by the gunicorn master and workers and by the PostgreSQL
    backends serving the benchmark's database (what each request costs the machine)."""

    def __init__(self, server: subprocess.Popen, database_url: str) -> None:
        self.server_pid = server.pid
        self.database = urlparse(database_url).path.lstrip("/")
        self.admin_url = database_url

    def _server_pids(self) -> list[int]:
        pids = [self.server_pid]
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == self.server_pid:
                    pids.append(int(entry.name))
        return pids

    def _backend_pids(self) -> list[int]:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [self.database]
            ).fetchall()
        return [row[0] for row in rows]

    def sample(self) -> tuple[dict[int, float], dict[int, float]]:
        python = {pid: _cpu_seconds(pid) for pid in self._server_pids()}
        postgres = {pid: _cpu_seconds(pid) for pid in self._backend_pids()}
        return python, postgres

    @staticmethod
    def used(before: dict[int, float], after: dict[int, float]) -> float:
        """CPU seconds between two samples (a process gone by the second one is not counted)."""
        return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def run_wrk(
    wrk: str,
    base_url: str,
    key: str,
    items,
    seconds: float,
    connections: int,
    *,
    keyed: bool = False,
    meter: CpuMeter | None = None,
) -> dict:
    script = WRK_SCRIPT % {
        "keyed": "true" if keyed else "false",
        "requests": lua_table(items),
        "key": json.dumps(key),
        "nonce": json.dumps(uuid.uuid4().hex),
        "threads": WRK_THREADS,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    before = meter.sample() if meter else ({}, {})
    try:
        out = subprocess.run(
            [wrk, f"-t{WRK_THREADS}", f"-c{connections}", f"-d{int(seconds)}s", "-s", f.name, base_url],
            capture_output=True,
            text=True,
        )
    finally:
        os.unlink(f.name)
    if out.returncode != 0:
        raise SystemExit(f"wrk failed ({out.returncode}): {out.stderr or out.stdout}")
    after = meter.sample() if meter else ({}, {})
    out = out.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    statuses = {}
    found = re.search(r"STATUSES (\S*)", out)
    for part in filter(None, (found.group(1) if found else "").split(",")):
        status, count = part.split("=")
        statuses[int(status)] = int(count)
    latency = re.search(r"LATENCY p50=([\d.]+) p99=([\d.]+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    total = int(re.search(r"(\d+) requests in", out).group(1))
    return {
        "python_ms": CpuMeter.used(before[0], after[0]) / max(total, 1) * 1000,
        "postgres_ms": CpuMeter.used(before[1], after[1]) / max(total, 1) * 1000,
        "rps": rps,
        "statuses": statuses,
        "p50": float(latency.group(1)) if latency else 0.0,
        "p99": float(latency.group(2)) if latency else 0.0,
        "socket_errors": errors.group(1) if errors else "",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=None, help="WEB_CONCURRENCY (default: config/gunicorn.py's)")
    parser.add_argument("--threads", type=int, default=None, help="GUNICORN_THREADS (default: config/gunicorn.py's)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--only", default="", help="comma-separated scenarios (the ping always runs)")
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="profile every request in the server (bench/gunicorn_profile.py) and print the top N "
        "functions by thread CPU; runs the one --only scenario alone (no ratios)",
    )
    args = parser.parse_args()
    if args.only:
        unknown = set(args.only.split(",")) - set(SCENARIOS)
        if unknown:
            raise SystemExit(f"unknown scenarios: {', '.join(sorted(unknown))}")
        keep = set(args.only.split(",")) | (set() if args.profile else {"ping"})
        for name in list(SCENARIOS):
            if name not in keep:
                del SCENARIOS[name]
    if args.profile and len(SCENARIOS) != 1:
        raise SystemExit("--profile runs one scenario: name it with --only")
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith("postgres"):
        raise SystemExit(
            "DATABASE_URL must name a PostgreSQL database, e.g. postgres://postgres@127.0.0.1:5432/api_bench"
        )
    cache_url = os.environ.get("CACHE_URL", "redis://127.0.0.1:6379/1")
    if not cache_url.startswith("redis"):
        raise SystemExit(
            "CACHE_URL must name a Redis database (production's shared cache), e.g. redis://127.0.0.1:6379/1"
        )
    wrk = ensure_wrk()

    env = server_env(database_url=database_url, cache_url=cache_url, workers=args.workers, threads=args.threads)
    ensure_database(database_url)
    data = seed(env)
    port = free_port()
    log = tempfile.NamedTemporaryFile("w+", prefix="bench-gunicorn-", suffix=".log", delete=False)
    profile_dir = tempfile.mkdtemp(prefix="bench-profile-") if args.profile else ""
    if profile_dir:
        env["BENCH_PROFILE_DIR"] = profile_dir
    server = start_gunicorn(env, port, log, config="bench/gunicorn_profile.py" if profile_dir else "config/gunicorn.py")
    base_url = f"http://127.0.0.1:{port}"
    try:
        plans = scenarios(data)
        fresh = FreshBuyers(data["new_buyers"])
        wait_until_serving(base_url, data["key"], data["reads"][0][0], server)
        meter = CpuMeter(server, database_url)
        # Enough fresh buyers for a scenario run at up to this rate (wrk wraps around a short list).
        per_run = int(MAX_FRESH_RATE * args.seconds)
        # Warm-up: every worker and thread, every scenario's code path.
        for name, scenario in SCENARIOS.items():
            items = fresh.take(int(MAX_FRESH_RATE * 2)) if scenario.fresh else plans[name]
            run_wrk(wrk, base_url, data["key"], items, 2, args.connections, keyed=scenario.keyed)
        # Rounds interleave the scenarios so a busy machine slows them alike; medians are reported.
        rounds = []
        for _index in range(args.rounds):
            rounds.append(
                {
                    name: run_wrk(
                        wrk,
                        base_url,
                        data["key"],
                        fresh.take(per_run) if scenario.fresh else plans[name],
                        args.seconds,
                        args.connections,
                        keyed=scenario.keyed,
                        meter=meter,
                    )
                    for name, scenario in SCENARIOS.items()
                }
            )
    finally:
        server.terminate()
        server.wait(30)
        log.close()

    workers = env.get("WEB_CONCURRENCY", "config default")
    threads = env.get("GUNICORN_THREADS", "config default")
    print(
        f"gunicorn --config config/gunicorn.py (gthread; WEB_CONCURRENCY={workers}, GUNICORN_THREADS={threads}), "
        f"DEBUG off, PostgreSQL with persistent connections, Redis cache; wrk -t{WRK_THREADS} "
        f"-c{args.connections}, {args.rounds} rounds x {args.seconds:.0f}s per scenario; server log {log.name}"
    )
    print(
        f"{'scenario':<46}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}{'py ms':>7}{'pg ms':>7}{'cost':>7}{'ratio':>7}"
        f"{'goal':>6}   per-round ratios; statuses"
    )

    def cost(result: dict) -> float:
        return result["python_ms"] + result["postgres_ms"]

    ok = True
    for name, scenario in SCENARIOS.items():
        baseline = [r.get("ping", r[name]) for r in rounds]  # profiling runs one scenario: no baseline
        ratios = [r[name]["rps"] / max(b["rps"], 1e-9) for r, b in zip(rounds, baseline, strict=True)]
        rps = statistics.median(r[name]["rps"] for r in rounds)
        p50 = statistics.median(r[name]["p50"] for r in rounds)
        p99 = statistics.median(r[name]["p99"] for r in rounds)
        python_ms = statistics.median(r[name]["python_ms"] for r in rounds)
        postgres_ms = statistics.median(r[name]["postgres_ms"] for r in rounds)
        cost_ratios = [cost(b) / max(cost(r[name]), 1e-9) for r, b in zip(rounds, baseline, strict=True)]
        statuses: dict[int, int] = {}
        for r in rounds:
            for status, count in r[name]["statuses"].items():
                statuses[status] = statuses.get(status, 0) + count
        unexpected = sum(count for status, count in statuses.items() if status != scenario.expected)
        ratio = statistics.median(ratios)
        goal = scenario.goal
        ok &= (goal is None or ratio >= goal) and not unexpected
        shown = " ".join(f"{status}:{count}" for status, count in sorted(statuses.items()))
        print(
            f"{scenario.label:<46}{rps:>8.1f}{p50:>8.1f}{p99:>8.1f}{python_ms:>7.2f}{postgres_ms:>7.2f}"
            f"{statistics.median(cost_ratios):>7.2f}{ratio:>7.2f}{goal or '':>6}   "
            + " ".join(f"{x:.2f}" for x in ratios)
            + f"; {shown}"
            + (f" (UNEXPECTED: {unexpected} not {scenario.expected})" if unexpected else "")
        )
        errors = {r[name]["socket_errors"] for r in rounds} - {""}
        if errors:
            print(f"  socket errors: {'; '.join(sorted(errors))}")
    print(
        "py ms / pg ms: CPU milliseconds per request of the gunicorn processes / of the PostgreSQL backends;\n"
        "cost: the ping's (py + pg) over the scenario's, per round (steadier on a busy machine than req/s);\n"
        "ratio: req/s over the ping's req/s in the same round (the goal's measure); the median of the rounds"
    )
    print("goals met" if ok else "GOALS NOT MET")
    if profile_dir:
        print_profile(profile_dir, args.profile)


def print_profile(directory: str, top: int) -> None:
    """Thread CPU of every profiled request, all scenarios together (run one scenario with --only)."""
    import pstats

    files = sorted(str(path) for path in Path(directory).glob("*.prof"))
    if not files:
        print(f"no profiles in {directory}")
        return
    stats = pstats.Stats(*files)
    print(f"\nserver-side profile (thread CPU seconds, {len(files)} threads), by cumulative time:")
    stats.sort_stats("cumulative").print_stats(top)
    shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
