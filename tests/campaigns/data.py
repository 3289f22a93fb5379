"""A known shop for the campaign figures: who came with which link, and what they did after.
The expected figures are counted by hand in EXPECTED (not by the code under test)."""

from __future__ import annotations

from datetime import timedelta
from itertools import count

from django.utils import timezone

from campaigns.models import CampaignAttribution
from campaigns.services import campaign_attribute
from payments.gateways.free import trial_start
from payments.models import Payment, TrialClaim
from payments.refunds import refund_book
from tests.campaigns.factories import CampaignFactory
from tests.payments.factories import PaymentFactory
from tests.payments.helpers import pay
from tests.users.factories import UserFactory

_charges = count(1)

# Campaign "spring" (cost 300 Stars):
#   ann   came, took the trial, bought 1 month (100)             -> start, trial, first purchase, 100
#   boris came 40 days ago and bought 3 months (250) then; the
#         purchase was refunded 39 days ago                          -> start, first purchase, 250, refund 250
#   vera  came and did nothing                                   -> start
#   gleb  bought 1 month (100) before he came, then again (100)  -> start, 100 (not a first purchase)
# Campaign "blog" (no cost): dina came, took the trial           -> start, trial
# Nobody's: egor bought 1 month (100) without a campaign; ann opened the blog link later (kept spring).
EXPECTED = {
    "spring": {
        "starts": 4,
        "trials": 1,
        "first_purchases": 2,
        "revenue": 450,
        "refunds": 1,
        "refunded_stars": 250,
        "cost_per_buyer": 150.0,  # 300 / 2
        "return_percent": -33.3,  # (450 - 250 - 300) / 300
    },
    "blog": {
        "starts": 1,
        "trials": 1,
        "first_purchases": 0,
        "revenue": 0,
        "refunds": 0,
        "refunded_stars": 0,
        "cost_per_buyer": None,
        "return_percent": None,
    },
}
# The last 30 days only: boris came, paid and was refunded before them.
EXPECTED_LAST_30_DAYS = {
    "spring": {
        **EXPECTED["spring"],
        "starts": 3,
        "first_purchases": 1,
        "revenue": 200,
        "refunds": 0,
        "refunded_stars": 0,
    },
    "blog": EXPECTED["blog"],
}


def _buy(user, tariff):
    payment = PaymentFactory(user=user, tariff=tariff)
    pay(payment, charge_id=f"campaign-charge-{next(_charges)}")
    payment.refresh_from_db()
    return payment


def build_campaign_shop(tariffs) -> dict:
    spring = CampaignFactory(name="Spring ads", slug="spring", cost_stars=300)
    blog = CampaignFactory(name="Blog post", slug="blog", cost_stars=0)
    month, quarter = tariffs["1m"], tariffs["3m"]
    days_ago = lambda days: timezone.now() - timedelta(days=days)  # noqa: E731

    ann = UserFactory(first_name="Ann")
    campaign_attribute(user=ann, slug="spring")
    trial_start(user=ann)
    _buy(ann, month)
    campaign_attribute(user=ann, slug="blog")

    boris = UserFactory(first_name="Boris")
    campaign_attribute(user=boris, slug="spring")
    CampaignAttribution.objects.filter(user=boris).update(attributed_at=days_ago(40))
    bought = _buy(boris, quarter)
    Payment.objects.filter(pk=bought.pk).update(paid_at=days_ago(40), created_at=days_ago(40))
    refund_book(payment=bought, reason="campaign test", returned_by_telegram=True)
    Payment.objects.filter(pk=bought.pk).update(refunded_at=days_ago(39))

    vera = UserFactory(first_name="Vera")
    campaign_attribute(user=vera, slug="spring")

    gleb = UserFactory(first_name="Gleb")
    before = _buy(gleb, month)
    Payment.objects.filter(pk=before.pk).update(paid_at=days_ago(2))
    campaign_attribute(user=gleb, slug="spring")
    _buy(gleb, month)

    dina = UserFactory(first_name="Dina")
    campaign_attribute(user=dina, slug="blog")
    trial_start(user=dina)

    egor = UserFactory(first_name="Egor")
    _buy(egor, month)

    assert TrialClaim.objects.count() == 2
    return {"spring": spring, "blog": blog}
