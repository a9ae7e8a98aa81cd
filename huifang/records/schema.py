"""Column specifications and row validation for the core-system feed (files and REST).

One place defines, for each record kind, its columns (English name, Chinese header, aliases),
which are required and how a raw value becomes a clean one. File importers and the REST API both
turn input into clean dicts here, so the same row gives the same result (and the same error) by
either route. The column specification is documented in docs/import-columns.md.
"""

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation

from huifang.records.idnumbers import InvalidIdNumber, resident_id_parse


class CellError(ValueError):
    """A value that cannot be used; the message says why (shown in the quarantine report)."""


# ---- value parsers: raw (str | number | date from XLSX | None) → clean value -----------------------


def _text(raw) -> str:
    if raw is None:
        return ""
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)  # XLSX numbers typed into text columns (e.g. codes)
    return str(raw).strip()


def p_str(max_length: int) -> Callable:
    def parse(raw):
        s = raw.strip() if raw.__class__ is str else _text(raw)
        if len(s) > max_length:
            raise CellError(f"longer than {max_length} characters")
        if "\x00" in s:  # PostgreSQL cannot store it (the insert would fail the whole batch)
            raise CellError("contains a NUL character")
        return s

    return parse


def p_date(raw) -> date | None:
    if raw is None or raw == "":
        return None
    if raw.__class__ is str and len(raw) == 10 and raw[4] == "-" and raw[7] == "-" and raw.isascii():
        # The common case (YYYY-MM-DD) parsed in C; anything it refuses takes the general path
        # below, which gives the same value or the same error.
        try:
            return date.fromisoformat(raw)
        except ValueError:
            pass
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    s = _text(raw)
    if not s:
        return None
    for sep in ("-", "/", "."):
        if sep in s:
            parts = s.split(" ")[0].split(sep)
            break
    else:
        parts = [s[:4], s[4:6], s[6:8]] if len(s) == 8 and s.isdigit() else []
    try:
        y, m, d = (int(p) for p in parts)
        return date(y, m, d)
    except (ValueError, TypeError):
        raise CellError(f"not a date: {s!r} (use YYYY-MM-DD)") from None


def p_time(raw) -> time | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, time):
        return raw
    s = _text(raw)
    try:
        return time.fromisoformat(s if len(s) > 2 else f"{int(s):02d}:00")
    except ValueError:
        raise CellError(f"not a time of day: {s!r} (use HH:MM)") from None


MAX_AMOUNT = Decimal(10) ** 12


def p_decimal(raw) -> Decimal | None:
    if raw is None or raw == "":
        return None
    s = _text(raw).replace(",", "")
    try:
        value = Decimal(s)
    except InvalidOperation:
        raise CellError(f"not a number: {s!r}") from None
    if not value.is_finite() or value < 0:
        raise CellError(f"must be a non-negative number: {s!r}")
    # Money columns hold at most 12 digits before the point (Policy.premium: max_digits=14); a
    # larger value would overflow the column (and 1e30 cannot even be rounded to cents).
    if value >= MAX_AMOUNT:
        raise CellError(f"too large: {s!r} (at most {MAX_AMOUNT - Decimal('0.01')})")
    return value.quantize(Decimal("0.01"))


def p_int(raw) -> int | None:
    if raw is None or raw == "":
        return None
    if raw.__class__ is str and len(raw) <= 4 and raw.isdigit() and raw.isascii():
        return int(raw)  # 0…9999: always in range
    s = _text(raw)
    try:
        value = int(Decimal(s))
    except (InvalidOperation, ValueError, OverflowError):  # OverflowError: "Infinity"
        raise CellError(f"not a whole number: {s!r}") from None
    if value < 0 or value > 32767:
        raise CellError(f"out of range: {s!r}")
    return value


_TRUE = {"1", "y", "yes", "true", "t", "是", "有", "已双录"}
_FALSE = {"0", "n", "no", "false", "f", "否", "无", ""}


def p_bool(raw) -> bool:
    if isinstance(raw, bool):
        return raw
    s = _text(raw).lower()
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    raise CellError(f"not yes/no: {s!r} (use 是/否 or 1/0)")


