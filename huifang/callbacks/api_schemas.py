"""Typed schemas of the callbacks API. Personal information is masked (RULES.md PV-10): the
customer's name 张*, mobile 138****1234. Free-text notes are not returned (they may hold anything
an agent typed); answers are returned as item code → answer."""

from datetime import date, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from ninja import Field, Schema

from huifang.callbacks.models import Attempt, Channel
from huifang.core.crypto.masking import mask_name, mask_phone

SHANGHAI = ZoneInfo("Asia/Shanghai")


class CustomerMaskedOut(Schema):
    customer_no: str
    name: str
    mobile: str

    @staticmethod
    def resolve_name(obj) -> str:
        return mask_name(obj.name)

    @staticmethod
    def resolve_mobile(obj) -> str:
        return mask_phone(obj.mobile)


class CallbackTaskOut(Schema):
    id: int
    kind: str
    rule_id: str
    subject_key: str
    cycle: str
    policy_no: str | None
    product_code: str | None
    claim_no: str | None
    customer: CustomerMaskedOut
    org_unit: str
    status: str
    due_date: date
    channel: str
    channel_due_at: datetime | None
    phone_attempts: int
    priority: int
    pool: str
    assignee: str | None
    assigned_at: datetime | None
    recall_at: datetime | None
    succeeded_in_cooling_off: bool | None
    created_at: datetime
    closed_at: datetime | None

    @staticmethod
    def resolve_policy_no(obj) -> str | None:
        return obj.policy.policy_no if obj.policy_id else None

    @staticmethod
    def resolve_product_code(obj) -> str | None:
        return obj.policy.product.code if obj.policy_id else None

    @staticmethod
    def resolve_claim_no(obj) -> str | None:
        return obj.claim.claim_no if obj.claim_id else None

    @staticmethod
    def resolve_org_unit(obj) -> str:
        return obj.org_unit.code

    @staticmethod
    def resolve_assignee(obj) -> str | None:
        return obj.assignee.username if obj.assignee_id else None


class RuleVersionOut(Schema):
    rule_id: str
    version: int
    pack: str
    title: str
    citation: str
    certainty: str
    params: dict[str, Any]
    superseded: bool


class DueExplanationOut(Schema):
    """Why the task is due when it is: the stored facts, one line in English and Chinese, and the
    rule version that set the date."""

    due_date: date
    explanation: dict[str, Any]
    text: str
    text_zh: str
    rule_id: str
    recomputed_at: datetime | None
    calendar_revision: str
    rule: RuleVersionOut | None = None


class CallbackTaskDetailOut(CallbackTaskOut):
    due_explanation: DueExplanationOut
    letter_visit_requested: str
    attempts: int = Field(description="submitted attempts")
    problem_cases: list[str] = Field(description="numbers of the problem cases found")

    @staticmethod
    def resolve_due_explanation(obj) -> dict:
        from huifang.callbacks.selectors import callback_task_explanation

        return callback_task_explanation(obj)

    @staticmethod
    def resolve_attempts(obj) -> int:
        return obj.attempts.filter(submitted_at__isnull=False).count()

    @staticmethod
    def resolve_problem_cases(obj) -> list[str]:
        return list(obj.problem_cases.order_by("id").values_list("number", flat=True))


class CallbackTaskListOut(Schema):
    count: int
    limit: int
    offset: int
    items: list[CallbackTaskOut]


class AttemptOut(Schema):
    id: int
    task_id: int
    channel: str
    agent: str | None
    started_at: datetime
    ended_at: datetime | None
    disposition: str
    identity_confirmed: bool
    answers: dict[str, str | None]
    script: str | None
    has_recording: bool
    recording_sha256: str
    recording_url: str
    external_ref: str
    submitted_at: datetime | None
    corrects_id: int | None

    @staticmethod
    def resolve_agent(obj) -> str | None:
        return obj.agent.username if obj.agent_id else None

    @staticmethod
    def resolve_answers(obj) -> dict[str, str | None]:
        return {code: (value or {}).get("answer") for code, value in (obj.answers or {}).items()}

    @staticmethod
    def resolve_script(obj) -> str | None:
        return f"{obj.script.code} v{obj.script.version}" if obj.script_id else None

    @staticmethod
    def resolve_has_recording(obj) -> bool:
        return bool(obj.recording)


class AttemptListOut(Schema):
    task_id: int
    count: int
    items: list[AttemptOut]


class AttemptIn(Schema):
    """One attempt as an external dialer reports it. Times carry their offset
    (``2026-03-02T10:15:00+08:00``). Re-sending the same ``external_ref`` for the task returns the
    first attempt and changes nothing."""

    channel: Channel = Field(..., description="electronic, phone, letter or visit")
    agent: str | None = Field(
        None,
        description="username of the agent who made the call; the caller when omitted (naming "
        "someone else needs supervise_callbacks)",
        max_length=150,
    )
    started_at: datetime
    ended_at: datetime | None = None
    disposition: Attempt.Disposition
    identity_confirmed: bool = False
    answers: dict[str, Literal["yes", "no", "unsure"]] = Field(
        default_factory=dict, description="script item code → yes | no | unsure"
    )
    notes: str = Field("", max_length=4000)
    recording_url: str = Field(
        "", max_length=200, description="the recording (or signed receipt) at the dialer"
    )
    external_ref: str = Field("", max_length=80, description="the dialer's call id (idempotency key)")
    recall_at: datetime | None = Field(
        None, description="for call_later: when the customer asked to be called"
    )


class ProblemCaseBriefOut(Schema):
    number: str
    category: str
    status: str


class AttemptOutcomeOut(Schema):
    result: str
    task_status: str
    reason: str
    wrong_items: list[str]
    problem_cases: list[ProblemCaseBriefOut]
    recall_at: datetime | None
    next_attempt_at: datetime | None
    duplicate: bool


class AttemptSubmittedOut(Schema):
    attempt: AttemptOut
    outcome: AttemptOutcomeOut


class ProblemCaseOut(Schema):
    number: str
    task_id: int
    policy_no: str | None
    category: str
    item_code: str
    org_unit: str
    discovered_on: date
    due_date: date
    status: str
    handler: str | None
    resolution: str
    resolved_at: datetime | None
    on_time: bool | None = Field(
        description="BS-17: resolved on or before the due date (Asia/Shanghai); null while open"
    )

    @staticmethod
    def resolve_policy_no(obj) -> str | None:
        return obj.task.policy.policy_no if obj.task.policy_id else None

    @staticmethod
    def resolve_org_unit(obj) -> str:
        return obj.org_unit.code

    @staticmethod
    def resolve_handler(obj) -> str | None:
        return obj.handler.username if obj.handler_id else None

    @staticmethod
    def resolve_on_time(obj) -> bool | None:
        if obj.resolved_at is None:
            return None
        return obj.resolved_at.astimezone(SHANGHAI).date() <= obj.due_date


class ProblemCaseListOut(Schema):
    count: int
    limit: int
    offset: int
    items: list[ProblemCaseOut]
