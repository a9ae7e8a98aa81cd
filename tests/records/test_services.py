from datetime import date

import pytest

from huifang.core.audit.models import AuditEvent
from huifang.core.crypto.blind_index import blind_index
from huifang.records.models import Customer, Policy, PolicyEvent, PolicyStatus
from huifang.records.services import RecordsFeed, policy_event_apply
from tests.records.conftest import policy_values

pytestmark = pytest.mark.django_db


def test_policy_upsert_derives_facts_and_encrypts(products):
    outcome = RecordsFeed("policies").upsert([(2, policy_values(1))])
    assert outcome.summary == {"created": 1, "updated": 0, "unchanged": 0, "rejected": 0}
    p = Policy.objects.select_related("applicant").get(policy_no="P000001")
    # CO-03: receipt 2026-02-05 + 15 days, counted from the day after = 2026-02-20
    assert p.cooling_off_end == date(2026, 2, 20)
    assert p.applicant_age == 66
    assert p.recording_required  # RC-04: bank channel, over one year
    assert p.is_long_term
    assert p.applicant.mobile == "13812341234"
    assert p.applicant.mobile_bidx == blind_index("138 1234 1234", "phone")
    raw = Customer.objects.filter(pk=p.applicant_id).values_list("mobile", flat=True)
    assert Customer.objects.filter(mobile_bidx=blind_index("13812341234", "phone")).count() == 1
    assert list(raw) == ["13812341234"]  # from_db_value decrypts; the column itself holds a token
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT mobile FROM records_customer WHERE id = %s", [p.applicant_id])
        stored = cur.fetchone()[0]
    assert stored.startswith("hf1:") and "1381234" not in stored


def test_same_payload_twice_changes_nothing_and_says_so(products):
    feed = RecordsFeed("policies")
    feed.upsert([(1, policy_values(1)), (2, policy_values(2))])
    events_before = AuditEvent.objects.count()
    again = RecordsFeed("policies").upsert([(1, policy_values(1)), (2, policy_values(2))])
    assert again.summary == {"created": 0, "updated": 0, "unchanged": 2, "rejected": 0}
    assert AuditEvent.objects.count() == events_before  # nothing written, nothing audited
    changed = RecordsFeed("policies").upsert([(1, policy_values(1, premium=20000))])
    assert changed.summary["updated"] == 1
    assert Policy.objects.get(policy_no="P000001").premium == 20000


def test_unknown_references_are_rejected_with_the_column(products):
    outcome = RecordsFeed("policies").upsert(
        [
            (1, policy_values(1, product_code="NOPE")),
            (2, policy_values(2, org_unit="XX")),
            (3, policy_values(3)),
        ]
    )
    by_index = {item.index: item for item in outcome.items}
    assert by_index[1].status == "rejected" and by_index[1].errors[0][0] == "product_code"
    assert by_index[2].status == "rejected" and by_index[2].errors[0][0] == "org_unit"
    assert by_index[3].status == "created"
    assert Policy.objects.count() == 1


def test_duplicate_key_in_one_batch_is_rejected(products):
    outcome = RecordsFeed("policies").upsert([(5, policy_values(1)), (9, policy_values(1, premium=1))])
    assert [i.status for i in outcome.items] == ["created", "rejected"]
    assert "duplicate of row 5" in outcome.items[1].errors[0][1]


def test_cooling_off_cancel_event_changes_status_with_audit(products):
    RecordsFeed("policies").upsert([(1, policy_values(1))])
    RecordsFeed("events").upsert(
        [
            (
                1,
                {
                    "event_no": "E1",
                    "policy_no": "P000001",
                    "kind": "cooling_off_cancel",
                    "event_date": date(2026, 2, 10),
                },
            )
        ]
    )
    p = Policy.objects.get(policy_no="P000001")
    assert p.status == PolicyStatus.CANCELLED_COOLING_OFF and p.termination_date == date(2026, 2, 10)
    ev = AuditEvent.objects.filter(event_type="policy.status_changed").get()
    assert ev.data["before"] == "in_force" and ev.data["after"] == "cancelled_cooling_off"
    # applying again is a no-op
    assert policy_event_apply(PolicyEvent.objects.get(event_no="E1")) is False
