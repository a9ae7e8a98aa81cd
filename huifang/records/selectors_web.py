"""Reads behind the staff pages for insurance records: search, the customer page with its
timeline, and the policy page with its derived facts.

Every fetch is scoped to what the user may see (``huifang.core.permissions.scope_queryset``);
personal information leaves this module masked, except through the audited reveal
(``huifang.core.crypto.services.pii_reveal``). Exact search on ID and mobile numbers goes through
the blind indexes, so the table is never decrypted to find a row.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from django.db.models import Q
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext, gettext_noop, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from huifang.core.crypto.blind_index import blind_index
from huifang.core.crypto.masking import mask_for
from huifang.core.permissions import Cap, access_object, scope_queryset
from huifang.records.derive import DERIVED_FACTS
from huifang.records.models import Claim, Customer, Policy, PolicyEvent

SEARCH_LIMIT = 50

# ---- permission-checked fetches -----------------------------------------------------------------------


def access_customer(user, customer_no: str) -> Customer:
    """The customer with this number if the user may see it (their org subtree), else Http404 —
    the same for "missing" and "not yours"."""
    return access_object(
        user,
        Customer.objects.select_related("org_unit"),
        cap=Cap.VIEW_RECORDS,
        customer_no=customer_no,
    )


def access_policy(user, policy_no: str) -> Policy:
    """The policy with this number if the user may see it, else Http404 (same for missing)."""
    return access_object(
        user,
        Policy.objects.select_related("product", "salesperson", "org_unit", "applicant", "insured"),
        cap=Cap.VIEW_RECORDS,
        policy_no=policy_no,
    )


# ---- search -------------------------------------------------------------------------------------------


@dataclass
class SearchResults:
    query: str
    customers: list[Customer] = field(default_factory=list)
    policies: list[Policy] = field(default_factory=list)
    truncated: bool = False

    @property
    def empty(self) -> bool:
        return not self.customers and not self.policies


def records_search(user, query: str, *, limit: int = SEARCH_LIMIT) -> SearchResults:
    """Customers and policies matching ``query`` exactly, within the user's scope.

    The query is tried as a policy number, a customer number, an ID number and a mobile number
    at once (all exact; the last two by blind index). Policies are also found through their
    applicant or insured, so a search by ID or mobile shows the customer's policies in scope.
    """
    query = (query or "").strip()
    results = SearchResults(query=query)
    if not query:
        return results
    match = Q(customer_no=query)
    id_index = blind_index(query, "id_number")
    if id_index:
        match |= Q(id_number_bidx=id_index)
    phone_index = blind_index(query, "phone")
    if phone_index:
        match |= Q(mobile_bidx=phone_index)
    # Unscoped ids (never shown): a policy in scope may name a customer serviced elsewhere.
    matched_ids = list(Customer.objects.filter(match).order_by("pk").values_list("pk", flat=True)[:limit])
    customers = scope_queryset(user, Customer.objects.filter(pk__in=matched_ids), "org_unit")
    results.customers = list(customers.select_related("org_unit").order_by("customer_no"))
    policy_match = Q(policy_no=query)
    if matched_ids:
        policy_match |= Q(applicant_id__in=matched_ids) | Q(insured_id__in=matched_ids)
    policies = scope_queryset(user, Policy.objects.filter(policy_match), "org_unit")
    rows = list(
        policies.select_related("product", "org_unit", "applicant", "insured").order_by(
            "-application_date", "policy_no"
        )[: limit + 1]
    )
    results.truncated = len(rows) > limit or len(matched_ids) >= limit
    results.policies = rows[:limit]
    return results


# ---- the customer page ------------------------------------------------------------------------------

# Customer fields that are shown masked and can be revealed one at a time: field → mask kind.
REVEALABLE_FIELDS: dict[str, str] = {
    "name": "name",
    "id_number": "id_number",
    "mobile": "phone",
    "other_phones": "phone",
    "address": "address",
    "email": "email",
}
PII_LABELS = {
    "name": pgettext_lazy("customer field", "Name"),
    "id_number": pgettext_lazy("customer field", "ID number"),
    "mobile": pgettext_lazy("customer field", "Mobile"),
    "other_phones": pgettext_lazy("customer field", "Other phones"),
    "address": pgettext_lazy("customer field", "Address"),
    "email": pgettext_lazy("customer field", "E-mail"),
}


@dataclass
class PiiField:
    """One personal value as the page shows it: masked, or revealed after an audited reveal."""

    name: str
    label: str
    masked: str
    revealed: str | None = None
    error: str = ""
    reason: str = ""


def customer_pii_fields(customer: Customer) -> list[PiiField]:
    """The customer's personal values, masked, in the order the page shows them."""
    return [
        PiiField(
            name=name,
            label=str(PII_LABELS.get(name) or Customer._meta.get_field(name).verbose_name),
            masked=mask_for(kind, getattr(customer, name)),
        )
        for name, kind in REVEALABLE_FIELDS.items()
    ]


