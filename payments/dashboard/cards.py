"""The KPI cards: each a function from `Facts` to a `Kpi` (title, unit, formula as shown to
the owner, current and previous value); KPI_CARDS is their order on the page. A new card
is one more function in the list (and a fact group in facts.py if it needs new figures)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.urls import reverse
from django.utils import formats
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from payments.dashboard.facts import Facts
from payments.subscribers import SubscriberCount

# Units: counts get the right plural in the reader's language; ratios a fixed phrase.
COUNT_UNITS = (
    "stars",
    "buyers",
    "subscribers",
    "subscriptions",
    "refunds",
    "trials",
    "stars_per_month",
    "renewals",
    "cancellations",
)
RATIO_UNITS = {
    "percent": "%",
    "stars_per_subscriber": _("Stars per subscriber"),
    "stars_per_buyer": _("Stars per paying buyer"),
}


def _count_unit(unit: str, value: int) -> str:
    plurals = {
        "stars": lambda n: ngettext("Star", "Stars", n),
        "buyers": lambda n: ngettext("buyer", "buyers", n),
        "subscribers": lambda n: ngettext("subscriber", "subscribers", n),
        "subscriptions": lambda n: ngettext("subscription", "subscriptions", n),
        "refunds": lambda n: ngettext("refund", "refunds", n),
        "trials": lambda n: ngettext("trial", "trials", n),
        "stars_per_month": lambda n: ngettext("Star per month", "Stars per month", n),
        "renewals": lambda n: ngettext("renewal", "renewals", n),
        "cancellations": lambda n: ngettext("cancellation", "cancellations", n),
    }
    return plurals[unit](value)


def unit_label(unit: str, value: int | float | None) -> str:
    if unit in COUNT_UNITS:
        return _count_unit(unit, int(value) if isinstance(value, int) else 5)
    return str(RATIO_UNITS[unit])


@dataclass(frozen=True)
class Kpi:
    key: str
    title: object  # lazy text
    unit: str  # a key of COUNT_UNITS or RATIO_UNITS
    formula: object  # how it is counted, shown under the card
    current: int | float | None  # None: not known (no daily count kept for that day, nothing to divide by)
    previous: int | float | None = None
    compare: bool = True
    higher_is_better: bool = True
    link: str | None = None
    detail: str = ""

    @property
    def unit_label(self) -> str:
        return unit_label(self.unit, self.current)

    @property
    def is_rate(self) -> bool:
        return self.unit == "percent"

    @property
    def change(self) -> int | float | None:
        if not self.compare or self.current is None or self.previous is None:
            return None
        delta = self.current - self.previous
        return round(delta, 1) if isinstance(delta, float) else delta

    @property
    def change_percent(self) -> float | None:
        """Relative change (not for rates, whose change is in percentage points)."""
        if self.change is None or self.is_rate or not self.previous:
            return None
        return round(100 * self.change / self.previous, 1)

    @property
    def current_text(self) -> str:
        return _number(self.current)

    @property
    def previous_text(self) -> str:
        return _number(self.previous)

    @property
    def change_text(self) -> str:
        """The change with its sign, in the reader's number format ("+12", "−2,5")."""
        return _signed(self.change)

    @property
    def change_percent_text(self) -> str:
        return _signed(self.change_percent)

    @property
    def trend(self) -> str:
        """up / down / flat, and whether that is good news: for the card's colour."""
        if not self.change:
            return "flat"
        good = (self.change > 0) == self.higher_is_better
        return f"{'up' if self.change > 0 else 'down'} {'good' if good else 'bad'}"


def _number(value: int | float | None) -> str:
    if value is None:
        return "—"
    return formats.number_format(value, decimal_pos=1 if isinstance(value, float) else None)


def _signed(value: int | float | None) -> str:
    if value is None:
        return ""
    text = _number(abs(value))
    return f"+{text}" if value > 0 else f"−{text}" if value < 0 else text


def _ratio(numerator: int | float | None, denominator: int | float | None, *, percent: bool = False) -> float | None:
    if numerator is None or not denominator:
        return None
    return round((100 if percent else 1) * numerator / denominator, 1)


def _active(count: SubscriberCount | None) -> int | None:
    return count.active if count else None


def _paid_active(count: SubscriberCount | None) -> int | None:
    return count.paid_active if count else None


def _mrr(count: SubscriberCount | None) -> int | None:
    return count.mrr if count else None


