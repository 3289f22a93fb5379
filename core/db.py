"""Database helpers for the hottest paths, where building and compiling an ORM
query costs more than running it (a few hundred microseconds against tens)."""

from __future__ import annotations

from functools import cache
from typing import TypeVar

from django.db import connections, router
from django.db.models import Model
from django.db.transaction import TransactionManagementError

M = TypeVar("M", bound=Model)


@cache
def _select_sql(model: type[Model], vendor: str, conditions: tuple[tuple[str, bool], ...]) -> str:
    meta = model._meta
    quote = connections[router.db_for_read(model)].ops.quote_name
    where = " AND ".join(
        f"{quote(meta.get_field(name).column)} {'IS NULL' if is_null else '= %s'}" for name, is_null in conditions
    )
    return f"SELECT * FROM {quote(meta.db_table)} WHERE {where} LIMIT 1"  # noqa: S608 - names from model metadata


def fetch_first(model: type[M], **equals) -> M | None:
    """The row whose fields (names or attnames, like `user_id`) equal `equals`
    (None: IS NULL), or None. For lookups by a unique key, which need no ORDER
    BY: the SQL is built once per model and set of fields, and the instance is
    loaded like the ORM loads one (Manager.raw)."""
    connection = connections[router.db_for_read(model)]
    conditions = tuple((name, value is None) for name, value in equals.items())
    params = [
        model._meta.get_field(name).get_db_prep_value(value, connection)
        for name, value in equals.items()
        if value is not None
    ]
    sql = _select_sql(model, connection.vendor, conditions)
    return next(iter(model._default_manager.raw(sql, params)), None)


def insert_unless_conflict(obj: Model) -> bool:
    """INSERT `obj` as a new row unless a unique constraint already holds its
    values (ON CONFLICT DO NOTHING). True, with obj.pk set, when this call
    inserted it; False when the row was there (nothing is written).

    One statement and no IntegrityError to catch, so no savepoint either: the
    same inside and outside a transaction (PostgreSQL; SQLite 3.35+). Field
    defaults and auto_now_add apply as with save(); model signals are not sent.
    """
    meta = obj._meta
    connection = connections[router.db_for_write(type(obj), instance=obj)]
    fields = [
        field
        for field in meta.local_concrete_fields
        if not getattr(field, "generated", False) and not (field.primary_key and obj.pk is None)
    ]
    values = [field.get_db_prep_save(field.pre_save(obj, True), connection) for field in fields]
    quote = connection.ops.quote_name
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(field.column) for field in fields)}) "  # noqa: S608
        f"VALUES ({', '.join(['%s'] * len(fields))}) ON CONFLICT DO NOTHING RETURNING {quote(meta.pk.column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        row = cursor.fetchone()
    if row is None:
        return False
    obj.pk = row[0]
    obj._state.adding = False
    obj._state.db = connection.alias
    return True


def lock_row(*, model: type[Model], pk: int, no_key: bool = False) -> bool:
    """SELECT ... FOR [NO KEY] UPDATE of one row by primary key, inside the
    current transaction (a no-op lock where the database has none, like SQLite,
    whose write transactions are exclusive anyway). False when there is no such row."""
    connection = connections[router.db_for_write(model)]
    if connection.features.has_select_for_update and connection.get_autocommit():
        raise TransactionManagementError("lock_row cannot be used outside of a transaction.")
    meta = model._meta
    quote = connection.ops.quote_name
    sql = f"SELECT 1 FROM {quote(meta.db_table)} WHERE {quote(meta.pk.column)} = %s"  # noqa: S608
    if connection.features.has_select_for_update:
        sql += " " + connection.ops.for_update_sql(no_key=no_key)
    with connection.cursor() as cursor:
        cursor.execute(sql, [pk])
        return cursor.fetchone() is not None
