"""The Procfile's processes, run like production on this machine: DJANGO_DEBUG=false,
PostgreSQL, Redis as cache and broker, JSON logs, the fake Bot API and the fake panel.

One scenario, in order: the release step; web, bot, worker and beat started; the admin
and its CSS served; readiness green; metrics behind their token; a purchase through the
bot and one through the API (a Telegram invoice link, paid with a successful_payment
update: mock payments are off) provisioned by the worker; the worker SIGKILLed while a
provisioning retry waits, restarted, and the buyer provisioned exactly once; SIGTERM to
everything, and every process gone cleanly and promptly, every line it wrote JSON.
"""

from __future__ import annotations

import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import psycopg
import pytest
from django.db import connection

from tests.fakes.remnawave_fixtures import TEST_SQUAD
from tests.fakes.remnawave_panel import FakeRemnawavePanel
from tests.production.procfile import ProcfileRunner
from tests.production.support import ROOT, machine_env
from tests.telegram_bot.support import Buyer

pytestmark = [pytest.mark.postgres, pytest.mark.production]

RELEASE_TIMEOUT = 240.0  # migrations from scratch plus collectstatic, on a busy 2-core machine
START_TIMEOUT = 90.0
STOP_TIMEOUT = 30.0  # gunicorn's graceful timeout (20 s) and a margin
PROVISION_TIMEOUT = 60.0
BACKOFF_SECONDS = 6  # the first retry of a failed provisioning waits this long
HTTPS = {"X-Forwarded-Proto": "https"}  # what the TLS proxy in front says


def wait_for(condition, *, timeout: float, interval: float = 0.25, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached within {timeout} s")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def run_database():
    """A fresh PostgreSQL database that only the release step migrates."""
    server = connection.settings_dict
    base = f"postgresql://{server['USER']}@{server['HOST'] or '127.0.0.1'}:{server['PORT'] or 5432}"
    name = f"{server['NAME']}_production_run"[:63]
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    yield f"{base}/{name}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def panel():
    panel = FakeRemnawavePanel(version="2").start()
    yield panel
    panel.stop()


@pytest.fixture
def shop(tmp_path, fake_telegram, panel, run_database, redis_url):
    """The Procfile's processes with a production environment; killed at the end whatever happened."""
    (tmp_path / "logs").mkdir()
    port = free_port()
    env = {
        **machine_env(),
        "PATH": f"{Path(sys.executable).parent}:{machine_env().get('PATH', '')}",
        "PYTHONUNBUFFERED": "1",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_TRUSTED_PROXY_COUNT": "1",
        "DJANGO_STATIC_ROOT": str(tmp_path / "static"),
        "DATABASE_URL": run_database,
        "CACHE_URL": redis_url,
        "CELERY_BROKER_URL": redis_url,
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
        "GUNICORN_THREADS": "4",
        "LOG_FORMAT": "json",
        "METRICS_TOKEN": secrets.token_urlsafe(24),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        "TELEGRAM_BOT_TOKEN": fake_telegram.token,
        "TELEGRAM_API_BASE_URL": fake_telegram.base_url,
        "TELEGRAM_TEST_ENV": "false",
        "PROVISIONING_BACKEND": "remnawave",
        "REMNAWAVE_URL": panel.url,
        "REMNAWAVE_TOKEN": panel.token,
        "REMNAWAVE_SQUADS": TEST_SQUAD,
        "REMNAWAVE_API_VERSION": "2",
        "REMNAWAVE_TIMEOUT": "2",
        "REMNAWAVE_MAX_RETRIES": "0",
        "PROVISIONING_BACKOFF_SECONDS": str(BACKOFF_SECONDS),
        "PROVISIONING_POLL_SECONDS": "1",
    }
    runner = ProcfileRunner(ROOT / "Procfile", env=env, cwd=ROOT, logs=tmp_path / "logs")
    runner.url = f"http://127.0.0.1:{port}"
    runner.database_url = run_database
    try:
        yield runner
    finally:
        runner.kill_all()


def query(database_url: str, sql: str, *params) -> list[tuple]:
    with psycopg.connect(database_url) as db:
        return db.execute(sql, params).fetchall()


def provisioning_of(shop, telegram_id: int) -> dict:
    rows = query(
        shop.database_url,
        "SELECT s.provisioned_at, s.subscription_url, s.link_state FROM subscriptions_subscription s "
        "JOIN users_user u ON u.id = s.user_id WHERE u.telegram_id = %s",
        telegram_id,
    )
    tasks = query(
        shop.database_url,
        "SELECT t.status FROM subscriptions_provisioningtask t JOIN users_user u ON u.id = t.user_id "
        "WHERE u.telegram_id = %s",
        telegram_id,
    )
    provisioned_at, url, link_state = rows[0] if rows else (None, "", "")
    return {"provisioned": provisioned_at is not None, "url": url, "link": link_state, "tasks": [t for (t,) in tasks]}


def provisioned_and_linked(shop, telegram_id: int):
    state = provisioning_of(shop, telegram_id)
    finished = state["tasks"] and set(state["tasks"]) == {"done"}
    return state if state["provisioned"] and state["link"] == "sent" and finished else None


def buy_in_the_bot(fake_telegram, buyer: Buyer) -> str:
    buyer.command("start", expect="Choose an action")
    buyer.press("buy", expect="Choose a tariff")
    buyer.press("t:1m", expect="Total: 100")
    buyer.press("pay:1m", expect="VPN")
    [invoice] = fake_telegram.invoices(buyer.id)
    return invoice["payload"]


def pay(fake_telegram, buyer: Buyer, payload: str, amount: int) -> None:
    """What Telegram does when the buyer pays: the pre-checkout question, then the payment."""
    query_update = fake_telegram.inject_pre_checkout(buyer.user, payload, amount)
    assert fake_telegram.wait_for_precheckout_answer(query_update, timeout=15).ok
    since = buyer.seen()
    fake_telegram.inject_successful_payment(buyer.user, payload, amount, charge_id=f"charge-{uuid.uuid4().hex}")
    buyer.wait_new(since, "Payment received", timeout=15)


def buy_through_the_api(shop, fake_telegram, http: httpx.Client, buyer: Buyer) -> str:
    key = _create_api_key(shop)
    auth = {"Authorization": f"Api-Key {key}", "X-Telegram-User-Id": str(buyer.id), **HTTPS}
    response = http.post("/api/v1/purchase/invoice", json={"item_id": "1m"}, headers=auth)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["pay_url"].startswith("https://t.me/$"), body  # a Telegram invoice link, not the mock page
    [link] = [entry for entry in fake_telegram.invoice_links if entry["link"] == body["pay_url"]]
    # mock completion is refused in production
    refused = http.post("/api/v1/purchase", json={"purchase_id": body["purchase_id"]}, headers=auth)
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "mock_payments_disabled")
    return link["payload"]


