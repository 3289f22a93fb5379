"""Background work: hand a Celery task over, never run it on a serving thread.

With CELERY_BROKER_URL set, `enqueue` publishes to the broker and a Celery
worker runs the task (its periodic work comes from Celery beat). Without a
broker (the embedded default: `make run`, SQLite, `runbot` with only a bot
token) the same task runs on a small pool of threads inside this process, and
`start_embedded_worker()` also runs the periodic schedule there.

Every task works on a database row that is the source of truth (an outbox
row, a stored update, a reminder claim), so a hand-over that fails (the broker
is down, the process dies with jobs in memory) loses nothing: the periodic
sweepers hand due rows over again.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
from dataclasses import dataclass

from celery import Task, current_app
from django.conf import settings
from django.db import close_old_connections, connections, transaction

logger = logging.getLogger(__name__)


def broker_configured() -> bool:
    return bool(settings.CELERY_BROKER_URL)


def enqueue(task: Task | str, *args: object) -> None:
    """Run `task(*args)` in the background (a task or its registered name, which
    lets a service queue a task whose module imports the service). Never raises
    and never waits on a slow broker: a failed hand-over is logged, the row stays due."""
    if isinstance(task, str):
        task = current_app.tasks[task]
    if settings.BACKGROUND_TASKS_INLINE:  # tests that want the effect at once
        _run(task, args)
        return
    if broker_configured():
        try:
            task.apply_async(args=args, retry=False)
        except Exception as exc:  # noqa: BLE001 - broker down: the sweeper hands the row over later
            logger.warning("could not queue %s%r (%s); it stays due in the database", task.name, args, exc)
        return
    embedded_worker().submit(task, args)


def enqueue_on_commit(task: Task | str, *args: object) -> None:
    """Enqueue once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: enqueue(task, *args))


def _run(task: Task, args: tuple) -> None:
    """Run a task in this process, like a worker would: failures are logged, never raised."""
    try:
        task.apply(args=args, throw=True)
    except Exception:  # noqa: BLE001 - the task's row records what is left to do
        logger.exception("background task %s%r failed", task.name, args)


# --- Which process holds a claim ------------------------------------------------------


def process_label() -> str:
    """host:pid of this process, stored on the rows it claims."""
    return f"{socket.gethostname()}:{os.getpid()}"


def process_is_dead(label: str) -> bool:
    """True only when `label` names a process on this host that no longer runs
    (a worker killed mid-task); other hosts' processes are left to their lease."""
    host, _, pid = label.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


# --- The embedded worker (no broker) ---------------------------------------------------


@dataclass
class _Periodic:
    name: str
    task_name: str
    every: float
    next_run: float


class EmbeddedWorker:
    """A few daemon threads that run handed-over tasks, plus (optionally) a
    ticker that hands over the periodic tasks at their intervals."""

    def __init__(self, *, threads: int) -> None:
        self._jobs: queue.Queue[tuple[Task, tuple] | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._size = max(threads, 1)
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._lock = threading.Lock()
        self._busy = 0
        self._idle = threading.Condition(self._lock)

    def start(self) -> None:
        with self._lock:
            if self._threads:
                return
            for number in range(self._size):
                thread = threading.Thread(target=self._work, name=f"background-{number}", daemon=True)
                thread.start()
                self._threads.append(thread)

    def submit(self, task: Task, args: tuple) -> None:
        self.start()
        with self._lock:
            self._busy += 1
        self._jobs.put((task, args))

    def start_schedule(self, entries: dict[str, dict]) -> None:
        """Hand over each periodic task every `every` seconds (first after one interval)."""
        self.start()
        with self._lock:
            if self._ticker is not None:
                return
            now = time.monotonic()
            periodic = [
                _Periodic(
                    name=name, task_name=entry["task"], every=float(entry["every"]), next_run=now + entry["every"]
                )
                for name, entry in entries.items()
            ]
            self._ticker = threading.Thread(
                target=self._tick, args=(periodic,), name="background-schedule", daemon=True
            )
            self._ticker.start()

    def wait_idle(self, timeout: float) -> bool:
        """Until every handed-over job has finished (tests and shutdown)."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the job in hand, then stop. Jobs still queued stay due in the database."""
        self._stop.set()
        for _thread in self._threads:
            self._jobs.put(None)
        for thread in [*self._threads, *([self._ticker] if self._ticker else [])]:
            thread.join(timeout)

    def _work(self) -> None:
        try:
            while not self._stop.is_set():
                job = self._jobs.get()
                if job is None:
                    break
                task, args = job
                close_old_connections()
                try:
                    _run(task, args)
                finally:
                    close_old_connections()
                    with self._idle:
                        self._busy -= 1
                        self._idle.notify_all()
        finally:
            connections.close_all()

    def _tick(self, periodic: list[_Periodic]) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            for entry in periodic:
                if entry.next_run <= now:
                    entry.next_run = now + entry.every
                    try:
                        self.submit(current_app.tasks[entry.task_name], ())
                    except KeyError:
                        logger.error("periodic task %s names an unknown task %s", entry.name, entry.task_name)
            next_due = min((entry.next_run for entry in periodic), default=now + 1.0)
            self._stop.wait(max(min(next_due - time.monotonic(), 1.0), 0.05))


_worker: EmbeddedWorker | None = None
_worker_lock = threading.Lock()


def embedded_worker() -> EmbeddedWorker:
    """This process's embedded worker, created on first use."""
    global _worker
    with _worker_lock:
        if _worker is None:
            _worker = EmbeddedWorker(threads=settings.BACKGROUND_THREADS)
        return _worker


def start_embedded_worker(*, schedule: bool = True) -> EmbeddedWorker | None:
    """Start the in-process worker (and the periodic schedule) when there is no
    broker. Returns None in broker mode: a Celery worker and beat do the work."""
    if broker_configured() or settings.BACKGROUND_TASKS_INLINE:
        return None
    worker = embedded_worker()
    worker.start()
    if schedule:
        worker.start_schedule(settings.PERIODIC_TASKS)
    return worker


def stop_embedded_worker(timeout: float = 10.0) -> None:
    global _worker
    with _worker_lock:
        worker, _worker = _worker, None
    if worker is not None:
        worker.stop(timeout)
