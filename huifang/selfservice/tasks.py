"""Periodic jobs of the customer's e-callback.

* ``selfservice.start_due`` (every minute): texts the link for every open electronic task that
  has none yet (09:00–21:00 Asia/Shanghai only).
* ``selfservice.fallback_sweep`` (every 5 minutes): links past their end stop working and are
  sealed; electronic tasks past the EC-05 fallback point move to phone
  (``callbacks.channels.channel_fallback_sweep``); old rate-limit counters are dropped.
"""

from datetime import timedelta

from django.utils import timezone

from huifang.callbacks.channels import channel_fallback_sweep
from huifang.core.jobs import huifang_task, periodic
from huifang.selfservice.services import ecallback_expire_due, ecallback_start_due, rate_hits_purge


@periodic("selfservice.start_due", every=timedelta(minutes=1))
@huifang_task(queue_name="sweeps", max_attempts=1)
def start_due() -> dict:
    return {"started": ecallback_start_due()}


@periodic("selfservice.fallback_sweep", every=timedelta(minutes=5))
@huifang_task(queue_name="sweeps", max_attempts=1)
def fallback_sweep() -> dict:
    now = timezone.now()
    expired = ecallback_expire_due(now)
    moved = channel_fallback_sweep(now)
    purged = rate_hits_purge(now - timedelta(days=1))
    return {"links_expired": expired, "moved_to_phone": moved, "rate_counters_purged": purged}
