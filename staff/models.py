"""The lockout's tables (django-axes) under the shop's own names in the admin."""

from __future__ import annotations

from axes.models import AccessAttempt, AccessFailureLog
from django.utils.translation import gettext_lazy as _


class SignInCounter(AccessAttempt):
    """Failed sign-ins counted per account, address and browser, while they count (the lockout's time)."""

    class Meta:
        proxy = True
        verbose_name = _("sign-in lockout")
        verbose_name_plural = _("sign-in lockouts")


class FailedSignIn(AccessFailureLog):
    """Every failed sign-in, kept as long as the staff actions."""

    class Meta:
        proxy = True
        verbose_name = _("failed sign-in")
        verbose_name_plural = _("failed sign-ins")
