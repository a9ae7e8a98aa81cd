"""The working-day calendar (工作日): one row per year, one row per date.

A working day is Monday–Friday that is not a public holiday or a day off in lieu, plus any weekend
day the State Council notice declares a working day (调休上班). See RULES.md "Working days".

Rows are written only by ``huifang.core.calendar.services`` (seed, confirm), never edited in place:
a confirmation is audited, and the per-process cache of working days is keyed on ``revision``.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class DayKind(models.TextChoices):
    WORKDAY = "workday", _("Working day")
    WEEKEND = "weekend", _("Weekend")
    HOLIDAY = "holiday", _("Public holiday or day off")
    MAKEUP = "makeup", _("Make-up working day")


WORKING_KINDS = (DayKind.WORKDAY, DayKind.MAKEUP)


class WorkCalendarYear(models.Model):
    """One calendar year. Deadlines in it may be computed only once ``confirmed`` is set.

    ``disagreements`` lists the dates on which the seeding sources (``holidays`` and
    ``chinesecalendar``) or an imported file and ``chinesecalendar`` disagree; they are kept, shown
    in the admin and by ``huifang calendar status``, never hidden.
    """

    year = models.PositiveSmallIntegerField(_("year"), unique=True)
    confirmed = models.BooleanField(_("confirmed"), default=False)
    confirmed_at = models.DateTimeField(_("confirmed at"), null=True, blank=True)
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("confirmed by"),
    )
    source = models.CharField(_("source"), max_length=200, blank=True)
    working_day_count = models.PositiveSmallIntegerField(_("working days"), default=0)
    disagreements = models.JSONField(_("disagreements"), default=list, blank=True)
    # Bumped on every write: processes compare it to decide whether their cached copy is stale.
    revision = models.PositiveIntegerField(default=0, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["year"]
        verbose_name = _("working-day calendar year")
        verbose_name_plural = _("working-day calendar years")

    def __str__(self):
        return str(self.year)


class WorkCalendarDay(models.Model):
    """One date and its kind. Every date of a stored year has a row."""

    year = models.ForeignKey(
        WorkCalendarYear, on_delete=models.CASCADE, related_name="days", verbose_name=_("year")
    )
    date = models.DateField(_("date"), unique=True)
    kind = models.CharField(_("kind"), max_length=10, choices=DayKind.choices)
    name = models.CharField(_("name"), max_length=100, blank=True)  # holiday name, as published

    class Meta:
        ordering = ["date"]
        verbose_name = _("working-day calendar date")
        verbose_name_plural = _("working-day calendar dates")

    def __str__(self):
        return f"{self.date.isoformat()} {self.kind}"

    @property
    def is_working(self) -> bool:
        return self.kind in WORKING_KINDS
