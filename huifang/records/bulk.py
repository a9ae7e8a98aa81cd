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


def _plan(fields: list[models.Field], rows: list[dict], now) -> list[tuple]:
    """For each column: (the key rows carry it under or None, the value when a row lacks it,
    the converter or None). The value of a column no row carries is prepared once per call,
    except an encrypted one, which is encrypted per row so that no two rows share a token."""
    from huifang.core.crypto.fields import EncryptedFieldMixin

    carried = set().union(*rows)
    plan = []
    for f in fields:
        convert = _converter(f)
        if convert is _identity:
            convert = None
        default = now if f.name in ("created_at", "updated_at") else _default(f)
        key = f.attname if f.attname in carried else f.name if f.name in carried else None
        if key is not None or (default is not None and isinstance(f, EncryptedFieldMixin)):
            plan.append((key, default, convert))
        elif default is None or convert is None:
            plan.append((None, default, None))
        else:
            plan.append((None, convert(default), None))
    return plan


def _tuples(plan: list[tuple], rows: list[dict]) -> list[list]:
    out = []
    append = out.append
    for row in rows:
        values = []
        add = values.append
        for key, fixed, convert in plan:
            value = row.get(key, fixed) if key is not None else fixed
            if value is not None and convert is not None:
                value = convert(value)
            add(value)
        append(values)
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
    tuples = _tuples(_plan(fields, rows, now), rows)
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
