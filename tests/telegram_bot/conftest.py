from tests.telegram_bot.support import (  # noqa: F401
    bot,
    fresh_flood_counters,
    polling_bot,
    webhook,
)
