"""Working-day calendar: RULES.md "Working days" vectors, seeding, confirming, the cache, the command."""

from datetime import date, datetime

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.utils import translation

from huifang.core.audit.events import CALENDAR_YEAR_CONFIRMED
from huifang.core.audit.models import AuditEvent
from huifang.core.calendar import services
from huifang.core.calendar.models import DayKind, WorkCalendarDay, WorkCalendarYear
from huifang.core.calendar.selectors import calendar_warnings
from huifang.core.calendar.services import (
    SEED_SOURCE,
    CalendarDataInvalid,
    CalendarYearUnconfirmed,
    DayOverride,
    add_calendar_days,
    add_working_days,
    calendar_cache_clear,
    calendar_file_parse,
    calendar_seed,
    calendar_year_confirm,
    is_working_day,
    next_working_day,
    working_days_between,
)

pytestmark = pytest.mark.django_db

# 2027 as the State Council would publish it (a made-up but plausible schedule for the tests).
FILE_2027 = """\
date,kind,name
# New Year's Day
2027-01-01,holiday,元旦
2027-02-05,holiday,春节
2027-02-08,holiday,春节
2027-02-09,holiday,春节
2027-02-10,holiday,春节
2027-02-11,holiday,春节
2027-02-12,holiday,春节
2027-02-13,workday,调休上班
2027-02-20,workday,调休上班
"""


@pytest.fixture(autouse=True)
def fresh_cache():
    calendar_cache_clear()
    with translation.override("en"):
        yield
    calendar_cache_clear()


def run(*args) -> str:
    from io import StringIO

    out = StringIO()
    call_command("calendar", *args, stdout=out)
    return out.getvalue()


def confirm_2027(user=None):
    return calendar_year_confirm(
        2027, user=user, source="test notice", days=calendar_file_parse(2027, FILE_2027)
    )


# ---- RULES.md "Working days" --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "n", "due"),
    [
        (date(2025, 9, 26), 15, date(2025, 10, 23)),
        (date(2026, 2, 12), 5, date(2026, 2, 26)),
        (date(2026, 2, 13), 15, date(2026, 3, 12)),
        (date(2025, 12, 31), 5, date(2026, 1, 8)),
        (date(2026, 4, 30), 2, date(2026, 5, 7)),
        (date(2026, 9, 18), 10, date(2026, 10, 9)),
    ],
)
def test_rules_vectors(start, n, due):
    assert add_working_days(start, n) == due
    assert working_days_between(start, due) == n
    assert working_days_between(due, start) == -n


@pytest.mark.parametrize("year", [2025, 2026])
def test_248_working_days(year):
    assert working_days_between(date(year - 1, 12, 31), date(year, 12, 31)) == 248
    assert WorkCalendarYear.objects.get(year=year).working_day_count == 248


@pytest.mark.parametrize(
    "makeup",
    ["2025-01-26", "2025-02-08", "2025-04-27", "2025-09-28", "2025-10-11"]
    + ["2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10"],
)
def test_makeup_days_are_working_days(makeup):
    d = date.fromisoformat(makeup)
    assert d.weekday() >= 5
    assert is_working_day(d)
    assert WorkCalendarDay.objects.get(date=d).kind == DayKind.MAKEUP


def test_makeup_days_are_exactly_those_of_rules_md():
    stored = set(
        WorkCalendarDay.objects.filter(kind=DayKind.MAKEUP, date__year__in=[2025, 2026]).values_list(
            "date", flat=True
        )
    )
    assert sorted(d.isoformat() for d in stored) == [
        "2025-01-26",
        "2025-02-08",
        "2025-04-27",
        "2025-09-28",
        "2025-10-11",
        "2026-01-04",
        "2026-02-14",
        "2026-02-28",
        "2026-05-09",
        "2026-09-20",
        "2026-10-10",
    ]


def test_holidays_and_weekends_are_not_working_days():
    assert not is_working_day(date(2026, 2, 17))  # 春节
    assert not is_working_day(date(2026, 2, 23))  # Monday, day off in lieu of 2026-02-28
    assert not is_working_day(date(2026, 3, 7))  # an ordinary Saturday
    assert is_working_day(date(2026, 3, 9))


