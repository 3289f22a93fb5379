"""Staff sessions in the admin: an idle timeout, and a required second factor before anything else."""

from __future__ import annotations

import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _

from users.two_factor import two_factor_enrolled, two_factor_required

SEEN_KEY = "staff_seen_at"
# The last-seen time is written at most this often (a session save per request is not needed).
SEEN_RESOLUTION_SECONDS = 60


class StaffSessionMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if user.is_authenticated and user.is_staff:
            response = self._idle(request) or self._second_factor(request, user)
            if response is not None:
                return response
        return self.get_response(request)

    def _idle(self, request):
        """Sign a staff session out after STAFF_SESSION_IDLE_MINUTES without a request."""
        now = int(time.time())
        seen = request.session.get(SEEN_KEY)
        if seen is not None and now - seen > settings.STAFF_SESSION_IDLE_MINUTES * 60:
            logout(request)
            if _in_admin(request):
                messages.info(request, _("You were signed out after a while without activity. Sign in again."))
                return redirect_to_login(request.get_full_path(), reverse("admin:login"))
            return None
        if seen is None or now - seen >= SEEN_RESOLUTION_SECONDS:
            request.session[SEEN_KEY] = now
        return None

    def _second_factor(self, request, user):
        """Staff who must use a second factor see nothing of the admin but its enrolment until they
        have one; a session that never gave a code (it predates the authenticator) signs in again."""
        if not _in_admin(request) or not two_factor_required(user) or user.is_verified():
            return None
        if request.path in _open_paths():
            return None
        if two_factor_enrolled(user):
            logout(request)
            return redirect_to_login(request.get_full_path(), reverse("admin:login"))
        return redirect("staff:two_factor")


def _in_admin(request) -> bool:
    return request.path.startswith(reverse("admin:index"))


def _open_paths() -> set[str]:
    """The pages a member of staff without the required second factor may still open."""
    return {reverse("staff:two_factor"), reverse("admin:logout"), reverse("admin:jsi18n")}
