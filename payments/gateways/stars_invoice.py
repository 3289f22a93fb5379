"""A one-off Telegram Stars invoice: sendInvoice in the bot, createInvoiceLink for
API clients; the pre-checkout rules Telegram asks the bot to apply within 10 s;
the charge read from successful_payment; a refund through refundStarPayment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from integrations.telegram import ChargeAlreadyRefunded, TelegramError, client, telegram_configured
from payments.charges import Charge, Recurring
from payments.errors import RefundNotAllowed
from payments.models import Payment
from payments.services import CURRENCY, pending_ttl
from promos.services import PromoInvalid, promo_check
from subscriptions.pricing import snapshot_refusal
from users.services import AccountDeactivated

# Telegram's invoice limits.
TITLE_MAX = 32
DESCRIPTION_MAX = 255
PAYLOAD_MAX_BYTES = 128


@dataclass(frozen=True)
class InvoiceParams:
    """sendInvoice / createInvoiceLink arguments for a pending payment (XTR, one price).
    `subscription_period` (seconds) makes it a Star subscription: createInvoiceLink only."""

    title: str  # 1-32 characters
    description: str  # 1-255 characters
    payload: str  # opaque, ≤ 128 bytes
    amount: int  # whole Stars
    label: str
    currency: str = CURRENCY
    subscription_period: int | None = None


@dataclass(frozen=True)
class PrecheckoutResult:
    ok: bool
    reason: str = ""  # stable machine code
    message: str = ""  # shown to the buyer by Telegram

    @classmethod
    def refuse(cls, reason: str, message) -> PrecheckoutResult:
        return cls(ok=False, reason=reason, message=str(message))


def invoice_texts(*, payment: Payment) -> tuple[str, str]:
    """The invoice's title and description in the buyer's language, within Telegram's limits."""
    with translation.override(payment.user.language):
        if payment.kind == Payment.Kind.TOPUP:
            title = str(_("Balance top-up"))
            description = str(_("%(amount)s Stars to your shop balance") % {"amount": payment.amount})
        else:
            language = translation.get_language()
            title = str(_("VPN: %(tariff)s") % {"tariff": payment.tariff.title_for(language)})
            description = payment.tariff.description_for(language)
            description = description.rstrip(". ") + ". " if description else ""
            if payment.purchase_type == Payment.STAR_SUBSCRIPTION:
                description += str(
                    _("VPN subscription, %(days)s days, renews automatically until you cancel") % {"days": payment.days}
                )
            else:
                description += str(_("VPN subscription for %(days)s days") % {"days": payment.days})
            if payment.bonus_days:
                description += str(_(" + %(bonus)s bonus days") % {"bonus": payment.bonus_days})
            if payment.discount:
                description += str(_(", discount %(discount)s Stars") % {"discount": payment.discount})
    return title[:TITLE_MAX] or "VPN", description[:DESCRIPTION_MAX] or title[:DESCRIPTION_MAX]


class StarsInvoiceGateway:
    name = "stars_invoice"
    returns_money = True
    subscription_period: int | None = None

    def invoice_params(self, payment: Payment) -> InvoiceParams:
        assert len(payment.invoice_payload.encode()) <= PAYLOAD_MAX_BYTES
        title, description = invoice_texts(payment=payment)
        return InvoiceParams(
            title=title,
            description=description,
            payload=payment.invoice_payload,
            amount=payment.amount,
            label=title,
            subscription_period=self.subscription_period,
        )

    def precheckout(
        self, payment: Payment, *, from_user_id: int, total_amount: int, currency: str
    ) -> PrecheckoutResult:
        """Telegram asks before it charges (answered within 10 s): indexed reads only."""
        if payment.user.telegram_id != from_user_id:
            return PrecheckoutResult.refuse("user_mismatch", _("This invoice was issued to another user."))
        if not payment.user.is_active:  # deactivated after the invoice was sent: no Stars are taken
            return PrecheckoutResult.refuse(AccountDeactivated.code, AccountDeactivated().message)
        if payment.status in (Payment.Status.SUCCEEDED, Payment.Status.REFUNDED):
            return PrecheckoutResult.refuse("already_paid", _("This invoice has already been paid."))
        if payment.status != Payment.Status.PENDING or payment.created_at <= timezone.now() - pending_ttl():
            return PrecheckoutResult.refuse("expired", _("This invoice has expired. Please start a new purchase."))
        if currency != CURRENCY or currency != payment.currency:
            return PrecheckoutResult.refuse(
                "wrong_currency", _("Wrong currency: this invoice is paid in Telegram Stars.")
            )
        if total_amount != payment.amount:
            return PrecheckoutResult.refuse(
                "wrong_amount", _("The amount does not match the invoice. Please start a new purchase.")
            )
        if payment.kind == Payment.Kind.SUBSCRIPTION:
            if payment.tariff is None or not payment.tariff.is_active:
                return PrecheckoutResult.refuse("tariff_unavailable", _("This tariff is no longer on sale."))
            # What was bought, at that price, is still sold (a price edit or a removed option
            # since the invoice was issued refuses it: the buyer starts again at today's price).
            refusal = snapshot_refusal(tariff=payment.tariff, data=payment.configuration, base_price=payment.base_price)
            if refusal is not None:
                return PrecheckoutResult.refuse(f"configuration_{refusal.reason}", refusal.message)
            if payment.promo is not None:
                try:
                    promo_check(promo=payment.promo, tariff=payment.tariff, user=payment.user)
                except PromoInvalid as exc:
                    return PrecheckoutResult.refuse(f"promo_{exc.reason}", exc.message)
        return PrecheckoutResult(ok=True)

    def refund_money(self, payment: Payment) -> None:
        """refundStarPayment; "charge already refunded" counts as done (refunded before,
        by us or elsewhere: the booking makes the books agree)."""
        if not telegram_configured():
            raise RefundNotAllowed(_("Telegram is not configured: a Stars payment cannot be refunded here."))
        if not payment.user.telegram_id:
            raise RefundNotAllowed(_("The buyer has no Telegram account: the Stars cannot be returned."))
        try:
            client().refund_star_payment(user_id=payment.user.telegram_id, charge_id=payment.telegram_payment_charge_id)
        except ChargeAlreadyRefunded:
            pass
        except TelegramError as exc:
            raise RefundNotAllowed(
                _("Telegram refused the refund: %(error)s") % {"error": exc}, code="refund_failed", status=502
            ) from exc


def telegram_charge(
    *,
    payload: str,
    charge_id: str,
    amount: int,
    currency: str,
    provider_charge_id: str = "",
    from_user_id: int | None = None,
    is_recurring: bool = False,
    is_first_recurring: bool = False,
    subscription_expiration_date: datetime | int | None = None,
) -> Charge:
    """The typed charge of Telegram's successful_payment (or a Star transaction found
    by reconciliation). A payment of a Star subscription is recurring."""
    recurring = None
    if is_recurring or is_first_recurring:
        expires_at = subscription_expiration_date
        if isinstance(expires_at, int):
            expires_at = datetime.fromtimestamp(expires_at, tz=UTC)
        recurring = Recurring(first=bool(is_first_recurring), expires_at=expires_at)
    return Charge(
        payload=payload or "",
        charge_id=charge_id,
        amount=amount,
        currency=currency,
        provider_charge_id=provider_charge_id or "",
        from_user_id=from_user_id,
        recurring=recurring,
    )