def test_zero_and_negative_counts():
    assert add_working_days(date(2026, 2, 15), 0) == date(2026, 2, 15)  # n=0 gives the date itself
    assert add_working_days(date(2026, 3, 12), -15) == date(2026, 2, 13)
    assert add_working_days(date(2026, 1, 8), -5) == date(2025, 12, 31)  # across the year
    assert working_days_between(date(2026, 3, 9), date(2026, 3, 9)) == 0


def test_next_working_day():
    assert next_working_day(date(2026, 9, 30)) == date(2026, 10, 8)
    assert next_working_day(date(2026, 3, 9)) == date(2026, 3, 10)
    assert next_working_day(date(2026, 3, 9), inclusive=True) == date(2026, 3, 9)
    assert next_working_day(date(2026, 10, 1), inclusive=True) == date(2026, 10, 8)


def test_add_calendar_days_is_pure_date_arithmetic(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert add_calendar_days(date(2026, 2, 13), 15) == date(2026, 2, 28)
        assert add_calendar_days(date(2027, 12, 20), 15) == date(2028, 1, 4)  # no schedule needed
        assert add_calendar_days(date(2026, 2, 13), 0) == date(2026, 2, 13)


def test_datetimes_are_refused():
    with pytest.raises(TypeError, match="localdate"):
        add_working_days(datetime(2026, 2, 13, 9, 0), 5)


# ---- unconfirmed years --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda: add_working_days(date(2027, 3, 1), 5),
        lambda: add_working_days(date(2026, 12, 28), 5),  # the count runs into 2027
        lambda: is_working_day(date(2027, 3, 1)),
        lambda: working_days_between(date(2026, 12, 1), date(2027, 1, 5)),
        lambda: next_working_day(date(2027, 1, 1)),
        lambda: add_working_days(date(2003, 6, 2), 1),
    ],
)
def test_unconfirmed_year_is_an_error(call):
    with pytest.raises(CalendarYearUnconfirmed) as info:
        call()
    assert isinstance(info.value, ValueError)
    message = str(info.value)
    assert str(info.value.year) in message
    assert f"huifang calendar import {info.value.year} FILE" in message
    assert "admin" in message


def test_stored_but_unconfirmed_year_is_an_error():
    WorkCalendarYear.objects.create(year=2027, confirmed=False, source="draft")
    with pytest.raises(CalendarYearUnconfirmed, match="2027"):
        add_working_days(date(2027, 3, 1), 5)


# ---- seeding ------------------------------------------------------------------------------------


def test_seeded_years_are_confirmed_from_both_packages():
    rows = list(WorkCalendarYear.objects.filter(year__range=(2004, 2026)))
    assert [r.year for r in rows] == list(range(2004, 2027))
    assert all(r.confirmed and r.source == SEED_SOURCE and r.confirmed_at for r in rows)
    assert all(r.days.count() == (366 if r.year % 4 == 0 else 365) for r in rows[-3:])


def test_seed_disagreements_are_stored_not_hidden():
    # holidays: 2005-12-31 (Saturday) is a make-up working day; chinesecalendar says it is not.
    row = WorkCalendarYear.objects.get(year=2005)
    assert row.disagreements == [{"date": "2005-12-31", "kind": "makeup", "chinesecalendar": "non-working"}]
    assert "2005-12-31" in run("show", "2005")
    status = run("status")
    line = next(line for line in status.splitlines() if line.startswith("2005"))
    assert line.split()[3] == "1"  # the disagreements column


def test_seed_at_run_time_reports_and_audits():
    WorkCalendarYear.objects.filter(year=2005).delete()
    calendar_cache_clear()
    results = calendar_seed([2005, 2026, 2027])
    by_year = {r.year: r for r in results}
    assert by_year[2005].confirmed and by_year[2005].disagreements[0]["date"] == "2005-12-31"
    assert by_year[2026].skipped == "already confirmed"
    # chinesecalendar has no data for 2027: stored for a person to check, not confirmed.
    assert not by_year[2027].confirmed
    assert not WorkCalendarYear.objects.get(year=2027).confirmed
    with pytest.raises(CalendarYearUnconfirmed):
        add_working_days(date(2027, 3, 1), 1)
    events = AuditEvent.objects.filter(event_type=CALENDAR_YEAR_CONFIRMED.id)
    assert [e.data["year"] for e in events] == [2005]


