"""The administrator screens (/setup/): who may open what, rule versions with the explanation
preview, script versions with their preview, and the working-day calendar."""

from datetime import date

import pytest
import yaml
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from huifang.callbacks.models import Script
from huifang.callbacks.scripts import script_definition_of, script_latest
from huifang.core.audit.models import AuditEvent
from huifang.core.calendar.models import WorkCalendarDay, WorkCalendarYear
from huifang.rules.models import Rule
from huifang.rules.selectors import rule_active
from tests.callbacks.factories import local, policy_make
from tests.records.conftest import products  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db

ROLES = [
    "agent",
    "supervisor",
    "problem_handler",
    "complaint_handler",
    "qa_inspector",
    "auditor",
    "admin",
    "agent_js",
    "norole",
]
READERS = {"admin", "auditor"}


@pytest.fixture
def today(time_machine):
    """Sunday 2026-11-22 10:00 in Shanghai: after 1 November, 2027 not yet confirmed."""
    time_machine.move_to(local(2026, 11, 22, 10, 0), tick=False)
    return date(2026, 11, 22)


def state() -> tuple:
    """Everything a refused POST must leave alone."""
    return (
        list(Rule.objects.order_by("pk").values_list("pk", "version", "params", "superseded_at")),
        list(Script.objects.order_by("pk").values_list("pk", "version")),
        list(WorkCalendarYear.objects.order_by("year").values_list("year", "confirmed", "revision")),
        AuditEvent.objects.count(),
    )


def bs17() -> Rule:
    return rule_active("BS-17")


def rule_post(rule: Rule, **over) -> dict:
    data = {
        "action": "save",
        "param__working_days": rule.params["working_days"],
        "param__from": rule.params["from"],
        "conditions": "",
        "effective_from": "",
        "effective_to": "",
        "reason": "保险公司回访管理办法 2027 修订：问题件 12 个工作日内处理",
    }
    data.update(over)
    return data


# ---- who may open what ----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_every_page_per_role(client, users, role, today):
    client.force_login(users[role])
    script = script_latest("new_policy")
    read_pages = [
        reverse("setup:home"),
        reverse("setup:rules"),
        reverse("setup:rule", args=[bs17().pk]),
        reverse("setup:scripts"),
        reverse("setup:script", args=[script.pk]),
        reverse("setup:calendar"),
        reverse("setup:calendar_year", args=[2026]),
    ]
    edit_pages = [
        reverse("setup:rule_edit", args=[bs17().pk]),
        reverse("setup:script_edit", args=[script.pk]),
    ]
    for url in read_pages:
        assert client.get(url).status_code == (200 if role in READERS else 403), url
    for url in edit_pages:
        assert client.get(url).status_code == (200 if role == "admin" else 403), url
    # Missing objects: 404 for those who may read, 403 (before any lookup) for the others.
    for url in (reverse("setup:rule", args=[999999]), reverse("setup:script", args=[999999])):
        assert client.get(url).status_code == (404 if role in READERS else 403), url
    assert client.get(reverse("setup:calendar_year", args=[20027])).status_code == (
        404 if role in READERS else 403
    )


@pytest.mark.parametrize("role", ROLES)
def test_every_post_per_role_and_refused_posts_change_nothing(client, users, role, today):
    client.force_login(users[role])
    rule = bs17()
    script = script_latest("new_policy")
    definition = script_definition_of(script)
    definition["items"][-1]["text"] += "（新增说明）"
    before = state()
    answers = [
        client.post(reverse("setup:rule_edit", args=[rule.pk]), rule_post(rule, action="preview")),
        client.post(reverse("setup:rule_edit", args=[rule.pk]), rule_post(rule, param__working_days=12)),
        client.post(
            reverse("setup:script_edit", args=[script.pk]),
            {
                "action": "publish",
                "definition": yaml.safe_dump(definition, allow_unicode=True),
                "note": "补充说明",
            },
        ),
        client.post(reverse("setup:calendar_confirm", args=[2026]), {"source": "国办发明电〔2025〕7号"}),
        client.post(
            reverse("setup:calendar_day", args=[2026]),
            {"date": "2026-12-31", "kind": "holiday", "name": "测试", "source": "国办发明电〔2025〕7号"},
        ),
    ]
    answers.append(
        client.post(
            reverse("setup:script_edit", args=[script.pk]),
            {"action": "preview", "definition": yaml.safe_dump(definition, allow_unicode=True), "note": ""},
        )
    )
    if role == "admin":
        assert [a.status_code for a in answers] == [200, 302, 302, 302, 302, 200]
        assert state() != before
    else:
        assert [a.status_code for a in answers] == [403] * 6
        assert state() == before


