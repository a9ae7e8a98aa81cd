"""Writes for insurance records: set-based upserts by business key (files and REST share them),
and applying policy events.

Upserts are idempotent: each record stores a keyed fingerprint of its clean input
(``source_hash``), so a record sent again unchanged is counted as ``unchanged`` and not written.
A batch is validated, resolved against reference data (org units, products, salespeople,
policies) and written in one transaction with one audit event; rows that cannot be resolved are
returned as errors and nothing of them is written.
"""

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from huifang.core.audit.services import audit_record
from huifang.core.crypto.blind_index import blind_index
from huifang.core.crypto.keys import keyring
from huifang.org.models import OrgUnit
from huifang.records import events
from huifang.records.bulk import bulk_upsert
from huifang.records.derive import policy_derive
from huifang.records.fingerprints import customer_contact, customer_identity, fingerprint_parts
from huifang.records.hooks import records_changed
from huifang.records.models import (
    Claim,
    Customer,
    Policy,
    PolicyEvent,
    PolicyStatus,
    Product,
    Salesperson,
)
from huifang.records.schema import BUSINESS_KEYS

CREATED, UPDATED, UNCHANGED, REJECTED = "created", "updated", "unchanged", "rejected"


@dataclass
class ItemOutcome:
    index: int  # position in the batch (or row number in a file)
    key: str
    status: str  # created | updated | unchanged | rejected
    errors: list[tuple[str, str]] = field(default_factory=list)  # (column, reason)


@dataclass
class BatchOutcome:
    items: list[ItemOutcome] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for item in self.items if item.status == status)

    @property
    def summary(self) -> dict:
        return {s: self.count(s) for s in (CREATED, UPDATED, UNCHANGED, REJECTED)}


def fingerprint(values: dict) -> str:
    """Keyed fingerprint of a clean record (HMAC, so it reveals nothing about the PII in it)."""
    canonical = json.dumps(values, sort_keys=True, ensure_ascii=False, default=str, separators=(",", ":"))
    return blind_index(canonical, "text")


class _Refs:
    """Reference-data lookups cached for one batch (or one whole import)."""

    def __init__(self):
        self.org_units: dict[str, int] = {}
        self.products: dict[str, Product] = {}
        self.salespeople: dict[str, int] = {}

    def org_unit(self, codes: Iterable[str]) -> dict[str, int]:
        missing = {c for c in codes if c and c not in self.org_units}
        if missing:
            self.org_units.update(OrgUnit.objects.filter(code__in=missing).values_list("code", "id"))
        return self.org_units

    def product(self, codes: Iterable[str]) -> dict[str, Product]:
        missing = {c for c in codes if c and c not in self.products}
        if missing:
            self.products.update({p.code: p for p in Product.objects.filter(code__in=missing)})
        return self.products

    def salesperson(self, codes: Iterable[str]) -> dict[str, int]:
        missing = {c for c in codes if c and c not in self.salespeople}
        if missing:
            self.salespeople.update(Salesperson.objects.filter(code__in=missing).values_list("code", "id"))
        return self.salespeople


def _existing(model, key_field: str, keys: list[str], columns: tuple[str, ...]) -> dict[str, tuple]:
    """Business key → (id, *columns) of the records that exist, in one query (PostgreSQL: one
    array parameter rather than thousands of placeholders)."""
    if not keys:
        return {}
    if connection.vendor == "postgresql":
        qn = connection.ops.quote_name
        meta = model._meta
        names = [meta.get_field(key_field).column, "id", *(meta.get_field(c).column for c in columns)]
        sql = (
            f"SELECT {', '.join(qn(n) for n in names)} FROM {qn(meta.db_table)} "
            f"WHERE {qn(names[0])} = ANY(%s)"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [list(keys)])
            return {row[0]: row[1:] for row in cursor.fetchall()}
    return {
        row[0]: row[1:]
        for row in model.objects.filter(**{f"{key_field}__in": keys}).values_list(key_field, "id", *columns)
    }


