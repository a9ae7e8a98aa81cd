"""Tamper-evident audit chain: a typed registry of events and a hash-chained, append-only table.

Use ``huifang.core.audit.services.audit_record(EVENT, ...)`` inside the transaction of the change.
"""
