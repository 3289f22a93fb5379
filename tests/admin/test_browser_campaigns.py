"""A campaign in a real browser: the owner creates one, reads its start link, and its page shows
the figures counted by hand for a known shop (tests/campaigns/data.py), in Russian and English."""

from __future__ import annotations

import pytest

from campaigns.models import Campaign
from tests.admin.browser import (  # noqa: F401 - staff_groups is an autouse fixture
    admin_page,
    browser_marks,
    in_browser,
    screenshot_path,
    staff_groups,
)
from tests.campaigns.data import EXPECTED, build_campaign_shop
from tests.users.factories import StaffUserFactory

pytestmark = browser_marks


def create_and_read(base_url: str, username: str, lang: str, spring_id: int) -> dict:
    seen = {}
    with admin_page(base_url, username, lang=lang) as page:
        page.goto(f"{base_url}/admin/campaigns/campaign/add/")
        page.fill("#id_name", "Telegram ads")
        page.fill("#id_slug", "tg-ads")
        page.fill("#id_cost_stars", "1000")
        page.click("input[name=_continue]")
        page.wait_for_selector(".start-link")
        seen["new_link"] = page.inner_text(".start-link")
        page.goto(f"{base_url}/admin/campaigns/campaign/{spring_id}/change/")
        rows = page.locator("#campaign-figures tr")
        seen["figures"] = {
            row.get_attribute("id").removeprefix("figure-"): row.get_attribute("data-value") for row in rows.all()
        }
        seen["shown"] = page.inner_text("#campaign-figures")
        page.screenshot(path=screenshot_path(f"campaign-{lang}.png"), full_page=True)
    return seen


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_the_owner_creates_a_campaign_and_reads_the_figures_of_another(
    live_server, tariffs, settings, fake_telegram, lang
):
    settings.TRIAL_DAYS = 3
    campaigns = build_campaign_shop(tariffs)
    owner = StaffUserFactory(is_superuser=True)

    seen = in_browser(create_and_read, live_server.url, owner.username, lang, campaigns["spring"].pk)

    assert seen["new_link"] == "https://t.me/fake_stars_shop_bot?start=c_tg-ads"
    assert Campaign.objects.get(slug="tg-ads").cost_stars == 1000
    expected = {name: "" if value is None else str(value) for name, value in EXPECTED["spring"].items()}
    assert seen["figures"] == expected
    assert ("окупаемость" if lang == "ru" else "return on cost") in seen["shown"]
    assert ("-33,3 %" if lang == "ru" else "-33.3 %") in seen["shown"]
