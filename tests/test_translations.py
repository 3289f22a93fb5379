"""Every app's Russian catalog is complete, in step with the code, and compiled."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
CATALOGS = sorted(ROOT.glob("*/locale/ru/LC_MESSAGES/django.po"))


def msgids(po: Path) -> set[str]:
    out = subprocess.run(
        ["msgattrib", "--no-wrap", "--no-obsolete", str(po)], capture_output=True, text=True, check=True
    )
    return {line for line in out.stdout.splitlines() if line.startswith("msgid ")} - {'msgid ""'}


def test_there_are_catalogs():
    assert {po.parts[-5] for po in CATALOGS} >= {
        "telegram_bot",
        "notifications",
        "payments",
        "promos",
        "users",
        "subscriptions",
        "referrals",
        "api",
        "core",
        "templates",  # the project's own templates (LOCALE_PATHS)
    }


@pytest.mark.parametrize("po", CATALOGS, ids=lambda po: po.parts[-5])
def test_catalog_has_no_untranslated_or_fuzzy_message(po):
    untranslated = subprocess.run(
        ["msgattrib", "--untranslated", "--no-obsolete", str(po)], capture_output=True, text=True
    )
    fuzzy = subprocess.run(["msgattrib", "--only-fuzzy", "--no-obsolete", str(po)], capture_output=True, text=True)
    assert "msgid" not in untranslated.stdout.replace('msgid ""\nmsgstr ""', "", 1), untranslated.stdout
    assert "msgid" not in fuzzy.stdout, fuzzy.stdout


@pytest.mark.parametrize("po", CATALOGS, ids=lambda po: po.parts[-5])
def test_compiled_catalog_matches_its_source(po, tmp_path):
    compiled = tmp_path / "django.mo"
    subprocess.run(["msgfmt", "--check-format", "-o", str(compiled), str(po)], check=True)
    assert compiled.read_bytes() == po.with_suffix(".mo").read_bytes(), f"run msgfmt on {po} (or compilemessages)"


@pytest.mark.parametrize("po", CATALOGS, ids=lambda po: po.parts[-5])
def test_catalog_is_in_step_with_the_code(po, tmp_path):
    """makemessages on a copy of the app finds exactly the messages the catalog has."""
    app = po.parts[-5]
    copy = tmp_path / app
    shutil.copytree(ROOT / app, copy, ignore=shutil.ignore_patterns("locale", "__pycache__", "migrations"))
    (copy / "locale").mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DJANGO_DEBUG": "true"}
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "makemessages", "-l", "ru", "--no-location", "-v0"],
        cwd=copy,
        env=env,
        check=True,
    )
    fresh = copy / "locale" / "ru" / "LC_MESSAGES" / "django.po"
    assert msgids(fresh) == msgids(po), f"run makemessages in {app}/ and translate the new messages"


@pytest.mark.parametrize("po", CATALOGS, ids=lambda po: po.parts[-5])
def test_the_app_of_each_catalog_is_installed(po):
    """Django only reads the catalogs of installed apps, and those named in LOCALE_PATHS."""
    assert po.parts[-5] in settings.INSTALLED_APPS or po.parents[2] in [Path(p) for p in settings.LOCALE_PATHS]
