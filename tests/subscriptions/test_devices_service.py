"""subscriptions.devices: the traffic reset date, and the bound on live panel calls."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from subscriptions import devices
from subscriptions.devices import devices_for, next_traffic_reset, traffic_for
from subscriptions.models import Subscription
from tests.subscriptions.factories import SubscriptionFactory, TariffFactory
from tests.users.factories import UserFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 1, 30, 15, 0, tzinfo=UTC)  # a Thursday


@pytest.mark.parametrize(
    ("strategy", "created", "expected"),
    [
        ("DAY", None, datetime(2025, 1, 31, tzinfo=UTC)),
        ("WEEK", None, datetime(2025, 2, 3, tzinfo=UTC)),  # the next Monday
        ("MONTH", None, datetime(2025, 2, 1, tzinfo=UTC)),
        ("MONTH_ROLLING", datetime(2024, 11, 12, tzinfo=UTC), datetime(2025, 2, 12, tzinfo=UTC)),
        ("MONTH_ROLLING", datetime(2024, 10, 31, tzinfo=UTC), datetime(2025, 1, 31, tzinfo=UTC)),
        # created on the 31st: February has no 31st, the panel resets on its last day
        ("MONTH_ROLLING", datetime(2024, 10, 30, tzinfo=UTC), datetime(2025, 2, 28, tzinfo=UTC)),
        ("NO_RESET", None, None),
    ],
)
def test_next_traffic_reset_follows_the_panels_schedule(strategy, created, expected):
    assert next_traffic_reset(strategy, now=NOW, created_at=created) == expected


def test_a_monday_resets_the_next_monday():
    assert next_traffic_reset("WEEK", now=datetime(2025, 2, 3, 9, tzinfo=UTC)) == datetime(2025, 2, 10, tzinfo=UTC)


def test_december_rolls_into_the_next_year():
    assert next_traffic_reset("MONTH", now=datetime(2025, 12, 15, tzinfo=UTC)) == datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def buyer(fake_panel):
    user = UserFactory(telegram_id=900_001)
    record = fake_panel.add_user("tg_900001", expire_at=datetime.now(UTC) + timedelta(days=30))
    fake_panel.add_device("tg_900001", hwid="hw-a")
    SubscriptionFactory(
        user=user,
        tariff=TariffFactory(code="1m"),
        status=Subscription.Status.ACTIVE,
        expires_at=timezone.now() + timedelta(days=30),
        panel_username="tg_900001",
        panel_user_uuid=record["uuid"],
        panel_user_id=record["id"],
    )
    return user


def test_with_every_live_slot_taken_the_buyer_gets_the_cache_at_once(buyer, fake_panel):
    # given a good reading, then every slot held by slow panel calls
    assert devices_for(user=buyer).state == devices.OK
    calls = len(fake_panel.calls)
    for _ in range(devices.PANEL_LIVE_CALLS):
        assert devices._live_calls.acquire(blocking=False)
    try:
        # when the buyer asks again, then the last known list comes without a panel call
        listing = devices_for(user=buyer)
        traffic = traffic_for(user=buyer)
    finally:
        for _ in range(devices.PANEL_LIVE_CALLS):
            devices._live_calls.release()

    assert (listing.state, listing.used) == (devices.STALE, 1)
    assert traffic is None
    assert len(fake_panel.calls) == calls


@pytest.mark.parametrize("fake_panel", ["2.0", "3.0"], indirect=True)
def test_an_identity_without_this_releases_key_is_found_by_its_username(buyer, fake_panel):
    # given an identity stored before the panel changed release (2.0 gave no id, 3.x gives no uuid)
    Subscription.objects.filter(user=buyer).update(panel_user_id=None, panel_user_uuid="")

    listing = devices_for(user=buyer)

    assert (listing.state, listing.used) == (devices.OK, 1)
    assert fake_panel.calls_to("GET", "/api/users/by-username/tg_900001")
