"""Reading and lifting the sign-in lockout (django-axes' counters in the database)."""

from __future__ import annotations

from datetime import datetime

from axes.models import AccessAttempt
from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet, Subquery, Sum
from django.db.models.expressions import OuterRef
from django.db.models.functions import Coalesce
from django.utils import timezone

from core.audit import staff_action_record
from core.models import StaffAction
from users.models import User


def counting_since() -> datetime:
    """Failures older than this no longer count (the lockout's length)."""
    return timezone.now() - settings.AXES_COOLOFF_TIME


def with_totals(queryset: QuerySet) -> QuerySet:
    """Each counter with the failures that count for its account and for its address."""
    since = counting_since()

    def total(field: str):
        rows = AccessAttempt.objects.filter(**{field: OuterRef(field)}, attempt_time__gte=since)
        return Coalesce(Subquery(rows.values(field).annotate(n=Sum("failures_since_start")).values("n")[:1]), 0)

    return queryset.annotate(account_failures=total("username"), address_failures=total("ip_address"))


def is_locked(counter) -> bool:
    limit = settings.AXES_FAILURE_LIMIT
    return counter.attempt_time >= counting_since() and (
        counter.account_failures >= limit or counter.address_failures >= limit
    )


@transaction.atomic
def signin_unlock(*, username: str | None, ip_address: str | None, actor: User) -> int:
    """Forget the failures of this account and of this address: both may sign in again at once."""
    matching = Q(pk__in=[])
    if username:
        matching |= Q(username=username)
    if ip_address:
        matching |= Q(ip_address=ip_address)
    counters = AccessAttempt.objects.filter(matching)
    failures = counters.aggregate(n=Sum("failures_since_start"))["n"] or 0
    deleted, _ = counters.delete()
    if deleted:
        staff_action_record(
            action=StaffAction.Action.UNLOCKED,
            actor=actor,
            target=User.objects.filter(username=username).first() if username else None,
            target_label=" / ".join(part for part in (username, ip_address) if part),
            before={"failures": failures},
            after={"failures": 0},
        )
    return deleted
