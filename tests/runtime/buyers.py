"""A buyer's steps through the bot and the fake Bot API server, for runtime tests."""

from __future__ import annotations

from tests.fakes.remnawave_panel import FakeRemnawavePanel
from tests.fakes.telegram_server import FakeTelegramServer
from tests.telegram_bot.support import Buyer, message_text

TIMEOUT = 20.0  # a bot process on a busy 2-core machine


def open_invoice(fake: FakeTelegramServer, buyer: Buyer) -> dict:
    """The buyer presses Pay for one month; the bot sends the invoice."""
    since = buyer.seen()
    fake.inject_callback(buyer.user, "pay:1m")
    buyer.wait_new(since, "VPN", timeout=TIMEOUT)
    return fake.invoices(buyer.id)[-1]


def pay(fake: FakeTelegramServer, buyer: Buyer, invoice: dict) -> str:
    """Telegram asks the pre-checkout question, the payment succeeds: the text of the bot's confirmation."""
    query = fake.inject_pre_checkout(buyer.user, invoice["payload"], invoice["amount"])
    assert fake.wait_for_precheckout_answer(query, timeout=TIMEOUT).ok
    since = buyer.seen()
    fake.inject_successful_payment(buyer.user, invoice["payload"], invoice["amount"])
    return message_text(buyer.wait_new(since, "Payment received", timeout=TIMEOUT))


def link_messages(fake: FakeTelegramServer, panel: FakeRemnawavePanel, buyer: Buyer) -> list[str]:
    """The messages to the buyer that carry a subscription link of the panel."""
    return [message_text(m) for m in fake.sent_messages(buyer.id) if panel.public_url in message_text(m)]


LINK_FOLLOWS = "it will arrive in a separate message"
NO_LINK = "does not hand out connection links"
