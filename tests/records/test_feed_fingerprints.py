"""The customer and policy feeds agree on what a customer is, write nothing for what did not
change (no MAC, no encryption), and a policy does not move its customer between org units."""

from datetime import date, time

import pytest
from django.apps import apps as django_apps

from huifang.core.crypto import blind_index as blind_index_module
from huifang.core.crypto import cipher
from huifang.records import services
from huifang.records.models import Customer, Policy
from huifang.records.schema import (
    CellError,
    header_map,
    p_date,
    p_int,
    p_mobile,
    row_validator,
    validate_row,
)
from huifang.records.services import RecordsFeed
from tests.records.conftest import policy_values

pytestmark = pytest.mark.django_db


def customer_values(n=1, **over):
    """The customer feed's row for the applicant of ``policy_values(n)``."""
    p = policy_values(n)
    values = {
        "customer_no": p["applicant_no"],
        "name": p["applicant_name"],
        "id_type": p["applicant_id_type"],
        "id_number": p["applicant_id_number"],
        "birth_date": p["applicant_birth_date"],
        "sex": p["applicant_sex"],
        "mobile": p["applicant_mobile"],
        "address": p["applicant_address"],
        "org_unit": "GZ",
    }
    values.update(over)
    return values


def stored(customer_no):
    return Customer.objects.values("source_hash", "contact_hash", "updated_at", "org_unit__code").get(
        customer_no=customer_no
    )


def test_the_customer_feed_and_the_policy_feed_compute_the_same_identity(products):
    RecordsFeed("customers").upsert([(1, customer_values(1))])
    before = stored("C000001")
    outcome = RecordsFeed("policies").upsert([(1, policy_values(1))])
    assert outcome.summary["created"] == 1
    after = stored("C000001")
    assert after == before  # the customer was not rewritten by the policy
    # and the customer feed, sent again, finds nothing changed either (no flip-flop)
    again = RecordsFeed("customers").upsert([(1, customer_values(1))])
    assert again.summary == {"created": 0, "updated": 0, "unchanged": 1, "rejected": 0}
    assert stored("C000001") == before


def test_a_policy_does_not_move_its_customer_to_another_org_unit(products):
    RecordsFeed("customers").upsert([(1, customer_values(1, org_unit="GZ"))])
    RecordsFeed("policies").upsert([(1, policy_values(1, org_unit="NJ"))])
    assert stored("C000001")["org_unit__code"] == "GZ"
    assert Policy.objects.get(policy_no="P000001").org_unit.code == "NJ"
    # a changed identity is written, the org unit still stays
    RecordsFeed("policies").upsert(
        [(1, policy_values(1, org_unit="NJ", applicant_address="南京市鼓楼区1号"))]
    )
    customer = Customer.objects.select_related("org_unit").get(customer_no="C000001")
    assert customer.address == "南京市鼓楼区1号" and customer.org_unit.code == "GZ"
    # the customer feed is what moves a customer
    RecordsFeed("customers").upsert([(1, customer_values(1, org_unit="SZ", address="南京市鼓楼区1号"))])
    assert stored("C000001")["org_unit__code"] == "SZ"


def test_a_new_customer_starts_in_the_org_unit_of_its_policy(products):
    RecordsFeed("policies").upsert([(1, policy_values(1, org_unit="NJ"))])
    assert stored("C000001")["org_unit__code"] == "NJ"
    # the customer feed sending what the policy created (same org, no preferences) changes nothing
    again = RecordsFeed("customers").upsert([(1, customer_values(1, org_unit="NJ"))])
    assert again.summary["unchanged"] == 1


def test_contact_preferences_changed_by_the_customer_feed_are_a_change(products):
    RecordsFeed("customers").upsert([(1, customer_values(1))])
    changed = RecordsFeed("customers").upsert(
        [(1, customer_values(1, do_not_call_reason="投诉后要求", do_not_call_until=date(2026, 12, 31)))]
    )
    assert changed.summary["updated"] == 1
    window = RecordsFeed("customers").upsert(
        [
            (
                1,
                customer_values(
                    1,
                    do_not_call_reason="投诉后要求",
                    do_not_call_until=date(2026, 12, 31),
                    contact_window_start=time(9),
                ),
            )
        ]
    )
    assert window.summary["updated"] == 1
    customer = Customer.objects.get(customer_no="C000001")
    assert customer.do_not_call_reason == "投诉后要求" and customer.contact_window_start == time(9)
    # a policy naming the customer keeps the preferences
    RecordsFeed("policies").upsert([(1, policy_values(1, applicant_mobile="13900001111"))])
    customer.refresh_from_db()
    assert customer.mobile == "13900001111" and customer.do_not_call_reason == "投诉后要求"


