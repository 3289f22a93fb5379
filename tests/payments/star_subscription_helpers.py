"""Star subscriptions in tests: subscribe a buyer through the fake Bot API's
records, and turn its successful_payment updates into the lifecycle's Charge."""

from __future__ import annotations

from payments.charges import Charge
from payments.gateways.stars_invoice import telegram_charge
from payments.models import Payment, StarSubscription
from payments.services import CompletionResult, purchase_complete, purchase_create_invoice

RENEWING = "1m-auto"  # the monthly renewing tariff every shop starts with (data migration)


def charge_of(update: dict) -> Charge:
    """The typed charge of a successful_payment update, as the bot's door builds it."""
    paid = update["message"]["successful_payment"]
    return telegram_charge(
        payload=paid["invoice_payload"],
        charge_id=paid["telegram_payment_charge_id"],
        amount=paid["total_amount"],
        currency=paid["currency"],
        from_user_id=update["message"]["from"]["id"],
        is_recurring=paid.get("is_recurring", False),
        is_first_recurring=paid.get("is_first_recurring", False),
        subscription_expiration_date=paid.get("subscription_expiration_date"),
    )


def deliver(update: dict) -> CompletionResult:
    return purchase_complete(charge_of(update))


def subscribe(fake_telegram, user, *, tariff: str = RENEWING, promo_code: str | None = None) -> StarSubscription:
    """The buyer opens the subscription invoice link and pays its first period."""
    payment = purchase_create_invoice(user=user, tariff=tariff, promo_code=promo_code).payment
    update = fake_telegram.inject_star_subscription_payment(
        user, payment.invoice_payload, payment.amount, deliver=False
    )
    result = deliver(update)
    assert result.outcome == "granted", result
    return StarSubscription.objects.get(first_charge_id=update.charge_id)


def renew(fake_telegram, subscription: StarSubscription, **kwargs) -> dict:
    """Telegram charges the next period (the update is returned, not delivered)."""
    return fake_telegram.renew_star_subscription(subscription.first_charge_id, deliver=False, **kwargs)


def renewals(subscription: StarSubscription):
    return Payment.objects.filter(star_subscription=subscription, purchase_type=Payment.RENEWAL)