def card_net_revenue(facts: Facts) -> Kpi:
    money = facts.money.current
    return Kpi(
        key="net_revenue",
        title=_("Net revenue"),
        unit="stars",
        formula=_(
            "Stars paid through Telegram in the period (subscriptions and top-ups) minus Stars refunded "
            "through Telegram in the period. Purchases from the balance spend Stars counted at their top-up."
        ),
        current=facts.net_revenue.current,
        previous=facts.net_revenue.previous,
        detail=gettext("%(received)s received, %(refunded)s refunded; %(balance)s spent from balances")
        % {
            "received": money.stars_received,
            "refunded": facts.refunds.current.stars,
            "balance": money.from_balance,
        },
    )


def card_refunds(facts: Facts) -> Kpi:
    refunds = facts.refunds.current
    return Kpi(
        key="refunds",
        title=_("Refunds"),
        unit="refunds",
        formula=_("Payments refunded in the period: Stars back through Telegram, or back to the balance."),
        current=refunds.count,
        previous=facts.refunds.previous.count,
        higher_is_better=False,
        detail=gettext("%(stars)s Stars to buyers, %(balance)s Stars to balances")
        % {"stars": refunds.stars, "balance": refunds.to_balance},
    )


def card_paying_buyers(facts: Facts) -> Kpi:
    return Kpi(
        key="paying_buyers",
        title=_("Paying buyers"),
        unit="buyers",
        formula=_("Buyers with at least one payment in the period, with Stars or from the balance."),
        current=facts.buyers.current.paying,
        previous=facts.buyers.previous.paying,
    )


def card_new_buyers(facts: Facts) -> Kpi:
    return Kpi(
        key="new_buyers",
        title=_("New buyers"),
        unit="buyers",
        formula=_("Paying buyers whose first payment ever is in the period."),
        current=facts.buyers.current.new,
        previous=facts.buyers.previous.new,
    )


def card_returning_buyers(facts: Facts) -> Kpi:
    return Kpi(
        key="returning_buyers",
        title=_("Returning buyers"),
        unit="buyers",
        formula=_("Paying buyers who had paid before the period (paying buyers − new buyers)."),
        current=facts.buyers.current.returning,
        previous=facts.buyers.previous.returning,
    )


def card_active_subscribers(facts: Facts) -> Kpi:
    end = facts.subscribers_at_end
    return Kpi(
        key="active_subscribers",
        title=_("Active subscribers"),
        unit="subscribers",
        formula=_(
            "Subscriptions running at the end of the period (trials included, disabled ones not); "
            "the trend compares with the end of the previous period. Past days come from the daily count."
        ),
        current=_active(end.current),
        previous=_active(end.previous),
    )


def card_mrr(facts: Facts) -> Kpi:
    end = facts.subscribers_at_end
    return Kpi(
        key="mrr",
        title=_("MRR"),
        unit="stars_per_month",
        formula=_(
            "Monthly recurring revenue at the end of the period: for every active subscription whose latest "
            "subscription payment moved money, that payment's Stars ÷ its tariff days × 30, added up."
        ),
        current=_mrr(end.current),
        previous=_mrr(end.previous),
        detail=gettext("%(paid)s paid subscriptions") % {"paid": _paid_active(end.current) or 0},
    )


def card_renewal_rate(facts: Facts) -> Kpi:
    renewed, lapsed = facts.buyers, facts.lapsed
    return Kpi(
        key="renewal_rate",
        title=_("Renewal rate"),
        unit="percent",
        formula=_(
            "Renewed ÷ (renewed + lapsed) × 100. Renewed: buyers who paid for a subscription in the period "
            "and had paid for one before it. Lapsed: subscribers who had paid for a subscription, whose "
            "subscription ran out in the period and who have not renewed since."
        ),
        current=_ratio(renewed.current.renewed, renewed.current.renewed + lapsed.current, percent=True),
        previous=_ratio(renewed.previous.renewed, renewed.previous.renewed + lapsed.previous, percent=True),
        detail=gettext("%(renewed)s renewed, %(lapsed)s lapsed")
        % {"renewed": renewed.current.renewed, "lapsed": lapsed.current},
    )


def card_churn(facts: Facts) -> Kpi:
    start = facts.subscribers_at_start
    return Kpi(
        key="churn",
        title=_("Churn"),
        unit="percent",
        formula=_(
            "Lapsed ÷ paid subscribers active at the start of the period × 100 (lapsed as in the renewal "
            "rate; the start from the daily count of the day before)."
        ),
        current=_ratio(facts.lapsed.current, _paid_active(start.current), percent=True),
        previous=_ratio(facts.lapsed.previous, _paid_active(start.previous), percent=True),
        higher_is_better=False,
    )


def card_arpu(facts: Facts) -> Kpi:
    end = facts.subscribers_at_end
    return Kpi(
        key="arpu",
        title=_("ARPU"),
        unit="stars_per_subscriber",
        formula=_("Net revenue ÷ active subscribers at the end of the period."),
        current=_ratio(facts.net_revenue.current, _active(end.current)),
        previous=_ratio(facts.net_revenue.previous, _active(end.previous)),
    )