def _write(
    model,
    key_field: str,
    records: list[dict],
    outcomes: dict[str, ItemOutcome],
    provenance,
    *,
    compare: tuple[str, ...] = ("source_hash",),
    existing: dict[str, tuple] | None = None,
    complete=None,
    keep: tuple[str, ...] = (),
    want_ids: bool = True,
) -> dict[str, int]:
    """Insert new and update changed records in one statement; return key → id for all keys
    (``want_ids``) or for none.

    ``records`` hold model field values incl. the fingerprints in ``compare`` (a record whose
    fingerprints all equal the stored ones is unchanged and not written); ``outcomes`` maps key →
    outcome to fill in (created / updated / unchanged). ``existing`` (key → (id, *compare)) saves
    the lookup when the caller has it. ``complete(record)`` adds what only a written record needs
    (blind indexes), so unchanged records cost no MAC or encryption. Fields in ``keep`` are set
    on insert but never updated.
    """
    keys = [r[key_field] for r in records]
    if existing is None:
        existing = _existing(model, key_field, keys, compare)
    to_write = []
    job_id, row_of = provenance
    for r in records:
        key = r[key_field]
        current = existing.get(key)
        if current is not None and all(current[1 + i] == r[c] for i, c in enumerate(compare)):
            outcomes[key].status = UNCHANGED
            continue
        outcomes[key].status = UPDATED if current is not None else CREATED
        if complete is not None:
            complete(r)
        r["last_import_job"] = job_id
        r["last_import_row"] = row_of(key)
        to_write.append(r)
    ids = {k: v[0] for k, v in existing.items()} if want_ids else {}
    if to_write:
        # Update only what the records carry (plus bookkeeping): a policy's embedded applicant must
        # not wipe the contact preferences the customer feed set (do-not-call, CL-03), nor may a
        # re-sent record reset fields other code owns (Salesperson.staff_user, PolicyEvent.applied_at).
        carried = set(to_write[0]) | {"updated_at"}
        update_fields = [
            f.name
            for f in model._meta.concrete_fields
            if f.name not in ("id", key_field, "created_at")
            and not f.primary_key
            and (f.name in carried or f.attname in carried)
            and f.name not in keep
            and f.attname not in keep
        ]
        written = bulk_upsert(model, key_field, to_write, update_fields, returning=want_ids)
        if want_ids:
            if written is not None:
                ids.update(written)
            else:
                new_keys = [k for k in keys if k not in ids]
                if new_keys:
                    ids.update(
                        model.objects.filter(**{f"{key_field}__in": new_keys}).values_list(key_field, "id")
                    )
    return ids


def _embedded_customer(values: dict, prefix: str, org_unit_id: int) -> dict:
    """The customer record a policy row carries (applicant or insured): identity only."""
    record = {
        "customer_no": values[f"{prefix}no"],
        "name": values[f"{prefix}name"],
        "id_type": values.get(f"{prefix}id_type") or "resident_id",
        "id_number": values.get(f"{prefix}id_number") or "",
        "birth_date": values.get(f"{prefix}birth_date"),
        "sex": values.get(f"{prefix}sex") or "U",
        "mobile": values.get(f"{prefix}mobile") or "",
        "address": values.get(f"{prefix}address") or "",
        "org_unit_id": org_unit_id,  # for a new customer only: see _upsert_policies
    }
    record["source_hash"] = customer_identity(record)
    return record


def _customer_record(values: dict, prefix: str, org_unit_id: int) -> dict:
    """A customer from the customer feed (``prefix`` "") or embedded in a policy row."""
    if prefix:
        return _embedded_customer(values, prefix, org_unit_id)
    record = _embedded_customer(values | {"no": values["customer_no"]}, "", org_unit_id)
    record |= {
        "other_phones": values.get("other_phones") or [],
        "email": values.get("email") or "",
        "contact_window_start": values.get("contact_window_start"),
        "contact_window_end": values.get("contact_window_end"),
        "do_not_call_reason": values.get("do_not_call_reason") or "",
        "do_not_call_until": values.get("do_not_call_until"),
        "e_callback_declined": bool(values.get("e_callback_declined")),
    }
    record["contact_hash"] = customer_contact(record)
    return record


