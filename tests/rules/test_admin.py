"""The rules admin: administrators read packs and versions; nobody edits a rule in place."""

import pytest

from huifang.rules.models import Rule
from huifang.rules.selectors import rule_active

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("role", ["admin", "agent", "supervisor", "auditor", "norole"])
def test_only_administrators_read_rules_and_nobody_changes_them(client, users, role):
    client.force_login(users[role])
    bs17 = rule_active("BS-17")
    before = list(Rule.objects.order_by("pk").values_list("pk", "version", "params", "superseded_at"))
    listing = client.get("/admin/rules/rule/?q=BS-17")
    detail = client.get(f"/admin/rules/rule/{bs17.pk}/change/")
    packs = client.get("/admin/rules/rulepack/")
    post = client.post(f"/admin/rules/rule/{bs17.pk}/change/", {"title": "changed", "citation": "x"})
    delete = client.post(f"/admin/rules/rule/{bs17.pk}/delete/", {"post": "yes"})
    if role == "admin":
        assert listing.status_code == detail.status_code == packs.status_code == 200
        html = detail.content.decode()
        assert "人身保险业务基本服务规定" in html and "&quot;working_days&quot;: 15" in html
        assert "insurer_default" in packs.content.decode()
    else:
        assert listing.status_code in (302, 403) and detail.status_code in (302, 403)
    assert post.status_code in (302, 403) and delete.status_code in (302, 403)
    after = list(Rule.objects.order_by("pk").values_list("pk", "version", "params", "superseded_at"))
    assert after == before