def test_anonymous_is_sent_to_login(client):
    answer = client.get(reverse("setup:home"))
    assert answer.status_code == 302 and "/accounts/login/" in answer["Location"]


def test_menu_links_the_setup_pages_for_administrators_only(client, users):
    client.force_login(users["admin"])
    assert f'href="{reverse("setup:home")}"' in client.get("/").content.decode()
    client.force_login(users["agent"])
    assert f'href="{reverse("setup:home")}"' not in client.get("/").content.decode()


# ---- the overview ---------------------------------------------------------------------------------


def test_overview_shows_packs_scripts_years_and_the_next_year_warning(client, users, today):
    client.force_login(users["admin"])
    html = client.get(reverse("setup:home")).content.decode()
    national_current = Rule.objects.filter(pack__code="national", superseded_at__isnull=True).count()
    assert 'data-pack="national"' in html and 'data-pack="insurer_default"' in html
    assert f'data-testid="pack-current">{national_current}<' in html
    assert 'data-script="new_policy"' in html
    assert 'data-year="2027"' in html  # listed from 1 November although nothing is stored
    assert "2027" in html and 'data-testid="calendar-warnings"' in html
    assert reverse("admin:records_product_changelist") in html
    assert reverse("admin:org_user_changelist") in html and reverse("admin:org_orgunit_changelist") in html


def test_overview_in_october_does_not_warn_about_next_year(client, users, time_machine):
    time_machine.move_to(local(2026, 10, 20, 10, 0), tick=False)
    client.force_login(users["admin"])
    html = client.get(reverse("setup:home")).content.decode()
    assert 'data-testid="calendar-warnings"' not in html and 'data-year="2027"' not in html


def test_the_auditor_reads_without_edit_buttons(client, users, today):
    client.force_login(users["auditor"])
    html = client.get(reverse("setup:rule", args=[bs17().pk])).content.decode()
    assert 'data-testid="read-only"' in html and 'data-testid="edit-rule"' not in html
    client.force_login(users["admin"])
    html = client.get(reverse("setup:rule", args=[bs17().pk])).content.decode()
    assert 'data-testid="read-only"' not in html and 'data-testid="edit-rule"' in html
    script = script_latest("new_policy")
    for url in (reverse("setup:rule_edit", args=[bs17().pk]), reverse("setup:script_edit", args=[script.pk])):
        assert 'data-testid="read-only"' not in client.get(url).content.decode()


# ---- rules ----------------------------------------------------------------------------------------


def test_rule_list_in_words_and_filtered_by_pack(client, users, today):
    client.force_login(users["admin"])
    html = client.get(reverse("setup:rules")).content.decode()
    assert 'data-rule="BS-17"' in html and 'data-rule="KP-03"' in html
    assert "人身保险业务基本服务规定" in html  # the citation
    assert "15" in html and "个工作日" in html or "working days" in html
    html = client.get(reverse("setup:rules"), {"pack": "insurer_default"}).content.decode()
    assert 'data-rule="KP-03"' in html and 'data-rule="BS-17"' not in html
    # An unknown pack shows every rule rather than failing.
    assert client.get(reverse("setup:rules"), {"pack": "nope"}).status_code == 200


def test_rule_page_history_timeline_and_a_sample_preview(client, users, today):
    client.force_login(users["admin"])
    html = client.get(reverse("setup:rule", args=[bs17().pk])).content.decode()
    assert 'data-testid="history"' in html and 'data-version="1"' in html
    assert 'data-testid="timeline"' in html
    # BS-17 counts 15 working days from the day the problem was found (today by default).
    assert 'data-testid="explanation"' in html and "BS-17" in html
    answer = client.get(
        reverse("setup:rule", args=[bs17().pk]),
        {"preview-sample": "life_bank", "preview-base_date": "2026-02-13"},
    )
    # 2026-02-13 + 15 working days across the Spring Festival (RULES.md "Working days") = 2026-03-12.
    assert "2026-03-12" in answer.content.decode()


