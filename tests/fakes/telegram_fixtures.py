"""pytest fixtures for the fake Telegram Bot API server (tests/fakes/telegram_server.py).

`fake_telegram`: the server (one per test session, reset before and after each test) with Django
settings pointed at it: TELEGRAM_BOT_TOKEN (a dummy), TELEGRAM_API_BASE_URL, TELEGRAM_STARS_ENABLED=True,
MOCK_PAYMENTS=False, TELEGRAM_TEST_ENV=False.
"""

from __future__ import annotations

import pytest

from tests.fakes.telegram_server import DEFAULT_TOKEN, FakeTelegramServer


@pytest.fixture(scope="session")
def fake_telegram_server():
    server = FakeTelegramServer(token=DEFAULT_TOKEN).start()
    yield server
    server.stop()


@pytest.fixture
def fake_telegram(fake_telegram_server, settings):
    fake_telegram_server.reset()
    settings.TELEGRAM_BOT_TOKEN = fake_telegram_server.token
    settings.TELEGRAM_API_BASE_URL = fake_telegram_server.base_url
    settings.TELEGRAM_STARS_ENABLED = True
    settings.TELEGRAM_TEST_ENV = False
    settings.MOCK_PAYMENTS = False
    yield fake_telegram_server
    fake_telegram_server.reset()
