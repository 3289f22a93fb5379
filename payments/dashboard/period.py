"""The dashboard's period: whole days (UTC) from a preset or two dates, and the period before it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

MAX_PERIOD_DAYS = 731  # two years: the longest range the page answers quickly


def _month_start(day: date) -> date:
    return day.replace(day=1)


PRESETS: dict[str, tuple[object, Callable[[date], tuple[date, date]]]] = {
    "7d": (_("Last 7 days"), lambda today: (today - timedelta(days=6), today)),
    "30d": (_("Last 30 days"), lambda today: (today - timedelta(days=29), today)),
    "90d": (_("Last 90 days"), lambda today: (today - timedelta(days=89), today)),
    "this_month": (_("This month"), lambda today: (_month_start(today), today)),
    "last_month": (
        _("Last month"),
        lambda today: (_month_start(_month_start(today) - timedelta(days=1)), _month_start(today) - timedelta(days=1)),
    ),
    "365d": (_("Last 365 days"), lambda today: (today - timedelta(days=364), today)),
}
DEFAULT_PRESET = "30d"
CUSTOM = "custom"


@dataclass(frozen=True)
class Period:
    """Whole days from `first` to `last`, both included (UTC, like the rest of the admin)."""

    first: date
    last: date
    preset: str = CUSTOM

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def start(self) -> datetime:
        return timezone.make_aware(datetime.combine(self.first, time.min))

    @property
    def end(self) -> datetime:
        """The first moment after the period."""
        return timezone.make_aware(datetime.combine(self.last + timedelta(days=1), time.min))

    def previous(self) -> Period:
        return Period(first=self.first - timedelta(days=self.days), last=self.first - timedelta(days=1), preset=CUSTOM)

    def day_list(self) -> list[date]:
        return [self.first + timedelta(days=offset) for offset in range(self.days)]


def period_preset(key: str, *, today: date) -> Period:
    first, last = PRESETS[key][1](today)
    return Period(first=first, last=last, preset=key)


def period_from_query(query, *, today: date | None = None) -> tuple[Period, list[str]]:
    """The period a dashboard URL asks for: ?preset=30d, or ?from=YYYY-MM-DD&to=YYYY-MM-DD
    (the older ?days=30 / ?days=90 links are presets too). Anything unusable gives the
    default period and a message saying why, never an error page."""
    today = today or timezone.localdate()
    start_text, end_text = (query.get("from") or "").strip(), (query.get("to") or "").strip()
    if start_text or end_text:
        return _custom_period(start_text, end_text, today=today)
    key = query.get("preset") or (f"{query['days']}d" if query.get("days") else DEFAULT_PRESET)
    if key not in PRESETS:
        return period_preset(DEFAULT_PRESET, today=today), [gettext("Unknown period; showing the last 30 days.")]
    return period_preset(key, today=today), []


def _custom_period(start_text: str, end_text: str, *, today: date) -> tuple[Period, list[str]]:
    fallback = period_preset(DEFAULT_PRESET, today=today)
    try:
        first = date.fromisoformat(start_text) if start_text else None
        last = date.fromisoformat(end_text) if end_text else today
    except ValueError:
        return fallback, [gettext("Dates are written as YYYY-MM-DD; showing the last 30 days.")]
    if first is None:
        return fallback, [gettext("Give the first day of the period; showing the last 30 days.")]
    if first > last:
        return fallback, [gettext("The period starts after it ends; showing the last 30 days.")]
    if first > today:
        return fallback, [gettext("The period is in the future; showing the last 30 days.")]
    notes = []
    if last > today:
        last = today
        notes.append(gettext("The period ends today: later days have no data yet."))
    period = Period(first=first, last=last, preset=CUSTOM)
    if period.days > MAX_PERIOD_DAYS:
        return fallback, [
            gettext("Choose at most %(days)s days; showing the last 30 days.") % {"days": MAX_PERIOD_DAYS}
        ]
    return period, notes