def test_new_policy_rule_preview_on_a_real_policy(client, users, products, today):  # noqa: F811
    policy = policy_make(1)  # receipt 2026-02-05, 15 cooling-off days
    client.force_login(users["admin"])
    answer = client.get(
        reverse("setup:rule", args=[rule_active("BS-12").pk]),
        {"preview-policy_no": policy.policy_no, "preview-sample": ""},
    )
    text = answer.content.decode()
    assert "2026-02-20" in text and "2026-02-05" in text and "CO-03 · BS-12" in text
    assert 'data-testid="applies"' in text


def test_a_new_version_keeps_the_old_one_and_is_audited(client, users, today):
    client.force_login(users["admin"])
    old = bs17()
    events = AuditEvent.objects.filter(event_type="rule.changed").count()
    # "from" names what the rule is wired to: shown, not changed from the form.
    answer = client.post(
        reverse("setup:rule_edit", args=[old.pk]),
        rule_post(old, param__working_days=12, param__from="elsewhere"),
    )
    new = bs17()
    assert new.params["from"] == "discovery"
    assert answer.status_code == 302 and answer["Location"] == reverse("setup:rule", args=[new.pk])
    assert new.pk != old.pk and new.version == old.version + 1 and new.params["working_days"] == 12
    assert new.change_reason.startswith("保险公司回访管理办法") and new.created_by == users["admin"]
    old.refresh_from_db()
    assert old.superseded_at is not None and old.params["working_days"] == 15  # kept, unchanged
    event = AuditEvent.objects.filter(event_type="rule.changed").latest("seq")
    assert AuditEvent.objects.filter(event_type="rule.changed").count() == events + 1
    assert event.actor == users["admin"] and event.rule == "BS-17"
    assert event.data["before"]["params"]["working_days"] == 15
    assert event.data["after"]["params"]["working_days"] == 12
    page = client.get(answer["Location"]).content.decode()
    assert f'data-version="{old.version}"' in page and f'data-version="{new.version}"' in page
    # The old version's edit page leads to the current version.
    assert client.get(reverse("setup:rule_edit", args=[old.pk]))["Location"] == reverse(
        "setup:rule_edit", args=[new.pk]
    )


def test_saving_the_same_values_creates_nothing(client, users, today):
    client.force_login(users["admin"])
    before = state()
    answer = client.post(reverse("setup:rule_edit", args=[bs17().pk]), rule_post(bs17()))
    assert answer.status_code == 302 and state() == before


@pytest.mark.parametrize(
    ("over", "field", "message"),
    [
        ({"param__working_days": 20}, "param__working_days", "最多为 15"),  # laxer than the law
        ({"param__working_days": "abc"}, "param__working_days", ""),
        ({"param__working_days": -1}, "param__working_days", ""),
        ({"conditions": "{not json"}, "conditions", "JSON"),
        ({"conditions": '{"colour": "red"}'}, "conditions", "colour"),
        ({"conditions": '{"line_in": "life"}'}, "conditions", "list"),
        ({"effective_to": "2020-01-01", "effective_from": ""}, "effective_to", ""),
        ({"effective_from": "2027-01-01", "effective_to": "2026-12-31"}, "effective_to", ""),
        ({"effective_from": "not a date"}, "effective_from", ""),
        ({"reason": ""}, "reason", ""),
    ],
)
def test_a_bad_edit_shows_the_field_error_and_creates_nothing(client, users, today, over, field, message):
    client.force_login(users["admin"])
    rule = bs17()
    if over.get("effective_to") == "2020-01-01":
        # A rule in force since 2021 cannot end in 2020.
        over = {**over, "effective_from": ""}
        Rule.objects.filter(pk=rule.pk).update(effective_from=date(2021, 1, 1))
        rule.refresh_from_db()
        over["effective_from"] = "2021-01-01"
    before = state()
    answer = client.post(reverse("setup:rule_edit", args=[rule.pk]), rule_post(rule, **over))
    assert answer.status_code == 400
    html = answer.content.decode()
    assert f'data-testid="error-{field}"' in html
    assert f'id="id_{field}" aria-invalid="true"' in html or 'aria-invalid="true"' in html
    if message:
        error = html.split(f'data-testid="error-{field}">', 1)[1].split("</div>", 1)[0]
        assert message in error
    assert state() == before


