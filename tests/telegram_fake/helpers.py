"""Purchases paid through the fake Telegram server, for refund and reconciliation tests."""

from __future__ import annotations

from payments.charges import Charge
from payments.models import Payment
from payments.services import purchase_complete, purchase_create_invoice, topup_create_invoice
from tests.fakes.telegram_server import FakeTelegramServer, new_charge_id


def paid_in_telegram(fake: FakeTelegramServer, payment: Payment, *, charge_id: str | None = None) -> Payment:
    """The buyer paid `payment`'s invoice: Telegram knows the charge and the shop completed it."""
    charge_id = charge_id or new_charge_id()
    fake.add_star_transaction(payment.user, payment.invoice_payload, payment.amount, charge_id)
    purchase_complete(
        Charge(
            payload=payment.invoice_payload,
            charge_id=charge_id,
            amount=payment.amount,
            currency="XTR",
            from_user_id=payment.user.telegram_id,
        )
    )
    return Payment.objects.select_related("user").get(pk=payment.pk)


def paid_subscription(fake: FakeTelegramServer, user, *, tariff: str = "1m", promo_code: str | None = None) -> Payment:
    invoice = purchase_create_invoice(user=user, tariff=tariff, promo_code=promo_code)
    return paid_in_telegram(fake, invoice.payment)


def paid_topup(fake: FakeTelegramServer, user, *, amount: int) -> Payment:
    return paid_in_telegram(fake, topup_create_invoice(user=user, amount=amount).payment)
