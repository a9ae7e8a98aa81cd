"""Reads of the working-day calendar: years, dates, disagreements and warnings.

The deadline arithmetic (``add_working_days`` …) lives in ``services`` with its per-process cache.
"""

from datetime import date

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext

from huifang.core.calendar.models import DayKind, WorkCalendarDay, WorkCalendarYear

# From this day of the year on, next year's schedule should be confirmed (the State Council
# publishes it around early November, RULES.md "Working days").
WARN_FROM_MONTH_DAY = (11, 1)


def calendar_year_list() -> QuerySet[WorkCalendarYear]:
    return WorkCalendarYear.objects.select_related("confirmed_by").order_by("year")


def calendar_year_get(year: int) -> WorkCalendarYear | None:
    return WorkCalendarYear.objects.select_related("confirmed_by").filter(year=year).first()


def calendar_day_list(start: date, end: date) -> list[WorkCalendarDay]:
    """Stored dates from ``start`` to ``end``, both included, in order."""
    return list(WorkCalendarDay.objects.filter(date__range=(start, end)).order_by("date"))


def calendar_non_working_days(start: date, end: date) -> list[WorkCalendarDay]:
    """Stored non-working dates after ``start`` up to and including ``end`` (what a working-day
    count skipped; 民法典 Art. 201: the start day is not counted)."""
    return list(
        WorkCalendarDay.objects.filter(date__gt=start, date__lte=end)
        .exclude(kind__in=[DayKind.WORKDAY, DayKind.MAKEUP])
        .order_by("date")
    )


def calendar_disagreement_text(item: dict) -> str:
    """One stored disagreement, in words."""
    kind = DayKind(item["kind"]).label if item.get("kind") in DayKind.values else item.get("kind", "")
    theirs = (
        gettext("a working day") if item.get("chinesecalendar") == "working" else gettext("a non-working day")
    )
    return gettext("%(date)s: stored as %(kind)s; chinesecalendar says %(theirs)s") % {
        "date": item.get("date", "?"),
        "kind": kind,
        "theirs": theirs,
    }


def calendar_warnings(today: date | None = None) -> list[str]:
    """Messages for administrators: this year unconfirmed (always), next year unconfirmed (from
    1 November, when the schedule is usually published)."""
    today = today or timezone.localdate()
    confirmed = set(
        WorkCalendarYear.objects.filter(year__in=[today.year, today.year + 1], confirmed=True).values_list(
            "year", flat=True
        )
    )
    years = [today.year]
    if (today.month, today.day) >= WARN_FROM_MONTH_DAY:
        years.append(today.year + 1)
    return [
        gettext("%(year)s working-day calendar is not confirmed; deadlines in %(year)s cannot be computed.")
        % {"year": year}
        for year in years
        if year not in confirmed
    ]
