"""The staff pages for insurance records: search, customer page, policy page — scoping, masking,
derived facts, the per-role matrix and the language."""

import re
from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from huifang.core.audit.models import AuditEvent
from huifang.core.crypto.masking import mask_address, mask_email, mask_id_number, mask_name, mask_phone
from huifang.records.idnumbers import resident_id_make
from huifang.records.models import Customer, Policy
from huifang.records.schema import validate_row
from huifang.records.services import RecordsFeed
from tests.records.conftest import policy_values

pytestmark = pytest.mark.django_db

# The 广东 customer (广州) and what must never appear on a page unmasked.
NAME = "张三丰"
ID_NUMBER = resident_id_make("440104", date(1960, 1, 2), 7)
MOBILE = "13812341234"
OTHER_PHONE = "02087654321"
ADDRESS = "广东省广州市天河区体育西路1号"
EMAIL = "zhang.sanfeng@example.com"
# The 江苏 customer (南京).
JS_ID_NUMBER = resident_id_make("320102", date(1980, 5, 6), 8)
JS_MOBILE = "13900000002"

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


def feed(kind: str, raws: list[dict]):
    """Validate raw rows as the import does, then upsert them; every row must be accepted."""
    rows = []
    for index, raw in enumerate(raws, start=1):
        result = validate_row(kind, raw, index)
        assert not result.errors, result.errors
        rows.append((index, result.values))
    outcome = RecordsFeed(kind).upsert(rows)
    assert outcome.summary["rejected"] == 0, outcome.items
    return outcome


def gd_policy(n: int, **over) -> dict:
    values = {
        "applicant_no": "C000001",
        "applicant_name": NAME,
        "applicant_id_number": ID_NUMBER,
        "applicant_birth_date": date(1960, 1, 2),
        "applicant_mobile": MOBILE,
        "applicant_address": ADDRESS,
    }
    return policy_values(n, **(values | over))


def make_gd_customer(policies: int = 1):
    """Customer C000001 in 广州 holding ``policies`` policies (P000001 …), with contact details,
    a salesperson, a claim and two policy events on P000001."""
    feed(
        "salespeople",
        [{"code": "S001", "name": "李业务", "org_unit": "GZ", "channel": "bank", "status": "active"}],
    )
    rows = [gd_policy(1, salesperson_code="S001", issue_date=date(2026, 2, 3))]
    rows += [
        gd_policy(n, application_date=date(2026, 1, 1) + timedelta(days=n)) for n in range(2, policies + 1)
    ]
    RecordsFeed("policies").upsert(list(enumerate(rows, start=1)))
    feed(
        "customers",
        [
            {
                "customer_no": "C000001",
                "name": NAME,
                "id_type": "resident_id",
                "id_number": ID_NUMBER,
                "birth_date": "1960-01-02",
                "sex": "M",
                "mobile": MOBILE,
                "other_phones": OTHER_PHONE,
                "address": ADDRESS,
                "email": EMAIL,
                "contact_window_start": "09:30",
                "contact_window_end": "11:30",
                "do_not_call_reason": "客户住院",
                "do_not_call_until": (timezone.localdate() + timedelta(days=30)).isoformat(),
                "e_callback_declined": "是",
                "org_unit": "GZ",
            }
        ],
    )
    feed(
        "claims",
        [
            {
                "claim_no": "CL0001",
                "policy_no": "P000001",
                "claimant_no": "C000001",
                "reported_on": "2026-03-10",
                "closed_on": "2026-04-01",
                "decision": "approved",
                "amount_claimed": "5000",
                "amount_paid": "4800",
                "status": "closed",
            }
        ],
    )
    feed(
        "events",
        [
            {
                "event_no": "E0001",
                "policy_no": "P000001",
                "kind": "service_requested",
                "event_date": "2026-05-01",
                "note": "变更缴费账户",
            },
            {"event_no": "E0002", "policy_no": "P000001", "kind": "lapse", "event_date": "2026-06-15"},
        ],
    )
    return Customer.objects.get(customer_no="C000001")


