import pytest

OWNER_CHAT = -100_777_000_1


@pytest.fixture
def owner_chat(fake_telegram, settings):
    """Alerts on, to a group chat of the fake Bot API server; links from a base URL."""
    settings.OWNER_CHAT_ID = OWNER_CHAT
    settings.OWNER_THREAD_ID = None
    settings.OWNER_THREAD_IDS = {}
    settings.OWNER_ALERT_PURCHASES = False
    settings.OWNER_ALERT_GROUP_SECONDS = 300
    settings.SHOP_BASE_URL = "https://shop.example.com"
    settings.LANGUAGE_CODE = "ru"
    settings.TELEGRAM_WEBHOOK_URL = "https://shop.example.com/telegram/webhook"  # not polling: no heartbeat to watch
    return OWNER_CHAT
