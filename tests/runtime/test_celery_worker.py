"""A real Celery worker on the real Redis runs the tasks this process hands over (not eager mode)."""

from __future__ import annotations

import pytest

from subscriptions.models import ProvisioningTask, Subscription
from tests.runtime.broker import sweep_until
from tests.runtime.buyers import TIMEOUT
from tests.runtime.conftest import outbox, outbox_settled
from tests.runtime.processes import worker_ready
from tests.subscriptions.helpers import buy, panel_username
from tests.users.factories import UserFactory

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_a_celery_worker_on_redis_provisions_a_purchase_made_in_this_process(
    processes, shop_env, broker, fake_panel, fake_telegram, process_database_url, tariff_1m
):
    # given a Celery worker on the test Redis, and this process handing its tasks to that broker
    worker = processes.worker(shop_env(broker_url=broker), name="solo")
    worker_ready(worker)
    user = UserFactory()

    # when a purchase commits here
    buy(user)

    # then the worker claims its outbox row, creates the panel user and sends the link
    sweep_until(  # (beat's part: a failed step is handed over again)
        lambda: outbox_settled(process_database_url) and fake_telegram.sent_messages(user.telegram_id),
        timeout=TIMEOUT,
        message=lambda: f"outbox: {outbox(process_database_url)}\n{processes.describe()}",
    )
    subscription = Subscription.objects.get(user=user)
    assert subscription.subscription_url and subscription.link_state == Subscription.LinkState.SENT
    assert fake_panel.user(panel_username(user))["telegramId"] == user.telegram_id
    sync = ProvisioningTask.objects.get(user=user, kind=ProvisioningTask.Kind.SYNC)
    assert (sync.note, sync.locked_by) == ("panel: created", "")
    [link] = fake_telegram.sent_messages(user.telegram_id)
    assert subscription.subscription_url in link["text"]
    # and it was the worker that ran them, from the broker
    assert "Task subscriptions.run_provisioning_task" in worker.output()
