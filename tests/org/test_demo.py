"""`huifang demo`: the foundation's demo data, idempotent, and the builder convention."""

from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command

from huifang.core.management.commands import demo as demo_command
from huifang.core.management.commands.demo import demo_builders
from huifang.core.permissions import Cap, Role, has_cap, user_roles
from huifang.org.demo import DEMO_PASSWORD, demo_org_load
from huifang.org.models import OrgUnit, User

pytestmark = pytest.mark.django_db


@pytest.fixture
def org_builder_only(monkeypatch):
    """Run only this app's builder (other apps test theirs; the records demo is slow)."""
    monkeypatch.setattr(demo_command, "demo_builders", lambda: [(10, "huifang.org.demo.demo_load")])


def run_demo(*args) -> str:
    out = StringIO()
    call_command("demo", *args, stdout=out)
    return out.getvalue()


def snapshot():
    return (
        list(OrgUnit.objects.order_by("code").values_list("code", "name", "kind", "path", "depth", "active")),
        list(
            User.objects.order_by("username").values_list(
                "username", "password", "full_name", "org_unit__code"
            )
        ),
    )


def test_demo_builds_the_org_tree_and_one_user_per_role(org_builder_only):
    out = run_demo()
    paths = dict(OrgUnit.objects.values_list("code", "path"))
    assert paths == {
        "HO": "/HO/",
        "GD": "/HO/GD/",
        "JS": "/HO/JS/",
        "GZ": "/HO/GD/GZ/",
        "SZ": "/HO/GD/SZ/",
        "NJ": "/HO/JS/NJ/",
        "SUZ": "/HO/JS/SUZ/",
        "VND": "/HO/VND/",
    }
    assert OrgUnit.objects.get(code="VND").kind == OrgUnit.Kind.VENDOR
    assert OrgUnit.objects.get(code="HO").name == "总公司"
    expected_roles = {
        "agent": Role.AGENT,
        "supervisor": Role.SUPERVISOR,
        "problem_handler": Role.PROBLEM_HANDLER,
        "complaint_handler": Role.COMPLAINT_HANDLER,
        "qa_inspector": Role.QA_INSPECTOR,
        "auditor": Role.AUDITOR,
        "admin": Role.ADMIN,
        "agent_js": Role.AGENT,
    }
    for username, role in expected_roles.items():
        user = authenticate(username=username, password=DEMO_PASSWORD)
        assert user is not None, username
        assert user_roles(user) == [role]
        assert user.full_name and not user.full_name.isascii()
        assert not user.is_superuser
        assert user.is_staff == (username == "admin")
        assert username in out
    assert User.objects.get(username="agent_js").org_unit.code == "NJ"
    assert has_cap(User.objects.get(username="admin"), Cap.ADMINISTER)
    assert DEMO_PASSWORD in out


def test_second_run_changes_nothing_and_does_not_print_passwords_again(org_builder_only):
    run_demo()
    before = snapshot()
    out = run_demo()
    assert "already present" in out
    assert DEMO_PASSWORD not in out
    assert snapshot() == before


def test_existing_users_and_units_are_left_alone():
    result = demo_org_load()
    agent = result["users"]["agent"]
    agent.set_password("Changed-by-the-user-2026")
    agent.save()
    OrgUnit.objects.filter(code="GZ").update(name="广州分公司（改名）")
    again = demo_org_load()
    assert again["created_units"] == [] and again["created_users"] == []
    assert authenticate(username="agent", password="Changed-by-the-user-2026") is not None
    assert OrgUnit.objects.get(code="GZ").name == "广州分公司（改名）"


def test_missing_parts_are_filled_in(org_tree):
    # The test fixture already made the tree (without the vendor): only the rest is added.
    result = demo_org_load()
    assert result["created_units"] == ["VND"]
    assert len(result["created_users"]) == 8


def test_builders_are_discovered_and_ordered(capsys):
    builders = demo_builders()
    assert (10, "huifang.org.demo.demo_load") in builders
    assert builders == sorted(builders)
    assert builders[0] == (10, "huifang.org.demo.demo_load")
    out = run_demo("--list")
    assert "huifang.org.demo.demo_load" in out
    assert User.objects.count() == 0  # --list only lists


def test_policies_option_is_passed_to_builders(monkeypatch, org_builder_only):
    import huifang.org.demo as org_demo

    seen = {}

    def fake_load(stdout, **options):
        seen.update(options)
        stdout.write("org: already present")

    monkeypatch.setattr(org_demo, "demo_load", fake_load)
    run_demo("--policies", "7")
    assert seen["policies"] == 7