def p_choice(mapping: dict[str, str]) -> Callable:
    """Accept the code itself or any alias (Chinese or English, case-insensitive)."""
    lookup = {k.lower(): v for k, v in mapping.items()} | {v.lower(): v for v in mapping.values()}
    allowed = sorted(set(mapping.values()))

    def parse(raw):
        s = raw.strip() if raw.__class__ is str else _text(raw)
        if not s:
            return ""
        try:
            return lookup[s.lower()]
        except KeyError:
            raise CellError(f"unknown value {s!r}; allowed: {', '.join(allowed)}") from None

    return parse


def p_mobile(raw) -> str:
    if raw.__class__ is str and len(raw) == 11 and raw[0] == "1" and raw.isdigit() and raw.isascii():
        return raw  # the common case: already 11 plain digits
    s = "".join(ch for ch in _text(raw) if ch.isdigit() or ch == "+")
    if not s:
        return ""
    digits = s.lstrip("+")
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    if not (len(digits) == 11 and digits.startswith("1")):
        raise CellError("mobile number must have 11 digits starting with 1")
    return digits


def p_phones(raw) -> list[str]:
    s = _text(raw)
    if not s:
        return []
    out = []
    for part in s.replace("；", ";").replace(",", ";").replace("，", ";").split(";"):
        digits = "".join(ch for ch in part if ch.isdigit() or ch in "-+")
        if digits:
            if len(digits) < 7 or len(digits) > 20:
                raise CellError(f"not a phone number: {part.strip()!r}")
            out.append(digits)
    return out


CHANNELS = {
    "个险": "agency",
    "代理人": "agency",
    "银保": "bank",
    "电销": "phone",
    "网销": "internet",
    "团险": "group",
}
ID_TYPES = {
    "身份证": "resident_id",
    "居民身份证": "resident_id",
    "护照": "passport",
    "港澳居民来往内地通行证": "hk_macau",
    "台湾居民来往大陆通行证": "taiwan",
    "外国人永久居留身份证": "foreign_permanent",
    "军官证": "military",
    "其他": "other",
}
SEXES = {"男": "M", "女": "F", "未知": "U", "male": "M", "female": "F"}
PAYMENT_MODES = {"趸交": "single", "期缴": "regular", "期交": "regular"}
FREQUENCIES = {
    "趸交": "single",
    "年缴": "annual",
    "年交": "annual",
    "半年缴": "semiannual",
    "季缴": "quarterly",
    "月缴": "monthly",
}
POLICY_STATUSES = {
    "有效": "in_force",
    "犹豫期撤单": "cancelled_cooling_off",
    "退保": "surrendered",
    "失效": "lapsed",
    "终止": "terminated",
}
LINES = {"寿险": "life", "健康险": "health", "意外险": "accident", "财产险": "property", "车险": "auto"}
KINDS = {
    "传统": "traditional",
    "分红": "participating",
    "万能": "universal",
    "投连": "investment_linked",
    "健康": "health",
}
TERM_TYPES = {"长期": "long", "短期": "short"}
SALES_STATUSES = {"在职": "active", "离司": "departed", "离职": "departed"}
CLAIM_STATUSES = {
    "报案": "reported",
    "受理": "accepted",
    "已决": "decided",
    "已赔付": "paid",
    "结案": "closed",
}
CLAIM_DECISIONS = {
    "给付": "approved",
    "赔付": "approved",
    "部分给付": "partial",
    "拒赔": "rejected",
    "撤案": "withdrawn",
}
EVENT_KINDS = {
    "犹豫期撤单": "cooling_off_cancel",
    "退保": "surrender",
    "失效": "lapse",
    "复效": "reinstatement",
    "保全申请": "service_requested",
    "保全完成": "service_completed",
    "业务员离司": "salesperson_departed",
    "终止": "termination",
}


@dataclass(frozen=True)
class Column:
    name: str  # English column name (also the REST field name)
    zh: str  # Chinese header
    parse: Callable
    required: bool = False
    aliases: tuple[str, ...] = ()
    help: str = ""


