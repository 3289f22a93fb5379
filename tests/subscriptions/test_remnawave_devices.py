"""The client's HWID device and traffic reads against every fake-panel release profile."""

from datetime import UTC, datetime, timedelta

import pytest

from integrations.remnawave import PanelNotFound, PanelPermissionDenied, PanelUser, RemnawaveClient
from tests.fakes.remnawave_fixtures import every_panel_release


def make_client(panel, **overrides) -> RemnawaveClient:
    options = {"base_url": panel.url, "token": panel.token, "timeout": 0.5, "max_retries": 0}
    options.update(overrides)
    return RemnawaveClient(**options)


def seeded(panel, username: str = "tg_700001") -> PanelUser:
    panel.add_user(username, expire_at=datetime.now(UTC) + timedelta(days=10), hwid_device_limit=3)
    return make_client(panel).find_by_username(username)


FIRST_SEEN = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
LAST_SEEN = datetime(2025, 3, 5, 18, 30, tzinfo=UTC)


@every_panel_release
def test_user_devices_lists_what_the_panel_registered(fake_panel):
    user = seeded(fake_panel)
    fake_panel.add_device(
        "tg_700001",
        hwid="hw-phone",
        platform="iOS",
        os_version="18.2",
        device_model="iPhone 15",
        user_agent="Happ/3.1",
        first_seen=FIRST_SEEN,
        last_seen=LAST_SEEN,
    )
    fake_panel.add_device("tg_700001", hwid="hw-laptop", platform="Windows")

    devices = make_client(fake_panel).user_devices(user)

    assert [d.hwid for d in devices] == ["hw-phone", "hw-laptop"]
    phone = devices[0]
    assert (phone.platform, phone.os_version, phone.device_model) == ("iOS", "18.2", "iPhone 15")
    assert (phone.created_at, phone.updated_at) == (FIRST_SEEN, LAST_SEEN)
    assert devices[1].device_model == "" and devices[1].os_version == ""
    [call] = fake_panel.calls_to("GET", "/api/hwid/devices/")
    assert call.path.rsplit("/", 1)[1] == (str(user.id) if fake_panel.profile == "3.0" else user.uuid)


@every_panel_release
def test_delete_device_removes_it_and_returns_the_rest(fake_panel):
    user = seeded(fake_panel)
    fake_panel.add_device("tg_700001", hwid="hw-a")
    fake_panel.add_device("tg_700001", hwid="hw-b")

    left = make_client(fake_panel).delete_device(user, hwid="hw-a")

    assert [d.hwid for d in left] == ["hw-b"]
    assert [d["hwid"] for d in fake_panel.devices_of("tg_700001")] == ["hw-b"]
    [call] = fake_panel.calls_to("POST", "/api/hwid/devices/delete")
    key = "userId" if fake_panel.profile == "3.0" else "userUuid"
    assert call.body == {key: user.id if key == "userId" else user.uuid, "hwid": "hw-a"}


@every_panel_release
def test_deleting_a_device_that_is_gone_is_success(fake_panel):
    # given a device that was removed already (a retry, or the panel's own admin)
    user = seeded(fake_panel)
    fake_panel.add_device("tg_700001", hwid="hw-b")

    # when it is deleted again, then that is success and the list is what is left
    left = make_client(fake_panel).delete_device(user, hwid="hw-a")

    assert [d.hwid for d in left] == ["hw-b"]


@every_panel_release
def test_devices_of_a_user_the_panel_lost_is_not_found(fake_panel):
    user = seeded(fake_panel)
    client = make_client(fake_panel)
    client.delete_user(user)

    with pytest.raises(PanelNotFound):
        client.user_devices(user)
    with pytest.raises(PanelNotFound):
        client.delete_device(user, hwid="hw-a")


@pytest.mark.parametrize("fake_panel", ["2.8", "3.0"], indirect=True)
def test_a_token_without_the_device_scope_names_it(fake_panel):
    user = seeded(fake_panel)
    token = fake_panel.grant("users-only", ["users:*", "system:*"])

    with pytest.raises(PanelPermissionDenied) as denied:
        make_client(fake_panel, token=token).user_devices(user)

    assert denied.value.cause == "permission:hwid-user-devices:list-by-user"


@every_panel_release
def test_traffic_is_read_from_the_user_record(fake_panel):
    seeded(fake_panel)
    reset = datetime(2025, 4, 1, 0, 20, tzinfo=UTC)
    fake_panel.set_traffic("tg_700001", used_bytes=3 * 2**30, last_reset_at=reset)
    fake_panel.user("tg_700001").update(trafficLimitBytes=50 * 2**30, trafficLimitStrategy="MONTH")

    user = make_client(fake_panel).find_by_username("tg_700001")

    assert user.used_traffic_bytes == 3 * 2**30
    assert user.traffic_limit_bytes == 50 * 2**30
    assert user.traffic_limit_strategy == "MONTH"
    assert user.last_traffic_reset_at == reset
    assert user.created_at is not None
