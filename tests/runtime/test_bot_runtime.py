"""The shop's real processes end to end: `manage.py runbot` polling the fake Bot API,
background work in the embedded worker (runbot alone, no broker) or in a Celery
worker on Redis, the fake Remnawave panel slow, down, or its caller killed."""

from __future__ import annotations

import socket
import statistics

import pytest
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from tests.runtime.broker import sweep_until
from tests.runtime.buyers import LINK_FOLLOWS, TIMEOUT, link_messages, open_invoice, pay
from tests.runtime.conftest import outbox, outbox_settled
from tests.runtime.processes import beat_ready, runbot_ready, wait_until, worker_ready
from tests.telegram_bot.support import Buyer

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

EMBEDDED, CELERY = "embedded", "celery"
both_modes = pytest.mark.parametrize(
    "mode", [EMBEDDED, pytest.param(CELERY, marks=pytest.mark.postgres)], ids=["embedded", "celery"]
)
PANEL_CALL_SECONDS = 4.0


class Shop:
    """runbot, plus a Celery worker in Celery mode, all started and ready."""

    def __init__(self, processes, shop_env, request, mode: str) -> None:
        self.mode = mode
        broker_url = request.getfixturevalue("broker") if mode == CELERY else ""
        self.env = shop_env(broker_url=broker_url)
        self.processes = processes
        self.bot = processes.runbot(self.env)
        self.worker = processes.worker(self.env) if mode == CELERY else None
        runbot_ready(self.bot)
        if self.worker is not None:
            worker_ready(self.worker)

    def until(self, predicate, *, timeout: float = TIMEOUT, message: str = "") -> None:
        """Wait for `predicate`; in Celery mode send the sweeper meanwhile (beat's job),
        in embedded mode runbot's own schedule runs it."""
        described = lambda: f"{message}\n{self.processes.describe()}"  # noqa: E731
        if self.mode == CELERY:
            sweep_until(predicate, timeout=timeout, message=described)
        else:
            wait_until(predicate, timeout=timeout, message=described)


@pytest.fixture
def shop(processes, shop_env, request):
    return lambda mode: Shop(processes, shop_env, request, mode)


@both_modes
def test_a_payment_creates_the_panel_user_and_sends_the_link_once(
    mode, shop, fake_telegram, fake_panel, process_database_url
):
    # given the bot and its background work running
    running = shop(mode)
    buyer = Buyer(fake_telegram, 720_001)

    # when the buyer pays for a month
    pay(fake_telegram, buyer, open_invoice(fake_telegram, buyer))

    # then the panel user is created and the subscription link arrives, once
    running.until(lambda: outbox_settled(process_database_url), message=f"outbox: {outbox(process_database_url)}")
    assert [call.body["username"] for call in fake_panel.creates()] == [f"tg_{buyer.id}"]
    assert len(link_messages(fake_telegram, fake_panel, buyer)) == 1


@both_modes
def test_another_buyers_pre_checkout_is_answered_at_once_while_provisioning_waits_on_a_slow_panel(
    mode, shop, fake_telegram, fake_panel
):
    # given the bot running, invoices open for three payers and five other buyers,
    # and a panel that takes 4 s for every call
    running = shop(mode)
    payers = [Buyer(fake_telegram, 720_101 + i) for i in range(3)]
    others = [Buyer(fake_telegram, 720_201 + i) for i in range(5)]
    invoices = {buyer.id: open_invoice(fake_telegram, buyer) for buyer in payers + others}
    fake_panel.set_latency(PANEL_CALL_SECONDS)

    # when the payers pay and their provisioning is waiting on the panel
    for buyer in payers:
        assert LINK_FOLLOWS in pay(fake_telegram, buyer, invoices[buyer.id])
    wait_until(lambda: fake_panel.calls, timeout=TIMEOUT, message="no provisioning call reached the panel")

    # and the other buyers' pre-checkout queries arrive meanwhile
    latencies = []
    for buyer in others:
        invoice = invoices[buyer.id]
        query = fake_telegram.inject_pre_checkout(buyer.user, invoice["payload"], invoice["amount"])
        answer = fake_telegram.wait_for_precheckout_answer(query, timeout=TIMEOUT)
        assert answer.ok
        latencies.append(answer.latency)

    # then each was answered in well under a second, while every payer still waited for the panel
    assert not any(link_messages(fake_telegram, fake_panel, buyer) for buyer in payers), "provisioning was not slow"
    assert max(latencies) < 1.0, f"pre-checkout answers took {latencies} s (median {statistics.median(latencies)})"

    # and once the panel is quick again, every payer gets the link, once
    fake_panel.set_latency(0)
    running.until(
        lambda: all(link_messages(fake_telegram, fake_panel, buyer) for buyer in payers),
        timeout=3 * TIMEOUT,
        message="a payer got no link",
    )
    assert [len(link_messages(fake_telegram, fake_panel, buyer)) for buyer in payers] == [1, 1, 1]


