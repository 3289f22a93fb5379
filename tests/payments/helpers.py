from payments.charges import Charge
from payments.services import CompletionResult, purchase_complete


def pay(payment, *, charge_id: str = "charge-1", amount: int | None = None, currency: str = "XTR") -> CompletionResult:
    """Deliver Telegram's successful_payment for `payment`."""
    return purchase_complete(
        Charge(
            payload=payment.invoice_payload,
            charge_id=charge_id,
            amount=payment.amount if amount is None else amount,
            currency=currency,
            provider_charge_id="",
            from_user_id=payment.user.telegram_id,
        )
    )