def test_unchanged_records_cost_no_encryption_and_no_blind_index(products, monkeypatch):
    rows = [(i, policy_values(i)) for i in range(1, 6)]
    RecordsFeed("policies").upsert(rows)
    calls = {"encrypt": 0, "blind_index": 0}

    def counting(name, real):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return real(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(cipher, "encrypt_str", counting("encrypt", cipher.encrypt_str))
    monkeypatch.setattr(services, "blind_index", counting("blind_index", blind_index_module.blind_index))
    again = RecordsFeed("policies").upsert(rows)
    assert again.summary["unchanged"] == 5
    assert calls == {"encrypt": 0, "blind_index": 0}
    # one changed applicant: its blind indexes and encryption, nobody else's
    changed = RecordsFeed("policies").upsert(
        [(1, policy_values(1, applicant_mobile="13900001111"))] + rows[1:]
    )
    assert changed.summary == {"created": 0, "updated": 1, "unchanged": 4, "rejected": 0}
    assert calls["blind_index"] == 2  # ID number and mobile of the one customer
    assert calls["encrypt"] >= 1


def test_a_batch_of_policies_takes_a_fixed_number_of_queries(products, django_assert_max_num_queries):
    rows = [(i, policy_values(i)) for i in range(1, 201)]
    feed = RecordsFeed("policies", job_id=None)
    feed.refs.org_unit(["GZ"])
    feed.refs.product(["LIFE20"])
    with django_assert_max_num_queries(20):  # not one per row
        outcome = feed.upsert(rows)
    assert outcome.summary["created"] == 200
    with django_assert_max_num_queries(6):  # nothing changed: lookups only, no writes
        again = feed.upsert(rows)
    assert again.summary["unchanged"] == 200


def test_the_migration_recomputes_stored_fingerprints_so_nothing_looks_changed(products):
    import importlib

    migration = importlib.import_module("huifang.records.migrations.0002_import_fingerprints_and_indexes")
    RecordsFeed("customers").upsert([(1, customer_values(1, email="a@example.com"))])
    RecordsFeed("policies").upsert([(1, policy_values(1)), (2, policy_values(2))])
    # as an older version stored them
    Customer.objects.update(source_hash="old", contact_hash="")
    Policy.objects.update(source_hash="old")
    migration.recompute(django_apps, None)
    assert (
        RecordsFeed("policies").upsert([(1, policy_values(1)), (2, policy_values(2))]).summary["unchanged"]
        == 2
    )
    assert (
        RecordsFeed("customers").upsert([(1, customer_values(1, email="a@example.com"))]).summary["unchanged"]
        == 1
    )


@pytest.mark.parametrize(
    ("parse", "raw", "expected"),
    [
        (p_date, "2026-02-01", date(2026, 2, 1)),
        (p_date, "2026-2-1", date(2026, 2, 1)),
        (p_date, "20260201", date(2026, 2, 1)),
        (p_date, " 2026-02-01 ", date(2026, 2, 1)),
        (p_date, "２０２６-02-01", date(2026, 2, 1)),
        (p_date, "2026-02-30", CellError),
        (p_date, "2026-02-3x", CellError),
        (p_int, "0012", 12),
        (p_int, "12", 12),
        (p_int, "99999", CellError),
        (p_int, "１２", 12),
        (p_mobile, "13812341234", "13812341234"),
        (p_mobile, "23812341234", CellError),
        (p_mobile, "+86 138-1234-1234", "13812341234"),
        (p_mobile, "１３８１２３４１２３４", CellError),
    ],
)
def test_fast_paths_of_the_parsers_agree_with_the_general_ones(parse, raw, expected):
    if expected is CellError:
        with pytest.raises(CellError):
            parse(raw)
    else:
        assert parse(raw) == expected


def test_the_file_validator_gives_what_validate_row_gives():
    from tests.records.test_schema import policy_row

    for over in ({}, {"insured_no": "C1", "insured_name": "张三"}, {"premium": "abc", "channel": "火星"}):
        raw = policy_row(**over)
        columns = list(reversed(raw))  # any column order
        mapping, _problems = header_map("policies", columns)
        by_file = row_validator("policies", mapping)([raw[c] for c in columns], 7)
        by_dict = validate_row("policies", raw, 7)
        assert (by_file.values, by_file.errors) == (by_dict.values, by_dict.errors)


def test_an_insured_who_is_the_applicant_gets_the_same_clean_values_and_the_same_errors():
    from tests.records.test_schema import policy_row

    same = {
        "insured_no": "C1",
        "insured_name": "张三",
        "insured_id_number": policy_row()["applicant_id_number"],
        "insured_mobile": policy_row()["applicant_mobile"],
    }
    r = validate_row("policies", policy_row(**same))
    assert r.ok, r.errors
    for f in ("no", "name", "id_number", "mobile", "birth_date", "sex", "id_type"):
        assert r.values[f"insured_{f}"] == r.values[f"applicant_{f}"]
    assert r.values["insured_mobile"] == "13812341234" and r.values["insured_sex"] == "M"
    bad = validate_row("policies", policy_row(**same | {"applicant_mobile": "123", "insured_mobile": "123"}))
    assert [c for c, _reason in bad.errors] == ["applicant_mobile", "insured_mobile"]
