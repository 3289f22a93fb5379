"""Stored updates: idempotent storing, one claim at a time, backoff, admin re-run, flood counter."""

from datetime import timedelta

import pytest
from django.db import DatabaseError
from django.utils import timezone

from conftest import run_concurrently
from core.heartbeats import BOT_POLLING, heartbeat_age_seconds
from telegram_bot import services
from telegram_bot.application import store_batch
from telegram_bot.models import TelegramUpdate

pytestmark = pytest.mark.django_db

PAYMENT = {"update_id": 10, "message": {"from": {"id": 5}, "successful_payment": {"total_amount": 1}}}


def test_an_update_is_stored_once_and_a_replay_is_a_no_op():
    row, created = services.update_store(raw=PAYMENT)
    again, created_again = services.update_store(raw={**PAYMENT, "message": {"text": "changed"}})

    assert (created, created_again) == (True, False)
    assert again.pk == row.pk and again.raw == PAYMENT
    assert (row.kind, row.telegram_user_id, row.status) == ("successful_payment", 5, "received")


@pytest.mark.parametrize("raw", [[], {"update_id": "1", "message": {}}, {"update_id": True, "x": {}}, {"update_id": 1}])
def test_something_that_is_not_an_update_is_refused(raw):
    with pytest.raises(services.InvalidUpdate):
        services.update_store(raw=raw)
    assert not TelegramUpdate.objects.exists()


def test_only_one_worker_claims_an_update():
    services.update_store(raw=PAYMENT)

    assert services.update_claim(update_id=10) is True
    assert services.update_claim(update_id=10) is False


def test_a_failed_update_backs_off_and_is_claimed_again_when_due():
    services.update_store(raw=PAYMENT)
    services.update_claim(update_id=10)

    row = services.update_mark_failed(update_id=10, error="boom")

    assert row.next_attempt_at > timezone.now()
    assert services.update_claim(update_id=10) is False
    TelegramUpdate.objects.filter(update_id=10).update(next_attempt_at=timezone.now())
    assert services.update_claim(update_id=10) is True
    assert services.update_attempts(update_id=10) == 2


def test_backoff_grows_and_honours_telegrams_flood_wait():
    assert services.retry_delay(attempts=1) < services.retry_delay(attempts=3)
    assert services.retry_delay(attempts=1, retry_after=300) == timedelta(seconds=300)


def test_after_the_last_attempt_only_an_admin_reruns_it():
    services.update_store(raw=PAYMENT)
    TelegramUpdate.objects.update(attempts=services.MAX_ATTEMPTS, status="processing")

    row = services.update_mark_failed(update_id=10, error="still broken")

    assert row.next_attempt_at is None
    assert services.updates_due() == []
    services.update_reprocess(update_id=10)
    assert [update_id for update_id, _ in services.updates_due()] == [10]


def test_due_updates_are_failed_abandoned_or_long_unclaimed_ones():
    now = timezone.now()
    for update_id, fields in {
        1: {"status": "failed", "next_attempt_at": now - timedelta(seconds=1)},
        2: {"status": "processing", "next_attempt_at": now - timedelta(seconds=1)},  # the worker died
        3: {"status": "received", "received_at": now - timedelta(minutes=5)},
        4: {"status": "received"},  # just arrived: its worker handles it
        5: {"status": "done"},
        6: {"status": "failed", "next_attempt_at": now + timedelta(minutes=1)},
    }.items():
        TelegramUpdate.objects.create(update_id=update_id, raw={"update_id": update_id}, kind="message", **fields)

    assert [update_id for update_id, _ in services.updates_due()] == [1, 2, 3]


def test_flood_limit_warns_once_then_drops_and_never_limits_payments(settings):
    settings.BOT_RATE_LIMIT_UPDATES = 2
    settings.BOT_RATE_LIMIT_SECONDS = 3600

    decisions = [services.rate_limit_check(telegram_id=77, kind="message") for _ in range(4)]

    assert decisions == ["allow", "allow", "warn", "drop"]
    assert services.rate_limit_check(telegram_id=77, kind="pre_checkout_query") == "allow"


def _message(update_id: int) -> dict:
    return {"update_id": update_id, "message": {"from": {"id": 5}, "text": "hi"}}


def test_a_batch_is_stored_already_claimed_by_the_loop_that_fetched_it():
    stored = services.updates_store_batch(raws=[_message(1), _message(2)], claim=True)

    assert stored == [1, 2]
    rows = TelegramUpdate.objects.order_by("update_id")
    assert [(r.status, r.attempts) for r in rows] == [("processing", 1), ("processing", 1)]
    assert all(r.next_attempt_at > timezone.now() for r in rows)  # the lease frees it if the loop dies
    assert services.update_claim(update_id=1) is False  # nobody else takes it meanwhile


def test_a_batch_fetched_again_stores_and_returns_only_the_new_updates():
    services.updates_store_batch(raws=[_message(1), _message(2)], claim=True)
    TelegramUpdate.objects.filter(update_id=1).update(raw={"kept": True})

    stored = services.updates_store_batch(raws=[_message(1), _message(2), _message(3)], claim=True)

    assert stored == [3]
    assert TelegramUpdate.objects.count() == 3
    assert TelegramUpdate.objects.get(update_id=1).raw == {"kept": True}


