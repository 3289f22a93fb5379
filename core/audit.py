"""The staff audit trail: who did what, when, from which address, to which object, before → after.

A service whose change moves money or reaches buyers calls `staff_action_record` inside its own
transaction, so the row exists exactly when the change does. Who and from where: the actor the
service was given, else the member of staff whose web request is being served
(`StaffContextMiddleware`). A change made by neither (Telegram's own refund, a periodic task) is
not a staff action and writes nothing; a management command names itself with `staff_context`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from core.clientip import client_address
from core.models import StaffAction


@dataclass(frozen=True)
class _Context:
    request: Any = None
    label: str = ""


_current: ContextVar[_Context | None] = ContextVar("staff_context", default=None)


@contextmanager
def staff_context(*, request=None, label: str = "") -> Iterator[None]:
    """Actions recorded inside are by this request's staff member, or by `label` (a command)."""
    token = _current.set(_Context(request=request, label=label))
    try:
        yield
    finally:
        _current.reset(token)


class StaffContextMiddleware:
    """Makes the request's staff member and address known to the services it calls."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        with staff_context(request=request):
            return self.get_response(request)


def _staff_of(request) -> Any | None:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.is_staff:
        return user
    return None


def staff_action_record(
    *,
    action: str,
    target: models.Model | None = None,
    target_label: str = "",
    before: dict | None = None,
    after: dict | None = None,
    note: str = "",
    actor: Any | None = None,
    actor_name: str = "",
    address: str | None = None,
) -> StaffAction | None:
    """One audit row; None when nobody on the staff side did it (nothing is written)."""
    context = _current.get()
    request = context.request if context else None
    if actor is None and request is not None:
        actor = _staff_of(request)
    name = actor_name or (actor.get_username() if actor is not None else (context.label if context else ""))
    if actor is None and not name:
        return None
    if address is None and request is not None:
        address = client_address(request) or None
    return StaffAction.objects.create(
        actor=actor,
        actor_name=name[:150],
        address=address or None,
        action=action,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        target_repr=(target_label or (str(target) if target is not None else ""))[:200],
        before=before or {},
        after=after or {},
        note=note,
    )


def staff_actions_purge(*, now=None) -> int:
    """Drop the rows older than STAFF_AUDIT_RETENTION_DAYS; returns how many."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.STAFF_AUDIT_RETENTION_DAYS)
    deleted, _ = StaffAction.objects.filter(at__lt=cutoff).delete()
    return deleted
