"""Schemas of the KPI API."""

from datetime import date

from ninja import Field, Schema


class RatioOut(Schema):
    rule: str = Field(description="the RULES.md id that defines the figure ('' for none)")
    numerator: int
    denominator: int
    value: float | None = Field(description="numerator / denominator; null when the denominator is 0")


class SuccessRateOut(RatioOut):
    target: float
    below_target: bool | None


class LetterVisitShareOut(RatioOut):
    limit: float
    alert: bool


class ProblemCasesOut(RatioOut):
    due: int = Field(description="problem cases due in the period")
    open_overdue: int = Field(description="still open after their due date")


class KpiFiltersOut(Schema):
    start: date
    end: date
    org_unit: str | None
    channel: str | None
    product: str | None
    agent: str | None
    kind: str | None
    callback_channel: str | None


class TaskCountsOut(Schema):
    due: int
    success: int
    refused: int
    cancelled_before_callback: int
    failed: int
    problem_found: int
    open: int


class CallbackKpisOut(Schema):
    filters: KpiFiltersOut
    counts: TaskCountsOut
    success_rate: SuccessRateOut = Field(
        description="KP-01: success / (due − refused − cancelled before callback)"
    )
    success_in_cooling_off: RatioOut = Field(
        description="successes inside the cooling-off period / the KP-01 denominator"
    )
    coverage: RatioOut | None = Field(
        description="BS-12/KP-05: eligible policies (individual, long-term, life/health, receipt in the "
        "period) with a new-policy callback task / eligible policies; null with an agent or "
        "callback-channel filter"
    )
    letter_visit_share: LetterVisitShareOut = Field(
        description="KP-03: callbacks decided by a letter or visit / callbacks made (≤ 10 %)"
    )
    problem_cases_on_time: ProblemCasesOut = Field(
        description="BS-17: problem cases resolved by their due date / problem cases resolved"
    )
    attempts_per_success: RatioOut = Field(description="submitted attempts / successes")
