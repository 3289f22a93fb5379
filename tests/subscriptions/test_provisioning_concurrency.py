"""Two workers at once on PostgreSQL: every task runs once (row locks, SKIP LOCKED)."""

import threading

import pytest
from django.db import connection

from conftest import run_concurrently
from subscriptions.models import ProvisioningTask
from subscriptions.provisioning import process_due
from tests.subscriptions.helpers import buy
from tests.users.factories import UserFactory


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_run_each_task_once(fake_panel, tariff_1m, settings):
    settings.PROVISIONING_RUN_AFTER_COMMIT = False  # leave them to the workers
    users = [UserFactory() for _ in range(12)]
    for user in users:
        buy(user)
    start = threading.Barrier(2)

    def worker(_: int) -> int:
        start.wait(timeout=10)
        return process_due()

    results = run_concurrently(worker, 2)

    assert all(isinstance(r, int) for r in results), results
    sync_tasks = ProvisioningTask.objects.filter(kind=ProvisioningTask.Kind.SYNC)
    assert set(sync_tasks.values_list("status", flat=True)) == {"done"}
    assert set(sync_tasks.values_list("attempts", flat=True)) == {1}
    assert len(fake_panel.users) == len(users)
    assert len(fake_panel.creates()) == len(users)
    assert connection.vendor == "postgresql"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_on_one_users_tasks_sync_it_once_at_a_time(fake_panel, tariff_1m, settings):
    settings.PROVISIONING_RUN_AFTER_COMMIT = False
    user = UserFactory()
    for _ in range(3):
        buy(user)

    run_concurrently(lambda _: process_due(), 2)

    assert len(fake_panel.creates()) == 1
    assert set(ProvisioningTask.objects.values_list("status", flat=True)) == {"done"}
