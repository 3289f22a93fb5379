"""The pieces that keep admin pages fast on big tables."""

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.admin import BoundedCountPaginator, calendar_queryset
from payments.models import LedgerEntry, Payment

pytestmark = pytest.mark.django_db


def scale(payments: int) -> None:
    call_command(
        "generate_scale_data", users=5, payments=payments, ledger=0, promos=2, days=400, stdout=open("/dev/null", "w")
    )


def test_filtered_count_stops_at_the_cap(monkeypatch):
    scale(12)
    monkeypatch.setattr(BoundedCountPaginator, "count_cap", 3)

    paginator = BoundedCountPaginator(Payment.objects.exclude(status="nonexistent").order_by("-created_at"), 2)

    assert paginator.count == 4  # "more than 3": never a count over the whole table


@pytest.mark.postgres
def test_unfiltered_count_uses_the_planners_estimate_on_postgres(monkeypatch):
    scale(40)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE payments_payment")
    monkeypatch.setattr(BoundedCountPaginator, "count_cap", 3)

    with CaptureQueriesContext(connection) as queries:
        count = BoundedCountPaginator(Payment.objects.order_by("-created_at"), 10).count

    assert count >= 4
    assert "reltuples" in queries[0]["sql"] and "COUNT" not in " ".join(q["sql"] for q in queries).upper()


def test_date_hierarchy_choices_come_from_min_and_max_without_distinct():
    scale(30)
    queryset = calendar_queryset(Payment.objects.all())
    first, last = Payment.objects.earliest("created_at").created_at, Payment.objects.latest("created_at").created_at

    with CaptureQueriesContext(connection) as queries:
        years = queryset.datetimes("created_at", "year")
        months = queryset.datetimes("created_at", "month")

    assert [y.year for y in years] == list(range(first.year, last.year + 1))
    assert len(months) == (last.year - first.year) * 12 + last.month - first.month + 1
    assert not any("DISTINCT" in q["sql"].upper() for q in queries)


def test_generate_scale_data_keeps_balances_equal_to_the_ledger():
    from payments.ledger import balances_verify

    call_command("generate_scale_data", users=20, payments=200, ledger=500, promos=3, stdout=open("/dev/null", "w"))

    assert Payment.objects.count() == 200
    assert LedgerEntry.objects.count() >= 500
    assert balances_verify() == []
