"""Staff sign-in in a real browser: a Finance user without a second factor cannot reach the refund
action until they set up an authenticator, then can; a refund and a price change each appear once in
the staff actions with the values before and after."""

from __future__ import annotations

from base64 import b32decode

from django_otp.oath import TOTP

from core.models import StaffAction
from payments.models import Payment
from subscriptions.models import Tariff
from tests.admin.browser import (  # noqa: F401 - staff_groups is an autouse fixture
    admin_page,
    browser_marks,
    in_browser,
    screenshot_path,
    staff_groups,
)
from tests.admin.conftest import paid_payment, staff_in
from tests.staff.conftest import enrolled, totp_code
from tests.users.factories import StaffUserFactory

pytestmark = browser_marks

SETUP = "/admin/two-factor/"


def code_for_secret(secret: str) -> str:
    """What an authenticator app shows for the key on the enrolment page."""
    return f"{TOTP(b32decode(secret.replace(' ', ''))).token():06d}"


def finance_enrols_then_refunds(base_url: str, username: str, payment_pk: int, charge_id: str) -> dict:
    from playwright.sync_api import expect

    seen = {}
    with admin_page(base_url, username, lands_on=SETUP) as page:
        # without a second factor, the refund action and the payments list lead back to the enrolment page
        expect(page.locator("#two-factor-required")).to_be_visible()
        for path in ("/admin/payments/payment/", f"/admin/payments/payment/{payment_pk}/refund/"):
            page.goto(f"{base_url}{path}")
            page.wait_for_url(f"{base_url}{SETUP}")
        expect(page.locator("#action-toggle")).to_have_count(0)
        page.screenshot(path=str(screenshot_path("staff-two-factor-enrol.png")), full_page=True)

        # set up the authenticator with the key shown
        page.fill("#id_token", code_for_secret(page.locator("#totp-secret").inner_text()))
        page.click("#confirm-two-factor")
        expect(page.locator("#recovery-codes li")).to_have_count(10)
        seen["recovery_code"] = page.locator("#recovery-codes li").first.inner_text()
        page.click("#continue-to-admin")

        # now the refund goes through the list's action and its confirmation page
        page.goto(f"{base_url}/admin/payments/payment/")
        page.fill("#searchbar", charge_id)
        page.press("#searchbar", "Enter")
        rows = page.locator("#result_list tbody tr")
        expect(rows).to_have_count(1)
        rows.first.locator("input.action-select").check()
        page.select_option("select[name=action]", "refund_selected")
        page.click("button[name=index]")
        page.fill("#id_reason", "browser test")
        page.click("#confirm-refund")
        expect(page.locator("ul.messagelist")).to_contain_text("Refunded")
    return seen


def test_finance_without_totp_cannot_refund_and_with_totp_can(live_server, tariff_1m, settings):
    settings.STAFF_2FA_REQUIRED = True
    settings.TELEGRAM_BOT_TOKEN = ""
    finance = staff_in("Finance")
    payment = paid_payment()

    seen = in_browser(
        finance_enrols_then_refunds, live_server.url, finance.username, payment.pk, payment.telegram_payment_charge_id
    )

    payment.refresh_from_db()
    assert payment.status == Payment.Status.REFUNDED and len(seen["recovery_code"]) == 8
    refunds = StaffAction.objects.filter(action=StaffAction.Action.REFUND)
    assert [(r.actor, r.target_id, r.before, r.after, r.note) for r in refunds] == [
        (
            finance,
            str(payment.pk),
            {"status": "succeeded"},
            {"status": "refunded", "amount": 100, "shortfall": 0},
            "browser test",
        )
    ]
    assert refunds.get().address == "127.0.0.1"


def owner_changes_a_price(base_url: str, username: str, device, tariff_pk: int) -> str:
    from playwright.sync_api import expect

    with admin_page(base_url, username, code=lambda: totp_code(device)) as page:
        page.goto(f"{base_url}/admin/subscriptions/tariff/{tariff_pk}/change/")
        page.fill("#id_price_stars", "120")
        page.click("input[name=_save]")
        expect(page.locator("ul.messagelist")).to_be_visible()

        page.goto(f"{base_url}/admin/core/staffaction/?action=tariff_change")
        rows = page.locator("#result_list tbody tr")
        expect(rows).to_have_count(1)
        page.screenshot(path=str(screenshot_path("staff-actions.png")), full_page=True)
        return rows.first.inner_text()


def test_a_price_change_appears_once_in_the_staff_actions(live_server, tariff_1m, settings):
    settings.STAFF_2FA_REQUIRED = True
    owner = StaffUserFactory(is_superuser=True)
    device = enrolled(owner)

    row = in_browser(owner_changes_a_price, live_server.url, owner.username, device, tariff_1m.pk)

    assert "price_stars: 100 → 120" in row and owner.username in row
    assert Tariff.objects.get(pk=tariff_1m.pk).price_stars == 120
    changes = StaffAction.objects.filter(action=StaffAction.Action.TARIFF_CHANGE)
    assert [(c.actor, c.before, c.after) for c in changes] == [(owner, {"price_stars": 100}, {"price_stars": 120})]
