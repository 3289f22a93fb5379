"""/metrics: Prometheus text behind a bearer token, database numbers read at scrape time,
process-local counters where the events happen."""

from __future__ import annotations

import re

import pytest
from prometheus_client import REGISTRY

from integrations.remnawave import PanelUnavailable
from integrations.telegram import TelegramRateLimited, client, reset_client
from payments.models import Payment
from subscriptions.backends import get_backend, subscription_state
from tests.payments.factories import PaymentFactory
from tests.subscriptions.factories import SubscriptionFactory
from tests.subscriptions.helpers import refund_the_panel_never_gets
from tests.users.factories import UserFactory

pytestmark = pytest.mark.django_db

TOKEN = "metrics-token-for-tests"


def scrape(client_, token: str | None = TOKEN):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return client_.get("/metrics", **headers)


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_metrics_are_refused_when_no_token_is_configured(client, settings):
    settings.METRICS_TOKEN = ""

    response = scrape(client)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "metrics_disabled"


@pytest.mark.parametrize("header", [None, "Bearer wrong", f"Basic {TOKEN}", TOKEN])
def test_metrics_are_refused_without_the_right_bearer_token(client, settings, header):
    settings.METRICS_TOKEN = TOKEN
    headers = {"HTTP_AUTHORIZATION": header} if header else {}

    response = client.get("/metrics", **headers)

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_metrics_count_payments_by_status_and_source_and_the_stars_revenue(client, settings):
    # given two bot purchases (one paid) and a pending API one
    settings.METRICS_TOKEN = TOKEN
    paid = PaymentFactory(source=Payment.Source.BOT, status=Payment.Status.SUCCEEDED)
    paid.ledger_entries.create(user=paid.user, kind="purchase", amount=100)
    PaymentFactory(source=Payment.Source.BOT)
    PaymentFactory(source=Payment.Source.API)

    response = scrape(client)

    text = response.content.decode()
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain; version=0.0.4")
    assert re.search(r'shop_payments\{source="bot",status="succeeded"\} 1\.0', text)
    assert re.search(r'shop_payments\{source="bot",status="pending"\} 1\.0', text)
    assert re.search(r'shop_payments\{source="api",status="pending"\} 1\.0', text)
    assert re.search(r'shop_stars_revenue\{kind="purchase"\} 100\.0', text)
    assert "shop_outbox_oldest_due_age_seconds" in text
    assert "# TYPE shop_precheckout_answer_seconds histogram" in text


def test_refunds_the_panel_never_got_are_a_gauge(client, settings, fake_panel, tariff_1m):
    # given a refund whose panel update failed for good
    settings.METRICS_TOKEN = TOKEN
    settings.PROVISIONING_MAX_ATTEMPTS = 1
    settings.REMNAWAVE_MAX_RETRIES = 0
    before = scrape(client).content.decode()
    refund_the_panel_never_gets(UserFactory(), fake_panel)

    # when Prometheus scrapes, then the gauge counts it
    assert "shop_panel_refunds_not_applied 0.0" in before
    assert "shop_panel_refunds_not_applied 1.0" in scrape(client).content.decode()


def test_a_failing_panel_call_is_counted(fake_panel):
    fake_panel.down = True
    subscription = SubscriptionFactory()
    before = sample("shop_panel_call_errors_total", error="PanelUnavailable")

    with pytest.raises(PanelUnavailable):
        get_backend().sync(subscription_state(subscription=subscription))

    assert sample("shop_panel_call_errors_total", error="PanelUnavailable") == before + 1


def test_every_telegram_429_the_client_meets_is_counted(fake_telegram, settings):
    # given Telegram answering 429 to every try of one message
    settings.TELEGRAM_OUTBOUND_MAX_RETRIES = 1
    reset_client()
    fake_telegram.fail_next("sendMessage", retry_after=1, times=2)
    before = sample("shop_telegram_rate_limited_total", where="client")

    with pytest.raises(TelegramRateLimited):
        client().send_message(chat_id=42, text="hello")

    assert sample("shop_telegram_rate_limited_total", where="client") == before + 2
    reset_client()
