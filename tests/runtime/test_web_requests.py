"""A web request never waits on the panel: the purchase it completes is provisioned by
the background worker (here the embedded one, as a web process without a broker runs it)."""

from __future__ import annotations

import time

import pytest
from rest_framework.test import APIClient

from api.keys import api_key_create
from api.models import Scope
from subscriptions.backends import reset_backend
from subscriptions.models import ProvisioningTask, Subscription
from tests.runtime.test_link_once import background_settled
from tests.subscriptions.helpers import panel_username

pytestmark = pytest.mark.django_db(transaction=True)

BUYER = 730_001
PANEL_TIMEOUT_SECONDS = 5.0


@pytest.fixture
def buyer_api(settings, tariffs):
    """Mock payments on, and an API client acting for one buyer through a key with every scope."""
    settings.MOCK_PAYMENTS = True
    settings.TELEGRAM_STARS_ENABLED = False
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Api-Key {api_key_create(name='web', scopes=Scope.values).raw_key}",
        HTTP_X_TELEGRAM_USER_ID=str(BUYER),
    )
    return client


def test_a_mock_purchase_answers_at_once_while_the_panel_stores_the_user_and_hangs(
    embedded_worker, buyer_api, fake_panel, settings
):
    # given an open invoice, and a panel that stores the next user and then hangs past the client's timeout
    settings.REMNAWAVE_TIMEOUT = PANEL_TIMEOUT_SECONDS
    reset_backend()
    invoice = buyer_api.post("/api/v1/purchase/invoice", {"item_id": "1m"}, format="json")
    assert invoice.status_code == 201, invoice.content
    fake_panel.create_then_hang(2 * PANEL_TIMEOUT_SECONDS)

    # when the buyer completes the purchase through the API
    started = time.monotonic()
    completed = buyer_api.post("/api/v1/purchase", {"purchase_id": invoice.json()["purchase_id"]}, format="json")
    elapsed = time.monotonic() - started

    # then the answer comes at once, before the panel has answered anything
    assert (completed.status_code, completed.json()["status"]) == (200, "succeeded")
    assert elapsed < 1.0, f"the request took {elapsed:.2f} s"
    assert Subscription.objects.get(user__telegram_id=BUYER).provisioned_at is None

    # and the worker provisions the buyer afterwards: one panel user (the create whose answer was
    # lost is retried, refused as existing, and the user found)
    background_settled(embedded_worker)
    assert list(fake_panel.users) == [f"tg_{BUYER}"]
    subscription = Subscription.objects.get(user__telegram_id=BUYER)
    assert subscription.provisioned_at is not None and subscription.panel_username == panel_username(subscription.user)
    assert ProvisioningTask.objects.filter(kind=ProvisioningTask.Kind.SYNC).count() == 1
