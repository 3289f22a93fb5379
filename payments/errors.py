from django.utils.translation import gettext_lazy as _

from core.errors import ApplicationError, Conflict, NotFound


class PurchaseConflict(Conflict):
    code = "purchase_conflict"

    def __init__(self, message=None, **kwargs):
        super().__init__(message or _("This purchase belongs to another user."), **kwargs)


class PaymentNotFound(NotFound):
    def __init__(self, message=None, **kwargs):
        super().__init__(message or _("Purchase not found."), **kwargs)


class TariffUnavailable(ApplicationError):
    code = "tariff_unavailable"
    status = 422

    def __init__(self, message=None, **kwargs):
        super().__init__(message or _("This tariff is not on sale."), **kwargs)


class InsufficientBalance(ApplicationError):
    code = "insufficient_balance"
    status = 422

    def __init__(self, *, needed: int, available: int):
        super().__init__(_("Not enough Stars on your balance."), details={"needed": needed, "available": available})


class MockPaymentsDisabled(ApplicationError):
    code = "mock_payments_disabled"
    status = 403

    def __init__(self):
        super().__init__(_("Mock payments are disabled on this server."))


class InvalidAmount(ApplicationError):
    code = "validation_error"
    status = 400


class RefundNotAllowed(Conflict):
    code = "refund_not_allowed"


class TrialUnavailable(ApplicationError):
    """The free trial cannot be started; `reason` is a stable machine code."""

    code = "trial_unavailable"
    status = 409

    MESSAGES = {
        "off": _("There is no free trial at the moment."),
        "used": _("You have already used your free trial."),
        "paid_before": _("The free trial is for new customers only."),
        "no_telegram": _("The free trial needs a Telegram account."),
    }

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(self.MESSAGES[reason], details={"reason": reason})


class AlreadySubscribed(Conflict):
    code = "already_subscribed"

    def __init__(self):
        super().__init__(_("You already have an auto-renewing subscription: manage it in My subscription."))
