"""The Celery app: broker and options from Django settings (CELERY_*), tasks
from each app's tasks.py. Start a worker with `celery -A config worker` and
the scheduler with `celery -A config beat` (see the Procfile)."""

import logging
import os

from celery import Celery, signals
from celery.apps import worker as celery_worker
from django.conf import settings

from core.logs import json_line

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("stars_shop")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _say_as_json(msg: str, f=None) -> None:
    # The worker prints its shutdown notices from a signal handler, bypassing logging.
    os.write(2, (json_line(logger="celery.apps.worker", level=logging.INFO, message=msg.strip()) + "\n").encode())


@signals.celeryd_init.connect
def _worker_notices_as_log_lines(**_kwargs) -> None:
    """With LOG_FORMAT=json every line is JSON, the worker's shutdown notices too
    (start it with `celery --quiet`: the banner is not a log line)."""
    if settings.LOG_FORMAT == "json":
        celery_worker.safe_say = _say_as_json