def test_an_insurer_rule_cannot_be_laxer_than_the_national_one(client, users, today):
    """EC-05 is in both packs; a local or insurer pack is compared with the national rule."""
    from huifang.rules.services import rule_laxer_params

    national = Rule.objects.get(pack__code="national", rule_id="BS-17", superseded_at__isnull=True)
    assert rule_laxer_params(national, {"working_days": 16}) == [
        {"key": "working_days", "value": 16, "limit": 15}
    ]
    assert rule_laxer_params(national, {"working_days": 10}) == []


def test_a_scheduled_change_keeps_the_old_numbers_until_the_day_before(client, users, today):
    client.force_login(users["admin"])
    old = bs17()
    answer = client.post(
        reverse("setup:rule_edit", args=[old.pk]),
        rule_post(old, param__working_days=10, effective_from="2027-01-01"),
    )
    assert answer.status_code == 302
    assert rule_active("BS-17", date(2026, 12, 31)).params["working_days"] == 15
    assert rule_active("BS-17", date(2027, 1, 1)).params["working_days"] == 10
    assert rule_active("BS-17", date(2026, 12, 31)).effective_to == date(2026, 12, 31)
    changes = [e.data["change"] for e in AuditEvent.objects.filter(event_type="rule.changed").order_by("seq")]
    assert changes[-2:] == ["changed", "scheduled"]
    old.refresh_from_db()
    assert old.superseded_at is not None and old.effective_to is None


def test_preview_before_and_after_without_saving(client, users, today):
    client.force_login(users["admin"])
    rule = bs17()
    before = state()
    answer = client.post(
        reverse("setup:rule_edit", args=[rule.pk]),
        rule_post(
            rule,
            action="preview",
            reason="",
            param__working_days=10,
            **{"preview-sample": "life_bank", "preview-base_date": "2026-02-13"},
        ),
        headers={"HX-Request": "true"},
    )
    assert answer.status_code == 200
    html = answer.content.decode()
    assert html.lstrip().startswith('<div id="rule-compare"')  # the fragment only
    before_block = html.split('data-testid="preview-before"')[1].split('data-testid="preview-after"')[0]
    after_block = html.split('data-testid="preview-after"')[1]
    assert "2026-03-12" in before_block  # 15 WD
    assert "2026-03-05" in after_block  # 10 WD
    assert state() == before
    # Without htmx the whole page comes back with the comparison.
    full = client.post(
        reverse("setup:rule_edit", args=[rule.pk]),
        rule_post(rule, action="preview", **{"preview-sample": "universal_elderly"}),
    )
    assert full.status_code == 200 and 'data-testid="rule-form"' in full.content.decode()


def test_preview_of_an_invalid_change_says_so(client, users, today):
    client.force_login(users["admin"])
    rule = bs17()
    answer = client.post(
        reverse("setup:rule_edit", args=[rule.pk]),
        rule_post(rule, action="preview", conditions="{bad", **{"preview-sample": "life_bank"}),
        headers={"HX-Request": "true"},
    )
    assert 'data-testid="preview-after-invalid"' in answer.content.decode()


def test_preview_policy_is_scoped_like_a_missing_one(client, users, make_user, products, today):  # noqa: F811
    """A branch administrator (ADMINISTER without VIEW_ALL_ORGS) in 广东 cannot preview on a
    江苏 policy: the same message as for a number that does not exist."""
    branch_admin = make_user("branch_admin", None, "GD")
    branch_admin.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="core", codename__in=["administer", "view_records"]
        )
    )
    policy_make(1, org_unit="GZ")
    policy_make(2, org_unit="NJ")
    client.force_login(branch_admin)
    url = reverse("setup:rule", args=[rule_active("BS-12").pk])

    def preview(number):
        return client.get(url, {"preview-policy_no": number, "preview-sample": ""}).content.decode()

    assert "2026-02-20" in preview("P000001")
    other, missing = preview("P000002"), preview("P999999")
    assert 'data-testid="error-policy_no"' in other and 'data-testid="error-policy_no"' in missing
    assert "2026-02-20" not in other

    def card(html):
        return html.split('data-testid="preview-form"', 1)[1].split("</section>", 1)[0]

    assert card(other).replace("P000002", "X") == card(missing).replace("P999999", "X")


# ---- scripts --------------------------------------------------------------------------------------


