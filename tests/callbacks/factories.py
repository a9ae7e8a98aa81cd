"""Small factories for callback tests: policies through the records feed, tasks as plain rows."""

from datetime import datetime
from zoneinfo import ZoneInfo

from huifang.callbacks.models import CallbackTask, Channel, TaskKind, TaskStatus
from huifang.records.models import Policy, Salesperson
from huifang.records.services import RecordsFeed
from tests.records.conftest import policy_values

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(*args) -> datetime:
    """An aware Asia/Shanghai datetime: local(2026, 2, 10, 10, 30)."""
    return datetime(*args, tzinfo=SHANGHAI)


def salesperson_make(code="S001", *, user=None, org_unit="GZ", channel="bank") -> Salesperson:
    RecordsFeed("salespeople").upsert(
        [(1, {"code": code, "name": "王五", "org_unit": org_unit, "channel": channel, "status": "active"})]
    )
    person = Salesperson.objects.get(code=code)
    if user is not None:
        Salesperson.objects.filter(pk=person.pk).update(staff_user=user)
        person.refresh_from_db()
    return person


def policy_make(n=1, **over) -> Policy:
    """A policy (with its applicant) through the records feed; ``over`` as for ``policy_values``."""
    outcome = RecordsFeed("policies").upsert([(n, policy_values(n, **over))])
    assert outcome.summary["rejected"] == 0, [item.errors for item in outcome.items]
    return Policy.objects.select_related("product", "applicant", "salesperson").get(
        policy_no=policy_values(n, **over)["policy_no"]
    )


def task_make(policy: Policy, **over) -> CallbackTask:
    """A new-policy callback task for ``policy``, created directly (phone channel unless told)."""
    values = {
        "kind": TaskKind.NEW_POLICY,
        "rule_id": "BS-12",
        "subject_key": f"policy:{policy.pk}",
        "cycle": "",
        "policy": policy,
        "customer": policy.applicant,
        "org_unit": policy.org_unit,
        "due_date": policy.cooling_off_end,
        "status": TaskStatus.PENDING,
        "channel": Channel.PHONE,
    }
    values.update(over)
    return CallbackTask.objects.create(**values)
