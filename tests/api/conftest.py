"""API test helpers: clients for each auth mode, signed Mini App init data."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from api.initdata import init_data_hash
from api.keys import api_key_create
from api.models import Scope

BOT_TOKEN = "424242:API-TEST-TOKEN"


def make_init_data(
    *, telegram_id: int = 777000, bot_token: str = BOT_TOKEN, auth_date: int | None = None, **user_fields
) -> str:
    """Init data signed the way Telegram signs it for a Mini App."""
    user = {"id": telegram_id, "first_name": "Mini", "username": "mini_buyer", "language_code": "en", **user_fields}
    fields = {
        "query_id": "AAHdF6IQAAAAAN0XohDhrOrc",
        "user": json.dumps(user, separators=(",", ":")),
        "auth_date": str(auth_date if auth_date is not None else int(time.time())),
    }
    fields["hash"] = init_data_hash(fields=fields, bot_token=bot_token)
    return urlencode(fields)


@pytest.fixture(autouse=True)
def api_settings(settings):
    """Mock payments on, Stars off, generous throttles, empty throttle cache."""
    settings.TELEGRAM_BOT_TOKEN = BOT_TOKEN
    settings.TELEGRAM_STARS_ENABLED = False
    settings.MOCK_PAYMENTS = True
    settings.TMA_AUTH_MAX_AGE_SECONDS = 3600
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"user": "10000/min", "api_key": "10000/min", "anon": "10000/min"},
    }
    cache.clear()
    yield settings
    cache.clear()


@pytest.fixture
def issued_key(db):
    """A key with every scope: the endpoint tests exercise the endpoints (test_scopes.py the scopes)."""
    return api_key_create(name="backend", scopes=Scope.values)


def key_client(raw_key: str, telegram_id: int) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw_key}", HTTP_X_TELEGRAM_USER_ID=str(telegram_id))
    return client


@pytest.fixture
def client_for(issued_key):
    """client_for(telegram_id) → an APIClient acting for that Telegram user through the API key."""
    return lambda telegram_id=555001: key_client(issued_key.raw_key, telegram_id)


@pytest.fixture
def api(client_for):
    return client_for(555001)


@pytest.fixture
def tma_client(db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"tma {make_init_data()}")
    return client
