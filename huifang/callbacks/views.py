"""The agent workbench (home, next task, the task page with the script runner) and the
problem-case desk (问题件), mounted at /work/.

Capabilities: the workbench needs ``work_callbacks`` (a supervisor, who also supervises, may open
tasks in scope read-only); the desk needs ``handle_problem_cases``. Without the capability: 403.
A task or case outside the user's scope, of a policy they sold, or another agent's task (for an
agent) answers 404, the same as a missing one. Writes go through the callback engine's services;
bad input comes back on the page with a clear message and changes nothing. Pages show personal
information (masked, or revealed on request) and are never cached.
"""

from __future__ import annotations

import mimetypes

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from huifang.callbacks import selectors_web as sel
from huifang.callbacks.assignment import callback_task_claim_next
from huifang.callbacks.channels import SHANGHAI, letter_visit_request, recall_schedule
from huifang.callbacks.forms import AttemptForm, LetterVisitForm, RecallForm, ResolveForm
from huifang.callbacks.models import Attempt, Channel, ProblemCase
from huifang.callbacks.outcomes import Result, attempt_submit
from huifang.callbacks.problems import problem_case_resolve
from huifang.core.calendar.services import CalendarYearUnconfirmed
from huifang.core.crypto.services import REASON_MAX_LENGTH, pii_reveal
from huifang.core.permissions import Cap, has_cap, require_cap
from huifang.records import selectors_web as records_sel
from huifang.records.views import RevealForm

# Customer fields the task page shows masked and can reveal one at a time (PV-10).
TASK_PII_FIELDS = ("name", "mobile", "other_phones", "id_number", "address")


def _is_htmx(request) -> bool:
    return request.headers.get("HX-Request") == "true"


def _messages_of(exc: ValidationError) -> list[str]:
    if hasattr(exc, "error_dict"):
        return [str(m) for msgs in exc.message_dict.values() for m in msgs]
    return [str(m) for m in exc.messages]


def _require_workbench(user) -> None:
    """The workbench is for those who work callbacks; a supervisor may open tasks read-only."""
    if not (has_cap(user, Cap.WORK_CALLBACKS) or has_cap(user, Cap.SUPERVISE_CALLBACKS)):
        raise PermissionDenied


# ---- home and next task ---------------------------------------------------------------------------


@never_cache
@require_GET
def home(request):
    require_cap(request.user, Cap.WORK_CALLBACKS)
    user = request.user
    context = {
        "counts": sel.agent_counts(user),
        "tasks": sel.agent_open_tasks(user),
        "now": timezone.now(),
        "today": timezone.localdate(timezone=SHANGHAI),
    }
    return render(request, "work/home.html", context)


@require_POST
def next_task(request):
    """Claim the most urgent task the agent may work (the engine's claim-next) and open it."""
    require_cap(request.user, Cap.WORK_CALLBACKS)
    try:
        task = callback_task_claim_next(request.user)
    except PermissionDenied:
        messages.error(request, _("You are not placed in an org unit, so no callback can be given to you."))
        return redirect("work:home")
    if task is None:
        messages.info(request, _("No callback is waiting for you right now. Try again later."))
        return redirect("work:home")
    return redirect("work:task", pk=task.pk)


# ---- the task page ----------------------------------------------------------------------------------


def _pii_fields(customer, revealed: dict | None = None):
    fields = [f for f in records_sel.customer_pii_fields(customer) if f.name in TASK_PII_FIELDS]
    fields.sort(key=lambda f: TASK_PII_FIELDS.index(f.name))
    for f in fields:
        if revealed and f.name in revealed:
            f.revealed = revealed[f.name]
    return fields


