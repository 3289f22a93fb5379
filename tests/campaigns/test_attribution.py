"""A buyer's first campaign is kept: a later link, or two /start updates at the same moment,
never replace it."""

import pytest

from campaigns.models import CampaignAttribution
from campaigns.services import Attributed, campaign_attribute
from conftest import run_concurrently
from tests.campaigns.factories import CampaignFactory
from tests.users.factories import UserFactory


@pytest.mark.django_db
def test_the_first_campaign_is_recorded():
    user, campaign = UserFactory(), CampaignFactory(slug="spring")

    assert campaign_attribute(user=user, slug="spring") == Attributed.ATTRIBUTED
    assert CampaignAttribution.objects.get(user=user).campaign == campaign


@pytest.mark.django_db
def test_a_later_campaign_does_not_replace_the_first():
    user = UserFactory()
    first, _second = CampaignFactory(slug="first"), CampaignFactory(slug="second")
    campaign_attribute(user=user, slug="first")

    outcome = campaign_attribute(user=user, slug="second")

    assert outcome == Attributed.KEPT
    assert CampaignAttribution.objects.get(user=user).campaign == first


@pytest.mark.django_db
def test_the_same_link_twice_gives_one_row():
    user = UserFactory()
    CampaignFactory(slug="ads")

    campaign_attribute(user=user, slug="ads")
    campaign_attribute(user=user, slug="ads")

    assert CampaignAttribution.objects.filter(user=user).count() == 1


@pytest.mark.django_db
def test_an_unknown_campaign_records_nothing():
    user = UserFactory()

    assert campaign_attribute(user=user, slug="nope") == Attributed.UNKNOWN
    assert not CampaignAttribution.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_starts_with_different_campaigns_keep_exactly_one():
    # given one user and ten campaign links opened at the same moment
    user = UserFactory()
    campaigns = [CampaignFactory(slug=f"race-{i}") for i in range(10)]

    # when all ten are recorded at once
    outcomes = run_concurrently(lambda i: campaign_attribute(user=user, slug=campaigns[i].slug), 10)

    # then exactly one was recorded and it is still the one kept
    assert sorted(outcomes).count(Attributed.ATTRIBUTED) == 1, outcomes
    assert set(outcomes) <= {Attributed.ATTRIBUTED, Attributed.KEPT}
    [row] = CampaignAttribution.objects.filter(user=user)
    assert campaigns[outcomes.index(Attributed.ATTRIBUTED)].pk == row.campaign_id
