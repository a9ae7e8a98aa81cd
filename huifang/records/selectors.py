"""Reads of insurance records for the REST API, scoped to what the user may see.

Every fetch goes through ``scope_queryset``: a user sees their org unit's subtree (everything with
``view_all_orgs``). Single fetches give the same 404 for "missing" and "not yours", so keys cannot
be probed. The capability check (``view_records``) is the caller's: the API answers 403 without it.
"""

from django.db.models import QuerySet
from django.http import Http404

from huifang.core.permissions import access_object, scope_queryset
from huifang.org.models import OrgUnit
from huifang.records.models import Customer, Policy


def _usable(value: str | None) -> bool:
    # A NUL character cannot be compared by PostgreSQL (it raises); no key contains one anyway.
    return value is not None and "\x00" not in value


def _policies() -> QuerySet[Policy]:
    return Policy.objects.select_related("product", "org_unit", "salesperson", "applicant", "insured")


def policy_list(
    user, *, policy_no: str | None = None, status: str | None = None, org_unit: str | None = None
) -> QuerySet[Policy]:
    """Policies ``user`` may see, oldest first; optionally one policy number, one status, or the
    subtree of one org unit (by code; an unknown code matches nothing)."""
    qs = scope_queryset(user, _policies())
    if policy_no is not None:
        qs = qs.filter(policy_no=policy_no) if _usable(policy_no) else qs.none()
    if status is not None:
        qs = qs.filter(status=status)
    if org_unit is not None:
        unit = OrgUnit.objects.filter(code=org_unit).first() if _usable(org_unit) else None
        qs = qs.filter(org_unit__path__startswith=unit.path) if unit else qs.none()
    return qs.order_by("id")


def policy_get(user, policy_no: str) -> Policy:
    """One policy by number, or Http404 if it is missing or outside the user's org units."""
    if not _usable(policy_no):
        raise Http404
    return access_object(user, _policies(), policy_no=policy_no)


def customer_get(user, customer_no: str) -> Customer:
    """One customer by number, or Http404 if missing or outside the user's org units."""
    if not _usable(customer_no):
        raise Http404
    return access_object(user, Customer.objects.select_related("org_unit"), customer_no=customer_no)
