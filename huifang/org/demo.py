"""Demo data for the foundation: the org tree and one user per role (see `huifang demo`).

Everything is looked up by business key (org unit code, username) first, so a second run
changes nothing. Existing users are left alone: their password may have been changed since.
"""

from django.db import transaction

from huifang.core.permissions import ROLE_LABELS, Role
from huifang.org.models import OrgUnit, User
from huifang.org.services import org_unit_upsert, user_create

DEMO_ORDER = 10  # first: every other app's demo data hangs off org units and users

# One memorable password for every demo user, printed once when the users are created. Demo
# data only: never load it into a production database.
DEMO_PASSWORD = "Huifang-demo-2026"  # noqa: S105

# (code, name, kind, parent code), parents before children.
DEMO_ORG_UNITS = [
    ("HO", "总公司", OrgUnit.Kind.HEAD_OFFICE, None),
    ("GD", "广东分公司", OrgUnit.Kind.PROVINCE, "HO"),
    ("JS", "江苏分公司", OrgUnit.Kind.PROVINCE, "HO"),
    ("GZ", "广州中心支公司", OrgUnit.Kind.CITY, "GD"),
    ("SZ", "深圳中心支公司", OrgUnit.Kind.CITY, "GD"),
    ("NJ", "南京中心支公司", OrgUnit.Kind.CITY, "JS"),
    ("SUZ", "苏州中心支公司", OrgUnit.Kind.CITY, "JS"),
    ("VND", "外包回访服务商（演示）", OrgUnit.Kind.VENDOR, "HO"),
]

# (username, full name, role, org unit code, staff code, extra fields)
DEMO_USERS = [
    ("agent", "李晓梅", Role.AGENT, "GZ", "GZ1001", {}),
    ("supervisor", "王建国", Role.SUPERVISOR, "GD", "GD2001", {}),
    ("problem_handler", "陈思远", Role.PROBLEM_HANDLER, "GD", "GD3001", {}),
    ("complaint_handler", "刘芳", Role.COMPLAINT_HANDLER, "GD", "GD4001", {}),
    ("qa_inspector", "赵敏", Role.QA_INSPECTOR, "GD", "GD5001", {}),
    ("auditor", "孙立新", Role.AUDITOR, "HO", "HO6001", {}),
    ("admin", "周海涛", Role.ADMIN, "HO", "HO7001", {"is_staff": True}),
    ("agent_js", "吴静", Role.AGENT, "NJ", "NJ1001", {}),
]


@transaction.atomic
def demo_org_load() -> dict:
    """Create whatever part of the demo org tree and demo users is missing.

    Returns ``{"units": {code: OrgUnit}, "users": {username: User}, "created_units": [...],
    "created_users": [...]}``; both ``created_*`` lists are empty when everything was present.
    """
    from huifang.core.permissions import sync_roles

    sync_roles()  # the role groups (normally made by migrate; cheap and idempotent)
    units: dict[str, OrgUnit] = {}
    created_units: list[str] = []
    for code, name, kind, parent_code in DEMO_ORG_UNITS:
        parent = units[parent_code] if parent_code else None
        unit = OrgUnit.objects.filter(code=code).first()
        if unit is None:
            unit = org_unit_upsert(code=code, name=name, kind=kind, parent=parent)
            created_units.append(code)
        units[code] = unit  # an existing unit is kept as it is, even if someone renamed it

    users: dict[str, User] = {}
    created_users: list[str] = []
    for username, full_name, role, unit_code, staff_code, extra in DEMO_USERS:
        user = User.objects.filter(username=username).first()
        if user is None:
            user = user_create(
                username=username,
                password=DEMO_PASSWORD,
                org_unit=units[unit_code],
                roles=[role],
                full_name=full_name,
                staff_code=staff_code,
                **extra,
            )
            created_users.append(username)
        users[username] = user
    return {"units": units, "users": users, "created_units": created_units, "created_users": created_users}


def demo_load(stdout, **options) -> dict:
    """The `huifang demo` hook (see huifang.core.management.commands.demo)."""
    result = demo_org_load()
    if not (result["created_units"] or result["created_users"]):
        stdout.write("org: demo org units and users already present")
        return result
    stdout.write(
        f"org: created {len(result['created_units'])} org units and {len(result['created_users'])} users"
    )
    if result["created_users"]:
        stdout.write(f"Demo users (password for all: {DEMO_PASSWORD}):")
        rows = [
            (u, n, str(ROLE_LABELS[r]), c)
            for u, n, r, c, _s, _e in DEMO_USERS
            if u in result["created_users"]
        ]
        width = max(len(row[0]) for row in rows)
        for username, full_name, role_label, unit_code in rows:
            unit_name = result["units"][unit_code].name
            stdout.write(
                f"  {username.ljust(width)}  {DEMO_PASSWORD}  {full_name}  {role_label}  {unit_name}"
            )
    return result
