"""The customer timeline (one list from every provider, newest first, scoped) and the query-count
bounds of the customer and policy pages."""

from datetime import date, datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from huifang.records import selectors_web
from huifang.records.idnumbers import resident_id_make
from huifang.records.models import Customer, Policy
from huifang.records.selectors_web import (
    TIMELINE_PROVIDERS,
    TimelineEntry,
    customer_timeline,
    records_timeline_entries,
    register_timeline_provider,
)
from huifang.records.services import RecordsFeed
from tests.records.test_views_pages import (
    MOBILE,
    NAME,
    feed,
    gd_policy,
    make_gd_customer,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def gd_customer(products):
    return make_gd_customer()


MAX_QUERIES = 15


def kinds_and_dates(entries):
    return [(e.kind, e.on) for e in entries]


def test_records_provider_is_registered():
    assert records_timeline_entries in TIMELINE_PROVIDERS


def test_timeline_holds_policies_claims_and_events_newest_first(users, gd_customer):
    entries = customer_timeline(gd_customer, users["agent"])
    assert kinds_and_dates(entries) == [
        ("policy_event.lapse", date(2026, 6, 15)),
        ("policy_event.service_requested", date(2026, 5, 1)),
        ("claim.closed", date(2026, 4, 1)),
        ("claim.reported", date(2026, 3, 10)),
        ("policy.receipt_signed", date(2026, 2, 5)),
        ("policy.issued", date(2026, 2, 3)),
        ("policy.applied", date(2026, 2, 1)),
    ]
    assert all(e.policy_no == "P000001" for e in entries)
    receipt = next(e for e in entries if e.kind == "policy.receipt_signed")
    assert "2026-02-20" in receipt.description and "CO-03" in receipt.description
    event = next(e for e in entries if e.kind == "policy_event.service_requested")
    assert event.description == "变更缴费账户"
    assert event.url == reverse("records:policy", args=["P000001"])


def test_timeline_merges_several_policies_in_date_order(users, products):
    customer = make_gd_customer(policies=3)
    dates = [e.on for e in customer_timeline(customer, users["agent"])]
    assert dates == sorted(dates, reverse=True)
    applied = [e.policy_no for e in customer_timeline(customer, users["agent"]) if e.kind == "policy.applied"]
    # P000001 applied 2026-02-01, P000003 2026-01-04, P000002 2026-01-03.
    assert applied == ["P000001", "P000003", "P000002"]


def test_timeline_entries_never_hold_plain_personal_information(users, gd_customer):
    for entry in customer_timeline(gd_customer, users["agent"]):
        text = f"{entry.label} {entry.description} {entry.policy_no}"
        assert NAME not in text and MOBILE not in text


def test_timeline_is_scoped_to_the_user(users, gd_customer):
    # The customer also holds a policy sold in 江苏.
    RecordsFeed("policies").upsert([(1, gd_policy(9, org_unit="NJ"))])
    Customer.objects.filter(pk=gd_customer.pk).update(org_unit=gd_customer.org_unit)
    agent = {e.policy_no for e in customer_timeline(gd_customer, users["agent"])}
    auditor = {
        e.policy_no for e in customer_timeline(Customer.objects.get(pk=gd_customer.pk), users["auditor"])
    }
    assert "P000009" not in agent
    assert "P000009" in auditor
    # Without a user (system use) everything is included.
    assert "P000009" in {e.policy_no for e in customer_timeline(Customer.objects.get(pk=gd_customer.pk))}


def test_claims_as_claimant_on_someone_elses_policy_are_on_the_timeline(users, gd_customer):
    other = {"applicant_no": "C000005", "applicant_name": "赵六", "applicant_mobile": "13700000005"}
    other["applicant_id_number"] = resident_id_make("440104", date(1960, 1, 2), 5)
    RecordsFeed("policies").upsert([(1, gd_policy(5, **other))])
    feed(
        "claims",
        [
            {
                "claim_no": "CL0005",
                "policy_no": "P000005",
                "claimant_no": "C000001",
                "reported_on": "2026-07-01",
            }
        ],
    )
    entries = customer_timeline(gd_customer, users["agent"])
    assert entries[0].kind == "claim.reported" and entries[0].policy_no == "P000005"
    assert "CL0005" in entries[0].description


@pytest.fixture
def extra_provider(monkeypatch):
    """A provider as a later app (callbacks, complaints) would register it."""
    monkeypatch.setattr(selectors_web, "TIMELINE_PROVIDERS", list(TIMELINE_PROVIDERS))
    moment = timezone.make_aware(datetime(2026, 5, 1, 10, 30))

    def callbacks(customer, user):
        return [
            TimelineEntry(date(2026, 2, 8), "callback.completed", "回访成功", "新契约回访", "P000001"),
            TimelineEntry(date(2026, 5, 1), "complaint.received", "投诉受理", "", "", at=moment),
        ]

    assert register_timeline_provider(callbacks) is callbacks
    register_timeline_provider(callbacks)  # twice: still once
    assert selectors_web.TIMELINE_PROVIDERS.count(callbacks) == 1
    return callbacks


def test_entries_of_other_providers_join_the_one_timeline(users, gd_customer, extra_provider):
    kinds = [e.kind for e in selectors_web.customer_timeline(gd_customer, users["agent"])]
    assert kinds == [
        "policy_event.lapse",
        "complaint.received",  # 2026-05-01 10:30 is later that day than an entry without a time
        "policy_event.service_requested",
        "claim.closed",
        "claim.reported",
        "callback.completed",
        "policy.receipt_signed",
        "policy.issued",
        "policy.applied",
    ]


def test_customer_page_shows_the_timeline_in_order(client, users, gd_customer, extra_provider):
    client.force_login(users["agent"])
    html = client.get(reverse("records:customer", args=["C000001"])).content.decode()
    timeline = html.split('data-testid="timeline"')[1].split("</table>")[0]
    order = [
        timeline.index(f'data-kind="{kind}"')
        for kind in ("policy_event.lapse", "callback.completed", "policy.applied")
    ]
    assert order == sorted(order)
    assert "回访成功" in timeline and "保全申请" in timeline


# ---- query counts ------------------------------------------------------------------------------------


@pytest.fixture
def busy_customer(products):
    """A customer with 20 policies, a claim and events."""
    customer = make_gd_customer(policies=20)
    assert Policy.objects.filter(applicant=customer).count() == 20
    return customer


@pytest.mark.parametrize("role", ["agent", "auditor"])
def test_customer_page_uses_a_bounded_number_of_queries(
    client, users, busy_customer, django_assert_max_num_queries, role
):
    client.force_login(users[role])
    url = reverse("records:customer", args=["C000001"])
    with django_assert_max_num_queries(MAX_QUERIES):
        response = client.get(url)
    assert response.status_code == 200
    assert response.content.decode().count('href="/records/policies/P0000') >= 20


def test_customer_page_queries_do_not_grow_with_policies(client, users, products, django_assert_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    make_gd_customer(policies=2)
    client.force_login(users["agent"])
    url = reverse("records:customer", args=["C000001"])
    client.get(url)  # warm the session and permission caches alike for both runs
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    RecordsFeed("policies").upsert([(n, gd_policy(n)) for n in range(3, 21)])
    with CaptureQueriesContext(connection) as many:
        client.get(url)
    assert len(many) == len(few)


def test_policy_page_uses_a_bounded_number_of_queries(
    client, users, busy_customer, django_assert_max_num_queries
):
    client.force_login(users["agent"])
    url = reverse("records:policy", args=["P000001"])
    with django_assert_max_num_queries(MAX_QUERIES):
        response = client.get(url)
    assert response.status_code == 200


def test_search_uses_a_bounded_number_of_queries(client, users, busy_customer, django_assert_max_num_queries):
    client.force_login(users["agent"])
    with django_assert_max_num_queries(MAX_QUERIES):
        response = client.post(reverse("records:search"), {"q": MOBILE})
    assert response.content.decode().count('href="/records/policies/P0000') == 20
