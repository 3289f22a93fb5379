from tests.telegram_bot.support import (  # noqa: F401
    fresh_flood_counters,
    polling_bot,
    webhook,
)
