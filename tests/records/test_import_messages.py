"""Stored import messages (English, as the API answers them) are shown in Chinese on the pages and
in the report: every message the validator, the feed and the readers write has a translation."""

import pytest
from django.utils import translation

from huifang.records.importers.messages import column_label, kind_label, message_display
from huifang.records.importers.runner import safe_reason
from huifang.records.schema import header_map, validate_row
from tests.records.fixtures.importfiles import bad_checksum_id, policy_row

REASONS = [
    "required",
    "longer than 40 characters",
    "not a date: '2026-13-45' (use YYYY-MM-DD)",
    "not a time of day: '25:00' (use HH:MM)",
    "not a number: 'abc'",
    "must be a non-negative number: '-1'",
    "not a whole number: 'x'",
    "out of range: '99999'",
    "not yes/no: 'maybe' (use 是/否 or 1/0)",
    "unknown value 'bus'; allowed: agency, bank",
    "mobile number must have 11 digits starting with 1",
    "not a phone number: '12'",
    "resident ID must have 18 characters, got 17",
    "resident ID must be 17 digits followed by a digit or X",
    "resident ID holds an impossible birth date 19601332",
    "resident ID checksum does not match (GB 11643)",
    "does not match the birth date in the resident ID",
    "required when insured_no is given",
    "earlier than the application date",
    "required for a departed salesperson",
    "long-term health insurance needs at least 15 days (CO-01)",
    "required for a closed claim",
    "unknown org unit 'XX'",
    "unknown product 'NOPE'",
    "unknown salesperson 'S1'",
    "unknown policy 'P1'",
    "unknown customer 'C1'",
    "duplicate of row 2 in this file",
    "duplicate of row 2 in this batch",
    "missing required columns: premium (保费)",
    "unknown column '备注' ignored",
    "column '保单号' appears twice; the first is used",
    "the file is empty",
    "the file is in the old Excel format (.xls); save it as .xlsx or CSV and upload it again",
    "the file is named .xlsx but is not an Excel workbook",
    "the file is not a text (CSV) file: it contains NUL bytes",
    "the file is neither UTF-8 nor GB18030 text",
    "the file is not a readable Excel workbook (BadZipFile)",
    "the workbook has no worksheet",
    "the workbook is damaged (KeyError)",
    "the file changes encoding part-way through (illegal multibyte sequence)",
    "the file is not valid CSV (field larger than field limit (131072))",
    "the stored file is missing",
]


@pytest.mark.parametrize("reason", REASONS)
def test_every_known_message_reads_in_chinese_and_unchanged_in_english(reason):
    with translation.override("zh-hans"):
        shown = message_display(reason)
    assert shown != reason
    assert any("\u4e00" <= ch <= "\u9fff" for ch in shown), shown
    with translation.override("en"):
        english = message_display(reason)
    assert english == reason.replace("in this batch", "in this file").replace(
        "required when insured_no is given", "required when the insured's customer number is given"
    ).replace(" 19601332", "")


def test_values_and_row_numbers_are_kept_in_the_translation():
    with translation.override("zh-hans"):
        assert message_display("duplicate of row 17 in this file") == "与本文件第 17 行重复"
        assert message_display("unknown product 'NOPE'") == "产品代码不存在：'NOPE'"
        assert message_display("something new") == "something new"  # unknown: as it is
        assert kind_label("policies") == "保单"
    assert column_label("policies", "applicant_id_number") == "投保人证件号码 applicant_id_number"


def test_messages_the_validator_writes_today_are_all_known():
    rows = [
        policy_row(1, applicant_id_number=bad_checksum_id(1)),
        policy_row(2, application_date="2026-02-30", premium="-3", channel="bus"),
        policy_row(3, applicant_mobile="12345", payment_years="x", policy_no=""),
        policy_row(4, receipt_date="2026-01-01", applicant_id_number="44010419600102"),
    ]
    reasons = [r for row in rows for _c, r in validate_row("policies", row).errors]
    _mapping, problems = header_map("policies", ["保单号", "保单号", "备注"])
    assert len(reasons) >= 7
    with translation.override("zh-hans"):
        for message in reasons + problems:
            assert message_display(message) != message, message


def test_reasons_for_personal_columns_are_masked_before_they_are_stored():
    assert safe_reason("applicant_birth_date", "not a date: '1960-13-02' (use YYYY-MM-DD)") == (
        "not a date: '****' (use YYYY-MM-DD)"
    )
    assert safe_reason("insured_id_number", "resident ID holds an impossible birth date 19601332") == (
        "resident ID holds an impossible birth date ****"
    )
    assert safe_reason("other_phones", "not a phone number: '12'") == "not a phone number: '****'"
    assert safe_reason("premium", "not a number: 'abc'") == "not a number: 'abc'"  # not personal
    assert safe_reason("applicant_id_number", "resident ID checksum does not match (GB 11643)").endswith(
        "(GB 11643)"
    )
