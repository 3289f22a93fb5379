"""Sign-ins and lockouts go to the staff audit trail."""

from __future__ import annotations

from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from core.audit import staff_action_record
from core.models import StaffAction
from users.models import User


@receiver(user_logged_in, dispatch_uid="staff.sign_in_recorded")
def sign_in_recorded(sender, request, user, **kwargs) -> None:
    if not user.is_staff:
        return
    device = getattr(user, "otp_device", None)
    staff_action_record(
        action=StaffAction.Action.SIGN_IN,
        actor=user,
        target=user,
        after={"second_factor": device.__class__.__name__ if device is not None else ""},
    )


@receiver(user_locked_out, dispatch_uid="staff.lockout_recorded")
def lockout_recorded(sender, request, username, ip_address, **kwargs) -> None:
    """Once per lockout: when the failures reach the limit, not at every refused try after it."""
    failures = getattr(request, "axes_failures_since_start", None)
    if failures != settings.AXES_FAILURE_LIMIT:
        return
    account = User.objects.filter(username=username).first() if username else None
    staff_action_record(
        action=StaffAction.Action.LOCKED_OUT,
        actor_name="-",  # whoever typed the passwords; the account is the object
        target=account,
        target_label=username or "",
        address=ip_address,
        after={"failures": failures, "locked_minutes": settings.STAFF_LOGIN_LOCKOUT_MINUTES},
    )
