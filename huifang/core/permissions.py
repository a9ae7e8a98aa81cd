"""Roles, capabilities and org-unit scoping.

Roles are Django groups; each role grants a set of capabilities (Django permissions on the
``core.Access`` pseudo-model). Records are scoped by org unit: a user sees the subtree of their
own unit, a holder of ``core.view_all_orgs`` sees everything. ``access_*`` helpers give the same
404 for "missing" and "not yours" so that ids cannot be probed.
"""

from enum import StrEnum

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404
from django.utils.translation import gettext_lazy as _


class Role(StrEnum):
    AGENT = "callback_agent"
    SUPERVISOR = "supervisor"
    PROBLEM_HANDLER = "problem_handler"
    COMPLAINT_HANDLER = "complaint_handler"
    QA_INSPECTOR = "qa_inspector"
    AUDITOR = "compliance_auditor"
    ADMIN = "administrator"


ROLE_LABELS = {
    Role.AGENT: _("Callback agent"),
    Role.SUPERVISOR: _("Callback supervisor"),
    Role.PROBLEM_HANDLER: _("Problem-case handler"),
    Role.COMPLAINT_HANDLER: _("Complaint handler"),
    Role.QA_INSPECTOR: _("QA inspector"),
    Role.AUDITOR: _("Compliance auditor"),
    Role.ADMIN: _("Administrator"),
}


class Cap(StrEnum):
    """Capabilities: codenames of permissions on ``core.Access``."""

    VIEW_RECORDS = "view_records"  # customers, policies, claims in one's scope
    VIEW_ALL_ORGS = "view_all_orgs"  # scope = everything (read)
    REVEAL_PII = "reveal_pii"  # unmask a field, with a reason, audited
    IMPORT_RECORDS = "import_records"  # file imports and the core-system feed
    WORK_CALLBACKS = "work_callbacks"  # agent workbench
    SUPERVISE_CALLBACKS = "supervise_callbacks"  # board, reassign, approve letter/visit
    HANDLE_PROBLEM_CASES = "handle_problem_cases"
    HANDLE_COMPLAINTS = "handle_complaints"
    INSPECT_QUALITY = "inspect_quality"
    VIEW_REPORTS = "view_reports"
    VERIFY_AUDIT = "verify_audit"
    ADMINISTER = "administer"  # rule packs, scripts, calendar, users, org units


CAPABILITY_LABELS = {
    Cap.VIEW_RECORDS: _("View customers and policies in scope"),
    Cap.VIEW_ALL_ORGS: _("See every org unit (read)"),
    Cap.REVEAL_PII: _("Reveal masked personal information (with a reason)"),
    Cap.IMPORT_RECORDS: _("Import records from the core system"),
    Cap.WORK_CALLBACKS: _("Work callback tasks"),
    Cap.SUPERVISE_CALLBACKS: _("Supervise callbacks"),
    Cap.HANDLE_PROBLEM_CASES: _("Handle problem cases"),
    Cap.HANDLE_COMPLAINTS: _("Handle complaints"),
    Cap.INSPECT_QUALITY: _("Inspect call quality"),
    Cap.VIEW_REPORTS: _("View KPIs and reports"),
    Cap.VERIFY_AUDIT: _("Read and verify the audit chain"),
    Cap.ADMINISTER: _("Administer Huifang"),
}

ROLE_CAPABILITIES: dict[Role, set[Cap]] = {
    Role.AGENT: {Cap.VIEW_RECORDS, Cap.REVEAL_PII, Cap.WORK_CALLBACKS},
    Role.SUPERVISOR: {
        Cap.VIEW_RECORDS,
        Cap.REVEAL_PII,
        Cap.WORK_CALLBACKS,
        Cap.SUPERVISE_CALLBACKS,
        Cap.VIEW_REPORTS,
    },
    Role.PROBLEM_HANDLER: {Cap.VIEW_RECORDS, Cap.REVEAL_PII, Cap.HANDLE_PROBLEM_CASES},
    Role.COMPLAINT_HANDLER: {Cap.VIEW_RECORDS, Cap.REVEAL_PII, Cap.HANDLE_COMPLAINTS},
    Role.QA_INSPECTOR: {Cap.VIEW_RECORDS, Cap.INSPECT_QUALITY},
    # The auditor reads everything, changes nothing.
    Role.AUDITOR: {Cap.VIEW_RECORDS, Cap.VIEW_ALL_ORGS, Cap.VIEW_REPORTS, Cap.VERIFY_AUDIT},
    Role.ADMIN: set(Cap) - {Cap.WORK_CALLBACKS},
}


def perm(cap: Cap | str) -> str:
    return f"core.{cap}"


def has_cap(user, cap: Cap | str) -> bool:
    return bool(user and user.is_authenticated and user.is_active and user.has_perm(perm(cap)))


def require_cap(user, cap: Cap | str) -> None:
    if not has_cap(user, cap):
        raise PermissionDenied


def user_roles(user) -> list[Role]:
    names = set(user.groups.values_list("name", flat=True)) if user.is_authenticated else set()
    return [role for role in Role if role.value in names]


def sync_roles() -> None:
    """Create the role groups and give each exactly its capabilities (idempotent)."""
    from django.contrib.auth.models import Group, Permission
    from django.contrib.contenttypes.models import ContentType

    from huifang.core.models import Access

    ct = ContentType.objects.get_for_model(Access, for_concrete_model=False)
    perms = {}
    for cap in Cap:
        perms[cap], _created = Permission.objects.get_or_create(
            content_type=ct, codename=cap.value, defaults={"name": str(CAPABILITY_LABELS[cap])}
        )
    for role, caps in ROLE_CAPABILITIES.items():
        group, _created = Group.objects.get_or_create(name=role.value)
        group.permissions.set([perms[c] for c in caps])


def sync_roles_after_migrate(sender, using="default", **kwargs) -> None:
    sync_roles()


# ---- org-unit scoping ---------------------------------------------------------------------------


def scope_queryset(user, qs: QuerySet, org_field: str = "org_unit") -> QuerySet:
    """Restrict ``qs`` to what ``user`` may see: their org subtree, or all for VIEW_ALL_ORGS.

    ``org_field`` is the lookup path from the model to its ``OrgUnit`` (e.g. ``"policy__org_unit"``).
    """
    if not (user and user.is_authenticated and user.is_active):
        return qs.none()
    if has_cap(user, Cap.VIEW_ALL_ORGS) or user.is_superuser:
        return qs
    unit = user.org_unit
    if unit is None:
        return qs.none()
    return qs.filter(**{f"{org_field}__path__startswith": unit.path})


def access_object(user, qs: QuerySet, *, cap: Cap | None = None, org_field: str = "org_unit", **lookup):
    """Fetch one object the user may see, or raise Http404 — the same for missing and forbidden."""
    if cap is not None and not has_cap(user, cap):
        raise Http404
    obj = scope_queryset(user, qs, org_field).filter(**lookup).first()
    if obj is None:
        raise Http404
    return obj


def can_see_org_unit(user, unit) -> bool:
    if has_cap(user, Cap.VIEW_ALL_ORGS) or user.is_superuser:
        return True
    return bool(user.org_unit and unit and unit.path.startswith(user.org_unit.path))
