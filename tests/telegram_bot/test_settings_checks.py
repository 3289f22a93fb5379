"""The texts the bot sends as one message (TERMS_TEXT, PRIVACY_TEXT, PAYSUPPORT_TEXT) are checked
when a process starts: one that Telegram would refuse stops it with a message naming the setting."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from core.checks import raise_config_errors
from telegram_bot.checks import single_message_texts
from tests.test_project import ROOT, manage

TOO_LONG = "x" * 4097


def ids(errors) -> list[str]:
    return [error.id for error in errors]


@pytest.mark.parametrize("name", ["TERMS_TEXT", "PRIVACY_TEXT", "PAYSUPPORT_TEXT"])
def test_a_text_longer_than_one_message_is_an_error_naming_the_setting(settings, name):
    setattr(settings, name, TOO_LONG)

    [error] = single_message_texts()

    assert error.id == "telegram_bot.E001"
    assert error.msg.startswith(f"{name} is 4097 characters long") and "4096" in error.msg


def test_the_length_is_counted_in_utf16_code_units_as_telegram_counts(settings):
    settings.TERMS_TEXT = "😀" * 2048  # 2048 characters, 4096 UTF-16 code units: fits
    settings.PRIVACY_TEXT = "😀" * 2048 + "."  # 4097 units

    assert ids(single_message_texts()) == ["telegram_bot.E001"]
    assert "PRIVACY_TEXT is 4097" in single_message_texts()[0].msg


def test_texts_that_fit_and_unset_texts_pass(settings):
    settings.TERMS_TEXT = "  " + "x" * 4096 + "\n"  # Telegram trims the outer whitespace
    settings.PRIVACY_TEXT = "Short & <sweet>"
    settings.PAYSUPPORT_TEXT = ""  # the built-in text

    assert single_message_texts() == []


def test_a_text_of_only_whitespace_is_an_error(settings):
    settings.PAYSUPPORT_TEXT = " \n "

    assert ids(single_message_texts()) == ["telegram_bot.E002"]


def test_manage_py_check_reports_it(settings):
    settings.TERMS_TEXT = TOO_LONG

    with pytest.raises(SystemCheckError, match=r"telegram_bot\.E001.*TERMS_TEXT is 4097"):
        call_command("check")


def test_the_web_process_refuses_to_start_with_it(settings):
    settings.TERMS_TEXT = TOO_LONG

    with pytest.raises(ImproperlyConfigured, match="TERMS_TEXT is 4097 characters long"):
        raise_config_errors()


@pytest.mark.slow
@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "manage.py", "check"],
        [sys.executable, "manage.py", "runbot"],
        [sys.executable, "-c", "import config.wsgi"],  # what gunicorn imports
    ],
    ids=["check", "runbot", "wsgi"],
)
def test_every_process_stops_at_startup_with_the_message(command):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(DJANGO_DEBUG="true", TERMS_TEXT=TOO_LONG)

    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)

    assert result.returncode != 0
    assert "TERMS_TEXT is 4097 characters long" in result.stderr


def test_the_shipped_settings_pass():
    result = manage("check", DJANGO_DEBUG="true")

    assert result.returncode == 0, result.stderr
