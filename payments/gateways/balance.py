"""Paying from the internal Stars balance: no invoice; the spend and the grant
happen in one transaction and the balance never goes below zero."""

from __future__ import annotations

import uuid

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from core.errors import ApplicationError
from payments.events import event_record
from payments.gateways.base import BookedOnly
from payments.models import Payment, PurchaseEvent
from payments.services import purchase_id_guard, purchase_instant, quote_for_sale, tariff_for_sale
from subscriptions.models import Tariff
from subscriptions.pricing import Selection
from users.models import User
from users.services import user_ensure_active, user_lock_row


class BalanceGateway(BookedOnly):
    """A refund puts the Stars back on the balance: the booking does it."""

    name = "balance"


class RenewingNeedsStars(ApplicationError):
    code = "renewing_tariff_needs_stars"
    status = 409

    def __init__(self):
        super().__init__(_("An auto-renewing plan is paid in Telegram Stars every month, not from the balance."))


def purchase_pay_from_balance(
    *,
    user: User,
    tariff: Tariff | str | int,
    promo_code: str | None = None,
    source: str = Payment.Source.BOT,
    purchase_id: uuid.UUID | None = None,
    selection: Selection | None = None,
) -> Payment:
    """Buy a tariff (in the chosen configuration) with the internal Stars balance, in one transaction; the
    balance never goes below zero (InsufficientBalance otherwise).

    With a `purchase_id` (a client's reference, e.g. derived from its
    Idempotency-Key) the purchase happens once: a repeat returns it unchanged.
    """
    user_ensure_active(user=user)  # a deactivated buyer's balance stays as it is
    existing = purchase_id_guard(user=user, purchase_id=purchase_id)
    with transaction.atomic(durable=True):
        user_lock_row(user_id=user.pk)  # a repeat with the same purchase_id waits here, then finds it
        if existing is None and purchase_id is not None:
            existing = Payment.objects.filter(purchase_id=purchase_id, user=user).first()
        if existing is not None:
            existing.refresh_from_db()
            event_record(name=PurchaseEvent.Name.INVOICE_REUSED, payment=existing, previous_status=existing.status)
            return existing
        tariff = tariff_for_sale(tariff=tariff)
        if tariff.renews_monthly:
            raise RenewingNeedsStars()
        quote = quote_for_sale(user=user, tariff=tariff, promo_code=promo_code, selection=selection)
        method = Payment.Method.FREE if quote.is_free else Payment.Method.BALANCE
        return purchase_instant(user=user, quote=quote, source=source, method=method, purchase_id=purchase_id)
