"""Helpers for tests of the production configuration: config/settings.py
evaluated with an environment of the test's own, `manage.py` in a process
with one, and `.env.example` read as the example production environment."""

from __future__ import annotations

import os
import runpy
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import environ

ROOT = Path(__file__).resolve().parents[2]
SETTINGS_FILE = ROOT / "config" / "settings.py"
ENV_EXAMPLE = ROOT / ".env.example"
# What a process needs from the machine, not from the shop's configuration.
MACHINE_VARIABLES = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH", "SYSTEMROOT")


def machine_env() -> dict[str, str]:
    return {name: os.environ[name] for name in MACHINE_VARIABLES if name in os.environ}


def load_settings(monkeypatch, env: dict[str, str]) -> dict[str, Any]:
    """config/settings.py's values with exactly `env` (plus the machine's basics)
    as the environment, and no `.env` file read."""
    for name in list(os.environ):
        if name not in MACHINE_VARIABLES:
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(environ.Env, "read_env", classmethod(lambda cls, *args, **kwargs: None))
    return runpy.run_path(str(SETTINGS_FILE))


def manage(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    """`manage.py ARGS` with exactly `env` (the project's `.env`, if any, is still read)."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**machine_env(), "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def read_env_example() -> dict[str, str]:
    """NAME=value lines of .env.example (comments and blank lines skipped)."""
    values: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, value = line.partition("=")
        values[name.strip()] = value.strip()
    return values


# Secrets the example leaves empty on purpose (a copied example refuses to start).
EXAMPLE_SECRETS = ("DJANGO_SECRET_KEY", "METRICS_TOKEN", "TELEGRAM_WEBHOOK_SECRET", "POSTGRES_PASSWORD")


def example_production_env(**overrides: str) -> dict[str, str]:
    """The example production environment with its empty secrets filled in."""
    env = read_env_example()
    for name in EXAMPLE_SECRETS:
        if name in env and not env[name]:
            env[name] = secrets.token_urlsafe(50)
    env.update(overrides)
    return env
