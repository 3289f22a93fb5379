"""Reads shared by the bot and the API: what is on sale, a user's subscription as a buyer sees it,
and the settings admins change at run time (trial, referral bonus, client apps)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import Count, Min, Q
from django.utils import timezone

from notifications.messages import AppLink
from subscriptions.models import ClientApp, ProvisioningTask, ShopSettings, Subscription, Tariff
from users.models import User


def tariffs_on_sale() -> list[Tariff]:
    return list(Tariff.objects.filter(is_active=True).order_by("sort_order", "days"))


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
