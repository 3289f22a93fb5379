"""What a locked-out sign-in sees: the admin's sign-in page saying why and for how long."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from staff.forms import StaffLoginForm


def lockout_message() -> str:
    minutes = settings.STAFF_LOGIN_LOCKOUT_MINUTES
    return ngettext(
        "Too many failed sign-ins for this account or from this address: signing in is locked for "
        "%(minutes)d minute. An owner can unlock it sooner.",
        "Too many failed sign-ins for this account or from this address: signing in is locked for "
        "%(minutes)d minutes. An owner can unlock it sooner.",
        minutes,
    ) % {"minutes": minutes}


def lockout_response(request, original_response=None, credentials=None):
    """django-axes calls this (AXES_LOCKOUT_CALLABLE) for a sign-in it refused: 429 and the page."""
    context = {
        **admin.site.each_context(request),
        "title": _("Log in"),
        "app_path": request.get_full_path(),
        "form": StaffLoginForm(request),
        "lockout_message": lockout_message(),
        REDIRECT_FIELD_NAME: request.GET.get(REDIRECT_FIELD_NAME) or reverse("admin:index"),
    }
    return render(request, "staff/login.html", context, status=429)
