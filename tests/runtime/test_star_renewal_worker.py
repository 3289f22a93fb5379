"""A Star subscription renewed while no Celery worker runs is provisioned once one starts."""

from __future__ import annotations

from datetime import datetime

import pytest

from subscriptions.models import Subscription
from tests.payments.star_subscription_helpers import deliver, renew, subscribe
from tests.runtime.broker import sweep_until
from tests.runtime.buyers import TIMEOUT
from tests.runtime.conftest import outbox, outbox_settled
from tests.runtime.processes import worker_ready
from tests.subscriptions.helpers import panel_username
from tests.users.factories import UserFactory

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def panel_expiry(fake_panel, user) -> datetime | None:
    return fake_panel.expire_at(panel_username(user))


def same_time(a: datetime | None, b: datetime) -> bool:
    return a is not None and abs((a - b).total_seconds()) < 1


def test_a_renewal_arriving_while_the_worker_is_down_is_provisioned_when_it_returns(
    processes, shop_env, broker, fake_panel, fake_telegram, process_database_url, renewing_tariff
):
    # given a subscribed buyer whose first period is in the panel
    user = UserFactory()
    subscription = subscribe(fake_telegram, user)
    first = processes.worker(shop_env(broker_url=broker), name="first")
    worker_ready(first)
    sweep_until(lambda: outbox_settled(process_database_url), timeout=TIMEOUT, message=processes.describe)
    first_period = panel_expiry(fake_panel, user)
    first.stop(timeout=10)

    # when Telegram renews it while no worker runs
    assert deliver(renew(fake_telegram, subscription)).outcome == "granted"
    renewed_until = Subscription.objects.get(user=user).expires_at
    assert not outbox_settled(process_database_url) and panel_expiry(fake_panel, user) == first_period

    # then a worker started later pushes the renewed expiry, once
    second = processes.worker(shop_env(broker_url=broker), name="second")
    worker_ready(second)
    sweep_until(
        lambda: outbox_settled(process_database_url) and same_time(panel_expiry(fake_panel, user), renewed_until),
        timeout=TIMEOUT,
        message=lambda: f"outbox: {outbox(process_database_url)}\n{processes.describe()}",
    )
    assert round((renewed_until - first_period).total_seconds() / 86400) == 30
    assert len([u for u in fake_panel.users.values() if u["telegramId"] == user.telegram_id]) == 1
