"""Star subscriptions in the admin: listed for Finance and Support, cancelled or resumed
(with Telegram) only by those who may refund."""

import pytest
from django.urls import reverse

from payments.models import StarSubscription
from tests.payments.star_subscription_helpers import subscribe
from tests.users.factories import UserFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:payments_starsubscription_changelist"


def run_action(client, action: str, subscription: StarSubscription, *, confirm: bool):
    data = {"action": action, "_selected_action": [subscription.pk]}
    if confirm:
        data["apply"] = "yes"
    return client.post(reverse(CHANGELIST), data, follow=True)


def test_finance_cancels_auto_renewal_after_confirming(admin_client_for, finance_user, fake_telegram, renewing_tariff):
    subscription = subscribe(fake_telegram, UserFactory())
    client = admin_client_for(finance_user)

    page = run_action(client, "cancel_auto_renewal", subscription, confirm=False)
    assert "Cancel auto-renewal?" in page.content.decode() and fake_telegram.subscription_edits == []

    done = run_action(client, "cancel_auto_renewal", subscription, confirm=True)

    assert ": canceled." in done.content.decode()
    assert StarSubscription.objects.get(pk=subscription.pk).status == "canceled"
    assert StarSubscription.objects.get(pk=subscription.pk).canceled_by == "admin"
    assert fake_telegram.subscription_edits[-1]["is_canceled"] is True

    run_action(client, "resume_auto_renewal", subscription, confirm=True)
    assert StarSubscription.objects.get(pk=subscription.pk).status == "active"


def test_support_sees_subscriptions_but_cannot_cancel_them(
    admin_client_for, support_user, fake_telegram, renewing_tariff
):
    subscription = subscribe(fake_telegram, UserFactory())
    client = admin_client_for(support_user)

    listing = client.get(reverse(CHANGELIST))
    assert listing.status_code == 200 and "cancel_auto_renewal" not in listing.content.decode()

    run_action(client, "cancel_auto_renewal", subscription, confirm=True)
    assert StarSubscription.objects.get(pk=subscription.pk).status == "active"
    assert fake_telegram.subscription_edits == []