def _blind_indexes(record: dict) -> None:
    """Blind indexes of a customer about to be written (never of an unchanged one)."""
    number, mobile = record["id_number"], record["mobile"]
    record["id_number_bidx"] = blind_index(number, "id_number") if number else ""
    record["mobile_bidx"] = blind_index(mobile, "phone") if mobile else ""


# What a new customer from a policy row has of what only the customer feed carries.
_NO_CONTACT_DETAILS = {
    "other_phones": [],
    "email": "",
    "contact_window_start": None,
    "contact_window_end": None,
    "do_not_call_reason": "",
    "do_not_call_until": None,
    "e_callback_declined": False,
}


def _complete_embedded(record: dict) -> None:
    """A customer from a policy row about to be written: blind indexes, and the contact
    fingerprint of a new customer (the org unit it starts in, no contact preferences yet: the
    same for every new customer of one org unit, so computed once per unit and key ring)."""
    _blind_indexes(record)
    by_org = keyring().cache.setdefault("records_new_customer_contact", {})
    contact = by_org.get(record["org_unit_id"])
    if contact is None:
        contact = by_org[record["org_unit_id"]] = customer_contact(record | _NO_CONTACT_DETAILS)
    record["contact_hash"] = contact


_CENT = Decimal("0.01")


def _money(value):
    """An amount as stored (two decimals), so that a fingerprint of what was sent equals one of
    what is stored (an API caller may send 10000 for 10000.00)."""
    if value is None or (isinstance(value, Decimal) and value.as_tuple().exponent == -2):
        return value
    return Decimal(str(value)).quantize(_CENT)


# What a policy's fingerprint covers, in order (the record as written, then the versions of the
# product and of the embedded applicant and insured).
POLICY_FINGERPRINT_FIELDS = (
    "policy_no",
    "product_id",
    "channel",
    "is_group",
    "applicant_id",
    "insured_id",
    "salesperson_id",
    "org_unit_id",
    "premium",
    "sum_assured",
    "payment_mode",
    "payment_years",
    "payment_frequency",
    "term_years",
    "application_date",
    "issue_date",
    "receipt_date",
    "termination_date",
    "status",
    "sale_recorded",
    "applicant_age",
    "is_long_term",
    "recording_required",
    "cooling_off_days",
    "cooling_off_end",
)


def policy_fingerprint(
    record: dict, product_version: str, applicant_version: str, insured_version: str
) -> str:
    return fingerprint_parts(
        "policy/1",
        [record[f] for f in POLICY_FINGERPRINT_FIELDS]
        + [product_version, applicant_version, insured_version],
    )


def _dedupe(rows: list[tuple[int, dict]], key: str, outcome: BatchOutcome) -> list[tuple[int, dict]]:
    """A business key twice in one batch: the first occurrence wins, later ones are rejected."""
    first: dict[str, int] = {}
    kept = []
    for index, values in rows:
        k = values[key]
        if k in first:
            outcome.items.append(
                ItemOutcome(index, k, REJECTED, [(key, f"duplicate of row {first[k]} in this batch")])
            )
            continue
        first[k] = index
        kept.append((index, values))
    return kept


