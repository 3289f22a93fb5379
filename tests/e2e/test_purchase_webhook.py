"""The buyer's purchase through the webhook view (Django test client POSTs the
updates the fake server builds); the same handlers as `runbot`."""

from datetime import timedelta

import pytest
from django.utils import timezone

from conftest import run_concurrently
from payments.models import LedgerEntry, Payment
from subscriptions.models import Subscription
from telegram_bot.models import TelegramUpdate
from tests.promos.factories import PromoCodeFactory
from tests.telegram_bot.support import mark, message_text, shown

pytestmark = pytest.mark.django_db(transaction=True)

BUYER = {"id": 700_101, "is_bot": False, "first_name": "Bob", "language_code": "en"}


def texts_after(fake, since: int) -> list[str]:
    return [message_text(m) for m in fake.sent_messages(BUYER["id"])[since:]]


def send(fake, webhook, update) -> list[str]:
    """POST one update; the view answers after the handlers ran. Returns what the bot
    showed (messages it sent or edited)."""
    since = mark(fake, BUYER["id"])
    response = webhook(update)
    assert response.status_code == 200, response.content
    return [message_text(m) for m in shown(fake, BUYER["id"], since)]


def buy_to_invoice(fake, webhook) -> dict:
    assert "Choose an action" in send(fake, webhook, fake.inject_command(BUYER, "start", deliver=False))[-1]
    assert "Choose a tariff" in send(fake, webhook, fake.inject_callback(BUYER, "buy", deliver=False))[-1]
    assert "Total: 100 ⭐" in send(fake, webhook, fake.inject_callback(BUYER, "t:1m", deliver=False))[-1]
    assert "promo code" in send(fake, webhook, fake.inject_callback(BUYER, "pr:1m", deliver=False))[-1]
    [said] = send(fake, webhook, fake.inject_message(BUYER, "PROMO10", deliver=False))
    assert "Promo code PROMO10 applied" in said and "Total: 90 ⭐" in said
    send(fake, webhook, fake.inject_callback(BUYER, "pay:1m", deliver=False))
    [invoice] = fake.invoices(BUYER["id"])
    return invoice


def test_new_user_buys_one_month_with_promo10_through_the_webhook(fake_telegram, webhook, tariffs):
    # given the tariffs and PROMO10
    PromoCodeFactory(code="PROMO10", discount_percent=10)

    # when the buyer goes /start -> Buy -> 1 month -> PROMO10 -> Pay
    invoice = buy_to_invoice(fake_telegram, webhook)

    # then one XTR invoice for 90 Stars went out; the pre-checkout is answered ok
    assert (invoice["currency"], invoice["amount"]) == ("XTR", 90)
    query = fake_telegram.inject_pre_checkout(BUYER, invoice["payload"], 90, deliver=False)
    send(fake_telegram, webhook, query)
    assert fake_telegram.wait_for_precheckout_answer(query).ok

    # when the payment succeeds, then the confirmation, 30 days and 90 Stars in the ledger
    paid = fake_telegram.inject_successful_payment(BUYER, invoice["payload"], 90, charge_id="wh-1", deliver=False)
    assert any("Payment received" in text for text in send(fake_telegram, webhook, paid))
    payment = Payment.objects.get(invoice_payload=invoice["payload"])
    assert payment.status == Payment.Status.SUCCEEDED
    assert list(LedgerEntry.objects.filter(payment=payment).values_list("amount", flat=True)) == [90]
    subscription = Subscription.objects.get(user__telegram_id=BUYER["id"])
    assert abs(subscription.expires_at - (timezone.now() + timedelta(days=30))) < timedelta(minutes=1)
    assert set(TelegramUpdate.objects.values_list("status", flat=True)) == {"done"}


def test_successful_payment_delivered_twice_grants_and_confirms_once(fake_telegram, webhook, tariffs):
    # given a pending invoice
    PromoCodeFactory(code="PROMO10", discount_percent=10)
    invoice = buy_to_invoice(fake_telegram, webhook)
    paid = fake_telegram.inject_successful_payment(BUYER, invoice["payload"], 90, charge_id="wh-2", deliver=False)

    # when the same update arrives twice, and the same payment again under a new update id
    first = send(fake_telegram, webhook, paid)
    replay = webhook(paid)
    again = dict(paid, update_id=paid["update_id"] + 1000)
    second = send(fake_telegram, webhook, again)

    # then one grant, one ledger row, one confirmation
    assert replay.json()["duplicate"] is True
    assert sum("Payment received" in text for text in first + second) == 1
    assert second == []
    assert LedgerEntry.objects.filter(gateway_tx_id="wh-2").count() == 1
    subscription = Subscription.objects.get(user__telegram_id=BUYER["id"])
    assert subscription.expires_at < timezone.now() + timedelta(days=31)


@pytest.mark.postgres
def test_concurrent_deliveries_of_one_payment_grant_and_confirm_once(fake_telegram, webhook, tariffs, client):
    # given a pending invoice and 8 deliveries of its successful payment (4 update ids, each twice)
    PromoCodeFactory(code="PROMO10", discount_percent=10)
    invoice = buy_to_invoice(fake_telegram, webhook)
    paid = fake_telegram.inject_successful_payment(BUYER, invoice["payload"], 90, charge_id="wh-3", deliver=False)
    copies = [dict(paid, update_id=paid["update_id"] + 1000 * (i % 4)) for i in range(8)]
    since = len(fake_telegram.sent_messages(BUYER["id"]))

    # when they hit the webhook view at the same time from 8 threads
    responses = run_concurrently(lambda i: webhook(copies[i]), 8)

    # then every delivery is answered 200, and there is one grant and one confirmation
    assert [r.status_code for r in responses] == [200] * 8
    assert sum("Payment received" in text for text in texts_after(fake_telegram, since)) == 1
    assert LedgerEntry.objects.filter(gateway_tx_id="wh-3").count() == 1
    assert TelegramUpdate.objects.filter(kind="successful_payment").count() == 4
    subscription = Subscription.objects.get(user__telegram_id=BUYER["id"])
    assert subscription.expires_at < timezone.now() + timedelta(days=31)
