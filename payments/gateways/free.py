"""Free purchases: a 100 % promo (granted by purchase_create_invoice without an
invoice) and the free trial. No money moves, so a refund is only a booking."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from payments.errors import TrialUnavailable
from payments.events import event_record
from payments.gateways.base import BookedOnly
from payments.models import Payment, PurchaseEvent, TrialClaim
from payments.services import new_invoice_payload, purchase_grant, trial_refusal
from subscriptions.selectors import trial_days
from users.models import User
from users.services import user_lock


class FreeGateway(BookedOnly):
    name = "free"


def trial_start(*, user: User, source: str = Payment.Source.BOT) -> Payment:
    """Grant the free trial: TRIAL_DAYS (or the admin's value) without an invoice,
    at most once per Telegram account and never to someone who has paid.

    It is a free Payment (purchase_type "trial") granted like a purchase, so the
    subscription is extended and provisioned through the outbox and its link is
    sent once. The unique TrialClaim row is the guarantee under concurrent taps."""
    with transaction.atomic(durable=True):
        user = user_lock(user_id=user.pk)
        reason = trial_refusal(user=user)
        if reason is not None:
            raise TrialUnavailable(reason)
        days = trial_days()
        payment = Payment(
            user=user,
            kind=Payment.Kind.SUBSCRIPTION,
            method=Payment.Method.FREE,
            source=source,
            status=Payment.Status.PENDING,
            base_price=0,
            amount=0,
            days=days,
            purchase_type=Payment.TRIAL,
            invoice_payload=new_invoice_payload(),
        )
        payment.save()
        event_record(
            name=PurchaseEvent.Name.INVOICE_CREATED, payment=payment, metadata={"source": source, "method": "trial"}
        )
        try:
            with transaction.atomic():
                TrialClaim.objects.create(
                    telegram_id=user.telegram_id, user=user, purchase_id=payment.purchase_id, days=days
                )
        except IntegrityError:
            raise TrialUnavailable("used") from None  # rolls the payment back with it
        return purchase_grant(user, payment, charge_id=None, count_promo=False).payment
