"""Demo data for the agent workbench (see ``huifang demo``): a small queue for the demo agent.

The records demo gives the Guangzhou agent (``agent``, org unit GZ) only a task or two that they may
claim. This builder adds ``WORKBENCH_POLICIES`` new-business policies in Guangzhou so that the
workbench has real work: individual long-term life policies with instalment premiums (期缴, so all
seven BS-13 items are read), sold through the agency channel by a Guangzhou salesperson who is not
the agent, applicants under 60 (the general pool), a mobile number but the electronic callback
declined — so the callback goes straight to the phone (EC-05) — and receipts signed so that the
cooling-off periods end in the next days (BS-12: the callback is due then).

Everything goes through the real pipeline: customers and policies through ``RecordsFeed`` (the
core-system feed), and the callback engine's records hook creates the tasks (huifang.callbacks.apps).
Idempotent: the rows have business keys and fixed dates anchored on the day the demo was first
loaded (``huifang.records.demo.demo_anchor``), so a second run writes nothing.
"""

from datetime import date, timedelta
from decimal import Decimal

from huifang.callbacks.models import CallbackTask, TaskKind
from huifang.records.demo import demo_anchor
from huifang.records.idnumbers import resident_id_make
from huifang.records.models import Customer, Policy, Salesperson
from huifang.records.schema import validate_row
from huifang.records.services import CREATED, REJECTED, UPDATED, RecordsFeed

DEMO_ORDER = 60  # after the records (20): tasks are generated from the policies
WORKBENCH_POLICIES = 6
POLICY_PREFIX = "HAWB"
CUSTOMER_PREFIX = "KHWB"
PRODUCT = "HA-WL01"  # 汇安鑫福终身寿险: traditional whole life, 15 days' cooling-off
SALESPERSON = "GZAG001"  # a Guangzhou agency salesperson who is still with the company

# (name, sex, birth date, mobile, address): Guangzhou policyholders.
PEOPLE = (
    ("黄志强", "M", date(1978, 4, 12), "13800138001", "广东省广州市天河区体育西路88号天河花园5栋1203房"),
    ("梁美玲", "F", date(1985, 9, 3), "13900139002", "广东省广州市越秀区东风中路300号越秀新都12栋806房"),
    ("陈伟明", "M", date(1972, 1, 25), "13600136003", "广东省广州市海珠区江南大道中168号金碧花园3栋502房"),
    ("李淑芬", "F", date(1969, 11, 30), "13700137004", "广东省广州市白云区机场路1038号云景花园8栋1101房"),
    ("何家豪", "M", date(1990, 6, 18), "15800158005", "广东省广州市番禺区市桥街繁华路20号丽江花园2栋701房"),
    ("罗晓燕", "F", date(1983, 2, 14), "18600186006", "广东省广州市荔湾区中山八路55号荔湾广场6栋908房"),
)


def _customer_no(n: int) -> str:
    return f"{CUSTOMER_PREFIX}{n:06d}"


def _policy_no(n: int) -> str:
    return f"{POLICY_PREFIX}{n:08d}"


def workbench_rows(anchor: date) -> tuple[list[dict], list[dict]]:
    """The customers and policies of the workbench demo, as raw feed values."""
    customers, policies = [], []
    for n, (name, sex, birth, mobile, address) in enumerate(PEOPLE[:WORKBENCH_POLICIES], start=1):
        id_number = resident_id_make("440106", birth, 700 + n)
        customers.append(
            {
                "customer_no": _customer_no(n),
                "name": name,
                "id_type": "resident_id",
                "id_number": id_number,
                "birth_date": birth,
                "sex": sex,
                "mobile": mobile,
                "address": address,
                "org_unit": "GZ",
                # Declined the electronic callback: the phone is the first channel (EC-05).
                "e_callback_declined": True,
            }
        )
        # Receipt signed so that the 15-day cooling-off period ends n days after the anchor:
        # one callback due tomorrow, the next the day after, and so on (BS-12, CO-03).
        receipt = anchor - timedelta(days=15 - n)
        policies.append(
            {
                "policy_no": _policy_no(n),
                "product_code": PRODUCT,
                "channel": "agency",
                "is_group": False,
                "org_unit": "GZ",
                "salesperson_code": SALESPERSON,
                "premium": Decimal(6000 + 1000 * n),
                "payment_mode": "regular",
                "payment_years": 10 if n % 2 else 20,
                "payment_frequency": "annual",
                "term_years": 0,
                "application_date": receipt - timedelta(days=7),
                "issue_date": receipt - timedelta(days=3),
                "receipt_date": receipt,
                "status": "in_force",
                "sale_recorded": False,
                "applicant_no": _customer_no(n),
                "applicant_name": name,
                "applicant_id_type": "resident_id",
                "applicant_id_number": id_number,
                "applicant_birth_date": birth,
                "applicant_sex": sex,
                "applicant_mobile": mobile,
                "applicant_address": address,
            }
        )
    return customers, policies


def _feed(kind: str, rows: list[dict]) -> dict:
    batch = []
    for index, raw in enumerate(rows, start=1):
        result = validate_row(kind, raw, index)
        if not result.ok:
            raise RuntimeError(f"workbench demo {kind} row {index} is invalid: {result.errors}")
        batch.append((index, result.values))
    outcome = RecordsFeed(kind, source="demo").upsert(batch)
    counts = {CREATED: 0, UPDATED: 0}
    for item in outcome.items:
        if item.status == REJECTED:
            raise RuntimeError(f"workbench demo {kind} {item.key} was rejected: {item.errors}")
        if item.status in counts:
            counts[item.status] += 1
    return counts


def demo_load(stdout, **options) -> dict:
    """The ``huifang demo`` hook (see huifang.core.management.commands.demo)."""
    if not Salesperson.objects.filter(code=SALESPERSON).exists():
        stdout.write("callbacks: workbench demo skipped (the records demo has not been loaded)")
        return {}
    customers, policies = workbench_rows(demo_anchor())
    # Customers first (with their contact preferences), only those not there yet: the policy feed
    # refreshes the applicant's identity and contact fields afterwards, never the preferences.
    present = set(
        Customer.objects.filter(customer_no__in=[c["customer_no"] for c in customers]).values_list(
            "customer_no", flat=True
        )
    )
    missing = [c for c in customers if c["customer_no"] not in present]
    written = _feed("customers", missing) if missing else {CREATED: 0, UPDATED: 0}
    written_policies = _feed("policies", policies)
    numbers = [p["policy_no"] for p in policies]
    if not any(written.values()) and not any(written_policies.values()):
        tasks = CallbackTask.objects.filter(kind=TaskKind.NEW_POLICY, policy__policy_no__in=numbers).count()
        stdout.write(f"callbacks: workbench demo already present ({len(numbers)} policies, {tasks} tasks)")
        return {"policies": 0}
    created = Policy.objects.filter(policy_no__in=numbers).count()
    stdout.write(
        f"callbacks: workbench demo: {written[CREATED]} customers and {written_policies[CREATED]} policies "
        f"created for the Guangzhou agent's queue ({created} policies in GZ, tasks from the callback hook)"
    )
    return {"policies": written_policies[CREATED], "customers": written[CREATED]}
