"""The outbox sweeper: due rows are handed to the workers again, once per
PROVISIONING_REQUEUE_SECONDS; rows held by a dead process of this host are freed at once."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from subscriptions import provisioning
from subscriptions.models import ProvisioningTask
from subscriptions.provisioning import release_dead_claims, sweep_due
from subscriptions.services import RUN_PROVISIONING_TASK
from tests.users.factories import UserFactory

pytestmark = pytest.mark.django_db

Status = ProvisioningTask.Status


@pytest.fixture
def handed_over(monkeypatch) -> list[tuple[str, tuple]]:
    """What the sweeper hands to the workers (recorded, not run)."""
    calls: list[tuple[str, tuple]] = []
    monkeypatch.setattr(provisioning, "enqueue", lambda task, *args: calls.append((task, args)))
    return calls


def outbox_row(**fields) -> ProvisioningTask:
    return ProvisioningTask.objects.create(user=UserFactory(), reason=ProvisioningTask.Reason.PURCHASE, **fields)


def dead_pid() -> int:
    """The pid of a process of this host that has exited (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_due_row_is_handed_over_once_within_the_requeue_window(handed_over):
    # given a due row that was never handed to the workers
    row = outbox_row(enqueued_at=None)
    now = timezone.now()

    # when the sweeper runs twice in a row, then it is handed over once
    assert sweep_due(now=now) == [row.pk]
    assert sweep_due(now=now + timedelta(seconds=1)) == []
    assert handed_over == [(RUN_PROVISIONING_TASK, (row.pk,))]

    # and when it is still due after PROVISIONING_REQUEUE_SECONDS (its message was lost), it is handed over again
    requeue_after = timedelta(seconds=settings.PROVISIONING_REQUEUE_SECONDS)
    assert sweep_due(now=now + requeue_after + timedelta(seconds=1)) == [row.pk]
    assert len(handed_over) == 2


def test_a_retry_is_handed_over_once_its_backoff_has_passed(handed_over):
    now = timezone.now()
    row = outbox_row(status=Status.RETRYING, attempts=1, next_attempt_at=now + timedelta(seconds=30))

    assert sweep_due(now=now) == []
    assert sweep_due(now=now + timedelta(seconds=31)) == [row.pk]


def test_finished_rows_and_live_claims_are_not_handed_over(handed_over):
    now = timezone.now()
    outbox_row(status=Status.DONE, done_at=now)
    outbox_row(status=Status.FAILED, attempts=12)
    outbox_row(status=Status.RUNNING, locked_until=now + timedelta(minutes=5), locked_by="elsewhere.example:1")

    assert sweep_due(now=now) == []
    assert handed_over == []


def test_a_claim_whose_lease_ran_out_is_handed_over(handed_over):
    now = timezone.now()
    row = outbox_row(status=Status.RUNNING, locked_until=now - timedelta(seconds=1), locked_by="elsewhere.example:1")

    assert sweep_due(now=now) == [row.pk]


def test_release_dead_claims_frees_only_a_row_held_by_a_dead_process_of_this_host():
    # given three rows claimed under a lease that runs for 5 more minutes: by a process of
    # this host that died, by this (live) process, and by a process of another host
    host = socket.gethostname()
    lease = timezone.now() + timedelta(minutes=5)
    dead = outbox_row(status=Status.RUNNING, locked_until=lease, locked_by=f"{host}:{dead_pid()}")
    live = outbox_row(status=Status.RUNNING, locked_until=lease, locked_by=f"{host}:{os.getpid()}")
    foreign = outbox_row(status=Status.RUNNING, locked_until=lease, locked_by="elsewhere.example:1")

    # when dead claims are released
    released = release_dead_claims()

    # then only the dead process's row is due now (and may be handed over at once)
    assert released == 1
    dead.refresh_from_db()
    assert dead.locked_until < timezone.now() and dead.enqueued_at is None
    for row in (live, foreign):
        before = row.locked_until
        row.refresh_from_db()
        assert (row.status, row.locked_until) == (Status.RUNNING, before)


def test_the_sweeper_hands_a_dead_process_row_over_without_waiting_for_its_lease(handed_over):
    row = outbox_row(
        status=Status.RUNNING,
        locked_until=timezone.now() + timedelta(minutes=5),
        locked_by=f"{socket.gethostname()}:{dead_pid()}",
        enqueued_at=timezone.now(),
    )

    assert sweep_due() == [row.pk]
