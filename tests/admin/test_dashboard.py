"""The dashboard: periods, the KPI figures of a known shop, charts that never carry localized
numbers, the daily subscriber count, what needs attention, the bot's Star balance."""

import re
import time
from datetime import date, timedelta

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from payments import dashboard
from payments.gateways.balance import purchase_pay_from_balance
from payments.gateways.stars_subscription import star_subscription_cancel
from payments.models import Payment, SubscriberSnapshot
from payments.refunds import refund_from_telegram, refund_payment
from payments.subscribers import subscriber_snapshot_record, subscribers_now
from payments.tasks import count_subscribers
from subscriptions.models import Tariff
from subscriptions.provisioning import process_due
from tests.admin.conftest import paid_payment
from tests.admin.dashboard_data import EXPECTED, REVENUE_SEGMENTS, SUBSCRIBER_DOTS, build_known_shop
from tests.payments.factories import PaymentFactory
from tests.payments.star_subscription_helpers import deliver, renew, subscribe
from tests.subscriptions.helpers import make_all_due
from tests.telegram_fake.helpers import paid_topup
from tests.users.factories import StaffUserFactory, UserFactory

pytestmark = pytest.mark.django_db

URL = reverse("admin:payments_payment_dashboard")


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def known_shop(tariffs, settings):
    settings.TRIAL_DAYS = 3
    return build_known_shop(tariffs=tariffs)


def period_query(shop) -> dict:
    return {"from": shop["first"].isoformat(), "to": shop["last"].isoformat()}


# --- The period -----------------------------------------------------------------------------


def test_the_previous_period_has_the_same_length_and_ends_the_day_before():
    period = dashboard.Period(first=date(2026, 3, 1), last=date(2026, 3, 31))

    previous = period.previous()

    assert (previous.first, previous.last, previous.days) == (date(2026, 1, 29), date(2026, 2, 28), 31)


@pytest.mark.parametrize(
    ("query", "first", "last"),
    [
        ({}, date(2026, 11, 6), date(2026, 12, 5)),
        ({"preset": "7d"}, date(2026, 11, 29), date(2026, 12, 5)),
        ({"preset": "this_month"}, date(2026, 12, 1), date(2026, 12, 5)),
        ({"preset": "last_month"}, date(2026, 11, 1), date(2026, 11, 30)),
        ({"days": "90"}, date(2026, 9, 7), date(2026, 12, 5)),
        ({"from": "2026-10-01", "to": "2026-10-15"}, date(2026, 10, 1), date(2026, 10, 15)),
    ],
)
def test_presets_and_two_dates_choose_the_period(query, first, last):
    period, notes = dashboard.period_from_query(query, today=date(2026, 12, 5))

    assert (period.first, period.last, notes) == (first, last, [])


@pytest.mark.parametrize(
    "query",
    [
        {"from": "yesterday"},
        {"from": "2026-10-15", "to": "2026-10-01"},
        {"from": "2030-01-01"},
        {"from": "2020-01-01", "to": "2026-01-01"},
        {"to": "2026-10-01"},
        {"preset": "forever"},
        {"days": "-1"},
    ],
)
def test_an_unusable_period_shows_the_default_and_says_why(admin_client_for, superuser, query):
    page = admin_client_for(superuser).get(URL, query)

    assert page.status_code == 200
    assert page.context["data"].period.preset == dashboard.DEFAULT_PRESET
    assert page.context["data"].notes


def test_a_period_ending_in_the_future_ends_today(admin_client_for, superuser):
    today = timezone.localdate()

    page = admin_client_for(superuser).get(URL, {"from": (today - timedelta(days=3)).isoformat(), "to": "2099-01-01"})

    assert page.context["data"].period.last == today
    assert page.context["data"].notes == ["The period ends today: later days have no data yet."]


# --- The figures of a known shop ---------------------------------------------------------------


def test_the_figures_of_a_known_shop_equal_the_hand_computed_ones(admin_client_for, support_user, known_shop):
    page = admin_client_for(support_user).get(URL, period_query(known_shop))

    data = page.context["data"]
    assert page.status_code == 200
    figures = {card.key: (card.current, card.previous if card.compare else None) for card in data.cards}
    assert figures == EXPECTED


def test_the_charts_of_a_known_shop_have_their_shapes(admin_client_for, support_user, known_shop):
    page = admin_client_for(support_user).get(URL, period_query(known_shop))

    data = page.context["data"]
    assert len(data.revenue_chart.segments) == REVENUE_SEGMENTS
    assert data.revenue_chart.total == 600
    assert [item["name"] for item in data.revenue_chart.legend] == ["1 month", "3 months", "Top-ups"]
    assert len(data.subscribers_chart.dots) == SUBSCRIBER_DOTS
    assert data.subscribers_chart.days_counted == 3
    assert all(float(part.height) > 0 and float(part.width) > 0 for part in data.revenue_chart.segments)