@dataclass
class CustomerRecords:
    """What the records app holds about one customer, as far as one user may see it."""

    policies: list[Policy]
    claims: list[Claim]
    events: list[PolicyEvent]


def customer_records(user, customer: Customer) -> CustomerRecords:
    """The customer's policies (as applicant or insured), claims (as claimant or on those
    policies) and policy events, each scoped to the user's org subtree.

    Three queries whatever the number of policies; the result is kept on the customer instance
    for the same user, so the page and the timeline provider share one fetch.
    """
    cache = customer.__dict__.setdefault("_records_by_user", {})
    # Never let an anonymous user (pk None) share the unscoped system fetch (user None).
    key = ("system",) if user is None else ("user", user.pk)
    if key in cache:
        return cache[key]
    on_their_policies = Q(policy__applicant=customer) | Q(policy__insured=customer)
    policies = Policy.objects.filter(Q(applicant=customer) | Q(insured=customer))
    claims = Claim.objects.filter(Q(claimant=customer) | on_their_policies)
    events = PolicyEvent.objects.filter(on_their_policies)
    if user is not None:
        policies = scope_queryset(user, policies, "org_unit")
        claims = scope_queryset(user, claims, "org_unit")
        events = scope_queryset(user, events, "org_unit")
    records = CustomerRecords(
        policies=list(
            policies.select_related("product", "org_unit").order_by("-application_date", "policy_no")
        ),
        claims=list(claims.select_related("policy").order_by("-reported_on", "claim_no")),
        events=list(events.select_related("policy").order_by("-event_date", "-id")),
    )
    cache[key] = records
    return records


def do_not_call_active(customer: Customer, today: date | None = None) -> bool:
    """A do-not-call request (CL-03) holds until its expiry day inclusive; one without an expiry
    holds until withdrawn."""
    if not (customer.do_not_call_reason or customer.do_not_call_until):
        return False
    today = today or timezone.localdate()
    return customer.do_not_call_until is None or customer.do_not_call_until >= today


def customer_consents(customer: Customer) -> list:
    return list(customer.consents.order_by("-recorded_at"))


# ---- the timeline -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineEntry:
    """One line on a customer's timeline.

    ``kind`` is a stable machine id ("policy.applied", "claim.reported", "policy_event.lapse",
    later "callback.completed", "complaint.received" …); ``label`` is what staff read for it.
    ``description`` is short and never holds unmasked personal information. ``at`` (an aware
    datetime) orders entries within a day when the moment is known.
    """

    on: date
    kind: str
    label: str
    description: str = ""
    policy_no: str = ""
    url: str = ""
    at: datetime | None = None
    source: str = "records"

    def sort_key(self):
        moment = self.at or timezone.make_aware(datetime.combine(self.on, time.min))
        return (self.on, moment)


# A provider takes (customer, user) and returns the entries it knows of for that customer, scoped
# to what ``user`` may see (``user`` None: everything, for system use). It must use a fixed number
# of queries and never put unmasked personal information into an entry. Other apps append theirs
# in their AppConfig.ready(), e.g. ``TIMELINE_PROVIDERS.append(callback_timeline_entries)``.
TimelineProvider = Callable[[Customer, Any], Iterable[TimelineEntry]]
TIMELINE_PROVIDERS: list[TimelineProvider] = []


def register_timeline_provider(provider: TimelineProvider) -> TimelineProvider:
    """Add a provider once (usable as a decorator); registering the same function again is a no-op."""
    if provider not in TIMELINE_PROVIDERS:
        TIMELINE_PROVIDERS.append(provider)
    return provider


def customer_timeline(customer: Customer, user=None) -> list[TimelineEntry]:
    """Everything that happened around ``customer``, newest first, from every registered provider.

    Entries of the same moment keep the order their providers gave them.
    """
    entries: list[TimelineEntry] = []
    for provider in TIMELINE_PROVIDERS:
        entries.extend(provider(customer, user))
    return sorted(entries, key=TimelineEntry.sort_key, reverse=True)


def _amount(value) -> str:
    return formats.number_format(value, decimal_pos=2, use_l10n=True, force_grouping=True)


