"""Typed schemas of the records API: what the core system sends, and what reads answer.

Input schemas mirror the column specification in ``huifang.records.schema`` field by field (same
names, same required columns; tests keep them in step), so the OpenAPI document describes every
field. They only check the JSON shape — each field takes a JSON scalar or null — and *document*
the intended type; values (dates, choices, ID checksums, amounts) are validated by
``validate_row``, the code the file import uses, so a record gets the same answer and the same
message by either route. Choice fields take the code (``bank``) or its Chinese label (``银保``);
dates take ``YYYY-MM-DD`` (also ``YYYY/MM/DD`` and ``YYYYMMDD``).

Output schemas mask personal information (RULES.md PV-10): names 张*, ID numbers
110101********1234, phones 138****1234, addresses and e-mail partly hidden. Birth dates are not
returned (the masked ID number hides them on purpose); the applicant's age is a derived fact.
"""

from datetime import date, datetime, time
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal

from ninja import Field, Schema
from pydantic import ConfigDict, PlainValidator, WithJsonSchema, field_validator
from pydantic_core import PydanticCustomError

from huifang.core.api import ErrorOut, FieldError
from huifang.core.crypto.masking import mask_address, mask_email, mask_id_number, mask_name, mask_phone
from huifang.records.derive import DERIVED_FACTS
from huifang.records.schema import (
    CHANNELS,
    CLAIM_DECISIONS,
    CLAIM_STATUSES,
    EVENT_KINDS,
    FREQUENCIES,
    ID_TYPES,
    KINDS,
    KINDS_COLUMNS,
    LINES,
    MAX_AMOUNT,
    PAYMENT_MODES,
    POLICY_STATUSES,
    SALES_STATUSES,
    SEXES,
    TERM_TYPES,
)

# One request carries at most this many records; a larger batch is refused as a whole.
BATCH_LIMIT = 1000

# ---- input field types: any JSON scalar at runtime, the intended type in the OpenAPI document ----


def _scalar(value):
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise PydanticCustomError("scalar_type", "must be a string, a number, true/false or null")


def _scalar_or_list(value):
    if isinstance(value, list):
        return [_scalar(item) for item in value]
    return _scalar(value)


def _documented(json_schema: dict):
    return Annotated[Any, PlainValidator(_scalar), WithJsonSchema(json_schema)]


def Text(max_length: int):  # noqa: N802 - reads as a type in the schemas below
    return _documented({"type": "string", "maxLength": max_length})


def Choice(mapping: dict[str, str]):  # noqa: N802
    codes = sorted(set(mapping.values()))
    labels = "、".join(mapping)
    return _documented(
        {"type": "string", "enum": codes, "description": f"a code, or its Chinese label ({labels})"}
    )


Day = _documented({"type": "string", "format": "date", "examples": ["2026-02-01"]})
TimeOfDay = _documented({"type": "string", "format": "time", "examples": ["09:00"]})
Amount = _documented(
    {
        "type": "number",
        "minimum": 0,
        "exclusiveMaximum": int(MAX_AMOUNT),
        "description": 'yuan, rounded to fen (0.01); a string such as "10000.00" is accepted too',
    }
)
SmallInt = _documented({"type": "integer", "minimum": 0, "maximum": 32767})
Flag = _documented({"type": "boolean", "description": "true/false (also 1/0, 是/否)"})
Mobile = _documented(
    {
        "type": "string",
        "examples": ["13812341234"],
        "description": "mainland mobile: 11 digits starting with 1 (+86, spaces and dashes are removed)",
    }
)
IdNumber = _documented(
    {
        "type": "string",
        "maxLength": 40,
        "description": "resident ID numbers are checked (18 characters, GB 11643 checksum); "
        "the birth date and sex are taken from them when not given",
    }
)
Phones = Annotated[
    Any,
    PlainValidator(_scalar_or_list),
    WithJsonSchema(
        {
            "type": "array",
            "items": {"type": "string"},
            "description": 'other phone numbers; a string separated by ";" or "," is accepted too',
        }
    ),
]


def _document_columns(schema: dict, model) -> None:
    """Title each property with its Chinese column header and list the required columns — both
    straight from the column specification, so the document cannot drift from the validation."""
    properties = schema.get("properties", {})
    for column in KINDS_COLUMNS[model.record_kind]:
        prop = properties.get(column.name)
        if prop is None:
            continue
        prop.pop("default", None)
        prop["title"] = column.zh
        if column.help:
            prop["description"] = "; ".join(filter(None, [prop.get("description"), column.help]))
    schema["required"] = [c.name for c in KINDS_COLUMNS[model.record_kind] if c.required]


class RecordIn(Schema):
    """Base of the per-kind record schemas: unknown fields are refused (a misspelt field would
    otherwise be dropped without a word)."""

    record_kind: ClassVar[str]
    model_config = ConfigDict(extra="forbid", json_schema_extra=_document_columns)

    def raw_values(self) -> dict:
        """The record as ``validate_row`` takes it: {column name: raw value}."""
        raw = self.model_dump()
        for name, value in raw.items():
            if isinstance(value, list):  # other_phones as a JSON array
                raw[name] = ";".join(str(v) for v in value)
        return raw


