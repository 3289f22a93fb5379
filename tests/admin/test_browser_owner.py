"""The owner's tools in a real browser, in Russian and in English: the dashboard's figures
for a known shop and its charts, CSV exports of filtered lists, the Refund button on a
payment's page with and without the permission, and a payments list that fits a laptop.

Screenshots of the dashboard (and the pages around it) go to test-artifacts/ (gitignored);
each test prints their paths."""

from __future__ import annotations

import csv
import io
import re

import pytest

from payments.models import LedgerEntry, Payment
from payments.refunds import refund_payment
from tests.admin.browser import (  # noqa: F401 - staff_groups is an autouse fixture
    admin_page,
    browser_marks,
    in_browser,
    screenshot_path,
    staff_groups,
)
from tests.admin.conftest import paid_payment, staff_in
from tests.admin.dashboard_data import EXPECTED, REVENUE_SEGMENTS, SUBSCRIBER_DOTS, build_known_shop
from tests.payments.factories import PaymentFactory
from tests.telegram_fake.helpers import paid_subscription
from tests.users.factories import UserFactory

pytestmark = browser_marks

LANGUAGES = ("ru", "en")


def number_shown(text: str) -> float | None:
    """A figure as the page writes it in either language ("1 234,5" or "1,234.5"; "—" is none)."""
    text = text.strip().replace("\xa0", "").replace(" ", "")
    if text == "—":
        return None
    if "," in text and "." not in text:
        text = text.replace(",", ".")
    return float(text.replace(",", ""))


def read_dashboard(base_url: str, username: str, lang: str, first: str, last: str) -> dict:
    """Open the dashboard, choose the period with the two date inputs, read every card and
    measure the charts' shapes."""
    seen = {"cards": {}}
    with admin_page(base_url, username, lang=lang, width=1366, height=900) as page:
        page.click("#shop-dashboard-link a")
        page.fill("#period-from", first)
        page.fill("#period-to", last)
        page.click("#period-submit")
        page.wait_for_url(re.compile(r".*from=.*"))
        for card in page.locator("#kpis .kpi").all():
            key = card.get_attribute("id").removeprefix("kpi-")
            seen["cards"][key] = {
                "value": card.get_attribute("data-value"),
                "previous": card.get_attribute("data-previous"),
                "shown": number_shown(card.locator(".number").inner_text()),
                "unit": card.locator(".unit").inner_text(),
                "formula": card.locator(".formula").inner_text(),
            }
        seen["title"] = page.title()
        seen["period_text"] = page.locator("#period-text").inner_text()
        seen["bars"] = [
            page.locator("#revenue-chart rect.bar-seg").nth(i).bounding_box()
            for i in range(page.locator("#revenue-chart rect.bar-seg").count())
        ]
        seen["dots"] = [
            page.locator("#subscribers-chart circle").nth(i).bounding_box()
            for i in range(page.locator("#subscribers-chart circle").count())
        ]
        seen["lines"] = [
            page.locator("#subscribers-chart polyline").nth(i).bounding_box()
            for i in range(page.locator("#subscribers-chart polyline").count())
        ]
        seen["overflows"] = page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
        path = screenshot_path(f"dashboard-{lang}.png")
        page.screenshot(path=str(path), full_page=True)
        seen["screenshot"] = path
    return seen


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_dashboard_shows_the_hand_computed_figures_and_its_charts(live_server, tariffs, settings, lang):
    # given a shop with payments on known days, and Support looking at it in one of the two languages
    settings.TRIAL_DAYS = 3
    shop = build_known_shop(tariffs=tariffs)
    viewer = staff_in("Support")

    # when the period is chosen with the two date inputs
    seen = in_browser(
        read_dashboard, live_server.url, viewer.username, lang, shop["first"].isoformat(), shop["last"].isoformat()
    )

    # then every card shows the figure computed by hand, as a number and on screen, with its unit
    figures = {}
    for key, card in seen["cards"].items():
        value = float(card["value"]) if card["value"] else None
        previous = float(card["previous"]) if card["previous"] else None
        figures[key] = (value, previous if key != "expiring_soon" else None)
        assert card["shown"] == value, key
        assert card["unit"].strip() and card["formula"].strip(), key
    assert figures == {key: tuple(None if v is None else float(v) for v in pair) for key, pair in EXPECTED.items()}
    # and the charts are drawn: every shape has a size, whatever the language's decimal mark
    assert len(seen["bars"]) == REVENUE_SEGMENTS and len(seen["dots"]) == SUBSCRIBER_DOTS
    assert seen["lines"], "no line between the counted days"
    for box in seen["bars"] + seen["dots"] + seen["lines"]:
        assert box and box["width"] > 0 and box["height"] > 0, box
    assert not seen["overflows"], "the dashboard is wider than a 1366 px screen"
    title, period = ("Сводка", "в сравнении с") if lang == "ru" else ("Dashboard", "compared with")
    assert title in seen["title"] and "Stars Shop" in seen["title"]
    assert period in seen["period_text"]
    assert seen["screenshot"].stat().st_size > 0


