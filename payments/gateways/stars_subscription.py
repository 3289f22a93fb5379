"""A native Telegram Star subscription: an invoice link with a 30-day
subscription_period (createInvoiceLink only). Telegram charges the buyer every
period by itself (renewals come without a pre-checkout, as successful payments
the lifecycle records as renewals) until the subscription is canceled with
editUserStarSubscription, which names it by its first payment's charge id.

Cancel and resume call Telegram outside any transaction, then record what
Telegram accepted; a refused call changes nothing and is recorded as an event.
"""

from __future__ import annotations

import logging

from django.utils.translation import gettext_lazy as _

from core.background import enqueue
from core.errors import ApplicationError, Conflict
from integrations.telegram import TelegramError, client, telegram_configured
from payments.errors import RefundNotAllowed
from payments.gateways.stars_invoice import PrecheckoutResult, StarsInvoiceGateway
from payments.models import Payment, StarSubscription, is_mock_charge
from payments.star_subscriptions import (
    star_subscription_live_for,
    star_subscription_record_edit,
    star_subscription_record_edit_failure,
    star_subscription_refund_left_canceled,
)
from users.models import User

logger = logging.getLogger(__name__)

# Telegram's only subscription period: 30 days, in seconds.
SUBSCRIPTION_PERIOD_SECONDS = 30 * 24 * 3600
# The task (payments/tasks.py) that tells a buyer their auto-renewal stayed off after a failed refund.
TELL_AUTO_RENEWAL_OFF = "payments.tell_auto_renewal_off"


class NoStarSubscription(ApplicationError):
    code = "no_star_subscription"
    status = 404

    def __init__(self):
        super().__init__(_("You have no auto-renewing subscription."))


class StarSubscriptionEditRefused(ApplicationError):
    code = "telegram_refused"
    status = 502


class StarsSubscriptionGateway(StarsInvoiceGateway):
    name = "stars_subscription"
    subscription_period = SUBSCRIPTION_PERIOD_SECONDS

    def precheckout(
        self, payment: Payment, *, from_user_id: int, total_amount: int, currency: str
    ) -> PrecheckoutResult:
        result = super().precheckout(payment, from_user_id=from_user_id, total_amount=total_amount, currency=currency)
        if result.ok and star_subscription_live_for(user=payment.user) is not None:
            return PrecheckoutResult.refuse(
                "already_subscribed",
                _("You already have an auto-renewing subscription: manage it in My subscription."),
            )
        return result

    def refund_money(self, payment: Payment) -> None:
        """Refunding the payment that started a renewing subscription also ends it.

        The order keeps Telegram and the shop agreeing whatever Telegram answers:
        the subscription is canceled first (no later period is charged while the
        Stars go back), then the payment is refunded. A refused cancel refunds
        nothing and changes nothing. A refused refund turns the auto-renewal back
        on; if Telegram refuses that too, the subscription stays canceled (as it is
        in Telegram), the payment is flagged for an admin, and the buyer is told.
        A renewal's refund takes back that period only and leaves the subscription be."""
        subscription = payment.star_subscription
        canceled_here = False
        if (
            subscription is not None
            and subscription.first_charge_id == payment.telegram_payment_charge_id
            and subscription.status == StarSubscription.Status.ACTIVE
        ):
            try:
                star_subscription_edit(subscription=subscription, canceled=True, by=StarSubscription.CanceledBy.REFUND)
            except StarSubscriptionEditRefused as exc:
                raise RefundNotAllowed(
                    _("Telegram did not cancel the subscription, so nothing was refunded: %(error)s")
                    % {"error": exc.message},
                    code="refund_failed",
                    status=502,
                ) from exc
            canceled_here = True
        try:
            super().refund_money(payment)
        except RefundNotAllowed as refused:
            if canceled_here:
                _undo_cancel(subscription=subscription, payment=payment, refused=refused)
            raise


def _undo_cancel(*, subscription: StarSubscription, payment: Payment, refused: RefundNotAllowed) -> None:
    """The refund failed after its cancel: renew again, as before. Raises what the admin is told."""
    try:
        star_subscription_edit(subscription=subscription, canceled=False, by=StarSubscription.CanceledBy.REFUND)
    except (StarSubscriptionEditRefused, Conflict) as exc:
        reason = (
            f"refund refused by Telegram ({refused.message}) after its auto-renewal was canceled, "
            f"and the auto-renewal could not be turned back on ({exc.message}): it stays off"
        )
        star_subscription_refund_left_canceled(subscription=subscription, payment=payment, reason=reason)
        enqueue(TELL_AUTO_RENEWAL_OFF, subscription.pk)
        raise RefundNotAllowed(
            _(
                "Telegram refused the refund (%(error)s) and did not turn the canceled auto-renewal back on: "
                "it stays off, the buyer is told, and the payment is flagged for review."
            )
            % {"error": refused.message},
            code="refund_failed",
            status=502,
        ) from refused
    raise RefundNotAllowed(
        _("Telegram refused the refund (%(error)s); the auto-renewal canceled for it is on again.")
        % {"error": refused.message},
        code="refund_failed",
        status=502,
    ) from refused


def star_subscription_edit(
    *, subscription: StarSubscription, canceled: bool, by: str, actor: User | None = None
) -> StarSubscription:
    """editUserStarSubscription, then the record. Calling it again for the state the
    record already has changes nothing and asks Telegram nothing."""
    wanted = StarSubscription.Status.CANCELED if canceled else StarSubscription.Status.ACTIVE
    if subscription.status == wanted:
        return subscription
    if subscription.status == StarSubscription.Status.EXPIRED or (not canceled and not subscription.is_paid):
        raise Conflict(
            _("This subscription has ended; subscribe again from the tariff list."), code="star_subscription_ended"
        )
    if not is_mock_charge(charge_id=subscription.first_charge_id):  # a mock subscription lives only here
        _ask_telegram(subscription=subscription, canceled=canceled, actor=actor)
    star_subscription_record_edit(subscription=subscription, canceled=canceled, by=by, actor=actor)
    return subscription


def _ask_telegram(*, subscription: StarSubscription, canceled: bool, actor: User | None) -> None:
    telegram_id = subscription.user.telegram_id
    try:
        if not telegram_configured() or not telegram_id:
            raise TelegramError("Telegram is not configured or the buyer has no Telegram account")
        client().edit_user_star_subscription(
            user_id=telegram_id, charge_id=subscription.first_charge_id, is_canceled=canceled
        )
    except TelegramError as exc:
        logger.warning("editUserStarSubscription(%s, canceled=%s) failed: %s", subscription.pk, canceled, exc)
        star_subscription_record_edit_failure(subscription=subscription, canceled=canceled, error=str(exc), actor=actor)
        raise StarSubscriptionEditRefused(
            _("Telegram did not accept the change, please try again later: %(error)s") % {"error": exc}
        ) from exc


def star_subscription_cancel(*, user: User, actor: User | None = None, by: str = StarSubscription.CanceledBy.BUYER):
    """Stop the buyer's auto-renewal; the VPN stays active to the end of the paid period."""
    subscription = star_subscription_live_for(user=user)
    if subscription is None:
        raise NoStarSubscription()
    return star_subscription_edit(subscription=subscription, canceled=True, by=by, actor=actor)


def star_subscription_resume(*, user: User, actor: User | None = None, by: str = StarSubscription.CanceledBy.BUYER):
    """Renew again a subscription canceled before its paid period ended."""
    subscription = star_subscription_live_for(user=user)
    if subscription is None:
        raise NoStarSubscription()
    return star_subscription_edit(subscription=subscription, canceled=False, by=by, actor=actor)
