"""A hand-built month of callbacks (March 2026) whose KPIs are worked out by hand in the tests.

广东 (GD) holds 广州 (GZ) and 深圳 (SZ); 南京 (NJ) is under 江苏. Tasks are new-policy callbacks
due in March unless stated; "att" lists the submitted attempts in order.

GZ  T1  success, in cooling-off   att: phone no_answer, phone reached        agent "agent"
    T2  success, after cooling-off att: phone ×3 no_answer, letter reached    agent "agent"  (letter last)
    T3  success, in cooling-off   att: electronic reached
    T4  refused                   att: phone refused                         agent "agent"
    T5  cancelled before callback att: —
    T6  failed (unreachable)      att: phone ×3 no_answer, visit no_answer   (visit last)
    T7  problem found             att: phone reached
    T8  pending                   att: phone no_answer (+ one unsubmitted draft, never counted)
    T9  in progress               att: —
    T10 success, in cooling-off   att: letter no_answer, then phone reached  (letter not last)
    T15 success, due 2026-04-01 (outside the period)        att: phone reached
    T16 failed,  due 2026-02-28 (outside the period)        att: phone no_answer
SZ  T11 success, in cooling-off, product UL10               att: phone reached
    T12 refused, sales channel agency                        att: phone refused
NJ  T13 success, in cooling-off                              att: phone reached
    T14 failed                                               att: letter no_answer

Coverage — policies with the receipt signed in March (their tasks are due in April, so they do not
change the task counts above):
GZ  Pa life, long, individual, new-policy task   → required, covered
    Pb health, long, individual, new-policy task → required, covered
    Pc life, long, individual, no task           → required, not covered
    Pd life, long, group                         → not required
    Pe accident, long, individual                → not required (line)
    Pf life, one year or less                    → not required (term)
    Pg life, long, individual, receipt 2026-04-02 → not in the period
    Ph life, long, individual, only a claims-callback task → required, not covered
SZ  Pi health, long, individual, new-policy task → required, covered
NJ  Pj life, long, individual, no task           → required, not covered

Problem cases (by their own due date; "today" is 2026-03-31):
GZ  PC1 due 03-20, resolved 03-21 07:00 (+08) — late; in UTC it is still 03-20 23:00
    PC2 due 03-20, resolved 03-20 23:30 (+08) — on time (handler "problem_handler")
    PC3 due 03-10, resolved 03-05 — on time
    PC4 due 03-25, open — overdue
    PC5 due 03-31, open — not yet overdue
    PC7 due 04-05, resolved — outside the period
SZ  PC6 due 03-15, resolved 03-16 — late
NJ  PC8 due 03-10, resolved 03-09 — on time
"""

from datetime import date, timedelta

import pytest

from huifang.callbacks.models import Attempt, TaskKind, TaskStatus
from huifang.records.models import Product
from tests.callbacks import kpi_factories as f

S = TaskStatus
D = Attempt.Disposition
MARCH = (date(2026, 3, 1), date(2026, 3, 31))
TODAY = date(2026, 3, 31)


def _attempts(task, *specs):
    """Submitted attempts on consecutive days before the due date, in the order given."""
    start = task.due_date - timedelta(days=len(specs) + 1)
    for n, (channel, disposition) in enumerate(specs):
        f.attempt(
            task, channel=channel, disposition=disposition, started_at=f.at(start + timedelta(days=n), 10)
        )


