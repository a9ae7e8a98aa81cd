"""The supervisor board (/board/): backlog, agents, risks, approvals and the KPI tiles with their
trend; the task lists behind every figure; reassigning tasks, returning stale recalls to the pool
and approving letter/visit callbacks.

Reading needs ``Cap.SUPERVISE_CALLBACKS`` or ``Cap.VIEW_REPORTS`` (403 otherwise) and shows the
viewer's org subtree (everything with ``view_all_orgs``). The actions need
``Cap.SUPERVISE_CALLBACKS``; a task outside the viewer's org units answers 404, the same as a
missing one, and the services (huifang.callbacks.assignment, .channels) write the audit events.
A refused action changes nothing: a reassignment of several tasks is one transaction.
"""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from huifang.callbacks import assignment, channels
from huifang.callbacks.models import OPEN_STATUSES, CallbackTask
from huifang.core.permissions import Cap, has_cap, require_cap, scope_queryset
from huifang.reports import selectors_board as sel
from huifang.reports.forms import BoardFilterForm, ReassignForm, ReleaseForm, TaskListForm
from huifang.reports.kpis import LETTER_VISIT_LIMIT, SUCCESS_TARGET, kpi_callbacks

PAGE_SIZE = 50
RELEASE_LIMIT = 500  # stale recalls returned to the pool by one click


def _require_board(user) -> None:
    if not (has_cap(user, Cap.SUPERVISE_CALLBACKS) or has_cap(user, Cap.VIEW_REPORTS)):
        raise PermissionDenied


def _next_url(request, default: str) -> str:
    target = request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return default