class RecordsFeed:
    """Upserts clean rows (from huifang.records.schema.validate_row) of one kind, batch by batch.

    One instance per import (or per API request) caches reference data across batches.
    ``job_id`` marks rows with their import job so that a key seen twice in one file is reported.
    """

    def __init__(
        self,
        kind: str,
        *,
        actor=None,
        job_id: int | None = None,
        source: str = "api",
        savepoint: bool = True,
    ):
        self.kind = kind
        self.actor = actor
        self.job_id = job_id
        self.source = source
        # False when the caller's own transaction wraps every batch and rolls back whole on any
        # error (the file import): no savepoint per batch, which on SQLite made each insert
        # slower as the tables grew (BENCHMARKS.md, "SQLite: quadratic").
        self.savepoint = savepoint
        self.refs = _Refs()

    def upsert(self, rows: list[tuple[int, dict]]) -> BatchOutcome:
        """Write one batch of (index, clean values) in one transaction and return per-item outcomes."""
        outcome = BatchOutcome()
        rows = _dedupe(rows, BUSINESS_KEYS[self.kind], outcome)
        handler = getattr(self, f"_upsert_{self.kind}")
        with transaction.atomic(savepoint=self.savepoint):
            handler(rows, outcome)
            summary = outcome.summary
            if summary[CREATED] or summary[UPDATED]:
                audit_record(
                    events.RECORDS_BATCH_UPSERTED,
                    actor=self.actor,
                    subject_type=f"records.{self.kind}",
                    subject_id=str(self.job_id or ""),
                    data={"kind": self.kind, "source": self.source, **summary},
                )
                changed = [item.key for item in outcome.items if item.status in (CREATED, UPDATED)]
                transaction.on_commit(lambda: records_changed(self.kind, changed))
        outcome.items.sort(key=lambda item: item.index)
        return outcome

    # -- helpers ---------------------------------------------------------------------------------

    def _provenance(self, rows: list[tuple[int, dict]], key: str):
        row_by_key = {values[key]: index for index, values in rows}
        return self.job_id, (lambda k: row_by_key.get(k) if self.job_id else None)

    def _reject(self, outcome, index, key, column, reason):
        outcome.items.append(ItemOutcome(index, key, REJECTED, [(column, reason)]))

    def _in_file_duplicates(
        self, model, key: str, rows: list[tuple[int, dict]], outcome, compare=("source_hash",)
    ) -> tuple[list[tuple[int, dict]], dict[str, tuple]]:
        """Keys already written earlier by this same import job are duplicates within the file.

        Returns the rows kept and what exists of them (key → (id, *compare), for ``_write``): one
        query answers both."""
        found = _existing(
            model, key, [v[key] for _i, v in rows], (*compare, "last_import_job", "last_import_row")
        )
        kept = rows
        if self.job_id:
            kept = []
            for index, values in rows:
                current = found.get(values[key])
                if current is not None and current[-2] == self.job_id and current[-1] < index:
                    self._reject(
                        outcome, index, values[key], key, f"duplicate of row {current[-1]} in this file"
                    )
                else:
                    kept.append((index, values))
        return kept, {k: v[:-2] for k, v in found.items()}

    def _finish(self, model, key, records, items, rows, existing, **options):
        return _write(model, key, records, items, self._provenance(rows, key), existing=existing, **options)

    # -- kinds -----------------------------------------------------------------------------------

    def _upsert_customers(self, rows, outcome):
        compare = ("source_hash", "contact_hash")
        rows, existing = self._in_file_duplicates(Customer, "customer_no", rows, outcome, compare)
        orgs = self.refs.org_unit(v["org_unit"] for _i, v in rows)
        records, items, kept = [], {}, []
        for index, values in rows:
            if values["org_unit"] not in orgs:
                self._reject(
                    outcome,
                    index,
                    values["customer_no"],
                    "org_unit",
                    f"unknown org unit {values['org_unit']!r}",
                )
                continue
            records.append(_customer_record(values, "", orgs[values["org_unit"]]))
            items[values["customer_no"]] = ItemOutcome(index, values["customer_no"], "")
            kept.append((index, values))
        self._finish(
            Customer,
            "customer_no",
            records,
            items,
            kept,
            existing,
            compare=compare,
            complete=_blind_indexes,
            want_ids=False,
        )
        outcome.items.extend(items.values())

    def _upsert_products(self, rows, outcome):
        rows, existing = self._in_file_duplicates(Product, "code", rows, outcome)
        records, items = [], {}
        for index, values in rows:
            record = {
                "code": values["code"],
                "name": values["name"],
                "line": values["line"],
                "kind": values["kind"],
                "term_type": values["term_type"],
                "cooling_off_days": values["cooling_off_days"],
                "high_risk": bool(values.get("high_risk")),
                "script_code": values.get("script_code") or "",
                "active": True,
            }
            record["source_hash"] = fingerprint(record)
            records.append(record)
            items[values["code"]] = ItemOutcome(index, values["code"], "")
        self._finish(Product, "code", records, items, rows, existing, want_ids=False)
        self.refs.products.clear()
        outcome.items.extend(items.values())

    def _upsert_salespeople(self, rows, outcome):
        rows, existing = self._in_file_duplicates(Salesperson, "code", rows, outcome)
        orgs = self.refs.org_unit(v["org_unit"] for _i, v in rows)
        records, items, kept = [], {}, []
        for index, values in rows:
            if values["org_unit"] not in orgs:
                self._reject(
                    outcome, index, values["code"], "org_unit", f"unknown org unit {values['org_unit']!r}"
                )
                continue
            record = {
                "code": values["code"],
                "name": values["name"],
                "org_unit_id": orgs[values["org_unit"]],
                "channel": values["channel"],
                "status": values["status"],
                "departed_on": values.get("departed_on"),
            }
            record["source_hash"] = fingerprint(record)
            records.append(record)
            items[values["code"]] = ItemOutcome(index, values["code"], "")
            kept.append((index, values))
        self._finish(Salesperson, "code", records, items, kept, existing, want_ids=False)
        self.refs.salespeople.clear()
        outcome.items.extend(items.values())

    def _upsert_policies(self, rows, outcome):
        rows, existing = self._in_file_duplicates(Policy, "policy_no", rows, outcome)
        orgs = self.refs.org_unit(v["org_unit"] for _i, v in rows)
        products = self.refs.product(v["product_code"] for _i, v in rows)
        sales = self.refs.salesperson(v.get("salesperson_code") for _i, v in rows)
        resolved = []
        for index, values in rows:
            key = values["policy_no"]
            if values["org_unit"] not in orgs:
                self._reject(outcome, index, key, "org_unit", f"unknown org unit {values['org_unit']!r}")
            elif values["product_code"] not in products:
                self._reject(
                    outcome, index, key, "product_code", f"unknown product {values['product_code']!r}"
                )
            elif values.get("salesperson_code") and values["salesperson_code"] not in sales:
                self._reject(
                    outcome,
                    index,
                    key,
                    "salesperson_code",
                    f"unknown salesperson {values['salesperson_code']!r}",
                )
            else:
                resolved.append((index, values))
        # Customers first: applicant and insured, one record per customer number (last one wins).
        # A policy carries the customer's identity, not where the customer is served: a new
        # customer starts in the policy's org unit, an existing one keeps its own (the customer
        # feed moves it), so a customer with policies in two branches does not flip between them.
        customers: dict[str, dict] = {}
        for _index, values in resolved:
            org_id = orgs[values["org_unit"]]
            customers[values["applicant_no"]] = _embedded_customer(values, "applicant_", org_id)
            if values.get("insured_no") and values["insured_no"] != values["applicant_no"]:
                customers[values["insured_no"]] = _embedded_customer(values, "insured_", org_id)
        cust_items = {k: ItemOutcome(-1, k, "") for k in customers}
        cust_ids = _write(
            Customer,
            "customer_no",
            list(customers.values()),
            cust_items,
            (None, lambda k: None),
            complete=_complete_embedded,
            keep=("org_unit", "contact_hash"),
        )
        records, items = [], {}
        for index, values in resolved:
            product = products[values["product_code"]]
            applicant_no = values["applicant_no"]
            insured_no = values.get("insured_no") or applicant_no
            applicant = customers[applicant_no]
            derived = policy_derive(
                channel=values["channel"],
                term_years=values["term_years"],
                application_date=values["application_date"],
                receipt_date=values.get("receipt_date"),
                applicant_birth=applicant["birth_date"],
                product_kind=product.kind,
                product_term_type=product.term_type,
                product_cooling_off_days=product.cooling_off_days,
            )
            salesperson_code = values.get("salesperson_code")
            record = {
                "policy_no": values["policy_no"],
                "product_id": product.id,
                "channel": values["channel"],
                "is_group": bool(values.get("is_group")),
                "applicant_id": cust_ids[applicant_no],
                "insured_id": cust_ids[insured_no],
                "salesperson_id": sales.get(salesperson_code) if salesperson_code else None,
                "org_unit_id": orgs[values["org_unit"]],
                "premium": _money(values["premium"]),
                "sum_assured": _money(values.get("sum_assured")),
                "payment_mode": values["payment_mode"],
                "payment_years": values["payment_years"],
                "payment_frequency": values["payment_frequency"],
                "term_years": values["term_years"],
                "application_date": values["application_date"],
                "issue_date": values.get("issue_date"),
                "receipt_date": values.get("receipt_date"),
                "termination_date": values.get("termination_date"),
                "status": values.get("status") or PolicyStatus.IN_FORCE.value,
                "sale_recorded": bool(values.get("sale_recorded")),
                **derived,
            }
            # The embedded applicant/insured are part of what was sent: a change to them is a change
            # to the policy (reported as "updated" and audited), not a silent customer write.
            record["source_hash"] = policy_fingerprint(
                record, product.source_hash, applicant["source_hash"], customers[insured_no]["source_hash"]
            )
            records.append(record)
            items[values["policy_no"]] = ItemOutcome(index, values["policy_no"], "")
        self._finish(Policy, "policy_no", records, items, resolved, existing, want_ids=False)
        outcome.items.extend(items.values())

    def _upsert_claims(self, rows, outcome):
        rows, existing = self._in_file_duplicates(Claim, "claim_no", rows, outcome)
        policy_nos = {v["policy_no"] for _i, v in rows}
        policies = {
            no: (pid, org)
            for no, pid, org in Policy.objects.filter(policy_no__in=policy_nos).values_list(
                "policy_no", "id", "org_unit_id"
            )
        }
        claimant_nos = {v["claimant_no"] for _i, v in rows if v.get("claimant_no")}
        claimants = dict(
            Customer.objects.filter(customer_no__in=claimant_nos).values_list("customer_no", "id")
        )
        records, items, kept = [], {}, []
        for index, values in rows:
            key = values["claim_no"]
            if values["policy_no"] not in policies:
                self._reject(outcome, index, key, "policy_no", f"unknown policy {values['policy_no']!r}")
                continue
            if values.get("claimant_no") and values["claimant_no"] not in claimants:
                self._reject(
                    outcome, index, key, "claimant_no", f"unknown customer {values['claimant_no']!r}"
                )
                continue
            policy_id, org_id = policies[values["policy_no"]]
            record = {
                "claim_no": key,
                "policy_id": policy_id,
                "claimant_id": claimants.get(values.get("claimant_no")),
                "org_unit_id": org_id,
                **{
                    f: values.get(f)
                    for f in (
                        "reported_on",
                        "accepted_on",
                        "decided_on",
                        "paid_on",
                        "closed_on",
                        "amount_claimed",
                        "amount_paid",
                    )
                },
                "decision": values.get("decision") or "",
                "status": values["status"],
            }
            record["source_hash"] = fingerprint(record)
            records.append(record)
            items[key] = ItemOutcome(index, key, "")
            kept.append((index, values))
        self._finish(Claim, "claim_no", records, items, kept, existing, want_ids=False)
        outcome.items.extend(items.values())

    def _upsert_events(self, rows, outcome):
        rows, existing = self._in_file_duplicates(PolicyEvent, "event_no", rows, outcome)
        policy_nos = {v["policy_no"] for _i, v in rows}
        policies = {
            no: (pid, org)
            for no, pid, org in Policy.objects.filter(policy_no__in=policy_nos).values_list(
                "policy_no", "id", "org_unit_id"
            )
        }
        records, items, kept = [], {}, []
        for index, values in rows:
            key = values["event_no"]
            if values["policy_no"] not in policies:
                self._reject(outcome, index, key, "policy_no", f"unknown policy {values['policy_no']!r}")
                continue
            policy_id, org_id = policies[values["policy_no"]]
            record = {
                "event_no": key,
                "policy_id": policy_id,
                "kind": values["kind"],
                "event_date": values["event_date"],
                "details": {"note": values["note"]} if values.get("note") else {},
                "org_unit_id": org_id,
            }
            record["source_hash"] = fingerprint(record)
            records.append(record)
            items[key] = ItemOutcome(index, key, "")
            kept.append((index, values))
        self._finish(PolicyEvent, "event_no", records, items, kept, existing, want_ids=False)
        outcome.items.extend(items.values())
        new_keys = [k for k, it in items.items() if it.status == CREATED]
        for event in (
            PolicyEvent.objects.filter(event_no__in=new_keys, applied_at__isnull=True)
            .select_related("policy")
            .order_by("event_date", "id")
        ):
            policy_event_apply(event, actor=self.actor)


