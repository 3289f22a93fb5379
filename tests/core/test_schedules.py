"""The periodic schedule: `migrate` creates a django-celery-beat row for every entry of
settings.PERIODIC_TASKS (what admins see and edit), and never overwrites a row that exists."""

from __future__ import annotations

import pytest
from celery import current_app
from django.conf import settings
from django.core.management import call_command
from django_celery_beat.models import IntervalSchedule, PeriodicTask

pytestmark = pytest.mark.django_db


def schedule() -> dict[str, tuple[str, int, bool]]:
    """name → (task, seconds, enabled) of every schedule row."""
    return {
        row.name: (row.task, row.interval.every if row.interval.period == IntervalSchedule.SECONDS else -1, row.enabled)
        for row in PeriodicTask.objects.select_related("interval")
    }


def test_migrate_creates_a_row_for_every_periodic_task():
    # given no schedule rows
    PeriodicTask.objects.all().delete()

    # when migrate runs (the release step)
    call_command("migrate", verbosity=0)

    # then each periodic task has its row, enabled, at its default interval
    assert schedule() == {
        name: (entry["task"], max(int(entry["every"]), 1), True) for name, entry in settings.PERIODIC_TASKS.items()
    }


def test_a_row_an_admin_changed_is_kept_and_a_deleted_one_comes_back():
    # given an admin who disabled one row, moved another to every 2 hours and deleted a third
    call_command("migrate", verbosity=0)
    disabled, slowed, deleted = list(settings.PERIODIC_TASKS)[:3]
    PeriodicTask.objects.filter(name=disabled).update(enabled=False)
    two_hours, _ = IntervalSchedule.objects.get_or_create(every=7200, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.filter(name=slowed).update(interval=two_hours)
    PeriodicTask.objects.filter(name=deleted).delete()

    # when the next deploy migrates
    call_command("migrate", verbosity=0)

    # then the changed rows stay as the admin left them, and the deleted one is back
    rows = schedule()
    assert rows[disabled][2] is False
    assert rows[slowed][1] == 7200
    assert rows[deleted] == (
        settings.PERIODIC_TASKS[deleted]["task"],
        int(settings.PERIODIC_TASKS[deleted]["every"]),
        True,
    )


def test_every_periodic_task_names_a_registered_task():
    unknown = {entry["task"] for entry in settings.PERIODIC_TASKS.values()} - set(current_app.tasks)

    assert unknown == set()