class CustomerIn(RecordIn):
    """A customer (客户) with contact preferences. Business key: ``customer_no``."""

    record_kind = "customers"

    customer_no: Text(40) = None
    name: Text(100) = None
    id_type: Choice(ID_TYPES) = None
    id_number: IdNumber = None
    birth_date: Day = None
    sex: Choice(SEXES) = None
    mobile: Mobile = None
    other_phones: Phones = None
    address: Text(300) = None
    email: Text(200) = None
    org_unit: Text(32) = None
    contact_window_start: TimeOfDay = None
    contact_window_end: TimeOfDay = None
    do_not_call_reason: Text(200) = None
    do_not_call_until: Day = None
    e_callback_declined: Flag = None


class ProductIn(RecordIn):
    """An insurance product (产品). Business key: ``code``."""

    record_kind = "products"

    code: Text(40) = None
    name: Text(200) = None
    line: Choice(LINES) = None
    kind: Choice(KINDS) = None
    term_type: Choice(TERM_TYPES) = None
    cooling_off_days: SmallInt = None
    high_risk: Flag = None
    script_code: Text(40) = None


class SalespersonIn(RecordIn):
    """A salesperson (业务员). Business key: ``code``."""

    record_kind = "salespeople"

    code: Text(40) = None
    name: Text(100) = None
    org_unit: Text(32) = None
    channel: Choice(CHANNELS) = None
    status: Choice(SALES_STATUSES) = None
    departed_on: Day = None


class PolicyIn(RecordIn):
    """A policy (保单) with its applicant (投保人) and insured (被保人) embedded; the product, org
    unit and salesperson are referenced by code. Business key: ``policy_no``."""

    record_kind = "policies"

    policy_no: Text(40) = None
    product_code: Text(40) = None
    channel: Choice(CHANNELS) = None
    is_group: Flag = None
    org_unit: Text(32) = None
    salesperson_code: Text(40) = None
    premium: Amount = None
    sum_assured: Amount = None
    payment_mode: Choice(PAYMENT_MODES) = None
    payment_years: SmallInt = None
    payment_frequency: Choice(FREQUENCIES) = None
    term_years: SmallInt = None
    application_date: Day = None
    issue_date: Day = None
    receipt_date: Day = None
    termination_date: Day = None
    status: Choice(POLICY_STATUSES) = None
    sale_recorded: Flag = None
    applicant_no: Text(40) = None
    applicant_name: Text(100) = None
    applicant_id_type: Choice(ID_TYPES) = None
    applicant_id_number: IdNumber = None
    applicant_birth_date: Day = None
    applicant_sex: Choice(SEXES) = None
    applicant_mobile: Mobile = None
    applicant_address: Text(300) = None
    insured_no: Text(40) = None
    insured_name: Text(100) = None
    insured_id_type: Choice(ID_TYPES) = None
    insured_id_number: IdNumber = None
    insured_birth_date: Day = None
    insured_sex: Choice(SEXES) = None
    insured_mobile: Mobile = None
    insured_address: Text(300) = None


class ClaimIn(RecordIn):
    """A claim (赔案) on a policy. Business key: ``claim_no``."""

    record_kind = "claims"

    claim_no: Text(40) = None
    policy_no: Text(40) = None
    claimant_no: Text(40) = None
    reported_on: Day = None
    accepted_on: Day = None
    decided_on: Day = None
    paid_on: Day = None
    closed_on: Day = None
    decision: Choice(CLAIM_DECISIONS) = None
    amount_claimed: Amount = None
    amount_paid: Amount = None
    status: Choice(CLAIM_STATUSES) = None


class EventIn(RecordIn):
    """A policy event (保全, cancellation, lapse, salesperson departure). Business key:
    ``event_no``. A new event is applied to its policy at once (status, termination date)."""

    record_kind = "events"

    event_no: Text(60) = None
    policy_no: Text(40) = None
    kind: Choice(EVENT_KINDS) = None
    event_date: Day = None
    note: Text(500) = None


RECORD_SCHEMAS: dict[str, type[RecordIn]] = {
    "customers": CustomerIn,
    "products": ProductIn,
    "salespeople": SalespersonIn,
    "policies": PolicyIn,
    "claims": ClaimIn,
    "events": EventIn,
}


class BatchIn(Schema):
    """Base of the batch bodies: ``{"items": [...]}``, at most BATCH_LIMIT items."""

    @field_validator("items", mode="wrap", check_fields=False)
    @classmethod
    def _oversize_is_not_validated(cls, value, handler):
        # An over-size batch is refused as a whole (413 batch_too_large) by the endpoint, without
        # validating thousands of items first.
        if isinstance(value, list) and len(value) > BATCH_LIMIT:
            return value
        return handler(value)


def _items():
    return Field(
        ..., json_schema_extra={"maxItems": BATCH_LIMIT}, description=f"at most {BATCH_LIMIT} records"
    )


