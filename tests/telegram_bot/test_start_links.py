"""/start with campaign links, alone and combined with a promo code and an invitation, through
the bot's real handlers (the webhook view and the fake Bot API)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import CampaignAttribution
from promos.models import PromoCode
from referrals.models import Referral
from referrals.services import referral_code_for
from telegram_bot.models import BotSession
from tests.campaigns.factories import CampaignFactory
from tests.promos.factories import PromoCodeFactory
from tests.telegram_bot.support import said
from tests.users.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

EN = {"id": 700_901, "is_bot": False, "first_name": "Dan", "language_code": "en"}
REFERRER_ID = 700_902


def came_with(telegram_id: int) -> str | None:
    row = CampaignAttribution.objects.filter(user__telegram_id=telegram_id).select_related("campaign").first()
    return row.campaign.slug if row else None


@pytest.fixture
def referrer_code(db):
    referrer = UserFactory(telegram_id=REFERRER_ID, date_joined=timezone.now() - timedelta(days=9))
    return referral_code_for(user=referrer)


def test_a_campaign_link_records_the_campaign_and_shows_the_usual_welcome(bot):
    CampaignFactory(slug="spring-ads")

    welcome = said(bot("inject_command", EN, "start", "c_spring-ads"))

    assert "Hello, Dan!" in welcome
    assert came_with(EN["id"]) == "spring-ads"


def test_campaign_and_promo_in_one_link_do_both(bot, tariffs):
    CampaignFactory(slug="spring-ads")
    PromoCodeFactory(code="PROMO10", discount_percent=10)

    welcome = said(bot("inject_command", EN, "start", "c_spring-ads__promo_PROMO10"))

    assert "Promo code PROMO10 applied: −10 % off." in welcome
    assert came_with(EN["id"]) == "spring-ads"
    assert BotSession.objects.get(user__telegram_id=EN["id"]).promo_code == PromoCode.objects.get().code


def test_campaign_and_invitation_in_one_link_do_both(bot, referrer_code):
    CampaignFactory(slug="blog")

    welcome = said(bot("inject_command", EN, "start", f"ref_{referrer_code}__c_blog"))

    assert "You came with an invitation from a friend" in welcome
    assert came_with(EN["id"]) == "blog"
    assert Referral.objects.get().invited.telegram_id == EN["id"]


def test_all_three_in_one_link(bot, tariffs, referrer_code):
    CampaignFactory(slug="yt")
    PromoCodeFactory(code="X1", discount_percent=10)

    welcome = said(bot("inject_command", EN, "start", f"c_yt__promo_X1__ref_{referrer_code}"))

    assert "Promo code X1 applied" in welcome and "invitation from a friend" in welcome
    assert came_with(EN["id"]) == "yt"


def test_a_second_campaign_link_keeps_the_first_campaign(bot):
    CampaignFactory(slug="first")
    CampaignFactory(slug="second")
    bot("inject_command", EN, "start", "c_first")

    bot("inject_command", EN, "start", "c_second")

    assert came_with(EN["id"]) == "first"


@pytest.mark.parametrize("payload", ["c_nope", "c_", "c_BAD!", "x" * 70, "c_a__c_b__c_c" + "_" * 60])
def test_a_malformed_or_unknown_link_still_greets_and_records_nothing(bot, payload):
    CampaignFactory(slug="a")

    welcome = said(bot("inject_command", EN, "start", payload))

    assert "Hello, Dan!" in welcome
    assert came_with(EN["id"]) is None
