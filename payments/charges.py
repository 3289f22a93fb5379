"""The typed charge: money a gateway says arrived for an invoice.

Every way of paying turns what it received (Telegram's successful_payment, a
transaction found by reconciliation, a mock payment) into a Charge, and the
purchase lifecycle (payments/services.py) records it the same way whatever the
gateway: exactly once per charge id, granted, or booked and flagged for review.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Recurring:
    """The charge is one period of a subscription the gateway renews by itself."""

    first: bool  # the payment that started it (Telegram's is_first_recurring)
    expires_at: datetime | None = None  # paid until (Telegram's subscription_expiration_date)


@dataclass(frozen=True)
class Charge:
    payload: str  # the invoice payload the charge names
    charge_id: str  # the gateway's unique id (Telegram's telegram_payment_charge_id)
    amount: int  # whole Stars
    currency: str
    provider_charge_id: str = ""
    from_user_id: int | None = None  # the payer's Telegram id, when the gateway says
    recurring: Recurring | None = None