def test_every_card_shows_its_unit_and_formula(admin_client_for, support_user, known_shop):
    page = admin_client_for(support_user).get(URL, period_query(known_shop))

    content = page.content.decode()
    for card in page.context["data"].cards:
        block = content.split(f'id="kpi-{card.key}"', 1)[1].split('class="dash-card', 1)[0]
        assert 'class="unit">' in block and 'class="unit"></span>' not in block, card.key
        assert escape(str(card.formula)) in block, card.key
    assert "Net revenue" in content and "Stars paid through Telegram in the period" in content


def test_mock_payments_are_left_out_of_every_figure(admin_client_for, superuser, tariff_1m):
    paid_payment()  # a mock charge
    PaymentFactory(  # completed by the mock gateway, whatever source the purchase was started from
        tariff=tariff_1m,
        source=Payment.Source.API,
        status=Payment.Status.SUCCEEDED,
        paid_at=timezone.now(),
        telegram_payment_charge_id="mock_FROMTHEAPI",
    )

    data = admin_client_for(superuser).get(URL).context["data"]

    figures = {card.key: card.current for card in data.cards}
    assert (figures["net_revenue"], figures["paying_buyers"], figures["conversion"]) == (0, 0, None)
    assert data.revenue_chart.segments == []


def test_today_is_counted_live(admin_client_for, superuser, tariff_1m):
    paid_payment(charge_prefix="stxLIVE")
    paid_payment(charge_prefix="stxLIVE")

    data = admin_client_for(superuser).get(URL, {"preset": "7d"}).context["data"]

    assert (data.card("active_subscribers").current, data.card("mrr").current) == (2, 200)
    assert data.card("active_subscribers").previous is None  # no daily count kept a week ago
    assert data.subscribers_chart.days_counted == 1


def test_the_expiring_card_links_to_the_buyers_expiring_soon(admin_client_for, superuser):
    card = admin_client_for(superuser).get(URL).context["data"].card("expiring_soon")

    assert card.link == reverse("admin:users_buyer_changelist") + "?subscription=expiring"


# --- The same page in Russian: numbers in attributes stay plain ------------------------------------


def test_the_page_in_russian_has_the_same_shapes_and_plain_numbers_in_attributes(client, support_user, known_shop):
    client.force_login(support_user)
    pages = {lang: client.get(URL, period_query(known_shop), HTTP_ACCEPT_LANGUAGE=lang) for lang in ("en", "ru")}

    ru, en = pages["ru"].content.decode(), pages["en"].content.decode()
    assert "Чистая выручка" in ru and "Net revenue" in en
    for tag in ("<rect", "<circle", "<polyline", "data-value="):
        assert ru.count(tag) == en.count(tag), tag
    svg = ru.split("<svg", 1)[1].rsplit("</svg>", 1)[0]
    assert not re.search(r'(x|y|width|height|cx|cy)="-?\d+,\d', svg)
    assert re.findall(r'data-value="([^"]*)"', ru) == re.findall(r'data-value="([^"]*)"', en)
    assert 'data-value="29.2"' in ru  # ARPU, a decimal: a dot in the attribute, a comma on the card
    assert "29,2" in ru


# --- The daily subscriber count --------------------------------------------------------------------


def test_the_daily_count_keeps_todays_subscribers_and_mrr(tariffs):
    paid_payment(charge_prefix="stxCOUNT")  # 100 Stars for 30 days
    paid_payment(tariff="3m", charge_prefix="stxCOUNT")  # 250 Stars for 90 days: 83.3 a month
    paid_payment()  # a mock payment: active, not paid

    snapshot = subscriber_snapshot_record()

    assert (snapshot.day, snapshot.active, snapshot.paid_active, snapshot.mrr) == (
        timezone.localdate(),
        3,
        2,
        183,
    )


def test_a_later_count_the_same_day_overwrites_it(tariff_1m):
    subscriber_snapshot_record()
    paid_payment(charge_prefix="stxCOUNT")

    assert count_subscribers() == 1
    assert SubscriberSnapshot.objects.get().active == 1


def test_a_refunded_or_disabled_subscription_is_not_counted(tariff_1m, settings):
    refund_payment(payment=paid_payment())
    kept = paid_payment(charge_prefix="stxCOUNT")
    kept.user.subscription.status = "disabled"
    kept.user.subscription.save(update_fields=["status"])

    assert subscribers_now().active == 0


# --- What needs attention, the bot's balance, reconciliation --------------------------------------


def test_dashboard_is_linked_from_the_admin_index(admin_client_for, support_user):
    assert URL in admin_client_for(support_user).get(reverse("admin:index")).content.decode()


def test_star_balance_is_unavailable_without_telegram(admin_client_for, superuser, settings):
    settings.TELEGRAM_BOT_TOKEN = ""

    page = admin_client_for(superuser).get(URL)

    assert page.context["data"].star_balance is None
    assert "unavailable" in page.content.decode()


def test_star_balance_is_unavailable_when_telegram_does_not_answer(admin_client_for, superuser, settings):
    settings.TELEGRAM_BOT_TOKEN = "123:abc"
    settings.TELEGRAM_API_BASE_URL = "http://127.0.0.1:9"  # nothing listens there

    page = admin_client_for(superuser).get(URL)

    assert page.status_code == 200
    assert page.context["data"].star_balance is None


