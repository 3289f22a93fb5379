"""An owner's chat that refuses every message (the bot was blocked or removed, a wrong id, flood
control) changes nothing for buyers: purchases and refunds complete and the buyer is told. The
alerts are recorded and fail on their own rows."""

from __future__ import annotations

import pytest

from notifications.models import OwnerAlert, OwnerMessage
from payments.models import Payment
from payments.refunds import refund_payment
from tests.telegram_bot.support import said

pytestmark = pytest.mark.django_db(transaction=True)

BUYER = {"id": 700_951, "is_bot": False, "first_name": "Dan", "language_code": "en"}
OWNER_CHAT = -100_555_000_1


@pytest.fixture(
    params=[
        (403, "Forbidden: bot was blocked by the user"),
        (400, "Bad Request: chat not found"),
        (429, "Too Many Requests: retry after 30"),
    ],
    ids=["blocked", "chat-not-found", "flood"],
)
def unreachable_owner_chat(request, fake_telegram, settings):
    status, description = request.param
    settings.OWNER_CHAT_ID = OWNER_CHAT
    settings.OWNER_ALERT_PURCHASES = True
    settings.TELEGRAM_OUTBOUND_MAX_RETRIES = 0
    fake_telegram.fail_next(
        "sendMessage", status=status, description=description, retry_after=30, times=100, when={"chat_id": OWNER_CHAT}
    )
    return fake_telegram


def test_purchases_and_refunds_complete_and_buyers_are_told(bot, unreachable_owner_chat, tariffs):
    fake = unreachable_owner_chat
    bot("inject_callback", BUYER, "pay:1m")
    first = fake.invoices(BUYER["id"])[-1]["payload"]
    paid_reply = said(bot("inject_successful_payment", BUYER, first, 100, charge_id="owner-down-1"))
    bot("inject_callback", BUYER, "pay:1m")
    second = fake.invoices(BUYER["id"])[-1]["payload"]
    bot("inject_successful_payment", BUYER, second, 100, charge_id="owner-down-2")

    refund_reply = said(bot("inject_refunded_payment", BUYER, first, 100, "owner-down-1"))
    admin_refund = refund_payment(payment=Payment.objects.get(invoice_payload=second), reason="asked")

    assert "Payment received" in paid_reply
    assert "A refund of 100 ⭐ has been processed." in refund_reply
    assert admin_refund.created
    assert set(Payment.objects.values_list("status", flat=True)) == {Payment.Status.REFUNDED}
    # The owner's chat was tried and refused; the alerts wait or failed on their own rows.
    assert any(call.status != 200 for call in fake.calls("sendMessage") if int(call.params["chat_id"]) == OWNER_CHAT)
    assert fake.sent_messages(OWNER_CHAT) == []
    assert OwnerAlert.objects.filter(kind__in=["purchase", "refund"]).count() == 4
    assert not OwnerMessage.objects.filter(status=OwnerMessage.Status.SENT).exists()
