"""Every admin list and the dashboard cost the same number of queries at 5 and at 50 payments."""

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from payments.models import Payment, PurchaseEvent
from subscriptions.models import ProvisioningTask

pytestmark = pytest.mark.django_db

MAX_QUERIES = 15
# The dashboard: one query per group of figures (money, refunds, buyers, invoices, trials,
# daily counts, live subscribers, lapsed, expiring soon), the two charts, two tables, and
# what needs attention (open reviews and refund debts with the pending count, kept
# refunds, refunds the panel never got, the last reconciliation), sales by plan and option (one
# UNION), the campaigns (four), and the transaction that reads them all from one snapshot.
PAGE_MAX_QUERIES = {"admin:payments_payment_dashboard": 31}


def add_money_rows(payments: int) -> None:
    call_command(
        "generate_scale_data",
        users=max(payments // 2, 1),
        payments=payments,
        ledger=0,
        promos=3,
        days=30,
        stdout=open("/dev/null", "w"),
    )
    newest = list(Payment.objects.order_by("-pk")[:payments])
    PurchaseEvent.objects.bulk_create(
        [PurchaseEvent(name="purchase_invoice_created", payment=p, user_id=p.user_id) for p in newest]
    )
    ProvisioningTask.objects.bulk_create(
        [ProvisioningTask(user_id=p.user_id, purchase_id=p.purchase_id, reason="admin") for p in newest]
    )


def queries_for(client, url) -> int:
    client.get(url)  # warm process-wide caches (content types), which are not data-dependent
    cache.clear()
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(captured)


LIST_URLS = [
    "admin:payments_payment_changelist",
    "admin:payments_ledgerentry_changelist",
    "admin:payments_purchaseevent_changelist",
    "admin:users_user_changelist",
    "admin:users_buyer_changelist",
    "admin:payments_reconciliationrun_changelist",
    "admin:subscriptions_expiryreminder_changelist",
    "admin:promos_promocode_changelist",
    "admin:subscriptions_tariff_changelist",
    "admin:subscriptions_subscription_changelist",
    "admin:subscriptions_provisioningtask_changelist",
    "admin:payments_payment_dashboard",
    "admin:index",
]


@pytest.mark.parametrize("name", LIST_URLS)
def test_page_queries_do_not_grow_with_the_data(admin_client_for, superuser, name):
    client = admin_client_for(superuser)
    url = reverse(name)
    add_money_rows(5)
    with_5 = queries_for(client, url)

    add_money_rows(45)
    with_50 = queries_for(client, url)

    assert with_5 == with_50 <= PAGE_MAX_QUERIES.get(name, MAX_QUERIES)


@pytest.mark.parametrize(
    "query",
    ["status__exact=succeeded", "promo=any", "q=mock_x", "q=12345", "created_at__year=2026", "review=open"],
)
def test_filtered_payments_list_queries_do_not_grow(admin_client_for, superuser, query):
    client = admin_client_for(superuser)
    url = reverse("admin:payments_payment_changelist") + "?" + query
    add_money_rows(5)
    with_5 = queries_for(client, url)

    add_money_rows(45)
    with_50 = queries_for(client, url)

    assert with_5 == with_50 <= MAX_QUERIES


@pytest.mark.parametrize("page", ["payment", "user", "buyer"])
def test_detail_pages_queries_do_not_grow(admin_client_for, superuser, page):
    client = admin_client_for(superuser)
    add_money_rows(5)
    payment = Payment.objects.order_by("pk").first()
    target = payment if page == "payment" else payment.user
    url = reverse(f"admin:{target._meta.app_label}_{page}_change", args=[target.pk])
    with_5 = queries_for(client, url)

    extra = Payment.objects.filter(user=payment.user).first()
    for _ in range(45):
        PurchaseEvent.objects.create(name="purchase_invoice_created", payment=extra, user=payment.user)
    Payment.objects.bulk_create(
        [
            Payment(user=payment.user, tariff=payment.tariff, base_price=100, amount=100, invoice_payload=f"x{i}")
            for i in range(45)
        ]
    )
    with_50 = queries_for(client, url)

    assert with_5 == with_50 <= 25
