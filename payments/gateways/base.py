"""What every payment gateway provides (see payments/gateways/__init__.py)."""

from __future__ import annotations

from typing import Protocol

from payments.models import Payment


class PaymentGateway(Protocol):
    name: str
    # True when a refund gives money back through the gateway (refund_money does it and the
    # booking follows whatever the balance holds); False when the booking alone refunds.
    returns_money: bool

    def refund_money(self, payment: Payment) -> None:
        """Give the payment's money back through the gateway, outside any transaction,
        before the refund is booked. Raise RefundNotAllowed when the gateway refuses;
        nothing is booked then. Gateways whose money never left the shop (the internal
        balance, free purchases, mock payments) have nothing to do: the booking itself
        returns what is due."""
        ...


class BookedOnly:
    """A gateway whose refund is only a booking (no money left the shop through it)."""

    name = ""
    returns_money = False

    def refund_money(self, payment: Payment) -> None:
        return None
