"""Shared fixtures: an org tree (head office → 2 provinces → 2 cities each) and one user per role."""

import pytest
from django.db import connection

from huifang.core.permissions import Role
from huifang.org.services import org_unit_upsert, user_create

PASSWORD = "Huifang-test-2026"


@pytest.fixture(autouse=True)
def _fresh_calendar_cache():
    """Tests that write calendar rows directly must not leak cached years into the next test."""
    from huifang.core.calendar.services import calendar_cache_clear

    calendar_cache_clear()
    yield
    calendar_cache_clear()


@pytest.fixture
def org_tree(db):
    ho = org_unit_upsert(code="HO", name="总公司", kind="head_office")
    gd = org_unit_upsert(code="GD", name="广东分公司", kind="province", parent=ho)
    js = org_unit_upsert(code="JS", name="江苏分公司", kind="province", parent=ho)
    gz = org_unit_upsert(code="GZ", name="广州中心支公司", kind="city", parent=gd)
    sz = org_unit_upsert(code="SZ", name="深圳中心支公司", kind="city", parent=gd)
    nj = org_unit_upsert(code="NJ", name="南京中心支公司", kind="city", parent=js)
    sx = org_unit_upsert(code="SUZ", name="苏州中心支公司", kind="city", parent=js)
    return {"HO": ho, "GD": gd, "JS": js, "GZ": gz, "SZ": sz, "NJ": nj, "SUZ": sx}


@pytest.fixture
def make_user(org_tree):
    def make(username, role: Role | None, unit="GD", **extra):
        return user_create(
            username=username,
            password=PASSWORD,
            org_unit=org_tree[unit] if unit else None,
            roles=[role] if role else [],
            **extra,
        )

    return make


@pytest.fixture
def users(make_user):
    """One user per role in 广东 (GD), plus an agent in 江苏 (JS) and an auditor at head office."""
    return {
        "agent": make_user("agent", Role.AGENT, "GZ"),
        "supervisor": make_user("supervisor", Role.SUPERVISOR, "GD"),
        "problem_handler": make_user("problem_handler", Role.PROBLEM_HANDLER, "GD"),
        "complaint_handler": make_user("complaint_handler", Role.COMPLAINT_HANDLER, "GD"),
        "qa_inspector": make_user("qa_inspector", Role.QA_INSPECTOR, "GD"),
        "auditor": make_user("auditor", Role.AUDITOR, "HO"),
        "admin": make_user("admin", Role.ADMIN, "HO"),
        "agent_js": make_user("agent_js", Role.AGENT, "NJ"),
        "norole": make_user("norole", None, "GD"),
    }


def is_postgres() -> bool:
    return connection.vendor == "postgresql"
