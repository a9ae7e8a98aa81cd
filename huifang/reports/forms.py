"""Forms of the supervisor board: the filters (a GET form) and the reassign / release actions."""

from datetime import date, timedelta

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from huifang.org.models import OrgUnit, User
from huifang.records.models import Channel as SalesChannel
from huifang.records.models import Product
from huifang.reports.kpis import KpiFilters
from huifang.reports.selectors_board import TASK_FIGURES, board_org_unit_choices, reassign_candidates

MAX_PERIOD_DAYS = 731  # two years of due dates: the trend stays a few dozen points
REASON_MIN_LENGTH = 4
REASON_MAX_LENGTH = 300


def month_bounds(today: date) -> tuple[date, date]:
    start = today.replace(day=1)
    nxt = (start + timedelta(days=32)).replace(day=1)
    return start, nxt - timedelta(days=1)


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%d", **kwargs)


class BoardFilterForm(forms.Form):
    """Org unit (its subtree), sales channel, product and a period of due dates (RULES.md KP-01:
    a task counts in the period its due date falls in)."""

    org_unit = forms.ModelChoiceField(
        label=_("Org unit"),
        queryset=OrgUnit.objects.none(),
        required=False,
        empty_label=_("All my org units"),
    )
    channel = forms.ChoiceField(label=_("Sales channel"), required=False)
    product = forms.ModelChoiceField(
        label=_("Product"),
        queryset=Product.objects.order_by("code"),
        required=False,
        empty_label=_("All products"),
    )
    start = forms.DateField(
        label=_("Due from"),
        required=False,
        widget=DateInput(),
        error_messages={"invalid": _("Enter a date.")},
    )
    end = forms.DateField(
        label=_("Due until"),
        required=False,
        widget=DateInput(),
        error_messages={"invalid": _("Enter a date.")},
    )
    granularity = forms.ChoiceField(
        label=_("Trend by"), required=False, choices=[("week", _("Week")), ("month", _("Month"))]
    )

    def __init__(self, data, *, viewer, today: date | None = None):
        super().__init__(data)
        self.viewer = viewer
        self.today = today or timezone.localdate()
        self.fields["org_unit"].queryset = board_org_unit_choices(viewer)
        self.fields["channel"].choices = [("", _("All sales channels")), *SalesChannel.choices]

    def clean(self):
        cleaned = super().clean()
        default_start, default_end = month_bounds(self.today)
        start = cleaned.get("start") or default_start
        end = cleaned.get("end") or default_end
        if "start" in self.errors or "end" in self.errors:
            return cleaned
        if end < start:
            self.add_error("end", _("The end of the period is before its start."))
        elif (end - start).days > MAX_PERIOD_DAYS:
            self.add_error("end", _("Choose a period of at most two years."))
        cleaned["start"], cleaned["end"] = start, end
        cleaned["granularity"] = cleaned.get("granularity") or "week"
        return cleaned

    def filters(self, agent=None) -> KpiFilters:
        """The filters of a valid form (the current month when no dates are given)."""
        data = self.cleaned_data
        return KpiFilters(
            start=data["start"],
            end=data["end"],
            org_unit=data.get("org_unit"),
            channel=data.get("channel") or None,
            product=data.get("product"),
            agent=agent,
        )

    def query(self, **extra) -> str:
        """The filters as a query string (for links to the drill-down and back)."""
        from django.http import QueryDict

        q = QueryDict(mutable=True)
        if self.is_bound and self.is_valid():
            data = self.cleaned_data
            if data.get("org_unit"):
                q["org_unit"] = data["org_unit"].pk
            if data.get("channel"):
                q["channel"] = data["channel"]
            if data.get("product"):
                q["product"] = data["product"].pk
            q["start"], q["end"] = data["start"].isoformat(), data["end"].isoformat()
            if data.get("granularity") and data["granularity"] != "week":
                q["granularity"] = data["granularity"]
        for key, value in extra.items():
            if value not in (None, ""):
                q[key] = value
        return q.urlencode()


class TaskListForm(BoardFilterForm):
    figure = forms.ChoiceField(
        label=_("Figure"),
        required=False,
        choices=[("", "—"), *[(f, f) for f in (*TASK_FIGURES, "problem_cases")]],
    )
    agent = forms.ModelChoiceField(label=_("Agent"), queryset=User.objects.none(), required=False)

    def __init__(self, data, *, viewer, today=None):
        super().__init__(data, viewer=viewer, today=today)
        self.fields["agent"].queryset = User.objects.filter(
            org_unit__in=board_org_unit_choices(viewer)
        ).select_related("org_unit")


class ReassignForm(forms.Form):
    """Give the chosen tasks to an agent in the supervisor's org units, or back to the pool."""

    tasks = forms.TypedMultipleChoiceField(
        coerce=int, choices=(), error_messages={"required": _("Choose at least one task.")}
    )
    to_user = forms.ModelChoiceField(
        label=_("Give to"),
        queryset=User.objects.none(),
        required=False,
        empty_label=_("Back to the pool (nobody)"),
        error_messages={"invalid_choice": _("Choose an agent in your org units.")},
    )
    reason = forms.CharField(
        label=_("Reason"),
        min_length=REASON_MIN_LENGTH,
        max_length=REASON_MAX_LENGTH,
        strip=True,
        error_messages={
            "required": _("Give a reason for the reassignment."),
            "min_length": _("The reason must have at least %(limit_value)d characters."),
        },
    )

    def __init__(self, data, *, viewer):
        super().__init__(data)
        self.fields["to_user"].queryset = reassign_candidates(viewer)
        # Any integer id: whether the task may be seen is the view's 404, not a form error.
        self.fields["tasks"].valid_value = lambda value: True


class ReleaseForm(forms.Form):
    """Return stale recalls to the pool: the chosen ones, or every one in scope."""

    tasks = forms.TypedMultipleChoiceField(coerce=int, choices=(), required=False)

    def __init__(self, data):
        super().__init__(data)
        self.fields["tasks"].valid_value = lambda value: True
