"""Broadcasts sent by the real background workers: a Celery worker process on the test Redis (as the
Procfile runs it) and the embedded worker, against the fake Bot API. A worker SIGKILLed in the middle
of a broadcast is replaced and nobody gets the message twice; a cancel stops it."""

from __future__ import annotations

import time

import pytest

from broadcasts.models import Broadcast, Delivery
from broadcasts.selectors import broadcast_progress
from broadcasts.sending import INTERRUPTED
from broadcasts.services import broadcast_cancel, broadcast_start
from config import celery_app
from tests.broadcasts.factories import BroadcastFactory
from tests.broadcasts.helpers import messages_per_chat, subscribers
from tests.runtime.processes import wait_until, worker_ready
from tests.users.factories import UserFactory
from users.models import User

TIMEOUT = 60.0  # a worker process on a busy 2-core machine
SWEEP_TASK = "broadcasts.sweep"


def progress(broadcast_id: int):
    return broadcast_progress(Broadcast.objects.get(pk=broadcast_id))


def sweeping_until(predicate, *, timeout: float = TIMEOUT, message=lambda: "") -> None:
    """Stand in for Celery beat: hand the broadcast sweep to the workers every half second."""
    last = 0.0

    def swept() -> bool:
        nonlocal last
        if predicate():
            return True
        if time.monotonic() - last >= 0.5:
            celery_app.send_task(SWEEP_TASK)
            last = time.monotonic()
        return False

    wait_until(swept, timeout=timeout, message=message)


