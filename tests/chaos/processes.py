"""The shop's processes for the chaos tests: `manage.py runbot` and Celery workers.

Each runs in its own process group (a signal reaches all of it, as from a
process manager), its output in a log file that failures quote. `Processes`
kills whatever is left when the test ends.
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
START_TIMEOUT = 45.0  # Django's start-up in a fresh interpreter on a busy machine
STOP_TIMEOUT = 15.0
LOG_TAIL = 5000

RUNBOT = [sys.executable, "manage.py", "runbot"]
WORKER = [sys.executable, "-m", "celery", "--quiet", "-A", "config", "worker", "--pool", "threads"]

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], *, timeout: float, message: str | Callable[[], str] = "") -> T:
    """Poll `predicate` until it returns something truthy (returned), or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {timeout:.0f} s: {message() if callable(message) else message}")
        time.sleep(0.05)


class Process:
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
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def describe(self) -> str:
        state = "running" if self.running else f"exited with {self.popen.poll() if self.popen else None}"
        return f"--- {self.name} ({state}):\n{self.output()[-LOG_TAIL:]}"

    def wait_for_output(self, text: str, *, timeout: float = START_TIMEOUT) -> None:
        def seen() -> bool:
            if text in self.output():
                return True
            assert self.running, f"{self.name} exited before printing {text!r}\n{self.describe()}"
            return False

        wait_until(seen, timeout=timeout, message=lambda: f"{self.name} did not print {text!r}\n{self.describe()}")

    def kill(self) -> None:
        """SIGKILL the whole group and reap it (a reaped pid is a dead pid to the sweeper)."""
        if self.popen is None or self.popen.poll() is not None:
            return
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.popen.wait(STOP_TIMEOUT)

    def stop(self) -> None:
        if self.running:
            os.killpg(self.pid, signal.SIGTERM)
            try:
                self.popen.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
        self.kill()


class Processes:
    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: list[Process] = []

    def start(self, name: str, args: list[str], *, env: dict[str, str]) -> Process:
        process = Process(name, args, env=env, log_path=self.log_dir / f"{name}.log")
        self.started.append(process)
        return process.start()

    def runbot(self, env: dict[str, str], *, name: str = "runbot") -> Process:
        return self.start(name, RUNBOT, env=env)

    def worker(self, env: dict[str, str], *, name: str = "worker") -> Process:
        process = self.start(name, [*WORKER, "--concurrency", "4", "--loglevel", "INFO", "-n", f"{name}@%h"], env=env)
        process.wait_for_output(" ready.")
        return process

    def describe(self) -> str:
        return "\n".join(process.describe() for process in self.started)

    def close(self) -> None:
        for process in self.started:
            process.stop()