# ---- policy events -------------------------------------------------------------------------------

# Event kind → the status it puts the policy in (None: no status change).
EVENT_STATUS = {
    PolicyEvent.Kind.COOLING_OFF_CANCEL: PolicyStatus.CANCELLED_COOLING_OFF,
    PolicyEvent.Kind.SURRENDER: PolicyStatus.SURRENDERED,
    PolicyEvent.Kind.LAPSE: PolicyStatus.LAPSED,
    PolicyEvent.Kind.REINSTATEMENT: PolicyStatus.IN_FORCE,
    PolicyEvent.Kind.TERMINATION: PolicyStatus.TERMINATED,
}
TERMINATING = {PolicyStatus.CANCELLED_COOLING_OFF, PolicyStatus.SURRENDERED, PolicyStatus.TERMINATED}
# Allowed status transitions by events (anything else is recorded but does not move the status).
STATUS_TRANSITIONS = {
    PolicyStatus.IN_FORCE: {
        PolicyStatus.CANCELLED_COOLING_OFF,
        PolicyStatus.SURRENDERED,
        PolicyStatus.LAPSED,
        PolicyStatus.TERMINATED,
    },
    PolicyStatus.LAPSED: {PolicyStatus.IN_FORCE, PolicyStatus.SURRENDERED, PolicyStatus.TERMINATED},
    PolicyStatus.CANCELLED_COOLING_OFF: set(),
    PolicyStatus.SURRENDERED: set(),
    PolicyStatus.TERMINATED: set(),
}


