"""Database helpers for the hottest paths, where building and compiling an ORM
query costs more than running it (a few hundred microseconds against tens)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TypeVar

from django.db import connections, router
from django.db.models import Field, Model
from django.db.models.sql import Query
from django.db.transaction import TransactionManagementError

M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class _Part:
    model: type[Model]
    start: int
    stop: int
    pk_index: int
    via: Field | None  # the foreign key of the first model this part is loaded for


@dataclass(frozen=True)
class _Select:
    sql: str
    parts: tuple[_Part, ...]
    converters: tuple  # (position in the row, converters, column expression)


@cache
def _prebuilt_select(
    model: type[Model],
    alias: str,
    related: tuple[str, ...],
    conditions: tuple[tuple[str, bool], ...],
    lock: str = "",
) -> _Select:
    connection = connections[alias]
    quote = connection.ops.quote_name
    columns: list[str] = []
    cols: list = []
    parts: list[_Part] = []

    def add(part_model: type[Model], table: str, via: Field | None) -> None:
        start = len(columns)
        for field in part_model._meta.concrete_fields:
            columns.append(f"{table}.{quote(field.column)}")
            cols.append(field.get_col(table))
        pk_index = start + part_model._meta.concrete_fields.index(part_model._meta.pk)
        parts.append(_Part(part_model, start, len(columns), pk_index, via))

    meta = model._meta
    add(model, "t0", None)
    joins = []
    for number, name in enumerate(related, start=1):
        field = meta.get_field(name)
        if not (field.many_to_one or field.one_to_one) or not field.concrete:
            raise ValueError(f"{model.__name__}.{name} is not a foreign key of its own")
        table = f"t{number}"
        # A row to lock must be inner-joined (PostgreSQL locks no nullable side of an outer join).
        join = "JOIN" if name == lock else "LEFT JOIN"
        joins.append(
            f"{join} {quote(field.related_model._meta.db_table)} {table} "
            f"ON {table}.{quote(field.target_field.column)} = t0.{quote(field.column)}"
        )
        add(field.related_model, table, field)
    where = " AND ".join(
        f"t0.{quote(meta.get_field(name).column)} {'IS NULL' if is_null else '= %s'}" for name, is_null in conditions
    )
    sql = (
        f"SELECT {', '.join(columns)} FROM {quote(meta.db_table)} t0 {' '.join(joins)} "  # noqa: S608 - names from models
        f"WHERE {where} LIMIT 1"
    )
    if lock and connection.features.has_select_for_update:
        locked = f"t{related.index(lock) + 1}"
        sql += " " + connection.ops.for_update_sql(no_key=True, of=(locked,))
    # The converters the ORM applies to these columns (dates on SQLite, JSON, ...), worked out once.
    compiler = connection.ops.compiler("SQLCompiler")(Query(model), connection, alias)
    converters = tuple(
        (position, tuple(functions), expression)
        for position, (functions, expression) in compiler.get_converters(cols).items()
    )
    return _Select(sql=sql, parts=tuple(parts), converters=converters)


def fetch_first(model: type[M], *, related: tuple[str, ...] = (), lock: str = "", **equals) -> M | None:
    """The row whose fields (names or attnames, like `user_id`) equal `equals`
    (None: IS NULL), or None; with `related`, foreign keys loaded along in the
    same query, like select_related(*related). For lookups by a unique key,
    which need no ORDER BY. The SQL is built once per model, relations and set
    of fields; the instances are loaded as the ORM loads them (its converters,
    Model.from_db), their related objects cached on them.

    `lock`, one of `related`: that row is locked FOR NO KEY UPDATE (only it,
    like select_for_update(of=...); inside a transaction; SQLite has no row locks)."""
    if lock and lock not in related:
        raise ValueError(f"lock={lock!r} must be one of related={related!r}")
    alias = router.db_for_write(model) if lock else router.db_for_read(model)
    connection = connections[alias]
    if lock and connection.features.has_select_for_update and connection.get_autocommit():
        raise TransactionManagementError("fetch_first(lock=...) cannot be used outside of a transaction.")
    conditions = tuple((name, value is None) for name, value in equals.items())
    select = _prebuilt_select(model, alias, tuple(related), conditions, lock)
    params = [
        model._meta.get_field(name).get_db_prep_value(value, connection)
        for name, value in equals.items()
        if value is not None
    ]
    with connection.cursor() as cursor:
        cursor.execute(select.sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    row = list(row)
    for position, functions, expression in select.converters:
        value = row[position]
        for function in functions:
            value = function(value, expression, connection)
        row[position] = value
    first = None
    for part in select.parts:
        instance = None
        if row[part.pk_index] is not None:
            fields = part.model._meta.concrete_fields
            instance = part.model.from_db(alias, [field.attname for field in fields], row[part.start : part.stop])
        if part.via is None:
            first = instance
        else:
            part.via.set_cached_value(first, instance)
    return first


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


def insert_skipping_conflicts(objs: list[Model], *, returning: str) -> list:
    """insert_unless_conflict for many new rows of one model in one multi-row
    statement: the `returning` field's values of the rows this call inserted
    (in no particular order); the others collided with a unique constraint and
    were left as they were. The objects' primary keys are not set."""
    if not objs:
        return []
    model = type(objs[0])
    meta = model._meta
    if any(type(obj) is not model or obj.pk is not None for obj in objs):
        raise ValueError("insert_skipping_conflicts takes new rows (no primary key) of one model")
    connection = connections[router.db_for_write(model)]
    fields = [
        field
        for field in meta.local_concrete_fields
        if not getattr(field, "generated", False) and not field.primary_key
    ]
    values = [field.get_db_prep_save(field.pre_save(obj, True), connection) for obj in objs for field in fields]
    quote = connection.ops.quote_name
    row = f"({', '.join(['%s'] * len(fields))})"
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(field.column) for field in fields)}) "  # noqa: S608
        f"VALUES {', '.join([row] * len(objs))} ON CONFLICT DO NOTHING "
        f"RETURNING {quote(meta.get_field(returning).column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        return [found for (found,) in cursor.fetchall()]


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