def test_script_pages_show_items_and_the_preview_for_a_sample(client, users, today):
    client.force_login(users["admin"])
    html = client.get(reverse("setup:scripts")).content.decode()
    assert 'data-script="new_policy"' in html
    script = script_latest("new_policy")
    html = client.get(reverse("setup:script", args=[script.pk])).content.decode()
    assert 'data-testid="script-items"' in html and 'data-item="surrender_loss"' in html
    assert "{product_name}" in html or "{premium}" in html  # the template
    # Single premium, 68, universal: no payment-terms item (期缴 only), the risk sentence is asked.
    html = client.get(
        reverse("setup:script", args=[script.pk]),
        {"preview-sample": "universal_elderly", "preview-policy_no": ""},
    ).content.decode()
    preview = html.split('data-testid="script-preview"')[1]
    payment = preview.split('data-item="payment_terms"')[1].split("</li>")[0]
    assert 'data-testid="hidden-item"' in payment
    assert "示例万能险" in preview


def test_a_new_script_version_is_published_and_the_old_one_kept(client, users, today):
    client.force_login(users["admin"])
    script = script_latest("new_policy")
    items_before = list(script.items.order_by("position").values_list("code", "text"))
    definition = script_definition_of(script)
    definition["items"][-1]["text"] = "请问您对本次回访还有其他问题吗？"
    text = yaml.safe_dump(definition, allow_unicode=True, sort_keys=False)
    preview = client.post(
        reverse("setup:script_edit", args=[script.pk]),
        {"action": "preview", "definition": text, "note": "", "preview-sample": "life_bank"},
        headers={"HX-Request": "true"},
    )
    assert "请问您对本次回访还有其他问题吗？" in preview.content.decode()
    assert script_latest("new_policy").pk == script.pk  # a preview publishes nothing
    answer = client.post(
        reverse("setup:script_edit", args=[script.pk]),
        {"action": "publish", "definition": text, "note": "结束语修订"},
    )
    new = script_latest("new_policy")
    assert answer.status_code == 302 and answer["Location"] == reverse("setup:script", args=[new.pk])
    assert new.version == script.version + 1
    assert new.items.get(code=definition["items"][-1]["code"]).text == "请问您对本次回访还有其他问题吗？"
    assert list(script.items.order_by("position").values_list("code", "text")) == items_before
    event = AuditEvent.objects.filter(event_type="callback_script.published").latest("seq")
    assert event.actor == users["admin"] and event.data["version"] == new.version
    assert "结束语修订" in event.data["source"]
    # The same content again publishes nothing.
    before = state()
    again = client.post(
        reverse("setup:script_edit", args=[new.pk]),
        {"action": "publish", "definition": text, "note": "再次发布同样内容"},
    )
    assert again.status_code == 302 and state() == before


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("code: [unclosed", "YAML"),
        ("code: other\nname: x\ntask_kind: new_policy\nitems: []\n", "new_policy"),
        (
            "code: new_policy\nname: x\ntask_kind: new_policy\nitems:\n  - code: a\n    text: '{nope}'\n",
            "nope",
        ),
        (
            "code: new_policy\nname: x\ntask_kind: new_policy\nitems:\n  - code: a\n    text: t\n    expected: maybe\n",
            "maybe",
        ),
    ],
)
def test_a_bad_script_shows_the_error_and_publishes_nothing(client, users, today, text, message):
    client.force_login(users["admin"])
    script = script_latest("new_policy")
    before = state()
    answer = client.post(
        reverse("setup:script_edit", args=[script.pk]),
        {"action": "publish", "definition": text, "note": "测试修改"},
    )
    assert answer.status_code == 400
    error = answer.content.decode().split('data-testid="error-definition">', 1)[1].split("</div>", 1)[0]
    assert message in error
    assert state() == before


# ---- the calendar ---------------------------------------------------------------------------------


def test_calendar_pages_show_status_and_the_month_grid(client, users, today):
    client.force_login(users["admin"])
    html = client.get(reverse("setup:calendar")).content.decode()
    assert 'data-year="2026"' in html and 'data-year="2027"' in html
    html = client.get(reverse("setup:calendar_year", args=[2026])).content.decode()
    assert 'data-date="2026-02-17" data-kind="holiday"' in html  # 春节
    assert 'data-date="2026-02-14" data-kind="makeup"' in html  # 调休: Saturday worked
    assert 'data-date="2026-03-07" data-kind="weekend"' in html
    html = client.get(reverse("setup:calendar_year", args=[2027])).content.decode()
    assert 'data-testid="month-grid"' not in html and 'data-testid="confirm-form"' in html


