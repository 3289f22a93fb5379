"""Reads shared by the doors: what is on sale, a user's subscription as a buyer sees it, the
settings admins change at run time (trial, referral bonus, client apps), and the provisioning
problems the admin (dashboard, readiness) must see."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import CharField, Count, Exists, Min, OuterRef, Q, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from notifications.messages import AppLink
from subscriptions.models import (
    COALESCED_NOTE_PREFIX,
    PANEL_NOTE_PREFIX,
    ClientApp,
    Location,
    PanelCheck,
    PanelProblem,
    ProvisioningTask,
    ShopSettings,
    Subscription,
    Tariff,
)
from users.models import User


def tariffs_on_sale() -> list[Tariff]:
    return list(Tariff.objects.filter(is_active=True).order_by("sort_order", "days"))


def locations_for(*, subscription: Subscription | None) -> list[Location]:
    """The locations the subscription's plan offers now (a buyer may move between them)."""
    if subscription is None:
        return []
    plan_id = ((subscription.configuration or {}).get("plan") or {}).get("id") or subscription.tariff_id
    if not plan_id:
        return []
    return list(Location.objects.filter(tariffs__pk=plan_id, is_active=True).order_by("sort_order", "pk"))


def current_location_id(subscription: Subscription | None) -> int | None:
    location = ((subscription.configuration or {}) if subscription else {}).get("location")
    return location.get("id") if isinstance(location, dict) else None


@dataclass(frozen=True)
class SubscriptionView:
    status: str  # none / active / expired / disabled
    is_active: bool
    expires_at: datetime | None
    days_left: int
    subscription_url: str | None


NO_SUBSCRIPTION = SubscriptionView(status="none", is_active=False, expires_at=None, days_left=0, subscription_url=None)


def subscription_view_of(subscription: Subscription | None) -> SubscriptionView:
    if subscription is None or subscription.expires_at is None:
        return NO_SUBSCRIPTION
    if subscription.status == Subscription.Status.DISABLED:
        status = "disabled"
    elif subscription.is_active:
        status = "active"
    else:
        status = "expired"
    return SubscriptionView(
        status=status,
        is_active=subscription.is_active,
        expires_at=subscription.expires_at,
        days_left=subscription.days_left,
        subscription_url=subscription.subscription_url or None,
    )


def subscription_view(*, user: User) -> SubscriptionView:
    return subscription_view_of(Subscription.objects.filter(user=user).first())


@dataclass(frozen=True)
class OutboxBacklog:
    by_status: dict[str, int]  # open rows (pending, retrying, running) by status
    due: int  # rows a worker should run now
    oldest_due_age_seconds: float  # how long the oldest of those has waited (0 when none)


def outbox_backlog() -> OutboxBacklog:
    """The provisioning outbox as the health probe and the metrics see it."""
    now = timezone.now()
    open_statuses = (ProvisioningTask.Status.PENDING, ProvisioningTask.Status.RETRYING, ProvisioningTask.Status.RUNNING)
    by_status = dict(
        ProvisioningTask.objects.order_by()
        .filter(status__in=open_statuses)
        .values_list("status")
        .annotate(count=Count("*"))
    )
    due_rows = ProvisioningTask.objects.filter(
        Q(status__in=open_statuses[:2], next_attempt_at__lte=now)
        | Q(status=ProvisioningTask.Status.RUNNING, locked_until__lt=now)
    )
    due = due_rows.aggregate(count=Count("*"), oldest=Min("next_attempt_at"))
    oldest = due["oldest"]
    return OutboxBacklog(
        by_status=by_status,
        due=due["count"],
        oldest_due_age_seconds=max((now - oldest).total_seconds(), 0.0) if oldest else 0.0,
    )


# --- Settings admins change at run time ------------------------------------------


def shop_settings() -> ShopSettings:
    """The settings row (unsaved defaults when an admin never saved it)."""
    return ShopSettings.objects.filter(pk=ShopSettings.SINGLETON_PK).first() or ShopSettings(
        pk=ShopSettings.SINGLETON_PK
    )


def trial_days() -> int:
    """The free trial's length (0: no trial): the admin's value, else TRIAL_DAYS."""
    value = shop_settings().trial_days
    return settings.TRIAL_DAYS if value is None else value


