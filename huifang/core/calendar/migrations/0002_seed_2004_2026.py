"""Seed 2004–2026 from the ``holidays`` package, cross-checked against ``chinesecalendar``.

Every new database (the test database too) starts with these years confirmed; disagreements between
the two packages are stored on the year rows and logged.
"""

from django.db import migrations

SEEDED_YEARS = range(2004, 2027)


def seed(apps, schema_editor):
    from huifang.core.calendar.services import calendar_seed

    calendar_seed(SEEDED_YEARS, apps=apps)


def unseed(apps, schema_editor):
    from huifang.core.calendar.services import SEED_SOURCE

    apps.get_model("workcalendar", "WorkCalendarYear").objects.filter(
        year__in=SEEDED_YEARS, source=SEED_SOURCE
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("workcalendar", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