def test_star_balance_is_read_in_the_background_and_cached(fake_telegram):
    fake_telegram.set_star_balance(4242)

    assert dashboard.star_balance() == 4242
    assert dashboard.star_balance() == 4242
    assert len(fake_telegram.calls("getMyStarBalance")) == 1


def test_a_page_never_waits_for_the_star_balance(fake_telegram, settings):
    settings.BACKGROUND_TASKS_INLINE = False  # the refresh is handed to the embedded worker
    fake_telegram.fail_next("getMyStarBalance", delay=2.0)
    started = time.monotonic()

    assert dashboard.star_balance() is None
    assert time.monotonic() - started < 1.0
    fake_telegram.wait_for_call("getMyStarBalance", timeout=10)


def test_reconciliation_never_run_is_said_so(admin_client_for, superuser):
    assert "never run" in admin_client_for(superuser).get(URL).content.decode()


def test_dashboard_needs_the_view_permission(client, db):
    client.force_login(StaffUserFactory())

    assert client.get(URL).status_code == 403


def test_the_last_reconciliation_run_is_shown(admin_client_for, superuser):
    from payments.models import ReconciliationRun

    ReconciliationRun.objects.create(started_at=timezone.now(), transactions_seen=12, mismatch_count=1)

    content = admin_client_for(superuser).get(URL).content.decode()

    assert "12 transactions seen, 1 mismatch" in content
    assert "never run" not in content


def test_dashboard_shows_what_needs_attention(admin_client_for, support_user, fake_telegram, fake_panel, settings):
    # given an open review, a refund of spent Stars, a refund waiting for its payment,
    # and a refund whose panel update gave up
    settings.PROVISIONING_MAX_ATTEMPTS = 1
    settings.REMNAWAVE_MAX_RETRIES = 0
    flagged = paid_payment()
    Payment.objects.filter(pk=flagged.pk).update(needs_review=True, review_reason="second charge")
    refund_payment(payment=paid_payment())  # its panel update will give up
    buyer = UserFactory()
    topup = paid_topup(fake_telegram, buyer, amount=100)
    purchase_pay_from_balance(user=buyer, tariff="1m")
    refund_from_telegram(user=buyer, charge_id=topup.telegram_payment_charge_id, amount=100)
    refund_from_telegram(user=UserFactory(), charge_id="not-recorded-yet", amount=100)
    fake_panel.fail_next(100, status=503)
    make_all_due()
    process_due()

    # when support opens the dashboard
    page = admin_client_for(support_user).get(URL)

    # then each is shown
    attention = page.context["data"].attention
    assert (attention.open_reviews, attention.refund_debts, attention.refund_debt_stars) == (2, 1, 100)
    assert attention.pending_refunds == 1
    assert [alert.kind for alert in attention.panel_alerts] == ["refund_not_applied"]
    content = page.content.decode()
    for card in ("card-reviews", "card-refund-debts", "card-pending-refunds", "card-panel-refunds"):
        assert f'id="{card}"' in content


def test_a_resolved_review_is_not_counted(admin_client_for, finance_user, tariff_1m):
    from payments.reviews import review_resolve

    flagged = paid_payment()
    Payment.objects.filter(pk=flagged.pk).update(needs_review=True, review_reason="second charge")
    review_resolve(payment=flagged, actor=finance_user, note="checked")

    assert admin_client_for(finance_user).get(URL).context["data"].attention.open_reviews == 0


# --- Star subscriptions ----------------------------------------------------------------------


def test_the_auto_renewal_cards_count_renewals_and_cancellations(
    admin_client_for, superuser, fake_telegram, renewing_tariff
):
    # given three subscribers: two renewed once this week, one of those canceled, one renewed 10 days ago
    subscriptions = [subscribe(fake_telegram, UserFactory()) for _ in range(3)]
    for subscription in subscriptions:
        deliver(renew(fake_telegram, subscription))
    earlier = Payment.objects.get(star_subscription=subscriptions[2], purchase_type=Payment.RENEWAL)
    Payment.objects.filter(pk=earlier.pk).update(paid_at=timezone.now() - timedelta(days=10))
    star_subscription_cancel(user=subscriptions[0].user)

    # when the owner looks at the last 7 days
    data = admin_client_for(superuser).get(URL, {"preset": "7d"}).context["data"]

    # then: two renewing now, two renewals in the period (one the week before), one cancellation
    assert (data.card("auto_renewing").current, data.card("auto_renewing").compare) == (2, False)
    assert (data.card("auto_renewals").current, data.card("auto_renewals").previous) == (2, 1)
    assert (data.card("auto_renewal_cancellations").current, data.card("auto_renewal_cancellations").previous) == (
        1,
        0,
    )
    assert data.card("auto_renewing").link.endswith("?status__exact=active")


def test_no_auto_renewal_cards_without_renewing_plans(admin_client_for, superuser, tariff_1m):
    Tariff.objects.filter(renews_monthly=True).update(is_active=False)

    data = admin_client_for(superuser).get(URL).context["data"]

    assert not {"auto_renewing", "auto_renewals", "auto_renewal_cancellations"} & {card.key for card in data.cards}
