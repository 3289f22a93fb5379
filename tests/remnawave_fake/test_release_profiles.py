"""The fake panel's release profiles, by raw HTTP: each difference between the official
release lines it models (see the table in tests/fakes/remnawave_panel.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.fakes.remnawave_fixtures import TEST_SQUAD
from tests.fakes.remnawave_panel import FakeRemnawavePanel

UNKNOWN_SQUAD = "00000000-0000-4000-8000-000000000000"
ALL = ["2.0", "2.7", "2.8", "3.0"]


@pytest.fixture
def panel(request):
    fake = FakeRemnawavePanel(profile=request.param).start()
    yield fake
    fake.stop()


@pytest.fixture
def http(panel):
    with httpx.Client(base_url=panel.url, headers={"Authorization": f"Bearer {panel.token}"}, timeout=10) as client:
        yield client


def profiles(*names: str):
    return pytest.mark.parametrize("panel", list(names), indirect=True, ids=[f"panel{n}" for n in names])


def future(days: int = 30) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


def create(http: httpx.Client, username: str = "tg_100001", **fields) -> httpx.Response:
    return http.post("/api/users", json={"username": username, "expireAt": future(), **fields})


def ref_of(panel: FakeRemnawavePanel, user: dict) -> str:
    return str(user["id"]) if panel.profile == "3.0" else user["uuid"]


def messages(response: httpx.Response) -> list[str]:
    return [error["message"] for error in response.json()["errors"]]


# --- profiles and aliases -------------------------------------------------------------
def test_old_version_keyword_is_an_alias_of_a_profile():
    assert FakeRemnawavePanel(version="2").profile == "2.7"
    assert FakeRemnawavePanel(version="3").profile == "3.0"
    assert FakeRemnawavePanel(profile="2.8").version == "2"
    with pytest.raises(ValueError):
        FakeRemnawavePanel(profile="2.9")


def test_fixture_defaults_to_the_3_0_profile(fake_panel):
    assert fake_panel.profile == "3.0" and fake_panel.reported_version == "3.3.2"


# --- metadata -----------------------------------------------------------------------
@profiles("2.7", "2.8", "3.0")
def test_metadata_reports_the_version(panel, http):
    answer = http.get("/api/system/metadata")

    assert answer.status_code == 200
    body = answer.json()["response"]
    assert body["version"] == {"2.7": "2.7.4", "2.8": "2.8.1", "3.0": "3.3.2"}[panel.profile]
    assert set(body["build"]) == {"time", "number"}
    assert set(body["git"]["backend"]) == {"commitSha", "branch", "commitUrl"}
    assert set(body["git"]["frontend"]) == {"commitSha", "commitUrl"}


@profiles("2.8")
def test_reported_version_is_overridable(panel, http):
    panel.reported_version = "2.8.0"

    assert http.get("/api/system/metadata").json()["response"]["version"] == "2.8.0"


@profiles("2.0")
def test_metadata_is_absent_before_2_5(panel, http):
    answer = http.get("/api/system/metadata")

    assert answer.status_code == 404
    assert answer.json() == {"message": "Cannot GET /api/system/metadata", "error": "Not Found", "statusCode": 404}


# --- stream -------------------------------------------------------------------------
@profiles("2.0", "2.7")
def test_stream_is_read_as_a_uuid_before_2_8(panel, http):
    answer = http.get("/api/users/stream", params={"telegramId": 0, "size": 1})

    assert answer.status_code == 400
    assert answer.json()["message"] == "Validation failed"
    assert answer.json()["errors"][0]["path"] == ["uuid"]


@profiles("2.8")
def test_stream_on_2_8_ignores_the_telegram_id_filter(panel, http):
    create(http, "tg_200001", telegramId=1)
    create(http, "tg_200002", telegramId=2)

    answer = http.get("/api/users/stream", params={"telegramId": 2, "size": 10})

    assert answer.status_code == 200
    body = answer.json()["response"]
    assert [u["username"] for u in body["users"]] == ["tg_200001", "tg_200002"]
    assert body["hasMore"] is False and body["nextCursor"] is None


@profiles("3.0")
def test_stream_on_3_0_filters_by_telegram_id(panel, http):
    create(http, "tg_200001", telegramId=1)
    create(http, "tg_200002", telegramId=2)

    answer = http.get("/api/users/stream", params={"telegramId": 2, "size": 10})

    assert [u["username"] for u in answer.json()["response"]["users"]] == ["tg_200002"]


@profiles("2.8", "3.0")
def test_stream_pages_by_cursor(panel, http):
    for n in range(3):
        create(http, f"tg_30000{n}")

    first = http.get("/api/users/stream", params={"size": 2}).json()["response"]
    rest = http.get("/api/users/stream", params={"size": 2, "cursor": first["nextCursor"]}).json()["response"]

    assert first["hasMore"] is True and len(first["users"]) == 2
    assert [u["username"] for u in rest["users"]] == ["tg_300002"] and rest["hasMore"] is False
    assert http.get("/api/users/stream", params={"size": 1001}).status_code == 400


# --- by telegram id -------------------------------------------------------------------
@profiles("2.0", "2.7", "2.8")
def test_by_telegram_id_lists_the_users_on_2x(panel, http):
    create(http, "tg_400001", telegramId=77)

    answer = http.get("/api/users/by-telegram-id/77")

    assert answer.status_code == 200
    assert [u["username"] for u in answer.json()["response"]] == ["tg_400001"]


@profiles("2.0")
def test_by_telegram_id_without_users_is_404_on_2_0(panel, http):
    answer = http.get("/api/users/by-telegram-id/78")

    assert answer.status_code == 404
    assert answer.json()["errorCode"] == "A062"


@profiles("2.7", "2.8")
def test_by_telegram_id_without_users_is_an_empty_list_from_2_3(panel, http):
    answer = http.get("/api/users/by-telegram-id/78")

    assert (answer.status_code, answer.json()) == (200, {"response": []})


@profiles("3.0")
def test_by_telegram_id_is_gone_in_3_0(panel, http):
    answer = http.get("/api/users/by-telegram-id/77")

    assert answer.status_code == 404
    assert answer.json()["message"] == "Cannot GET /api/users/by-telegram-id/77"


# --- identity -------------------------------------------------------------------------
@profiles(*ALL)
def test_user_identity_fields_per_release(panel, http):
    user = create(http).json()["response"]

    has_uuid, has_id = {"2.0": (True, False), "2.7": (True, True), "2.8": (True, True), "3.0": (False, True)}[
        panel.profile
    ]
    assert ("uuid" in user, "id" in user) == (has_uuid, has_id)
    assert user["shortUuid"] and user["vlessUuid"]


@profiles("2.0")
def test_patch_on_2_0_needs_the_uuid(panel, http):
    user = create(http).json()["response"]

    by_username = http.patch("/api/users", json={"username": user["username"], "expireAt": future(60)})
    by_uuid = http.patch("/api/users", json={"uuid": user["uuid"], "expireAt": future(60)})

    assert by_username.status_code == 400 and by_username.json()["errors"][0]["path"] == ["uuid"]
    assert by_uuid.status_code == 200


@profiles("2.7", "2.8")
def test_patch_on_2_7_and_2_8_takes_uuid_or_username_never_id(panel, http):
    user = create(http).json()["response"]

    by_id = http.patch("/api/users", json={"id": user["id"], "expireAt": future(60)})
    by_uuid = http.patch("/api/users", json={"uuid": user["uuid"], "status": "DISABLED"})
    by_username = http.patch("/api/users", json={"username": user["username"], "status": "ACTIVE"})

    assert by_id.status_code == 400
    assert messages(by_id) == ["Either uuid or username must be provided"]
    assert (by_uuid.status_code, by_username.status_code) == (200, 200)


@profiles("3.0")
def test_patch_on_3_0_takes_id_or_username_never_uuid(panel, http):
    user = create(http).json()["response"]
    uuid = panel.users[user["username"]]["uuid"]

    by_uuid = http.patch("/api/users", json={"uuid": uuid, "expireAt": future(60)})
    by_id = http.patch("/api/users", json={"id": user["id"], "status": "DISABLED"})
    by_username = http.patch("/api/users", json={"username": user["username"], "status": "ACTIVE"})

    assert by_uuid.status_code == 400
    assert messages(by_uuid) == ["At least one of username, id must be provided"]
    assert (by_id.status_code, by_username.status_code) == (200, 200)


@profiles(*ALL)
def test_patch_of_an_unknown_user_is_404_a025(panel, http):
    ghost = {"3.0": {"id": 999}}.get(panel.profile, {"uuid": "11111111-2222-4333-8444-555555555555"})

    answer = http.patch("/api/users", json={**ghost, "expireAt": future(60)})

    assert (answer.status_code, answer.json()["errorCode"]) == (404, "A025")


@profiles(*ALL)
def test_patch_refuses_an_expiry_in_the_past_but_create_takes_it(panel, http):
    created = create(http, expireAt=(datetime.now(UTC) - timedelta(days=1)).isoformat())
    ref = {"id": created.json()["response"]["id"]} if panel.profile == "3.0" else {}
    ref = ref or {"uuid": created.json()["response"]["uuid"]}

    answer = http.patch("/api/users", json={**ref, "expireAt": (datetime.now(UTC) - timedelta(days=1)).isoformat()})

    assert created.status_code == 201
    assert answer.status_code == 400 and messages(answer) == ["Expiration date cannot be in the past"]


# --- path references --------------------------------------------------------------------
@profiles(*ALL)
def test_a_malformed_path_reference_is_400_never_404(panel, http):
    wrong = "not-a-number" if panel.profile == "3.0" else "12"

    for answer in (
        http.get(f"/api/users/{wrong}"),
        http.post(f"/api/users/{wrong}/actions/disable"),
        http.delete(f"/api/users/{wrong}"),
    ):
        assert answer.status_code == 400
        assert answer.json()["message"] == "Validation failed"


@profiles(*ALL)
def test_a_well_formed_unknown_reference_is_404(panel, http):
    ghost = "4242" if panel.profile == "3.0" else "11111111-2222-4333-8444-555555555555"

    assert http.get(f"/api/users/{ghost}").json()["errorCode"] == "A063"
    assert http.delete(f"/api/users/{ghost}").status_code == 404


@profiles("2.7", "2.8")
def test_2x_paths_take_the_uuid_not_the_numeric_id(panel, http):
    user = create(http).json()["response"]

    assert http.get(f"/api/users/{user['id']}").status_code == 400
    assert http.get(f"/api/users/{user['uuid']}").status_code == 200


@profiles(*ALL)
def test_enable_and_disable_and_their_already_in_that_state_errors(panel, http):
    user = create(http).json()["response"]
    ref = ref_of(panel, user)

    disabled = http.post(f"/api/users/{ref}/actions/disable")
    again = http.post(f"/api/users/{ref}/actions/disable")
    enabled = http.post(f"/api/users/{ref}/actions/enable")
    enabled_again = http.post(f"/api/users/{ref}/actions/enable")

    assert disabled.json()["response"]["status"] == "DISABLED"
    assert (again.status_code, again.json()["errorCode"]) == (400, "A029")
    assert enabled.json()["response"]["status"] == "ACTIVE"
    assert (enabled_again.status_code, enabled_again.json()["errorCode"]) == (400, "A030")


@profiles("2.0", "2.7", "2.8")
def test_delete_answers_200_is_deleted_on_2x(panel, http):
    user = create(http).json()["response"]

    answer = http.delete(f"/api/users/{user['uuid']}")

    assert (answer.status_code, answer.json()) == (200, {"response": {"isDeleted": True}})
    assert panel.users == {}


@profiles("3.0")
def test_delete_answers_204_without_body_on_3_0(panel, http):
    user = create(http).json()["response"]

    answer = http.delete(f"/api/users/{user['id']}")

    assert (answer.status_code, answer.content) == (204, b"")
    assert panel.users == {}


# --- create rules ----------------------------------------------------------------------
@profiles(*ALL)
def test_username_minimum_length_is_6_on_2_0_and_3_later(panel, http):
    five = create(http, "tg_u5")
    three = create(http, "abc")

    if panel.profile == "2.0":
        assert five.status_code == 400 and messages(five) == ["Username must be at least 6 characters"]
        assert three.status_code == 400
    else:
        assert (five.status_code, three.status_code) == (201, 201)


@profiles(*ALL)
def test_username_alphabet_length_and_uniqueness(panel, http):
    assert create(http, "tg.100001").status_code == 400
    assert create(http, "u" * 37).status_code == 400
    assert create(http, "tg_100001").status_code == 201

    duplicate = create(http, "tg_100001")

    assert duplicate.status_code == 400
    assert (duplicate.json()["errorCode"], duplicate.json()["message"]) == ("A019", "User username already exists")


@profiles(*ALL)
def test_unknown_internal_squad_on_create_is_500_a018_and_nothing_is_stored(panel, http):
    answer = create(http, activeInternalSquads=[UNKNOWN_SQUAD])

    assert answer.status_code == 500
    assert (answer.json()["errorCode"], answer.json()["message"]) == ("A018", "Failed to create user")
    assert panel.users == {}
    assert create(http, activeInternalSquads=[]).status_code == 201
    assert create(http, "tg_100002", activeInternalSquads=[TEST_SQUAD]).status_code == 201


@profiles("2.0")
def test_unknown_squad_on_update_is_500_a039_and_rolled_back_on_2_0(panel, http):
    user = create(http, activeInternalSquads=[TEST_SQUAD]).json()["response"]
    before = panel.expire_at(user["username"])

    answer = http.patch(
        "/api/users", json={"uuid": user["uuid"], "expireAt": future(90), "activeInternalSquads": [UNKNOWN_SQUAD]}
    )

    assert (answer.status_code, answer.json()["errorCode"]) == (500, "A039")
    assert panel.expire_at(user["username"]) == before
    assert panel.user(user["username"])["activeInternalSquads"] == [TEST_SQUAD]


@profiles("2.7", "2.8", "3.0")
def test_unknown_squad_on_update_is_500_a039_after_a_partial_write_from_2_7(panel, http):
    user = create(http, activeInternalSquads=[TEST_SQUAD]).json()["response"]
    ref = {"id": user["id"]} if panel.profile == "3.0" else {"uuid": user["uuid"]}
    before = panel.expire_at(user["username"])

    answer = http.patch("/api/users", json={**ref, "expireAt": future(90), "activeInternalSquads": [UNKNOWN_SQUAD]})

    assert (answer.status_code, answer.json()["errorCode"]) == (500, "A039")
    assert panel.expire_at(user["username"]) > before
    assert panel.user(user["username"])["activeInternalSquads"] == []


@profiles(*ALL)
def test_user_answer_names_its_squads(panel, http):
    user = create(http, activeInternalSquads=[TEST_SQUAD]).json()["response"]

    assert user["activeInternalSquads"] == [{"uuid": TEST_SQUAD, "name": "Default"}]


# --- device limit ------------------------------------------------------------------------
@profiles(*ALL)
def test_device_limit_null_is_refused_on_create_and_clears_it_on_update(panel, http):
    refused = create(http, hwidDeviceLimit=None)
    user = create(http, hwidDeviceLimit=3).json()["response"]
    ref = {"id": user["id"]} if panel.profile == "3.0" else {"uuid": user["uuid"]}

    cleared = http.patch("/api/users", json={**ref, "hwidDeviceLimit": None})

    assert refused.status_code == 400
    assert cleared.status_code == 200 and cleared.json()["response"]["hwidDeviceLimit"] is None
    assert http.patch("/api/users", json={**ref, "hwidDeviceLimit": -1}).status_code == 400


@profiles(*ALL)
def test_device_limit_semantics(panel, http):
    panel.default_device_limit = 2
    create(http, "tg_500000")
    create(http, "tg_500001", hwidDeviceLimit=0)
    create(http, "tg_500002", hwidDeviceLimit=3)

    # absent -> the panel's fallback limit
    assert panel.user("tg_500000")["hwidDeviceLimit"] is None
    assert panel.effective_device_limit("tg_500000") == 2
    assert panel.device_allowed("tg_500000", 1) and not panel.device_allowed("tg_500000", 2)
    # 0 -> the check is bypassed: no limit at all
    assert panel.effective_device_limit("tg_500001") is None
    assert panel.device_allowed("tg_500001", 1000)
    # N -> a new device while fewer than N are in use
    assert panel.device_allowed("tg_500002", 2) and not panel.device_allowed("tg_500002", 3)


# --- scoped tokens ---------------------------------------------------------------------
def scoped(panel: FakeRemnawavePanel, token: str, scopes: list[str]) -> httpx.Client:
    panel.grant(token, scopes)
    return httpx.Client(base_url=panel.url, headers={"Authorization": f"Bearer {token}"}, timeout=10)


@profiles("2.8", "3.0")
def test_a_token_without_the_scope_gets_nests_403(panel, http):
    with scoped(panel, "reader", ["users:read"]) as reader:
        listed = reader.get("/api/users/stream")
        refused = reader.post("/api/users", json={"username": "tg_600001", "expireAt": future()})
        metadata = reader.get("/api/system/metadata")

    assert listed.status_code == 200
    assert refused.status_code == 403
    assert refused.json() == {"message": "Forbidden resource", "error": "Forbidden", "statusCode": 403}
    assert metadata.status_code == 403
    assert panel.users == {}


@profiles("2.8", "3.0")
def test_scopes_by_wildcard_resource_kind_and_endpoint(panel, http):
    cases = {
        "all": (["*"], 201),
        "resource": (["users:*"], 201),
        "kind": (["users:write"], 201),
        "endpoint": (["users:create"], 201),
        "other-endpoint": (["users:update"], 403),
        "none": ([], 403),
    }
    for n, (name, (scopes, status)) in enumerate(cases.items()):
        with scoped(panel, name, scopes) as client:
            assert create(client, f"tg_70000{n}").status_code == status, name
    with scoped(panel, "meta", ["system:metadata", "internal-squads:list"]) as client:
        assert client.get("/api/system/metadata").status_code == 200
        assert client.get("/api/internal-squads").status_code == 200


@profiles("2.0", "2.7")
def test_scopes_do_not_exist_before_2_8(panel, http):
    with scoped(panel, "reader", ["users:read"]) as reader:
        assert create(reader).status_code == 201


@profiles(*ALL)
def test_an_unknown_token_is_401(panel, http):
    answer = httpx.get(f"{panel.url}/api/users/by-username/x", headers={"Authorization": "Bearer nope"})

    assert answer.status_code == 401


# --- internal squads ---------------------------------------------------------------------
@profiles(*ALL)
def test_internal_squads_list(panel, http):
    panel.squads["11111111-1111-4111-8111-111111111111"] = "Second"
    create(http, activeInternalSquads=[TEST_SQUAD])

    body = http.get("/api/internal-squads").json()["response"]

    assert body["total"] == 2
    first = body["internalSquads"][0]
    assert (first["uuid"], first["name"], first["info"]["membersCount"]) == (TEST_SQUAD, "Default", 1)
    assert set(first["info"]) == {"membersCount", "inboundsCount"}
    assert ("viewPosition" in first) == (panel.profile != "2.0")


# --- seeding ---------------------------------------------------------------------------
@profiles(*ALL)
def test_add_user_takes_device_limit_and_telegram_id(panel, http):
    seeded = panel.add_user(
        "tg_800001", expire_at=datetime.now(UTC) + timedelta(days=3), telegram_id=5, hwid_device_limit=0
    )

    found = http.get("/api/users/by-username/tg_800001").json()["response"]

    assert found["telegramId"] == 5 and found["hwidDeviceLimit"] == 0
    assert seeded["username"] == "tg_800001" and {"uuid", "id"} <= set(seeded)


# --- HWID devices and traffic -------------------------------------------------------------
@profiles(*ALL)
def test_hwid_device_list_and_delete_by_each_releases_identifier(panel, http):
    user = create(http).json()["response"]
    panel.add_device("tg_100001", hwid="hw-1", platform="iOS")
    panel.add_device("tg_100001", hwid="hw-2", platform="Android")
    key = "userId" if panel.profile == "3.0" else "userUuid"
    ident = user["id"] if key == "userId" else user["uuid"]

    listed = http.get(f"/api/hwid/devices/{ref_of(panel, user)}")
    deleted = http.post("/api/hwid/devices/delete", json={key: ident, "hwid": "hw-1"})
    other_key = http.post("/api/hwid/devices/delete", json={("userUuid" if key == "userId" else "userId"): 1})

    assert listed.status_code == 200 and listed.json()["response"]["total"] == 2
    device = listed.json()["response"]["devices"][0]
    # 2.0.0 / 2.7.4 hwid-user-device.schema.ts: userUuid; 2.8.0+: userId and requestIp
    assert ("userUuid" in device, "userId" in device, "requestIp" in device) == (
        (True, False, False) if panel.profile in ("2.0", "2.7") else (False, True, True)
    )
    assert deleted.status_code == 200
    assert [d["hwid"] for d in deleted.json()["response"]["devices"]] == ["hw-2"]
    assert other_key.status_code == 400


@profiles(*ALL)
def test_deleting_an_absent_device_answers_as_each_release_does(panel, http):
    user = create(http).json()["response"]
    key = "userId" if panel.profile == "3.0" else "userUuid"

    answer = http.post(
        "/api/hwid/devices/delete", json={key: user["id"] if key == "userId" else user["uuid"], "hwid": "x"}
    )

    # 2.0.0: prisma delete throws -> A101 (500); 2.3.0 and later: HWID_DEVICE_NOT_FOUND
    expected = (500, "A101") if panel.profile == "2.0" else (404, "A204")
    assert (answer.status_code, answer.json()["errorCode"]) == expected


@profiles(*ALL)
def test_the_devices_of_an_unknown_user_are_not_found(panel, http):
    ref = "1" if panel.profile == "3.0" else "6f1e8a2c-0000-4222-8333-944455556666"

    answer = http.get(f"/api/hwid/devices/{ref}")

    assert (answer.status_code, answer.json()["errorCode"]) == (404, "A025")
    assert http.get("/api/hwid/devices/not-an-id").status_code == 400


@profiles("2.8", "3.0")
def test_hwid_routes_need_the_hwid_user_devices_scope(panel, http):
    user = create(http).json()["response"]
    token = panel.grant("users-only", ["users:*"])
    scoped = httpx.Client(base_url=panel.url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    allowed = panel.grant("devices", ["hwid-user-devices:list-by-user"])
    reader = httpx.Client(base_url=panel.url, headers={"Authorization": f"Bearer {allowed}"}, timeout=10)

    assert scoped.get(f"/api/hwid/devices/{ref_of(panel, user)}").status_code == 403
    assert reader.get(f"/api/hwid/devices/{ref_of(panel, user)}").status_code == 200
    assert reader.post("/api/hwid/devices/delete", json={}).status_code == 403
    scoped.close()
    reader.close()


@profiles(*ALL)
def test_traffic_counters_sit_where_each_release_puts_them(panel, http):
    create(http)
    panel.set_traffic("tg_100001", used_bytes=1234)

    user = http.get("/api/users/by-username/tg_100001").json()["response"]

    # 2.0.0 users.schema.ts: on the user; 2.3.0 user-traffic.schema.ts: in userTraffic
    if panel.profile == "2.0":
        assert user["usedTrafficBytes"] == 1234 and "userTraffic" not in user
    else:
        assert user["userTraffic"]["usedTrafficBytes"] == 1234 and "usedTrafficBytes" not in user
    assert "lastTrafficResetAt" in user