def make_js_customer():
    """Customer C000002 in 南京 with policy P000002."""
    RecordsFeed("policies").upsert(
        [
            (
                1,
                policy_values(
                    2,
                    org_unit="NJ",
                    applicant_name="王五",
                    applicant_id_number=JS_ID_NUMBER,
                    applicant_birth_date=date(1980, 5, 6),
                    applicant_mobile=JS_MOBILE,
                    applicant_address="江苏省南京市玄武区中山路1号",
                ),
            )
        ]
    )
    return Customer.objects.get(customer_no="C000002")


@pytest.fixture
def gd_customer(products):
    return make_gd_customer()


@pytest.fixture
def js_customer(products):
    return make_js_customer()


def get(client, user, url, **extra):
    if user is not None:
        client.force_login(user)
    return client.get(url, **extra)


def search(client, user, q, **extra):
    client.force_login(user)
    return client.post(reverse("records:search"), {"q": q}, **extra)


def comparable(response, url: str) -> str:
    """The page without its per-response CSRF tokens and its own address, to compare answers."""
    html = response.content.decode().replace(url, "URL")
    html = re.sub(r'name="csrf-token" content="[^"]*"', "", html)
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", html)


def customer_url(no="C000001"):
    return reverse("records:customer", args=[no])


def policy_url(no="P000001"):
    return reverse("records:policy", args=[no])


# ---- URLs ------------------------------------------------------------------------------------------


def test_urls():
    assert reverse("records:search") == "/records/"
    assert customer_url() == "/records/customers/C000001/"
    assert policy_url() == "/records/policies/P000001/"
    assert reverse("records:customer_reveal", args=["C000001", "mobile"]) == (
        "/records/customers/C000001/reveal/mobile/"
    )


# ---- search ----------------------------------------------------------------------------------------


def test_search_by_id_number_uses_the_blind_index(client, users, gd_customer, js_customer):
    client.force_login(users["agent"])
    with CaptureQueriesContext(connection) as queries:
        response = client.post(reverse("records:search"), {"q": ID_NUMBER.lower()})
    assert response.status_code == 200
    html = response.content.decode()
    assert customer_url() in html
    assert policy_url() in html
    assert customer_url("C000002") not in html
    assert ID_NUMBER not in html and mask_id_number(ID_NUMBER) in html
    assert NAME not in html and mask_name(NAME) in html
    assert MOBILE not in html and mask_phone(MOBILE) in html
    assert any("id_number_bidx" in q["sql"] for q in queries.captured_queries)
    # Never compared with the encrypted columns (which hold tokens, not numbers).
    sql = " ".join(q["sql"] for q in queries.captured_queries)
    assert '"id_number" =' not in sql and '"mobile" =' not in sql
    assert 'name="q"' in html and 'value="' not in html.split('name="q"')[1].split(">")[0]


def test_search_by_mobile_in_any_spelling(client, users, gd_customer, js_customer):
    for spelling in (MOBILE, "138 1234 1234", "+86 138-1234-1234"):
        html = search(client, users["supervisor"], spelling).content.decode()
        assert customer_url() in html, spelling
        assert customer_url("C000002") not in html


def test_search_by_policy_number_and_customer_number(client, users, gd_customer, js_customer):
    html = search(client, users["agent"], "P000001").content.decode()
    assert policy_url() in html
    assert policy_url("P000002") not in html
    assert 'data-testid="customer-results"' not in html
    html = search(client, users["agent"], " C000001 ").content.decode()
    assert customer_url() in html
    assert policy_url() in html  # the customer's policies come with it


