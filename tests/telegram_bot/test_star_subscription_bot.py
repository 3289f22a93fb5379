"""A Star subscription in the bot, end to end through python-telegram-bot and the
fake Bot API: subscribe with an invoice link, two renewals (each delivered twice),
cancel, and a refund of one renewal."""

from datetime import timedelta

import pytest

from payments.models import LedgerEntry, Payment, StarSubscription
from payments.refunds import refund_payment
from subscriptions.models import Subscription
from tests.telegram_bot.support import buttons_of, callbacks_of, mark, message_text, shown

pytestmark = pytest.mark.django_db(transaction=True)

EN = {"id": 700_801, "is_bot": False, "first_name": "Eve", "language_code": "en"}
RU = {"id": 700_802, "is_bot": False, "first_name": "Ира", "language_code": "ru"}


def subscribe_in_the_bot(bot, webhook, fake_telegram, buyer: dict) -> tuple[list[dict], dict]:
    """/start → Buy → the monthly renewing tariff → Subscribe; returns (the invoice
    link message, the createInvoiceLink call's parameters)."""
    [menu] = bot("inject_command", buyer, "start")
    [tariffs] = bot("inject_callback", buyer, "buy", message_id=menu["message_id"])
    [summary] = bot("inject_callback", buyer, "t:1m-auto", message_id=tariffs["message_id"])
    assert "bpay:1m-auto" not in callbacks_of(summary)  # never from the balance
    update = fake_telegram.inject_callback(buyer, "pay:1m-auto", message_id=summary["message_id"], deliver=False)
    since = mark(fake_telegram, buyer["id"])
    response = webhook(update)
    link_messages = shown(fake_telegram, buyer["id"], since)
    assert response.status_code == 200
    [call] = fake_telegram.calls("createInvoiceLink")
    return link_messages, call.params


def test_the_tariff_list_labels_the_renewing_tariff(bot, renewing_tariff):
    [menu] = bot("inject_command", RU, "start")

    [tariffs] = bot("inject_callback", RU, "buy", message_id=menu["message_id"])

    assert "Ежемесячно, автопродление — 100 ⭐ в месяц, продлевается автоматически" in message_text(tariffs)
    assert "🔄 Ежемесячно, автопродление — 100 ⭐ в месяц" in [b["text"] for b in buttons_of(tariffs)]


def deliver(webhook, fake_telegram, update, chat_id: int) -> list[dict]:
    """POST an update built beforehand (a renewal delivered twice); what the bot showed."""
    since = mark(fake_telegram, chat_id)
    assert webhook(update).status_code == 200
    return shown(fake_telegram, chat_id, since)


def my_subscription(bot, buyer: dict) -> dict:
    [menu] = bot("inject_command", buyer, "start")
    [status] = bot("inject_callback", buyer, "sub", message_id=menu["message_id"])
    return status


