"""Shop actions for provisioning tests: buy and refund through the real services."""

from __future__ import annotations

import uuid

from django.utils import timezone

from payments.charges import Charge
from payments.models import Payment
from payments.refunds import refund_book
from payments.services import purchase_complete, purchase_create_invoice
from subscriptions.models import ProvisioningTask, Subscription
from subscriptions.provisioning import process_due


def buy(user, *, tariff: str = "1m") -> Payment:
    """Pay a Stars invoice: purchase_complete commits and queues provisioning (the
    caller decides whether after-commit callbacks run)."""
    payment = purchase_create_invoice(user=user, tariff=tariff).payment
    purchase_complete(
        Charge(
            payload=payment.invoice_payload,
            charge_id=f"charge-{uuid.uuid4().hex}",
            amount=payment.amount,
            currency="XTR",
            from_user_id=user.telegram_id,
        )
    )
    payment.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED
    return payment


def refund(payment: Payment) -> None:
    refund_book(payment=payment, reason="test refund")


def subscription_of(user) -> Subscription:
    return Subscription.objects.get(user=user)


def make_all_due() -> None:
    """Skip the backoff wait: every open task is due now."""
    ProvisioningTask.objects.filter(status__in=["pending", "retrying"]).update(next_attempt_at=timezone.now())


def panel_username(user) -> str:
    return f"tg_{user.telegram_id}"


def refund_the_panel_never_gets(user, panel) -> ProvisioningTask:
    """A buyer provisioned in the panel, then refunded while the panel answers 503 until the
    refund's sync gives up (the caller allows one attempt): that failed sync task."""
    payment = buy(user)
    process_due()
    refund(payment)
    panel.fail_next(100, status=503)
    make_all_due()
    process_due()
    panel.heal()
    return ProvisioningTask.objects.get(user=user, reason=ProvisioningTask.Reason.REFUND)
