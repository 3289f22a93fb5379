"""One day's figures for the owner's daily summary, read from the dashboard's own facts (the
same queries the page runs for a one-day period), so the summary and the page always agree."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime

from django.db import transaction

from payments.dashboard.facts import Facts
from payments.dashboard.period import Period


@dataclass(frozen=True)
class DayFigures:
    net_revenue: int  # the "Net revenue" card: Stars received minus Stars refunded through Telegram
    refunded_stars: int
    new_buyers: int
    returning_buyers: int
    renewed: int  # buyers who paid for a subscription again (the renewal rate's "renewed")
    auto_renewals: int  # Star subscription periods Telegram charged by itself
    cancellations: int  # auto-renewals canceled
    lapsed: int  # paid subscriptions that ran out, not renewed
    refunds: int
    trials_started: int
    trials_converted: int  # of those trials, the buyers who paid afterwards (up to now)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def day_figures(day: date, *, now: datetime | None = None) -> DayFigures:
    """The dashboard's figures for the period of that one day (its days are UTC, like the page's)."""
    with transaction.atomic():  # one snapshot of the data, as the page reads it
        facts = Facts(period=Period(first=day, last=day), now=now)
        return DayFigures(
            net_revenue=facts.net_revenue.current,
            refunded_stars=facts.refunds.current.stars,
            new_buyers=facts.buyers.current.new,
            returning_buyers=facts.buyers.current.returning,
            renewed=facts.buyers.current.renewed,
            auto_renewals=facts.auto_renewal.current.renewals,
            cancellations=facts.auto_renewal.current.cancellations,
            lapsed=facts.lapsed.current,
            refunds=facts.refunds.current.count,
            trials_started=facts.trials.current.started,
            trials_converted=facts.trials.current.converted,
        )