@dataclass
class RowResult:
    """A validated row: ``values`` when clean, otherwise ``errors`` as (column, reason) pairs."""

    row_number: int
    values: dict = field(default_factory=dict)
    errors: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def _customer_columns(prefix: str, zh_prefix: str, required: bool) -> list[Column]:
    return [
        Column(f"{prefix}no", f"{zh_prefix}客户号", p_str(40), required),
        Column(f"{prefix}name", f"{zh_prefix}姓名", p_str(100), required),
        Column(f"{prefix}id_type", f"{zh_prefix}证件类型", p_choice(ID_TYPES)),
        Column(f"{prefix}id_number", f"{zh_prefix}证件号码", p_str(40)),
        Column(f"{prefix}birth_date", f"{zh_prefix}出生日期", p_date),
        Column(f"{prefix}sex", f"{zh_prefix}性别", p_choice(SEXES)),
        Column(f"{prefix}mobile", f"{zh_prefix}手机号码", p_mobile),
        Column(f"{prefix}address", f"{zh_prefix}地址", p_str(300)),
    ]


CUSTOMER_COLUMNS = [
    Column("customer_no", "客户号", p_str(40), True),
    Column("name", "姓名", p_str(100), True),
    Column("id_type", "证件类型", p_choice(ID_TYPES)),
    Column("id_number", "证件号码", p_str(40)),
    Column("birth_date", "出生日期", p_date),
    Column("sex", "性别", p_choice(SEXES)),
    Column("mobile", "手机号码", p_mobile),
    Column("other_phones", "其他电话", p_phones, help="several numbers separated by ; or ,"),
    Column("address", "地址", p_str(300)),
    Column("email", "电子邮箱", p_str(200)),
    Column("org_unit", "机构代码", p_str(32), True),
    Column("contact_window_start", "偏好联系开始时间", p_time),
    Column("contact_window_end", "偏好联系结束时间", p_time),
    Column("do_not_call_reason", "拒绝来电原因", p_str(200)),
    Column("do_not_call_until", "拒绝来电截止日期", p_date),
    Column("e_callback_declined", "拒绝电子回访", p_bool),
]

PRODUCT_COLUMNS = [
    Column("code", "产品代码", p_str(40), True),
    Column("name", "产品名称", p_str(200), True),
    Column("line", "险种大类", p_choice(LINES), True),
    Column("kind", "产品类型", p_choice(KINDS), True),
    Column("term_type", "期限类型", p_choice(TERM_TYPES)),
    Column("cooling_off_days", "犹豫期天数", p_int),
    Column("high_risk", "高风险产品", p_bool),
    Column("script_code", "回访话术", p_str(40)),
]

SALESPERSON_COLUMNS = [
    Column("code", "业务员代码", p_str(40), True),
    Column("name", "业务员姓名", p_str(100), True),
    Column("org_unit", "机构代码", p_str(32), True),
    Column("channel", "渠道", p_choice(CHANNELS), True),
    Column("status", "状态", p_choice(SALES_STATUSES)),
    Column("departed_on", "离司日期", p_date),
]

POLICY_COLUMNS = [
    Column("policy_no", "保单号", p_str(40), True),
    Column("product_code", "产品代码", p_str(40), True),
    Column("channel", "渠道", p_choice(CHANNELS), True),
    Column("is_group", "团单", p_bool),
    Column("org_unit", "机构代码", p_str(32), True),
    Column("salesperson_code", "业务员代码", p_str(40)),
    Column("premium", "保费", p_decimal, True),
    Column("sum_assured", "保额", p_decimal),
    Column("payment_mode", "缴费方式", p_choice(PAYMENT_MODES), True),
    Column("payment_years", "缴费年期", p_int),
    Column("payment_frequency", "缴费频率", p_choice(FREQUENCIES)),
    Column("term_years", "保险期间", p_int, help="years; 0 = whole life (终身)"),
    Column("application_date", "投保日期", p_date, True),
    Column("issue_date", "承保日期", p_date),
    Column("receipt_date", "回执签收日期", p_date),
    Column("termination_date", "终止日期", p_date),
    Column("status", "保单状态", p_choice(POLICY_STATUSES)),
    Column("sale_recorded", "已双录", p_bool),
    *_customer_columns("applicant_", "投保人", True),
    *_customer_columns("insured_", "被保人", False),
]

