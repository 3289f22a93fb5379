"""The embedded default must survive the bot and the web server writing at once:
WAL, a busy timeout and IMMEDIATE transactions, never "database is locked"."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_concurrent_writers_on_a_sqlite_file_grant_once_and_never_lock(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'shop.sqlite3'}"
    result = subprocess.run(
        [sys.executable, str(ROOT / "tests/payments/sqlite_race_script.py")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary == {
        "grants": 1,
        "ledger_rows": 1,
        "spends_ok": 5,
        "spends_refused": ["InsufficientBalance"],
        "balance": 0,
    }
