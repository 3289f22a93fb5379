"""The buyer's whole purchase through `runbot`'s update loop and the fake Bot API server."""

from datetime import timedelta

import pytest
from django.utils import timezone, translation

from notifications.formatting import format_date
from payments.models import LedgerEntry, Payment
from subscriptions.models import Subscription
from telegram_bot.models import TelegramUpdate
from tests.promos.factories import PromoCodeFactory
from tests.telegram_bot.support import Buyer

pytestmark = pytest.mark.django_db(transaction=True)


def test_new_user_buys_one_month_with_promo10_through_polling(fake_telegram, polling_bot, tariffs):
    # given the shop's tariffs, the PROMO10 code and the bot polling the fake server
    PromoCodeFactory(code="PROMO10", discount_percent=10)
    bot = polling_bot().start()
    buyer = Buyer(fake_telegram, 700_001)

    # when a new user goes /start -> Buy -> 1 month -> enters PROMO10 -> Pay
    buyer.command("start", expect="Choose an action")
    buyer.press("buy", expect="Choose a tariff")
    buyer.press("t:1m", expect="Total: 100 ⭐ for 30 days")
    buyer.press("pr:1m", expect="Send the promo code")
    summary = buyer.say("PROMO10", expect="Total: 90 ⭐")
    assert "Discount: 10 ⭐" in summary["text"]
    buyer.press("pay:1m", expect="VPN")

    # then the fake server saw one XTR invoice for 90 Stars
    [invoice] = fake_telegram.invoices(buyer.id)
    assert (invoice["currency"], invoice["amount"]) == ("XTR", 90)

    # when Telegram asks the pre-checkout question, then it is answered ok
    query = fake_telegram.inject_pre_checkout(buyer.user, invoice["payload"], 90)
    assert fake_telegram.wait_for_precheckout_answer(query).ok

    # when the payment succeeds, then the buyer gets the confirmation
    since = buyer.seen()
    fake_telegram.inject_successful_payment(buyer.user, invoice["payload"], 90, charge_id="charge-e2e-1")
    confirmation = buyer.wait_new(since, "Payment received")
    bot.stop()

    # and the subscription runs 30 days, the ledger holds 90 Stars, every update is done
    payment = Payment.objects.get(invoice_payload=invoice["payload"])
    assert payment.status == Payment.Status.SUCCEEDED
    assert list(LedgerEntry.objects.filter(payment=payment).values_list("kind", "amount")) == [("purchase", 90)]
    subscription = Subscription.objects.get(user__telegram_id=buyer.id)
    assert abs(subscription.expires_at - (timezone.now() + timedelta(days=30))) < timedelta(minutes=1)
    with translation.override("en"):
        assert format_date(subscription.expires_at) in confirmation["text"]
    assert set(TelegramUpdate.objects.values_list("status", flat=True)) == {"done"}
