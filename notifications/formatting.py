"""Dates and numbers as a buyer reads them: in their language and the shop's
time zone (SHOP_TIME_ZONE), with Django's localization. Call these inside
`translation.override(language)`."""

from __future__ import annotations

import zoneinfo
from datetime import datetime

from django.conf import settings
from django.utils import formats, timezone, translation

# "29 декабря 2026" / "29 December 2026": the day first in both languages; Russian
# takes the month in the genitive (Django's "E").
DATE_FORMATS = {"ru": "j E Y", "en": "j F Y"}


def shop_time_zone() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(settings.SHOP_TIME_ZONE)


def format_date(value: datetime) -> str:
    """The calendar date in the shop's time zone, in the active language."""
    local = timezone.localtime(value, shop_time_zone())
    return formats.date_format(local, DATE_FORMATS.get(translation.get_language() or "ru", "j F Y"))


def format_number(value: int) -> str:
    """Grouped the way the language writes it: 1 000 (ru), 1,000 (en)."""
    return formats.number_format(value, use_l10n=True, force_grouping=True)


def format_stars(amount: int) -> str:
    return f"{format_number(amount)} ⭐"
