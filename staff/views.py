"""Two-factor enrolment for staff, inside the admin: an authenticator app (QR code or key) confirmed
with one of its codes, then the recovery codes, shown once."""

from __future__ import annotations

from base64 import b32encode

import segno
from django import forms
from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django_otp import login as otp_login

from users.two_factor import (
    RECOVERY_CODE_COUNT,
    recovery_codes_left,
    recovery_codes_renew,
    totp_device_confirm,
    totp_device_pending,
    two_factor_enrolled,
    two_factor_required,
)


class ConfirmForm(forms.Form):
    token = forms.CharField(
        label=_("Code from the app"),
        max_length=12,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}),
    )


def _page(request, template: str, **context) -> TemplateResponse:
    return TemplateResponse(
        request,
        template,
        {
            **admin.site.each_context(request),
            "title": _("Two-factor sign-in"),
            "is_nav_sidebar_enabled": False,  # its links lead nowhere before a required second factor is set up
            **context,
        },
    )


def _grouped(secret: str) -> str:
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


@never_cache
@staff_member_required
def two_factor(request):
    """Set up (or replace) the authenticator; once set up, the status and new recovery codes."""
    user = request.user
    enrolled = two_factor_enrolled(user)
    if enrolled and not user.is_verified():
        raise PermissionDenied  # replacing a second factor takes the current one
    if enrolled and not request.GET.get("replace") and request.method == "GET":
        return _page(
            request,
            "staff/two_factor.html",
            enrolled=True,
            required=two_factor_required(user),
            codes_left=recovery_codes_left(user=user),
        )
    device = totp_device_pending(user=user)
    form = ConfirmForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        codes = totp_device_confirm(user=user, device_id=device.pk, token=form.cleaned_data["token"])
        if codes is not None:
            device.refresh_from_db()
            otp_login(request, device)  # this session now counts as signed in with the second factor
            return _page(request, "staff/recovery_codes.html", codes=codes)
        form.add_error("token", _("This code is not right. Check the time on your phone and enter the newest code."))
    secret = b32encode(device.bin_key).decode()
    return _page(
        request,
        "staff/two_factor.html",
        enrolled=False,
        replacing=enrolled,
        required=two_factor_required(user),
        qr_svg=segno.make(device.config_url, error="m").svg_inline(scale=5, border=2),
        secret=_grouped(secret),
        form=form,
        code_count=RECOVERY_CODE_COUNT,
    )


@never_cache
@staff_member_required
def recovery_codes(request):
    """New recovery codes (POST): the old ones stop working."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if not two_factor_enrolled(request.user):
        return redirect("staff:two_factor")
    if not request.user.is_verified():
        raise PermissionDenied
    return _page(request, "staff/recovery_codes.html", codes=recovery_codes_renew(user=request.user))
