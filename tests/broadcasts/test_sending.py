"""Sending a broadcast (broadcasts/sending.py) through the real Telegram client and the fake Bot API:
every recipient once, blocked users recorded, Telegram's answers handled, runs that died or were
cancelled, the picture uploaded once. The real worker processes are in test_worker.py."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.utils import timezone

from broadcasts import sending
from broadcasts.models import Broadcast, BroadcastImage, Delivery
from broadcasts.selectors import broadcast_progress
from broadcasts.services import broadcast_cancel, broadcast_start
from conftest import run_concurrently
from core.background import process_label
from tests.broadcasts.conftest import dead_process_label, png_picture
from tests.broadcasts.factories import BroadcastFactory
from tests.broadcasts.helpers import messages_per_chat
from tests.fakes.telegram_server import USER_DEACTIVATED
from tests.users.factories import UserFactory
from users.models import User

pytestmark = pytest.mark.django_db


def buyers(count: int, **fields) -> list[User]:
    return [UserFactory(**fields) for _ in range(count)]


def started(**fields) -> Broadcast:
    """A broadcast started through the service (its hand-over waits for a commit that a test
    inside a transaction never makes: the test runs the worker's side itself)."""
    draft = BroadcastFactory(**fields)
    return broadcast_start(broadcast_id=draft.pk, by=None)


def handed_to_the_worker(**fields) -> Broadcast:
    """A broadcast as broadcast_start leaves it, its hand-over not run (transactional tests run
    on-commit hooks, and inline background tasks would send it at once)."""
    return BroadcastFactory(status=Broadcast.Status.SENDING, started_at=timezone.now(), **fields)


def markup(message: dict) -> list[list[dict]]:
    value = message.get("reply_markup") or {}
    return (json.loads(value) if isinstance(value, str) else value).get("inline_keyboard", [])


@pytest.fixture
def no_hand_over(monkeypatch):
    """Slices hand the broadcast to the queue: record it instead, so the test runs each slice."""
    handed: list[int] = []
    monkeypatch.setattr(sending, "hand_over", handed.append)
    return handed


def test_every_recipient_gets_it_once_with_the_button_in_their_language(fake_telegram):
    english, russian, chose_english = (
        UserFactory(language_code="en"),
        UserFactory(language_code="ru"),
        UserFactory(language_code="ru", bot_language="en"),
    )
    broadcast = started(text="<b>Sale</b>: −20 %", button=Broadcast.ButtonKind.BUY)

    result = sending.run_slice(broadcast_id=broadcast.pk)

    assert (result.taken, result.sent, result.finished) == (True, 3, True)
    labels = {}
    for user in (english, russian, chose_english):
        (message,) = fake_telegram.sent_messages(user.telegram_id)
        assert message["text"] == "<b>Sale</b>: −20 %"
        [[button]] = markup(message)
        assert button["callback_data"] == "buy"
        labels[user] = button["text"]
    assert labels == {english: "🛒 Buy", russian: "🛒 Купить", chose_english: "🛒 Buy"}
    broadcast.refresh_from_db()
    assert (broadcast.status, broadcast.total) == (Broadcast.Status.DONE, 3)
    assert broadcast.finished_at is not None and broadcast.runner_token == ""
    rows = Delivery.objects.filter(broadcast=broadcast)
    assert rows.count() == 3 and all(row.status == "sent" and row.message_id and row.attempts == 1 for row in rows)
    assert broadcast_progress(broadcast).label == "3 / 3"


def test_renew_and_link_buttons(fake_telegram):
    russian = UserFactory(language_code="ru")
    renew = started(button=Broadcast.ButtonKind.RENEW)
    link = started(button=Broadcast.ButtonKind.URL, button_text="Наш канал", button_url="https://t.me/shop_news")

    sending.run_slice(broadcast_id=renew.pk)
    sending.run_slice(broadcast_id=link.pk)

    first, second = fake_telegram.sent_messages(russian.telegram_id)
    assert markup(first) == [[{"text": "🔄 Продлить", "callback_data": "buy"}]]
    assert markup(second) == [[{"text": "Наш канал", "url": "https://t.me/shop_news"}]]


def test_a_user_who_blocked_the_bot_is_marked_and_left_out_of_the_next_broadcast(fake_telegram):
    reachable = buyers(2)
    blocked, deleted = UserFactory(), UserFactory()
    fake_telegram.block(blocked.telegram_id)
    fake_telegram.block(deleted.telegram_id, USER_DEACTIVATED)
    first = started()

    result = sending.run_slice(broadcast_id=first.pk)

    assert (result.sent, result.blocked, result.failed) == (2, 2, 0)
    rows = dict(Delivery.objects.filter(broadcast=first).values_list("user_id", "status"))
    assert rows[blocked.pk] == rows[deleted.pk] == Delivery.Status.BLOCKED
    assert "blocked by the user" in Delivery.objects.get(broadcast=first, user=blocked).error
    assert User.objects.get(pk=blocked.pk).bot_blocked_at is not None
    assert User.objects.get(pk=deleted.pk).bot_blocked_at is not None
    progress = broadcast_progress(Broadcast.objects.get(pk=first.pk))
    assert (progress.sent, progress.failed, progress.blocked, progress.label) == (2, 0, 2, "4 / 4")

    second = started()
    sending.run_slice(broadcast_id=second.pk)

    assert Broadcast.objects.get(pk=second.pk).total == 2
    assert messages_per_chat(fake_telegram, reachable) == {user.telegram_id: 2 for user in reachable}
    assert len(fake_telegram.calls("sendMessage")) == 2 + 2 + 2  # nobody blocked was tried again


def test_a_user_found_blocked_after_the_start_is_skipped_without_a_send(fake_telegram):
    stays, leaves = UserFactory(), UserFactory()
    broadcast = started()
    sending._prepare(broadcast.pk)  # the recipients are fixed...
    User.objects.filter(pk=leaves.pk).update(bot_blocked_at=timezone.now())  # ...then a reminder finds out

    sending.run_slice(broadcast_id=broadcast.pk)

    assert fake_telegram.sent_messages(leaves.telegram_id) == []
    assert Delivery.objects.get(broadcast=broadcast, user=leaves).status == Delivery.Status.BLOCKED
    assert len(fake_telegram.sent_messages(stays.telegram_id)) == 1


def test_running_it_again_sends_nobody_twice(fake_telegram):
    people = buyers(3)
    broadcast = started()
    sending.run_slice(broadcast_id=broadcast.pk)

    again = sending.run_slice(broadcast_id=broadcast.pk)
    sending._prepare(broadcast.pk)

    assert not again.taken  # done: nothing to run
    assert messages_per_chat(fake_telegram, people) == {user.telegram_id: 1 for user in people}
    assert Delivery.objects.filter(broadcast=broadcast).count() == 3


def test_the_recipients_are_fixed_at_the_start_of_sending(fake_telegram):
    first = UserFactory()
    broadcast = started()
    sending._prepare(broadcast.pk)
    late = UserFactory()  # joins after the list was fixed

    sending.run_slice(broadcast_id=broadcast.pk)

    assert len(fake_telegram.sent_messages(first.telegram_id)) == 1
    assert fake_telegram.sent_messages(late.telegram_id) == []


def test_a_429_that_outlasts_the_clients_retries_puts_the_message_back_not_away(fake_telegram, settings):
    settings.TELEGRAM_OUTBOUND_MAX_RETRIES = 0  # the client gives up on the first 429
    people = buyers(4)
    fake_telegram.fail_next("sendMessage", 429, retry_after=1, times=2)
    broadcast = started()

    sending.run_slice(broadcast_id=broadcast.pk)

    assert messages_per_chat(fake_telegram, people) == {user.telegram_id: 1 for user in people}
    rows = Delivery.objects.filter(broadcast=broadcast)
    assert all(row.status == Delivery.Status.SENT for row in rows)
    assert sum(row.attempts for row in rows) == 4 + 2  # the two refused were claimed again
    assert [c.status for c in fake_telegram.calls("sendMessage")].count(429) == 2


def test_a_server_error_is_tried_again(fake_telegram):
    people = buyers(2)
    fake_telegram.fail_next("sendMessage", 502)
    broadcast = started()

    sending.run_slice(broadcast_id=broadcast.pk)

    assert messages_per_chat(fake_telegram, people) == {user.telegram_id: 1 for user in people}
    assert Broadcast.objects.get(pk=broadcast.pk).status == Broadcast.Status.DONE


def test_a_send_without_an_answer_in_time_is_never_sent_again(fake_telegram, settings):
    settings.TELEGRAM_REQUEST_TIMEOUT = 0.5
    people = buyers(3)
    broadcast = started()
    fake_telegram.fail_next("sendMessage", delay=1.5)  # answered (and delivered) after the client gave up

    sending.run_slice(broadcast_id=broadcast.pk)
    fake_telegram.wait_idle()

    assert messages_per_chat(fake_telegram, people) == {user.telegram_id: 1 for user in people}
    (uncertain,) = Delivery.objects.filter(broadcast=broadcast, status=Delivery.Status.FAILED)
    assert "may have delivered it" in uncertain.error and uncertain.attempts == 1
    assert broadcast_progress(Broadcast.objects.get(pk=broadcast.pk)).label == "3 / 3"


def test_rows_of_a_run_that_died_mid_batch_are_failed_and_never_resent(fake_telegram, settings):
    settings.BROADCAST_BATCH_SIZE = 2
    people = buyers(5)
    broadcast = started()
    sending._prepare(broadcast.pk)
    # a worker claimed two rows, and was killed before recording Telegram's answer
    claimed = sending._claim_batch(broadcast.pk, "dead-run-token", size=2)
    Broadcast.objects.filter(pk=broadcast.pk).update(
        runner=dead_process_label(), runner_token="dead-run-token", runner_until=timezone.now() + timedelta(hours=1)
    )

    result = sending.run_slice(broadcast_id=broadcast.pk)

    assert result.taken and result.finished
    interrupted = Delivery.objects.filter(broadcast=broadcast, status=Delivery.Status.FAILED)
    assert {row.pk for row in interrupted} == {row.pk for row in claimed}
    assert all("interrupted" in row.error for row in interrupted)
    assert sum(messages_per_chat(fake_telegram, people).values()) == 3
    assert all(fake_telegram.sent_messages(row.user.telegram_id) == [] for row in claimed)


def test_a_live_run_keeps_the_broadcast_to_itself(fake_telegram):
    buyers(2)
    broadcast = started()
    Broadcast.objects.filter(pk=broadcast.pk).update(
        runner=process_label(), runner_token="live", runner_until=timezone.now() + timedelta(minutes=5)
    )

    result = sending.run_slice(broadcast_id=broadcast.pk)

    assert not result.taken
    assert fake_telegram.calls("sendMessage") == []


def test_a_run_whose_lease_ran_out_is_replaced(fake_telegram):
    people = buyers(2)
    broadcast = started()
    Broadcast.objects.filter(pk=broadcast.pk).update(
        runner="another-host:1", runner_token="gone", runner_until=timezone.now() - timedelta(seconds=1)
    )

    result = sending.run_slice(broadcast_id=broadcast.pk)

    assert result.taken and result.finished
    assert messages_per_chat(fake_telegram, people) == {user.telegram_id: 1 for user in people}


def test_a_slice_hands_the_rest_over_and_the_next_one_goes_on(fake_telegram, settings, no_hand_over):
    settings.BROADCAST_BATCH_SIZE = 2
    people = buyers(5)
    broadcast = started()

    first = sending.run_slice(broadcast_id=broadcast.pk, seconds=0.001)  # time for one batch only

    assert (first.sent, first.handed_over, no_hand_over) == (2, True, [broadcast.pk])
    assert broadcast_progress(Broadcast.objects.get(pk=broadcast.pk)).label == "2 / 5"
    while not sending.run_slice(broadcast_id=broadcast.pk, seconds=0.001).finished:
        pass
    assert messages_per_chat(fake_telegram, people) == {user.telegram_id: 1 for user in people}


def test_cancel_stops_what_was_not_handed_to_telegram(fake_telegram, settings, no_hand_over):
    settings.BROADCAST_BATCH_SIZE = 2
    people = buyers(6)
    broadcast = started()
    sending.run_slice(broadcast_id=broadcast.pk, seconds=0.001)  # one batch went out

    not_sent = broadcast_cancel(broadcast_id=broadcast.pk, by=None)
    after = sending.run_slice(broadcast_id=broadcast.pk)

    assert not_sent == 4 and not after.taken
    assert sum(messages_per_chat(fake_telegram, people).values()) == 2
    broadcast.refresh_from_db()
    progress = broadcast_progress(broadcast)
    assert broadcast.status == Broadcast.Status.CANCELLED and broadcast.cancelled_at is not None
    assert (progress.sent, progress.cancelled, progress.label, progress.finished) == (2, 4, "2 / 6", True)


def test_rows_given_back_after_a_cancel_are_not_sent(fake_telegram, settings):
    settings.TELEGRAM_OUTBOUND_MAX_RETRIES = 0
    people = buyers(2)
    broadcast = started()
    sending._prepare(broadcast.pk)
    token = "run"
    Broadcast.objects.filter(pk=broadcast.pk).update(runner=process_label(), runner_token=token)
    batch = sending._claim_batch(broadcast.pk, token, size=2)
    fake_telegram.fail_next("sendMessage", 429, retry_after=0, times=2)  # both come back to pending...
    with ThreadPoolExecutor(max_workers=2) as pool:
        outcome = sending._send_batch(sending.BroadcastMessage(broadcast), batch, pool)
    broadcast_cancel(broadcast_id=broadcast.pk, by=None)  # ...while an admin cancels
    sending._record(outcome, sending.SliceResult(taken=True))

    assert not sending._renew_lease(broadcast.pk, token)
    sending._cancel_leftovers(broadcast.pk)

    assert set(Delivery.objects.filter(broadcast=broadcast).values_list("status", flat=True)) == {"cancelled"}
    assert sum(messages_per_chat(fake_telegram, people).values()) == 0


def test_a_picture_is_uploaded_once_then_sent_by_its_file_id(fake_telegram):
    people = buyers(4)
    picture = png_picture()
    broadcast = BroadcastFactory(text="<i>New servers</i>", image_name="servers.png", image_type="image/png")
    BroadcastImage.objects.create(broadcast=broadcast, data=picture)
    broadcast = broadcast_start(broadcast_id=broadcast.pk, by=None)

    sending.run_slice(broadcast_id=broadcast.pk)

    photos = fake_telegram.sent_photos()
    assert sorted(p.chat_id for p in photos) == sorted(user.telegram_id for user in people)
    uploads = [p for p in photos if p.data is not None]
    assert len(uploads) == 1 and uploads[0].data == picture and uploads[0].filename == "servers.png"
    file_id = Broadcast.objects.get(pk=broadcast.pk).photo_file_id
    assert file_id and all(p.caption == "<i>New servers</i>" for p in photos)
    by_id = [c for c in fake_telegram.calls("sendPhoto") if c.params.get("photo") == file_id]
    assert len(by_id) == 3


def test_a_message_telegram_refuses_for_everyone_stops_the_broadcast(fake_telegram, settings):
    settings.BROADCAST_BATCH_SIZE = 5
    buyers(12)
    fake_telegram.fail_next("sendMessage", 400, description="Bad Request: can't parse entities: oops", times=100)
    broadcast = started()

    sending.run_slice(broadcast_id=broadcast.pk)

    broadcast.refresh_from_db()
    progress = broadcast_progress(broadcast)
    assert broadcast.status == Broadcast.Status.CANCELLED
    assert "can't parse entities" in broadcast.stop_reason.lower()
    assert (progress.failed, progress.cancelled, progress.pending) == (5, 7, 0)


def test_a_segment_that_emptied_before_the_list_was_fixed_finishes_with_nobody(fake_telegram):
    only = UserFactory()
    broadcast = started()
    User.objects.filter(pk=only.pk).update(bot_blocked_at=timezone.now())

    sending.run_slice(broadcast_id=broadcast.pk)

    broadcast.refresh_from_db()
    assert (broadcast.status, broadcast.total) == (Broadcast.Status.DONE, 0)
    assert fake_telegram.calls("sendMessage") == []


def test_without_telegram_in_the_worker_it_stops_with_the_reason(fake_telegram, settings):
    buyers(1)
    broadcast = started()
    settings.TELEGRAM_BOT_TOKEN = ""

    sending.run_slice(broadcast_id=broadcast.pk)

    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.CANCELLED and "not configured" in broadcast.stop_reason


def test_the_sweep_hands_over_what_nobody_runs(fake_telegram):
    buyers(1)
    now = timezone.now()
    old = now - timedelta(minutes=10)
    lost = started()  # its hand-over was lost long ago
    Broadcast.objects.filter(pk=lost.pk).update(handed_over_at=old)
    fresh = started()  # just handed over: probably waiting in the queue
    running = started()  # a live run holds it
    Broadcast.objects.filter(pk=running.pk).update(
        runner=process_label(), runner_token="t", runner_until=now + timedelta(minutes=5), handed_over_at=old
    )
    orphaned = started()  # its run's process died
    Broadcast.objects.filter(pk=orphaned.pk).update(
        runner=dead_process_label(), runner_token="t2", runner_until=now + timedelta(minutes=5), handed_over_at=now
    )
    BroadcastFactory()  # a draft

    handed: list[int] = []
    sending.sweep(hand=handed.append)

    assert sorted(handed) == sorted([lost.pk, orphaned.pk])
    assert fresh.pk not in handed


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_runs_started_at_once_send_everyone_exactly_once(fake_telegram, settings):
    settings.BROADCAST_BATCH_SIZE = 3
    people = buyers(20)
    broadcast = handed_to_the_worker()

    results = run_concurrently(lambda _: sending.run_slice(broadcast_id=broadcast.pk), 4)

    assert not [r for r in results if isinstance(r, Exception)]
    # whoever took it first sent it all; the others found it held or done
    assert sum(r.sent for r in results) == 20
    assert messages_per_chat(fake_telegram, people) == {user.telegram_id: 1 for user in people}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_cancel_racing_the_claims_leaves_each_row_sent_or_cancelled_once(fake_telegram, settings, no_hand_over):
    settings.BROADCAST_BATCH_SIZE = 2
    people = buyers(30)
    broadcast = handed_to_the_worker()
    sending._prepare(broadcast.pk)

    def act(i: int):
        if i == 0:
            return sending.run_slice(broadcast_id=broadcast.pk)
        return broadcast_cancel(broadcast_id=broadcast.pk, by=None)

    results = run_concurrently(act, 2)

    assert not [r for r in results if isinstance(r, Exception)]
    statuses = list(Delivery.objects.filter(broadcast=broadcast).values_list("user__telegram_id", "status"))
    assert len(statuses) == 30
    sent = {chat for chat, status in statuses if status == Delivery.Status.SENT}
    assert {status for _chat, status in statuses} <= {Delivery.Status.SENT, Delivery.Status.CANCELLED}
    assert {chat for chat, count in messages_per_chat(fake_telegram, people).items() if count} == sent
    assert all(count <= 1 for count in messages_per_chat(fake_telegram, people).values())
