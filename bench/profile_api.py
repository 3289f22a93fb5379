"""Where an API request's time goes: the scenarios of bench/api_throughput.py,
run in this process through Django's WSGI handler (the whole middleware stack,
as gunicorn calls it), with the same production settings (DEBUG off, Redis
cache, PostgreSQL with persistent connections, INFO logs to a file).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/api_bench \\
    CACHE_URL=redis://127.0.0.1:6379/1 .venv/bin/python bench/profile_api.py [--requests 1000] [--tree]

Per scenario: wall and CPU milliseconds per request, database queries per
request and the wall time spent in them, then (with --tree) pyinstrument's call
tree of the same requests. One request at a time, no gunicorn: the figures are
the application's own cost, the part the endpoints differ in.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import logging
import os
import pstats
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from api_throughput import INVOICE_BODY, ensure_database, seed, server_env  # noqa: E402


def wsgi_environ(method: str, path: str, *, key: str, telegram_id: int, body: str) -> dict:
    data = body.encode()
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1",
        "HTTP_AUTHORIZATION": f"Api-Key {key}",
        "HTTP_X_TELEGRAM_USER_ID": str(telegram_id),
        "wsgi.input": io.BytesIO(data),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }
    if data:
        environ["CONTENT_TYPE"] = "application/json"
        environ["CONTENT_LENGTH"] = str(len(data))
        environ["HTTP_IDEMPOTENCY_KEY"] = uuid.uuid4().hex
    return environ


class QueryMeter:
    """Counts the queries and the wall time spent in them (connection.execute_wrapper)."""

    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - started
            self.count += 1


# (label, (file suffix, function name)): cumulative CPU of each, per request.
PHASES = [
    ("the whole request (WSGI handler)", ("django/core/handlers/wsgi.py", "__call__")),
    ("  authentication (API key + user)", ("api/authentication.py", "authenticate")),
    ("    the API key", ("api/keys.py", "api_key_check")),
    ("    the Telegram user", ("users/services.py", "user_get_or_create_from_telegram")),
    ("    failed-auth limit (cache read)", ("api/authentication.py", "refuse_after_too_many_failures")),
    ("  throttles (Redis)", ("rest_framework/views.py", "check_throttles")),
    ("  Idempotency-Key: claim", ("api/idempotency.py", "_claim")),
    ("  Idempotency-Key: fingerprint", ("api/idempotency.py", "request_fingerprint")),
    ("  Idempotency-Key: store the response", ("api/idempotency.py", "store_response")),
    ("  request body: parse and validate", ("api/views.py", "_valid")),
    ("  purchase_create_invoice (the service)", ("payments/services.py", "purchase_create_invoice")),
    ("    its transaction's commit", ("django/db/transaction.py", "__exit__")),
    ("  the purchase read (fetch_first)", ("api/services.py", "purchase_for_caller")),
    ("  response serializer + pay URL", ("api/views.py", "_invoice_response")),
    ("  response serializer", ("rest_framework/serializers.py", "data")),
    ("  rendering JSON", ("rest_framework/response.py", "rendered_content")),
    ("  audit log line", ("api/audit.py", "__call__")),
    ("ORM query building and compiling (all)", ("django/db/models/sql/compiler.py", "as_sql")),
    ("database calls (execute, client side)", ("django/db/backends/utils.py", "execute")),
]


def phase_times(stats, requests: int) -> dict[str, float]:
    found: dict[str, float] = {}
    for label, (suffix, function) in PHASES:
        total = sum(
            cumulative
            for (filename, _line, name), (_cc, _nc, _tt, cumulative, _callers) in stats.stats.items()
            if name == function and filename.endswith(suffix)
        )
        found[label] = total / requests * 1000
    # The audit middleware wraps the view: its own share is the log line, not what it wraps.
    found["  audit log line"] = (
        sum(
            cumulative
            for (filename, _line, name), (_cc, _nc, _tt, cumulative, _callers) in stats.stats.items()
            if name == "info" and filename.endswith("logging/__init__.py")
        )
        / requests
        * 1000
    )
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--tree", action="store_true", help="print pyinstrument's call tree per scenario")
    parser.add_argument("--only", default="", help="comma-separated scenarios")
    parser.add_argument(
        "--cprofile", type=int, default=0, metavar="N", help="print cProfile's top N by CPU time (cumulative)"
    )
    args = parser.parse_args()
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith("postgres"):
        raise SystemExit("DATABASE_URL must name a PostgreSQL database")
    cache_url = os.environ.get("CACHE_URL", "redis://127.0.0.1:6379/1")
    env = server_env(database_url=database_url, cache_url=cache_url, workers=None, threads=None)
    ensure_database(database_url)
    data = seed(env)  # also sets up Django with these settings

    from django.core.wsgi import get_wsgi_application
    from django.db import connection
    from pyinstrument import Profiler

    application = get_wsgi_application()  # configures logging again: the log file comes after
    # The log lines are written (their cost counts) to a file, as gunicorn's stderr would be.
    log_file = open(tempfile.gettempdir() + "/bench-profile-api.log", "a")  # noqa: SIM115
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(log_file)
    key = data["key"]
    new_buyers = iter(data["new_buyers"])
    reads = data["reads"]
    reusing = data["reusing_buyers"]
    plans = {
        "ping": lambda i: ("GET", "/api/v1/ping", reads[i % len(reads)][0], ""),
        "invoice": lambda i: ("POST", "/api/v1/purchase/invoice", next(new_buyers), INVOICE_BODY),
        "invoice_reuse": lambda i: ("POST", "/api/v1/purchase/invoice", reusing[i % len(reusing)], INVOICE_BODY),
        "read": lambda i: ("GET", f"/api/v1/purchases/{reads[i % len(reads)][1]}", reads[i % len(reads)][0], ""),
    }
    expected = {"ping": 200, "invoice": 201, "invoice_reuse": 200, "read": 200}
    only = set(filter(None, args.only.split(",")))

    def call(plan, i) -> int:
        method, path, telegram_id, body = plan(i)
        statuses = []
        result = application(
            wsgi_environ(method, path, key=key, telegram_id=telegram_id, body=body),
            lambda status, headers, exc_info=None: statuses.append(int(status.split()[0])),
        )
        for _chunk in result:
            pass
        result.close()  # request_finished: what gunicorn triggers after each response
        return statuses[0]

    rows = []
    trees = {}
    phases: dict[str, dict[str, float]] = {}
    for name, plan in plans.items():
        if only and name not in only:
            continue
        for i in range(200):
            status = call(plan, i)
            if status != expected[name]:
                raise SystemExit(f"{name}: status {status}, expected {expected[name]}")
        meter = QueryMeter()
        with connection.execute_wrapper(meter):
            wall, cpu = time.perf_counter(), time.process_time()
            for i in range(args.requests):
                call(plan, i)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        rows.append((name, wall, cpu, meter))
        if args.tree:
            profiler = Profiler(interval=0.0002)
            with profiler:
                for i in range(args.requests):
                    call(plan, i)
            trees[name] = profiler.output_text(unicode=True, color=False, show_all=False, short_mode=False)
        if args.cprofile:
            # CPU time, not wall: what the request costs the machine, waits left out.
            cpu_profile = cProfile.Profile(time.process_time)
            cpu_profile.enable()
            for i in range(args.requests):
                call(plan, i)
            cpu_profile.disable()
            out = io.StringIO()
            stats = pstats.Stats(cpu_profile, stream=out)
            phases[name] = phase_times(stats, args.requests)
            stats.sort_stats("cumulative").print_stats(args.cprofile)
            trees[name + " (cProfile, CPU seconds)"] = out.getvalue()
    print(f"{'scenario':<16}{'wall ms':>9}{'cpu ms':>8}{'queries':>9}{'db ms':>8}   (per request, one at a time)")
    for name, wall, cpu, meter in rows:
        n = args.requests
        print(
            f"{name:<16}{wall / n * 1000:>9.2f}{cpu / n * 1000:>8.2f}{meter.count / n:>9.1f}"
            f"{meter.seconds / n * 1000:>8.2f}"
        )
    if phases:
        names = list(phases)
        print("\nwhere the CPU goes (cProfile, ms per request; cProfile itself inflates Python-heavy parts):")
        print(f"{'':<44}" + "".join(f"{name:>15}" for name in names))
        for label, _where in PHASES:
            print(f"{label:<44}" + "".join(f"{phases[name].get(label, 0.0):>15.2f}" for name in names))
    for name, tree in trees.items():
        print(f"\n===== {name} =====\n{tree}")


if __name__ == "__main__":
    main()
