"""Chaos: the shop's real processes (runbot, Celery workers) against PostgreSQL while
things break. After each: every paid payment granted exactly once, every refund
booked exactly once, balances equal the ledger, nothing left stuck, and the panel
holds what the database says (tests/chaos/invariants.py).

Redis and PostgreSQL are shared with everyone on the machine: "Redis down" is a
proxy this test owns being cut, and only this test database's backends are ended.
"A minute" of an outage is a few seconds: nothing here depends on its length.
"""

from __future__ import annotations

import threading

import pytest

from config import celery_app
from payments.charges import Charge
from payments.models import Payment
from payments.services import purchase_complete, purchase_create_invoice
from subscriptions.models import ProvisioningTask
from telegram_bot.models import TelegramUpdate
from tests.chaos.conftest import celery_broker, runbot_ready
from tests.chaos.invariants import assert_books_balance, settled, unsettled
from tests.chaos.processes import wait_until
from tests.telegram_bot.support import Buyer
from tests.users.factories import UserFactory
from users.models import User

pytestmark = [pytest.mark.postgres, pytest.mark.chaos, pytest.mark.django_db(transaction=True)]

SETTLE_TIMEOUT = 60.0
SWEEP_TASK = "subscriptions.sweep_outbox"


def invoice_for(telegram_id: int, *, tariff: str = "1m") -> Payment:
    return purchase_create_invoice(user=UserFactory(telegram_id=telegram_id), tariff=tariff).payment


def pay_in_telegram(fake, payment: Payment, *, charge_id: str | None = None):
    """The buyer pays: Telegram sends the bot a successful_payment."""
    return fake.inject_successful_payment(
        payment.user, payment.invoice_payload, payment.amount, charge_id=charge_id or f"chaos-{payment.pk}"
    )


def paid(*payments: Payment) -> bool:
    statuses = set(Payment.objects.filter(pk__in=[p.pk for p in payments]).values_list("status", flat=True))
    return statuses <= {Payment.Status.SUCCEEDED, Payment.Status.REFUNDED} and bool(statuses)


def confirmations(fake, payment: Payment) -> int:
    return sum("Payment received" in m.get("text", "") for m in fake.sent_messages(payment.user.telegram_id))


def settle(processes, *, sweep: bool = False) -> None:
    """Until nothing is left to do; with `sweep`, standing in for Celery beat (the outbox sweeper)."""

    def done() -> bool:
        if sweep:
            celery_app.send_task(SWEEP_TASK)
        return settled()

    wait_until(done, timeout=SETTLE_TIMEOUT, message=lambda: f"{unsettled()}\n{processes.describe()}")


def test_runbot_killed_between_storing_an_update_and_handling_it(
    fake_telegram, fake_panel, shop_env, processes, postgres, tariffs
):
    # given runbot has stored a successful payment and is handling it (held up on the buyer's row)
    payment = invoice_for(701_001)
    first = processes.runbot(shop_env(), name="runbot-1")
    runbot_ready(fake_telegram, first, seen=0)
    with postgres.row_locked(User._meta.db_table, payment.user.pk):
        update = pay_in_telegram(fake_telegram, payment)
        blocked = wait_until(
            lambda: TelegramUpdate.objects.filter(update_id=update.update_id).exists() and postgres.waiting_on_a_lock(),
            timeout=30,
            message=lambda: first.describe(),
        )

        # when it is killed there (SIGKILL), restarted, and Telegram delivers the update again
        first.kill()
        postgres.terminate(blocked)
    assert Payment.objects.get(pk=payment.pk).status == Payment.Status.PENDING
    second = processes.runbot(shop_env(), name="runbot-2")
    runbot_ready(fake_telegram, second, seen=1)
    fake_telegram.deliver(update)

    # then the stored update is handled once: one grant, one confirmation
    settle(processes)
    assert paid(payment)
    assert_books_balance(panel=fake_panel)
    assert confirmations(fake_telegram, payment) == 1


def test_worker_killed_mid_panel_call(fake_telegram, fake_panel, shop_env, processes, redis_url, settings, tariffs):
    # given a Celery worker provisioning a purchase, killed while the panel holds its create call
    env = shop_env(CELERY_BROKER_URL=redis_url, REMNAWAVE_TIMEOUT="30")
    first = processes.worker(env, name="worker-1")
    fake_panel.create_then_hang(60)
    payment = invoice_for(701_101)
    with celery_broker(redis_url, settings):
        purchase_complete(
            Charge(payload=payment.invoice_payload, charge_id="chaos-worker-1", amount=payment.amount, currency="XTR")
        )
        username = f"tg_{payment.user.telegram_id}"
        wait_until(lambda: fake_panel.user(username), timeout=30, message=lambda: first.describe())
        first.kill()
        assert ProvisioningTask.objects.get(user=payment.user, kind="sync").status == ProvisioningTask.Status.RUNNING

        # when another worker runs, with the sweeper handing due work over
        processes.worker(env, name="worker-2")
        settle(processes, sweep=True)

    # then the panel user exists once, with the paid expiry, and the link was sent once
    assert len(fake_panel.users) == 1
    assert_books_balance(panel=fake_panel)
    links = [m for m in fake_telegram.sent_messages(payment.user.telegram_id) if "subscription is ready" in m["text"]]
    assert len(links) == 1


