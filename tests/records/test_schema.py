from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from huifang.records.idnumbers import InvalidIdNumber, resident_id_make, resident_id_parse
from huifang.records.schema import header_map, validate_row

GOOD_ID = resident_id_make("110101", date(1990, 3, 7), 123)


def policy_row(**over):
    row = {
        "policy_no": "P0001",
        "product_code": "LIFE20",
        "channel": "银保",
        "org_unit": "GZ",
        "premium": "12,000.00",
        "payment_mode": "期缴",
        "payment_years": "10",
        "payment_frequency": "年缴",
        "term_years": "20",
        "application_date": "2026-02-01",
        "receipt_date": "2026/02/05",
        "applicant_no": "C1",
        "applicant_name": "张三",
        "applicant_id_number": GOOD_ID,
        "applicant_mobile": "+86 138-1234-1234",
    }
    row.update(over)
    return row


def test_resident_id_checksum_birth_and_sex():
    number, birth, sex = resident_id_parse(GOOD_ID.lower())
    assert number == GOOD_ID and birth == date(1990, 3, 7) and sex == "M"  # 123 is odd → male
    bad = GOOD_ID[:-1] + ("0" if GOOD_ID[-1] != "0" else "1")
    with pytest.raises(InvalidIdNumber, match="checksum"):
        resident_id_parse(bad)
    with pytest.raises(InvalidIdNumber, match="18 characters"):
        resident_id_parse("1234")
    with pytest.raises(InvalidIdNumber, match="birth date"):
        resident_id_parse(resident_id_make("110101", date(1990, 1, 1), 1)[:10] + "1332" + "0011")


@given(st.dates(min_value=date(1920, 1, 1), max_value=date(2025, 12, 31)), st.integers(0, 999))
def test_generated_ids_always_validate(birth, seq):
    number, parsed_birth, sex = resident_id_parse(resident_id_make("440104", birth, seq))
    assert parsed_birth == birth and sex == ("M" if seq % 2 else "F")


def test_policy_row_cleans_values_and_derives_identity():
    r = validate_row("policies", policy_row(), 2)
    assert r.ok, r.errors
    v = r.values
    assert v["channel"] == "bank" and v["payment_mode"] == "regular" and v["payment_frequency"] == "annual"
    assert v["premium"] == Decimal("12000.00")
    assert v["receipt_date"] == date(2026, 2, 5)
    assert v["applicant_mobile"] == "13812341234"
    assert v["applicant_birth_date"] == date(1990, 3, 7) and v["applicant_sex"] == "M"


@pytest.mark.parametrize(
    ("over", "column", "reason"),
    [
        (
            {"applicant_id_number": GOOD_ID[:-1] + ("1" if GOOD_ID[-1] == "0" else "0")},
            "applicant_id_number",
            "checksum",
        ),
        ({"policy_no": ""}, "policy_no", "required"),
        ({"application_date": "2026-13-40"}, "application_date", "not a date"),
        ({"premium": "abc"}, "premium", "not a number"),
        ({"channel": "火星"}, "channel", "unknown value"),
        ({"applicant_mobile": "12345"}, "applicant_mobile", "11 digits"),
        ({"receipt_date": "2026-01-01"}, "receipt_date", "earlier than the application date"),
    ],
)
def test_bad_values_name_the_column_and_reason(over, column, reason):
    r = validate_row("policies", policy_row(**over), 7)
    assert not r.ok
    assert any(col == column and reason in msg for col, msg in r.errors), r.errors
    assert r.values == {}


def test_single_premium_forces_frequency():
    r = validate_row("policies", policy_row(payment_mode="趸交", payment_frequency="", payment_years=""), 2)
    assert r.values["payment_frequency"] == "single" and r.values["payment_years"] == 1


def test_headers_in_chinese_or_english_and_missing_required():
    mapping, problems = header_map("policies", ["\ufeff保单号", "product_code", "渠道", "备注"])
    names = {col.name for col in mapping.values()}
    assert {"policy_no", "product_code", "channel"} <= names
    assert problems[0].startswith("missing required columns")
    assert "premium (保费)" in problems[0]
    assert any("备注" in p for p in problems[1:])


def test_long_term_health_needs_15_days():
    r = validate_row(
        "products",
        {"code": "H1", "name": "安康", "line": "健康险", "kind": "健康", "cooling_off_days": "10"},
        2,
    )
    assert not r.ok and r.errors[0][0] == "cooling_off_days" and "CO-01" in r.errors[0][1]