def describe(broadcast_id: int, processes) -> str:
    rows = list(Delivery.objects.filter(broadcast_id=broadcast_id).values_list("status", "error"))
    return f"progress {progress(broadcast_id)}\nrows {rows[:20]}\n{processes.describe()}"


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_celery_worker_sends_a_segment_to_every_recipient_once_and_records_the_blocked_one(
    processes, shop_env, broker, fake_telegram
):
    # given a Celery worker as the Procfile runs it, active subscribers (one blocked the bot) and others
    worker = processes.worker(shop_env(broker_url=broker, BROADCAST_BATCH_SIZE="4"), name="solo")
    worker_ready(worker)
    active = subscribers(9)
    blocked = active[4]
    fake_telegram.block(blocked.telegram_id)
    expired = subscribers(3, days=-5)
    never_subscribed = UserFactory()
    draft = BroadcastFactory(
        text="<b>New servers</b> in Frankfurt", segment=Broadcast.Segment.ACTIVE, button=Broadcast.ButtonKind.RENEW
    )

    # when an admin starts it (here, in this process, which hands it to the broker)
    broadcast_start(broadcast_id=draft.pk, by=None)

    # then the worker sends it to the segment, each recipient once, and the progress reaches the total
    sweeping_until(lambda: progress(draft.pk).finished, message=lambda: describe(draft.pk, processes))
    done = progress(draft.pk)
    assert (done.status, done.total, done.sent, done.blocked, done.failed) == ("done", 9, 8, 1, 0)
    assert done.label == "9 / 9"
    reached = [user for user in active if user is not blocked]
    assert messages_per_chat(fake_telegram, reached) == {user.telegram_id: 1 for user in reached}
    assert all(fake_telegram.sent_messages(user.telegram_id) == [] for user in [*expired, never_subscribed])
    russian = next(user for user in reached if user.language_code == "ru")
    [message] = fake_telegram.sent_messages(russian.telegram_id)
    assert message["text"] == "<b>New servers</b> in Frankfurt"
    assert message["reply_markup"]["inline_keyboard"][0][0]["text"] == "🔄 Продлить"
    # the user who blocked the bot is recorded, on the delivery and on the user
    assert Delivery.objects.get(broadcast_id=draft.pk, user=blocked).status == Delivery.Status.BLOCKED
    assert User.objects.get(pk=blocked.pk).bot_blocked_at is not None
    assert "Task broadcasts.run_broadcast" in worker.output()


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_broadcast_is_replaced_and_nobody_gets_it_twice(processes, shop_env, broker, fake_telegram):
    # given a slow broadcast (10 messages a second) to 40 subscribers, sent by a Celery worker
    env = shop_env(
        broker_url=broker,
        BROADCAST_BATCH_SIZE="5",
        BROADCAST_SLICE_SECONDS="2",
        BROADCAST_SWEEP_SECONDS="0.5",
        TELEGRAM_OUTBOUND_MAX_PER_SECOND="10",
    )
    first = processes.worker(env, name="first")
    worker_ready(first)
    people = subscribers(40)
    draft = BroadcastFactory(segment=Broadcast.Segment.ACTIVE)
    broadcast_start(broadcast_id=draft.pk, by=None)
    wait_until(lambda: progress(draft.pk).sent >= 10, timeout=TIMEOUT, message=lambda: describe(draft.pk, processes))

    # when Telegram takes its time with the next messages and the worker is SIGKILLed while they are in flight
    fake_telegram.fail_next("sendMessage", delay=2.0, times=1000)
    wait_until(
        lambda: Delivery.objects.filter(broadcast_id=draft.pk, status=Delivery.Status.SENDING).exists(),
        timeout=TIMEOUT,
        message=lambda: describe(draft.pk, processes),
    )
    first.kill()
    fake_telegram.heal()
    at_kill = progress(draft.pk)
    assert at_kill.status == "sending" and at_kill.sending > 0

    # and a new worker starts (beat's sweep hands the broadcast over: its run's process is dead)
    second = processes.worker(env, name="second")
    worker_ready(second)
    sweeping_until(lambda: progress(draft.pk).finished, message=lambda: describe(draft.pk, processes))
    fake_telegram.wait_idle(timeout=10)

    # then it finished, every row settled, and no chat got the message twice
    done = progress(draft.pk)
    assert (done.status, done.total, done.label) == ("done", 40, "40 / 40")
    counts = messages_per_chat(fake_telegram, people)
    assert max(counts.values()) == 1, counts
    rows = list(Delivery.objects.filter(broadcast_id=draft.pk).select_related("user"))
    sent = [row for row in rows if row.status == Delivery.Status.SENT]
    interrupted = [row for row in rows if row.status == Delivery.Status.FAILED]
    assert all(counts[row.user.telegram_id] == 1 for row in sent)
    # the rows in flight at the kill are failed and never resent (at most once: Telegram may or may
    # not have taken them before the worker died), and they are no more than one batch
    assert 0 < len(interrupted) <= 5 and all(row.error == INTERRUPTED for row in interrupted)
    assert len(sent) + len(interrupted) == 40
    arrived = sum(counts[row.user.telegram_id] for row in interrupted)
    print(f"{len(interrupted)} interrupted row(s), {arrived} of them reached Telegram before the kill")
    assert "taking it over" in second.output()


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_cancel_stops_a_broadcast_a_worker_is_sending(processes, shop_env, broker, fake_telegram):
    # given a broadcast being sent by a Celery worker at 5 messages a second
    worker = processes.worker(
        shop_env(broker_url=broker, BROADCAST_BATCH_SIZE="2", TELEGRAM_OUTBOUND_MAX_PER_SECOND="5"), name="solo"
    )
    worker_ready(worker)
    people = subscribers(30)
    draft = BroadcastFactory(segment=Broadcast.Segment.ACTIVE)
    broadcast_start(broadcast_id=draft.pk, by=None)
    wait_until(lambda: progress(draft.pk).sent >= 4, timeout=TIMEOUT, message=lambda: describe(draft.pk, processes))

    # when an admin cancels it
    not_sent = broadcast_cancel(broadcast_id=draft.pk, by=None)

    # then the batch in flight is finished and nothing else goes out
    wait_until(lambda: not progress(draft.pk).sending, timeout=TIMEOUT, message=lambda: describe(draft.pk, processes))
    time.sleep(1.5)  # a worker that missed the cancel would send within this
    done = progress(draft.pk)
    delivered = sum(messages_per_chat(fake_telegram, people).values())
    assert done.status == "cancelled" and done.finished
    assert delivered == done.sent < 30
    assert done.cancelled >= not_sent and done.sent + done.cancelled == 30


@pytest.mark.django_db(transaction=True)
def test_without_a_broker_the_embedded_worker_sends_it(embedded_worker, fake_telegram, settings):
    # given no broker: the process's own background threads run the tasks
    people = subscribers(5)
    draft = BroadcastFactory(segment=Broadcast.Segment.ACTIVE, button=Broadcast.ButtonKind.BUY)

    broadcast_start(broadcast_id=draft.pk, by=None)

    wait_until(lambda: progress(draft.pk).finished, timeout=TIMEOUT, message=lambda: str(progress(draft.pk)))
    assert embedded_worker.wait_idle(TIMEOUT)
    assert progress(draft.pk).label == "5 / 5"
    assert messages_per_chat(fake_telegram, people) == {user.telegram_id: 1 for user in people}