def test_database_connections_dropped_mid_transaction(
    fake_telegram, fake_panel, shop_env, processes, postgres, tariffs
):
    payments = [invoice_for(701_200 + i) for i in range(5)]
    bot = processes.runbot(shop_env(PROVISIONING_LEASE_SECONDS="5"))
    runbot_ready(fake_telegram, bot, seen=0)

    # given a payment whose transaction is ended while it waits on a row lock inside it
    first = payments[0]
    with postgres.row_locked(User._meta.db_table, first.user.pk):
        pay_in_telegram(fake_telegram, first)
        blocked = wait_until(postgres.waiting_on_a_lock, timeout=30, message=lambda: bot.describe())
        assert postgres.terminate(blocked) == len(blocked)

    # and more payments and a refund while every connection of the database is ended again and again
    stop = threading.Event()
    ended: list[int] = []

    def cut_connections() -> None:
        while not stop.is_set():
            ended.append(postgres.terminate())
            stop.wait(0.1)

    cutter = threading.Thread(target=cut_connections, name="chaos-pg-terminate", daemon=True)
    cutter.start()
    try:
        for payment in payments[1:]:
            pay_in_telegram(fake_telegram, payment)
        refunded = payments[1]
        fake_telegram.inject_refunded_payment(
            refunded.user, refunded.invoice_payload, refunded.amount, f"chaos-{refunded.pk}"
        )
        stop.wait(3.0)  # the outage
    finally:
        stop.set()
        cutter.join(5)

    # then everything is handled once it is over
    assert sum(ended) > 0
    settle(processes)
    assert paid(*payments)
    assert Payment.objects.get(pk=refunded.pk).status == Payment.Status.REFUNDED
    assert_books_balance(panel=fake_panel)


def test_redis_down_with_the_broker_configured(
    fake_telegram, fake_panel, shop_env, processes, redis_proxy, settings, tariffs
):
    broker = redis_proxy.url("redis", redis_proxy.database)
    env = shop_env(CELERY_BROKER_URL=broker, CACHE_URL=broker)
    processes.worker(env)
    bot = processes.runbot(env)
    runbot_ready(fake_telegram, bot, seen=0)
    before, *during = [invoice_for(701_300 + i) for i in range(3)]
    with celery_broker(broker, settings):
        pay_in_telegram(fake_telegram, before)
        settle(processes)

        # when Redis (broker and cache) goes down while buyers pay
        redis_proxy.cut()
        for payment in during:
            pay_in_telegram(fake_telegram, payment)
        wait_until(
            lambda: paid(*during) and all(confirmations(fake_telegram, payment) for payment in during),
            timeout=30,
            message=lambda: processes.describe(),
        )

        Buyer(fake_telegram, 701_399).command("help", expect="/paysupport")  # its flood limit lives in Redis
        assert "it stays due in the database" in bot.output()  # the hand-over to the broker failed
        assert "rate limit cache unavailable" in bot.output()  # and the flood limit let the message through

        # and comes back
        redis_proxy.restore()
        settle(processes, sweep=True)

    # then the payments made meanwhile were confirmed once and provisioned too
    assert_books_balance(panel=fake_panel)
    assert all(fake_panel.user(f"tg_{p.user.telegram_id}") for p in during)
    assert [confirmations(fake_telegram, payment) for payment in during] == [1, 1]


def test_telegram_answering_429_and_5xx(fake_telegram, fake_panel, shop_env, processes, tariffs):
    payments = [invoice_for(701_400 + i) for i in range(4)]
    bot = processes.runbot(shop_env())
    runbot_ready(fake_telegram, bot, seen=0)

    # given Telegram answers everything with 429 (flood wait) while buyers pay
    fake_telegram.fail_next("*", status=429, retry_after=1, times=1_000_000)
    for payment in payments[:2]:
        pay_in_telegram(fake_telegram, payment)
    wait_until(lambda: len([c for c in fake_telegram.calls("getUpdates") if c.status == 429]) >= 2, timeout=30)

    # then delivers the updates but fails every message and pre-checkout answer with a server error
    fake_telegram.heal()
    fake_telegram.fail_next("sendMessage", status=502, times=1_000_000)
    fake_telegram.fail_next("answerPreCheckoutQuery", status=500, times=1_000_000)
    for payment in payments[2:]:
        pay_in_telegram(fake_telegram, payment)
    wait_until(lambda: paid(*payments), timeout=30, message=lambda: bot.describe())
    wait_until(lambda: len([c for c in fake_telegram.calls("sendMessage") if c.status == 502]) >= 4, timeout=30)

    # when it recovers
    fake_telegram.heal()

    # then every payment was granted once and confirmed once
    settle(processes)
    assert_books_balance(panel=fake_panel)
    assert [confirmations(fake_telegram, payment) for payment in payments] == [1, 1, 1, 1]
