"""Parallel audit chains (docs/audit-chain.md).

Every event gets a chain number and its link number in that chain; the events written so far
become chain 0, link = seq, format 1 (their hashes cover the fields they were written with and stay
valid: nothing is re-hashed). ``chain_seq`` must be filled in, which is an UPDATE, so the append-only
triggers are dropped for the length of this migration (which runs in one transaction on
PostgreSQL) and created again at its end. On PostgreSQL ``seq`` now comes from a sequence
(``audit_event_seq``), so writers in different chains do not wait for each other to number events.
"""

from importlib import import_module

from django.db import migrations, models

triggers = import_module("huifang.core.audit.migrations.0003_append_only_triggers")

SEQUENCE = "audit_event_seq"


def create_sequence(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"CREATE SEQUENCE IF NOT EXISTS {SEQUENCE} AS bigint")
        schema_editor.execute(
            f"SELECT setval('{SEQUENCE}', COALESCE((SELECT max(seq) FROM audit_auditevent), 0) + 1, false)"
        )


def drop_sequence(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP SEQUENCE IF EXISTS {SEQUENCE}")


# Reserve the next link of a chain in one round trip (huifang.core.audit.services._reserve_link).
# The chain is the one this transaction already writes to (same transaction id), else the subject's.
# The advisory lock is taken (re-entrant) before the head is read by a later statement, whose
# snapshot therefore sees every event committed by the lock's previous holders (READ COMMITTED).
PG_RESERVE_FUNCTION = f"""
CREATE OR REPLACE FUNCTION audit_chain_reserve(p_chain integer, p_held_txid bigint, p_held_chain integer)
RETURNS TABLE (txid bigint, chain integer, next_seq bigint, last_link bigint, last_hash varchar)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_txid bigint := txid_current();
    v_chain integer := CASE WHEN v_txid = p_held_txid THEN p_held_chain ELSE p_chain END;
BEGIN
    PERFORM pg_advisory_xact_lock({0x48554946}, v_chain);
    RETURN QUERY
        SELECT v_txid, v_chain, nextval('{SEQUENCE}'), h.chain_seq, h.hash
        FROM (SELECT 1) AS one
        LEFT JOIN LATERAL (
            SELECT e.chain_seq, e.hash FROM audit_auditevent e
            WHERE e.chain = v_chain ORDER BY e.chain_seq DESC LIMIT 1
        ) AS h ON true;
END
$$
"""


def create_reserve_function(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_RESERVE_FUNCTION)


def drop_reserve_function(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP FUNCTION IF EXISTS audit_chain_reserve(integer, bigint, integer)")


def number_existing_events(apps, schema_editor):
    # Legacy events: one chain, link = seq (their hash does not cover chain, chain_seq or format).
    schema_editor.execute("UPDATE audit_auditevent SET chain = 0, chain_seq = seq, format = 1")


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_append_only_triggers")]

    operations = [
        migrations.RunPython(triggers.backward, triggers.forward),
        migrations.AddField(
            model_name="auditevent",
            name="chain",
            field=models.SmallIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="chain_seq",
            field=models.BigIntegerField(default=0),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="auditevent",
            name="format",
            field=models.SmallIntegerField(default=1),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="format",
            field=models.SmallIntegerField(default=2),
        ),
        migrations.RunPython(number_existing_events, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="auditevent",
            constraint=models.UniqueConstraint(fields=("chain", "chain_seq"), name="audit_chain_link_uniq"),
        ),
        migrations.RunPython(create_sequence, drop_sequence),
        migrations.RunPython(create_reserve_function, drop_reserve_function),
        migrations.RunPython(triggers.forward, triggers.backward),
    ]
