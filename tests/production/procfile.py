"""Runs the Procfile's processes the way a process manager does: each entry's
command, `$VARS` filled in from the given environment, in a session of its own
(a signal reaches the whole process), output kept in a log file per process."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

_VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


def read_procfile(path: Path) -> dict[str, str]:
    entries = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, command = line.partition(":")
            entries[name.strip()] = command.strip()
    return entries


def expand(command: str, env: dict[str, str]) -> list[str]:
    return shlex.split(_VARIABLE.sub(lambda m: env[m.group(1) or m.group(2)], command))


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log: Path
    started: float = field(default_factory=time.monotonic)

    def alive(self) -> bool:
        return self.popen.poll() is None

    def send(self, sig: int) -> None:
        if self.alive():
            os.killpg(self.popen.pid, sig)

    def stop(self, sig: int = signal.SIGTERM, *, timeout: float) -> tuple[int | None, float]:
        """Send `sig`, wait up to `timeout`: (exit code or None if still running, seconds taken)."""
        started = time.monotonic()
        self.send(sig)
        try:
            code = self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            code = None
        return code, time.monotonic() - started

    def kill(self) -> None:
        self.send(signal.SIGKILL)
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def lines(self) -> list[str]:
        return [line for line in self.output().splitlines() if line.strip()]

    def non_json_lines(self) -> list[str]:
        bad = []
        for line in self.lines():
            try:
                json.loads(line)
            except ValueError:
                bad.append(line)
        return bad


class ProcfileRunner:
    def __init__(self, procfile: Path, *, env: dict[str, str], cwd: Path, logs: Path) -> None:
        self.entries = read_procfile(procfile)
        self.env = env
        self.cwd = cwd
        self.logs = logs
        self.processes: list[Process] = []
        self._runs: dict[str, int] = {}

    def start(self, name: str) -> Process:
        number = self._runs[name] = self._runs.get(name, 0) + 1
        log = self.logs / f"{name}.{number}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                expand(self.entries[name], self.env),
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        process = Process(name=name, popen=popen, log=log)
        self.processes.append(process)
        return process

    def run(self, name: str, *, timeout: float) -> Process:
        """Start it and wait for it to finish (the release step)."""
        process = self.start(name)
        try:
            process.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            raise AssertionError(f"{name} did not finish within {timeout} s:\n{process.output()[-3000:]}")
        return process

    def kill_all(self) -> None:
        for process in self.processes:
            process.kill()