def _error_text(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return " ".join(str(m) for errors in exc.message_dict.values() for m in errors)
    return " ".join(exc.messages)


# ---- the board ------------------------------------------------------------------------------------


def _pct(ratio) -> str:
    value = ratio.value if ratio is not None else None
    return "—" if value is None else f"{value * 100:.1f}%"


def _tiles(kpis) -> list[dict]:
    """The KPI tiles: figure, numerator / denominator, the rule, and the drill-down figures."""
    tiles = [
        {
            "key": "success-rate",
            "label": gettext_lazy("Success rate"),
            "rule": "KP-01",
            "ratio": kpis.success_rate,
            "value": _pct(kpis.success_rate),
            "numerator_figure": "success",
            "denominator_figure": "denominator",
            "alert": kpis.success_below_target,
            "note": _("target ≥ %(target)d%% (KP-02)") % {"target": round(SUCCESS_TARGET * 100)},
        },
        {
            "key": "cooling-off",
            "label": gettext_lazy("Success inside the cooling-off period"),
            "rule": "BS-12",
            "ratio": kpis.success_in_cooling_off,
            "value": _pct(kpis.success_in_cooling_off),
            "numerator_figure": "success_cooling_off",
            "denominator_figure": "denominator",
            "alert": False,
            "note": _("of the tasks counted for the success rate"),
        },
        {
            "key": "letter-visit-share",
            "label": gettext_lazy("Letter/visit share"),
            "rule": "KP-03",
            "ratio": kpis.letter_visit_share,
            "value": _pct(kpis.letter_visit_share),
            "numerator_figure": "letter_visit",
            "denominator_figure": "called_back",
            "alert": kpis.letter_visit_alert,
            "note": _("limit ≤ %(limit)d%% of callbacks made") % {"limit": round(LETTER_VISIT_LIMIT * 100)},
        },
        {
            "key": "problem-cases-on-time",
            "label": gettext_lazy("Problem cases resolved on time"),
            "rule": "BS-17",
            "ratio": kpis.problem_cases_on_time,
            "value": _pct(kpis.problem_cases_on_time),
            "numerator_figure": "problem_cases",
            "denominator_figure": "problem_cases",
            "alert": kpis.problem_cases_open_overdue > 0,
            "note": _("%(n)d open and overdue; 15 working days from discovery")
            % {"n": kpis.problem_cases_open_overdue},
        },
    ]
    if kpis.coverage is not None:
        tiles.append(
            {
                "key": "coverage",
                "label": gettext_lazy("Coverage of new policies"),
                "rule": "BS-12 · KP-05",
                "ratio": kpis.coverage,
                "value": _pct(kpis.coverage),
                "numerator_figure": None,
                "denominator_figure": None,
                "alert": kpis.coverage.value is not None and kpis.coverage.value < 1,
                "note": _("policies whose receipt was signed in the period and that have a callback task"),
            }
        )
    return tiles


@never_cache
@require_GET
def home(request):
    user = request.user
    _require_board(user)
    today = timezone.localdate()
    form = BoardFilterForm(request.GET, viewer=user, today=today)
    context = {"form": form, "today": today, "can_supervise": has_cap(user, Cap.SUPERVISE_CALLBACKS)}
    if not form.is_valid():
        return render(request, "board/home.html", context, status=400)
    f = form.filters()
    units = sel.board_units(user, f.org_unit)
    kpis = kpi_callbacks(user, f, today=today, trend=form.cleaned_data["granularity"])
    at_risk_count, at_risk, at_risk_horizon = sel.board_at_risk(units, f, today)
    approvals_count, approvals = sel.board_awaiting_approval(units, f)
    stale_count, stale = sel.board_stale_recalls(units, f)
    problems_count, problems, problems_horizon = sel.board_problems_near(units, f, today)
    context.update(
        filters=f,
        query=form.query(),
        kpis=kpis,
        tiles=_tiles(kpis),
        success_target=round(SUCCESS_TARGET * 100),
        letter_visit_limit=round(LETTER_VISIT_LIMIT * 100),
        backlog=sel.board_backlog(units, f, today),
        agents=sel.board_agents(units, f, today),
        at_risk=at_risk,
        at_risk_count=at_risk_count,
        at_risk_horizon=at_risk_horizon,
        approvals=approvals,
        approvals_count=approvals_count,
        stale=stale,
        stale_count=stale_count,
        problems=problems,
        problems_count=problems_count,
        problems_horizon=problems_horizon,
        trend=kpis.trend,
        granularity=form.cleaned_data["granularity"],
        tasks_url=reverse("board:tasks"),
    )
    return render(request, "board/home.html", context)


FIGURE_LABELS = {
    "due": gettext_lazy("Due in the period"),
    "denominator": gettext_lazy(
        "Counted for the success rate (KP-01: due − refused − cancelled before the callback)"
    ),
    "success": gettext_lazy("Succeeded"),
    "success_cooling_off": gettext_lazy("Succeeded inside the cooling-off period (BS-12)"),
    "refused": gettext_lazy("Refused by the customer"),
    "cancelled_before_callback": gettext_lazy("Cancelled or surrendered before the callback"),
    "failed": gettext_lazy("Failed (unreachable)"),
    "problem_found": gettext_lazy("Problem found (问题件)"),
    "open": gettext_lazy("Still open"),
    "called_back": gettext_lazy("Callbacks made (KP-03 denominator)"),
    "letter_visit": gettext_lazy("Decided by a letter or a visit (KP-03)"),
    "overdue": gettext_lazy("Open and overdue"),
    "today": gettext_lazy("Open and due today"),
    "next_days": gettext_lazy("Open and due in the next 3 working days"),
    "at_risk": gettext_lazy("At risk of missing the cooling-off end (BS-12)"),
    "awaiting_approval": gettext_lazy("Letter or visit awaiting approval (KP-04)"),
    "stale_recalls": gettext_lazy("Stale recalls still held by an agent"),
    "held": gettext_lazy("Open tasks held by an agent"),
    "problem_cases": gettext_lazy("Problem cases due in the period (BS-17)"),
}


@never_cache
@require_GET
def tasks(request):
    """The tasks (or problem cases) behind one figure of the board, with the board's filters."""
    user = request.user
    _require_board(user)
    today = timezone.localdate()
    form = TaskListForm(request.GET, viewer=user, today=today)
    context = {"form": form, "can_supervise": has_cap(user, Cap.SUPERVISE_CALLBACKS), "today": today}
    if not form.is_valid():
        return render(request, "board/tasks.html", context, status=400)
    figure = form.cleaned_data.get("figure") or "due"
    agent = form.cleaned_data.get("agent")
    f = form.filters(agent=agent)
    units = sel.board_units(user, f.org_unit)
    if figure == "problem_cases":
        rows = sel.problem_case_figure_list(units, f)
    else:
        rows = sel.board_task_list(units, f, figure, today)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    has_open = figure != "problem_cases" and any(task.status in OPEN_STATUSES for task in page)
    context.update(
        figure=figure,
        figure_label=FIGURE_LABELS[figure],
        is_problem_list=figure == "problem_cases",
        has_open=has_open,
        page=page,
        filters=f,
        agent=agent,
        query=form.query(figure=figure, agent=agent.pk if agent else None),
        board_query=form.query(),
        reassign_form=ReassignForm(None, viewer=user) if context["can_supervise"] else None,
        period_figure=figure in sel.PERIOD_FIGURES or figure == "problem_cases",
    )
    if request.headers.get("HX-Request") == "true":
        return render(request, "board/_task_table.html", context)
    return render(request, "board/tasks.html", context)


# ---- actions --------------------------------------------------------------------------------------


def _scoped_tasks(user, ids) -> list[CallbackTask]:
    """The tasks of ``ids``, all of them in the viewer's org units, or Http404 (the same answer for
    a missing task and one that is not theirs)."""
    wanted = set(ids)
    found = list(
        scope_queryset(user, CallbackTask.objects.select_related("org_unit"))
        .filter(pk__in=wanted)
        .order_by("id")
    )
    if len(found) != len(wanted):
        raise Http404
    return found


@never_cache
@require_POST
def approve(request, pk):
    """Approve the letter or visit an agent asked for (KP-04, EC-05): the task moves to that
    channel (huifang.callbacks.channels.letter_visit_approve, audited)."""
    user = request.user
    require_cap(user, Cap.SUPERVISE_CALLBACKS)
    (task,) = _scoped_tasks(user, [pk])
    back = _next_url(request, reverse("board:home"))
    try:
        task = channels.letter_visit_approve(task, user)
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
        return redirect(back)
    except PermissionDenied as exc:
        messages.error(request, str(exc) or _("You may not approve this request."))
        return redirect(back)
    messages.success(
        request,
        _("Approved: %(kind)s callback for policy %(policy)s; the task is now on that channel (KP-04).")
        % {
            "kind": task.get_channel_display(),
            "policy": task.policy.policy_no if task.policy_id else task.subject_key,
        },
    )
    return redirect(back)


@never_cache
@require_POST
def reassign(request):
    """Give one or more tasks to an agent in the supervisor's org units, or back to the pool, with a
    reason (huifang.callbacks.assignment.callback_task_reassign, audited). All or nothing."""
    user = request.user
    require_cap(user, Cap.SUPERVISE_CALLBACKS)
    form = ReassignForm(request.POST, viewer=user)
    back = _next_url(request, reverse("board:tasks"))
    valid = form.is_valid()
    # A task outside the viewer's org units is 404 first, whatever else is wrong with the request.
    chosen = _scoped_tasks(user, form.cleaned_data["tasks"]) if form.cleaned_data.get("tasks") else []
    if not valid:
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect(back)
    to_user, reason = form.cleaned_data["to_user"], form.cleaned_data["reason"]
    try:
        with transaction.atomic():
            for task in chosen:
                assignment.callback_task_reassign(task, to_user, user, reason=reason)
    except ValidationError as exc:
        messages.error(request, _("Nothing was reassigned: %(error)s") % {"error": _error_text(exc)})
        return redirect(back)
    if to_user is None:
        text = _("%(n)d task(s) returned to the pool.") % {"n": len(chosen)}
    else:
        text = _("%(n)d task(s) given to %(agent)s.") % {"n": len(chosen), "agent": to_user.display_name}
    messages.success(request, text)
    return redirect(back)


@never_cache
@require_POST
def release(request):
    """Return stale recalls to the pool: the chosen tasks, or every stale recall in the viewer's org
    units (at most ``RELEASE_LIMIT`` at a time). Each is a reassignment to nobody, audited."""
    user = request.user
    require_cap(user, Cap.SUPERVISE_CALLBACKS)
    form = ReleaseForm(request.POST)
    back = _next_url(request, reverse("board:home"))
    if not form.is_valid():
        messages.error(request, _("Choose the recalls to return to the pool."))
        return redirect(back)
    units = sel.board_units(user)
    stale = sel.stale_recalls_queryset(units, None)
    ids = form.cleaned_data["tasks"]
    if ids:
        chosen = _scoped_tasks(user, ids)
        stale_ids = set(stale.filter(pk__in=ids).values_list("pk", flat=True))
        if len(stale_ids) != len(chosen):
            messages.error(
                request, _("Nothing was returned: only a stale recall can be returned to the pool.")
            )
            return redirect(back)
    else:
        chosen = list(stale.select_related("org_unit").order_by("recall_at", "id")[:RELEASE_LIMIT])
    reason = _("recall overdue, returned to the pool by a supervisor")
    try:
        with transaction.atomic():
            for task in chosen:
                assignment.callback_task_reassign(task, None, user, reason=reason)
    except ValidationError as exc:
        messages.error(request, _("Nothing was returned: %(error)s") % {"error": _error_text(exc)})
        return redirect(back)
    messages.success(request, _("%(n)d recall(s) returned to the pool.") % {"n": len(chosen)})
    return redirect(back)
