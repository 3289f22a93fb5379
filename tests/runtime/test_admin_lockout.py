"""The admin's sign-in lockout holds across web processes: two real gunicorn processes sharing the
database and the Redis cache count the same failures, and both refuse a locked account and address."""

from __future__ import annotations

import re
import socket
import subprocess
import sys

import httpx
import pytest

from tests.runtime.processes import ROOT, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PASSWORD = "the right passphrase 2026"
GUNICORN = [sys.executable, "-m", "gunicorn", "config.wsgi", "--config", "config/gunicorn.py"]
PROXY = "10.0.0.2"  # the TLS proxy every request comes through (DJANGO_TRUSTED_PROXY_COUNT=1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def create_staff(env: dict[str, str], username: str) -> None:
    code = (
        f"from users.models import User; User.objects.create_user({username!r}, password={PASSWORD!r}, is_staff=True)"
    )
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def sign_in(base_url: str, username: str, password: str, *, client_address: str) -> int:
    """The admin's sign-in form, as a browser behind the proxy sends it; the status of the answer."""
    headers = {"X-Forwarded-For": client_address, "Accept-Language": "en"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=20) as browser:
        form = browser.get("/admin/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
        answer = browser.post(
            "/admin/login/?next=/admin/",
            data={"csrfmiddlewaretoken": token, "username": username, "password": password, "next": "/admin/"},
        )
        if answer.status_code == 429:
            assert "signing in is locked for 30 minutes" in answer.text
        return answer.status_code


@pytest.fixture
def two_web_processes(processes, shop_env, redis_url):
    env = shop_env(
        CACHE_URL=redis_url,
        DJANGO_TRUSTED_PROXY_COUNT="1",
        STAFF_2FA_REQUIRED="false",  # the lockout is under test here, before any second factor
        WEB_CONCURRENCY="1",
        GUNICORN_THREADS="2",
    )
    create_staff(env, "boss")
    create_staff(env, "clerk")
    urls = []
    for name in ("web-a", "web-b"):
        port = free_port()
        process = processes.start(name, [*GUNICORN, "--bind", f"127.0.0.1:{port}"], env=env)
        url = f"http://127.0.0.1:{port}"

        def live(url=url, process=process):
            assert process.running, process.describe()
            try:
                return httpx.get(f"{url}/health/live", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(live, timeout=60, message=process.describe)
        urls.append(url)
    return urls


def test_failures_counted_by_either_process_lock_the_account_and_address_on_both(two_web_processes):
    web_a, web_b = two_web_processes

    # given 50 wrong passwords for one account from rotating addresses, spread over both processes
    statuses = [
        sign_in((web_a, web_b)[i % 2], "boss", f"wrong-{i}", client_address=f"198.18.{i // 200}.{i % 200 + 1}")
        for i in range(50)
    ]

    # then the fifth failure locks it, whichever process saw the others, and the right password is
    # refused by both processes from a fresh address
    assert statuses[:4] == [200] * 4 and set(statuses[4:]) == {429}
    assert sign_in(web_a, "boss", PASSWORD, client_address="192.0.2.77") == 429
    assert sign_in(web_b, "boss", PASSWORD, client_address="192.0.2.78") == 429

    # and 50 wrong passwords from one address lock that address on both processes for every account
    statuses = [sign_in((web_b, web_a)[i % 2], f"guess{i}", "nope", client_address="203.0.113.5") for i in range(50)]
    assert set(statuses[4:]) == {429}
    assert sign_in(web_a, "clerk", PASSWORD, client_address="203.0.113.5") == 429
    assert sign_in(web_b, "clerk", PASSWORD, client_address="203.0.113.5") == 429
    assert sign_in(web_b, "clerk", PASSWORD, client_address="192.0.2.79") == 302  # another address signs in
