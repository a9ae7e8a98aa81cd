"""Administrator screens for the working-day calendar (RULES.md "Working days"): the years and
their status, a year's month grid (working days, holidays, make-up days 调休), confirming a year and
changing one day. Every change goes through ``calendar_year_confirm`` (audited)."""

from __future__ import annotations

import calendar as pycalendar
from datetime import date

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from huifang.core.calendar.models import DayKind, WorkCalendarDay
from huifang.core.calendar.selectors import (
    WARN_FROM_MONTH_DAY,
    calendar_day_list,
    calendar_disagreement_text,
    calendar_warnings,
    calendar_year_get,
    calendar_year_list,
)
from huifang.core.calendar.services import (
    FILE_HOLIDAY,
    FILE_WORKDAY,
    MAX_YEAR,
    MIN_YEAR,
    CalendarDataInvalid,
    DayOverride,
    calendar_year_confirm,
    calendar_year_confirm_upload,
)
from huifang.core.permissions import Cap, require_cap
from huifang.rules.forms import CalendarConfirmForm, CalendarDayForm
from huifang.rules.views import can_edit, require_read

WEEKDAYS = [_("Mon"), _("Tue"), _("Wed"), _("Thu"), _("Fri"), _("Sat"), _("Sun")]
MONTHS = [
    _("January"),
    _("February"),
    _("March"),
    _("April"),
    _("May"),
    _("June"),
    _("July"),
    _("August"),
    _("September"),
    _("October"),
    _("November"),
    _("December"),
]


def calendar_years_overview(today: date | None = None) -> list[dict]:
    """Recent and coming years with their status; next year is listed (and flagged) from
    1 November even when nothing is stored for it."""
    today = today or timezone.localdate()
    rows = {row.year: row for row in calendar_year_list().filter(year__gte=today.year - 2)}
    years = set(rows) | {today.year}
    if (today.month, today.day) >= WARN_FROM_MONTH_DAY:
        years.add(today.year + 1)
    out = []
    for year in sorted(years):
        row = rows.get(year)
        out.append(
            {
                "year": year,
                "row": row,
                "confirmed": bool(row and row.confirmed),
                "needs_attention": not (row and row.confirmed) and year <= today.year + 1,
            }
        )
    return out


def _year_or_404(year: int) -> int:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise Http404
    return year


@never_cache
@require_GET
def calendar_list(request):
    require_read(request.user)
    today = timezone.localdate()
    context = {
        "years": calendar_years_overview(today),
        "all_years": list(calendar_year_list()),
        "warnings": calendar_warnings(today),
        "can_edit": can_edit(request.user),
    }
    return render(request, "setup/calendar_list.html", context)


CELL_CLASS = {
    DayKind.HOLIDAY: "bg-red-lt",
    DayKind.MAKEUP: "bg-orange-lt",
    DayKind.WEEKEND: "bg-secondary-lt",
}


def _months(year: int) -> list[dict]:
    """Twelve month grids (weeks from Monday); each day's class, kind and label are worked out
    here, once, so that the template only prints them (a year is about 430 cells)."""
    days = {d.date: d for d in calendar_day_list(date(year, 1, 1), date(year, 12, 31))}
    kinds = {k.value: str(k.label) for k in DayKind}
    grid = pycalendar.Calendar(firstweekday=0)
    months = []
    for month in range(1, 13):
        weeks = []
        for week in grid.monthdatescalendar(year, month):
            cells = []
            for d in week:
                if d.month != month:
                    cells.append(None)
                    continue
                day = days.get(d)
                kind = day.kind if day else ""
                label = " ".join(x for x in (kinds.get(kind, ""), day.name if day else "") if x)
                cells.append(
                    {
                        "day": d.day,
                        "iso": d.isoformat(),
                        "kind": kind or "none",
                        "css": CELL_CLASS.get(kind, ""),
                        "label": label,
                    }
                )
            weeks.append(cells)
        months.append({"number": month, "label": MONTHS[month - 1], "weeks": weeks})
    return months


