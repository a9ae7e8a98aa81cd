"""The KPI API: ``GET /api/v1/kpis/callbacks`` (``view_reports``), over the caller's org units."""

from datetime import date
from typing import Annotated

from django.core.exceptions import ValidationError
from django.http import Http404
from django.utils.translation import gettext as _
from ninja import Query

from huifang.callbacks.models import Channel as CallbackChannel
from huifang.callbacks.models import TaskKind
from huifang.core.api import ErrorOut, Router, require_cap
from huifang.core.permissions import Cap, can_see_org_unit
from huifang.org.models import OrgUnit, User
from huifang.records.models import Channel as SalesChannel
from huifang.records.models import Product
from huifang.reports.api_schemas import CallbackKpisOut
from huifang.reports.kpis import LETTER_VISIT_LIMIT, SUCCESS_TARGET, KpiFilters, Ratio, kpi_callbacks

router = Router(tags=["reports"])

MAX_PERIOD_DAYS = 3660  # ten years: the retention horizon (EC-04)


def _usable(value: str) -> bool:
    return "\x00" not in value


def _ratio(ratio: Ratio | None, **extra) -> dict | None:
    if ratio is None:
        return None
    return (
        {"rule": ratio.rule, "numerator": ratio.numerator, "denominator": ratio.denominator}
        | {"value": ratio.value}
        | extra
    )


@router.get(
    "/kpis/callbacks",
    response={200: CallbackKpisOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    summary="Callback KPIs",
)
def kpis_callbacks(
    request,
    start: Annotated[date, Query(description="first due date of the period")],
    end: Annotated[date, Query(description="last due date of the period (included)")],
    org_unit: Annotated[str | None, Query(description="org unit code: its whole subtree")] = None,
    channel: Annotated[SalesChannel | None, Query(description="the policy's sales channel")] = None,
    product: Annotated[str | None, Query(description="product code")] = None,
    agent: Annotated[str | None, Query(description="username of the assigned agent")] = None,
    kind: TaskKind | None = None,
    callback_channel: Annotated[
        CallbackChannel | None, Query(description="the task's callback channel")
    ] = None,
):
    """Success rate (KP-01, target KP-02), success inside the cooling-off period, coverage (BS-12,
    KP-05), letter/visit share (KP-03), problem cases resolved on time (BS-17) and attempts per
    success for the tasks **due** in ``[start, end]`` in the caller's org units. 404 for an org unit
    or agent that does not exist or is outside the caller's org units."""
    require_cap(request, Cap.VIEW_REPORTS)
    if end < start:
        raise ValidationError({"end": _("The end of the period is before its start.")})
    if (end - start).days > MAX_PERIOD_DAYS:
        raise ValidationError({"end": _("A period is at most ten years long.")})
    unit = None
    if org_unit is not None:
        unit = OrgUnit.objects.filter(code=org_unit).first() if _usable(org_unit) else None
        if unit is None:
            raise Http404
    agent_user = None
    if agent is not None:
        agent_user = (
            User.objects.select_related("org_unit").filter(username=agent).first() if _usable(agent) else None
        )
        if agent_user is None or not can_see_org_unit(request.user, agent_user.org_unit):
            raise Http404
    product_obj = None
    if product is not None:
        product_obj = Product.objects.filter(code=product).first() if _usable(product) else None
        if product_obj is None:
            raise ValidationError({"product": _("No product has this code.")})
    filters = KpiFilters(
        start=start,
        end=end,
        org_unit=unit,
        channel=channel.value if channel else None,
        product=product_obj,
        agent=agent_user,
        kind=kind.value if kind else None,
        callback_channel=callback_channel.value if callback_channel else None,
    )
    kpis = kpi_callbacks(request.user, filters)
    return {
        "filters": {
            "start": start,
            "end": end,
            "org_unit": org_unit,
            "channel": filters.channel,
            "product": product,
            "agent": agent,
            "kind": filters.kind,
            "callback_channel": filters.callback_channel,
        },
        "counts": {
            "due": kpis.due,
            "success": kpis.success,
            "refused": kpis.refused,
            "cancelled_before_callback": kpis.cancelled_before_callback,
            "failed": kpis.failed,
            "problem_found": kpis.problem_found,
            "open": kpis.open,
        },
        "success_rate": _ratio(
            kpis.success_rate, target=SUCCESS_TARGET, below_target=kpis.success_below_target
        ),
        "success_in_cooling_off": _ratio(kpis.success_in_cooling_off),
        "coverage": _ratio(kpis.coverage),
        "letter_visit_share": _ratio(
            kpis.letter_visit_share, limit=LETTER_VISIT_LIMIT, alert=kpis.letter_visit_alert
        ),
        "problem_cases_on_time": _ratio(
            kpis.problem_cases_on_time,
            due=kpis.problem_cases_due,
            open_overdue=kpis.problem_cases_open_overdue,
        ),
        "attempts_per_success": _ratio(kpis.attempts_per_success),
    }