# ---- confirming a year --------------------------------------------------------------------------


def test_import_2027_then_compute(users):
    with pytest.raises(CalendarYearUnconfirmed):
        add_working_days(date(2027, 2, 4), 2)
    row = confirm_2027(user=users["admin"])
    assert row.confirmed and row.confirmed_by == users["admin"] and row.source == "test notice"
    assert row.working_day_count == 261 - 7 + 2  # Mon–Fri, minus weekday holidays, plus make-up days
    assert add_working_days(date(2027, 2, 4), 1) == date(2027, 2, 13)  # skips 春节, lands on 调休上班
    assert add_working_days(date(2027, 2, 4), 2) == date(2027, 2, 15)
    assert add_working_days(date(2026, 12, 31), 1) == date(2027, 1, 4)
    assert working_days_between(date(2026, 12, 31), date(2027, 12, 31)) == row.working_day_count


def test_confirm_writes_the_audit_event(users):
    before = AuditEvent.objects.count()
    row = confirm_2027(user=users["admin"])
    assert AuditEvent.objects.count() == before + 1
    event = AuditEvent.objects.latest("seq")  # the one just written (seq may skip numbers on PostgreSQL)
    assert event.event_type == CALENDAR_YEAR_CONFIRMED.id
    assert event.actor_id == users["admin"].pk
    assert (event.subject_type, event.subject_id) == ("workcalendar.workcalendaryear", str(row.pk))
    assert event.data["year"] == 2027 and event.data["working_days"] == row.working_day_count
    assert event.data["makeup_days"] == ["2027-02-13", "2027-02-20"]
    assert "2027-01-01" in event.data["holidays"]


def test_reconfirming_records_what_changed():
    confirm_2027()
    calendar_year_confirm(
        2027,
        user=None,
        source="corrected notice",
        days=calendar_file_parse(2027, FILE_2027 + "2027-05-03,holiday,劳动节\n"),
    )
    event = AuditEvent.objects.filter(event_type=CALENDAR_YEAR_CONFIRMED.id).last()
    assert event.data["changed_dates"] == ["2027-05-03"]
    assert event.data["before"] == {"confirmed": True, "source": "test notice", "working_days": 256}
    assert not is_working_day(date(2027, 5, 3))


def test_confirm_cross_checks_against_chinesecalendar():
    # Re-confirm 2026 with the 春节 make-up day 2026-02-14 forgotten: kept, but reported.
    days = [o for o in services.calendar_package_days(2026) if o.date != date(2026, 2, 14)]
    row = calendar_year_confirm(2026, user=None, source="test", days=days)
    assert row.disagreements == [{"date": "2026-02-14", "kind": "weekend", "chinesecalendar": "working"}]
    assert row.working_day_count == 247


def test_confirm_stored_days_as_they_are():
    WorkCalendarYear.objects.filter(year=2005).update(confirmed=False)
    calendar_cache_clear()
    row = calendar_year_confirm(2005, user=None, source="checked by hand", days=None)
    assert row.confirmed and row.working_day_count == 251
    with pytest.raises(CalendarDataInvalid, match="import"):
        calendar_year_confirm(2030, user=None, source="x", days=None)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("2027-01-01,holiday\n2026-12-31,holiday\n", "line 2: 2026-12-31 is not in 2027"),
        ("2027-01-01,vacation\n", "unknown kind 'vacation'"),
        ("2027-13-01,holiday\n", "'2027-13-01' is not a date"),
        ("2027-01-01\n", "expected date,kind[,name]"),
        ("2027-01-01,holiday\n2027-01-01,holiday\n", "listed more than once"),
        ("2027-01-04,workday\n", "2027-01-04 is a weekday"),
        ("date,kind,name\n", "no holidays"),
    ],
)
def test_invalid_import_is_rejected_and_changes_nothing(tmp_path, text, problem):
    path = tmp_path / "2027.csv"
    path.write_text(text, encoding="utf-8")
    events_before = AuditEvent.objects.count()
    with pytest.raises(CommandError) as info:
        run("import", "2027", str(path))
    assert problem in str(info.value)
    assert "nothing changed" in str(info.value)
    assert not WorkCalendarYear.objects.filter(year=2027).exists()
    assert not WorkCalendarDay.objects.filter(date__year=2027).exists()
    assert AuditEvent.objects.count() == events_before