def test_confirm_a_year_from_a_file(client, users, today):
    client.force_login(users["admin"])
    csv = "date,kind,name\n2027-01-01,holiday,元旦\n2027-02-06,workday,调休上班\n2027-02-08,holiday,春节\n"
    answer = client.post(
        reverse("setup:calendar_confirm", args=[2027]),
        {"source": "国办发明电〔2026〕X号", "file": SimpleUploadedFile("2027.csv", csv.encode())},
    )
    assert answer.status_code == 302
    row = WorkCalendarYear.objects.get(year=2027)
    assert row.confirmed and row.confirmed_by == users["admin"] and row.source == "国办发明电〔2026〕X号"
    assert WorkCalendarDay.objects.get(date=date(2027, 2, 6)).kind == "makeup"
    event = AuditEvent.objects.filter(event_type="calendar.year_confirmed").latest("seq")
    assert event.actor == users["admin"] and event.data["year"] == 2027
    html = client.get(reverse("setup:home")).content.decode()
    assert 'data-testid="calendar-warnings"' not in html


def test_confirm_a_year_bad_input(client, users, today):
    client.force_login(users["admin"])
    before = state()
    nothing = client.post(reverse("setup:calendar_confirm", args=[2027]), {"source": "通知"})
    assert nothing.status_code == 400 and "2027" in nothing.content.decode()
    bad = client.post(
        reverse("setup:calendar_confirm", args=[2027]),
        {"source": "通知", "file": SimpleUploadedFile("2027.csv", b"2027-13-01,holiday\n")},
    )
    assert bad.status_code == 400 and 'data-testid="error-file"' in bad.content.decode()
    binary = client.post(
        reverse("setup:calendar_confirm", args=[2027]),
        {"source": "通知", "file": SimpleUploadedFile("2027.csv", b"\xff\xfe\x00")},
    )
    assert binary.status_code == 400
    no_source = client.post(reverse("setup:calendar_confirm", args=[2026]), {"source": ""})
    assert no_source.status_code == 400 and 'data-testid="error-source"' in no_source.content.decode()
    assert state() == before


def test_change_one_day(client, users, today):
    client.force_login(users["admin"])
    answer = client.post(
        reverse("setup:calendar_day", args=[2026]),
        {"date": "2026-12-31", "kind": "holiday", "name": "临时放假", "source": "国办通知"},
    )
    assert answer.status_code == 302
    assert WorkCalendarDay.objects.get(date=date(2026, 12, 31)).kind == "holiday"
    assert WorkCalendarDay.objects.get(date=date(2026, 2, 17)).kind == "holiday"  # the rest is kept
    event = AuditEvent.objects.filter(event_type="calendar.year_confirmed").latest("seq")
    assert event.data["changed_dates"] == ["2026-12-31"]
    back = client.post(
        reverse("setup:calendar_day", args=[2026]),
        {"date": "2026-12-31", "kind": "ordinary", "source": "国办通知"},
    )
    assert back.status_code == 302 and WorkCalendarDay.objects.get(date=date(2026, 12, 31)).kind == "workday"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"date": "2026-12-30", "kind": "workday"}, "kind"),  # a Wednesday cannot be a make-up day
        ({"date": "2025-12-31", "kind": "holiday"}, "date"),  # not in the year
        ({"date": "31/12/2026", "kind": "holiday"}, "date"),
        ({"date": "2026-12-31", "kind": "sometimes"}, "kind"),
        ({"date": "2026-12-31", "kind": "holiday", "source": ""}, "source"),
    ],
)
def test_change_one_day_bad_input(client, users, today, data, field):
    client.force_login(users["admin"])
    before = state()
    answer = client.post(reverse("setup:calendar_day", args=[2026]), {"source": "国办通知", **data})
    assert answer.status_code == 400
    assert f'data-testid="error-{field}"' in answer.content.decode()
    assert state() == before


def test_change_one_day_of_a_year_without_days_is_refused(client, users, today):
    client.force_login(users["admin"])
    before = state()
    answer = client.post(
        reverse("setup:calendar_day", args=[2027]),
        {"date": "2027-01-01", "kind": "holiday", "source": "通知"},
    )
    assert answer.status_code == 400 and 'data-testid="form-errors"' in answer.content.decode()
    assert state() == before