def download(page, selector: str) -> list[list[str]]:
    with page.expect_download() as info:
        page.click(selector)
    text = info.value.path().read_text(encoding="utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


def export_filtered_lists(base_url: str, username: str, lang: str) -> dict:
    seen = {}
    with admin_page(base_url, username, lang=lang) as page:
        page.goto(f"{base_url}/admin/payments/payment/")
        page.click("#changelist-filter a[href*='status__exact=succeeded']")
        seen["payments"] = download(page, "#csv-export")
        page.goto(f"{base_url}/admin/users/buyer/")
        page.click("#changelist-filter a[href*='subscription=never_paid']")
        seen["buyers"] = download(page, "#csv-export")
        page.goto(f"{base_url}/admin/payments/ledgerentry/")
        page.click("#changelist-filter a[href*='kind__exact=refund']")
        seen["ledger"] = download(page, "#csv-export")
        path = screenshot_path(f"ledger-filtered-{lang}.png")
        page.screenshot(path=str(path))
    return seen


@pytest.mark.parametrize("lang", LANGUAGES)
def test_exports_hold_exactly_the_filtered_lists(live_server, tariff_1m, fake_telegram, lang):
    # given paid, pending and refunded payments, buyers who paid and one who never did
    paid = [paid_subscription(fake_telegram, UserFactory()) for _ in range(2)]
    refunded = paid_subscription(fake_telegram, UserFactory())
    refund_payment(payment=refunded, reason="browser export")
    unpaid_invoice = PaymentFactory(tariff=tariff_1m)
    never_paid = [unpaid_invoice.user, UserFactory(telegram_id=888001)]
    finance = staff_in("Finance")

    # when Finance filters each list in the sidebar and exports it
    seen = in_browser(export_filtered_lists, live_server.url, finance.username, lang)

    # then each file holds the filtered rows, with headers in the reader's language
    purchase, telegram_id, kind = (
        ("ID покупки", "Telegram ID", "вид")
        if lang == "ru"
        else (
            "purchase id",
            "Telegram id",
            "kind",
        )
    )
    payments = seen["payments"]
    column = payments[0].index(purchase)
    assert sorted(row[column] for row in payments[1:]) == sorted(str(p.purchase_id) for p in paid)
    buyers = seen["buyers"]
    assert sorted(row[buyers[0].index(telegram_id)] for row in buyers[1:]) == sorted(
        str(buyer.telegram_id) for buyer in never_paid
    )
    ledger = seen["ledger"]
    assert [row[ledger[0].index(kind)] for row in ledger[1:]] == ["refund"]
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REFUND).count() == 1


def refund_from_the_page(base_url: str, username: str, payment_id: int, lang: str) -> dict:
    from playwright.sync_api import expect

    seen = {}
    with admin_page(base_url, username, lang=lang) as page:
        page.goto(f"{base_url}/admin/payments/payment/{payment_id}/change/")
        seen["button"] = page.locator("#refund-button").count()
        if not seen["button"]:
            response = page.goto(f"{base_url}/admin/payments/payment/{payment_id}/refund/")
            seen["status"] = response.status
            return seen
        page.click("#refund-button")
        expect(page.locator("#refund-list")).to_contain_text("100 XTR")
        path = screenshot_path(f"refund-confirmation-{lang}.png")
        page.screenshot(path=str(path))
        page.fill("#id_reason", "refunded from its page")
        page.click("#confirm-refund")
        page.wait_for_url(f"{base_url}/admin/payments/payment/{payment_id}/change/")
        seen["message"] = page.locator("ul.messagelist").inner_text()
        seen["button_after"] = page.locator("#refund-button").count()
    return seen


@pytest.mark.parametrize("lang", LANGUAGES)
def test_finance_refunds_from_the_payments_page(live_server, tariff_1m, fake_telegram, lang):
    payment = paid_subscription(fake_telegram, UserFactory())
    finance = staff_in("Finance")

    seen = in_browser(refund_from_the_page, live_server.url, finance.username, payment.pk, lang)

    payment.refresh_from_db()
    assert seen["button"] == 1 and seen["button_after"] == 0
    assert ("Возвращён" if lang == "ru" else "Refunded") in seen["message"]
    assert payment.status == Payment.Status.REFUNDED
    assert [c.params["telegram_payment_charge_id"] for c in fake_telegram.calls("refundStarPayment")] == [
        payment.telegram_payment_charge_id
    ]


def test_support_has_no_refund_button_and_is_refused_the_page(live_server, tariff_1m, fake_telegram):
    payment = paid_subscription(fake_telegram, UserFactory())
    support = staff_in("Support")

    seen = in_browser(refund_from_the_page, live_server.url, support.username, payment.pk, "ru")

    payment.refresh_from_db()
    assert (seen["button"], seen["status"]) == (0, 403)
    assert payment.status == Payment.Status.SUCCEEDED
    assert fake_telegram.calls("refundStarPayment") == []


def payments_list_width(base_url: str, username: str, lang: str) -> dict:
    with admin_page(base_url, username, lang=lang, width=1366, height=768) as page:
        page.goto(f"{base_url}/admin/payments/payment/")
        path = screenshot_path(f"payments-list-1366-{lang}.png")
        page.screenshot(path=str(path))
        return {
            "overflows": page.evaluate(
                "document.documentElement.scrollWidth > window.innerWidth"
                " || document.querySelector('#changelist .results').scrollWidth"
                " > document.querySelector('#changelist .results').clientWidth"
            ),
            "filters": page.locator("#changelist-filter").is_visible(),
            "first_columns": page.locator("#result_list thead th").all_text_contents()[1:4],
        }


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_payments_list_fits_a_1366_px_laptop(live_server, tariff_1m, lang):
    buyer = UserFactory(first_name="Константин", telegram_username="a_rather_long_telegram_username_32")
    for _ in range(3):
        paid_payment(user=buyer)
    finance = staff_in("Finance")

    seen = in_browser(payments_list_width, live_server.url, finance.username, lang)

    assert not seen["overflows"] and seen["filters"]
    expected = ["Покупка", "Сумма", "Статус"] if lang == "ru" else ["Purchase", "Amount", "Status"]
    assert [text.strip() for text in seen["first_columns"]] == expected