def _create_api_key(shop) -> str:
    """A key with every scope: a refusal then comes from the endpoint's own rule, not a missing scope."""
    result = subprocess.run(
        [sys.executable, "manage.py", "create_api_key", "production-run", "--all-scopes"],
        cwd=ROOT,
        env=shop.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_the_procfile_runs_the_shop_in_production(shop, fake_telegram, panel):
    # --- the release step: checks, migrations, static files; JSON lines only
    release = shop.run("release", timeout=RELEASE_TIMEOUT)
    assert release.popen.returncode == 0, release.output()[-3000:]
    assert any("release: done" in line for line in release.lines())

    # --- the processes
    processes = {name: shop.start(name) for name in ("web", "bot", "worker", "beat")}
    http = httpx.Client(base_url=shop.url, timeout=10)

    def ready():
        try:
            response = http.get("/health/ready")
        except httpx.TransportError:
            return None
        dead = [name for name, process in processes.items() if not process.alive()]
        assert not dead, {name: processes[name].output()[-2000:] for name in dead}
        return response if response.status_code == 200 and response.json()["status"] == "ok" else None

    readiness = wait_for(ready, timeout=START_TIMEOUT, what="readiness green").json()
    assert set(readiness["checks"]) == {
        "database",
        "cache",
        "broker",
        "outbox",
        "panel_refunds",
        "panel",
        "bot_polling",
    }
    assert all(check["ok"] for check in readiness["checks"].values()), readiness
    assert readiness["checks"]["cache"]["backend"] == "RedisCache"
    assert http.get("/health/live").json() == {"status": "ok"}

    # --- the admin and its static files, served by the web process itself
    assert http.get("/admin/login/").status_code == 301  # plain HTTP is sent to HTTPS
    login = http.get("/admin/login/", headers=HTTPS)
    assert login.status_code == 200 and "csrfmiddlewaretoken" in login.text
    css_path = re.search(r'href="(/static/admin/css/base\.[0-9a-f]{12}\.css)"', login.text).group(1)
    css = http.get(css_path, headers={**HTTPS, "Accept-Encoding": "gzip"})
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert css.headers.get("content-encoding") == "gzip" and "immutable" in css.headers["cache-control"]
    assert "body" in css.text
    assert http.get("/api/docs/", headers=HTTPS).status_code == 200

    # --- metrics answer only with the token
    assert http.get("/metrics").status_code == 401
    metrics_auth = {"Authorization": f"Bearer {shop.env['METRICS_TOKEN']}"}
    assert "shop_payments" in http.get("/metrics", headers=metrics_auth).text

    # --- a purchase through the bot, provisioned by the worker
    bot_buyer = Buyer(fake_telegram, 810_001)
    pay(fake_telegram, bot_buyer, buy_in_the_bot(fake_telegram, bot_buyer), 100)
    bot_state = wait_for(
        lambda: provisioned_and_linked(shop, bot_buyer.id), timeout=PROVISION_TIMEOUT, what="bot purchase provisioned"
    )
    assert panel.user(f"tg_{bot_buyer.id}") is not None
    fake_telegram.wait_for_message(bot_buyer.id, contains=bot_state["url"], timeout=15)

    # --- a purchase through the API: a Telegram invoice link, paid in Telegram
    api_buyer = Buyer(fake_telegram, 810_002)
    pay(fake_telegram, api_buyer, buy_through_the_api(shop, fake_telegram, http, api_buyer), 100)
    api_state = wait_for(
        lambda: provisioned_and_linked(shop, api_buyer.id), timeout=PROVISION_TIMEOUT, what="API purchase provisioned"
    )
    fake_telegram.wait_for_message(api_buyer.id, contains=api_state["url"], timeout=15)

    # the bot's and the worker's counters reach the web's /metrics (one multiprocess directory)
    exposition = http.get("/metrics", headers=metrics_auth).text
    assert re.search(r'shop_payments\{source="bot",status="succeeded"\} 1\.0', exposition), exposition
    assert re.search(r'shop_payments\{source="api",status="succeeded"\} 1\.0', exposition)
    assert re.search(r'shop_stars_revenue\{kind="purchase"\} 200\.0', exposition)
    assert re.search(
        r'shop_bot_update_handling_seconds_count\{kind="successful_payment",outcome="done"\} 2\.0', exposition
    )
    assert re.search(r'shop_precheckout_answer_seconds_count\{ok="true"\} 2\.0', exposition)
    assert re.search(r'shop_provisioning_runs_total\{kind="sync",result="done"\} [1-9]', exposition)

    # --- the worker dies while a provisioning retry waits
    panel.down = True
    retry_buyer = Buyer(fake_telegram, 810_003)
    pay(fake_telegram, retry_buyer, buy_in_the_bot(fake_telegram, retry_buyer), 100)
    wait_for(
        lambda: "retrying" in provisioning_of(shop, retry_buyer.id)["tasks"],
        timeout=PROVISION_TIMEOUT,
        what="first provisioning attempt failed and waits for its retry",
    )
    processes["worker"].kill()
    assert processes["worker"].popen.returncode == -signal.SIGKILL
    panel.down = False

    # --- restarted, the worker provisions the buyer exactly once, within about a minute
    restarted = time.monotonic()
    processes["worker"] = shop.start("worker")
    retry_state = wait_for(
        lambda: provisioned_and_linked(shop, retry_buyer.id), timeout=PROVISION_TIMEOUT, what="retry after restart"
    )
    assert time.monotonic() - restarted < PROVISION_TIMEOUT
    creates = [call for call in panel.creates() if call.body and call.body.get("username") == f"tg_{retry_buyer.id}"]
    assert len(creates) == 1
    links = [m for m in fake_telegram.sent_messages(retry_buyer.id) if retry_state["url"] in (m.get("text") or "")]
    assert len(links) == 1

    # --- SIGTERM: every process exits cleanly and promptly
    for name, process in processes.items():
        code, seconds = process.stop(signal.SIGTERM, timeout=STOP_TIMEOUT)
        assert code == 0, f"{name} exited with {code} after {seconds:.1f} s:\n{process.output()[-3000:]}"
        assert seconds < STOP_TIMEOUT

    # --- and every line any process wrote is JSON
    for process in shop.processes:
        assert process.non_json_lines() == [], f"{process.name}: {process.non_json_lines()[:5]}"
    web_lines = processes["web"].output()
    assert '"logger": "gunicorn.error"' in web_lines and '"logger": "gunicorn.access"' in web_lines
    assert '"request_id"' in web_lines
