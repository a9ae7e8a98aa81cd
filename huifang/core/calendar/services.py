"""Working-day calendar services: deadline arithmetic, seeding and confirming years.

Deadline arithmetic (RULES.md "Working days"; 民法典 Art. 201: the start day is not counted)::

    add_working_days(date(2026, 2, 13), 15)   == date(2026, 3, 12)
    add_calendar_days(date(2026, 2, 13), 15)  == date(2026, 2, 28)
    working_days_between(date(2026, 2, 13), date(2026, 3, 12)) == 15

A date in a year that nobody has confirmed raises ``CalendarYearUnconfirmed`` — never a silent guess
(RULES.md "Working days": an unconfirmed year is an error for any deadline in it).

Speed: bulk imports compute deadlines for up to a million rows, so the working-day functions never
query the database per call. Each process keeps, per year, the sorted working days (for bisect) and
their set. A year is re-checked against the database (one small query on its ``revision``) at most
every ``CACHE_TTL_SECONDS``, so a confirmation made by another process is seen within that time; a
confirmation made in this process invalidates the cache at once and again on commit.
``calendar_cache_clear()`` drops everything.

Import file format (``huifang calendar import YEAR FILE`` and the admin's "Confirm a year" page):
a UTF-8 CSV listing only the exceptions to Monday–Friday working weeks::

    date,kind,name
    2027-01-01,holiday,元旦
    2027-02-06,workday,调休上班

- ``date``: ISO ``YYYY-MM-DD``, inside YEAR; each date at most once;
- ``kind``: ``holiday`` (a day off: public holiday or day off in lieu, on a weekday or a weekend) or
  ``workday`` (a make-up working day 调休上班, which must be a Saturday or Sunday);
- ``name``: optional, e.g. the holiday's name as published.

The header line is optional; blank lines and lines starting with ``#`` are ignored. Every other date
is a working day Monday to Friday and a weekend day on Saturday and Sunday.
"""

from __future__ import annotations

import csv
import io
import logging
import operator
import time
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from huifang.core.audit.events import CALENDAR_YEAR_CONFIRMED
from huifang.core.audit.services import audit_record
from huifang.core.calendar.models import WORKING_KINDS, DayKind, WorkCalendarDay, WorkCalendarYear

logger = logging.getLogger(__name__)

# Years seeded by the data migration from the ``holidays`` package, cross-checked against
# ``chinesecalendar``.
SEED_YEARS = range(2004, 2027)
SEED_SOURCE = "holidays+chinesecalendar"

# How long a process trusts its cached copy of a year before re-checking the year's revision.
CACHE_TTL_SECONDS = 30.0

# The kinds an import file (and ``calendar_year_confirm(days=...)``) may list.
FILE_HOLIDAY = "holiday"
FILE_WORKDAY = "workday"  # a make-up working day (调休上班)
FILE_KINDS = (FILE_HOLIDAY, FILE_WORKDAY)

# Plausible years only: a typo such as 20027 is refused rather than stored.
MIN_YEAR, MAX_YEAR = 1949, 2200


class CalendarYearUnconfirmed(ValueError):
    """A working-day computation needed a year whose schedule nobody has confirmed."""

    def __init__(self, year: int):
        self.year = year
        super().__init__(
            gettext(
                "The working-day calendar for %(year)s is not confirmed, so deadlines in %(year)s "
                "cannot be computed. Confirm it with `huifang calendar import %(year)s FILE` or in "
                "the admin (Working-day calendar years → Confirm a year)."
            )
            % {"year": year}
        )


