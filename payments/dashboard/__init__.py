"""Reads for the admin's dashboard: what the shop earned and how its buyers and
subscribers behaved over a chosen period, next to the period of the same length
just before it.

How it is built, so that a card is easy to add:
- `Period` is the chosen range of whole days (UTC), from a preset or two dates.
- `Facts` holds the figures, in groups; each group is one aggregate query over both
  periods at once, run the first time a card asks for it (cached for the page).
  The page therefore costs the same number of queries at a hundred payments and
  at a million, over the covering indexes on Payment.
- `KPI_CARDS` lists the functions that turn facts into `Kpi` cards (title, unit,
  formula, current and previous value). A new card is one more function there,
  and a new fact group if it needs figures nobody reads yet.

Every figure leaves out mock payments (completed without money).
"""

from payments.dashboard.cards import KPI_CARDS, Kpi, kpi_cards
from payments.dashboard.daily import DayFigures, day_figures
from payments.dashboard.facts import Facts, Pair
from payments.dashboard.page import (
    Dashboard,
    attention_counts,
    dashboard_build,
    last_reconciliation,
    presets_for_page,
    star_balance,
    star_balance_refresh,
)
from payments.dashboard.period import DEFAULT_PRESET, MAX_PERIOD_DAYS, PRESETS, Period, period_from_query
from payments.dashboard.totals import payment_counts, stars_revenue_by_kind

__all__ = [
    "DEFAULT_PRESET",
    "KPI_CARDS",
    "MAX_PERIOD_DAYS",
    "PRESETS",
    "Dashboard",
    "DayFigures",
    "Facts",
    "Kpi",
    "Pair",
    "Period",
    "attention_counts",
    "dashboard_build",
    "day_figures",
    "kpi_cards",
    "last_reconciliation",
    "payment_counts",
    "period_from_query",
    "presets_for_page",
    "star_balance",
    "star_balance_refresh",
    "stars_revenue_by_kind",
]