def _task_context(request, access, *, form=None, recall_form=None, letter_form=None, errors=None) -> dict:
    user = request.user
    task = access.task
    script, items = sel.task_script(task)
    visible = [item for item in items if item.visible]
    texts = {item.code: item for item in items}
    if form is None and access.can_work:
        form = AttemptForm(
            items=items, channel=sel.attempt_channel(task), initial={"started_at": timezone.now().isoformat()}
        )
    context = {
        "task": task,
        "access": access,
        "policy": task.policy,
        "customer": task.customer,
        "pii_fields": _pii_fields(task.customer),
        "can_reveal": has_cap(user, Cap.REVEAL_PII),
        "explanation": sel.task_explanation(task),
        "attempts": sel.task_attempts(task, texts),
        "problem_cases": sel.task_problem_cases(task),
        "script": script,
        "items": items,
        "visible_items": visible,
        "hidden_items": [item for item in items if not item.visible],
        "contact": sel.task_contact_info(task),
        "form": form,
        "recall_form": recall_form or (RecallForm() if access.can_work else None),
        "letter_form": letter_form or (LetterVisitForm() if access.can_work else None),
        "errors": errors or [],
        "attempt_channel_label": Channel(sel.attempt_channel(task)).label,
    }
    if access.can_work:
        context["kp03"], context["kp03_alert"] = sel.letter_visit_share(user)
    return context


@never_cache
@require_GET
def task_detail(request, pk):
    _require_workbench(request.user)
    access = sel.task_access(request.user, pk)
    return render(request, "work/task.html", _task_context(request, access))


def _attempt_result_message(request, outcome) -> None:
    if outcome.result == Result.SUCCESS:
        messages.success(request, _("Saved: the callback succeeded (KP-06)."))
    elif outcome.result == Result.PROBLEM_FOUND:
        for case in outcome.problem_cases:
            messages.warning(
                request,
                _(
                    "Problem case %(number)s opened (EC-06); it must be resolved by %(due)s "
                    "(BS-17: 15 working days)."
                )
                % {"number": case.number, "due": case.due_date.isoformat()},
            )
    elif outcome.result == Result.RECALL:
        at = timezone.localtime(outcome.recall_at, SHANGHAI).strftime("%Y-%m-%d %H:%M")
        messages.success(request, _("Saved: the customer will be called back at %(at)s.") % {"at": at})
    elif outcome.result == Result.REFUSED:
        messages.info(
            request, _("Saved: the customer refused; they are not called again for 6 months (CL-02).")
        )
    elif outcome.result == Result.LETTER_VISIT_NEEDED:
        messages.warning(
            request,
            _("Saved. The phone attempts are used up (EC-05): ask the supervisor for a letter or visit."),
        )
    elif outcome.result == Result.UNREACHABLE:
        messages.warning(
            request, _("Saved: the customer could not be reached; the callback is closed as failed.")
        )
    else:
        messages.info(
            request, _("Saved: the task goes back to the queue for another try in another time slot (EC-05).")
        )


@never_cache
@require_POST
def task_attempt(request, pk):
    """Submit an attempt (the engine's attempt_submit); PRG on success, the page with the errors
    (400) otherwise."""
    _require_workbench(request.user)
    access = sel.task_access(request.user, pk)
    if not access.can_work:
        raise PermissionDenied
    task = access.task
    _script, items = sel.task_script(task)
    form = AttemptForm(request.POST, request.FILES, items=items, channel=sel.attempt_channel(task))
    errors: list[str] = []
    if form.is_valid():
        data = form.cleaned_data
        try:
            attempt, outcome = attempt_submit(
                task,
                agent=request.user,
                channel=sel.attempt_channel(task),
                started_at=data["started_at"],
                ended_at=timezone.now(),
                disposition=data["disposition"],
                answers=data["answers"],
                identity_confirmed=data["identity_confirmed"],
                notes=data["notes"],
                recording=data.get("recording"),
                recording_url=data.get("recording_url") or "",
                recall_at=data.get("recall_at"),
            )
        except ValidationError as exc:
            errors = _messages_of(exc)
        except PermissionDenied as exc:
            errors = [str(exc) or _("You may not work this callback.")]
        except CalendarYearUnconfirmed as exc:
            # A problem case's BS-17 deadline falls in a year nobody has confirmed: never a guess.
            errors = [str(exc)]
        else:
            _attempt_result_message(request, outcome)
            return redirect(f"{reverse('work:task', args=[task.pk])}#attempt-{attempt.pk}")
    access = sel.task_access(request.user, pk)
    context = _task_context(request, access, form=form, errors=errors)
    return render(request, "work/task.html", context, status=400)


