"""GET /api/v1/devices and DELETE /api/v1/devices/{id} against the fake panel, and the traffic in /me."""

import time
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from api.keys import api_key_create
from api.models import Scope
from subscriptions.devices import device_id_of
from subscriptions.models import Subscription
from tests.api.conftest import key_client
from tests.fakes.remnawave_fixtures import every_panel_release
from tests.subscriptions.factories import SubscriptionFactory, TariffFactory
from tests.users.factories import UserFactory

pytestmark = pytest.mark.django_db

ME = 555001
OTHER = 555002


@pytest.fixture
def provisioned(fake_panel):
    """provisioned(telegram_id, device_limit=3) → the panel username of a buyer whose active
    subscription is on the panel (the identity stored as provisioning stores it)."""

    def make(telegram_id: int = ME, *, device_limit: int | None = 3) -> str:
        tariff = TariffFactory(code="1m")
        tariff.device_limit = device_limit
        tariff.save()
        username = f"tg_{telegram_id}"
        expires = datetime.now(UTC) + timedelta(days=30)
        record = fake_panel.add_user(username, expire_at=expires, telegram_id=telegram_id)
        SubscriptionFactory(
            user=UserFactory(telegram_id=telegram_id),
            tariff=tariff,
            status=Subscription.Status.ACTIVE,
            expires_at=timezone.now() + timedelta(days=30),
            panel_username=username,
            panel_user_uuid=record["uuid"],
            panel_user_id=record["id"],
            panel_api_version=fake_panel.reported_version or "<2.5",
        )
        return username

    return make


@every_panel_release
def test_list_shows_the_devices_the_panel_registered_and_the_limit(provisioned, fake_panel, client_for):
    username = provisioned()
    fake_panel.add_device(
        username,
        hwid="hw-iphone",
        platform="iOS",
        os_version="18.2",
        device_model="iPhone 15",
        first_seen=datetime(2025, 3, 1, 10, tzinfo=UTC),
        last_seen=datetime(2025, 3, 5, 18, 30, tzinfo=UTC),
    )
    fake_panel.add_device(username, hwid="hw-pc", platform="Windows")

    response = client_for(ME).get("/api/v1/devices")

    assert response.status_code == 200
    body = response.json()
    assert (body["state"], body["used"], body["limit"], body["limit_kind"]) == ("ok", 2, 3, "limited")
    assert body["devices"][0] == {
        "id": device_id_of("hw-iphone"),
        "platform": "iOS",
        "os_version": "18.2",
        "model": "iPhone 15",
        "first_seen": "2025-03-01T10:00:00Z",
        "last_seen": "2025-03-05T18:30:00Z",
    }
    assert "hw-iphone" not in response.content.decode()  # the hwid itself is never handed out


@every_panel_release
def test_delete_removes_the_device_on_the_panel(provisioned, fake_panel, client_for):
    username = provisioned()
    fake_panel.add_device(username, hwid="hw-a")
    fake_panel.add_device(username, hwid="hw-b")

    response = client_for(ME).delete(f"/api/v1/devices/{device_id_of('hw-a')}")

    assert response.status_code == 200
    assert response.json()["removed"] is True
    assert [d["id"] for d in response.json()["devices"]] == [device_id_of("hw-b")]
    assert response.json()["used"] == 1
    assert [d["hwid"] for d in fake_panel.devices_of(username)] == ["hw-b"]


def test_deleting_it_again_is_success_without_a_panel_delete(provisioned, fake_panel, client_for):
    username = provisioned()
    fake_panel.add_device(username, hwid="hw-a")
    client = client_for(ME)
    client.delete(f"/api/v1/devices/{device_id_of('hw-a')}")

    again = client.delete(f"/api/v1/devices/{device_id_of('hw-a')}")

    assert again.status_code == 200
    assert again.json()["removed"] is False
    assert len(fake_panel.calls_to("POST", "/api/hwid/devices/delete")) == 1


def test_a_buyer_cannot_delete_or_see_another_buyers_device(provisioned, fake_panel, client_for):
    # given two buyers, each with a device on the panel
    mine, theirs = provisioned(ME), provisioned(OTHER)
    fake_panel.add_device(mine, hwid="hw-mine")
    fake_panel.add_device(theirs, hwid="hw-theirs")

    # when the first sends the id of the other's device
    response = client_for(ME).delete(f"/api/v1/devices/{device_id_of('hw-theirs')}")
    listing = client_for(ME).get("/api/v1/devices").json()

    # then nothing is removed, no delete reaches the panel, and their list shows only their own
    assert response.status_code == 200 and response.json()["removed"] is False
    assert [d["hwid"] for d in fake_panel.devices_of(theirs)] == ["hw-theirs"]
    assert fake_panel.calls_to("POST", "/api/hwid/devices/delete") == []
    assert [d["id"] for d in listing["devices"]] == [device_id_of("hw-mine")]