def test_service_refuses_days_outside_the_year_and_keeps_the_old_ones():
    with pytest.raises(CalendarDataInvalid, match="2027-01-01 is not in 2026"):
        calendar_year_confirm(2026, user=None, source="x", days=[DayOverride(date(2027, 1, 1), "holiday")])
    with pytest.raises(CalendarDataInvalid, match="source"):
        calendar_year_confirm(2026, user=None, source=" ", days=[])
    assert WorkCalendarYear.objects.get(year=2026).source == SEED_SOURCE
    assert add_working_days(date(2026, 2, 13), 15) == date(2026, 3, 12)


# ---- the per-process cache ----------------------------------------------------------------------


def test_working_day_functions_do_not_query_per_call(django_assert_num_queries):
    add_working_days(date(2026, 2, 13), 15)  # loads 2026
    with django_assert_num_queries(0):
        for i in range(1000):
            add_working_days(date(2026, 1, 1 + i % 28), i % 40)
            is_working_day(date(2026, 6, 1 + i % 28))
            working_days_between(date(2026, 1, 5), date(2026, 11, 1 + i % 28))


def test_cache_is_invalidated_by_a_confirmation():
    with pytest.raises(CalendarYearUnconfirmed):  # "unconfirmed" is cached too …
        add_working_days(date(2027, 3, 1), 5)
    confirm_2027()  # … and dropped by the confirmation
    assert add_working_days(date(2027, 3, 1), 5) == date(2027, 3, 8)
    # A second confirmation in the same process is seen at once.
    calendar_year_confirm(
        2027, user=None, source="t", days=calendar_file_parse(2027, FILE_2027 + "2027-03-02,holiday,x\n")
    )
    assert add_working_days(date(2027, 3, 1), 5) == date(2027, 3, 9)


def test_cache_sees_other_processes_changes_after_the_ttl(monkeypatch):
    assert is_working_day(date(2026, 3, 9))
    # Another process changes 2026 (simulated by writing the rows directly, as it would).
    WorkCalendarDay.objects.filter(date=date(2026, 3, 9)).update(kind=DayKind.HOLIDAY)
    WorkCalendarYear.objects.filter(year=2026).update(revision=999)
    assert is_working_day(date(2026, 3, 9))  # still the cached copy within the TTL
    now = services.time.monotonic()
    monkeypatch.setattr(services.time, "monotonic", lambda: now + services.CACHE_TTL_SECONDS + 1)
    assert not is_working_day(date(2026, 3, 9))


def test_cache_recheck_after_ttl_is_one_query_when_unchanged(monkeypatch, django_assert_num_queries):
    is_working_day(date(2026, 3, 9))
    now = services.time.monotonic()
    monkeypatch.setattr(services.time, "monotonic", lambda: now + services.CACHE_TTL_SECONDS + 1)
    with django_assert_num_queries(1):
        for _ in range(100):
            is_working_day(date(2026, 3, 9))


def test_a_rolled_back_confirmation_leaves_no_trace_in_the_cache(django_assert_num_queries):
    with pytest.raises(RuntimeError), transaction.atomic():
        confirm_2027()
        assert add_working_days(date(2027, 3, 1), 5) == date(2027, 3, 8)  # sees its own change
        raise RuntimeError("rolled back")
    with pytest.raises(CalendarYearUnconfirmed):
        add_working_days(date(2027, 3, 1), 5)
    with django_assert_num_queries(0), pytest.raises(CalendarYearUnconfirmed):
        add_working_days(date(2027, 3, 1), 5)  # cached again, no query per call
    assert 2027 not in services._pending


