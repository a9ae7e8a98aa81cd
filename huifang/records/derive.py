"""Derived policy facts, computed in one place and stored on the policy.

Each fact names the rule behind it, so screens can say why (e.g. "犹豫期截止 2026-02-20 · CO-03").
"""

from dataclasses import dataclass
from datetime import date

from huifang.core.calendar.services import add_calendar_days

# RULES.md RC-04: applicants aged 60 or more buying a policy over one year must be recorded (双录).
RECORDING_AGE = 60


@dataclass(frozen=True)
class DerivedFact:
    field: str
    rule: str
    explanation: str


# What each derived field means and which rule sets it (shown on the policy page).
DERIVED_FACTS = (
    DerivedFact("applicant_age", "RC-04", "applicant's age in full years on the application date"),
    DerivedFact("is_long_term", "BS-12", "term over one year (whole life counts as long-term)"),
    DerivedFact(
        "recording_required",
        "RC-04",
        "双录 required: bank channel over one year; any investment-linked (投连); applicant 60+ over one "
        "year; telesales recorded whole",
    ),
    DerivedFact(
        "cooling_off_days", "CO-01/CO-02/CO-03", "cooling-off length of the product, in calendar days"
    ),
    DerivedFact(
        "cooling_off_end", "CO-03", "receipt date + cooling-off days, counted from the day after receipt"
    ),
)


def age_on(birth: date | None, on: date) -> int | None:
    if birth is None:
        return None
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def policy_derive(
    *,
    channel: str,
    term_years: int,
    application_date: date,
    receipt_date: date | None,
    applicant_birth: date | None,
    product_kind: str,
    product_term_type: str,
    product_cooling_off_days: int,
) -> dict:
    """Return the derived facts for a policy as a dict of field → value."""
    is_long_term = product_term_type == "long" and (term_years == 0 or term_years > 1)
    applicant_age = age_on(applicant_birth, application_date)
    recording_required = (
        (channel == "bank" and is_long_term)
        or product_kind == "investment_linked"
        or (applicant_age is not None and applicant_age >= RECORDING_AGE and is_long_term)
        or channel == "phone"
    )
    cooling_off_end = add_calendar_days(receipt_date, product_cooling_off_days) if receipt_date else None
    return {
        "applicant_age": applicant_age,
        "is_long_term": is_long_term,
        "recording_required": recording_required,
        "cooling_off_days": product_cooling_off_days,
        "cooling_off_end": cooling_off_end,
    }