def test_handled_updates_of_a_batch_are_marked_done_in_one_go():
    services.updates_store_batch(raws=[_message(1), _message(2)], claim=True)
    services.update_mark_failed(update_id=2, error="boom")

    marked = services.updates_mark_done(update_ids=[1, 2])

    assert marked == 1  # a failed one stays failed
    assert dict(TelegramUpdate.objects.values_list("update_id", "status")) == {1: "done", 2: "failed"}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_overlapping_batches_stored_concurrently_give_each_update_to_one_caller():
    batches = [[_message(i) for i in range(start, start + 20)] for start in (1, 11, 6, 16)]

    results = run_concurrently(lambda i: services.updates_store_batch(raws=batches[i], claim=True), len(batches))

    claimed = [update_id for result in results for update_id in result]
    assert sorted(claimed) == list(range(1, 36))
    assert TelegramUpdate.objects.count() == 35


# --- What the database cannot store -------------------------------------------------------

WITH_NUL = {
    "update_id": 20,
    "message": {
        "message_id": 1,
        "date": 1,
        "chat": {"id": 6, "type": "private"},
        "from": {"id": 6, "is_bot": False, "first_name": "Eve\x00"},
        "text": "promo\x00code",
    },
}


def test_an_update_holding_nul_is_stored_with_the_character_replaced_and_flagged():
    row, created = services.update_store(raw=WITH_NUL, claim=True)

    stored = TelegramUpdate.objects.get(update_id=20)
    assert created and stored.altered
    assert stored.raw["message"]["text"] == "promo\ufffdcode" == row.raw["message"]["text"]
    assert stored.raw["message"]["from"]["first_name"] == "Eve\ufffd"
    assert stored.status == TelegramUpdate.Status.PROCESSING


def test_a_batch_with_an_update_holding_nul_stores_every_update():
    fine = {"update_id": 21, "message": {"from": {"id": 6}, "text": "hello"}}

    stored = services.updates_store_batch(raws=[WITH_NUL, fine], claim=True)

    assert sorted(stored) == [20, 21]
    assert dict(TelegramUpdate.objects.values_list("update_id", "altered")) == {20: True, 21: False}


@pytest.mark.parametrize(("text", "kept"), [("nul\x00", "nul\ufffd"), ("lone \ud800", "lone \ufffd")])
def test_storable_replaces_what_postgresql_refuses_in_keys_and_values(text, kept):
    value, altered = services.storable({"a": [text, {text: 1}], "n": 2, "ok": "fine"})

    assert altered
    assert value == {"a": [kept, {kept: 1}], "n": 2, "ok": "fine"}


def test_storable_leaves_a_clean_update_alone():
    assert services.storable({"ok": ["fine", 1, None, {"x": True}]}) == ({"ok": ["fine", 1, None, {"x": True}]}, False)


@pytest.mark.postgres
def test_an_update_the_database_still_refuses_is_kept_as_its_id_failed_and_not_handled(monkeypatch):
    # given a content the database refuses even after replacing (simulated: nothing replaced)
    monkeypatch.setattr(services, "storable", lambda value: (value, False))

    # when it is stored, alone or in a batch with a good one
    row, created = services.update_store(raw=WITH_NUL, claim=True)
    batch = services.updates_store_batch(
        raws=[dict(WITH_NUL, update_id=22), {"update_id": 23, "message": {"text": "ok"}}], claim=True
    )

    # then its id is kept, failed and flagged for an admin, it is not handed to the handlers,
    # and the good one is stored as usual
    assert not created and batch == [23]
    for update_id in (20, 22):
        kept = TelegramUpdate.objects.get(update_id=update_id)
        assert (kept.status, kept.altered, kept.next_attempt_at) == (TelegramUpdate.Status.FAILED, True, None)
        assert "could not be stored" in kept.error and kept.kind == "message"
    assert row.update_id == 20


# --- The polling loop's database hop ----------------------------------------------------------


def test_the_loop_stores_a_batch_marks_earlier_ones_done_and_beats_in_one_hop():
    services.updates_store_batch(raws=[_message(1)], claim=True)

    stored = store_batch([_message(2), _message(3)], [1], True)

    assert stored == [2, 3]
    assert dict(TelegramUpdate.objects.values_list("update_id", "status")) == {
        1: "done",
        2: "processing",
        3: "processing",
    }
    assert heartbeat_age_seconds(name=BOT_POLLING) is not None


def test_a_failure_in_the_loops_hop_stores_nothing_of_the_batch(monkeypatch):
    # given marking the earlier updates done fails (the database went away mid-hop, say)
    services.updates_store_batch(raws=[_message(1)], claim=True)

    def broken(**_kwargs):
        raise DatabaseError("connection lost")

    monkeypatch.setattr(services, "updates_mark_done", broken)

    # when the loop stores the next batch in the same hop
    with pytest.raises(DatabaseError):
        store_batch([_message(2)], [1], False)

    # then the batch is not stored either: its offset is not confirmed, it is fetched again
    assert list(TelegramUpdate.objects.values_list("update_id", flat=True)) == [1]


@pytest.mark.postgres
def test_the_loops_hop_stores_the_rest_of_a_batch_around_a_row_the_database_refuses(monkeypatch):
    monkeypatch.setattr(services, "storable", lambda value: (value, False))

    stored = store_batch([dict(WITH_NUL, update_id=30), {"update_id": 31, "message": {"text": "ok"}}], [], False)

    assert stored == [31]
    assert TelegramUpdate.objects.get(update_id=30).status == TelegramUpdate.Status.FAILED
