"""Fixtures for broadcast tests: a fresh Telegram client per test, fast limits, buyers."""

from __future__ import annotations

import io
import struct
import subprocess

import pytest
import segno

from core.background import process_label
from integrations.telegram import reset_client
from tests.runtime.conftest import (  # noqa: F401 - fixtures: the real processes, their database, the broker
    broker,
    embedded_worker,
    migrated_sqlite,
    process_database_url,
    processes,
    shop_env,
)


@pytest.fixture(autouse=True)
def fresh_client(settings):
    """Settings change between tests: every test starts and ends without a client; limits high
    enough that only the behaviour under test is paced."""
    settings.TELEGRAM_OUTBOUND_MAX_PER_SECOND = 1000
    settings.TELEGRAM_OUTBOUND_PER_CHAT_PER_SECOND = 1000
    reset_client()
    yield
    reset_client()


def png_picture() -> bytes:
    """A real PNG (a QR code drawn by segno)."""
    out = io.BytesIO()
    segno.make("https://example.com/offer", micro=False).save(out, kind="png", scale=4)
    return out.getvalue()


def png_of_size(width: int, height: int) -> bytes:
    """A PNG header claiming this size (enough for the checks, which read only the header)."""
    ihdr = struct.pack(">II", width, height) + b"\x08\x02\x00\x00\x00"
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + b"\x00" * 4


def dead_process_label() -> str:
    """host:pid of a process of this host that has exited (and been reaped)."""
    child = subprocess.Popen(["true"])  # noqa: S607 - a harmless command from PATH
    child.wait()
    return process_label().rsplit(":", 1)[0] + f":{child.pid}"
