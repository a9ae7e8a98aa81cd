"""Admin for the working-day calendar: years and dates (read-only), and "Confirm a year".

Rows are never edited in the admin: every change goes through ``calendar_year_confirm``, which
audits it (DESIGN.md §4). Confirming needs superuser or the ``core.administer`` capability.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from huifang.core.calendar.models import WorkCalendarDay, WorkCalendarYear
from huifang.core.calendar.selectors import calendar_disagreement_text
from huifang.core.calendar.services import (
    MAX_YEAR,
    MIN_YEAR,
    CalendarDataInvalid,
    calendar_year_confirm,
    calendar_year_confirm_upload,
)
from huifang.core.permissions import Cap, has_cap

# The admin index shows the calendar warnings (e.g. next year unconfirmed from 1 November).
# django.contrib.admin comes first in INSTALLED_APPS, so an app template named admin/index.html
# would never be found; the index template is named here instead (it extends admin/index.html).
if admin.site.index_template is None:
    admin.site.index_template = "workcalendar/admin/index.html"

WEEKDAY_LABELS = [_("Mon"), _("Tue"), _("Wed"), _("Thu"), _("Fri"), _("Sat"), _("Sun")]


def can_confirm_year(user) -> bool:
    return bool(user and user.is_active and (user.is_superuser or has_cap(user, Cap.ADMINISTER)))


class ConfirmYearForm(forms.Form):
    year = forms.IntegerField(label=_("Year"), min_value=MIN_YEAR, max_value=MAX_YEAR)
    source = forms.CharField(
        label=_("Source"),
        max_length=200,
        help_text=_("Where the schedule comes from, e.g. the State Council notice's number."),
    )
    file = forms.FileField(
        label=_("Calendar file (CSV)"),
        required=False,
        help_text=_("Leave empty to confirm the days already stored for the year."),
    )


class CalendarReadOnlyAdmin(admin.ModelAdmin):
    """Visible to administrators; never added, changed or deleted here."""

    def has_module_permission(self, request):
        return super().has_module_permission(request) or can_confirm_year(request.user)

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) or can_confirm_year(request.user)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(WorkCalendarYear)
class WorkCalendarYearAdmin(CalendarReadOnlyAdmin):
    list_display = (
        "year",
        "confirmed",
        "working_day_count",
        "disagreement_count",
        "source",
        "confirmed_by",
        "confirmed_at",
    )
    list_filter = ("confirmed",)
    fields = (
        "year",
        "confirmed",
        "confirmed_at",
        "confirmed_by",
        "source",
        "working_day_count",
        "disagreement_list",
        "updated_at",
    )
    readonly_fields = fields
    actions = ["confirm_as_stored"]

    @admin.display(description=_("disagreements"))
    def disagreement_count(self, obj):
        return len(obj.disagreements or [])

    @admin.display(description=_("disagreements"))
    def disagreement_list(self, obj):
        return "\n".join(calendar_disagreement_text(item) for item in obj.disagreements or []) or "-"

    def has_confirm_permission(self, request):
        return can_confirm_year(request.user)

    @admin.action(description=_("Confirm the selected years as stored"), permissions=["confirm"])
    def confirm_as_stored(self, request, queryset):
        for row in queryset.order_by("year"):
            try:
                confirmed = calendar_year_confirm(
                    row.year, user=request.user, source=row.source or "admin", days=None
                )
            except CalendarDataInvalid as exc:
                self.message_user(request, f"{row.year}: {exc}", messages.ERROR)
                continue
            self._report(request, confirmed)

    def _report(self, request, row):
        self.message_user(
            request,
            gettext("%(year)s confirmed: %(count)s working days.")
            % {"year": row.year, "count": row.working_day_count},
            messages.SUCCESS,
        )
        if row.disagreements:
            self.message_user(
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
                messages.WARNING,
            )

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}_confirm"
        return [
            path("confirm/", self.admin_site.admin_view(self.confirm_view), name=name),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_confirm_year": can_confirm_year(request.user)}
        return super().changelist_view(request, extra_context)

    def confirm_view(self, request):
        """Upload a year's exceptions to Monday–Friday (or none: confirm what is stored)."""
        if not can_confirm_year(request.user):
            raise PermissionDenied
        form = ConfirmYearForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            year, upload = form.cleaned_data["year"], form.cleaned_data["file"]
            try:
                row = calendar_year_confirm_upload(
                    year, user=request.user, source=form.cleaned_data["source"], upload=upload
                )
            except CalendarDataInvalid as exc:
                form.add_error("file" if upload is not None else "year", exc.problems)
            else:
                self._report(request, row)
                return redirect("admin:workcalendar_workcalendaryear_changelist")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Confirm a working-day calendar year"),
            "form": form,
        }
        return TemplateResponse(request, "admin/workcalendar/confirm_year.html", context)


@admin.register(WorkCalendarDay)
class WorkCalendarDayAdmin(CalendarReadOnlyAdmin):
    list_display = ("date", "weekday", "kind", "name")
    list_filter = ("kind", "year")
    date_hierarchy = "date"
    search_fields = ("name",)
    list_per_page = 100

    @admin.display(description=_("weekday"))
    def weekday(self, obj):
        return WEEKDAY_LABELS[obj.date.weekday()]
