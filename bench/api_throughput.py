"""Throughput of the purchase API relative to a trivial DRF view, under gunicorn.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/api_bench .venv/bin/python bench/api_throughput.py [--seconds 8]

Starts gunicorn on 127.0.0.1 (PostgreSQL; the database is created and migrated),
seeds users, an API key and purchases, then loads each endpoint from a second
process — `wrk` when installed (`apt-get install -y wrk`), else a small
httpx/threads generator — and prints req/s and the ratios to GET /api/v1/ping
(same auth, same server, same run). Goals: invoice ≥ 0.5, read ≥ 0.7.
Not a test: it prints numbers.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
USERS = 40_000  # invoice requests each use a fresh user (the creation path) until the pool wraps
READ_USERS = 1_000
BASE_TELEGRAM_ID = 8_000_000_000


def server_env(database_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "DATABASE_CONN_MAX_AGE": "60",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": "bench-" + "x" * 60,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        # The benchmark pays with mock payments (loopback only, a throwaway database).
        "DANGEROUSLY_ENABLE_MOCK_PAYMENTS_IN_PRODUCTION": "true",
        "TELEGRAM_BOT_TOKEN": "",
        "API_THROTTLE_USER": "100000000/min",
        "API_THROTTLE_API_KEY": "100000000/min",
        "API_THROTTLE_ANON": "100000000/min",
        "LOG_LEVEL": "WARNING",
    }


def ensure_database(database_url: str) -> None:
    import psycopg

    parsed = urlparse(database_url)
    name = parsed.path.lstrip("/")
    admin_url = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def seed(env: dict[str, str]) -> dict:
    """Migrate, then create the API key and three user pools: fresh buyers (each gets one new
    invoice), buyers with an open invoice (the reuse path) and readers with one purchase each."""
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


def start_gunicorn(env: dict[str, str], port: int, workers: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [
            PYTHON,
            "-m",
            "gunicorn",
            "config.wsgi:application",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            str(workers),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("gunicorn did not start")


def wait_until_serving(base_url: str, key: str, telegram_id: int) -> None:
    """The port opens before the workers have imported Django: wait for a real answer."""
    import httpx

    deadline = time.monotonic() + 60
    headers = {"Authorization": f"Api-Key {key}", "X-Telegram-User-Id": str(telegram_id)}
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/api/v1/ping", headers=headers, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit("the server does not answer /api/v1/ping")


# --- Scenarios: (method, path, header id, body) per request index -----------------------------


INVOICE_BODY = '{"item_id": "1m"}'
SCENARIOS = {
    "ping": "GET /api/v1/ping (baseline)",
    "invoice": "POST /api/v1/purchase/invoice (new)",
    "invoice_reuse": "POST /api/v1/purchase/invoice (reuse)",
    "read": "GET /api/v1/purchases/{id}",
}
GOALS = {"invoice": 0.5, "invoice_reuse": 0.5, "read": 0.7}


def scenarios(data: dict) -> dict[str, list[tuple[str, str, int, str]]]:
    reads = data["reads"]
    return {
        "ping": [("GET", "/api/v1/ping", tid, "") for tid, _pid in reads],
        "invoice": [("POST", "/api/v1/purchase/invoice", tid, INVOICE_BODY) for tid in data["new_buyers"]],
        "invoice_reuse": [("POST", "/api/v1/purchase/invoice", tid, INVOICE_BODY) for tid in data["reusing_buyers"]],
        "read": [("GET", f"/api/v1/purchases/{pid}", tid, "") for tid, pid in reads],
    }


def lua_table(items) -> str:
    return "{" + ",".join(f"{{{json.dumps(m)},{json.dumps(p)},{t},{json.dumps(b)}}}" for m, p, t, b in items) + "}"


WRK_THREADS = 2


def run_wrk(base_url: str, key: str, items, seconds: float, connections: int) -> tuple[float, int]:
    """wrk with a Lua script: thread k sends items k, k+T, k+2T... (no two requests share a fresh buyer)."""
    script = f"""
local requests = {lua_table(items)}
local key = {json.dumps(key)}
local threads_started = 0
function setup(thread)
  thread:set("id", threads_started)
  threads_started = threads_started + 1
