"""The test suite's settings: the project's settings in debug (development
defaults: SQLite unless DATABASE_URL, the development key, mock payments
without a bot token). Tests of production behaviour start processes or load
config/settings.py with an environment of their own."""

import os

os.environ.setdefault("DJANGO_DEBUG", "true")

from config.settings import *  # noqa: E402,F403
