"""What each growth campaign brought: the people who came with its link first, and their
trials, first purchases, Stars and refunds from that moment on.

Definitions (the admin's campaign page, the dashboard and the CSV export all read these):
- starts: users whose first campaign link was this one (each counted once, when they came);
- trials: free trials those users started after they came;
- first purchases: those users' first payment that moved money (Payment.first_paid), made after
  they came; a buyer who had paid before the link is not a new buyer of the campaign;
- revenue: Stars those users paid through Telegram after they came (subscriptions, renewals and
  top-ups; purchases from the balance are left out, their Stars came in as a top-up), refunded
  later or not, mock payments never;
- refunds: how many of those payments were refunded, and their Stars;
- cost per buyer: the campaign's cost / first purchases; return on cost: (revenue - refunds -
  cost) / cost, in percent. Both need a cost (and the first one a buyer), and both are over the
  campaign's whole life: the cost is the whole campaign's.

With a window (the dashboard's period) the other figures count their own event in it: starts by
the moment of coming, trials by their start, first purchases and revenue by payment, refunds by
refund (of a payment made after coming).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, F, Q, Sum

from campaigns.models import Campaign, CampaignAttribution
from payments.models import Payment, TrialClaim
from payments.selectors import paid_payments

CAME_WITH = "user__campaign_attribution__campaign_id"
CAME_AT = "user__campaign_attribution__attributed_at"


@dataclass(frozen=True)
class CampaignFigures:
    campaign_id: int
    name: str
    slug: str
    cost: int
    starts: int = 0
    trials: int = 0
    first_purchases: int = 0
    revenue: int = 0
    refunds: int = 0
    refunded_stars: int = 0
    # Over the campaign's whole life, whatever the window: what its cost is weighed against.
    lifetime_buyers: int = 0
    lifetime_net: int = 0  # Stars through Telegram, less those refunded

    @property
    def net_revenue(self) -> int:
        return self.revenue - self.refunded_stars

    @property
    def cost_per_buyer(self) -> float | None:
        """The cost over every first purchase it brought (all time)."""
        if not self.cost or not self.lifetime_buyers:
            return None
        return round(self.cost / self.lifetime_buyers, 1)

    @property
    def return_percent(self) -> float | None:
        """(net revenue - cost) / cost, all time: 0 % pays the campaign back, 100 % doubles it."""
        if not self.cost:
            return None
        return round(100 * (self.lifetime_net - self.cost) / self.cost, 1)


def _window(field_name: str, since: datetime | None, until: datetime | None) -> Q:
    q = Q()
    if since is not None:
        q &= Q(**{f"{field_name}__gte": since})
    if until is not None:
        q &= Q(**{f"{field_name}__lt": until})
    return q


def campaign_figures(
    *, campaign_ids: list[int] | None = None, since: datetime | None = None, until: datetime | None = None
) -> list[CampaignFigures]:
    """Every campaign's figures (or these campaigns'), newest campaign first: four queries
    whatever the number of campaigns and buyers."""
    campaigns = Campaign.objects.order_by("-created_at", "-pk")
    if campaign_ids is not None:
        campaigns = campaigns.filter(pk__in=campaign_ids)
    rows = {c.pk: {"name": c.name, "slug": c.slug, "cost": c.cost_stars} for c in campaigns}
    if not rows:
        return []
    ids = list(rows)

    starts = (
        CampaignAttribution.objects.filter(_window("attributed_at", since, until), campaign_id__in=ids)
        .order_by()
        .values("campaign_id")
        .annotate(count=Count("pk"))
    )
    for row in starts:
        rows[row["campaign_id"]]["starts"] = row["count"]

    trials = (
        TrialClaim.objects.filter(
            _window("created_at", since, until), **{f"{CAME_WITH}__in": ids, "created_at__gte": F(CAME_AT)}
        )
        .order_by()
        .values(CAME_WITH)
        .annotate(count=Count("pk"))
    )
    for row in trials:
        rows[row[CAME_WITH]]["trials"] = row["count"]

    # One scan of these buyers' payments gives the window's figures and the whole life's (what the
    # cost is weighed against).
    paid_in = _window("paid_at", since, until)
    refunded = Q(status=Payment.Status.REFUNDED, refunded_at__isnull=False)
    refunded_in = refunded & _window("refunded_at", since, until)
    stars, first = Q(method=Payment.Method.STARS), Q(first_paid=True)
    money = (
        paid_payments()
        .filter(**{f"{CAME_WITH}__in": ids, "paid_at__gte": F(CAME_AT)})
        .order_by()
        .values(CAME_WITH)
        .annotate(
            first_purchases=Count("pk", filter=paid_in & first),
            revenue=Sum("amount", filter=paid_in & stars, default=0),
            refunds=Count("pk", filter=refunded_in),
            refunded_stars=Sum("amount", filter=refunded_in & stars, default=0),
            lifetime_buyers=Count("pk", filter=first),
            lifetime_net=Sum("amount", filter=stars & ~refunded, default=0),
        )
    )
    for row in money:
        campaign_id = row.pop(CAME_WITH)
        rows[campaign_id].update(row)

    return [CampaignFigures(campaign_id=pk, **values) for pk, values in rows.items()]
