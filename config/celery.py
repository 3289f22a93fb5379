"""The Celery app: broker and options from Django settings (CELERY_*), tasks
from each app's tasks.py. Start a worker with `celery -A config worker` and
the scheduler with `celery -A config beat` (see the Procfile)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("stars_shop")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
