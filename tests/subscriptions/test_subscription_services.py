from datetime import timedelta

import pytest
from django.utils import timezone

from subscriptions.models import ProvisioningTask, Subscription
from subscriptions.services import subscription_adjust
from tests.users.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_admin_extension_starts_from_now_for_new_user_and_queues_provisioning():
    user = UserFactory()
    subscription = subscription_adjust(user=user, days=10)
    assert 9.99 < (subscription.expires_at - timezone.now()).total_seconds() / 86400 <= 10
    assert ProvisioningTask.objects.filter(user=user, reason="admin").count() == 1


def test_admin_shortening_can_expire_a_subscription():
    user = UserFactory()
    Subscription.objects.create(user=user, expires_at=timezone.now() + timedelta(days=3), status="active")
    subscription = subscription_adjust(user=user, days=-5)
    assert subscription.status == "expired" and not subscription.is_active and subscription.days_left == 0


def test_days_left_of_a_fresh_month_is_thirty():
    user = UserFactory()
    subscription = subscription_adjust(user=user, days=30)
    assert subscription.days_left == 30
