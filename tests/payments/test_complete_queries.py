"""The purchase transaction stays lean: the queries of a completion are pinned, so
extra reads or writes cannot creep back in (bench/complete_throughput.py measures it)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from payments.services import purchase_create_invoice
from tests.payments.helpers import pay
from tests.users.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

# Transaction control is not work: BEGIN (IMMEDIATE on SQLite) and COMMIT are not counted.
CONTROL = ("BEGIN", "BEGIN IMMEDIATE", "COMMIT", "ROLLBACK")


def statements(ctx: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in ctx.captured_queries if q["sql"].strip().upper() not in CONTROL]


def completion_queries(user, *, charge_id: str) -> list[str]:
    payment = purchase_create_invoice(user=user, tariff="1m").payment
    with CaptureQueriesContext(connection) as ctx:
        assert pay(payment, charge_id=charge_id).outcome == "granted"
    return statements(ctx)


def verbs(sqls: list[str]) -> list[str]:
    return [" ".join(sql.split()[:3]).replace('"', "") for sql in sqls]


@pytest.fixture
def quiet_background(settings):
    """The outbox row is written; handing it over is not part of the transaction."""
    settings.BACKGROUND_TASKS_INLINE = False
    settings.PROVISIONING_RUN_AFTER_COMMIT = False


def test_a_renewal_by_a_buyer_with_a_subscription_takes_seven_statements(tariff_1m, quiet_background):
    # given a buyer who bought before
    user = UserFactory()
    completion_queries(user, charge_id="first")

    # when they pay again
    sqls = completion_queries(user, charge_id="second")

    # then: lock the buyer (reading the invoice), look for a kept refund, claim the payment,
    # book the ledger, extend the subscription, write the outbox row, record the event
    assert verbs(sqls) == [
        "SELECT t0.id, t0.purchase_id,",
        "SELECT payments_pendingrefund.id, payments_pendingrefund.charge_id,",
        "UPDATE payments_payment SET",
        "INSERT INTO payments_ledgerentry",
        "UPDATE subscriptions_subscription SET",
        "INSERT INTO subscriptions_provisioningtask",
        "INSERT INTO payments_purchaseevent",
    ], sqls
    assert "FOR NO KEY UPDATE OF" in sqls[0] or connection.vendor == "sqlite"


def test_a_first_purchase_adds_the_subscription_row_and_the_referral_lookup(tariff_1m, quiet_background):
    sqls = completion_queries(UserFactory(), charge_id="only")

    # the seven above, the subscription row created, and (a first paid subscription) the referral looked up
    assert len(sqls) == 9
    joined = " ".join(verbs(sqls))
    assert "INSERT INTO subscriptions_subscription" in joined and "SELECT referrals_referral.id," in joined
    assert not [sql for sql in sqls if "SAVEPOINT" in sql.upper()]