def card_arppu(facts: Facts) -> Kpi:
    return Kpi(
        key="arppu",
        title=_("ARPPU"),
        unit="stars_per_buyer",
        formula=_("Net revenue ÷ paying buyers."),
        current=_ratio(facts.net_revenue.current, facts.buyers.current.paying),
        previous=_ratio(facts.net_revenue.previous, facts.buyers.previous.paying),
    )


def card_conversion(facts: Facts) -> Kpi:
    funnel = facts.funnel.current
    return Kpi(
        key="conversion",
        title=_("Invoice → paid"),
        unit="percent",
        formula=_("Stars invoices created in the period that were paid ÷ Stars invoices created in the period × 100."),
        current=funnel.conversion_percent,
        previous=facts.funnel.previous.conversion_percent,
        detail=gettext("%(invoices)s invoices → %(paid)s paid") % {"invoices": funnel.invoices, "paid": funnel.paid},
    )


def card_trials(facts: Facts) -> Kpi | None:
    if not facts.trial_offered:
        return None
    return Kpi(
        key="trials_started",
        title=_("Free trials started"),
        unit="trials",
        formula=_("Free trials taken in the period."),
        current=facts.trials.current.started,
        previous=facts.trials.previous.started,
    )


def card_trial_conversion(facts: Facts) -> Kpi | None:
    if not facts.trial_offered:
        return None
    trials = facts.trials.current
    return Kpi(
        key="trials_converted",
        title=_("Free trials → paid"),
        unit="percent",
        formula=_(
            "Of the free trials taken in the period, the share whose buyer paid for a subscription afterwards "
            "(up to now)."
        ),
        current=trials.conversion_percent,
        previous=facts.trials.previous.conversion_percent,
        detail=gettext("%(converted)s of %(started)s paid")
        % {"converted": trials.converted, "started": trials.started},
    )


def card_auto_renewing(facts: Facts) -> Kpi | None:
    if not facts.auto_renewal_offered:
        return None
    return Kpi(
        key="auto_renewing",
        title=_("Auto-renewing Star subscriptions"),
        unit="subscriptions",
        formula=_(
            "Telegram Star subscriptions that Telegram renews by itself, now (canceled ones still paid for "
            "are not counted)."
        ),
        current=facts.auto_renewing_now,
        compare=False,
        link=reverse("admin:payments_starsubscription_changelist") + "?status__exact=active",
    )


def card_auto_renewals(facts: Facts) -> Kpi | None:
    if not facts.auto_renewal_offered:
        return None
    return Kpi(
        key="auto_renewals",
        title=_("Automatic renewals"),
        unit="renewals",
        formula=_("Periods of Star subscriptions that Telegram charged by itself in the period."),
        current=facts.auto_renewal.current.renewals,
        previous=facts.auto_renewal.previous.renewals,
    )


def card_auto_renewal_cancellations(facts: Facts) -> Kpi | None:
    if not facts.auto_renewal_offered:
        return None
    return Kpi(
        key="auto_renewal_cancellations",
        title=_("Auto-renewal cancellations"),
        unit="cancellations",
        formula=_("Star subscriptions canceled in the period (by the buyer, an admin or a refund), not resumed since."),
        current=facts.auto_renewal.current.cancellations,
        previous=facts.auto_renewal.previous.cancellations,
        higher_is_better=False,
    )


def card_expiring_soon(facts: Facts) -> Kpi:
    return Kpi(
        key="expiring_soon",
        title=_("Expiring in 7 days"),
        unit="subscriptions",
        formula=_("Active subscriptions that run out within the next 7 days (from now, whatever the period)."),
        current=facts.expiring_soon,
        compare=False,
        link=reverse("admin:users_buyer_changelist") + "?subscription=expiring",
    )


# The cards, in the order the page shows them. A card function returns None to stay hidden.
KPI_CARDS: list[Callable[[Facts], Kpi | None]] = [
    card_net_revenue,
    card_paying_buyers,
    card_new_buyers,
    card_returning_buyers,
    card_active_subscribers,
    card_mrr,
    card_renewal_rate,
    card_churn,
    card_arpu,
    card_arppu,
    card_conversion,
    card_trials,
    card_trial_conversion,
    card_auto_renewing,
    card_auto_renewals,
    card_auto_renewal_cancellations,
    card_refunds,
    card_expiring_soon,
]


def kpi_cards(facts: Facts) -> list[Kpi]:
    return [card for card in (build(facts) for build in KPI_CARDS) if card is not None]
