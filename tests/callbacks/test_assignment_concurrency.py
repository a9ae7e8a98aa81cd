"""Concurrent claimers on PostgreSQL: two agents never get the same task.

Each thread has its own database connection and claims in its own transactions, so the row locks
(``SELECT … FOR UPDATE SKIP LOCKED``) are really contended. The test commits (transactional test
case); on PostgreSQL the flush afterwards truncates the audit table, which its triggers allow.
"""

import threading
from collections import Counter
from datetime import date, timedelta

import pytest
from django.db import connection

from huifang.callbacks import events
from huifang.callbacks.assignment import callback_task_claim_next
from huifang.callbacks.models import CallbackTask, TaskStatus, TaskStatusChange
from huifang.core.audit.models import AuditEvent
from huifang.core.audit.services import audit_chain_verify
from huifang.core.permissions import Role
from tests.callbacks import kpi_factories as f
from tests.conftest import is_postgres

THREADS = 8
CLAIMS_PER_THREAD = 20
TASKS = 100

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not is_postgres(),
        reason="needs PostgreSQL: row locks with SKIP LOCKED are what is under test; SQLite "
        "serialises writers with IMMEDIATE transactions, so there is no race to lose there",
    ),
    pytest.mark.django_db(transaction=True),
]


def test_concurrent_claimers_never_get_the_same_task(org_tree, make_user):
    agents = [make_user(f"claimer{i}", Role.AGENT, "GD") for i in range(THREADS)]
    units = [org_tree["GZ"], org_tree["SZ"]]
    start = date(2026, 3, 1)
    # Many tasks share a due date and priority, so the claimers race for the same first rows.
    tasks = [f.task(units[n % 2], due=start + timedelta(days=n % 5), priority=n % 3) for n in range(TASKS)]
    barrier = threading.Barrier(THREADS)
    got: dict[int, list[int | None]] = {i: [] for i in range(THREADS)}
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            for _ in range(CLAIMS_PER_THREAD):
                task = callback_task_claim_next(agents[i])
                got[i].append(task.pk if task else None)
        except BaseException as exc:  # reported below, with the thread's claims
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert all(len(claims) == CLAIMS_PER_THREAD for claims in got.values())

    claimed = [pk for claims in got.values() for pk in claims if pk is not None]
    duplicates = [pk for pk, n in Counter(claimed).items() if n > 1]
    assert duplicates == []
    assert sorted(claimed) == sorted(t.pk for t in tasks)  # 160 claims: every task once, then None
    # Once a thread got None, the pool was empty for it: it never got a task afterwards.
    for claims in got.values():
        first_none = claims.index(None) if None in claims else len(claims)
        assert all(pk is None for pk in claims[first_none:])

    owner = {pk: agents[i].pk for i, claims in got.items() for pk in claims if pk is not None}
    rows = CallbackTask.objects.values_list("pk", "assignee_id", "status")
    assert {pk: (assignee, status) for pk, assignee, status in rows} == {
        pk: (owner[pk], TaskStatus.IN_PROGRESS) for pk in owner
    }
    assigned = AuditEvent.objects.filter(event_type=events.TASK_ASSIGNED.id)
    assert sorted(int(pk) for pk in assigned.values_list("subject_id", flat=True)) == sorted(claimed)
    # One event per claim, carrying the status change; the status-change rows are all there too.
    assert AuditEvent.objects.count() == len(claimed)
    assert {(e["from_status"], e["to_status"]) for e in assigned.values_list("data", flat=True)} == {
        ("pending", "in_progress")
    }
    assert TaskStatusChange.objects.filter(to_status=TaskStatus.IN_PROGRESS).count() == len(claimed)
    # The claims were audited into several chains at once, and every chain holds.
    result = audit_chain_verify()
    assert result.ok and result.count == len(claimed) and len(result.heads) > 1