@register_timeline_provider
def records_timeline_entries(customer: Customer, user) -> list[TimelineEntry]:
    """Policies (application, issue, receipt), claims (reported, closed) and policy events."""
    records = customer_records(user, customer)
    entries: list[TimelineEntry] = []
    for policy in records.policies:
        url = reverse("records:policy", args=[policy.policy_no])
        product = policy.product.name
        entries.append(
            TimelineEntry(
                policy.application_date,
                "policy.applied",
                gettext("Application"),
                product,
                policy.policy_no,
                url,
            )
        )
        if policy.issue_date:
            entries.append(
                TimelineEntry(
                    policy.issue_date,
                    "policy.issued",
                    gettext("Policy issued"),
                    product,
                    policy.policy_no,
                    url,
                )
            )
        if policy.receipt_date:
            description = (
                gettext("Cooling-off period ends %(date)s (CO-03)")
                % {"date": policy.cooling_off_end.isoformat()}
                if policy.cooling_off_end
                else ""
            )
            entries.append(
                TimelineEntry(
                    policy.receipt_date,
                    "policy.receipt_signed",
                    gettext("Receipt signed"),
                    description,
                    policy.policy_no,
                    url,
                )
            )
    for claim in records.claims:
        url = reverse("records:policy", args=[claim.policy.policy_no])
        reported = claim.claim_no
        if claim.amount_claimed is not None:
            reported = gettext("%(claim_no)s, amount claimed %(amount)s") % {
                "claim_no": claim.claim_no,
                "amount": _amount(claim.amount_claimed),
            }
        entries.append(
            TimelineEntry(
                claim.reported_on,
                "claim.reported",
                gettext("Claim reported"),
                reported,
                claim.policy.policy_no,
                url,
            )
        )
        if claim.closed_on:
            closed = claim.claim_no
            if claim.decision:
                closed = f"{closed} · {claim.get_decision_display()}"
            if claim.amount_paid is not None:
                closed = gettext("%(claim)s, paid %(amount)s") % {
                    "claim": closed,
                    "amount": _amount(claim.amount_paid),
                }
            entries.append(
                TimelineEntry(
                    claim.closed_on,
                    "claim.closed",
                    gettext("Claim closed"),
                    closed,
                    claim.policy.policy_no,
                    url,
                )
            )
    for event in records.events:
        note = str((event.details or {}).get("note") or "")
        entries.append(
            TimelineEntry(
                event.event_date,
                f"policy_event.{event.kind}",
                str(event.get_kind_display()),
                _short(note) or event.event_no,
                event.policy.policy_no,
                reverse("records:policy", args=[event.policy.policy_no]),
            )
        )
    return entries


def _short(text: str, length: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= length else text[: length - 1] + "…"


# ---- the policy page ----------------------------------------------------------------------------------

# Short labels for the derived facts (the rule id is shown beside each).
FACT_LABELS = {
    "applicant_age": _("Applicant age"),
    "is_long_term": _("Long-term policy"),
    "recording_required": _("Sale recording (双录) required"),
    "cooling_off_days": _("Cooling-off days"),
    "cooling_off_end": _("Cooling-off end"),
}

# The explanations in huifang.records.derive are plain strings; these markers put them into the
# translation catalogue, and they are translated where they are shown.
_FACT_EXPLANATION_MSGIDS = (
    gettext_noop("applicant's age in full years on the application date"),
    gettext_noop("term over one year (whole life counts as long-term)"),
    gettext_noop(
        "双录 required: bank channel over one year; any investment-linked (投连); applicant 60+ over one "
        "year; telesales recorded whole"
    ),
    gettext_noop("cooling-off length of the product, in calendar days"),
    gettext_noop("receipt date + cooling-off days, counted from the day after receipt"),
)


@dataclass(frozen=True)
class FactRow:
    field: str
    label: str
    value: str
    rule: str
    explanation: str


def _fact_value(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return gettext("yes") if value else gettext("no")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def policy_derived_facts(policy: Policy) -> list[FactRow]:
    """Each derived fact of the policy with its value, rule id and explanation (DERIVED_FACTS)."""
    return [
        FactRow(
            field=fact.field,
            label=str(FACT_LABELS.get(fact.field) or Policy._meta.get_field(fact.field).verbose_name),
            value=_fact_value(getattr(policy, fact.field)),
            rule=fact.rule,
            explanation=gettext(fact.explanation),
        )
        for fact in DERIVED_FACTS
    ]


def policy_claims(policy: Policy) -> list[Claim]:
    return list(policy.claims.select_related("claimant").order_by("-reported_on", "claim_no"))


def policy_events(policy: Policy) -> list[PolicyEvent]:
    return list(policy.events.order_by("-event_date", "-id"))