class CustomerBatchIn(BatchIn):
    items: list[CustomerIn] = _items()


class ProductBatchIn(BatchIn):
    items: list[ProductIn] = _items()


class SalespersonBatchIn(BatchIn):
    items: list[SalespersonIn] = _items()


class PolicyBatchIn(BatchIn):
    items: list[PolicyIn] = _items()


class ClaimBatchIn(BatchIn):
    items: list[ClaimIn] = _items()


class EventBatchIn(BatchIn):
    items: list[EventIn] = _items()


# ---- upsert answers -----------------------------------------------------------------------------

ItemStatus = Literal["created", "updated", "unchanged", "rejected"]


class ItemOut(Schema):
    """What happened to one record. ``index`` is its position in ``items`` (0 for a single PUT);
    ``errors`` name the field and say why when the record was rejected (nothing of it written)."""

    index: int
    key: str
    status: ItemStatus
    errors: list[FieldError] = []


class SummaryOut(Schema):
    created: int
    updated: int
    unchanged: int
    rejected: int


class BatchOut(Schema):
    """Per-record results in request order, and the counts."""

    summary: SummaryOut
    items: list[ItemOut]


class RejectedOut(ErrorOut):
    """A refused single record (``status`` "rejected", field-level ``errors``), or a body that is not
    JSON of the right shape (then ``errors`` carry paths such as ``body.premium`` and there is no
    ``status``)."""

    index: int | None = None
    key: str | None = None
    status: Literal["rejected"] | None = None


# ---- reads (masked) -----------------------------------------------------------------------------


class CustomerBriefOut(Schema):
    """A customer as shown inside a policy: identity, masked."""

    customer_no: str
    name: str
    id_type: str
    id_number: str
    sex: str
    mobile: str

    @staticmethod
    def resolve_name(obj) -> str:
        return mask_name(obj.name)

    @staticmethod
    def resolve_id_number(obj) -> str:
        return mask_id_number(obj.id_number)

    @staticmethod
    def resolve_mobile(obj) -> str:
        return mask_phone(obj.mobile)


class CustomerOut(CustomerBriefOut):
    """A customer with contact details (masked) and contact preferences."""

    other_phones: list[str]
    address: str
    email: str
    org_unit: str
    contact_window_start: time | None
    contact_window_end: time | None
    do_not_call_until: date | None
    e_callback_declined: bool
    updated_at: datetime

    @staticmethod
    def resolve_other_phones(obj) -> list[str]:
        return [mask_phone(phone) for phone in obj.other_phones or []]

    @staticmethod
    def resolve_address(obj) -> str:
        return mask_address(obj.address)

    @staticmethod
    def resolve_email(obj) -> str:
        return mask_email(obj.email)

    @staticmethod
    def resolve_org_unit(obj) -> str:
        return obj.org_unit.code


class PolicyOut(Schema):
    """A policy with its applicant and insured (masked)."""

    policy_no: str
    product_code: str
    product_name: str
    channel: str
    is_group: bool
    org_unit: str
    salesperson_code: str | None
    premium: Decimal
    sum_assured: Decimal | None
    payment_mode: str
    payment_years: int
    payment_frequency: str
    term_years: int
    application_date: date
    issue_date: date | None
    receipt_date: date | None
    termination_date: date | None
    status: str
    status_changed_on: date | None
    sale_recorded: bool
    applicant: CustomerBriefOut
    insured: CustomerBriefOut
    updated_at: datetime

    @staticmethod
    def resolve_product_code(obj) -> str:
        return obj.product.code

    @staticmethod
    def resolve_product_name(obj) -> str:
        return obj.product.name

    @staticmethod
    def resolve_org_unit(obj) -> str:
        return obj.org_unit.code

    @staticmethod
    def resolve_salesperson_code(obj) -> str | None:
        return obj.salesperson.code if obj.salesperson_id else None


class _Fact(Schema):
    rule: str
    explanation: str


class IntFactOut(_Fact):
    value: int | None


class BoolFactOut(_Fact):
    value: bool


class DateFactOut(_Fact):
    value: date | None


class PolicyDerivedOut(Schema):
    """Facts derived from the policy (huifang.records.derive), each with the rule that sets it."""

    applicant_age: IntFactOut
    is_long_term: BoolFactOut
    recording_required: BoolFactOut
    cooling_off_days: IntFactOut
    cooling_off_end: DateFactOut


class PolicyDetailOut(PolicyOut):
    """A policy and its derived facts with their rule ids (RC-04, CO-03 …)."""

    derived: PolicyDerivedOut

    @staticmethod
    def resolve_derived(obj) -> dict:
        return {
            fact.field: {
                "value": getattr(obj, fact.field),
                "rule": fact.rule,
                "explanation": fact.explanation,
            }
            for fact in DERIVED_FACTS
        }


class PolicyListOut(Schema):
    """One page of policies: ``count`` matches in all, ``items`` from ``offset``, at most ``limit``."""

    count: int
    limit: int
    offset: int
    items: list[PolicyOut]
