"""Administrator screens (/setup/): the overview, rule packs and a rule's versions, with the
explanation preview on a sample policy.

Reading needs ``Cap.ADMINISTER`` or ``Cap.VERIFY_AUDIT`` (the auditor reads, never edits); every
change needs ``Cap.ADMINISTER`` and goes through a service that writes its audit event
(``rules.services.rule_change``, ``callbacks.scripts.script_publish``,
``core.calendar.services.calendar_year_confirm``). Rules, scripts and the calendar are not
org-scoped; a policy chosen for a preview is (``access_policy``: the same answer for missing and
not yours). Scripts: ``views_scripts``; calendar: ``views_calendar``.
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from huifang.core.permissions import Cap, has_cap, require_cap
from huifang.rules import selectors as sel
from huifang.rules.conditions import ConditionsInvalid
from huifang.rules.forms import PreviewForm, RuleChangeForm
from huifang.rules.models import Rule, RulePack
from huifang.rules.services import RulePackInvalid, rule_change
from huifang.rules.views_text import (
    CERTAINTY_LABELS,
    check_words,
    conditions_words,
    explanation_text,
    params_words,
    sample_policy,
)


def is_htmx(request) -> bool:
    return request.headers.get("HX-Request") == "true"


def require_read(user) -> None:
    """Administrators read and edit; compliance auditors read (RULES.md ids and versions are
    evidence they check)."""
    if not (has_cap(user, Cap.ADMINISTER) or has_cap(user, Cap.VERIFY_AUDIT)):
        raise PermissionDenied


def can_edit(user) -> bool:
    return has_cap(user, Cap.ADMINISTER)


# ---- the overview ---------------------------------------------------------------------------------


@never_cache
@require_GET
def home(request):
    require_read(request.user)
    from huifang.core.calendar.selectors import calendar_warnings
    from huifang.rules.views_calendar import calendar_years_overview
    from huifang.rules.views_scripts import script_overview

    context = {
        "packs": sel.rule_pack_overview(),
        "scripts": script_overview(),
        "years": calendar_years_overview(),
        "calendar_warnings": calendar_warnings(),
        "can_edit": can_edit(request.user),
    }
    return render(request, "setup/home.html", context)


# ---- rules ----------------------------------------------------------------------------------------


def rule_words(rule: Rule) -> dict:
    return {
        "rule": rule,
        "params": params_words(rule.params),
        "conditions": conditions_words(rule.conditions),
        "certainty": CERTAINTY_LABELS.get(rule.certainty, rule.certainty),
    }


@never_cache
@require_GET
def rule_list(request):
    """Every rule version in force (current), by rule id; filter by pack."""
    require_read(request.user)
    packs = list(RulePack.objects.order_by("-precedence", "code"))
    pack = request.GET.get("pack", "")
    rules = sel.rule_list()
    if pack:
        if pack not in {p.code for p in packs}:
            pack = ""
        else:
            rules = rules.filter(pack__code=pack)
    context = {"rows": [rule_words(r) for r in rules], "packs": packs, "pack": pack}
    return render(request, "setup/rule_list.html", context)


def _rule_or_404(pk: int) -> Rule:
    rule = sel.rule_get(pk)
    if rule is None:
        raise Http404
    return rule


def preview_policy(request, form: PreviewForm):
    """The policy a preview uses, or None with the error on the form. A number the user may not
    see reads as missing (no probing of other branches' policy numbers)."""
    from huifang.records.selectors_web import access_policy

    number = form.cleaned_data.get("policy_no")
    if number:
        try:
            return access_policy(request.user, number)
        except Http404:
            form.add_error(
                "policy_no", gettext("No policy %(no)s among the policies you may see.") % {"no": number}
            )
            return None
    return sample_policy(form.cleaned_data.get("sample") or "")


def preview_block(rule: Rule, policy, base_date) -> dict:
    result = sel.rule_preview(rule, policy, base_date=base_date)
    return result | {
        "checks": [check_words(c) for c in result["checks"]],
        "texts": [explanation_text(e) for e in result["dates"]],
        "words": rule_words(rule),
    }


def _history(rule: Rule) -> list[dict]:
    return [rule_words(r) for r in sel.rule_history(rule.rule_id)]


@never_cache
@require_GET
def rule_detail(request, pk: int):
    """One rule version: what it says, its versions, when each is in force, and what it gives for a
    policy (``?preview-policy_no=`` or a sample)."""
    require_read(request.user)
    rule = _rule_or_404(pk)
    today = timezone.localdate()
    form = PreviewForm(request.GET if "preview-sample" in request.GET else None)
    preview = policy = None
    if form.is_bound and form.is_valid():
        policy = preview_policy(request, form)
        if policy is not None:
            preview = preview_block(rule, policy, form.cleaned_data.get("base_date"))
    elif not form.is_bound:
        policy = sample_policy("")
        preview = preview_block(rule, policy, None)
    context = {
        **rule_words(rule),
        "current": sel.rule_current_of(rule),
        "history": _history(rule),
        "timeline": sel.rule_timeline(rule.rule_id, today - timedelta(days=365), today + timedelta(days=730)),
        "preview_form": form,
        "preview": preview,
        "policy": policy,
        "can_edit": can_edit(request.user),
    }
    return render(request, "setup/rule_detail.html", context)


@never_cache
@require_http_methods(["GET", "POST"])
def rule_edit(request, pk: int):
    """The next version of a rule (never an edit in place): parameters, conditions, dates and a
    reason; "Preview" shows what the current and the proposed version give for a policy."""
    require_cap(request.user, Cap.ADMINISTER)
    rule = _rule_or_404(pk)
    if rule.superseded_at is not None:
        current = sel.rule_current_of(rule)
        if current is None:
            raise Http404
        messages.info(
            request, gettext("%(rule)s is an old version; this is the current one.") % {"rule": rule}
        )
        return redirect("setup:rule_edit", pk=current.pk)
    form = RuleChangeForm(request.POST or None, rule=rule)
    preview_form = PreviewForm(request.POST or None)
    context = {**rule_words(rule), "form": form, "preview_form": preview_form, "history": _history(rule)}
    if request.method == "POST" and request.POST.get("action") == "preview":
        context.update(_compare(request, rule, form, preview_form))
        if is_htmx(request):
            return render(request, "setup/_rule_compare.html", context)
        return render(request, "setup/rule_edit.html", context)
    if request.method == "POST" and form.is_valid():
        changes = form.changes()
        try:
            new = rule_change(
                rule,
                reason=form.cleaned_data["reason"],
                user=request.user,
                params=changes["params"],
                conditions=changes["conditions"],
                effective_to=changes["effective_to"],
                effective_from=changes["effective_from"],
            )
        except RulePackInvalid as exc:  # checked by the form; a concurrent change of the law
            form.add_error(None, exc.problems)
        except ConditionsInvalid as exc:
            form.add_error("conditions", str(exc))
        except ValueError as exc:
            if "superseded" in str(exc):
                form.add_error(
                    None, gettext("Someone saved a newer version meanwhile: open the current version.")
                )
            else:
                form.add_error(None, str(exc))
        else:
            if new.pk == rule.pk:
                messages.info(request, gettext("Nothing changed, so no new version was created."))
            else:
                messages.success(
                    request,
                    gettext("%(rule)s saved as version %(version)s; version %(old)s is kept.")
                    % {"rule": new.rule_id, "version": new.version, "old": rule.version},
                )
            return redirect("setup:rule", pk=new.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "setup/rule_edit.html", context, status=status)


def _compare(request, rule: Rule, form: RuleChangeForm, preview_form: PreviewForm) -> dict:
    """Before (the current version) and after (the proposed one, unsaved) for the chosen policy."""
    out: dict = {"compared": True}
    if not preview_form.is_valid():
        return out
    policy = preview_policy(request, preview_form)
    if policy is None:
        return out
    base_date = preview_form.cleaned_data.get("base_date")
    out["policy"] = policy
    out["before"] = preview_block(rule, policy, base_date)
    # A preview needs no reason yet: only the other fields must be valid.
    form.is_valid()
    form.errors.pop("reason", None)
    if not form.errors:
        changes = form.changes()
        proposed = Rule(
            pack=rule.pack,
            rule_id=rule.rule_id,
            version=rule.version + 1,
            title=rule.title,
            citation=rule.citation,
            certainty=rule.certainty,
            effect=rule.effect,
            params=changes["params"],
            conditions=changes["conditions"],
            effective_from=changes["effective_from"],
            effective_to=changes["effective_to"],
        )
        out["after"] = preview_block(proposed, policy, base_date)
    return out


def rule_url(rule: Rule) -> str:
    return reverse("setup:rule", kwargs={"pk": rule.pk})
