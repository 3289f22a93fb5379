"""The payments list: exact search, filters, the detail timeline, retry and expire actions."""

from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse
from django.utils import timezone

from payments.models import Payment
from subscriptions.models import ProvisioningTask
from tests.admin.conftest import paid_payment
from tests.payments.factories import PaymentFactory
from tests.promos.factories import PromoCodeFactory
from tests.users.factories import UserFactory

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:payments_payment_changelist")


def listed(response) -> set[int]:
    return {row.pk for row in response.context["cl"].result_list}


@pytest.fixture
def two_payments(tariff_1m):
    wanted = paid_payment(user=UserFactory(telegram_id=555001, telegram_username="wanted"))
    other = paid_payment(user=UserFactory(telegram_id=555002, telegram_username="other"))
    return wanted, other


@pytest.mark.parametrize(
    "term",
    [
        lambda p: p.telegram_payment_charge_id,
        lambda p: str(p.purchase_id),
        lambda p: p.invoice_payload,
        lambda p: "555001",
        lambda p: "@wanted",
        lambda p: "wanted",
    ],
    ids=["charge id", "purchase id", "payload", "telegram id", "@username", "username"],
)
def test_search_finds_the_payment_by_exact_identifier(admin_client_for, superuser, two_payments, term):
    wanted, _other = two_payments

    response = admin_client_for(superuser).get(CHANGELIST, {"q": term(wanted)})

    assert listed(response) == {wanted.pk}


def test_search_with_a_partial_charge_id_finds_nothing(admin_client_for, superuser, two_payments):
    wanted, _other = two_payments

    response = admin_client_for(superuser).get(CHANGELIST, {"q": wanted.telegram_payment_charge_id[:-1]})

    assert listed(response) == set()


def test_filters_by_status_and_promo(admin_client_for, superuser, tariff_1m):
    promo = PromoCodeFactory(code="SPRING")
    with_promo = paid_payment(promo_code="SPRING")
    pending = PaymentFactory(tariff=tariff_1m)
    client = admin_client_for(superuser)

    assert listed(client.get(CHANGELIST, {"status__exact": "pending"})) == {pending.pk}
    assert listed(client.get(CHANGELIST, {"promo": str(promo.pk)})) == {with_promo.pk}
    assert listed(client.get(CHANGELIST, {"promo": "none"})) == {pending.pk}


def test_date_hierarchy_drilldown_lists_the_year_and_filters(admin_client_for, superuser, tariff_1m):
    payment = paid_payment()
    year = timezone.localtime(payment.created_at).year
    client = admin_client_for(superuser)

    page = client.get(CHANGELIST)
    drilled = client.get(CHANGELIST, {"created_at__year": year})

    assert page.status_code == 200
    assert listed(drilled) == {payment.pk}


def test_detail_shows_the_event_timeline_and_ledger_rows(admin_client_for, superuser, tariff_1m):
    payment = paid_payment()

    page = admin_client_for(superuser).get(reverse("admin:payments_payment_change", args=[payment.pk]))

    content = page.content.decode()
    assert page.status_code == 200
    assert "purchase_invoice_created" in content and "purchase_succeeded" in content
    assert payment.telegram_payment_charge_id in content


def test_retry_provisioning_queues_a_task_and_logs_it(admin_client_for, support_user, tariff_1m):
    payment = paid_payment()

    admin_client_for(support_user).post(CHANGELIST, {"action": "retry_provisioning", "_selected_action": [payment.pk]})

    assert ProvisioningTask.objects.filter(purchase_id=payment.purchase_id, reason="admin").count() == 1
    assert LogEntry.objects.filter(object_id=str(payment.pk), change_message__startswith="Provisioning queued").exists()


def test_expire_stale_asks_then_expires_old_pending_payments(admin_client_for, finance_user, tariff_1m):
    stale = PaymentFactory(tariff=tariff_1m)
    fresh = PaymentFactory(tariff=tariff_1m)
    Payment.objects.filter(pk=stale.pk).update(created_at=timezone.now() - timedelta(days=30))
    client = admin_client_for(finance_user)
    url = reverse("admin:payments_payment_expire_stale")

    question = client.get(url)
    client.post(url)

    assert question.status_code == 200 and Payment.objects.get(pk=stale.pk).status == Payment.Status.EXPIRED
    assert Payment.objects.get(pk=fresh.pk).status == Payment.Status.PENDING
    assert LogEntry.objects.filter(change_message__startswith="Expired 1").exists()


def test_expire_stale_is_refused_to_support(admin_client_for, support_user):
    assert admin_client_for(support_user).get(reverse("admin:payments_payment_expire_stale")).status_code == 403
