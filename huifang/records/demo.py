"""Demo data for insurance records (see ``huifang demo``): products, salespeople, policies with
their applicants and insured, claims and policy events.

The rows come from ``huifang.records.demo_data`` (deterministic for a seed) and go through the
real pipeline: ``validate_row`` and ``RecordsFeed.upsert`` in batches, so encryption, blind
indexes, derived facts, events and audit are exactly what a core-system feed gets.

Idempotent: every record has a business key and a fingerprint, so a second run with the same
number of policies and seed reports everything unchanged and writes nothing. Dates are offsets
from the day the demo was first loaded; later runs recover that day from the data already there
(a departed demo salesperson's leaving date), so running again next week adds nothing either.
"""

from collections import Counter
from datetime import date, timedelta

from django.utils import timezone

from huifang.records import demo_data
from huifang.records.models import Customer, Salesperson
from huifang.records.schema import validate_row
from huifang.records.services import CREATED, REJECTED, UPDATED, RecordsFeed

DEMO_ORDER = 20  # after the org tree (10); callbacks, complaints and reports build on policies
DEMO_SEED = 2026
DEFAULT_POLICIES = 200
BATCH_SIZE = 500


class DemoDataError(RuntimeError):
    """The generated demo data did not go in cleanly (a generator bug or missing org units)."""


def demo_anchor() -> date:
    """The day the demo data is anchored on: the day it was first loaded, else today."""
    code, days_before = demo_data.DEPARTED[0]
    departed_on = Salesperson.objects.filter(code=code).values_list("departed_on", flat=True).first()
    if departed_on:
        return departed_on + timedelta(days=days_before)
    return timezone.localdate()


def _feed(kind: str, rows: list[dict], totals: Counter) -> None:
    """Validate and upsert ``rows`` of one kind in batches; count the outcomes in ``totals``."""
    feed = RecordsFeed(kind, source="demo")
    for start in range(0, len(rows), BATCH_SIZE):
        batch = []
        for index, raw in enumerate(rows[start : start + BATCH_SIZE], start=start + 1):
            result = validate_row(kind, raw, index)
            if not result.ok:
                raise DemoDataError(f"demo {kind} row {index} is invalid: {result.errors}")
            batch.append((index, result.values))
        outcome = feed.upsert(batch)
        for item in outcome.items:
            if item.status == REJECTED:
                raise DemoDataError(
                    f"demo {kind} {item.key} was rejected: {item.errors} (run the org demo first)"
                )
            totals[(kind, item.status)] += 1


def demo_records_load(*, policies: int = DEFAULT_POLICIES, seed: int = DEMO_SEED) -> Counter:
    """Create or refresh the demo records; return counts by (kind, outcome status)."""
    anchor = demo_anchor()
    totals: Counter = Counter()
    customers_before = Customer.objects.count()
    _feed("products", demo_data.product_rows(), totals)
    _feed("salespeople", demo_data.salesperson_rows(seed, anchor), totals)
    generated = demo_data.PolicyGenerator(seed, anchor).rows(max(0, policies))
    _feed("policies", [g.values for g in generated], totals)
    # Applicants and insured come in with their policies (as from the core system).
    totals[("customers", CREATED)] = Customer.objects.count() - customers_before
    _feed("claims", [c for g in generated for c in g.claims], totals)
    events = [e for g in generated for e in g.events]
    departure = demo_data.salesperson_departure_event(generated, anchor)
    if departure is not None:
        events.append(departure)
    # Applied in date order by the feed: cancellations, surrenders, lapses, departures (CB-07).
    _feed("events", sorted(events, key=lambda e: (e["event_date"], e["event_no"])), totals)
    return totals


def demo_load(stdout, **options) -> Counter:
    """The ``huifang demo`` hook (see huifang.core.management.commands.demo).

    Options: ``policies`` (how many demo policies, default 200) and ``seed`` (default 2026).
    """
    policies = options.get("policies")
    seed = options.get("seed")
    totals = demo_records_load(
        policies=DEFAULT_POLICIES if policies is None else policies,
        seed=DEMO_SEED if seed is None else seed,
    )
    kinds = ("products", "salespeople", "policies", "customers", "claims", "events")
    labels = {"events": "policy events"}
    written = sum(totals[(k, s)] for k in kinds for s in (CREATED, UPDATED))
    if not written:
        present = ", ".join(
            f"{totals[(k, 'unchanged')]} {labels.get(k, k)}" for k in kinds if k != "customers"
        )
        stdout.write(f"records: demo records already present ({present})")
        return totals
    parts = []
    for k in kinds:
        created, updated = totals[(k, CREATED)], totals[(k, UPDATED)]
        if created or updated:
            parts.append(
                f"{labels.get(k, k)} {created} created" + (f", {updated} updated" if updated else "")
            )
    stdout.write("records: " + "; ".join(parts))
    return totals
