"""Staff pages for insurance records: search, the customer page (with the audited reveal of one
personal value at a time) and the policy page.

Every page needs ``Cap.VIEW_RECORDS`` (403 otherwise); a customer or policy outside the user's org
subtree answers 404, the same as a missing one. Pages are never cached: they show personal
information (masked, or revealed on request).
"""

from django import forms
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from huifang.core.crypto.services import REASON_MAX_LENGTH, REASON_MIN_LENGTH, pii_reveal
from huifang.core.permissions import Cap, has_cap, require_cap
from huifang.records import selectors_web as sel


def _is_htmx(request) -> bool:
    return request.headers.get("HX-Request") == "true"


class SearchForm(forms.Form):
    q = forms.CharField(
        label=_("Policy number, customer number, ID number or mobile number"),
        max_length=60,
        strip=True,
    )


class RevealForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason for revealing"),
        min_length=REASON_MIN_LENGTH,
        max_length=REASON_MAX_LENGTH,
        strip=True,
        error_messages={
            "required": _("Give a reason for revealing this value."),
            "min_length": _("The reason must have at least %(limit_value)d characters."),
        },
    )


# ---- search ---------------------------------------------------------------------------------------


@never_cache
@require_http_methods(["GET", "POST"])
def search(request):
    """Find customers and policies by an exact number. The query is POSTed, so that ID and mobile
    numbers never land in URLs (server logs, browser history)."""
    require_cap(request.user, Cap.VIEW_RECORDS)
    form = SearchForm(request.POST if request.method == "POST" else None)
    results = None
    if form.is_bound and form.is_valid():
        results = sel.records_search(request.user, form.cleaned_data["q"])
    context = {"form": form, "results": results}
    if request.method == "POST" and _is_htmx(request):
        return render(request, "records/_search_results.html", context)
    return render(request, "records/search.html", context)


# ---- the customer page ----------------------------------------------------------------------------


def _customer_context(request, customer, pii_fields=None) -> dict:
    user = request.user
    records = sel.customer_records(user, customer)
    return {
        "customer": customer,
        "pii_fields": pii_fields or sel.customer_pii_fields(customer),
        "can_reveal": has_cap(user, Cap.REVEAL_PII),
        "do_not_call_active": sel.do_not_call_active(customer),
        "consents": sel.customer_consents(customer),
        "policies": records.policies,
        "claims": records.claims,
        "timeline": sel.customer_timeline(customer, user),
    }


@never_cache
@require_GET
def customer_detail(request, customer_no):
    require_cap(request.user, Cap.VIEW_RECORDS)
    customer = sel.access_customer(request.user, customer_no)
    return render(request, "records/customer.html", _customer_context(request, customer))


@never_cache
@require_POST
def customer_reveal(request, customer_no, field):
    """Reveal one personal value of a customer for a reason (audited by pii_reveal, PV-10).

    Order of refusals: no VIEW_RECORDS → 403; customer missing or out of scope → 404; unknown
    field → 404; no REVEAL_PII → 403; no valid reason → the form again with the error. Only a
    successful reveal writes an audit event.
    """
    require_cap(request.user, Cap.VIEW_RECORDS)
    customer = sel.access_customer(request.user, customer_no)
    if field not in sel.REVEALABLE_FIELDS:
        raise Http404
    require_cap(request.user, Cap.REVEAL_PII)
    pii_fields = sel.customer_pii_fields(customer)
    pii = next(p for p in pii_fields if p.name == field)
    form = RevealForm(request.POST)
    if form.is_valid():
        try:
            pii.revealed = pii_reveal(request.user, customer, field, form.cleaned_data["reason"])
        except ValidationError as exc:
            form.add_error("reason", exc)
    if pii.revealed is None:
        pii.error = " ".join(str(m) for m in form.errors.get("reason", []))
        pii.reason = request.POST.get("reason", "")[:REASON_MAX_LENGTH]
    if _is_htmx(request):
        # htmx swaps only 2xx answers: the form with its error comes back as 200.
        return render(
            request,
            "records/_pii_field.html",
            {"pii": pii, "customer": customer, "can_reveal": True},
        )
    status = 200 if pii.revealed is not None else 400
    return render(
        request,
        "records/customer.html",
        _customer_context(request, customer, pii_fields),
        status=status,
    )


# ---- the policy page ------------------------------------------------------------------------------


@never_cache
@require_GET
def policy_detail(request, policy_no):
    require_cap(request.user, Cap.VIEW_RECORDS)
    policy = sel.access_policy(request.user, policy_no)
    context = {
        "policy": policy,
        "facts": sel.policy_derived_facts(policy),
        "claims": sel.policy_claims(policy),
        "events": sel.policy_events(policy),
    }
    return render(request, "records/policy.html", context)
