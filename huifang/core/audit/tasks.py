"""Periodic job of the audit app: seal the heads of all chains (docs/audit-chain.md)."""

from datetime import timedelta

from huifang.core.audit.services import audit_chains_anchor
from huifang.core.jobs import huifang_task, periodic


@periodic("audit.anchor", every=timedelta(minutes=5))
@huifang_task(queue_name="sweeps", max_attempts=1)
def audit_chains_anchor_job() -> int | None:
    """Write an anchor unless nothing was written since the last one; returns its seq. Running it
    twice writes at most one more anchor, which proves nothing new and does no harm."""
    event = audit_chains_anchor()
    return event.seq if event is not None else None
