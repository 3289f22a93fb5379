"""Alerts to the owner's chat: recorded by the services, grouped and sent by the worker to the fake
Bot API server, once per cause; a chat that refuses them fails only them."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from broadcasts import sending
from broadcasts.models import Delivery
from broadcasts.services import broadcast_start
from core.heartbeats import BOT_POLLING, heartbeat_record
from core.models import Heartbeat
from notifications.models import OwnerAlert, OwnerMessage
from notifications.owner import owner_alert, owner_alerts_deliver
from ops.watch import watch_for_owner
from payments.dashboard.page import STAR_BALANCE_CACHE_KEY
from payments.models import Payment
from payments.refunds import refund_payment
from subscriptions.models import PanelProblem, ProvisioningTask
from subscriptions.panel_health import PanelReport, panel_check_record
from tests.broadcasts.factories import BroadcastFactory
from tests.notifications.helpers import after_the_window, owner_texts
from tests.payments.factories import PaymentFactory
from tests.payments.helpers import pay
from tests.telegram_fake.helpers import paid_subscription
from tests.users.factories import UserFactory

# --- Grouping under a burst ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_burst_of_200_purchases_makes_two_owner_messages_not_200(fake_telegram, owner_chat, settings, tariff_1m):
    """Each purchase hands the sending to the worker after its commit (run at once here); the first
    one is told at once, the other 199 wait for the window and go as one message."""
    settings.OWNER_ALERT_PURCHASES = True
    invoices = [PaymentFactory(tariff=tariff_1m) for _ in range(200)]

    for number, invoice in enumerate(invoices):
        pay(invoice, charge_id=f"burst-{number}")
    after_the_window()

    texts = owner_texts(fake_telegram, owner_chat)
    assert len(texts) == 2
    assert texts[0].startswith("🛒 Новая покупка")
    # The second covers the first alert left out to the end of the window: about 6 minutes.
    assert re.match(r"🛒 199 покупок за \d+ минут: 19\xa0900 ⭐\n", texts[1])
    assert "… и ещё 189 раньше" in texts[1]
    assert Payment.objects.filter(status=Payment.Status.SUCCEEDED).count() == 200


@pytest.mark.django_db
def test_purchases_are_not_alerted_unless_switched_on(fake_telegram, owner_chat, tariff_1m):
    pay(PaymentFactory(tariff=tariff_1m))

    after_the_window()

    assert not OwnerAlert.objects.exists()
    assert fake_telegram.sent_messages(owner_chat) == []


@pytest.mark.django_db
def test_without_an_owner_chat_nothing_is_recorded(fake_telegram, settings, tariff_1m):
    settings.OWNER_CHAT_ID = None
    settings.OWNER_ALERT_PURCHASES = True

    pay(PaymentFactory(tariff=tariff_1m))

    assert not OwnerAlert.objects.exists()


@pytest.mark.django_db
def test_alerts_of_different_kinds_are_not_held_by_each_others_window(fake_telegram, owner_chat):
    owner_alert(kind="refund", event="refunded", details={"buyer": "@a", "amount": 100})
    owner_alert(kind="review", event="flagged", details={"buyer": "@b", "amount": 50, "reason": "amount mismatch"})

    assert owner_alerts_deliver() == 2


# --- Where the alerts go -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_alerts_go_to_the_forum_topic_of_their_kind(fake_telegram, owner_chat, settings):
    settings.OWNER_THREAD_ID = 5
    settings.OWNER_THREAD_IDS = {"refund": 12}
    owner_alert(kind="refund", event="refunded", details={"buyer": "@a", "amount": 100})
    owner_alert(kind="panel", event="up")

    owner_alerts_deliver()

    topics = {
        message["text"].split()[0]: int(message["message_thread_id"])
        for message in fake_telegram.sent_messages(owner_chat)
    }
    assert topics == {"<b>↩️": 12, "🟢": 5}


@pytest.mark.django_db
def test_a_refund_is_told_with_a_link_to_its_payment(fake_telegram, owner_chat, tariff_1m):
    payment = paid_subscription(fake_telegram, UserFactory(telegram_username="alice"))

    refund_payment(payment=payment, reason="asked for it")
    owner_alerts_deliver()

    [message] = fake_telegram.sent_messages(owner_chat)
    assert "Возврат" in message["text"]
    assert "@alice" in message["text"] and "100 ⭐, администратором: asked for it" in message["text"]
    assert f'href="https://shop.example.com/admin/payments/payment/{payment.pk}/change/"' in message["text"]


@pytest.mark.django_db
def test_a_payment_that_needs_review_is_told(fake_telegram, owner_chat, tariff_1m):
    invoice = PaymentFactory(tariff=tariff_1m)

    pay(invoice, amount=invoice.amount + 1)  # a charge that does not match its invoice
    owner_alerts_deliver()

    [text] = owner_texts(fake_telegram, owner_chat)
    assert text.startswith("⚠️ Платёж требует проверки")


# --- A chat that refuses ----------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("status", "description"),
    [(403, "Forbidden: bot was kicked from the supergroup chat"), (400, "Bad Request: chat not found")],
)
def test_a_refusing_owner_chat_fails_the_message_once_and_for_good(fake_telegram, owner_chat, status, description):
    fake_telegram.fail_next("sendMessage", status=status, description=description, when={"chat_id": owner_chat})
    owner_alert(kind="panel", event="up")

    assert owner_alerts_deliver() == 0
    assert after_the_window(seconds=3600) == 0

    message = OwnerMessage.objects.get()
    assert (message.status, message.attempts) == (OwnerMessage.Status.FAILED, 1)
    assert description.split(": ", 1)[1].lower() in message.error.lower()  # PTB drops the prefix


@pytest.mark.django_db
def test_a_flood_limited_owner_chat_is_tried_again_later(fake_telegram, owner_chat, settings):
    settings.TELEGRAM_OUTBOUND_MAX_RETRIES = 0
    fake_telegram.fail_next("sendMessage", status=429, retry_after=40, when={"chat_id": owner_chat})
    owner_alert(kind="panel", event="up")

    assert owner_alerts_deliver() == 0
    message = OwnerMessage.objects.get()
    assert message.status == OwnerMessage.Status.PENDING
    assert message.next_attempt_at >= timezone.now() + timedelta(seconds=35)

    assert owner_alerts_deliver(now=timezone.now() + timedelta(seconds=61)) == 1
    assert owner_texts(fake_telegram, owner_chat) == ["🟢 Панель снова отвечает."]


# --- The panel -----------------------------------------------------------------------------------


def _report(**problems) -> PanelReport:
    return PanelReport(reachable=True, version="2.8.1", missing_permissions=list(problems.get("missing", [])))


@pytest.mark.django_db
def test_a_panel_problem_opened_is_one_alert_and_resolved_one_recovered_alert(fake_telegram, owner_chat):
    for _check in range(3):  # the same problem found by three checks
        panel_check_record(_report(missing=["users:create"]))
    owner_alerts_deliver()
    panel_check_record(_report())
    panel_check_record(_report())
    after_the_window()

    assert owner_texts(fake_telegram, owner_chat) == [
        "🔧 Панель отказывает из-за настроек магазина: the panel token may not create users (scope users:create)"
        " · открыть в админке",
        "✅ Исправлено в панели: the panel token may not create users (scope users:create) · открыть в админке",
    ]
    assert PanelProblem.objects.get().resolved_at is not None


@pytest.mark.django_db
def test_an_unreachable_panel_is_told_once_and_again_when_it_answers(fake_telegram, owner_chat):
    down = PanelReport(reachable=False, error="connection refused")
    panel_check_record(_report())  # it answered before: nothing to tell
    panel_check_record(down)
    panel_check_record(down)
    owner_alerts_deliver()
    panel_check_record(_report())
    after_the_window()

    assert [text.split(" · ")[0] for text in owner_texts(fake_telegram, owner_chat)] == [
        "🔴 Панель не отвечает: connection refused",
        "🟢 Панель снова отвечает.",
    ]


# --- What the worker watches ---------------------------------------------------------------------


@pytest.mark.django_db
def test_a_stuck_outbox_is_told_once_and_again_when_it_runs(fake_telegram, owner_chat, settings):
    settings.HEALTH_OUTBOX_MAX_AGE_SECONDS = 600
    old = timezone.now() - timedelta(minutes=25)
    task = ProvisioningTask.objects.create(
        user=UserFactory(), reason=ProvisioningTask.Reason.PURCHASE, next_attempt_at=old
    )

    watch_for_owner()
    watch_for_owner()
    owner_alerts_deliver()
    ProvisioningTask.objects.filter(pk=task.pk).update(status=ProvisioningTask.Status.DONE)
    watch_for_owner()
    after_the_window()

    assert [text.split(" · ")[0] for text in owner_texts(fake_telegram, owner_chat)] == [
        "⏳ Выдача подписок стоит: задач в очереди — 1, самая старая ждёт 25 мин.",
        "✅ Выдача подписок снова идёт.",
    ]


@pytest.mark.django_db
def test_a_silent_polling_bot_is_told_once(fake_telegram, owner_chat, settings):
    settings.TELEGRAM_WEBHOOK_URL = ""  # polling mode: the bot's heartbeat is watched
    settings.HEALTH_BOT_MAX_SILENCE_SECONDS = 120
    heartbeat_record(name=BOT_POLLING)
    Heartbeat.objects.update(seen_at=timezone.now() - timedelta(minutes=10))

    watch_for_owner()
    watch_for_owner()
    owner_alerts_deliver()
    heartbeat_record(name=BOT_POLLING)
    watch_for_owner()
    after_the_window()

    assert owner_texts(fake_telegram, owner_chat) == [
        "🔇 Бот не получает обновления уже 10 мин.: покупатели не получают ответов.",
        "🔊 Бот снова получает обновления.",
    ]


@pytest.mark.django_db
def test_a_star_balance_below_the_threshold_is_told_once(fake_telegram, owner_chat, settings):
    settings.OWNER_STAR_BALANCE_BELOW = 1000
    cache.set(STAR_BALANCE_CACHE_KEY, {"balance": 400}, 60)

    watch_for_owner()
    watch_for_owner()
    after_the_window()

    assert owner_texts(fake_telegram, owner_chat) == ["💫 Баланс Stars бота: 400 ⭐, это ниже 1\xa0000 ⭐."]


@pytest.mark.django_db
def test_a_finished_broadcast_is_told_once(fake_telegram, owner_chat):
    buyers = UserFactory.create_batch(3)
    fake_telegram.block(buyers[0].telegram_id)
    draft = BroadcastFactory(name="Весенняя скидка")
    broadcast_start(broadcast_id=draft.pk, by=None)

    sending.run_slice(broadcast_id=draft.pk)
    sending.run_slice(broadcast_id=draft.pk)
    after_the_window()

    assert Delivery.objects.filter(status=Delivery.Status.SENT).count() == 2
    [text] = owner_texts(fake_telegram, owner_chat)
    assert text.startswith("📣 Рассылка «Весенняя скидка» завершена: доставлено 2 из 3, не доставлено 1.")