CLAIM_COLUMNS = [
    Column("claim_no", "赔案号", p_str(40), True),
    Column("policy_no", "保单号", p_str(40), True),
    Column("claimant_no", "申请人客户号", p_str(40)),
    Column("reported_on", "报案日期", p_date, True),
    Column("accepted_on", "受理日期", p_date),
    Column("decided_on", "结论日期", p_date),
    Column("paid_on", "赔付日期", p_date),
    Column("closed_on", "结案日期", p_date),
    Column("decision", "理赔结论", p_choice(CLAIM_DECISIONS)),
    Column("amount_claimed", "申请金额", p_decimal),
    Column("amount_paid", "赔付金额", p_decimal),
    Column("status", "赔案状态", p_choice(CLAIM_STATUSES)),
]

EVENT_COLUMNS = [
    Column("event_no", "事件编号", p_str(60), True),
    Column("policy_no", "保单号", p_str(40), True),
    Column("kind", "事件类型", p_choice(EVENT_KINDS), True),
    Column("event_date", "事件日期", p_date, True),
    Column("note", "说明", p_str(500)),
]

KINDS_COLUMNS: dict[str, list[Column]] = {
    "customers": CUSTOMER_COLUMNS,
    "products": PRODUCT_COLUMNS,
    "salespeople": SALESPERSON_COLUMNS,
    "policies": POLICY_COLUMNS,
    "claims": CLAIM_COLUMNS,
    "events": EVENT_COLUMNS,
}
BUSINESS_KEYS = {
    "customers": "customer_no",
    "products": "code",
    "salespeople": "code",
    "policies": "policy_no",
    "claims": "claim_no",
    "events": "event_no",
}


def header_map(kind: str, headers: list[str]) -> tuple[dict[int, Column], list[str]]:
    """Match file headers (Chinese or English, any case, BOM and spaces stripped) to columns.

    Returns (position → column, problems). A missing required column is a problem for the whole
    file; an unknown column is ignored and reported.
    """
    columns = KINDS_COLUMNS[kind]
    by_label: dict[str, Column] = {}
    for col in columns:
        for label in (col.name, col.zh, *col.aliases):
            by_label[label.strip().lower()] = col
    mapping: dict[int, Column] = {}
    problems: list[str] = []
    seen: set[str] = set()
    for pos, header in enumerate(headers):
        label = (header or "").replace("\ufeff", "").strip().lower()
        col = by_label.get(label)
        if col is None:
            if label:
                problems.append(f"unknown column {header!r} ignored")
            continue
        if col.name in seen:
            problems.append(f"column {header!r} appears twice; the first is used")
            continue
        seen.add(col.name)
        mapping[pos] = col
    missing = [f"{c.name} ({c.zh})" for c in columns if c.required and c.name not in seen]
    if missing:
        problems.insert(0, "missing required columns: " + ", ".join(missing))
    return mapping, problems


_ID_CACHE: dict[str, tuple] = {}


def _resident_id(number: str) -> tuple:
    """``resident_id_parse`` remembered for the last few numbers: a policy row usually names the
    same person as applicant and insured, so the second check is a lookup."""
    hit = _ID_CACHE.get(number)
    if hit is None:
        try:
            hit = resident_id_parse(number)
        except InvalidIdNumber as exc:
            hit = (exc,)
        if len(_ID_CACHE) >= 8:
            _ID_CACHE.clear()
        _ID_CACHE[number] = hit
    return hit


def _check_identity(values: dict, prefix: str, errors: list) -> None:
    """Resident IDs must pass the checksum; the birth date and sex are derived when absent."""
    number = values.get(f"{prefix}id_number", "")
    id_type = values.get(f"{prefix}id_type") or ("resident_id" if number else "")
    values[f"{prefix}id_type"] = id_type or "resident_id"
    if not number or id_type != "resident_id":
        return
    parsed = _resident_id(number)
    if len(parsed) == 1:
        errors.append((f"{prefix}id_number", str(parsed[0])))
        return
    normalised, birth, sex = parsed
    values[f"{prefix}id_number"] = normalised
    if values.get(f"{prefix}birth_date") is None:
        values[f"{prefix}birth_date"] = birth
    elif values[f"{prefix}birth_date"] != birth:
        errors.append((f"{prefix}birth_date", "does not match the birth date in the resident ID"))
    if not values.get(f"{prefix}sex"):
        values[f"{prefix}sex"] = sex


