"""The admin in a real browser (Debian's Chromium driven by Playwright).

A Finance user logs in, creates a promo code, finds a payment by its charge id,
refunds it through the list's action and confirmation page, sees it refunded and
opens the dashboard. Screenshots go to test-artifacts/ (gitignored).
"""

from __future__ import annotations

from payments.models import LedgerEntry, Payment
from promos.models import PromoCode
from tests.admin.browser import (  # noqa: F401 - staff_groups is an autouse fixture
    ARTIFACTS,
    admin_page,
    browser_marks,
    in_browser,
    screenshot_path,
    staff_groups,
)
from tests.admin.conftest import paid_payment, staff_in

pytestmark = browser_marks


def finance_refunds_a_payment(base_url: str, username: str, charge_id: str) -> dict:
    from playwright.sync_api import expect

    seen = {}
    with admin_page(base_url, username) as page:
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
        page.screenshot(path=str(screenshot_path("admin-payments-list.png")), full_page=True)

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
        seen["star_balance"] = page.locator("#card-star-balance .value").inner_text()
        page.screenshot(path=str(screenshot_path("admin-dashboard.png")), full_page=True)
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