def test_pages_are_in_chinese(client, users, today):
    client.force_login(users["admin"])
    for url in (
        reverse("setup:home"),
        reverse("setup:rule_edit", args=[bs17().pk]),
        reverse("setup:calendar"),
    ):
        html = client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
        assert "规则" in html, url


def test_query_counts_are_bounded(client, users, today, django_assert_max_num_queries):
    client.force_login(users["admin"])
    script = script_latest("new_policy")
    for url in (
        reverse("setup:home"),
        reverse("setup:rules"),
        reverse("setup:rule", args=[bs17().pk]),
        reverse("setup:script", args=[script.pk]),
        reverse("setup:calendar_year", args=[2026]),
    ):
        with django_assert_max_num_queries(30):
            assert client.get(url).status_code == 200


def test_every_rule_page_edit_form_and_preview_answers(client, users, today):
    """No rule's parameters or conditions break its page, its form or its preview (bad input never
    gives a 500)."""
    client.force_login(users["admin"])
    for rule in Rule.objects.filter(superseded_at__isnull=True):
        for sample in ("life_bank", "universal_elderly", "health_internet"):
            page = client.get(reverse("setup:rule", args=[rule.pk]), {"preview-sample": sample})
            assert page.status_code == 200, rule
        assert client.get(reverse("setup:rule_edit", args=[rule.pk])).status_code == 200, rule
        data = {f"param__{k}": v for k, v in rule.params.items() if not isinstance(v, list | dict | bool)}
        preview = client.post(
            reverse("setup:rule_edit", args=[rule.pk]),
            {**data, "action": "preview", "preview-sample": "life_bank"},
            headers={"HX-Request": "true"},
        )
        assert preview.status_code == 200, rule
    bad = client.get(
        reverse("setup:rule", args=[bs17().pk]), {"preview-sample": "x", "preview-base_date": "2026-02-30"}
    )
    html = bad.content.decode()
    assert (
        bad.status_code == 200
        and 'data-testid="error-base_date"' in html
        and 'data-testid="error-sample"' in html
    )
    assert 'data-testid="explanation"' not in html


def test_rule_change_service_refuses_and_changes_nothing(users, today):
    """The service behind the form refuses on its own too (a script or a stale form)."""
    from huifang.rules.conditions import ConditionsInvalid
    from huifang.rules.services import RulePackInvalid, rule_change

    rule = bs17()
    before = state()
    with pytest.raises(RulePackInvalid):
        rule_change(
            rule, reason="更宽松", user=users["admin"], params={"working_days": 16, "from": "discovery"}
        )
    with pytest.raises(ValueError, match="reason"):
        rule_change(rule, reason=" ", user=users["admin"], params={"working_days": 10, "from": "discovery"})
    with pytest.raises(ConditionsInvalid):
        rule_change(rule, reason="条件", user=users["admin"], conditions={"colour": "red"})
    Rule.objects.filter(pk=rule.pk).update(effective_from=date(2021, 1, 1), effective_to=date(2030, 12, 31))
    rule.refresh_from_db()
    with pytest.raises(ValueError, match="starts after"):
        rule_change(rule, reason="更早", user=users["admin"], effective_from=date(2020, 1, 1))
    with pytest.raises(ValueError, match="ends on"):
        rule_change(rule, reason="太晚", user=users["admin"], effective_from=date(2031, 1, 1))
    assert state()[0][:-1] == before[0][:-1] and state()[1:] == before[1:]
    rule_change(rule, reason="变更", user=users["admin"], params={"working_days": 10, "from": "discovery"})
    old = Rule.objects.get(pk=rule.pk)
    assert old.superseded_at is not None and bs17().params["working_days"] == 10
    with pytest.raises(ValueError, match="superseded"):
        rule_change(
            old, reason="旧版本", user=users["admin"], params={"working_days": 9, "from": "discovery"}
        )


def test_posts_without_the_csrf_token_are_refused(users, today):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(users["admin"])
    rule = bs17()
    before = state()
    assert (
        client.post(
            reverse("setup:rule_edit", args=[rule.pk]), rule_post(rule, param__working_days=12)
        ).status_code
        == 403
    )
    assert client.post(reverse("setup:calendar_confirm", args=[2026]), {"source": "通知"}).status_code == 403
    assert state() == before