def _cross_checks(kind: str, values: dict, errors: list) -> None:
    """Checks across columns, and defaults that depend on other columns (values are all clean)."""
    if kind == "customers":
        _check_identity(values, "", errors)
    elif kind == "policies":
        _check_identity(values, "applicant_", errors)
        if values.get("insured_no"):
            if not values.get("insured_name"):
                errors.append(("insured_name", "required when insured_no is given"))
            _check_identity(values, "insured_", errors)
        if values["payment_mode"] == "single":
            values["payment_frequency"] = "single"
            values["payment_years"] = 1
        elif not values.get("payment_frequency"):
            values["payment_frequency"] = "annual"
        if values.get("payment_years") is None:
            values["payment_years"] = 1
        if values.get("term_years") is None:
            values["term_years"] = 0
        for later in ("issue_date", "receipt_date"):
            if values.get(later) and values[later] < values["application_date"]:
                errors.append((later, "earlier than the application date"))
        if values["channel"] == "group":
            values["is_group"] = True
    elif kind == "salespeople":
        values["status"] = values.get("status") or "active"
        if values["status"] == "departed" and not values.get("departed_on"):
            errors.append(("departed_on", "required for a departed salesperson"))
    elif kind == "products":
        values["term_type"] = values.get("term_type") or "long"
        if values.get("cooling_off_days") is None:
            values["cooling_off_days"] = 15  # RULES.md CO-03 default
        # CO-01: long-term health insurance has a cooling-off period of at least 15 days.
        if values["line"] == "health" and values["term_type"] == "long" and values["cooling_off_days"] < 15:
            errors.append(("cooling_off_days", "long-term health insurance needs at least 15 days (CO-01)"))
    elif kind == "claims":
        values["status"] = values.get("status") or ("closed" if values.get("closed_on") else "reported")
        if values["status"] == "closed" and not values.get("closed_on"):
            errors.append(("closed_on", "required for a closed claim"))


def row_validator(kind: str, mapping: dict[int, Column]) -> Callable[[list, int], RowResult]:
    """A validator for the rows of one file: ``validate(cells, row_number)`` gives the same result
    as ``validate_row(kind, {column name: cell}, row_number)`` for the header ``mapping``
    (position → column, from ``header_map``), without building a dict of raw values per row."""
    position = {col.name: pos for pos, col in mapping.items()}
    # A policy row usually names the same person as applicant and insured: an insured cell equal
    # to the applicant's cell takes the applicant's clean value instead of being parsed again
    # (the parsers are pure, and the insured columns are optional, so the result is the same).
    twins = {}
    if kind == "policies":
        for name in position:
            if name.startswith("insured_") and f"applicant_{name[8:]}" in position:
                twins[name] = (f"applicant_{name[8:]}", position[f"applicant_{name[8:]}"])
    plan = tuple(
        (col.name, position.get(col.name, -1), col.parse, col.required, *twins.get(col.name, (None, -1)))
        for col in KINDS_COLUMNS[kind]
    )

    def validate(cells: list, row_number: int = 0) -> RowResult:
        result = RowResult(row_number)
        values = result.values
        errors = result.errors
        width = len(cells)
        for name, pos, parse, required, twin, twin_pos in plan:
            raw = cells[pos] if -1 < pos < width else None
            if twin is not None and twin in values and -1 < twin_pos < width and cells[twin_pos] == raw:
                values[name] = values[twin]
                continue
            try:
                value = parse(raw)
            except CellError as exc:
                errors.append((name, str(exc)))
                continue
            if required and (value is None or value == ""):
                errors.append((name, "required"))
                continue
            values[name] = value
        if not errors:
            _cross_checks(kind, values, errors)
        if errors:
            result.values = {}
        return result

    return validate


@functools.cache
def _validator_by_name(kind: str) -> Callable[[list, int], RowResult]:
    return row_validator(kind, dict(enumerate(KINDS_COLUMNS[kind])))


def validate_row(kind: str, raw: dict, row_number: int = 0) -> RowResult:
    """Validate one row given as {column name: raw value}. Never raises for bad data."""
    return _validator_by_name(kind)([raw.get(col.name) for col in KINDS_COLUMNS[kind]], row_number)