@never_cache
@require_POST
def task_recall(request, pk):
    """Schedule a recall (CL-01: never 21:00–09:00 unless the customer asked; their window is
    honoured). A refusal is shown and nothing is scheduled."""
    _require_workbench(request.user)
    access = sel.task_access(request.user, pk)
    if not access.can_work:
        raise PermissionDenied
    form = RecallForm(request.POST)
    recall_errors: list[str] = []
    if form.is_valid():
        try:
            task = recall_schedule(access.task, form.cleaned_data["recall_at"], request.user)
        except ValidationError as exc:
            recall_errors = _messages_of(exc)
        except PermissionDenied as exc:
            recall_errors = [str(exc)]
        else:
            at = timezone.localtime(task.recall_at, SHANGHAI).strftime("%Y-%m-%d %H:%M")
            messages.success(request, _("Recall scheduled for %(at)s (Beijing time).") % {"at": at})
            if _is_htmx(request):
                response = render(request, "work/_recall.html", _recall_context(request, pk, RecallForm()))
                response["HX-Refresh"] = "true"
                return response
            return redirect("work:task", pk=pk)
    if recall_errors:
        for message in recall_errors:
            form.add_error("recall_at", message)
    if _is_htmx(request):
        # htmx swaps only 2xx answers: the form with its error comes back as 200.
        return render(request, "work/_recall.html", _recall_context(request, pk, form))
    access = sel.task_access(request.user, pk)
    return render(request, "work/task.html", _task_context(request, access, recall_form=form), status=400)


def _recall_context(request, pk, form) -> dict:
    access = sel.task_access(request.user, pk)
    return {
        "task": access.task,
        "access": access,
        "recall_form": form,
        "contact": sel.task_contact_info(access.task),
    }


@never_cache
@require_POST
def task_letter_visit(request, pk):
    """Ask the supervisor for a letter or visit callback (EC-05, KP-04)."""
    _require_workbench(request.user)
    access = sel.task_access(request.user, pk)
    if not access.can_work:
        raise PermissionDenied
    form = LetterVisitForm(request.POST)
    if form.is_valid():
        try:
            letter_visit_request(access.task, form.cleaned_data["kind"], request.user)
        except ValidationError as exc:
            for message in _messages_of(exc):
                form.add_error("kind", message)
        except PermissionDenied as exc:
            form.add_error("kind", str(exc))
        else:
            messages.success(request, _("Request sent: a supervisor approves the letter or visit (KP-04)."))
            return redirect("work:task", pk=pk)
    access = sel.task_access(request.user, pk)
    return render(request, "work/task.html", _task_context(request, access, letter_form=form), status=400)


@never_cache
@require_POST
def task_reveal(request, pk, field):
    """Reveal one personal value of the task's customer for a reason (audited by pii_reveal)."""
    _require_workbench(request.user)
    access = sel.task_access(request.user, pk)
    if field not in TASK_PII_FIELDS:
        raise Http404
    require_cap(request.user, Cap.REVEAL_PII)
    customer = access.task.customer
    pii = next(p for p in _pii_fields(customer) if p.name == field)
    form = RevealForm(request.POST)
    if form.is_valid():
        try:
            pii.revealed = pii_reveal(request.user, customer, field, form.cleaned_data["reason"])
        except ValidationError as exc:
            form.add_error("reason", exc)
        except PermissionDenied as exc:
            form.add_error("reason", str(exc))
    if pii.revealed is None:
        pii.error = " ".join(str(m) for m in form.errors.get("reason", []))
        pii.reason = request.POST.get("reason", "")[:REASON_MAX_LENGTH]
    if _is_htmx(request):
        return render(
            request,
            "records/_pii_field.html",
            {"pii": pii, "can_reveal": True, "reveal_view": "work:reveal", "reveal_key": access.task.pk},
        )
    context = _task_context(request, access)
    context["pii_fields"] = [pii if p.name == field else p for p in context["pii_fields"]]
    return render(request, "work/task.html", context, status=200 if pii.revealed is not None else 400)


