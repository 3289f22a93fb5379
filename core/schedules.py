"""The periodic work, as django-celery-beat rows that admins can see and edit.

settings.PERIODIC_TASKS is the default schedule. After `migrate`, rows that
are missing are created; a row that exists (perhaps edited or disabled by an
admin) is never overwritten. Celery beat runs them with its DatabaseScheduler;
without a broker the embedded worker runs the same tasks at the default intervals.
"""

from __future__ import annotations

from django.conf import settings
from django_celery_beat.models import IntervalSchedule, PeriodicTask


def periodic_tasks_ensure(**_signal_kwargs) -> int:
    """Create the missing schedule rows; returns how many were created."""
    created = 0
    for name, entry in settings.PERIODIC_TASKS.items():
        if PeriodicTask.objects.filter(name=name).exists():
            continue
        interval, _ = IntervalSchedule.objects.get_or_create(
            every=max(int(entry["every"]), 1), period=IntervalSchedule.SECONDS
        )
        PeriodicTask.objects.create(
            name=name, task=entry["task"], interval=interval, description=entry.get("description", "")
        )
        created += 1
    return created
