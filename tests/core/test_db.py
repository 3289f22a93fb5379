"""core.db: the hot paths' plain-SQL helpers behave like the ORM calls they replace."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import OperationalError, connection, transaction
from django.db.transaction import TransactionManagementError
from django.utils import timezone

from api.models import ApiKey, IdempotencyKey
from conftest import run_concurrently
from core.db import fetch_first, insert_skipping_conflicts, insert_unless_conflict, lock_row
from payments.events import event_record
from payments.models import Payment, PurchaseEvent
from tests.payments.factories import PaymentFactory
from tests.promos.factories import PromoCodeFactory
from tests.users.factories import UserFactory
from users.models import User


def a_claim(key: str = "k1", principal: str = "api_key:1") -> IdempotencyKey:
    return IdempotencyKey(
        principal=principal, key=key, fingerprint="f" * 64, expires_at=timezone.now() + timedelta(hours=1)
    )


# --- insert_unless_conflict ----------------------------------------------------------


@pytest.mark.django_db
def test_a_new_row_is_inserted_with_its_defaults():
    claim = a_claim()

    inserted = insert_unless_conflict(claim)

    assert inserted is True
    stored = IdempotencyKey.objects.get(pk=claim.pk)
    assert (stored.principal, stored.key, stored.status) == ("api_key:1", "k1", IdempotencyKey.Status.IN_PROGRESS)
    assert stored.reference == claim.reference  # the default made in Python is the one stored
    assert stored.created_at == claim.created_at  # auto_now_add applied, as save() would
    assert claim._state.adding is False


@pytest.mark.django_db
def test_a_row_colliding_with_a_unique_constraint_is_not_inserted():
    first = a_claim()
    insert_unless_conflict(first)
    second = a_claim()
    second.fingerprint = "e" * 64

    inserted = insert_unless_conflict(second)

    assert inserted is False
    assert second.pk is None
    assert list(IdempotencyKey.objects.values_list("pk", "fingerprint")) == [(first.pk, "f" * 64)]


@pytest.mark.django_db
def test_a_conflict_inside_a_transaction_leaves_it_usable():
    insert_unless_conflict(a_claim())

    with transaction.atomic():
        assert insert_unless_conflict(a_claim()) is False
        # no IntegrityError was raised, so no savepoint was needed: the transaction goes on
        assert insert_unless_conflict(a_claim(key="k2")) is True

    assert IdempotencyKey.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_inserts_of_one_key_insert_exactly_one():
    results = run_concurrently(lambda _i: insert_unless_conflict(a_claim()), 10)

    assert sorted(results) == [False] * 9 + [True]
    assert IdempotencyKey.objects.count() == 1


@pytest.mark.django_db
def test_many_rows_are_inserted_in_one_statement_skipping_those_already_there(django_assert_num_queries):
    insert_unless_conflict(a_claim(key="k2", principal="p"))
    claims = [a_claim(key=key, principal="p") for key in ("k1", "k2", "k3")]
    claims[1].fingerprint = "changed"

    with django_assert_num_queries(1):
        inserted = insert_skipping_conflicts(claims, returning="key")

    assert sorted(inserted) == ["k1", "k3"]
    assert IdempotencyKey.objects.get(key="k2").fingerprint == "f" * 64  # left as it was
    assert insert_skipping_conflicts([], returning="key") == []


@pytest.mark.django_db
def test_many_rows_must_be_new_rows_of_one_model():
    stored = a_claim()
    insert_unless_conflict(stored)

    with pytest.raises(ValueError, match="new rows"):
        insert_skipping_conflicts([a_claim(key="k9"), stored], returning="key")


# --- fetch_first -------------------------------------------------------------------------


@pytest.mark.django_db
def test_fetch_first_loads_the_row_like_the_orm():
    user = UserFactory(telegram_id=4242)
    User.objects.filter(pk=user.pk).update(stars_balance=15)

    found = fetch_first(User, telegram_id=4242)

    assert found == user
    assert (found.telegram_id, found.stars_balance, found.date_joined) == (4242, 15, user.date_joined)
    assert fetch_first(User, telegram_id=4243) is None


@pytest.mark.django_db
def test_fetch_first_treats_none_as_is_null():
    ApiKey.objects.create(name="revoked", prefix="aaa", secret_hash="x", revoked_at=timezone.now())
    active = ApiKey.objects.create(name="active", prefix="bbb", secret_hash="y")

    assert fetch_first(ApiKey, prefix="aaa", revoked_at=None) is None
    assert fetch_first(ApiKey, prefix="bbb", revoked_at=None) == active
    assert fetch_first(ApiKey, prefix="bbb", revoked_at=None).scopes == active.scopes  # JSON read back


@pytest.fixture(params=["with a promo", "without a promo", "a top-up (no tariff)"])
def payment(request, tariff_1m) -> Payment:
    if request.param == "with a promo":
        return PaymentFactory(tariff=tariff_1m, promo=PromoCodeFactory(), discount=10, paid_at=timezone.now())
    if request.param == "without a promo":
        return PaymentFactory(tariff=tariff_1m)
    return PaymentFactory(tariff=None, kind="topup", days=0)


@pytest.mark.django_db
def test_fetch_first_loads_related_rows_like_select_related(payment, django_assert_num_queries):
    expected = Payment.objects.select_related("user", "tariff", "promo").get(pk=payment.pk)

    with django_assert_num_queries(1):
        found = fetch_first(Payment, related=("user", "tariff", "promo"), invoice_payload=payment.invoice_payload)
        # then the related objects come with it: reading them costs no query
        loaded = (found.user, found.tariff, found.promo)

    assert loaded == (expected.user, expected.tariff, expected.promo)
    for instance, orm in [(found, expected), *zip(loaded, (expected.user, expected.tariff, expected.promo))]:
        if orm is None:
            continue
        assert instance.__dict__.keys() >= {f.attname for f in orm._meta.concrete_fields}
        assert {f.attname: getattr(instance, f.attname) for f in orm._meta.concrete_fields} == {
            f.attname: getattr(orm, f.attname) for f in orm._meta.concrete_fields
        }
        assert instance._state.adding is False


@pytest.mark.django_db
def test_fetch_first_refuses_what_is_not_a_foreign_key():
    with pytest.raises(ValueError, match="not a foreign key"):
        fetch_first(Payment, related=("amount",), invoice_payload="x")


# --- lock_row ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_lock_row_says_whether_the_row_exists():
    user = UserFactory()

    with transaction.atomic():
        assert lock_row(model=User, pk=user.pk, no_key=True) is True
        assert lock_row(model=User, pk=user.pk + 1000, no_key=True) is False


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_lock_row_outside_a_transaction_is_refused():
    user = UserFactory()

    with pytest.raises(TransactionManagementError):
        lock_row(model=User, pk=user.pk)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_locked_row_blocks_a_second_lock_but_not_rows_that_reference_it():
    # given a user row locked FOR NO KEY UPDATE by one transaction
    user = UserFactory()
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                lock_row(model=User, pk=user.pk, no_key=True)
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    assert locked.wait(10)
    try:
        # when another transaction tries to lock it too, it waits (here: until its lock timeout)
        with pytest.raises(OperationalError), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '200ms'")
            lock_row(model=User, pk=user.pk, no_key=True)
        # while a row that merely references the user (a KEY SHARE lock) is written at once
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '2s'")
            event_record(name=PurchaseEvent.Name.INVOICE_CREATED, user=user)
    finally:
        release.set()
        holder.join(10)
    assert PurchaseEvent.objects.filter(user=user).count() == 1
