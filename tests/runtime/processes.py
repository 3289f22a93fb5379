"""Real processes for runtime tests: `manage.py runbot`, Celery workers and beat.

Each runs in its own process group (so a signal reaches the whole process,
like a process manager sends it), with stdout and stderr in a log file that
failure messages quote. `Processes` (the `processes` fixture) starts them and
always kills what is left when the test ends.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from django.conf import settings

ROOT = Path(settings.BASE_DIR)
START_TIMEOUT = 45.0  # Django's start-up in a fresh interpreter on a busy 2-core machine
STOP_TIMEOUT = 15.0  # a warm shutdown finishes the task in hand (a slow panel call)
LOG_TAIL = 6000

# The Procfile's commands (this interpreter for `python`/`celery`; the worker with 4 threads, for 2 cores).
RUNBOT = [sys.executable, "manage.py", "runbot"]
CELERY = [sys.executable, "-m", "celery", "--quiet", "-A", "config"]
WORKER = [*CELERY, "worker", "--pool", "threads", "--concurrency", "4"]
BEAT = [*CELERY, "beat"]

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], *, timeout: float, message: str | Callable[[], str] = "") -> T:
    """Poll `predicate` until it returns something truthy (returned), or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            text = message() if callable(message) else message
            raise AssertionError(f"not within {timeout:.0f} s: {text}")
        time.sleep(0.05)


class Process:
    """One child process in its own group, its output in `log_path`."""

    def __init__(self, name: str, args: list[str], *, env: dict[str, str], log_path: Path) -> None:
        self.name, self.args, self.env, self.log_path = name, args, env, log_path
        self.popen: subprocess.Popen | None = None

    def start(self) -> Process:
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                self.args,
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group
            )
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def describe(self) -> str:
        state = "running" if self.running else f"exited with {self.returncode}"
        return f"--- {self.name} ({state}), last output:\n{self.output()[-LOG_TAIL:]}"

    def wait_for_line(self, *parts: str, timeout: float = START_TIMEOUT) -> None:
        """Until a line of output contains every one of `parts`; fails at once if the process exits first."""

        def seen() -> bool:
            if any(all(part in line for part in parts) for line in self.output().splitlines()):
                return True
            assert self.running, f"{self.name} exited before printing {parts!r}\n{self.describe()}"
            return False

        wait_until(seen, timeout=timeout, message=lambda: f"{self.name} did not print {parts!r}\n{self.describe()}")

    def _signal_group(self, sig: int) -> None:
        try:
            os.killpg(self.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self, *, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM, then wait up to `timeout` seconds; SIGKILL if it is still running. Returns the exit code."""
        if self.popen is None:
            return 0
        if self.running:
            self._signal_group(signal.SIGTERM)
            try:
                return self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        self.kill()
        return self.popen.returncode

    def kill(self) -> None:
        """SIGKILL the whole group and reap it (a reaped pid is a dead pid to the sweeper)."""
        if self.popen is None:
            return
        self._signal_group(signal.SIGKILL)
        self.popen.wait(STOP_TIMEOUT)


class Processes:
    """Starts the shop's processes with one environment; `close()` leaves none behind."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: list[Process] = []

    def start(self, name: str, args: list[str], *, env: dict[str, str]) -> Process:
        process = Process(name, args, env=env, log_path=self.log_dir / f"{name}.log")
        self.started.append(process)
        return process.start()

    def runbot(self, env: dict[str, str], *, name: str = "runbot") -> Process:
        """`manage.py runbot`, ready once it polls (wait with `wait_ready` or `runbot_ready`)."""
        return self.start(name, RUNBOT, env=env)

    def worker(self, env: dict[str, str], *, name: str = "worker") -> Process:
        """A Celery worker named `name@<host>` (two workers need two names)."""
        return self.start(name, [*WORKER, "--loglevel", "INFO", "-n", f"{name}@%h"], env=env)

    def beat(self, env: dict[str, str], *, name: str = "beat") -> Process:
        return self.start(name, [*BEAT, "--loglevel", "INFO"], env=env)

    def describe(self) -> str:
        return "\n".join(process.describe() for process in self.started)

    def close(self) -> None:
        for process in self.started:
            try:
                process.stop(timeout=5)
            except Exception:  # noqa: BLE001 - kill the others anyway
                process.kill()


def runbot_ready(process: Process) -> None:
    # Logged once polling has started (after the command menu and deleteWebhook).
    process.wait_for_line("running (polling)")


def worker_ready(process: Process) -> None:
    process.wait_for_line(f"{process.name}@", " ready.")


def beat_ready(process: Process) -> None:
    process.wait_for_line("beat: Starting")
