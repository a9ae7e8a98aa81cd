"""``huifang calendar``: show, count with and confirm the working-day calendar.

huifang calendar show 2026
huifang calendar add 2026-02-13 15            # prints 2026-03-12
huifang calendar add 2026-02-13 15 --calendar-days --explain
huifang calendar between 2026-02-13 2026-03-12
huifang calendar import 2027 notice-2027.csv --source "国办发明电〔2026〕…号"
huifang calendar status
"""

import argparse
from calendar import Calendar
from datetime import date
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from huifang.core.calendar.models import WORKING_KINDS, DayKind
from huifang.core.calendar.selectors import (
    calendar_day_list,
    calendar_disagreement_text,
    calendar_non_working_days,
    calendar_warnings,
    calendar_year_get,
    calendar_year_list,
)
from huifang.core.calendar.services import (
    CalendarDataInvalid,
    CalendarYearUnconfirmed,
    add_calendar_days,
    add_working_days,
    calendar_file_parse,
    calendar_year_confirm,
    is_working_day,
    next_working_day,
    working_days_between,
)

IMPORT_FORMAT = """\
FILE is a UTF-8 CSV listing only the exceptions to Monday-Friday working weeks:

    date,kind,name
    2027-01-01,holiday,元旦
    2027-02-06,workday,调休上班

  date  YYYY-MM-DD, inside YEAR, each date at most once
  kind  holiday = a day off (public holiday or day off in lieu, weekday or weekend);
        workday = a make-up working day (调休上班), must be a Saturday or Sunday
  name  optional (e.g. the holiday's name as published)

The header line is optional; blank lines and lines starting with # are ignored. Every other date is
a working day Monday to Friday and a weekend day on Saturday and Sunday. A file with any error is
refused as a whole and nothing is changed. Importing confirms the year (audited).
"""

MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
WEEKDAYS = ["Mo", "Tu", "We", "Th", "Fr", "Sa", "Su"]
MARKS = {DayKind.HOLIDAY: "h", DayKind.MAKEUP: "+"}


def parse_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD)") from None


