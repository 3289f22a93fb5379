"""The web process's WSGI entry point (gunicorn in production, runserver in development).

The shop's settings checks run first (gunicorn runs no system checks): a setting
that would break a command stops the process with the check's message.
Without CELERY_BROKER_URL the web process also runs the background work on
threads of its own (the embedded worker), never on a request's thread.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_wsgi_application()

from core.background import start_embedded_worker  # noqa: E402 - needs the configured Django above
from core.checks import raise_config_errors  # noqa: E402 - needs the configured Django above

raise_config_errors()
start_embedded_worker()