def referral_bonus_days() -> int:
    """A referrer's bonus days per invited buyer (0: none): the admin's value, else REFERRAL_BONUS_DAYS."""
    value = shop_settings().referral_bonus_days
    return settings.REFERRAL_BONUS_DAYS if value is None else value


def client_apps() -> dict[str, list[AppLink]]:
    """Active client apps by platform, in the admin's order (platforms without apps are left out)."""
    apps: dict[str, list[AppLink]] = {}
    for platform, name, url in ClientApp.objects.filter(is_active=True).values_list("platform", "name", "url"):
        apps.setdefault(platform, []).append(AppLink(name=name, url=url))
    return {platform: apps[platform] for platform in ClientApp.Platform.values if platform in apps}


# --- Provisioning alerts ---------------------------------------------------------------

REFUND_NOT_APPLIED = "refund_not_applied"


@dataclass(frozen=True)
class ProvisioningAlert:
    kind: str  # REFUND_NOT_APPLIED: the panel may still grant time a refund took back
    task_id: int
    user_id: int
    purchase_id: uuid.UUID | None
    failed_at: datetime
    error: str


def provisioning_alerts(*, limit: int = 100) -> list[ProvisioningAlert]:
    """Panel updates that gave up after a refund, newest first: the refund shortened the
    subscription, the sync that carries it failed for good (itself, or the task it was
    coalesced into), and no sync pushed the user's state to the panel since. Access the
    buyer was refunded for stays until an admin re-runs it."""
    sync = ProvisioningTask.objects.filter(kind=ProvisioningTask.Kind.SYNC)
    carried_a_refund = Exists(
        sync.filter(
            reason=ProvisioningTask.Reason.REFUND,
            note=Concat(Value(COALESCED_NOTE_PREFIX), Cast(OuterRef("pk"), CharField())),
        )
    )
    pushed_since = Exists(
        sync.filter(
            user_id=OuterRef("user_id"),
            status=ProvisioningTask.Status.DONE,
            note__startswith=PANEL_NOTE_PREFIX,
            done_at__gt=OuterRef("updated_at"),
        )
    )
    failed = (
        sync.filter(status=ProvisioningTask.Status.FAILED)
        .filter(Q(reason=ProvisioningTask.Reason.REFUND) | carried_a_refund)
        .exclude(pushed_since)
        .order_by("-updated_at", "-pk")
        .values_list("pk", "user_id", "purchase_id", "updated_at", "last_error")[:limit]
    )
    return [
        ProvisioningAlert(REFUND_NOT_APPLIED, pk, user_id, purchase_id, failed_at, error[:500])
        for pk, user_id, purchase_id, failed_at, error in failed
    ]


@dataclass(frozen=True)
class PanelStatus:
    """The panel as the last check and provisioning found it (readiness, dashboard)."""

    configured: bool
    check: PanelCheck | None = None
    problems: tuple[PanelProblem, ...] = ()

    @property
    def ok(self) -> bool:
        """No known problem: a panel not checked yet (the worker checks it soon after start) is not one."""
        return not self.configured or ((self.check is None or self.check.ok) and not self.problems)

    def as_details(self) -> dict:
        check = self.check
        return {
            "configured": self.configured,
            "checked_at": check.checked_at.isoformat() if check else None,
            "reachable": check.reachable if check else None,
            "version": (check.version or None) if check else None,
            "missing_permissions": list(check.missing_permissions) if check else [],
            "unknown_squads": list(check.unknown_squads) if check else [],
            "error": (check.error or None) if check else "not checked yet (manage.py panel_check)",
            "problems": [
                {"cause": p.cause, "message": p.message, "since": p.first_seen_at.isoformat()} for p in self.problems
            ],
        }


def panel_status() -> PanelStatus:
    if settings.PROVISIONING_BACKEND != "remnawave":
        return PanelStatus(configured=False)
    return PanelStatus(
        configured=True,
        check=PanelCheck.objects.filter(pk=1).first(),
        problems=tuple(PanelProblem.objects.filter(resolved_at__isnull=True).order_by("first_seen_at")),
    )