@both_modes
def test_a_purchase_made_while_the_panel_is_down_is_provisioned_exactly_once_after_it_returns(
    mode, shop, processes, fake_telegram, fake_panel, process_database_url
):
    # given the bot running and the panel down
    running = shop(mode)
    if mode == CELERY:
        # Celery beat runs the sweeper here, from one schedule row: every second
        schedule_only_the_sweeper(every=1)
        beat_ready(processes.beat(running.env))
    fake_panel.down = True
    buyer = Buyer(fake_telegram, 720_301)

    # when the buyer pays, and provisioning is tried again and again while the panel is down
    assert LINK_FOLLOWS in pay(fake_telegram, buyer, open_invoice(fake_telegram, buyer))
    wait_until(lambda: len(fake_panel.calls) >= 4, timeout=TIMEOUT, message="provisioning was not retried")
    assert fake_panel.users == {} and link_messages(fake_telegram, fake_panel, buyer) == []

    # and the panel comes back
    fake_panel.down = False

    # then the purchase is provisioned once: one panel user, one link message
    wait_until(
        lambda: outbox_settled(process_database_url) and link_messages(fake_telegram, fake_panel, buyer),
        timeout=TIMEOUT,
        message=f"not provisioned after the panel returned; outbox: {outbox(process_database_url)}\n"
        + processes.describe(),
    )
    assert len(fake_panel.creates()) == 1 and list(fake_panel.users) == [f"tg_{buyer.id}"]
    assert len(link_messages(fake_telegram, fake_panel, buyer)) == 1


def schedule_only_the_sweeper(*, every: int) -> None:
    PeriodicTask.objects.all().delete()
    interval, _ = IntervalSchedule.objects.get_or_create(every=every, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(name="sweep the outbox", task="subscriptions.sweep_outbox", interval=interval)


@both_modes
def test_a_worker_killed_inside_a_panel_call_is_replaced_and_the_purchase_completes_once(
    mode, shop, processes, fake_telegram, fake_panel, process_database_url
):
    # given the bot and its background work running (runbot itself in embedded mode, else a
    # Celery worker), and a panel that is slow to create users
    running = shop(mode)
    worker = running.bot if mode == EMBEDDED else running.worker
    buyer = Buyer(fake_telegram, 720_401)
    username = f"tg_{buyer.id}"
    fake_panel.set_latency(3.0, method="POST")

    # when the buyer pays and the worker is inside the panel's create call
    pay(fake_telegram, buyer, open_invoice(fake_telegram, buyer))
    wait_until(fake_panel.creates, timeout=TIMEOUT, message="the worker never called the panel")
    held_by = f"{socket.gethostname()}:{worker.pid}"
    assert outbox(process_database_url, ("kind", "status", "locked_by")) == [("sync", "running", held_by)]

    # and the worker is killed (SIGKILL, its whole process group) in the middle of it
    worker.kill()
    fake_panel.set_latency(0)
    # (the panel finishes that create, but its answer is lost)
    wait_until(lambda: fake_panel.user(username), timeout=TIMEOUT, message="the panel did not finish the create")

    # and a new one starts
    if mode == EMBEDDED:
        runbot_ready(processes.runbot(running.env, name="runbot-again"))
    else:
        worker_ready(processes.worker(running.env, name="second"))

    # then the task completes (within TIMEOUT, long before its 120 s lease would end: the
    # sweeper saw that its holder died), with one panel user and one link message
    running.until(
        lambda: outbox_settled(process_database_url) and link_messages(fake_telegram, fake_panel, buyer),
        message=f"outbox: {outbox(process_database_url, ('kind', 'status', 'locked_by', 'note'))}",
    )
    assert len(fake_panel.creates()) == 1 and list(fake_panel.users) == [username]
    assert len(link_messages(fake_telegram, fake_panel, buyer)) == 1
