"""Set-based upsert of many rows by business key, without building model instances.

The ORM's ``bulk_create(update_conflicts=True)`` builds a model instance and prepares every field
of every row through several layers; for the core-system feed (a million policies with their
customers) that overhead dominated. Here each field's converter is chosen once per call, rows are
turned straight into tuples, and they are written with:

- PostgreSQL: ``COPY`` into a temporary staging table, then one
  ``INSERT … SELECT … ON CONFLICT (key) DO UPDATE`` — two round trips per batch;
- SQLite: one ``INSERT … ON CONFLICT (key) DO UPDATE`` statement run with ``executemany``.

Values go through the fields' own ``get_db_prep_save`` (so encrypted fields encrypt, dates adapt)
except for types the driver takes as they are.
"""

import operator
from collections.abc import Callable

from django.db import connection, models
from django.utils import timezone

# Field types whose Python values the drivers accept unchanged (no per-value preparation).
_PASS_THROUGH = (
    models.CharField,
    models.BooleanField,
    models.IntegerField,
    models.BigIntegerField,
    models.SmallIntegerField,
    models.PositiveIntegerField,
    models.PositiveSmallIntegerField,
    models.ForeignKey,
)


# psycopg adapts these natively; SQLite needs Django's adaptation (dates as ISO text, UTC datetimes).
_PG_PASS_THROUGH = (models.DateField, models.DecimalField, models.TimeField)


def _identity(value):
    return value


def _converter(field: models.Field) -> Callable:
    from huifang.core.crypto.cipher import encrypt_str
    from huifang.core.crypto.fields import EncryptedFieldMixin, EncryptedTextField

    if isinstance(field, EncryptedTextField):
        return lambda value: encrypt_str(str(value)) if value != "" else value
    if isinstance(field, EncryptedFieldMixin):
        prep = field.get_prep_value
        return prep
    if isinstance(field, _PASS_THROUGH):
        return _identity
    if (
        connection.vendor == "postgresql"
        and isinstance(field, _PG_PASS_THROUGH)
        and not isinstance(field, models.DateTimeField)
    ):
        return _identity
    prep = field.get_db_prep_save
    return lambda value: prep(value, connection)


def _default(field: models.Field):
    if field.has_default():
        return field.get_default()
    if field.null:
        return None
    return "" if field.empty_strings_allowed else None


def _plan(fields: list[models.Field], rows: list[dict], now) -> tuple[list, list, list]:
    """Split the columns into those the rows carry — (field, key, converter or None, value when a
    row lacks the key) — and the others — (field, value), prepared once per call. For an encrypted
    column no row carries (a policy's beneficiaries, a new customer's other phones: an empty list)
    the rows of one call share that one token, which tells no more than its length already does."""
    carried = set().union(*rows)
    carried_plan, fixed_plan = [], []
    for f in fields:
        convert = _converter(f)
        if convert is _identity:
            convert = None
        default = now if f.name in ("created_at", "updated_at") else _default(f)
        key = f.attname if f.attname in carried else f.name if f.name in carried else None
        if key is not None:
            carried_plan.append((f, key, convert, default))
        elif default is None or convert is None:
            fixed_plan.append((f, default))
        else:
            fixed_plan.append((f, convert(default)))
    return carried_plan, fixed_plan


def _tuples(carried_plan: list, fixed_plan: list, rows: list[dict]) -> list[tuple]:
    """Rows as tuples of column values: carried columns (picked in C, converted where a converter
    is needed), then the fixed ones."""
    keys = [key for _f, key, _c, _d in carried_plan]
    pick = operator.itemgetter(*keys) if len(keys) > 1 else (lambda row: (row[keys[0]],))
    convert_at = [(i, convert) for i, (_f, _k, convert, _d) in enumerate(carried_plan) if convert is not None]
    fixed = tuple(value for _f, value in fixed_plan)
    out = []
    append = out.append
    for row in rows:
        try:
            values = pick(row)
        except KeyError:  # a row without some key the others carry: its default
            values = tuple(row.get(key, default) for _f, key, _c, default in carried_plan)
        if convert_at:
            values = list(values)
            for i, convert in convert_at:
                value = values[i]
                if value is not None:
                    values[i] = convert(value)
            values = tuple(values)
        append(values + fixed)
    return out


def bulk_upsert(
    model: type[models.Model],
    key_field: str,
    rows: list[dict],
    update_fields: list[str],
    *,
    returning: bool = False,
) -> dict | None:
    """Insert ``rows`` (dicts of field name or attname → Python value) into ``model``'s table;
    on a business-key conflict update ``update_fields`` only. Runs inside the caller's transaction.

    With ``returning``, PostgreSQL answers business key → id of every row written (from the
    statement's ``RETURNING``); SQLite answers None and the caller looks the ids up.
    """
    if not rows:
        return {} if returning else None
    now = timezone.now()
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    carried_plan, fixed_plan = _plan(fields, rows, now)
    tuples = _tuples(carried_plan, fixed_plan, rows)
    fields = [f for f, *_rest in carried_plan] + [f for f, _value in fixed_plan]  # the tuples' order
    qn = connection.ops.quote_name
    table = qn(model._meta.db_table)
    columns = [qn(f.column) for f in fields]
    column_list = ", ".join(columns)
    by_name = {f.name: f.column for f in fields}
    updates = ", ".join(f"{qn(by_name[n])} = EXCLUDED.{qn(by_name[n])}" for n in update_fields)
    key_column = qn(model._meta.get_field(key_field).column)
    conflict = (
        f"ON CONFLICT ({key_column}) DO UPDATE SET {updates}"
        if updates
        else f"ON CONFLICT ({key_column}) DO NOTHING"
    )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            stage = qn(f"stage_{model._meta.db_table}")
            cursor.execute(f"DROP TABLE IF EXISTS {stage}")
            cursor.execute(f"CREATE TEMP TABLE {stage} AS SELECT {column_list} FROM {table} WITH NO DATA")
            raw = cursor.cursor  # the psycopg cursor: COPY streams rows without per-row statements
            with raw.copy(f"COPY {stage} ({column_list}) FROM STDIN") as copy:
                write_row = copy.write_row
                for values in tuples:
                    write_row(values)
            back = f" RETURNING {key_column}, {qn(model._meta.pk.column)}" if returning else ""
            cursor.execute(
                f"INSERT INTO {table} ({column_list}) SELECT {column_list} FROM {stage} {conflict}{back}"
            )
            ids = dict(cursor.fetchall()) if returning else None
            cursor.execute(f"DROP TABLE {stage}")
            return ids
        placeholders = ", ".join(["%s"] * len(columns))
        cursor.executemany(f"INSERT INTO {table} ({column_list}) VALUES ({placeholders}) {conflict}", tuples)
    return None