def test_a_committed_confirmation_is_cached(django_capture_on_commit_callbacks, django_assert_num_queries):
    with django_capture_on_commit_callbacks(execute=True):
        confirm_2027()
    assert 2027 not in services._pending
    assert add_working_days(date(2027, 3, 1), 5) == date(2027, 3, 8)
    with django_assert_num_queries(0):
        assert add_working_days(date(2027, 3, 1), 6) == date(2027, 3, 9)


def test_calendar_cache_clear():
    is_working_day(date(2026, 3, 9))
    assert 2026 in services._cache
    calendar_cache_clear(2026)
    assert 2026 not in services._cache
    is_working_day(date(2025, 3, 10))
    calendar_cache_clear()
    assert not services._cache


# ---- the command --------------------------------------------------------------------------------


def test_command_add_prints_only_the_date():
    assert run("add", "2026-02-13", "15") == "2026-03-12\n"


def test_command_add_calendar_days_and_explain():
    assert run("add", "2026-02-13", "15", "--calendar-days") == "2026-02-28\n"
    out = run("add", "2026-02-13", "15", "--explain")
    assert out.splitlines()[0] == "2026-03-12"
    assert "skipped 12 non-working days" in out
    assert "2026-02-17" in out and "春节" in out
    assert "  2026-02-14" not in out  # a make-up working day is not skipped
    out = run("add", "2026-09-15", "16", "--calendar-days", "--explain")
    assert out.splitlines()[0] == "2026-10-01"
    assert "it becomes 2026-10-08" in out  # Art. 203: where the rule moves a holiday last day


def test_command_add_in_unconfirmed_year_fails():
    with pytest.raises(CommandError) as info:
        run("add", "2027-03-01", "5")
    assert "2027" in str(info.value) and "huifang calendar import 2027 FILE" in str(info.value)


def test_command_add_rejects_bad_dates():
    with pytest.raises(CommandError, match="not a date"):
        run("add", "2026-02-30", "5")


def test_command_between():
    assert run("between", "2026-02-13", "2026-03-12") == "15\n"
    assert run("between", "2026-03-12", "2026-02-13") == "-15\n"


def test_command_show():
    out = run("show", "2026")
    assert out.startswith("2026  confirmed")
    assert "working days: 248" in out
    assert "February 2026 · 16 working days" in out
    assert " 14+" in out and " 17h" in out  # a make-up day and a holiday, marked
    assert out.count("Make-up working day") == 6
    with pytest.raises(CommandError, match="import"):
        run("show", "2031")


def test_command_import_then_status(tmp_path):
    path = tmp_path / "notice-2027.csv"
    path.write_text("\ufeff" + FILE_2027, encoding="utf-8")
    out = run("import", "2027", str(path))
    assert "2027 confirmed: 256 working days, 7 holidays or days off, 2 make-up working days" in out
    assert "source: file notice-2027.csv" in out
    assert run("add", "2027-03-01", "5") == "2027-03-08\n"
    status = run("status")
    assert any(line.startswith("2027  yes") for line in status.splitlines())


def test_command_import_help_documents_the_format(capsys):
    with pytest.raises(SystemExit):
        call_command("calendar", "import", "--help")
    out = capsys.readouterr().out
    assert "date,kind,name" in out and "workday = a make-up working day" in out


def test_command_import_with_user(tmp_path, users):
    path = tmp_path / "2027.csv"
    path.write_text(FILE_2027, encoding="utf-8")
    run("import", "2027", str(path), "--user", "admin", "--source", "国办发明电")
    row = WorkCalendarYear.objects.get(year=2027)
    assert row.confirmed_by == users["admin"] and row.source == "国办发明电"
    with pytest.raises(CommandError, match="no user"):
        run("import", "2027", str(path), "--user", "nobody")


# ---- warnings -----------------------------------------------------------------------------------


def test_calendar_warnings():
    assert calendar_warnings(date(2026, 10, 31)) == []
    assert calendar_warnings(date(2026, 11, 1)) == [
        "2027 working-day calendar is not confirmed; deadlines in 2027 cannot be computed."
    ]
    confirm_2027()
    assert calendar_warnings(date(2026, 11, 1)) == []
    assert len(calendar_warnings(date(2028, 3, 1))) == 1  # this year unconfirmed: always
