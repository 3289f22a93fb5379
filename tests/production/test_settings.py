"""Production fails closed: debug off unless asked for, a secret key that must be
given, mock payments off in every non-debug configuration, demo data only in debug."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from api.keys import api_key_create
from api.models import Scope
from payments.models import Payment
from promos.models import PromoCode
from tests.payments.factories import PaymentFactory
from tests.production.support import load_settings, manage
from users.models import User

SECRET = "a-production-secret-" + "k" * 50
HOST = "shop.example.com"
PRODUCTION = {"DJANGO_SECRET_KEY": SECRET, "DJANGO_ALLOWED_HOSTS": HOST}
BOT_TOKEN = "123456:PRODUCTION-TOKEN"


def test_debug_is_off_when_django_debug_is_unset(monkeypatch):
    values = load_settings(monkeypatch, PRODUCTION)

    assert values["DEBUG"] is False
    assert values["SECRET_KEY"] == SECRET


def test_without_debug_and_without_a_secret_key_the_settings_refuse_to_load(monkeypatch):
    with pytest.raises(ImproperlyConfigured, match="DJANGO_SECRET_KEY"):
        load_settings(monkeypatch, {"DJANGO_ALLOWED_HOSTS": HOST})


def test_the_repository_development_key_is_refused_outside_debug(monkeypatch):
    development_key = load_settings(monkeypatch, {"DJANGO_DEBUG": "true"})["SECRET_KEY"]

    with pytest.raises(ImproperlyConfigured, match="development key"):
        load_settings(monkeypatch, {**PRODUCTION, "DJANGO_SECRET_KEY": development_key})


def test_without_debug_the_allowed_hosts_must_be_given(monkeypatch):
    with pytest.raises(ImproperlyConfigured, match="DJANGO_ALLOWED_HOSTS"):
        load_settings(monkeypatch, {"DJANGO_SECRET_KEY": SECRET})


def test_with_django_debug_unset_check_deploy_refuses_to_run():
    result = manage("check", "--deploy", env={})

    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


def test_check_deploy_flags_debug_and_the_development_key():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env={"DJANGO_DEBUG": "true"})

    assert result.returncode != 0
    assert "security.W018" in result.stderr  # DEBUG on
    assert "security.W009" in result.stderr  # the repository's development key


# --- Mock payments ----------------------------------------------------------------------

NON_DEBUG_CONFIGURATIONS = {
    "web without the bot token": {},
    "bot token, Stars on": {"TELEGRAM_BOT_TOKEN": BOT_TOKEN},
    "bot token, Stars off": {"TELEGRAM_BOT_TOKEN": BOT_TOKEN, "TELEGRAM_STARS_ENABLED": "false"},
    "webhook mode": {
        "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
        "TELEGRAM_WEBHOOK_URL": "https://shop.example.com/telegram/webhook",
        "TELEGRAM_WEBHOOK_SECRET": "s" * 32,
    },
    "DJANGO_DEBUG=false spelled out": {"DJANGO_DEBUG": "false"},
    "DJANGO_DEBUG=0": {"DJANGO_DEBUG": "0"},
    "MOCK_PAYMENTS=false": {"MOCK_PAYMENTS": "false"},
}


@pytest.fixture
def mock_endpoints(db, tariff_1m, settings):
    """call(settings values) → the status and error code of each mock endpoint, for a real
    pending purchase of an authenticated API caller."""
    key = api_key_create(name="partner", scopes=Scope.values)  # mock payments refuse, not the scopes
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Api-Key {key.raw_key}", HTTP_X_TELEGRAM_USER_ID="9001")
    browser = APIClient()

    def call(values: dict) -> dict[str, tuple[int, str]]:
        settings.MOCK_PAYMENTS = values["MOCK_PAYMENTS"]
        settings.TELEGRAM_STARS_ENABLED = False  # no invoice link needed for these endpoints
        caller = User.objects.get_or_create(telegram_id=9001, defaults={"username": "tg_9001"})[0]
        payment, other = PaymentFactory(user=caller), PaymentFactory(user=caller)
        answers = {
            "POST /api/v1/purchase": api.post(
                "/api/v1/purchase", {"purchase_id": str(other.purchase_id)}, format="json"
            ),
            "POST /api/v1/dev/add-stars": api.post("/api/v1/dev/add-stars", {"amount": 500}, format="json"),
            "GET /api/v1/mock-pay/<id>": browser.get(f"/api/v1/mock-pay/{payment.purchase_id}"),
            "POST /api/v1/mock-pay/<id>": browser.post(f"/api/v1/mock-pay/{payment.purchase_id}"),
        }
        return {
            name: (response.status_code, response.json()["error"]["code"] if response.status_code >= 400 else "")
            for name, response in answers.items()
        }

    return call


@pytest.mark.parametrize("extra", NON_DEBUG_CONFIGURATIONS.values(), ids=NON_DEBUG_CONFIGURATIONS.keys())
def test_mock_payments_are_unreachable_in_every_non_debug_configuration(monkeypatch, mock_endpoints, extra):
    # given a non-debug configuration without the override
    values = load_settings(monkeypatch, {**PRODUCTION, **extra})
    monkeypatch.undo()  # back to the test's own environment before anything else runs

    # when the mock endpoints are called
    answers = mock_endpoints(values)

    # then mock payments are off and every mock endpoint refuses, nothing is paid or credited
    assert values["MOCK_PAYMENTS"] is False
    assert set(answers.values()) == {(403, "mock_payments_disabled")}, answers
    assert not Payment.objects.filter(status=Payment.Status.SUCCEEDED).exists()


def test_mock_payments_true_without_the_override_refuses_to_start(monkeypatch):
    with pytest.raises(ImproperlyConfigured, match="DANGEROUSLY_ENABLE_MOCK_PAYMENTS_IN_PRODUCTION"):
        load_settings(monkeypatch, {**PRODUCTION, "MOCK_PAYMENTS": "true"})


def test_the_loudly_named_override_turns_mock_payments_on(monkeypatch, mock_endpoints):
    values = load_settings(monkeypatch, {**PRODUCTION, "DANGEROUSLY_ENABLE_MOCK_PAYMENTS_IN_PRODUCTION": "true"})
    monkeypatch.undo()

    answers = mock_endpoints(values)

    assert values["MOCK_PAYMENTS"] is True
    assert answers["POST /api/v1/purchase"][0] == 200
    assert answers["POST /api/v1/dev/add-stars"][0] == 200
    assert answers["GET /api/v1/mock-pay/<id>"][0] == 200


def test_in_debug_without_a_bot_token_mock_payments_are_on(monkeypatch):
    assert load_settings(monkeypatch, {"DJANGO_DEBUG": "true"})["MOCK_PAYMENTS"] is True


# --- Demo data ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_seed_demo_refuses_outside_debug(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="DJANGO_DEBUG=true"):
        call_command("seed_demo")

    assert not PromoCode.objects.exists()
    assert not User.objects.filter(username="admin").exists()


# --- The shared cache ---------------------------------------------------------------------


def test_a_redis_cache_url_uses_the_shops_redis_backend_with_short_timeouts(monkeypatch):
    caches = load_settings(monkeypatch, {**PRODUCTION, "CACHE_URL": "redis://127.0.0.1:6379/1"})["CACHES"]

    assert caches["default"]["BACKEND"] == "core.cache.RedisCache"
    assert caches["default"]["LOCATION"] == "redis://127.0.0.1:6379/1"
    assert caches["default"]["OPTIONS"] == {"socket_connect_timeout": 1, "socket_timeout": 1}


def test_without_a_cache_url_the_cache_is_the_process_memory(monkeypatch):
    caches = load_settings(monkeypatch, PRODUCTION)["CACHES"]

    assert caches["default"]["BACKEND"] == "django.core.cache.backends.locmem.LocMemCache"
