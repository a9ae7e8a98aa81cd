"""Administrator screens for callback scripts (回访话术): the scripts and their versions, a version's
items with a preview for a policy, and the next version (published versions never change)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from huifang.callbacks.models import ProblemCase, Script
from huifang.callbacks.scripts import (
    TEMPLATE_VARIABLES,
    script_definition_of,
    script_definition_render,
    script_definition_yaml,
    script_publish,
    script_render,
)
from huifang.core.permissions import Cap, require_cap
from huifang.rules.forms import PreviewForm, ScriptVersionForm
from huifang.rules.views import can_edit, is_htmx, preview_policy, require_read
from huifang.rules.views_text import sample_policy, script_condition_words, template_variables_words


def script_overview() -> list[dict]:
    """Each script code with its versions, newest first (one query)."""
    by_code: dict[str, dict] = {}
    scripts = Script.objects.filter(published_at__isnull=False).annotate(n_items=Count("items"))
    for script in scripts.order_by("code", "-version"):
        entry = by_code.setdefault(script.code, {"code": script.code, "latest": script, "versions": []})
        entry["versions"].append(script)
    return list(by_code.values())


def _script_or_404(pk: int) -> Script:
    script = Script.objects.filter(pk=pk, published_at__isnull=False).first()
    if script is None:
        raise Http404
    return script


def _policy_for_preview(request, form: PreviewForm):
    if form.is_bound and form.is_valid():
        return preview_policy(request, form)
    return sample_policy("")


@never_cache
@require_GET
def script_list(request):
    require_read(request.user)
    return render(
        request, "setup/script_list.html", {"scripts": script_overview(), "can_edit": can_edit(request.user)}
    )


@never_cache
@require_GET
def script_detail(request, pk: int):
    """A version's items and the items as read to a policy's holder (``?preview-policy_no=`` or a
    sample): the text filled in, hidden items marked and never asked."""
    require_read(request.user)
    script = _script_or_404(pk)
    form = PreviewForm(request.GET if "preview-sample" in request.GET else None)
    policy = _policy_for_preview(request, form)
    categories = dict(ProblemCase.Category.choices)
    items = list(script.items.order_by("position", "id"))
    for item in items:
        item.category_label = categories.get(item.problem_category, item.problem_category)
        item.conditions_text = script_condition_words(item.conditions)
    context = {
        "script": script,
        "items": items,
        "versions": list(
            Script.objects.filter(code=script.code, published_at__isnull=False).order_by("-version")
        ),
        "preview_form": form,
        "policy": policy,
        "rendered": script_render(script, policy) if policy is not None else None,
        "can_edit": can_edit(request.user),
    }
    return render(request, "setup/script_detail.html", context)


@never_cache
@require_http_methods(["GET", "POST"])
def script_edit(request, pk: int):
    """The next version of a script, edited as YAML from the version shown. "Preview" renders the
    draft for a policy; "Publish" publishes it (``script_publish``, audited). Publishing the same
    content as the latest version publishes nothing."""
    require_cap(request.user, Cap.ADMINISTER)
    script = _script_or_404(pk)
    initial = {"definition": script_definition_yaml(script_definition_of(script))}
    form = ScriptVersionForm(request.POST or None, initial=initial, code=script.code)
    preview_form = PreviewForm(request.POST or None)
    context = {
        "script": script,
        "form": form,
        "preview_form": preview_form,
        "variables": template_variables_words(TEMPLATE_VARIABLES),
    }
    if request.method == "POST" and request.POST.get("action") == "preview":
        form.is_valid()
        form.errors.pop("note", None)
        if "definition" in form.cleaned_data:
            policy = _policy_for_preview(request, preview_form)
            if policy is not None:
                context["policy"] = policy
                context["rendered"] = script_definition_render(form.cleaned_data["definition"], policy)
        context["compared"] = True
        template = "setup/_script_preview.html" if is_htmx(request) else "setup/script_edit.html"
        return render(request, template, context)
    if request.method == "POST" and form.is_valid():
        note = form.cleaned_data["note"]
        try:
            result = script_publish(
                form.cleaned_data["definition"], actor=request.user, source=f"setup: {note}"
            )
        except ValidationError as exc:
            form.add_error("definition", exc)
        else:
            if result.created:
                messages.success(
                    request,
                    gettext("%(name)s version %(version)s published; earlier versions are kept unchanged.")
                    % {"name": result.script.name, "version": result.script.version},
                )
            else:
                messages.info(
                    request,
                    gettext("Same content as version %(version)s: nothing was published.")
                    % {"version": result.script.version},
                )
            return redirect("setup:script", pk=result.script.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "setup/script_edit.html", context, status=status)