class Command(BaseCommand):
    help = (
        "Working-day calendar (工作日): show a year, add working or calendar days to a date (the start "
        "day is not counted, 民法典 Art. 201), count working days between dates, import and confirm "
        "a year, list the years and whether they are confirmed."
    )

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        show = sub.add_parser("show", help="print a year month by month")
        show.add_argument("year", type=int, metavar="YEAR")

        add = sub.add_parser(
            "add", help="print DATE + N working days (or calendar days), counted from the day after DATE"
        )
        add.add_argument("start", type=parse_date, metavar="DATE")
        add.add_argument("n", type=int, metavar="N")
        add.add_argument("--calendar-days", action="store_true", help="count calendar days, not working days")
        add.add_argument("--explain", action="store_true", help="also print the dates that were skipped")

        between = sub.add_parser(
            "between", help="print the number of working days after START up to and including END"
        )
        between.add_argument("start", type=parse_date, metavar="START")
        between.add_argument("end", type=parse_date, metavar="END")

        imp = sub.add_parser(
            "import",
            help="import YEAR's holidays and make-up working days from FILE (CSV) and confirm the year",
            description=IMPORT_FORMAT,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        imp.add_argument("year", type=int, metavar="YEAR")
        imp.add_argument("file", type=Path, metavar="FILE")
        imp.add_argument(
            "--source", default="", help="where the schedule comes from (default: the file's name)"
        )
        imp.add_argument("--user", default="", help="username recorded as the person confirming")

        sub.add_parser("status", help="list the stored years and whether each is confirmed")

    def handle(self, *args, action, **options):
        try:
            getattr(self, f"handle_{action}")(**options)
        except CalendarYearUnconfirmed as exc:
            raise CommandError(str(exc)) from exc

    # ---- subcommands ----------------------------------------------------------------------------

    def handle_add(self, *, start, n, calendar_days, explain, **options):
        result = add_calendar_days(start, n) if calendar_days else add_working_days(start, n)
        self.stdout.write(result.isoformat())
        if explain:
            self._explain_add(start, n, result, calendar_days)

    def _explain_add(self, start, n, result, calendar_days):
        unit = "calendar days" if calendar_days else "working days"
        self.stdout.write(
            f"{start.isoformat()} + {n} {unit} = {result.isoformat()} "
            f"(the start day is not counted, 民法典 Art. 201)"
        )
        low, high = min(start, result), max(start, result)
        if calendar_days:
            try:
                if not is_working_day(result):
                    self.stdout.write(
                        f"{result.isoformat()} is not a working day; where the rule moves a last day "
                        f"that is a holiday, it becomes {next_working_day(result).isoformat()} "
                        f"(民法典 Art. 203)"
                    )
            except CalendarYearUnconfirmed:
                self.stdout.write(
                    f"{result.year} is not confirmed: whether {result.isoformat()} is a working day is unknown"
                )
            return
        skipped = calendar_non_working_days(low, high)
        self.stdout.write(f"skipped {len(skipped)} non-working days:")
        for day in skipped:
            name = f" {day.name}" if day.name else ""
            self.stdout.write(
                f"  {day.date.isoformat()} {WEEKDAYS[day.date.weekday()]} {day.get_kind_display()}{name}"
            )

    def handle_between(self, *, start, end, **options):
        self.stdout.write(str(working_days_between(start, end)))

    def handle_show(self, *, year, **options):
        row = calendar_year_get(year)
        days = {d.date: d for d in calendar_day_list(date(year, 1, 1), date(year, 12, 31))} if row else {}
        if row is None or not days:
            raise CommandError(
                f"No working-day calendar is stored for {year}. Import it with `huifang calendar import {year} FILE`."
            )
        if row.confirmed:
            who = f" by {row.confirmed_by.username}" if row.confirmed_by else ""
            when = f" on {row.confirmed_at:%Y-%m-%d}" if row.confirmed_at else ""
            state = f"confirmed{when}{who}"
        else:
            state = f"NOT CONFIRMED: deadlines in {year} cannot be computed"
        self.stdout.write(f"{year}  {state}")
        self.stdout.write(f"source: {row.source or '-'}")
        self.stdout.write(f"working days: {row.working_day_count}")
        for item in row.disagreements:
            self.stdout.write(self.style.WARNING(f"disagreement: {calendar_disagreement_text(item)}"))
        self.stdout.write(
            "legend: 12h holiday or day off · 12+ make-up working day (调休上班) · Sa, Su weekend"
        )
        grid = Calendar(firstweekday=0)
        for month in range(1, 13):
            month_days = [d for d in grid.itermonthdates(year, month) if d.month == month]
            working = sum(1 for d in month_days if d in days and days[d].kind in WORKING_KINDS)
            self.stdout.write("")
            self.stdout.write(f"{MONTHS[month - 1]} {year} · {working} working days")
            self.stdout.write("".join(f"{w:>3} " for w in WEEKDAYS).rstrip())
            for week in grid.monthdatescalendar(year, month):
                cells = []
                for d in week:
                    if d.month != month:
                        cells.append("    ")
                        continue
                    mark = MARKS.get(days[d].kind, " ") if d in days else "?"
                    cells.append(f"{d.day:>3}{mark}")
                self.stdout.write("".join(cells).rstrip())
            for d in month_days:
                day = days.get(d)
                if day is not None and day.kind in MARKS:
                    name = f" {day.name}" if day.name else ""
                    self.stdout.write(f"  {d:%m-%d} {WEEKDAYS[d.weekday()]} {day.get_kind_display()}{name}")

    def handle_import(self, *, year, file, source, user, **options):
        try:
            text = file.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"cannot read {file}: {exc}") from exc
        actor = None
        if user:
            actor = get_user_model().objects.filter(username=user).first()
            if actor is None:
                raise CommandError(f"no user named {user!r}")
        try:
            overrides = calendar_file_parse(year, text)
            row = calendar_year_confirm(
                year, user=actor, source=source or f"file {file.name}", days=overrides
            )
        except CalendarDataInvalid as exc:
            problems = "\n".join(f"  {p}" for p in exc.problems)
            raise CommandError(f"{file.name}: not imported, nothing changed:\n{problems}") from exc
        holidays = sum(1 for o in overrides if o.kind == "holiday")
        makeup = len(overrides) - holidays
        self.stdout.write(
            self.style.SUCCESS(
                f"{year} confirmed: {row.working_day_count} working days, {holidays} holidays or days off, "
                f"{makeup} make-up working days (source: {row.source})"
            )
        )
        for item in row.disagreements:
            self.stdout.write(self.style.WARNING(f"disagreement: {calendar_disagreement_text(item)}"))

    def handle_status(self, **options):
        self.stdout.write(f"{'year':<6}{'confirmed':<11}{'working days':<14}{'disagreements':<15}source")
        for row in calendar_year_list():
            self.stdout.write(
                f"{row.year:<6}{'yes' if row.confirmed else 'NO':<11}{row.working_day_count:<14}"
                f"{len(row.disagreements):<15}{row.source}"
            )
        for message in calendar_warnings():
            self.stdout.write(self.style.WARNING(str(message)))
