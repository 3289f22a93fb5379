"""The admin in a real browser (Debian's Chromium driven by Playwright).

A Finance user logs in, creates a promo code, finds a payment by its charge id,
refunds it through the confirmation page, sees it refunded and the dashboard
updated. Screenshots go to test-artifacts/ (gitignored).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from payments.models import LedgerEntry, Payment
from promos.models import PromoCode
from tests.admin.conftest import paid_payment, staff_in

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
PASSWORD = "correct horse battery staple"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing (scripts/install_test_deps.sh)"),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture(autouse=True)
def staff_groups():
    """A transactional test may start on a flushed database: put the migration's
    groups back (serialized_rollback would clash with re-created content types)."""
    import importlib

    from django.apps import apps

    importlib.import_module("payments.migrations.0004_admin_groups").grant_groups(apps)


def in_browser(scenario, *args):
    """Playwright's sync API refuses to run inside an asyncio loop, and Django refuses
    database calls next to one: the browser gets a thread of its own."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(scenario, *args).result(timeout=120)


def finance_refunds_a_payment(base_url: str, username: str, charge_id: str) -> dict:
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    seen = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(
                locale="en-US", extra_http_headers={"Accept-Language": "en"}, viewport={"width": 1600, "height": 1000}
            )
            page = context.new_page()
            page.set_default_timeout(15_000)

            page.goto(f"{base_url}/admin/login/")
            page.fill("#id_username", username)
            page.fill("#id_password", PASSWORD)
            page.click("input[type=submit]")
            expect(page.locator("#shop-dashboard-link")).to_be_visible()

            page.goto(f"{base_url}/admin/promos/promocode/add/")
            page.fill("#id_code", "BROWSER20")
            page.fill("#id_discount_percent", "20")
            page.click("input[name=_save]")
            expect(page.locator("ul.messagelist")).to_contain_text("BROWSER20")

            page.goto(f"{base_url}/admin/payments/payment/")
            page.fill("#searchbar", charge_id)
            page.press("#searchbar", "Enter")
            rows = page.locator("#result_list tbody tr")
            expect(rows).to_have_count(1)
            page.screenshot(path=str(ARTIFACTS / "admin-payments-list.png"), full_page=True)

            rows.first.locator("input.action-select").check()
            page.select_option("select[name=action]", "refund_selected")
            page.click("button[name=index]")
            expect(page.locator("#refund-list")).to_contain_text("100 XTR")
            page.fill("#id_reason", "browser test")
            page.click("#confirm-refund")
            expect(page.locator("ul.messagelist")).to_contain_text("Refunded")

            page.fill("#searchbar", charge_id)
            page.press("#searchbar", "Enter")
            expect(page.locator("#result_list tbody tr td.field-status")).to_have_text("refunded")

            page.goto(f"{base_url}/admin/payments/payment/dashboard/")
            expect(page.locator("#card-refunds .value")).to_have_text("1")
            seen["star_balance"] = page.locator("#card-star-balance .value").inner_text()
            page.screenshot(path=str(ARTIFACTS / "admin-dashboard.png"), full_page=True)
        finally:
            browser.close()
    return seen


def test_finance_refunds_a_payment_in_the_browser(live_server, tariff_1m, settings):
    settings.TELEGRAM_BOT_TOKEN = ""
    finance = staff_in("Finance")
    payment = paid_payment()

    seen = in_browser(finance_refunds_a_payment, live_server.url, finance.username, payment.telegram_payment_charge_id)

    payment.refresh_from_db()
    assert payment.status == Payment.Status.REFUNDED
    assert LedgerEntry.objects.filter(payment=payment, kind=LedgerEntry.Kind.REFUND).count() == 1
    assert PromoCode.objects.get(code="BROWSER20").discount_percent == 20
    assert seen["star_balance"] == "unavailable"
    assert (ARTIFACTS / "admin-payments-list.png").stat().st_size > 0
    assert (ARTIFACTS / "admin-dashboard.png").stat().st_size > 0
