"""The revenue dashboard: figures, the bot's Star balance, reconciliation, no 500s."""

import time

import pytest
from django.core.cache import cache
from django.urls import reverse

from payments import dashboard
from payments.gateways.balance import purchase_pay_from_balance
from payments.models import Payment
from payments.refunds import refund_from_telegram, refund_payment
from subscriptions.provisioning import process_due
from tests.admin.conftest import paid_payment
from tests.payments.factories import PaymentFactory
from tests.subscriptions.helpers import make_all_due
from tests.telegram_fake.helpers import paid_topup
from tests.users.factories import UserFactory

pytestmark = pytest.mark.django_db

URL = reverse("admin:payments_payment_dashboard")


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()
    yield
    cache.clear()


def test_dashboard_shows_revenue_refunds_funnel_and_pending(admin_client_for, support_user, tariff_1m):
    paid_payment()
    refund_payment(payment=paid_payment())
    PaymentFactory(tariff=tariff_1m)

    page = admin_client_for(support_user).get(URL)

    data = page.context["data"]
    assert page.status_code == 200
    assert data.revenue_total == 200
    assert data.refunds["count"] == 1 and data.refunds["stars"] == 100
    assert (data.funnel.invoices, data.funnel.paid) == (3, 2)
    assert data.funnel.median_seconds_to_pay is not None
    assert data.pending_payments == 1
    assert data.active_subscriptions == 1
    assert [row["count"] for row in data.by_tariff] == [2]
    assert len(data.revenue_by_day) == 31


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


@pytest.mark.parametrize("days", ["90", "7", "abc", "-1"])
def test_any_window_parameter_answers(admin_client_for, superuser, days):
    page = admin_client_for(superuser).get(URL, {"days": days})

    assert page.status_code == 200
    assert page.context["data"].days in (30, 90)


def test_dashboard_needs_the_view_permission(client, db):
    from tests.users.factories import StaffUserFactory

    client.force_login(StaffUserFactory())

    assert client.get(URL).status_code == 403


def test_the_last_reconciliation_run_is_shown(admin_client_for, superuser):
    from django.utils import timezone

    from payments import models

    run_model = getattr(models, "ReconciliationRun", None)
    if run_model is None:
        pytest.skip("no ReconciliationRun model yet")
    run_model.objects.create(started_at=timezone.now(), transactions_seen=12, mismatch_count=1)

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
