"""One message with the subscription link per purchase, with the real embedded
worker (not inline): in the payment confirmation when the link is known, else in
one follow-up once provisioning finishes; with no panel, plainly none."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from payments.services import purchase_create_invoice
from subscriptions.backends import reset_backend
from subscriptions.models import ProvisioningTask, Subscription
from telegram_bot.webhook import background_bot
from tests.runtime.buyers import LINK_FOLLOWS, NO_LINK, TIMEOUT
from tests.runtime.processes import wait_until
from tests.subscriptions.factories import SubscriptionFactory
from tests.telegram_bot.support import message_text
from tests.users.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def confirm_payment(fake, webhook, user) -> str:
    """The user pays a one-month invoice; the webhook answers once the bot has replied."""
    payment = purchase_create_invoice(user=user, tariff="1m").payment
    since = len(fake.sent_messages(user.telegram_id))
    paid = fake.inject_successful_payment(user, payment.invoice_payload, payment.amount, deliver=False)
    assert webhook(paid).status_code == 200
    [confirmation] = [message_text(m) for m in fake.sent_messages(user.telegram_id)[since:]]
    assert "Payment received" in confirmation
    return confirmation


def background_settled(worker) -> None:
    """Every outbox row finished and the embedded worker idle: nothing more is on its way."""
    done = ProvisioningTask.Status.DONE
    wait_until(
        lambda: ProvisioningTask.objects.exists() and not ProvisioningTask.objects.exclude(status=done).exists(),
        timeout=TIMEOUT,
        message=lambda: f"outbox: {list(ProvisioningTask.objects.values_list('kind', 'status', 'note'))}",
    )
    assert worker.wait_idle(TIMEOUT)


def provisioned_subscription(user, panel) -> Subscription:
    """A user whose earlier purchase was provisioned: the panel user and the link exist."""
    expires_at = timezone.now() + timedelta(days=10)
    panel_user = panel.add_user(f"tg_{user.telegram_id}", expire_at=expires_at, telegram_id=user.telegram_id)
    return SubscriptionFactory(
        user=user,
        expires_at=expires_at,
        status=Subscription.Status.ACTIVE,
        panel_username=panel_user["username"],
        panel_user_uuid=panel_user["uuid"],
        panel_short_uuid=panel_user["shortUuid"],
        panel_api_version=panel.version,
        subscription_url=f"{panel.public_url}/{panel_user['shortUuid']}",
        provisioned_at=timezone.now() - timedelta(days=20),
        link_state=Subscription.LinkState.SENT,
    )


def link_messages(fake, panel, user) -> list[str]:
    return [message_text(m) for m in fake.sent_messages(user.telegram_id) if panel.public_url in message_text(m)]


def slow_panel(panel, settings, seconds: float) -> None:
    """Every panel call takes `seconds` (within the client's timeout)."""
    settings.REMNAWAVE_TIMEOUT = 5
    reset_backend()
    panel.set_latency(seconds)


def test_a_renewal_confirmation_carries_the_known_link_and_no_second_link_follows(
    fake_telegram, fake_panel, settings, webhook, embedded_worker, tariff_1m
):
    # given a buyer whose subscription is provisioned already (and a panel slower than the
    # bot's reply, so the worker's sync surely ends after the confirmation)
    user = UserFactory()
    subscription = provisioned_subscription(user, fake_panel)
    slow_panel(fake_panel, settings, 0.3)

    # when they renew
    confirmation = confirm_payment(fake_telegram, webhook, user)

    # then the confirmation carries the link, and once the worker has synced the panel no link follows
    assert subscription.subscription_url in confirmation
    background_settled(embedded_worker)
    assert fake_panel.calls_to("PATCH", "/api/users"), "the renewal was not synced to the panel"
    assert link_messages(fake_telegram, fake_panel, user) == [confirmation]


def test_a_first_purchase_on_a_slow_panel_gets_the_link_in_one_follow_up(
    fake_telegram, fake_panel, settings, webhook, embedded_worker, tariff_1m
):
    # given a new buyer and a panel that takes a second for every call
    user = UserFactory()
    slow_panel(fake_panel, settings, 1.0)

    # when they pay, then the confirmation says the link follows
    confirmation = confirm_payment(fake_telegram, webhook, user)
    assert LINK_FOLLOWS in confirmation and fake_panel.public_url not in confirmation

    # and exactly one message with the link arrives once the panel user exists
    wait_until(lambda: link_messages(fake_telegram, fake_panel, user), timeout=TIMEOUT, message="no link followed")
    background_settled(embedded_worker)
    [link] = link_messages(fake_telegram, fake_panel, user)
    assert Subscription.objects.get(user=user).subscription_url in link


def test_without_a_panel_the_confirmation_says_there_is_no_link_and_nothing_follows(
    fake_telegram, settings, webhook, embedded_worker, tariff_1m
):
    # given the shop runs without a provisioning backend
    settings.PROVISIONING_BACKEND = "none"
    reset_backend()
    user = UserFactory()

    # when a buyer pays, then the confirmation says plainly there is no link
    confirmation = confirm_payment(fake_telegram, webhook, user)
    assert NO_LINK in confirmation

    # and once the worker has finished the outbox row, nothing else was sent
    background_settled(embedded_worker)
    assert [message_text(m) for m in fake_telegram.sent_messages(user.telegram_id)] == [confirmation]
    assert Subscription.objects.get(user=user).link_state == Subscription.LinkState.NONE
    reset_backend()


def test_a_confirmation_resent_after_the_worker_sent_the_link_does_not_carry_it_again(
    fake_telegram, fake_panel, settings, webhook, embedded_worker, tariff_1m
):
    # given Telegram refuses the bot's payment confirmation once
    settings.TELEGRAM_UPDATE_RETRY_SECONDS = 0
    user = UserFactory()
    payment = purchase_create_invoice(user=user, tariff="1m").payment
    fake_telegram.fail_next("sendMessage", status=500)

    # when the buyer pays, and the worker provisions and sends the link meanwhile
    paid = fake_telegram.inject_successful_payment(user, payment.invoice_payload, payment.amount, deliver=False)
    assert webhook(paid).status_code == 200
    wait_until(lambda: link_messages(fake_telegram, fake_panel, user), timeout=TIMEOUT, message="no link")
    background_settled(embedded_worker)

    # and the failed update is run again, so the confirmation is sent after all
    assert background_bot.retry_due() == 1
    confirmation = fake_telegram.wait_for_message(user.telegram_id, contains="Payment received")

    # then the link came once: the resent confirmation points to the message that has it
    assert fake_panel.public_url not in message_text(confirmation)
    assert len(link_messages(fake_telegram, fake_panel, user)) == 1


def test_a_confirmation_that_carried_the_link_but_failed_to_send_carries_it_when_resent(
    fake_telegram, fake_panel, settings, webhook, embedded_worker, tariff_1m
):
    # given a provisioned buyer, and Telegram refusing the bot's payment confirmation once
    settings.TELEGRAM_UPDATE_RETRY_SECONDS = 0
    user = UserFactory()
    subscription = provisioned_subscription(user, fake_panel)
    slow_panel(fake_panel, settings, 0.3)
    payment = purchase_create_invoice(user=user, tariff="1m").payment
    fake_telegram.fail_next("sendMessage", status=500)

    # when they renew, the confirmation (which took the link) fails, and the update is run again
    paid = fake_telegram.inject_successful_payment(user, payment.invoice_payload, payment.amount, deliver=False)
    assert webhook(paid).status_code == 200
    background_settled(embedded_worker)
    assert link_messages(fake_telegram, fake_panel, user) == []
    assert background_bot.retry_due() == 1

    # then the resent confirmation carries the link, and it is the only message that does
    confirmation = fake_telegram.wait_for_message(user.telegram_id, contains="Payment received")
    assert subscription.subscription_url in message_text(confirmation)
    assert link_messages(fake_telegram, fake_panel, user) == [message_text(confirmation)]
