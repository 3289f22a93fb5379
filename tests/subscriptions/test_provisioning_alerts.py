"""A refund whose panel update gave up raises an alert: the panel may still grant the refunded time."""

import pytest

from subscriptions.models import ProvisioningTask
from subscriptions.provisioning import process_due, task_retry_now
from subscriptions.selectors import REFUND_NOT_APPLIED, provisioning_alerts
from tests.subscriptions.helpers import buy, make_all_due, refund
from tests.users.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def one_attempt(settings):
    settings.PROVISIONING_MAX_ATTEMPTS = 1
    settings.REMNAWAVE_MAX_RETRIES = 0


def run_with_the_panel_down(fake_panel) -> None:
    fake_panel.fail_next(100, status=503)
    make_all_due()
    process_due()
    fake_panel.heal()


def test_refund_sync_that_gave_up_is_an_alert(fake_panel, tariff_1m, one_attempt):
    # given a buyer provisioned in the panel, then refunded while the panel is down
    user = UserFactory()
    payment = buy(user)
    process_due()
    refund(payment)

    # when the refund's sync fails for good
    run_with_the_panel_down(fake_panel)

    # then it is an alert naming the task and the refunded purchase
    (alert,) = provisioning_alerts()
    task = ProvisioningTask.objects.get(user=user, reason=ProvisioningTask.Reason.REFUND)
    assert (alert.kind, alert.task_id, alert.user_id, alert.purchase_id) == (
        REFUND_NOT_APPLIED,
        task.pk,
        user.pk,
        payment.purchase_id,
    )
    assert "503" in alert.error


def test_a_later_sync_that_reached_the_panel_clears_the_alert(fake_panel, tariff_1m, one_attempt):
    user = UserFactory()
    payment = buy(user)
    process_due()
    refund(payment)
    run_with_the_panel_down(fake_panel)
    (alert,) = provisioning_alerts()

    task_retry_now(task_id=alert.task_id)
    process_due()

    assert provisioning_alerts() == []


def test_a_failed_purchase_sync_is_no_refund_alert(fake_panel, tariff_1m, one_attempt):
    buy(UserFactory())

    run_with_the_panel_down(fake_panel)

    assert ProvisioningTask.objects.filter(status=ProvisioningTask.Status.FAILED).exists()
    assert provisioning_alerts() == []


def test_a_refund_coalesced_into_a_sync_that_gave_up_is_an_alert(fake_panel, tariff_1m, one_attempt):
    # given a purchase and its refund, both waiting for the panel (one sync carries both)
    user = UserFactory()
    payment = buy(user)
    refund(payment)

    # when that sync gives up
    run_with_the_panel_down(fake_panel)

    # then the refund it carried is an alert
    (alert,) = provisioning_alerts()
    assert ProvisioningTask.objects.get(pk=alert.task_id).reason == ProvisioningTask.Reason.PURCHASE
