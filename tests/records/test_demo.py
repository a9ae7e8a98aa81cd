import io
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from huifang.core.audit.models import AuditEvent
from huifang.core.management.commands.demo import demo_builders
from huifang.org.demo import demo_org_load
from huifang.records import demo, demo_data
from huifang.records.idnumbers import resident_id_parse
from huifang.records.models import (
    Channel,
    Claim,
    Customer,
    Policy,
    PolicyEvent,
    PolicyStatus,
    Product,
    Salesperson,
)

pytestmark = pytest.mark.django_db

REGIONS = {"GZ": "440104", "SZ": "440304", "NJ": "320102", "SUZ": "320505"}


@pytest.fixture
def org(db):
    demo_org_load()


def load(policies, **options):
    out = io.StringIO()
    totals = demo.demo_load(out, policies=policies, **options)
    return out.getvalue(), totals


def test_records_demo_runs_after_the_org_demo():
    orders = {dotted: order for order, dotted in demo_builders()}
    assert orders["huifang.records.demo.demo_load"] == 20
    assert orders["huifang.org.demo.demo_load"] < 20


def test_small_demo_covers_every_channel_with_valid_encrypted_customers(org):
    output, _totals = load(30)
    assert "policies 30 created" in output
    policies = Policy.objects.select_related("applicant", "insured", "product")
    assert policies.count() == 30
    assert {p.channel for p in policies} == set(Channel.values)
    assert len({p.product_id for p in policies}) >= 5
    assert Product.objects.count() >= 8
    for p in policies:
        for person in (p.applicant, p.insured):
            assert person.org_unit_id == p.org_unit_id
            if person.id_type != "resident_id":
                assert p.channel == "group" and person is p.applicant  # the employer
                continue
            number, birth, sex = resident_id_parse(person.id_number)  # raises on a bad checksum
            assert (birth, sex) == (person.birth_date, person.sex)
            assert number[:6] == REGIONS[p.org_unit.code]
            assert not person.mobile or person.mobile[:2] in ("13", "15", "18")
            assert person.address.startswith(("广东省广州市", "广东省深圳市", "江苏省南京市", "江苏省苏州市"))
            assert (
                person.address[3:6]
                == {"GZ": "广州市", "SZ": "深圳市", "NJ": "南京市", "SUZ": "苏州市"}[p.org_unit.code]
            )
    with connection.cursor() as cur:
        cur.execute("SELECT name, id_number, mobile, address FROM records_customer")
        stored = cur.fetchall()
    names = set(Customer.objects.values_list("name", flat=True))
    for row in stored:
        assert all(value.startswith("hf1:") for value in row if value)
        assert row[0] not in names


def test_second_run_changes_nothing_and_says_already_present(org):
    load(30)
    counts = [m.objects.count() for m in (Customer, Policy, Claim, PolicyEvent, Salesperson, Product)]
    audit = AuditEvent.objects.count()
    stamps = list(Policy.objects.order_by("pk").values_list("updated_at", "status"))
    output, totals = load(30)
    assert "already present" in output
    assert not [key for key, n in totals.items() if key[1] in ("created", "updated") and n]
    assert [m.objects.count() for m in (Customer, Policy, Claim, PolicyEvent, Salesperson, Product)] == counts
    assert AuditEvent.objects.count() == audit
    assert list(Policy.objects.order_by("pk").values_list("updated_at", "status")) == stamps


def test_more_policies_later_adds_only_the_new_ones(org, time_machine):
    load(20)
    time_machine.move_to(timezone.now() + timedelta(days=9))  # the anchor day is kept
    _output, totals = load(30)
    assert totals[("policies", "created")] == 10
    assert totals[("policies", "unchanged")] == 20
    assert totals[("salespeople", "updated")] == totals[("products", "updated")] == 0


def test_default_demo_has_the_cases_the_rules_need(org):
    load(demo.DEFAULT_POLICIES)
    today = timezone.localdate()
    policies = Policy.objects.all()
    statuses = Counter(policies.values_list("status", flat=True))
    assert statuses[PolicyStatus.IN_FORCE] > 150
    for status in (PolicyStatus.CANCELLED_COOLING_OFF, PolicyStatus.SURRENDERED, PolicyStatus.LAPSED):
        assert statuses[status] >= 1, status
    assert policies.filter(status=PolicyStatus.IN_FORCE, cooling_off_end__gte=today).count() >= 20
    assert policies.filter(receipt_date__isnull=True).exists()  # issued, awaiting the receipt
    receipts = [
        d for d in policies.values_list("receipt_date", flat=True) if d and d >= today - timedelta(60)
    ]
    assert len(receipts) > 120
    assert policies.filter(applicant_age__gte=60, applicant_age__lte=75).count() >= 10  # RC-04
    assert policies.filter(applicant_age__gte=65, product__high_risk=True).exists()  # CB-06
    assert policies.filter(recording_required=True, sale_recorded=False).exists()
    assert {"single", "regular"} <= set(policies.values_list("payment_mode", flat=True))
    assert {0, 1} <= set(policies.values_list("term_years", flat=True))  # whole life, one year
    assert set(Product.objects.values_list("kind", flat=True)) == {
        "traditional",
        "participating",
        "universal",
        "investment_linked",
        "health",
    }
    assert Product.objects.filter(line="health", term_type="long", cooling_off_days__gte=15).exists()
    assert Salesperson.objects.filter(status="departed").count() >= 3
    kinds = set(PolicyEvent.objects.values_list("kind", flat=True))
    assert {"cooling_off_cancel", "surrender", "lapse", "service_requested", "salesperson_departed"} <= kinds
    assert not PolicyEvent.objects.filter(applied_at__isnull=True).exists()
    assert Claim.objects.filter(status="closed", closed_on__gte=today - timedelta(days=10)).exists()
    sold = policies.select_related("salesperson").exclude(salesperson=None)
    assert all(p.salesperson.org_unit_id == p.org_unit_id for p in sold)
    assert all(p.salesperson.channel == p.channel for p in sold)


def test_generator_is_deterministic_and_prefix_stable():
    anchor = timezone.localdate()
    a = demo_data.PolicyGenerator(7, anchor).rows(40)
    b = demo_data.PolicyGenerator(7, anchor).rows(15)
    assert [g.values for g in a[:15]] == [g.values for g in b]
    assert [g.values for g in demo_data.PolicyGenerator(8, anchor).rows(5)] != [g.values for g in a[:5]]
