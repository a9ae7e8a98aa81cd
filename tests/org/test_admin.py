"""Admin behaviour for org units, users and API tokens (the permission matrix is in
tests/core/test_views.py)."""

import pytest
from django.contrib.auth.models import Group

from huifang.core.permissions import Role
from huifang.org.models import ApiToken, OrgUnit, User

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, users):
    client.force_login(users["admin"])
    return client


def orgunit_form(**overrides):
    data = {"code": "FS", "name": "佛山中心支公司", "kind": "city", "parent": "", "active": "on"}
    data.update(overrides)
    return data


def test_org_unit_list_is_a_tree_in_path_order(admin_client, org_tree):
    html = admin_client.get("/admin/org/orgunit/").content.decode()
    positions = [
        html.index(name)
        for name in ["总公司", "广东分公司", "广州中心支公司", "江苏分公司", "南京中心支公司"]
    ]
    assert positions == sorted(positions)
    assert "— — 广州中心支公司" in html
    html = admin_client.get("/admin/org/orgunit/", {"q": "NJ"}).content.decode()
    assert "南京中心支公司" in html and "广州中心支公司" not in html


def test_adding_an_org_unit_goes_through_the_service(admin_client, org_tree):
    response = admin_client.post("/admin/org/orgunit/add/", orgunit_form(parent=org_tree["GD"].pk))
    assert response.status_code == 302
    unit = OrgUnit.objects.get(code="FS")
    assert unit.path == "/HO/GD/FS/" and unit.depth == 2


def test_moving_an_org_unit_repaths_its_subtree(admin_client, org_tree):
    admin_client.post("/admin/org/orgunit/add/", orgunit_form(parent=org_tree["GZ"].pk))
    gz = org_tree["GZ"]
    response = admin_client.post(
        f"/admin/org/orgunit/{gz.pk}/change/",
        {"name": gz.name, "kind": "city", "parent": org_tree["JS"].pk, "active": "on"},
    )
    assert response.status_code == 302
    assert OrgUnit.objects.get(code="GZ").path == "/HO/JS/GZ/"
    assert OrgUnit.objects.get(code="FS").path == "/HO/JS/GZ/FS/"


def test_an_org_unit_cannot_move_under_its_own_subtree(admin_client, org_tree):
    gd = org_tree["GD"]
    response = admin_client.post(
        f"/admin/org/orgunit/{gd.pk}/change/",
        {"name": gd.name, "kind": "province", "parent": org_tree["GZ"].pk, "active": "on"},
    )
    assert response.status_code == 200
    assert "不能移动到其自身或其下级机构之下" in response.content.decode()
    assert OrgUnit.objects.get(code="GD").path == "/HO/GD/"


def test_deactivating_an_org_unit(admin_client, org_tree):
    sz = org_tree["SZ"]
    admin_client.post(
        f"/admin/org/orgunit/{sz.pk}/change/", {"name": sz.name, "kind": "city", "parent": org_tree["GD"].pk}
    )
    assert OrgUnit.objects.get(code="SZ").active is False


def test_nothing_is_deleted_from_the_org_admin(admin_client, users, org_tree):
    before = (OrgUnit.objects.count(), User.objects.count())
    assert (
        admin_client.post(f"/admin/org/orgunit/{org_tree['SZ'].pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert (
        admin_client.post(f"/admin/org/user/{users['norole'].pk}/delete/", {"post": "yes"}).status_code == 403
    )
    assert (OrgUnit.objects.count(), User.objects.count()) == before


def test_user_list_shows_role_labels_and_filters_by_role_and_org_unit(admin_client, users, org_tree):
    html = admin_client.get("/admin/org/user/").content.decode()
    assert "回访专员" in html and "合规审计员" in html
    html = admin_client.get("/admin/org/user/", {"role": Role.AUDITOR.value}).content.decode()
    assert 'href="/admin/org/user/{}/change/'.format(users["auditor"].pk) in html
    assert 'href="/admin/org/user/{}/change/'.format(users["agent"].pk) not in html
    html = admin_client.get("/admin/org/user/", {"org_unit__id__exact": org_tree["NJ"].pk}).content.decode()
    assert 'href="/admin/org/user/{}/change/'.format(users["agent_js"].pk) in html
    assert 'href="/admin/org/user/{}/change/'.format(users["agent"].pk) not in html


def test_administrator_creates_a_user_with_org_unit(admin_client, org_tree):
    response = admin_client.post(
        "/admin/org/user/add/",
        {
            "username": "newagent",
            "full_name": "新专员",
            "org_unit": org_tree["SZ"].pk,
            "usable_password": "true",
            "password1": "Long-enough-pass-2026",
            "password2": "Long-enough-pass-2026",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    user = User.objects.get(username="newagent")
    assert user.org_unit == org_tree["SZ"] and user.full_name == "新专员"
    assert not user.is_superuser


def user_change_form(user, **overrides):
    data = {
        "username": user.username,
        "full_name": user.full_name,
        "staff_code": user.staff_code,
        "org_unit": user.org_unit_id or "",
        "skills": "[]",
        "is_active": "on",
        "groups": [g.pk for g in user.groups.all()],
        "first_name": "",
        "last_name": "",
        "email": "",
    }
    data.update(overrides)
    return data


def test_administrator_gives_roles_but_cannot_make_superusers(admin_client, users):
    target = users["norole"]
    supervisor_group = Group.objects.get(name=Role.SUPERVISOR.value)
    response = admin_client.post(
        f"/admin/org/user/{target.pk}/change/",
        user_change_form(target, groups=[supervisor_group.pk], is_superuser="on", staff_code="GD9"),
    )
    assert response.status_code == 302
    target.refresh_from_db()
    assert list(target.groups.values_list("name", flat=True)) == [Role.SUPERVISOR.value]
    assert target.staff_code == "GD9"
    assert target.is_superuser is False


def test_administrator_cannot_change_a_superuser(admin_client, users):
    root = User.objects.create_superuser("root", password="Root-password-2026")
    response = admin_client.post(f"/admin/org/user/{root.pk}/change/", user_change_form(root, full_name="x"))
    assert response.status_code == 403
    response = admin_client.post(
        f"/admin/org/user/{root.pk}/password/",
        {"password1": "Hijack-pass-2026", "password2": "Hijack-pass-2026"},
    )
    assert response.status_code == 403
    root.refresh_from_db()
    assert root.full_name == "" and root.check_password("Root-password-2026")


def test_role_choices_are_labelled(admin_client, users):
    html = admin_client.get(f"/admin/org/user/{users['agent'].pk}/change/").content.decode()
    assert ">回访专员<" in html and ">系统管理员<" in html


def test_api_tokens_are_read_only_and_never_show_the_hash(admin_client, users):
    token = ApiToken.objects.create(
        user=users["agent"], name="core system", prefix="hf_abc123", token_hash="f" * 64
    )
    html = admin_client.get("/admin/org/apitoken/").content.decode()
    assert "hf_abc123" in html and "f" * 64 not in html
    html = admin_client.get(f"/admin/org/apitoken/{token.pk}/change/").content.decode()
    assert "hf_abc123" in html and "f" * 64 not in html
    assert admin_client.get("/admin/org/apitoken/add/").status_code == 403
    response = admin_client.post(f"/admin/org/apitoken/{token.pk}/change/", {"name": "renamed"})
    assert response.status_code == 403
    token.refresh_from_db()
    assert token.name == "core system"


def test_admin_site_header(admin_client):
    html = admin_client.get("/admin/").content.decode()
    assert "回访 Huifang" in html and "系统管理" in html