end
local n = 0
function request()
  local r = requests[((tonumber(id) + n * {WRK_THREADS}) % #requests) + 1]
  n = n + 1
  local h = {{["Authorization"] = "Api-Key " .. key, ["X-Telegram-User-Id"] = tostring(r[3]),
             ["Content-Type"] = "application/json"}}
  if r[4] == "" then return wrk.format(r[1], r[2], h) end
  return wrk.format(r[1], r[2], h, r[4])
end
"""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    try:
        out = subprocess.run(
            ["wrk", f"-t{WRK_THREADS}", f"-c{connections}", f"-d{int(seconds)}s", "-s", f.name, base_url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(f.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    if not rps:
        print(out, file=sys.stderr)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, int(bad.group(1)) if bad else 0


def _python_worker(base_url, key, items, seconds, threads, first_worker, stride, result):
    import httpx

    stop = time.monotonic() + seconds
    counts, bad = [0] * threads, [0] * threads

    def loop(t):
        i = first_worker + t
        with httpx.Client(base_url=base_url, timeout=30) as client:
            while time.monotonic() < stop:
                method, path, tid, body = items[i % len(items)]
                i += stride
                headers = {"Authorization": f"Api-Key {key}", "X-Telegram-User-Id": str(tid)}
                if body:
                    headers["Content-Type"] = "application/json"
                r = client.request(method, path, headers=headers, content=body or None)
                counts[t] += 1
                bad[t] += r.status_code >= 300

    workers = [threading.Thread(target=loop, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    result.put((sum(counts), sum(bad)))


def run_python(base_url: str, key: str, items, seconds: float, connections: int) -> tuple[float, int]:
    """The fallback generator: 2 processes x connections/2 threads, one keep-alive client each."""
    threads = max(connections // 2, 1)
    result = multiprocessing.Queue()
    procs = [
        multiprocessing.Process(
            target=_python_worker, args=(base_url, key, items, seconds, threads, p * threads, 2 * threads, result)
        )
        for p in range(2)
    ]
    started = time.monotonic()
    for p in procs:
        p.start()
    totals = [result.get() for _ in procs]
    for p in procs:
        p.join()
    elapsed = time.monotonic() - started
    return sum(t[0] for t in totals) / elapsed, sum(t[1] for t in totals)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1) + 1)  # gunicorn's advice
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--loader", choices=["auto", "wrk", "python"], default="auto")
    args = parser.parse_args()
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith("postgres"):
        raise SystemExit(
            "DATABASE_URL must name a PostgreSQL database, e.g. postgres://postgres@127.0.0.1:5432/api_bench"
        )
    loader = args.loader if args.loader != "auto" else ("wrk" if shutil.which("wrk") else "python")
    run_load = run_wrk if loader == "wrk" else run_python

    env = server_env(database_url)
    ensure_database(database_url)
    data = seed(env)
    port = free_port()
    server = start_gunicorn(env, port, args.workers)
    base_url = f"http://127.0.0.1:{port}"
    try:
        plans = scenarios(data)
        wait_until_serving(base_url, data["key"], data["reads"][0][0])
        run_load(base_url, data["key"], plans["ping"], 3, args.connections)  # warm-up: every worker, connections
        # Rounds interleave the scenarios so a busy machine slows all of them alike; medians are reported.
        # Each round gets its own slice of fresh buyers, so "new" always creates.
        slice_size = len(plans["invoice"]) // args.rounds
        rounds = []
        for index in range(args.rounds):
            fresh = plans["invoice"][index * slice_size : (index + 1) * slice_size]
            rounds.append(
                {
                    name: run_load(
                        base_url,
                        data["key"],
                        fresh if name == "invoice" else plans[name],
                        args.seconds,
                        args.connections,
                    )
                    for name in SCENARIOS
                }
            )
    finally:
        server.terminate()
        server.wait(10)

    print(
        f"gunicorn {args.workers} sync workers, PostgreSQL, loader={loader}, {args.connections} connections, "
        f"{args.rounds} rounds x {args.seconds:.0f}s per scenario"
    )
    print(f"{'scenario':<40}{'req/s':>10}{'non-2xx':>9}{'ratio':>8}{'goal':>7}   per-round ratios")
    ok = True
    for name, label in SCENARIOS.items():
        ratios = [r[name][0] / max(r["ping"][0], 1e-9) for r in rounds]
        rps = statistics.median(r[name][0] for r in rounds)
        bad = sum(r[name][1] for r in rounds)
        ratio = statistics.median(ratios)
        goal = GOALS.get(name)
        ok &= goal is None or ratio >= goal
        print(f"{label:<40}{rps:>10.1f}{bad:>9}{ratio:>8.2f}{goal or '':>7}   " + " ".join(f"{x:.2f}" for x in ratios))
    print("goals met" if ok else "GOALS NOT MET")


if __name__ == "__main__":
    main()
