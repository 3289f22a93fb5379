"""Driving the admin in Debian's Chromium with Playwright: the browser, a logged-in page,
and where screenshots go (test-artifacts/, gitignored).

Browser tests run once per CI run, in its PostgreSQL pass (`browser_once`): the SQLite pass
would drive the same pages again for nothing but minutes."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.auth.management import create_permissions

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PASSWORD = "correct horse battery staple"  # StaffUserFactory's
ON_POSTGRES = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")

browser_marks = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing (scripts/install_test_deps.sh)"),
    pytest.mark.skipif(not ON_POSTGRES, reason="browser tests run once, in CI's PostgreSQL pass (set DATABASE_URL)"),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture(autouse=True)
def staff_groups():
    """A transactional test may start on a flushed database: put the migration's
    groups back (serialized_rollback would clash with re-created content types). The permissions
    are made first: a flush that skipped post_migrate leaves none for the groups to take."""
    for app_config in apps.get_app_configs():
        create_permissions(app_config, verbosity=0)
    importlib.import_module("payments.migrations.0004_admin_groups").grant_groups(apps)


def in_browser(scenario, *args):
    """Playwright's sync API refuses to run inside an asyncio loop, and Django refuses
    database calls next to one: the browser gets a thread of its own."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(scenario, *args).result(timeout=180)


def screenshot_path(name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    print(f"screenshot: {path}")  # noqa: T201 - the path is what the reader of the test output wants
    return path


@contextmanager
def admin_page(
    base_url: str,
    username: str,
    *,
    lang: str = "en",
    width: int = 1600,
    height: int = 1000,
    code: Callable[[], str] | None = None,
    lands_on: str = "/admin/",
):
    """A page logged in to the admin, its browser asking for `lang`; `code` gives the second factor's
    code at the moment of signing in (staff who have set one up), `lands_on` where signing in leads."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(
                locale="ru-RU" if lang == "ru" else "en-US",
                extra_http_headers={"Accept-Language": lang},
                viewport={"width": width, "height": height},
                accept_downloads=True,
            )
            page = context.new_page()
            page.set_default_timeout(15_000)
            page.goto(f"{base_url}/admin/login/")
            page.fill("#id_username", username)
            page.fill("#id_password", PASSWORD)
            if code is not None:
                page.fill("#id_otp_token", code())
            page.click("input[type=submit]")
            page.wait_for_url(f"{base_url}{lands_on}")
            yield page
        finally:
            browser.close()