def test_search_out_of_scope_finds_nothing(client, users, gd_customer, js_customer):
    for q in (ID_NUMBER, MOBILE, "P000001", "C000001"):
        html = search(client, users["agent_js"], q).content.decode()
        assert 'data-testid="no-results"' in html, q
        assert "C000001" not in html and ID_NUMBER not in html and MOBILE not in html
    html = search(client, users["agent"], JS_ID_NUMBER).content.decode()
    assert 'data-testid="no-results"' in html
    # The auditor sees every org unit.
    assert policy_url("P000002") in search(client, users["auditor"], JS_ID_NUMBER).content.decode()


def test_search_finds_nothing_for_a_partial_number(client, users, gd_customer):
    html = search(client, users["agent"], MOBILE[:7]).content.decode()
    assert 'data-testid="no-results"' in html


def test_search_keeps_numbers_out_of_the_url(client, users, gd_customer):
    response = get(client, users["agent"], reverse("records:search") + f"?q={MOBILE}")
    assert response.status_code == 200
    assert customer_url() not in response.content.decode()  # GET shows the form only
    form = response.content.decode().split('data-testid="records-search"')[0].rsplit("<form", 1)[1]
    assert 'method="post"' in form


def test_search_htmx_answers_the_results_fragment(client, users, gd_customer):
    response = search(client, users["agent"], MOBILE, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="search-results"')
    assert "<html" not in html and customer_url() in html


def test_empty_search_is_an_error_not_a_listing(client, users, gd_customer):
    html = search(client, users["agent"], "   ").content.decode()
    assert "is-invalid" in html
    assert customer_url() not in html


# ---- the customer page -----------------------------------------------------------------------------


def test_customer_page_masks_personal_information(client, users, gd_customer):
    response = get(client, users["agent"], customer_url())
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    html = response.content.decode()
    for plain, masked in (
        (NAME, mask_name(NAME)),
        (ID_NUMBER, mask_id_number(ID_NUMBER)),
        (MOBILE, mask_phone(MOBILE)),
        (OTHER_PHONE, mask_phone(OTHER_PHONE)),
        (ADDRESS, mask_address(ADDRESS)),
        (EMAIL, mask_email(EMAIL)),
    ):
        assert plain not in html, plain
        assert masked in html, masked
    # Not masked: sex, birth date, contact preferences, policies, claims.
    assert "1960-01-02" in html
    assert "09:30–11:30" in html
    assert "客户住院" in html
    assert policy_url() in html
    assert "CL0001" in html


def test_customer_page_reads_in_chinese_by_default(client, users, gd_customer):
    html = get(client, users["agent"], customer_url()).content.decode()
    assert '<html lang="zh-hans">' in html
    for text in ("个人信息", "联系偏好", "勿扰", "保单", "赔案", "时间线", "查看明文", "居民身份证", "男"):
        assert text in html, text
    english = get(client, users["agent"], customer_url(), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Personal information" in english and "Timeline" in english


def test_customer_page_shows_do_not_call_and_declined_e_callback(client, users, gd_customer):
    html = get(client, users["agent"], customer_url()).content.decode()
    dnc = html.split('data-testid="do-not-call"')[1].split("</dd>")[0]
    assert "勿扰" in dnc and "客户住院" in dnc and gd_customer.do_not_call_until.isoformat() in dnc
    assert "已拒绝" in html  # declined the electronic callback
    Customer.objects.filter(pk=gd_customer.pk).update(do_not_call_until=date(2020, 1, 1))
    dnc = get(client, users["agent"], customer_url()).content.decode().split('data-testid="do-not-call"')[1]
    assert "bg-red-lt" not in dnc.split("</dd>")[0] and "2020-01-01" in dnc


def test_customer_page_lists_consents(client, users, gd_customer):
    gd_customer.consents.create(
        kind="recording", granted=True, recorded_at=timezone.now(), channel="电话", note="来电录音告知"
    )
    html = get(client, users["agent"], customer_url()).content.decode()
    consents = html.split('data-testid="consents"')[1].split("</ul>")[0]
    assert "通话录音" in consents and "来电录音告知" in consents


def test_customer_page_shows_policies_as_applicant_and_as_insured(client, users, gd_customer):
    RecordsFeed("policies").upsert(
        [
            (
                1,
                policy_values(
                    3,
                    applicant_no="C000003",
                    applicant_name="张小宝",
                    insured_no="C000001",
                    insured_name=NAME,
                    insured_id_type="resident_id",
                    insured_id_number=ID_NUMBER,
                    insured_birth_date=date(1960, 1, 2),
                    insured_mobile=MOBILE,
                ),
            )
        ]
    )
    html = get(client, users["agent"], customer_url()).content.decode()
    table = html.split('data-testid="policy-table"')[1].split("</table>")[0]
    assert policy_url("P000001") in table and policy_url("P000003") in table
    assert "被保险人" in table.split(policy_url("P000003"))[1]


def test_customer_page_hides_policies_outside_the_users_scope(client, users, gd_customer):
    # The same customer also holds a policy sold in 江苏.
    RecordsFeed("policies").upsert([(1, gd_policy(9, org_unit="NJ"))])
    Customer.objects.filter(pk=gd_customer.pk).update(org_unit=gd_customer.org_unit)
    html = get(client, users["agent"], customer_url()).content.decode()
    assert policy_url("P000009") not in html
    assert policy_url("P000009") in get(client, users["auditor"], customer_url()).content.decode()


def test_missing_and_out_of_scope_customers_look_the_same(client, users, gd_customer, js_customer):
    missing = get(client, users["agent"], customer_url("C999999"))
    foreign = get(client, users["agent"], customer_url("C000002"))
    assert missing.status_code == foreign.status_code == 404
    assert comparable(missing, customer_url("C999999")) == comparable(foreign, customer_url("C000002"))


# ---- the policy page -------------------------------------------------------------------------------


def test_policy_page_shows_derived_facts_with_their_rules(client, users, gd_customer):
    html = get(client, users["agent"], policy_url()).content.decode()
    facts = html.split('data-testid="derived-facts"')[1].split("</ul>")[0]

    def fact(field):
        return facts.split(f'data-fact="{field}"')[1].split("</li>")[0]

    # CO-03: receipt 2026-02-05 + 15 days, counted from the day after.
    assert "犹豫期截止" in fact("cooling_off_end")
    assert "2026-02-20" in fact("cooling_off_end") and "CO-03" in fact("cooling_off_end")
    assert "需双录" in fact("recording_required") and "RC-04" in fact("recording_required")
    assert ">是<" in fact("recording_required")
    assert "投保人年龄" in fact("applicant_age") and ">66<" in fact("applicant_age")
    assert "RC-04" in fact("applicant_age")
    assert "BS-12" in fact("is_long_term")
    assert "CO-01/CO-02/CO-03" in fact("cooling_off_days") and ">15<" in fact("cooling_off_days")
    # The explanation is translated too.
    assert "自签收次日起算" in fact("cooling_off_end")


def test_policy_page_contract_parties_claims_and_events(client, users, gd_customer):
    response = get(client, users["agent"], policy_url())
    assert response.status_code == 200
    html = response.content.decode()
    for text in (
        "鑫福终身寿险",
        "银保",
        "10000.00",
        "期缴",
        "年交",
        "2026-02-01",
        "2026-02-05",
        "广州中心支公司",
    ):
        assert text in html, text
    salesperson = html.split('data-testid="salesperson"')[1].split("</dd>")[0]
    assert "李业务" in salesperson and "S001" in salesperson and "在职" in salesperson
    parties = html.split('data-testid="parties"')[1].split("</dl>")[0]
    assert customer_url() in parties and mask_name(NAME) in parties and mask_phone(MOBILE) in parties
    assert "CL0001" in html and "4800.00" in html
    events = html.split('data-testid="events"')[1].split("</table>")[0]
    assert "E0001" in events and "变更缴费账户" in events and "E0002" in events
    assert events.index("E0002") < events.index("E0001")  # newest first
    # The lapse event was applied: the status moved.
    assert Policy.objects.get(policy_no="P000001").status == "lapsed"
    assert "失效" in html


def test_policy_page_masks_personal_information(client, users, gd_customer):
    html = get(client, users["auditor"], policy_url()).content.decode()
    for plain in (NAME, ID_NUMBER, MOBILE, ADDRESS):
        assert plain not in html
    assert mask_name(NAME) in html and mask_phone(MOBILE) in html


def test_missing_and_out_of_scope_policies_look_the_same(client, users, gd_customer, js_customer):
    missing = get(client, users["agent"], policy_url("P999999"))
    foreign = get(client, users["agent"], policy_url("P000002"))
    assert missing.status_code == foreign.status_code == 404
    assert comparable(missing, policy_url("P999999")) == comparable(foreign, policy_url("P000002"))


def test_every_derived_fact_explanation_is_translated():
    from django.utils import translation

    from huifang.records.derive import DERIVED_FACTS
    from huifang.records.selectors_web import policy_derived_facts

    policy = Policy(applicant_age=66, is_long_term=True, recording_required=True, cooling_off_days=15)
    with translation.override("zh-hans"):
        rows = policy_derived_facts(policy)
    assert [r.field for r in rows] == [f.field for f in DERIVED_FACTS]
    for row, fact in zip(rows, DERIVED_FACTS, strict=True):
        assert row.explanation != fact.explanation, fact.field
        assert row.label and row.rule == fact.rule


# ---- per-role matrix -------------------------------------------------------------------------------

# Everyone with Cap.VIEW_RECORDS opens the pages; the 江苏 agent does not see 广东 records (404),
# a user without a role gets 403.
EXPECTED = {
    "agent": 200,
    "supervisor": 200,
    "problem_handler": 200,
    "complaint_handler": 200,
    "qa_inspector": 200,
    "auditor": 200,
    "admin": 200,
    "agent_js": 404,
    "norole": 403,
}


@pytest.mark.parametrize("role", ROLES)
def test_role_matrix(client, users, gd_customer, role):
    user = users[role]
    client.force_login(user)
    before = AuditEvent.objects.count()
    search_page = client.get(reverse("records:search"))
    search_post = client.post(reverse("records:search"), {"q": ID_NUMBER})
    customer_page = client.get(customer_url())
    policy_page = client.get(policy_url())
    expected = EXPECTED[role]
    assert customer_page.status_code == expected
    assert policy_page.status_code == expected
    assert search_page.status_code == search_post.status_code == (403 if role == "norole" else 200)
    if expected == 200:
        assert customer_url() in search_post.content.decode()
    elif role == "agent_js":
        assert customer_url() not in search_post.content.decode()
    assert AuditEvent.objects.count() == before  # reading writes nothing


@pytest.mark.parametrize("role", ROLES)
def test_reveal_button_only_for_holders_of_reveal_pii(client, users, gd_customer, role):
    if EXPECTED[role] != 200:
        return
    html = get(client, users[role], customer_url()).content.decode()
    has_button = 'class="pii-reveal' in html
    assert has_button == (role not in {"qa_inspector", "auditor"})


@pytest.mark.parametrize(
    "url",
    [
        "/records/",
        "/records/customers/C000001/",
        "/records/policies/P000001/",
    ],
)
def test_anonymous_is_sent_to_the_login_page(client, gd_customer, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_anonymous_reveal_is_sent_to_the_login_page(client, gd_customer):
    before = AuditEvent.objects.count()
    response = client.post("/records/customers/C000001/reveal/mobile/", {"reason": "客户来电核实"})
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert AuditEvent.objects.count() == before


def test_pages_refuse_other_methods(client, users, gd_customer):
    client.force_login(users["agent"])
    assert client.post(customer_url()).status_code == 405
    assert client.post(policy_url()).status_code == 405
    assert client.delete(reverse("records:search")).status_code == 405
