"""Reads shared by the bot and the API: what is on sale, and a user's subscription as a buyer sees it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from subscriptions.models import Subscription, Tariff
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
