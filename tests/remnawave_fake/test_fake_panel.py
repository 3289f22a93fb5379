"""The fake Remnawave panel's own switches: a persistent latency and being down."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest


@pytest.fixture
def panel_http(fake_panel):
    with httpx.Client(
        base_url=fake_panel.url, headers={"Authorization": f"Bearer {fake_panel.token}"}, timeout=10
    ) as http:
        yield http


def create_body(username: str) -> dict:
    return {"username": username, "expireAt": (datetime.now(UTC) + timedelta(days=30)).isoformat()}


def timed(call) -> tuple[float, httpx.Response]:
    started = time.monotonic()
    response = call()
    return time.monotonic() - started, response


def test_latency_slows_every_matching_call_until_it_is_set_back_to_zero(fake_panel, panel_http):
    # given every create takes 0.5 s from now on
    fake_panel.set_latency(0.5, method="POST")

    # when two creates and a read are made
    first, created = timed(lambda: panel_http.post("/api/users", json=create_body("tg_1")))
    second, _ = timed(lambda: panel_http.post("/api/users", json=create_body("tg_2")))
    read, found = timed(lambda: panel_http.get("/api/users/by-username/tg_1"))

    # then both creates waited and were processed, the read did not wait
    assert (created.status_code, found.status_code) == (201, 200)
    assert first >= 0.5 and second >= 0.5
    assert read < 0.5
    assert {"tg_1", "tg_2"} <= set(fake_panel.users)

    # when the latency is set back to zero, then a create is quick again
    fake_panel.set_latency(0)
    quick, _ = timed(lambda: panel_http.post("/api/users", json=create_body("tg_3")))
    assert quick < 0.5


def test_a_call_is_recorded_when_it_arrives_before_its_latency(fake_panel, panel_http):
    fake_panel.set_latency(0.5)

    panel_http.post("/api/users", json=create_body("tg_4"))

    [call] = fake_panel.creates()
    assert call.body["username"] == "tg_4"


def test_a_panel_that_is_down_answers_503_and_stores_nothing_until_it_is_up(fake_panel, panel_http):
    # given the panel is down
    fake_panel.down = True

    # when a user is created, then 503 with a panel error body, the call recorded, nothing stored
    refused = panel_http.post("/api/users", json=create_body("tg_5"))
    assert refused.status_code == 503
    assert refused.json()["statusCode"] == 503
    assert len(fake_panel.creates()) == 1
    assert fake_panel.user("tg_5") is None

    # when it is up again, then the same create goes through
    fake_panel.down = False
    assert panel_http.post("/api/users", json=create_body("tg_5")).status_code == 201
    assert fake_panel.user("tg_5") is not None
