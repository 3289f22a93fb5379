"""The campaigns in the admin: the start link, the hand-counted figures on the campaign's page,
in the list, on the dashboard and in the CSV export."""

import csv
import io
import re

import pytest
from django.urls import reverse

from campaigns.models import Campaign
from tests.admin.conftest import staff_in
from tests.campaigns.data import EXPECTED, build_campaign_shop
from tests.campaigns.factories import CampaignFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def trial_on(settings):
    settings.TRIAL_DAYS = 3


def csv_rows(response) -> list[list[str]]:
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    text = b"".join(response.streaming_content).decode("utf-8").removeprefix("\ufeff")
    return list(csv.reader(io.StringIO(text)))


def figure(html: str, name: str) -> str:
    return re.search(rf'id="figure-{name}" data-value="([^"]*)"', html).group(1)


def test_the_campaign_page_shows_the_hand_counted_figures(admin_client_for, finance_user, tariffs):
    campaigns = build_campaign_shop(tariffs)

    html = admin_client_for(finance_user).get(reverse("admin:campaigns_campaign_change", args=[campaigns["spring"].pk]))
    text = html.content.decode()

    for name, value in EXPECTED["spring"].items():
        assert figure(text, name) == ("" if value is None else str(value)), name


def test_the_start_link_names_the_bot_as_telegram_knows_it(admin_client_for, finance_user, fake_telegram):
    campaign = CampaignFactory(slug="spring")

    text = admin_client_for(finance_user).get(reverse("admin:campaigns_campaign_change", args=[campaign.pk]))

    assert "https://t.me/fake_stars_shop_bot?start=c_spring" in text.content.decode()


def test_without_telegram_the_page_shows_the_start_parameter(admin_client_for, finance_user, settings):
    settings.TELEGRAM_BOT_TOKEN = ""
    campaign = CampaignFactory(slug="spring")

    text = admin_client_for(finance_user).get(reverse("admin:campaigns_campaign_changelist")).content.decode()

    assert "?start=c_spring" in text and "username is unknown" in text
    assert campaign.name in text


def test_the_export_holds_each_campaigns_figures(admin_client_for, finance_user, tariffs):
    build_campaign_shop(tariffs)

    rows = csv_rows(admin_client_for(finance_user).get(reverse("admin:campaigns_campaign_export")))

    header, *body = rows
    assert header[:3] == ["name", "slug", "cost (Stars)"]
    by_slug = {row[1]: row for row in body}
    spring = EXPECTED["spring"]
    assert by_slug["spring"][2:] == ["300", *("" if v is None else str(v) for v in spring.values())]
    assert by_slug["blog"][5] == "0"


def test_the_export_neutralises_a_name_a_spreadsheet_would_run(admin_client_for, finance_user):
    CampaignFactory(name='=HYPERLINK("http://evil","x")', slug="evil")

    [_header, row] = csv_rows(admin_client_for(finance_user).get(reverse("admin:campaigns_campaign_export")))

    assert row[0] == '\'=HYPERLINK("http://evil","x")'


def test_the_dashboard_lists_the_campaigns_of_the_period(admin_client_for, finance_user, tariffs):
    build_campaign_shop(tariffs)

    page = admin_client_for(finance_user).get(reverse("admin:payments_payment_dashboard"), {"preset": "30d"})

    [spring] = [row for row in page.context["data"].by_campaign if row.slug == "spring"]
    assert (spring.starts, spring.first_purchases, spring.revenue, spring.cost_per_buyer) == (3, 1, 200, 150.0)
    assert 'id="campaign-spring"' in page.content.decode()


def test_a_slug_is_checked_when_created_and_fixed_afterwards(admin_client_for, finance_user):
    client = admin_client_for(finance_user)
    add = reverse("admin:campaigns_campaign_add")

    refused = client.post(add, {"name": "Ads", "slug": "Bad_Slug", "cost_stars": "0", "note": ""})
    created = client.post(add, {"name": "Ads", "slug": "ads-1", "cost_stars": "500", "note": ""})
    campaign = Campaign.objects.get()
    client.post(
        reverse("admin:campaigns_campaign_change", args=[campaign.pk]),
        {"name": "Ads", "slug": "other", "cost_stars": "600", "note": ""},
    )

    assert refused.status_code == 200 and "Lowercase Latin letters" in refused.content.decode()
    assert created.status_code == 302
    campaign.refresh_from_db()
    assert (campaign.slug, campaign.cost_stars) == ("ads-1", 600)


def test_support_staff_may_look_but_not_create(admin_client_for, db):
    client = admin_client_for(staff_in("Support"))

    assert client.get(reverse("admin:campaigns_campaign_changelist")).status_code == 200
    assert client.get(reverse("admin:campaigns_campaign_add")).status_code == 403
