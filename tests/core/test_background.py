"""core.background: hand-over without a broker (embedded threads), to a broker
that is down, the periodic ticker, and stopping."""

from __future__ import annotations

import logging
import queue
import socket
import threading
import time

import pytest
from django.db import transaction

from config import celery_app
from core.background import (
    EmbeddedWorker,
    enqueue,
    enqueue_on_commit,
    start_embedded_worker,
    stop_embedded_worker,
)
from tests.runtime.broker import celery_broker

runs: queue.Queue = queue.Queue()
release = threading.Event()


@celery_app.task(name="tests.background.record")
def record(label: str = "tick") -> None:
    runs.put((label, threading.current_thread().name, time.monotonic()))


@celery_app.task(name="tests.background.wait_for_release")
def wait_for_release(label: str) -> None:
    assert release.wait(10), "the test never released the job"
    runs.put((label, threading.current_thread().name, time.monotonic()))


@pytest.fixture
def embedded(settings):
    """The real embedded worker: not inline, no broker."""
    settings.BACKGROUND_TASKS_INLINE = False
    settings.CELERY_BROKER_URL = ""
    while not runs.empty():
        runs.get_nowait()
    release.clear()
    yield
    release.set()
    stop_embedded_worker()


def background_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("background-")]


def test_enqueue_without_a_broker_returns_at_once_and_runs_the_task_on_a_worker_thread(embedded):
    # given a task that waits until the test releases it

    # when it is handed over, then enqueue has returned while the task still waits
    enqueue(wait_for_release, "job")
    assert runs.empty()

    # and once released it ran on one of the embedded worker's threads
    release.set()
    label, thread, _at = runs.get(timeout=5)
    assert label == "job"
    assert thread.startswith("background-") and thread != threading.current_thread().name


@pytest.mark.django_db(transaction=True)
def test_enqueue_on_commit_hands_the_task_over_only_once_the_transaction_commits(embedded):
    with transaction.atomic():
        enqueue_on_commit(record, "after commit")
        assert runs.empty()

    assert runs.get(timeout=5)[0] == "after commit"


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_transaction_hands_nothing_over(embedded):
    with pytest.raises(RuntimeError), transaction.atomic():
        enqueue_on_commit(record, "rolled back")
        raise RuntimeError("the purchase failed")
    enqueue(record, "next")

    assert runs.get(timeout=5)[0] == "next"
    assert runs.empty()


def closed_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_enqueue_to_a_broker_that_is_down_returns_quickly_without_raising(settings, caplog):
    # given CELERY_BROKER_URL names a loopback port where nothing listens
    with celery_broker(f"redis://127.0.0.1:{closed_loopback_port()}/0", settings):
        # when a task is handed over, twice
        started = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="core.background"):
            enqueue(record, "lost")
            enqueue(record, "lost again")
        elapsed = time.monotonic() - started

    # then enqueue returned well within the broker connection timeout (2 s each),
    # said so in the log, and ran nothing here
    assert elapsed < 1.0, f"enqueue waited {elapsed:.2f} s on a broker that is down"
    assert caplog.text.count("could not queue tests.background.record") == 2
    assert runs.empty()


def test_the_schedule_hands_each_periodic_task_over_at_its_interval(embedded):
    # given a worker whose schedule has one task every 0.2 s
    worker = EmbeddedWorker(threads=1)
    started = time.monotonic()
    worker.start_schedule({"tick": {"task": "tests.background.record", "every": 0.2}})
    try:
        # when three runs have happened
        times = [runs.get(timeout=5)[2] for _ in range(3)]
    finally:
        worker.stop()

    # then the first came after one interval, and the third not before three intervals
    assert times[0] - started >= 0.2
    assert times[2] - started >= 0.6


def test_stop_finishes_the_job_in_hand_then_ends_every_thread(embedded):
    # given a worker busy with a job, with a schedule running
    worker = EmbeddedWorker(threads=2)
    worker.start_schedule({"hourly": {"task": "tests.background.record", "every": 3600}})
    worker.submit(wait_for_release, ("in hand",))

    # when it is stopped while the job still waits (released a moment later)
    threading.Timer(0.2, release.set).start()
    worker.stop(timeout=10)

    # then the job was finished, and no worker or schedule thread is left
    assert runs.get_nowait()[0] == "in hand"
    assert background_threads() == []


def test_no_embedded_worker_with_a_broker_or_inline_tasks(settings):
    settings.BACKGROUND_TASKS_INLINE = False
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/0"
    assert start_embedded_worker() is None

    settings.CELERY_BROKER_URL = ""
    settings.BACKGROUND_TASKS_INLINE = True
    assert start_embedded_worker() is None