def test_subscribe_renew_twice_cancel_and_refund_a_renewal(bot, webhook, fake_telegram, renewing_tariff):
    # given a buyer who taps Subscribe: an invoice link for a 30-day Star subscription
    [link_message], params = subscribe_in_the_bot(bot, webhook, fake_telegram, EN)
    assert (params["subscription_period"], params["prices"][0]["amount"], params["currency"]) == (2592000, 100, "XTR")
    [pay_button] = [b for b in buttons_of(link_message) if "url" in b]
    assert pay_button["text"] == "⭐ Subscribe: 100 ⭐ a month" and pay_button["url"].startswith("https://t.me/$")
    payload = params["payload"]

    # when Telegram asks before charging, and then the first period is paid
    query = fake_telegram.inject_pre_checkout(EN, payload, 100, deliver=False)
    assert webhook(query).status_code == 200
    assert fake_telegram.wait_for_precheckout_answer(query).ok
    [confirmation] = bot("inject_star_subscription_payment", EN, payload, 100)

    # then the confirmation says auto-renewal is on
    assert "Payment received" in message_text(confirmation)
    assert "Auto-renewal is on" in message_text(confirmation)
    subscription = StarSubscription.objects.get(user__telegram_id=EN["id"])
    expires = Subscription.objects.get(user=subscription.user).expires_at

    # when Telegram renews it twice, each renewal delivered twice
    for _ in range(2):
        update = fake_telegram.renew_star_subscription(subscription.first_charge_id, deliver=False)
        first = deliver(webhook, fake_telegram, update, EN["id"])
        again = deliver(webhook, fake_telegram, update, EN["id"])
        # then each renewal is confirmed once and granted once
        assert [message_text(m).split("\n")[0] for m in first] == ["🔄 Subscription renewed: +30 days"]
        assert again == []
    assert Payment.objects.filter(star_subscription=subscription, purchase_type="renewal").count() == 2
    assert Subscription.objects.get(user=subscription.user).expires_at - expires == timedelta(days=60)

    # when the buyer cancels in My subscription (asked to confirm first)
    status = my_subscription(bot, EN)
    assert "Auto-renewal: on" in message_text(status) and "ar:ask" in callbacks_of(status)
    [question] = bot("inject_callback", EN, "ar:ask", message_id=status["message_id"])
    assert "Cancel auto-renewal?" in message_text(question)
    [canceled] = bot("inject_callback", EN, "ar:off", message_id=question["message_id"])

    # then Telegram was told, no renewal comes, and the paid time stays
    assert "Auto-renewal canceled" in message_text(canceled) and "ar:on" in callbacks_of(canceled)
    assert fake_telegram.subscription_edits == [
        {"user_id": EN["id"], "charge_id": subscription.first_charge_id, "is_canceled": True}
    ]
    with pytest.raises(ValueError):
        fake_telegram.renew_star_subscription(subscription.first_charge_id, deliver=False)
    assert Subscription.objects.get(user=subscription.user).expires_at - expires == timedelta(days=60)

    # when the last renewal is refunded, then that period only goes back
    last = Payment.objects.filter(star_subscription=subscription, purchase_type="renewal").latest("paid_at")
    refund_payment(payment=last, reason="asked")
    assert Subscription.objects.get(user=subscription.user).expires_at - expires == timedelta(days=30)
    assert LedgerEntry.objects.filter(payment=last).values_list("amount", flat=True).count() == 2


def test_resume_after_cancel_in_russian(bot, webhook, fake_telegram, renewing_tariff):
    # given a subscribed buyer who canceled
    [link_message], params = subscribe_in_the_bot(bot, webhook, fake_telegram, RU)
    bot("inject_star_subscription_payment", RU, params["payload"], 100)
    status = my_subscription(bot, RU)
    [question] = bot("inject_callback", RU, "ar:ask", message_id=status["message_id"])
    [canceled] = bot("inject_callback", RU, "ar:off", message_id=question["message_id"])
    assert "Автопродление отключено" in message_text(canceled)
    assert "⏸ Автопродление: выключено" in message_text(canceled)

    # when they resume
    [resumed] = bot("inject_callback", RU, "ar:on", message_id=canceled["message_id"])

    # then it renews again
    assert "Автопродление снова включено" in message_text(resumed)
    assert "🔄 Автопродление: включено" in message_text(resumed)
    assert fake_telegram.subscription_edits[-1]["is_canceled"] is False
    assert StarSubscription.objects.get(user__telegram_id=RU["id"]).status == "active"


def test_a_second_subscription_is_refused_in_the_bot(bot, webhook, fake_telegram, renewing_tariff):
    _, params = subscribe_in_the_bot(bot, webhook, fake_telegram, EN)
    bot("inject_star_subscription_payment", EN, params["payload"], 100)
    [menu] = bot("inject_command", EN, "start")
    [tariffs] = bot("inject_callback", EN, "buy", message_id=menu["message_id"])
    [summary] = bot("inject_callback", EN, "t:1m-auto", message_id=tariffs["message_id"])

    [refused] = bot("inject_callback", EN, "pay:1m-auto", message_id=summary["message_id"])

    assert "already have an auto-renewing subscription" in message_text(refused)
    assert len(fake_telegram.calls("createInvoiceLink")) == 1