@pytest.fixture
def world(org_tree, users):
    gz, sz, nj = org_tree["GZ"], org_tree["SZ"], org_tree["NJ"]
    life = f.product("LIFE20", Product.Line.LIFE)
    health = f.product("HLT5", Product.Line.HEALTH, kind=Product.Kind.HEALTH)
    accident = f.product("ACC1", Product.Line.ACCIDENT)
    ul = f.product("UL10", Product.Line.LIFE, kind=Product.Kind.UNIVERSAL)
    agent = users["agent"]
    phone_miss, phone_hit = ("phone", D.NO_ANSWER), ("phone", D.REACHED)
    t = {}

    t[1] = f.task(gz, status=S.SUCCESS, succeeded_in_cooling_off=True, due=date(2026, 3, 5), assignee=agent)
    _attempts(t[1], phone_miss, phone_hit)
    t[2] = f.task(gz, status=S.SUCCESS, succeeded_in_cooling_off=False, due=date(2026, 3, 12), assignee=agent)
    _attempts(t[2], phone_miss, phone_miss, phone_miss, ("letter", D.REACHED))
    t[3] = f.task(
        gz, status=S.SUCCESS, succeeded_in_cooling_off=True, due=date(2026, 3, 6), channel="electronic"
    )
    _attempts(t[3], ("electronic", D.REACHED))
    t[4] = f.task(gz, status=S.REFUSED, due=date(2026, 3, 7), assignee=agent)
    _attempts(t[4], ("phone", D.REFUSED))
    t[5] = f.task(gz, status=S.CANCELLED_BEFORE_CALLBACK, due=date(2026, 3, 8))
    t[6] = f.task(gz, status=S.FAILED, due=date(2026, 3, 20), channel="visit")
    _attempts(t[6], phone_miss, phone_miss, phone_miss, ("visit", D.NO_ANSWER))
    t[7] = f.task(gz, status=S.PROBLEM_FOUND, due=date(2026, 3, 9))
    _attempts(t[7], phone_hit)
    t[8] = f.task(gz, status=S.PENDING, due=date(2026, 3, 30))
    _attempts(t[8], phone_miss)
    f.attempt(t[8], channel="phone", disposition=D.NO_ANSWER, submitted=False)  # a draft: not counted
    t[9] = f.task(gz, status=S.IN_PROGRESS, due=date(2026, 3, 31))
    t[10] = f.task(gz, status=S.SUCCESS, succeeded_in_cooling_off=True, due=date(2026, 3, 1))
    _attempts(t[10], ("letter", D.NO_ANSWER), phone_hit)
    t[15] = f.task(gz, status=S.SUCCESS, succeeded_in_cooling_off=True, due=date(2026, 4, 1))
    _attempts(t[15], phone_hit)
    t[16] = f.task(gz, status=S.FAILED, due=date(2026, 2, 28))
    _attempts(t[16], phone_miss)

    t[11] = f.task(
        sz, pol=f.policy(sz, prod=ul), status=S.SUCCESS, succeeded_in_cooling_off=True, due=date(2026, 3, 15)
    )
    _attempts(t[11], phone_hit)
    t[12] = f.task(sz, pol=f.policy(sz, channel="agency"), status=S.REFUSED, due=date(2026, 3, 16))
    _attempts(t[12], ("phone", D.REFUSED))

    t[13] = f.task(nj, status=S.SUCCESS, succeeded_in_cooling_off=True, due=date(2026, 3, 10))
    _attempts(t[13], phone_hit)
    t[14] = f.task(nj, status=S.FAILED, due=date(2026, 3, 11), channel="letter")
    _attempts(t[14], ("letter", D.NO_ANSWER))

    # Coverage.
    march_20, april = date(2026, 3, 20), date(2026, 4, 4)
    p = {}
    p["a"] = f.policy(gz, prod=life, receipt=march_20)
    p["b"] = f.policy(gz, prod=health, receipt=date(2026, 3, 17))
    p["c"] = f.policy(gz, prod=life, receipt=date(2026, 3, 1))
    p["d"] = f.policy(gz, prod=life, receipt=march_20, is_group=True)
    p["e"] = f.policy(gz, prod=accident, receipt=march_20)
    p["f"] = f.policy(gz, prod=life, receipt=march_20, is_long_term=False)
    p["g"] = f.policy(gz, prod=life, receipt=date(2026, 4, 2))
    p["h"] = f.policy(gz, prod=life, receipt=date(2026, 3, 31))
    p["i"] = f.policy(sz, prod=health, receipt=march_20)
    p["j"] = f.policy(nj, prod=life, receipt=march_20)
    for key in ("a", "b", "i", "d", "g"):
        f.task(p[key].org_unit, pol=p[key], due=april)
    f.task(gz, pol=p["h"], kind=TaskKind.CLAIM_CLOSED, rule_id="KP-07", due=april)

    # Problem cases.
    closed = "resolved"
    pc = {}
    pc[1] = f.problem_case(t[7], due=date(2026, 3, 20), status=closed, resolved_at=f.at(date(2026, 3, 21), 7))
    pc[2] = f.problem_case(
        t[7],
        due=date(2026, 3, 20),
        status=closed,
        resolved_at=f.at(date(2026, 3, 20), 23, 30),
        handler=users["problem_handler"],
    )
    pc[3] = f.problem_case(t[7], due=date(2026, 3, 10), status=closed, resolved_at=f.at(date(2026, 3, 5)))
    pc[4] = f.problem_case(t[7], due=date(2026, 3, 25))
    pc[5] = f.problem_case(t[7], due=date(2026, 3, 31))
    pc[7] = f.problem_case(t[7], due=date(2026, 4, 5), status=closed, resolved_at=f.at(date(2026, 4, 1)))
    pc[6] = f.problem_case(t[12], due=date(2026, 3, 15), status=closed, resolved_at=f.at(date(2026, 3, 16)))
    pc[8] = f.problem_case(t[14], due=date(2026, 3, 10), status=closed, resolved_at=f.at(date(2026, 3, 9)))
    return {"tasks": t, "policies": p, "problems": pc, "products": {"life": life, "ul": ul, "health": health}}
