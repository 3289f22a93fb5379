"""The panel gets what was bought (the payment's snapshot), on create and on every update,
as absolute values through the outbox, on every panel release: hwidDeviceLimit,
trafficLimitBytes + trafficLimitStrategy and activeInternalSquads; a location change moves
the buyer's squads at once. A plan without options provisions exactly as before."""

from __future__ import annotations

import uuid

import pytest

from payments.charges import Charge
from payments.services import purchase_complete, purchase_create_invoice
from subscriptions.backends import panel_username_for
from subscriptions.models import ProvisioningTask
from subscriptions.pricing import Selection
from subscriptions.services import LocationUnavailable, subscription_location_change
from tests.fakes.remnawave_fixtures import TEST_SQUAD, every_panel_release
from tests.subscriptions.factories import DeviceTierFactory, LocationFactory, TariffFactory, TrafficTierFactory
from tests.subscriptions.helpers import buy
from tests.users.factories import UserFactory

pytestmark = pytest.mark.django_db

GERMANY = "7b2d9e10-2222-4333-8444-955566667777"
GB = 1024**3


@pytest.fixture
def plan(fake_panel):
    fake_panel.squads[GERMANY] = "Germany"
    tariff = TariffFactory(code="built-1m", days=30, months=1, price_stars=100)
    three = DeviceTierFactory(device_limit=3, monthly_price=30)
    unlimited = DeviceTierFactory(device_limit=0, monthly_price=60)
    daily = TrafficTierFactory(traffic_limit_bytes=50 * GB, traffic_strategy="DAY")
    netherlands = LocationFactory(title="Netherlands", squads=[TEST_SQUAD])
    germany = LocationFactory(title="Germany", squads=[GERMANY])
    tariff.device_tiers.set([three, unlimited])
    tariff.traffic_tiers.set([daily])
    tariff.locations.set([netherlands, germany])
    return tariff, {"three": three, "unlimited": unlimited, "nl": netherlands, "de": germany}


def buy_configuration(user, tariff, selection: Selection):
    payment = purchase_create_invoice(user=user, tariff=tariff.code, selection=selection).payment
    purchase_complete(
        Charge(
            payload=payment.invoice_payload,
            charge_id=f"charge-{uuid.uuid4().hex}",
            amount=payment.amount,
            currency="XTR",
            from_user_id=user.telegram_id,
        )
    )
    return payment


def panel_limits(body: dict) -> tuple:
    return (
        body.get("hwidDeviceLimit"),
        body.get("trafficLimitBytes"),
        body.get("trafficLimitStrategy"),
        body.get("activeInternalSquads"),
    )


@every_panel_release
def test_the_snapshots_limits_and_squads_go_to_the_panel_on_create_and_on_update(
    fake_panel, plan, django_capture_on_commit_callbacks
):
    tariff, o = plan
    user = UserFactory()
    name = panel_username_for(telegram_id=user.telegram_id, user_pk=user.pk)

    with django_capture_on_commit_callbacks(execute=True):
        buy_configuration(user, tariff, Selection(devices=o["three"].pk, location=o["de"].pk))
    with django_capture_on_commit_callbacks(execute=True):
        buy_configuration(user, tariff, Selection(devices=o["unlimited"].pk, location=o["de"].pk))

    assert panel_limits(fake_panel.creates()[0].body) == (3, 50 * GB, "DAY", [GERMANY])
    patch = fake_panel.calls_to("PATCH", "/api/users")[-1].body
    assert panel_limits(patch) == (0, 50 * GB, "DAY", [GERMANY])  # absolute values: 0 = unlimited devices
    stored = fake_panel.user(name)
    assert (stored["hwidDeviceLimit"], stored["activeInternalSquads"]) == (0, [GERMANY])
    assert not ProvisioningTask.objects.exclude(status=ProvisioningTask.Status.DONE).exists()


@every_panel_release
def test_a_location_change_moves_the_buyer_to_its_squads_at_once(fake_panel, plan, django_capture_on_commit_callbacks):
    tariff, o = plan
    user = UserFactory()
    name = panel_username_for(telegram_id=user.telegram_id, user_pk=user.pk)
    with django_capture_on_commit_callbacks(execute=True):
        buy_configuration(user, tariff, Selection(devices=o["three"].pk, location=o["nl"].pk))

    with django_capture_on_commit_callbacks(execute=True):
        subscription_location_change(user=user, location_id=o["de"].pk)

    patch = fake_panel.calls_to("PATCH", "/api/users")[-1].body
    assert panel_limits(patch) == (3, 50 * GB, "DAY", [GERMANY])  # devices and traffic stay as bought
    assert fake_panel.user(name)["activeInternalSquads"] == [GERMANY]
    assert ProvisioningTask.objects.filter(user=user, reason="location", kind="sync").count() == 1


@every_panel_release
def test_a_plan_without_options_provisions_as_before(fake_panel, tariff_1m, django_capture_on_commit_callbacks):
    tariff_1m.device_limit = 2
    tariff_1m.traffic_limit_bytes = 10 * GB
    tariff_1m.save()
    user = UserFactory()

    with django_capture_on_commit_callbacks(execute=True):
        buy(user)
    with django_capture_on_commit_callbacks(execute=True):
        buy(user)

    assert panel_limits(fake_panel.creates()[0].body) == (
        2,
        10 * GB,
        "MONTH",
        [TEST_SQUAD],
    )  # the environment's strategy
    patch = fake_panel.calls_to("PATCH", "/api/users")[-1].body
    assert (patch["hwidDeviceLimit"], patch["trafficLimitBytes"]) == (2, 10 * GB)
    assert "activeInternalSquads" not in patch  # the squads stay as created (REMNAWAVE_SQUADS)


def test_a_location_the_plan_does_not_offer_is_refused(plan):
    tariff, o = plan
    user = UserFactory()
    buy_configuration(user, tariff, Selection(devices=o["three"].pk, location=o["nl"].pk))

    with pytest.raises(LocationUnavailable) as refused:
        subscription_location_change(user=user, location_id=LocationFactory(title="Elsewhere").pk)

    assert refused.value.reason == "not_offered"


def test_without_a_subscription_there_is_no_location_to_change(plan):
    with pytest.raises(LocationUnavailable) as refused:
        subscription_location_change(user=UserFactory(), location_id=plan[1]["de"].pk)

    assert refused.value.reason == "no_subscription"
