"""The dashboard's charts as server-side SVG geometry: every coordinate a plain-number
string, so no language's decimal mark can reach an SVG attribute."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from django.utils.translation import get_language, gettext

from payments.dashboard.facts import Facts
from payments.models import Payment

PALETTE = ("#417690", "#e0a526", "#5b9a68", "#b35c44", "#7a5ea8", "#3f8f9e", "#c77a9b", "#8c8c3a")
TOPUP_SERIES = "topup"


def _n(value: float) -> str:
    """A coordinate for an SVG attribute: a dot decimal whatever the language."""
    return f"{value:.2f}".rstrip("0").rstrip(".") if value % 1 else str(int(value))


@dataclass(frozen=True)
class Segment:
    x: str
    y: str
    width: str
    height: str
    color: str
    title: str


@dataclass(frozen=True)
class Tick:
    x: str
    label: str
    anchor: str


def _ticks(days: list[date], *, x_of: Callable[[int], float]) -> list[Tick]:
    if not days:
        return []
    picks = sorted({0, len(days) // 2, len(days) - 1})
    anchors = {0: "start", len(days) - 1: "end"}
    return [Tick(x=_n(x_of(i)), label=days[i].isoformat(), anchor=anchors.get(i, "middle")) for i in picks]


@dataclass(frozen=True)
class RevenueChart:
    width: int
    height: int
    baseline: str
    top: int
    segments: list[Segment]
    legend: list[dict]
    ticks: list[Tick]
    total: int


def _tariff_title(row: dict) -> str:
    """The tariff's title in the reader's language (the Russian one may be empty)."""
    if (get_language() or "").startswith("ru") and row["tariff__title_ru"]:
        return row["tariff__title_ru"]
    return row["tariff__title"] or "—"


def revenue_by_day_and_tariff(rows: list[dict]) -> tuple[dict[date, dict[str, int]], dict[str, str]]:
    """Stars paid through Telegram per day and per tariff (top-ups as one series of their
    own), and the tariffs' titles."""
    found: dict[date, dict[str, int]] = {}
    titles: dict[str, str] = {}
    for row in rows:
        if row["method"] != Payment.Method.STARS:
            continue
        series = TOPUP_SERIES if row["kind"] == Payment.Kind.TOPUP else str(row["tariff_id"])
        titles.setdefault(series, _tariff_title(row))
        day = found.setdefault(row["day"], {})
        day[series] = day.get(series, 0) + row["stars"]
    return found, titles


def revenue_chart(*, facts: Facts, width: int = 900, height: int = 240) -> RevenueChart:
    """Stacked bars: one per day, one coloured part per tariff."""
    period = facts.period
    by_day, titles = revenue_by_day_and_tariff(facts.sales_by_day)
    series = sorted({key for day in by_day.values() for key in day}, key=lambda key: (key == TOPUP_SERIES, key))
    colors = {key: PALETTE[index % len(PALETTE)] for index, key in enumerate(series)}
    names = {key: (gettext("Top-ups") if key == TOPUP_SERIES else titles.get(key, "—")) for key in series}
    days = period.day_list()
    top = max((sum(day.values()) for day in by_day.values()), default=0) or 1
    plot_height = height - 40
    step = width / len(days)
    segments = []
    for index, day in enumerate(days):
        y = plot_height + 10.0
        for key in series:
            stars = by_day.get(day, {}).get(key, 0)
            if not stars:
                continue
            part = plot_height * stars / top
            y -= part
            segments.append(
                Segment(
                    x=_n(index * step + 1),
                    y=_n(y),
                    width=_n(max(step - 2, 1)),
                    height=_n(part),
                    color=colors[key],
                    title=f"{day.isoformat()} · {names[key]}: {stars} XTR",
                )
            )
    legend = [{"color": colors[key], "name": names[key]} for key in series]
    return RevenueChart(
        width=width,
        height=height,
        baseline=_n(plot_height + 10),
        top=top if by_day else 0,
        segments=segments,
        legend=legend,
        ticks=_ticks(days, x_of=lambda i: i * step + step / 2),
        total=sum(sum(day.values()) for day in by_day.values()),
    )


@dataclass(frozen=True)
class Line:
    css: str
    points: str  # "x,y x,y …" for one <polyline> (a missing day breaks the line)


@dataclass(frozen=True)
class Dot:
    cx: str
    cy: str
    css: str
    title: str


@dataclass(frozen=True)
class SubscribersChart:
    width: int
    height: int
    baseline: str
    top: int
    lines: list[Line]
    dots: list[Dot]
    ticks: list[Tick]
    days_counted: int
    days: int


def subscribers_chart(*, facts: Facts, width: int = 900, height: int = 240) -> SubscribersChart:
    """Active and paid subscribers at the end of each day of the period (days without a
    daily count are left out; today is counted live)."""
    days = facts.period.day_list()
    counts = [facts.subscribers_on(day) for day in days]
    top = max((count.active for count in counts if count), default=0) or 1
    plot_height = height - 40
    step = width / len(days)

    def x_of(index: int) -> float:
        return index * step + step / 2

    def y_of(value: int) -> float:
        return plot_height + 10 - plot_height * value / top

    lines, dots = [], []
    for css, value_of in (("active", lambda c: c.active), ("paid", lambda c: c.paid_active)):
        run: list[str] = []
        for index, count in enumerate(counts):
            if count is None:
                if len(run) > 1:
                    lines.append(Line(css=css, points=" ".join(run)))
                run = []
                continue
            x, y = x_of(index), y_of(value_of(count))
            run.append(f"{_n(x)},{_n(y)}")
            dots.append(Dot(cx=_n(x), cy=_n(y), css=css, title=f"{days[index].isoformat()}: {value_of(count)}"))
        if len(run) > 1:
            lines.append(Line(css=css, points=" ".join(run)))
    return SubscribersChart(
        width=width,
        height=height,
        baseline=_n(plot_height + 10),
        top=top if any(counts) else 0,
        lines=lines,
        dots=dots,
        ticks=_ticks(days, x_of=x_of),
        days_counted=sum(1 for count in counts if count),
        days=len(days),
    )
