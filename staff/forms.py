"""The admin's sign-in form: the password (behind the lockout), then the second factor of those
who have set one up, in the same form."""

from __future__ import annotations

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from users.two_factor import second_factor_verify, two_factor_enrolled


class StaffLoginForm(AdminAuthenticationForm):
    otp_token = forms.CharField(
        label=_("Code"),
        required=False,
        max_length=32,
        help_text=_("From your authenticator app, or one of your recovery codes."),
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autocapitalize": "none"}),
    )

    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "otp_required": _("Enter the code from your authenticator app (or a recovery code)."),
        "otp_invalid": _("This code is wrong or was used already. Wait for the next code in your app and try again."),
    }

    def clean(self):
        cleaned = super().clean()  # the lockout, then the password (django.contrib.auth.authenticate)
        user = self.user_cache
        if user is not None and two_factor_enrolled(user):
            token = (cleaned.get("otp_token") or "").strip()
            if not token:
                raise ValidationError(self.error_messages["otp_required"], code="otp_required")
            device = second_factor_verify(user=user, token=token)
            if device is None:
                # A wrong second factor is a failed sign-in for the lockout too.
                user_login_failed.send(
                    sender=__name__, credentials={"username": user.get_username()}, request=self.request
                )
                raise ValidationError(self.error_messages["otp_invalid"], code="otp_invalid")
            user.otp_device = device  # django-otp marks the session verified when it signs in
        return cleaned