def _year_context(request, year: int, **extra) -> dict:
    row = calendar_year_get(year)
    special = list(
        WorkCalendarDay.objects.filter(year__year=year, kind__in=[DayKind.HOLIDAY, DayKind.MAKEUP]).order_by(
            "date"
        )
    )
    return {
        "year": year,
        "row": row,
        "months": _months(year) if row else [],
        "special": special,
        "disagreements": [calendar_disagreement_text(i) for i in (row.disagreements if row else [])],
        "weekdays": WEEKDAYS,
        "can_edit": can_edit(request.user),
        "confirm_form": extra.pop("confirm_form", None)
        or CalendarConfirmForm(initial={"year": year, "source": row.source if row else ""}),
        "day_form": extra.pop("day_form", None) or CalendarDayForm(year=year),
        **extra,
    }


@never_cache
@require_GET
def calendar_year(request, year: int):
    require_read(request.user)
    year = _year_or_404(year)
    return render(request, "setup/calendar_year.html", _year_context(request, year))


def _report(request, row) -> None:
    messages.success(
        request,
        gettext("%(year)s confirmed: %(count)s working days.")
        % {"year": row.year, "count": row.working_day_count},
    )
    if row.disagreements:
        messages.warning(
            request,
            ngettext(
                "%(year)s: %(count)s disagreement with chinesecalendar: %(items)s",
                "%(year)s: %(count)s disagreements with chinesecalendar: %(items)s",
                len(row.disagreements),
            )
            % {
                "year": row.year,
                "count": len(row.disagreements),
                "items": "; ".join(calendar_disagreement_text(i) for i in row.disagreements),
            },
        )


@never_cache
@require_POST
def calendar_confirm(request, year: int):
    """Confirm a year: the days stored, or the exceptions uploaded as a CSV file (the format of
    ``huifang calendar import``). As the admin's "Confirm a year" does, through the same service."""
    require_cap(request.user, Cap.ADMINISTER)
    year = _year_or_404(year)
    data = request.POST.copy()
    data["year"] = str(year)
    form = CalendarConfirmForm(data, request.FILES or None)
    if form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            row = calendar_year_confirm_upload(
                year, user=request.user, source=form.cleaned_data["source"], upload=upload
            )
        except CalendarDataInvalid as exc:
            form.add_error("file" if upload is not None else None, exc.problems)
        else:
            _report(request, row)
            return redirect("setup:calendar_year", year=year)
    return render(
        request, "setup/calendar_year.html", _year_context(request, year, confirm_form=form), status=400
    )


@never_cache
@require_POST
def calendar_day(request, year: int):
    """Change one day of a stored year (a holiday, a make-up working day, or an ordinary day).
    The year is confirmed again with the change, with the source given (audited, changed dates
    listed); deadlines that counted the day are recomputed."""
    require_cap(request.user, Cap.ADMINISTER)
    year = _year_or_404(year)
    form = CalendarDayForm(request.POST, year=year)
    if form.is_valid():
        stored = list(
            WorkCalendarDay.objects.filter(year__year=year)
            .exclude(kind__in=[DayKind.WORKDAY, DayKind.WEEKEND])
            .values_list("date", "kind", "name")
        )
        if not WorkCalendarDay.objects.filter(year__year=year).exists():
            form.add_error(
                None,
                gettext("No days are stored for %(year)s: confirm the year from a file first.")
                % {"year": year},
            )
        else:
            day, kind = form.cleaned_data["date"], form.cleaned_data["kind"]
            overrides = [
                DayOverride(d, FILE_HOLIDAY if k == DayKind.HOLIDAY else FILE_WORKDAY, name)
                for d, k, name in stored
                if d != day
            ]
            if kind != CalendarDayForm.ORDINARY:
                overrides.append(DayOverride(day, kind, form.cleaned_data["name"]))
            try:
                row = calendar_year_confirm(
                    year, user=request.user, source=form.cleaned_data["source"], days=overrides
                )
            except CalendarDataInvalid as exc:
                form.add_error("kind", exc.problems)
            else:
                _report(request, row)
                return redirect("setup:calendar_year", year=year)
    return render(
        request, "setup/calendar_year.html", _year_context(request, year, day_form=form), status=400
    )