@never_cache
@require_GET
def attempt_recording(request, pk):
    """The recording of an attempt, for someone who may see its task or handle its problem case."""
    if not (
        has_cap(request.user, Cap.WORK_CALLBACKS)
        or has_cap(request.user, Cap.SUPERVISE_CALLBACKS)
        or has_cap(request.user, Cap.HANDLE_PROBLEM_CASES)
    ):
        raise PermissionDenied
    attempt: Attempt = sel.attempt_for_recording(request.user, pk)
    try:
        handle = attempt.recording.open("rb")
    except (FileNotFoundError, OSError) as exc:
        raise Http404 from exc
    content_type = mimetypes.guess_type(attempt.recording.name)[0] or "application/octet-stream"
    response = FileResponse(handle, content_type=content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Disposition"] = "inline"
    return response


# ---- the problem-case desk ------------------------------------------------------------------------


@never_cache
@require_GET
def problems(request):
    require_cap(request.user, Cap.HANDLE_PROBLEM_CASES)
    today = timezone.localdate(timezone=SHANGHAI)
    paginator = Paginator(sel.problem_desk(request.user), 50)
    page = paginator.get_page(request.GET.get("page"))
    rows = []
    for case in page.object_list:
        left = sel.working_days_left(case.due_date, today)
        rows.append(
            {
                "case": case,
                "days_left": left,
                "calendar_days_left": (case.due_date - today).days,
                "overdue": case.due_date < today,
                "near": left is not None and 0 <= left <= sel.NEAR_DEADLINE_WORKING_DAYS,
            }
        )
    context = {"rows": rows, "page": page, "today": today, "near_days": sel.NEAR_DEADLINE_WORKING_DAYS}
    return render(request, "work/problems.html", context)


@never_cache
@require_http_methods(["GET", "POST"])
def problem_detail(request, number):
    require_cap(request.user, Cap.HANDLE_PROBLEM_CASES)
    case = sel.problem_access(request.user, number)
    form = ResolveForm(request.POST or None) if case.status == ProblemCase.Status.OPEN else None
    errors: list[str] = []
    if request.method == "POST":
        if form is None:
            errors = [_("This problem case is already resolved.")]
        elif form.is_valid():
            try:
                problem_case_resolve(
                    case,
                    user=request.user,
                    resolution=form.cleaned_data["resolution"],
                    note=form.cleaned_data["note"],
                )
            except ValidationError as exc:
                errors = _messages_of(exc)
            except PermissionDenied as exc:
                errors = [str(exc)]
            else:
                messages.success(request, _("Problem case %(number)s resolved.") % {"number": case.number})
                return redirect("work:problem", number=case.number)
    task = case.task
    _script, items = sel.task_script(task)
    texts = {item.code: item for item in items}
    attempts = sel.task_attempts(task, texts)
    today = timezone.localdate(timezone=SHANGHAI)
    context = {
        "case": case,
        "task": task,
        "policy": task.policy,
        "customer": task.customer,
        "attempts": attempts,
        "form": form,
        "errors": errors,
        "days_left": sel.working_days_left(case.due_date, today),
        "overdue": case.status == ProblemCase.Status.OPEN and case.due_date < today,
        "other_cases": [c for c in sel.task_problem_cases(task) if c.pk != case.pk],
    }
    status = 400 if request.method == "POST" else 200
    return render(request, "work/problem.html", context, status=status)