def test_panel_down_with_nothing_known_is_a_clear_503(provisioned, fake_panel, client_for):
    provisioned()
    fake_panel.down = True

    response = client_for(ME).get("/api/v1/devices", HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 503
    assert response.json() == {
        "error": {
            "code": "panel_unavailable",
            "message": "The VPN panel is not answering; try again in a minute.",
            "details": {"retry_after": 60},
        }
    }


def test_the_panel_down_message_is_russian_by_default(provisioned, fake_panel, client_for):
    provisioned()
    fake_panel.down = True

    response = client_for(ME).get("/api/v1/devices")

    assert response.json()["error"]["message"] == "Панель VPN не отвечает; попробуйте через минуту."


def test_a_slow_panel_is_answered_within_the_read_timeout(provisioned, fake_panel, client_for, settings):
    provisioned()
    fake_panel.set_latency(5.0, path_contains="/api/hwid/")
    started = time.monotonic()

    response = client_for(ME).get("/api/v1/devices")

    assert response.status_code == 503
    assert time.monotonic() - started < settings.REMNAWAVE_READ_TIMEOUT + 1.5
    fake_panel.set_latency(0)


def test_panel_down_answers_the_last_known_list_as_stale(provisioned, fake_panel, client_for):
    username = provisioned()
    fake_panel.add_device(username, hwid="hw-a", platform="Android")
    client = client_for(ME)
    fetched = client.get("/api/v1/devices").json()["fetched_at"]
    fake_panel.down = True

    body = client.get("/api/v1/devices").json()

    assert (body["state"], body["used"], body["fetched_at"]) == ("stale", 1, fetched)


def test_delete_while_the_panel_is_down_is_a_503_and_removes_nothing(provisioned, fake_panel, client_for):
    username = provisioned()
    fake_panel.add_device(username, hwid="hw-a")
    client = client_for(ME)
    client.get("/api/v1/devices")
    fake_panel.down = True

    response = client.delete(f"/api/v1/devices/{device_id_of('hw-a')}")

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "panel_unavailable"
    fake_panel.down = False
    assert [d["hwid"] for d in fake_panel.devices_of(username)] == ["hw-a"]


@pytest.mark.parametrize(
    ("device_limit", "limit", "kind"), [(None, None, "panel_default"), (0, None, "unlimited"), (5, 5, "limited")]
)
def test_the_limit_follows_the_tariff(provisioned, client_for, device_limit, limit, kind):
    provisioned(device_limit=device_limit)

    body = client_for(ME).get("/api/v1/devices").json()

    assert (body["limit"], body["limit_kind"]) == (limit, kind)


def test_without_a_vpn_account_yet_the_list_is_empty(fake_panel, client_for):
    body = client_for(ME).get("/api/v1/devices").json()

    assert (body["state"], body["devices"], body["used"]) == ("not_provisioned", [], 0)


def test_without_a_panel_devices_are_not_available(db, client_for, settings):
    settings.PROVISIONING_BACKEND = "none"

    response = client_for(ME).get("/api/v1/devices")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "devices_unavailable"
    assert client_for(ME).delete(f"/api/v1/devices/{device_id_of('x')}").status_code == 404


def test_a_malformed_device_id_is_a_validation_error(provisioned, client_for):
    provisioned()

    response = client_for(ME).delete("/api/v1/devices/../me")

    assert response.status_code in (400, 404)
    response = client_for(ME).delete("/api/v1/devices/not-a-device")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"


def test_removing_needs_the_devices_manage_scope(provisioned, fake_panel):
    provisioned()
    key = api_key_create(name="reader", scopes=[s for s in Scope.values if s != Scope.DEVICES_MANAGE])
    client = key_client(key.raw_key, ME)

    assert client.get("/api/v1/devices").status_code == 200
    response = client.delete(f"/api/v1/devices/{device_id_of('hw-a')}")
    assert response.status_code == 403
    assert response.json()["error"]["details"] == {"required": "devices:manage"}


# --- traffic in /me ---------------------------------------------------------------------


@every_panel_release
def test_me_shows_traffic_used_the_limit_and_the_next_reset(provisioned, fake_panel, client_for):
    username = provisioned()
    fake_panel.user(username).update(trafficLimitBytes=50 * 2**30, trafficLimitStrategy="MONTH")
    fake_panel.set_traffic(username, used_bytes=3 * 2**30, last_reset_at=datetime(2025, 4, 1, 0, 20, tzinfo=UTC))

    traffic = client_for(ME).get("/api/v1/me").json()["traffic"]

    today = timezone.now().astimezone(UTC)
    first_of_next = datetime(today.year + today.month // 12, today.month % 12 + 1, 1, tzinfo=UTC)
    assert traffic == {
        "used_bytes": 3 * 2**30,
        "limit_bytes": 50 * 2**30,
        "unlimited": False,
        "reset_strategy": "MONTH",
        "last_reset_at": "2025-04-01T00:20:00Z",
        "next_reset_at": first_of_next.isoformat().replace("+00:00", "Z"),
    }


def test_me_reads_the_panel_at_most_once_a_minute(provisioned, fake_panel, client_for):
    username = provisioned()
    client = client_for(ME)
    client.get("/api/v1/me")
    fake_panel.set_traffic(username, used_bytes=7)

    again = client.get("/api/v1/me").json()["traffic"]

    assert again["used_bytes"] == 0  # the cached reading
    assert len(fake_panel.calls_to("GET", f"/api/users/by-username/{username}")) == 1


def test_me_without_the_panel_answering_has_no_traffic(provisioned, fake_panel, client_for):
    provisioned()
    fake_panel.down = True

    response = client_for(ME).get("/api/v1/me")

    assert response.status_code == 200
    assert response.json()["traffic"] is None


def test_me_without_a_panel_has_no_traffic(db, client_for, settings):
    settings.PROVISIONING_BACKEND = "none"

    assert client_for(ME).get("/api/v1/me").json()["traffic"] is None
