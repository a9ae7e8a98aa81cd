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


def bulk_upsert(
    model: type[models.Model], key_field: str, rows: list[dict], update_fields: list[str]
) -> None:
    """Insert ``rows`` (dicts of field name or attname → Python value) into ``model``'s table;
    on a business-key conflict update ``update_fields`` only. Runs inside the caller's transaction."""
    if not rows:
        return
    now = timezone.now()
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    plan = [(f.column, f.name, f.attname, _converter(f), f) for f in fields]
    tuples = []
    for row in rows:
        values = []
        for _column, name, attname, convert, f in plan:
            if attname in row:
                value = row[attname]
            elif name in row:
                value = row[name]
            elif name in ("created_at", "updated_at"):
                value = now
            else:
                value = _default(f)
            values.append(None if value is None else convert(value))
        tuples.append(values)
    qn = connection.ops.quote_name
    table = qn(model._meta.db_table)
    columns = [qn(column) for column, *_ in plan]
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
                for values in tuples:
                    copy.write_row(values)
            cursor.execute(
                f"INSERT INTO {table} ({column_list}) SELECT {column_list} FROM {stage} {conflict}"
            )
            cursor.execute(f"DROP TABLE {stage}")
        else:
            placeholders = ", ".join(["%s"] * len(columns))
            cursor.executemany(
                f"INSERT INTO {table} ({column_list}) VALUES ({placeholders}) {conflict}", tuples
            )
