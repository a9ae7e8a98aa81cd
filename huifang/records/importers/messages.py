"""Import messages for people: the English reasons the validator, the feed and the readers write
(stored as they are, and answered as they are by the API) shown in the user's language.

Each stored message is matched against a pattern; its variable parts (a row number, a value, a
column list) are kept and put into the translated sentence. A message no pattern knows is shown
unchanged.
"""

import re

from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from huifang.records.models import ImportJob
from huifang.records.schema import KINDS_COLUMNS

KIND_LABELS = {
    "customers": pgettext_lazy("record kind", "Customers"),
    "products": pgettext_lazy("record kind", "Products"),
    "salespeople": pgettext_lazy("record kind", "Salespeople"),
    "policies": pgettext_lazy("record kind", "Policies"),
    "claims": pgettext_lazy("record kind", "Claims"),
    "events": pgettext_lazy("record kind", "Policy events (保全, cancellation, lapse)"),
}

_PATTERNS = [
    (r"required", _("required")),
    (r"longer than (?P<n>\d+) characters", _("longer than %(n)s characters")),
    (r"not a date: (?P<v>.*) \(use YYYY-MM-DD\)", _("not a date: %(v)s (use YYYY-MM-DD)")),
    (r"not a time of day: (?P<v>.*) \(use HH:MM\)", _("not a time of day: %(v)s (use HH:MM)")),
    (r"not a number: (?P<v>.*)", _("not a number: %(v)s")),
    (r"must be a non-negative number: (?P<v>.*)", _("must be a non-negative number: %(v)s")),
    (r"not a whole number: (?P<v>.*)", _("not a whole number: %(v)s")),
    (r"too large: (?P<v>.*) \(at most (?P<max>.*)\)", _("too large: %(v)s (at most %(max)s)")),
    (r"contains a NUL character", _("contains a NUL character")),
    (r"out of range: (?P<v>.*)", _("out of range: %(v)s")),
    (r"not yes/no: (?P<v>.*) \(use 是/否 or 1/0\)", _("not yes/no: %(v)s (use 是/否 or 1/0)")),
    (r"unknown value (?P<v>.*); allowed: (?P<allowed>.*)", _("unknown value %(v)s; allowed: %(allowed)s")),
    (
        r"mobile number must have 11 digits starting with 1",
        _("mobile number must have 11 digits starting with 1"),
    ),
    (r"not a phone number: (?P<v>.*)", _("not a phone number: %(v)s")),
    (
        r"resident ID must have 18 characters, got (?P<n>\d+)",
        _("resident ID must have 18 characters, got %(n)s"),
    ),
    (
        r"resident ID must be 17 digits followed by a digit or X",
        _("resident ID must be 17 digits followed by a digit or X"),
    ),
    (
        r"resident ID holds an impossible birth date (?P<v>.*)",
        _("resident ID holds an impossible birth date"),
    ),
    (
        r"resident ID checksum does not match \(GB 11643\)",
        _("resident ID checksum does not match (GB 11643)"),
    ),
    (
        r"does not match the birth date in the resident ID",
        _("does not match the birth date in the resident ID"),
    ),
    (r"required when insured_no is given", _("required when the insured's customer number is given")),
    (r"earlier than the application date", _("earlier than the application date")),
    (r"required for a departed salesperson", _("required for a departed salesperson")),
    (
        r"long-term health insurance needs at least 15 days \(CO-01\)",
        _("long-term health insurance needs at least 15 days (CO-01)"),
    ),
    (r"required for a closed claim", _("required for a closed claim")),
    (r"unknown org unit (?P<v>.*)", _("unknown org unit %(v)s")),
    (r"unknown product (?P<v>.*)", _("unknown product %(v)s")),
    (r"unknown salesperson (?P<v>.*)", _("unknown salesperson %(v)s")),
    (r"unknown policy (?P<v>.*)", _("unknown policy %(v)s")),
    (r"unknown customer (?P<v>.*)", _("unknown customer %(v)s")),
    (r"duplicate of row (?P<n>\d+) in this (?:file|batch)", _("duplicate of row %(n)s in this file")),
    # whole-file problems
    (r"missing required columns: (?P<columns>.*)", _("missing required columns: %(columns)s")),
    (r"unknown column (?P<v>.*) ignored", _("unknown column %(v)s ignored")),
    (
        r"column (?P<v>.*) appears twice; the first is used",
        _("column %(v)s appears twice; the first is used"),
    ),
    (r"the file is empty", _("the file is empty")),
    (
        r"the file is in the old Excel format \(\.xls\); save it as \.xlsx or CSV and upload it again",
        _("the file is in the old Excel format (.xls); save it as .xlsx or CSV and upload it again"),
    ),
    (
        r"the file is named \.xlsx but is not an Excel workbook",
        _("the file is named .xlsx but is not an Excel workbook"),
    ),
    (
        r"the file is not a text \(CSV\) file: it contains NUL bytes",
        _("the file is not a text (CSV) file: it contains NUL bytes"),
    ),
    (r"the file is neither UTF-8 nor GB18030 text", _("the file is neither UTF-8 nor GB18030 text")),
    (
        r"the file is not a readable Excel workbook \((?P<v>.*)\)",
        _("the file is not a readable Excel workbook (%(v)s)"),
    ),
    (r"the workbook has no worksheet", _("the workbook has no worksheet")),
    (r"the workbook is damaged \((?P<v>.*)\)", _("the workbook is damaged (%(v)s)")),
    (
        r"the file changes encoding part-way through \((?P<v>.*)\)",
        _("the file changes encoding part-way through (%(v)s)"),
    ),
    (r"the file is not valid CSV \((?P<v>.*)\)", _("the file is not valid CSV (%(v)s)")),
    (r"the stored file is missing", _("the stored file is missing")),
]
_COMPILED = [(re.compile(f"^{pattern}$", re.DOTALL), message) for pattern, message in _PATTERNS]


def message_display(text: str) -> str:
    """A stored import message in the current language."""
    text = (text or "").strip()
    for pattern, message in _COMPILED:
        match = pattern.match(text)
        if match:
            return str(message) % match.groupdict()
    return text


def column_label(kind: str, column: str) -> str:
    """A column as people know it: its Chinese header with the English name (``保单号 policy_no``)."""
    for col in KINDS_COLUMNS.get(kind, ()):
        if col.name == column:
            return f"{col.zh} {col.name}"
    return column


def kind_label(kind: str) -> str:
    return str(KIND_LABELS.get(kind, kind))


def status_label(status: str) -> str:
    try:
        return str(ImportJob.Status(status).label)
    except ValueError:
        return status
