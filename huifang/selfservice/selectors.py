"""Reads of the customer's e-callback: the evidence staff see on the task page (EC-03)."""

from __future__ import annotations

from datetime import date

from django.db.models import Prefetch

from huifang.selfservice.models import ECallbackLink, ECallbackStep, LinkStatus
from huifang.selfservice.services import RETENTION_YEARS, _add_years, evidence_verify


def retention_until(bundle, policy) -> date | None:
    """EC-04: 10 years from the contract's termination — from the policy's current termination
    date when the bundle was sealed before the contract ended."""
    if bundle.retain_until:
        return bundle.retain_until
    if policy is not None and policy.termination_date:
        return _add_years(policy.termination_date, bundle.retention_years or RETENTION_YEARS)
    return None


def ecallback_evidence_for_task(task, *, verify: bool = True) -> list[dict]:
    """Every e-callback link of ``task`` (newest first) with its evidence steps and sealed bundle.
    The caller has already checked that the user may see the task. Nothing here can be edited.
    ``verify`` re-hashes each sealed bundle (``intact``)."""
    links = (
        ECallbackLink.objects.filter(task_id=task.pk)
        .select_related("bundle", "attempt")
        .prefetch_related(Prefetch("steps", queryset=ECallbackStep.objects.order_by("seq")))
        .order_by("-created_at", "-id")
    )
    policy = getattr(task, "policy", None)
    out = []
    for link in links:
        bundle = getattr(link, "bundle", None) if hasattr(link, "bundle") else None
        out.append(
            {
                "link": link,
                "active": link.status == LinkStatus.ACTIVE,
                "steps": list(link.steps.all()),
                "bundle": bundle,
                "intact": evidence_verify(bundle) if (bundle is not None and verify) else None,
                "retain_until": retention_until(bundle, policy) if bundle is not None else None,
            }
        )
    return out
