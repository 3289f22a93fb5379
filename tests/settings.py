"""The test suite's settings: the project's settings in debug (development
defaults: SQLite unless DATABASE_URL, the development key, mock payments
without a bot token). Tests of production behaviour start processes or load
config/settings.py with an environment of their own."""

import os

os.environ.setdefault("DJANGO_DEBUG", "true")

from config.settings import *  # noqa: E402,F403

# SQLite: the test database is a file, like the embedded default, so that the bot's
# database threads, the embedded worker and the test share it through WAL and the busy
# timeout (an in-memory database's shared cache raises "table is locked" instead of waiting).
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    import tempfile

    DATABASES["default"]["TEST"]["NAME"] = os.path.join(  # noqa: F405
        tempfile.gettempdir(), f"stars-shop-test-{os.getpid()}.sqlite3"
    )
# The admin's tests sign in with a password alone, as `make run` does; the tests of staff sign-in
# (tests/staff, the sign-in browser tests) require two-factor as production does.
STAFF_2FA_REQUIRED = False
