"""Staff two-factor sign-in: who must use it, enrolment of an authenticator app (TOTP) and the
single-use recovery codes, on django-otp's devices (TOTPDevice, StaticDevice).

A second factor is required of superusers and of staff whose permissions move money or reach
every buyer (settings.STAFF_2FA_PERMISSIONS: refunds, balance adjustments, broadcasts...).
Outside debug it cannot be switched off (the settings refuse STAFF_2FA_REQUIRED=false there).
"""

from __future__ import annotations

import re

from django.conf import settings
from django.db import transaction
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from core.audit import staff_action_record
from core.models import StaffAction
from users.models import User

RECOVERY_CODE_COUNT = 10
TOTP_NAME = "authenticator"
RECOVERY_NAME = "recovery codes"
_SEPARATORS = re.compile(r"[\s-]+")


def two_factor_required(user: User) -> bool:
    """Whether this member of staff must sign in with a second factor."""
    if not settings.STAFF_2FA_REQUIRED or not (user.is_authenticated and user.is_active and user.is_staff):
        return False
    return user.is_superuser or any(user.has_perm(perm) for perm in settings.STAFF_2FA_PERMISSIONS)


def staff_session_complete(user: User) -> bool:
    """A session of this member of staff may act: it gave the second factor they must use."""
    is_verified = getattr(user, "is_verified", None)  # set by django-otp's middleware
    return not two_factor_required(user) or bool(is_verified and is_verified())


def two_factor_enrolled(user: User) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def totp_device_pending(*, user: User) -> TOTPDevice:
    """The not-yet-confirmed authenticator being set up (the same one until it is confirmed)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()
    return device or TOTPDevice.objects.create(user=user, name=TOTP_NAME, confirmed=False)


def _normalized(token: str) -> str:
    return _SEPARATORS.sub("", token or "").lower()


@transaction.atomic
def totp_device_confirm(*, user: User, device_id: int, token: str) -> list[str] | None:
    """Confirm the pending authenticator with a code it shows; returns the new recovery codes
    (shown once), or None when the code is wrong. An earlier authenticator is replaced."""
    device = TOTPDevice.objects.select_for_update().filter(pk=device_id, user=user, confirmed=False).first()
    if device is None or not device.verify_token(_normalized(token)):
        return None
    TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    codes = _recovery_codes_replace(user=user)
    staff_action_record(action=StaffAction.Action.TWO_FACTOR_ENROLLED, actor=user, target=user)
    return codes


def _recovery_codes_replace(*, user: User) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=RECOVERY_NAME, confirmed=True)
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    return codes


@transaction.atomic
def recovery_codes_renew(*, user: User) -> list[str]:
    """New recovery codes (the old ones stop working)."""
    codes = _recovery_codes_replace(user=user)
    staff_action_record(action=StaffAction.Action.RECOVERY_CODES_RENEWED, actor=user, target=user)
    return codes


def recovery_codes_left(*, user: User) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


@transaction.atomic
def second_factor_verify(*, user: User, token: str):
    """The device that accepts `token` (6 digits: the authenticator; else a recovery code, used up
    by this), or None. django-otp slows down repeated failures on each device."""
    token = _normalized(token)
    if not token:
        return None
    model = TOTPDevice if token.isdigit() else StaticDevice
    for device in model.objects.select_for_update().filter(user=user, confirmed=True):
        if device.verify_token(token):
            if model is StaticDevice:
                left = recovery_codes_left(user=user)
                staff_action_record(
                    action=StaffAction.Action.RECOVERY_CODE_USED,
                    actor=user,
                    target=user,
                    after={"recovery_codes_left": left},
                )
            return device
    return None


@transaction.atomic
def two_factor_reset(*, user: User, actor: User | None = None) -> int:
    """Remove a member of staff's authenticator and recovery codes (a lost phone): they set up a
    new one before they can use the admin again (a session verified by a removed device is
    not verified any more)."""
    had = TOTPDevice.objects.filter(user=user, confirmed=True).exists()
    deleted = TOTPDevice.objects.filter(user=user).delete()[0] + StaticDevice.objects.filter(user=user).delete()[0]
    staff_action_record(
        action=StaffAction.Action.TWO_FACTOR_RESET,
        actor=actor,
        target=user,
        before={"enrolled": had},
        after={"enrolled": False},
    )
    return deleted
