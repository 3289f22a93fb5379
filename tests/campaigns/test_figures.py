"""Each campaign's figures equal the ones counted by hand for a known shop (tests/campaigns/data.py)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from payments.dashboard.campaigns import campaign_figures
from tests.campaigns.data import EXPECTED, EXPECTED_LAST_30_DAYS, build_campaign_shop
from tests.campaigns.factories import CampaignFactory

pytestmark = pytest.mark.django_db

FIELDS = list(EXPECTED["spring"])


@pytest.fixture(autouse=True)
def trial_on(settings):
    settings.TRIAL_DAYS = 3


def figures_by_slug(**window) -> dict:
    return {f.slug: {name: getattr(f, name) for name in FIELDS} for f in campaign_figures(**window)}


def test_all_time_figures_equal_the_hand_counted_ones(tariffs):
    build_campaign_shop(tariffs)

    assert figures_by_slug() == EXPECTED


def test_a_window_counts_each_event_in_it_and_weighs_the_whole_cost(tariffs):
    build_campaign_shop(tariffs)
    now = timezone.now()

    assert figures_by_slug(since=now - timedelta(days=30), until=now + timedelta(minutes=1)) == EXPECTED_LAST_30_DAYS


def test_a_campaign_nobody_came_with_shows_zeros(tariffs):
    build_campaign_shop(tariffs)
    empty = CampaignFactory(slug="empty", cost_stars=100)

    [figures] = campaign_figures(campaign_ids=[empty.pk])
    assert (figures.starts, figures.revenue, figures.cost_per_buyer, figures.return_percent) == (0, 0, None, -100.0)


def test_the_figures_cost_four_queries_whatever_the_number_of_campaigns(tariffs, django_assert_num_queries):
    build_campaign_shop(tariffs)

    with django_assert_num_queries(4):
        campaign_figures()
