"""Writes for org units and users."""

from django.db import transaction

from huifang.org.models import OrgUnit, User


def org_unit_path(code: str, parent: OrgUnit | None) -> str:
    return f"{parent.path if parent else '/'}{code}/"


@transaction.atomic
def org_unit_upsert(*, code: str, name: str, kind: str, parent: OrgUnit | None = None) -> OrgUnit:
    """Create or update an org unit by code; moving it re-paths its whole subtree."""
    path = org_unit_path(code, parent)
    depth = 0 if parent is None else parent.depth + 1
    unit = OrgUnit.objects.filter(code=code).first()
    if unit is None:
        return OrgUnit.objects.create(code=code, name=name, kind=kind, parent=parent, path=path, depth=depth)
    old_path = unit.path
    unit.name, unit.kind, unit.parent, unit.path, unit.depth = name, kind, parent, path, depth
    unit.save()
    if old_path != path:
        for child in OrgUnit.objects.filter(path__startswith=old_path).exclude(pk=unit.pk).order_by("depth"):
            child.path = path + child.path[len(old_path) :]
            child.depth = child.path.count("/") - 2
            child.save(update_fields=["path", "depth"])
    return unit


def user_create(
    *, username: str, password: str, org_unit: OrgUnit | None, roles=(), full_name: str = "", **extra
) -> User:
    from django.contrib.auth.models import Group

    user = User.objects.create_user(
        username=username, password=password, org_unit=org_unit, full_name=full_name, **extra
    )
    if roles:
        user.groups.set(Group.objects.filter(name__in=[str(r) for r in roles]))
    return user