class CalendarDataInvalid(ValueError):
    """The days given for a year (an import file, or ``days=``) are wrong; nothing was changed."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        shown = self.problems[:20]
        more = len(self.problems) - len(shown)
        text = "; ".join(shown)
        if more:
            text += "; " + gettext("and %(count)s more problems") % {"count": more}
        super().__init__(text)


@dataclass(frozen=True)
class DayOverride:
    """An exception to Monday–Friday: ``kind`` is ``"holiday"`` or ``"workday"`` (make-up day)."""

    date: date
    kind: str
    name: str = ""


@dataclass
class SeedResult:
    """What ``calendar_seed`` did for one year; ``skipped`` says why nothing was written."""

    year: int
    confirmed: bool = False
    working_days: int = 0
    disagreements: list[dict] = field(default_factory=list)
    skipped: str = ""


# ---- the per-process cache ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _YearData:
    year: int
    confirmed: bool
    revision: int | None  # None: no row for the year
    working: tuple[int, ...]  # ordinals of the working days, ascending (for bisect)
    working_set: frozenset[int]


_cache: dict[int, tuple[_YearData, float]] = {}
# Years changed by a transaction of this process that has not committed yet: year → (connection,
# on-commit callback). That connection reads the year through the database (its change may still
# be rolled back) and never caches it; other threads' connections see the committed state.
_pending: dict[int, tuple[object, object]] = {}


def calendar_cache_clear(year: int | None = None) -> None:
    """Forget the cached working days of ``year`` (or of every year) in this process."""
    if year is None:
        _cache.clear()
    else:
        _cache.pop(year, None)


def _mark_changed(year: int) -> None:
    """Called inside the transaction that changes ``year``."""

    def committed():
        if _pending.get(year, (None, None))[1] is committed:
            del _pending[year]
        _cache.pop(year, None)

    _pending[year] = (transaction.get_connection(), committed)
    _cache.pop(year, None)
    transaction.on_commit(committed)


def _still_pending(year: int) -> bool:
    conn, callback = _pending.get(year, (None, None))
    if callback is None:
        return False
    current = transaction.get_connection()
    if conn is not current:
        return False
    # Django keeps the callback until the transaction commits (it runs) or rolls back (dropped).
    if any(item[1] is callback for item in current.run_on_commit):
        return True
    _pending.pop(year, None)  # rolled back: the cache never held the uncommitted days
    return False


def _load(year: int) -> _YearData:
    row = WorkCalendarYear.objects.filter(year=year).values_list("confirmed", "revision").first()
    if row is None or not row[0]:
        return _YearData(year, False, row[1] if row else None, (), frozenset())
    ordinals = tuple(
        d.toordinal()
        for d in WorkCalendarDay.objects.filter(
            date__range=(date(year, 1, 1), date(year, 12, 31)), kind__in=WORKING_KINDS
        )
        .order_by("date")
        .values_list("date", flat=True)
    )
    return _YearData(year, True, row[1], ordinals, frozenset(ordinals))


def _year_data(year: int) -> _YearData:
    if _pending and _still_pending(year):
        return _load(year)
    now = time.monotonic()
    hit = _cache.get(year)
    if hit is not None:
        data, checked_at = hit
        if now - checked_at < CACHE_TTL_SECONDS:
            return data
        revision = WorkCalendarYear.objects.filter(year=year).values_list("revision", flat=True).first()
        if revision == data.revision:
            _cache[year] = (data, now)
            return data
    data = _load(year)
    _cache[year] = (data, now)
    return data


def _confirmed(year: int) -> _YearData:
    data = _year_data(year)
    if not data.confirmed:
        raise CalendarYearUnconfirmed(year)
    return data


def _check_date(d) -> None:
    # A datetime is a date too, but its day depends on the time zone: make the caller cut it
    # (timezone.localdate(moment) gives the Asia/Shanghai day, see DESIGN.md §4).
    if isinstance(d, datetime) or not isinstance(d, date):
        raise TypeError(f"expected a date, got {type(d).__name__}; use timezone.localdate(moment)")


# ---- deadline arithmetic ------------------------------------------------------------------------


def is_working_day(d: date) -> bool:
    """True if ``d`` is a working day (Mon–Fri not a holiday, or a make-up working day)."""
    _check_date(d)
    return d.toordinal() in _confirmed(d.year).working_set


def add_working_days(d: date, n: int) -> date:
    """The ``n``-th working day after ``d``; the start day is not counted (民法典 Art. 201).

    ``n == 0`` gives ``d`` itself; a negative ``n`` counts back: the ``|n|``-th working day before
    ``d``. Raises ``CalendarYearUnconfirmed`` if any year the count touches is not confirmed.
    """
    _check_date(d)
    n = operator.index(n)
    year = d.year
    data = _confirmed(year)
    if n == 0:
        return d
    ordinal = d.toordinal()
    if n > 0:
        index = bisect_right(data.working, ordinal)  # the first working day after d
        remaining = n
        while remaining > len(data.working) - index:
            remaining -= len(data.working) - index
            year += 1
            data = _confirmed(year)
            index = 0
        return date.fromordinal(data.working[index + remaining - 1])
    index = bisect_left(data.working, ordinal)  # working days of the year strictly before d
    remaining = -n
    while remaining > index:
        remaining -= index
        year -= 1
        data = _confirmed(year)
        index = len(data.working)
    return date.fromordinal(data.working[index - remaining])


def add_calendar_days(d: date, n: int) -> date:
    """``d`` plus ``n`` calendar days, counted from the day after ``d`` (民法典 Art. 201; RULES.md
    CP-04). Pure date arithmetic: needs no confirmed year. Rolling a last day that falls on a
    holiday forward (民法典 Art. 203) is ``next_working_day(result, inclusive=True)``."""
    _check_date(d)
    return d + timedelta(days=operator.index(n))


def working_days_between(start: date, end: date) -> int:
    """The number of working days after ``start`` up to and including ``end`` (the reverse of
    ``add_working_days``); negative if ``end`` is before ``start``, 0 if they are equal."""
    _check_date(start)
    _check_date(end)
    if end < start:
        return -working_days_between(end, start)
    start_ordinal, end_ordinal = start.toordinal(), end.toordinal()
    count = 0
    for year in range(start.year, end.year + 1):
        data = _confirmed(year)
        low = bisect_right(data.working, start_ordinal) if year == start.year else 0
        high = bisect_right(data.working, end_ordinal) if year == end.year else len(data.working)
        count += high - low
    return count


def next_working_day(d: date, *, inclusive: bool = False) -> date:
    """The first working day after ``d``; with ``inclusive=True``, ``d`` itself if it is one (a
    period's last day that is a holiday moves to the next working day, 民法典 Art. 203)."""
    if inclusive and is_working_day(d):
        return d
    return add_working_days(d, 1)


# ---- building a year's days ---------------------------------------------------------------------


def _year_dates(year: int) -> list[date]:
    first = date(year, 1, 1)
    return [first + timedelta(days=i) for i in range((date(year + 1, 1, 1) - first).days)]


def _check_year(year) -> int:
    year = operator.index(year)
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise CalendarDataInvalid([gettext("%(year)s is not a plausible calendar year.") % {"year": year}])
    return year


def calendar_days_build(year: int, overrides: Iterable[DayOverride]) -> dict[date, tuple[str, str]]:
    """Every date of ``year`` → (kind, name): Monday–Friday working, Saturday–Sunday weekend, with
    ``overrides`` on top. Pure; raises ``CalendarDataInvalid`` listing every problem."""
    year = _check_year(year)
    days = {
        d: (DayKind.WORKDAY.value if d.weekday() < 5 else DayKind.WEEKEND.value, "")
        for d in _year_dates(year)
    }
    problems: list[str] = []
    seen: set[date] = set()
    for item in overrides:
        d, kind, name = item.date, (item.kind or "").strip().lower(), (item.name or "").strip()
        if isinstance(d, datetime) or not isinstance(d, date):
            problems.append(gettext("%(value)r is not a date.") % {"value": d})
            continue
        if d.year != year:
            problems.append(gettext("%(date)s is not in %(year)s.") % {"date": d.isoformat(), "year": year})
            continue
        if d in seen:
            problems.append(gettext("%(date)s is listed more than once.") % {"date": d.isoformat()})
            continue
        seen.add(d)
        if kind == FILE_HOLIDAY:
            days[d] = (DayKind.HOLIDAY.value, name[:100])
        elif kind == FILE_WORKDAY:
            if d.weekday() < 5:
                problems.append(
                    gettext(
                        "%(date)s is a weekday, so it is a working day already; list only weekend "
                        "days as make-up working days (workday)."
                    )
                    % {"date": d.isoformat()}
                )
                continue
            days[d] = (DayKind.MAKEUP.value, name[:100])
        else:
            problems.append(
                gettext("%(date)s: unknown kind %(kind)r (use holiday or workday).")
                % {"date": d.isoformat(), "kind": item.kind}
            )
    if problems:
        raise CalendarDataInvalid(problems)
    return days


def calendar_file_parse(year: int, text: str) -> list[DayOverride]:
    """Parse an import file (format in this module's docstring) for ``year``.

    Raises ``CalendarDataInvalid`` naming every bad line; a file that parses is also checked by
    ``calendar_days_build`` (dates in the year, kinds valid, no duplicates).
    """
    year = _check_year(year)
    problems: list[str] = []
    overrides: list[DayOverride] = []
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    for line_no, row in enumerate(reader, start=1):
        cells = [c.strip() for c in row]
        if not any(cells) or cells[0].startswith("#"):
            continue
        if line_no == 1 and cells[0].lower() == "date":
            continue  # header
        if len(cells) < 2 or len(cells) > 3:
            problems.append(
                gettext("line %(line)s: expected date,kind[,name], got %(count)s columns.")
                % {"line": line_no, "count": len(cells)}
            )
            continue
        try:
            d = date.fromisoformat(cells[0])
        except ValueError:
            problems.append(
                gettext("line %(line)s: %(value)r is not a date (YYYY-MM-DD).")
                % {"line": line_no, "value": cells[0]}
            )
            continue
        if cells[1].lower() not in FILE_KINDS:
            problems.append(
                gettext("line %(line)s: unknown kind %(kind)r (use holiday or workday).")
                % {"line": line_no, "kind": cells[1]}
            )
            continue
        if d.year != year:
            problems.append(
                gettext("line %(line)s: %(date)s is not in %(year)s.")
                % {"line": line_no, "date": d.isoformat(), "year": year}
            )
            continue
        overrides.append(DayOverride(d, cells[1].lower(), cells[2] if len(cells) > 2 else ""))
    if problems:
        raise CalendarDataInvalid(problems)
    if not overrides:
        raise CalendarDataInvalid([gettext("the file lists no holidays: is it the right file?")])
    calendar_days_build(year, overrides)  # duplicates, make-up days on weekdays
    return overrides


def calendar_package_days(year: int) -> list[DayOverride]:
    """The exceptions to Monday–Friday for ``year`` as published by the ``holidays`` package:
    its holidays (days off included) and its ``weekend_workdays`` (make-up working days)."""
    import holidays

    published = holidays.China(years=year)
    overrides = [
        DayOverride(d, FILE_HOLIDAY, str(name)) for d, name in sorted(published.items()) if d.year == year
    ]
    overrides += [
        DayOverride(d, FILE_WORKDAY, "")
        for d in sorted(published.weekend_workdays)
        if d.year == year and d not in published
    ]
    return overrides


def calendar_cross_check(year: int, days: dict[date, tuple[str, str]]) -> tuple[list[dict], bool]:
    """Compare ``days`` with ``chinesecalendar``: (disagreements, whether it has data for ``year``).

    Each disagreement is ``{"date", "kind" (ours), "chinesecalendar": "working"|"non-working"}``.
    """
    import chinese_calendar

    disagreements = []
    for d, (kind, _name) in sorted(days.items()):
        try:
            theirs = chinese_calendar.is_workday(d)
        except NotImplementedError:  # "no available data for year …"
            return [], False
        if theirs != (kind in WORKING_KINDS):
            disagreements.append(
                {
                    "date": d.isoformat(),
                    "kind": kind,
                    "chinesecalendar": "working" if theirs else "non-working",
                }
            )
    return disagreements, True


def _write_year(
    year_model,
    day_model,
    year: int,
    days: dict[date, tuple[str, str]],
    *,
    confirmed: bool,
    source: str,
    user_id,
    disagreements: list[dict],
):
    """Replace the stored days of ``year`` and update its row; returns (row, previous kinds)."""
    row = year_model.objects.select_for_update().filter(year=year).first()
    previous: dict[date, str] = {}
    if row is None:
        row = year_model(year=year)
    else:
        previous = dict(day_model.objects.filter(year=row).values_list("date", "kind"))
    row.confirmed = confirmed
    row.confirmed_at = timezone.now() if confirmed else None
    row.confirmed_by_id = user_id if confirmed else None
    row.source = source[:200]
    row.working_day_count = sum(1 for kind, _name in days.values() if kind in WORKING_KINDS)
    row.disagreements = disagreements
    row.revision = (row.revision or 0) + 1
    row.save()
    day_model.objects.filter(year=row).delete()
    day_model.objects.bulk_create(
        [day_model(year=row, date=d, kind=kind, name=name) for d, (kind, name) in sorted(days.items())]
    )
    return row, previous


def _audit_confirmed(row, *, user, previous: dict, days: dict, before: dict) -> None:
    changed = sorted(
        d.isoformat() for d, (kind, _name) in days.items() if previous and previous.get(d) != kind
    )
    audit_record(
        CALENDAR_YEAR_CONFIRMED,
        actor=user,
        subject=row,
        data={
            "year": row.year,
            "source": row.source,
            "working_days": row.working_day_count,
            "holidays": sorted(
                d.isoformat() for d, (kind, _n) in days.items() if kind == DayKind.HOLIDAY and d.weekday() < 5
            ),
            "makeup_days": sorted(d.isoformat() for d, (kind, _n) in days.items() if kind == DayKind.MAKEUP),
            "disagreements": len(row.disagreements),
            "before": before,
            "changed_dates": changed,
        },
    )


def calendar_year_confirm(
    year: int, *, user, source: str, days: Iterable[DayOverride] | None = None
) -> WorkCalendarYear:
    """Store ``year``'s days and mark the year confirmed, audited in the same transaction.

    ``days`` are the exceptions to Monday–Friday (``DayOverride``: holidays and make-up working
    days); ``None`` confirms the days already stored for the year (e.g. seeded but not
    cross-checked). The result is cross-checked against ``chinesecalendar`` when it has data for the
    year; disagreements are stored on the year and returned on it, not refused: the confirming
    person has the published notice. Raises ``CalendarDataInvalid`` (nothing changed) for bad days.
    """
    year = _check_year(year)
    source = (source or "").strip()
    if not source:
        raise CalendarDataInvalid([gettext("Say where the schedule comes from (source).")])
    if days is None:
        if not WorkCalendarDay.objects.filter(year__year=year).exists():
            raise CalendarDataInvalid(
                [gettext("No days are stored for %(year)s: import them from a file first.") % {"year": year}]
            )
        stored = (
            WorkCalendarDay.objects.filter(year__year=year)
            .exclude(kind__in=[DayKind.WORKDAY, DayKind.WEEKEND])
            .values_list("date", "kind", "name")
        )
        days = [
            DayOverride(d, FILE_HOLIDAY if kind == DayKind.HOLIDAY else FILE_WORKDAY, name)
            for d, kind, name in stored
        ]
    built = calendar_days_build(year, days)
    disagreements, _checked = calendar_cross_check(year, built)
    with transaction.atomic():
        old = WorkCalendarYear.objects.filter(year=year).first()
        before = (
            {"confirmed": old.confirmed, "source": old.source, "working_days": old.working_day_count}
            if old
            else {}
        )
        row, previous = _write_year(
            WorkCalendarYear,
            WorkCalendarDay,
            year,
            built,
            confirmed=True,
            source=source,
            user_id=getattr(user, "pk", None) if getattr(user, "is_authenticated", False) else None,
            disagreements=disagreements,
        )
        _audit_confirmed(row, user=user, previous=previous, days=built, before=before)
        _mark_changed(year)
    if disagreements:
        logger.warning(
            "calendar %s confirmed with %d disagreement(s) with chinesecalendar", year, len(disagreements)
        )
    return row


def calendar_year_confirm_upload(year: int, *, user, source: str, upload=None) -> WorkCalendarYear:
    """``calendar_year_confirm`` from an uploaded file of the year's exceptions (UTF-8 CSV, see
    ``calendar_file_parse``), or, without a file, for the days already stored."""
    days = None
    if upload is not None:
        try:
            text = upload.read().decode("utf-8-sig")
        except UnicodeDecodeError:
            raise CalendarDataInvalid([gettext("The file is not UTF-8 text.")]) from None
        days = calendar_file_parse(year, text)
    return calendar_year_confirm(year, user=user, source=source, days=days)


def calendar_seed(years: Iterable[int], *, user=None, apps=None) -> list[SeedResult]:
    """Seed ``years`` from the ``holidays`` package, cross-checked against ``chinesecalendar``.

    A year is stored confirmed (source ``SEED_SOURCE``) only if ``chinesecalendar`` has data for it;
    otherwise its days are stored unconfirmed, for a person to check and confirm. Disagreements are
    logged, returned and stored on the year row — never hidden; ``holidays`` is kept where they
    differ. A year already confirmed is left alone.

    ``apps`` is the migration's app registry when run from the data migration (historical models,
    no audit event: seeding is part of creating the database). Called at run time, each confirmed
    year is audited like any confirmation.
    """
    if apps is not None:
        year_model = apps.get_model("workcalendar", "WorkCalendarYear")
        day_model = apps.get_model("workcalendar", "WorkCalendarDay")
    else:
        year_model, day_model = WorkCalendarYear, WorkCalendarDay
    results = []
    for year in years:
        year = _check_year(year)
        result = SeedResult(year)
        results.append(result)
        if year_model.objects.filter(year=year, confirmed=True).exists():
            result.confirmed = True
            result.skipped = "already confirmed"
            continue
        built = calendar_days_build(year, calendar_package_days(year))
        disagreements, checked = calendar_cross_check(year, built)
        source = SEED_SOURCE if checked else "holidays (chinesecalendar has no data for this year)"
        with transaction.atomic():
            row, previous = _write_year(
                year_model,
                day_model,
                year,
                built,
                confirmed=checked,
                source=source,
                user_id=getattr(user, "pk", None),
                disagreements=disagreements,
            )
            if apps is None:
                if checked:
                    _audit_confirmed(row, user=user, previous=previous, days=built, before={})
                _mark_changed(year)
        result.confirmed = checked
        result.working_days = row.working_day_count
        result.disagreements = disagreements
        if disagreements:
            logger.warning(
                "calendar %s: holidays and chinesecalendar disagree on %s",
                year,
                ", ".join(
                    f"{item['date']} ({item['kind']} vs {item['chinesecalendar']})" for item in disagreements
                ),
            )
        if not checked:
            logger.warning("calendar %s: chinesecalendar has no data; stored unconfirmed", year)
    return results