@transaction.atomic
def policy_event_apply(event: PolicyEvent, *, actor=None) -> bool:
    """Apply a recorded policy event to its policy (status, termination, salesperson departure).

    Returns True if the policy (or salesperson) changed. Safe to call twice: an applied event is
    skipped. Status changes follow STATUS_TRANSITIONS and are audited.
    """
    event = PolicyEvent.objects.select_for_update().select_related("policy").get(pk=event.pk)
    if event.applied_at is not None:
        return False
    policy = Policy.objects.select_for_update().get(pk=event.policy_id)
    changed = False
    new_status = EVENT_STATUS.get(event.kind)
    if new_status and new_status in STATUS_TRANSITIONS.get(policy.status, set()):
        before = policy.status
        policy.status = new_status
        policy.status_changed_on = event.event_date
        if new_status in TERMINATING:
            policy.termination_date = event.event_date
        elif new_status == PolicyStatus.IN_FORCE:
            policy.termination_date = None
        policy.save(update_fields=["status", "status_changed_on", "termination_date", "updated_at"])
        audit_record(
            events.POLICY_STATUS_CHANGED,
            actor=actor,
            subject=policy,
            data={
                "event_no": event.event_no,
                "kind": event.kind,
                "before": before,
                "after": new_status,
                "on": event.event_date,
            },
        )
        changed = True
    if event.kind == PolicyEvent.Kind.SALESPERSON_DEPARTED and policy.salesperson_id:
        sp = Salesperson.objects.select_for_update().get(pk=policy.salesperson_id)
        if sp.status != Salesperson.Status.DEPARTED:
            sp.status = Salesperson.Status.DEPARTED
            sp.departed_on = event.event_date
            sp.save(update_fields=["status", "departed_on", "updated_at"])
            audit_record(
                events.SALESPERSON_DEPARTED,
                actor=actor,
                subject=sp,
                data={"on": event.event_date, "event_no": event.event_no},
            )
            changed = True
    event.applied_at = timezone.now()
    event.save(update_fields=["applied_at"])
    return changed


def policy_status_on(policy: Policy, on: date) -> str:
    """The status a policy had on a day, from its applied events (for KPI cut-offs)."""
    status = PolicyStatus.IN_FORCE
    for ev in policy.events.filter(event_date__lte=on, applied_at__isnull=False).order_by("event_date", "id"):
        status = EVENT_STATUS.get(ev.kind, status)
    return status
