"""Forms of the administrator screens: a rule's next version, the preview's sample policy, a
script's next version, a calendar day. Forms parse and check input; services write."""

from __future__ import annotations

import json

import yaml
from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from huifang.core.calendar.admin import ConfirmYearForm
from huifang.core.calendar.services import FILE_HOLIDAY, FILE_WORKDAY
from huifang.rules.conditions import ConditionsInvalid, conditions_parse
from huifang.rules.models import Rule
from huifang.rules.views_text import SAMPLE_CHOICES, param_label

REASON_MAX = 300
# Parameters that name what a rule is wired to (the task kind it generates, the date it counts
# from, the rule it refers to); the numbers around them are what administrators set.
FIXED_PARAMS = frozenset({"task_kind", "due", "from", "starts", "notice_rule", "problem_rule", "numerator"})


class StyledForm(forms.Form):
    """Tabler classes on every widget; after validation, invalid fields say so to assistive
    technology (``aria-invalid``, the error linked by ``aria-describedby``)."""

    def _style(self) -> None:
        for name, field in self.fields.items():
            widget = field.widget
            css = "form-select" if isinstance(widget, forms.Select) else "form-control"
            if isinstance(widget, forms.CheckboxInput):
                css = "form-check-input"
            classes = {css, *widget.attrs.get("class", "").split()}
            # ``_errors``, not ``errors``: reading ``errors`` would validate the form (too early here).
            if self._errors and name in self._errors:
                classes.add("is-invalid")
                widget.attrs["aria-invalid"] = "true"
                widget.attrs["aria-describedby"] = f"{self[name].auto_id}_error"
            widget.attrs["class"] = " ".join(sorted(c for c in classes if c))

    def full_clean(self):
        super().full_clean()
        self._style()

    def add_error(self, field, error):
        super().add_error(field, error)
        self._style()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._style()


def _json_text(value) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2)


class RuleChangeForm(StyledForm):
    """The next version of a rule: one field per parameter (the parameter names are the packs'
    contract, so their values change, not their names), the conditions, the dates and a reason."""

    conditions = forms.CharField(
        label=_("Applies when (conditions, JSON)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 5, "class": "font-monospace", "spellcheck": "false"}),
        help_text=_(
            'A mapping; every entry must hold, e.g. {"line_in": ["life", "health"], "min_applicant_age": 65}. '
            "Empty: always."
        ),
    )
    effective_from = forms.DateField(
        label=_("In force from"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_(
            "Leave as it is to change the rule for all its days; a later day schedules the change: "
            "the current numbers stay in force until the day before."
        ),
    )
    effective_to = forms.DateField(
        label=_("In force until"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("Inclusive. Empty: no end."),
    )
    reason = forms.CharField(
        label=_("Why the rule changes"),
        max_length=REASON_MAX,
        min_length=4,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Kept with the new version and in the audit trail, e.g. the notice's number."),
        error_messages={"required": _("Say why the rule changes.")},
    )

    def __init__(self, *args, rule: Rule, **kwargs):
        self.rule = rule
        initial = {
            "conditions": _json_text(rule.conditions) if rule.conditions else "",
            "effective_from": rule.effective_from,
            "effective_to": rule.effective_to,
        }
        for key, value in (rule.params or {}).items():
            initial[self.param_field(key)] = (
                value if not isinstance(value, list | dict) else _json_text(value)
            )
        super().__init__(*args, initial=initial, **kwargs)
        fields = {}
        for key, value in (rule.params or {}).items():
            label = f"{param_label(key)} ({key})"
            if isinstance(value, bool):
                field = forms.TypedChoiceField(
                    label=label,
                    choices=[("true", _("yes")), ("false", _("no"))],
                    coerce=lambda v: v == "true",
                )
                self.initial[self.param_field(key)] = "true" if value else "false"
            elif isinstance(value, int):
                field = forms.IntegerField(label=label, min_value=0)
            elif isinstance(value, float):
                field = forms.FloatField(label=label, min_value=0)
            elif isinstance(value, list | dict):
                field = forms.CharField(
                    label=label,
                    widget=forms.Textarea(
                        attrs={"rows": 3, "class": "font-monospace", "spellcheck": "false"}
                    ),
                    help_text=_("JSON, a list") if isinstance(value, list) else _("JSON, a mapping"),
                )
            else:
                field = forms.CharField(label=label, max_length=200)
            if key in FIXED_PARAMS:
                # What the rule is wired to in the code, shown for the record: changing the word
                # would not change what Huifang does, so it is not offered.
                field.disabled = True
                field.required = False
                field.help_text = _("Describes how Huifang applies the rule; not changed here.")
            fields[self.param_field(key)] = field
        # Parameters first, then conditions, dates and the reason.
        self.fields = {**fields, **self.fields}
        self._style()

    @staticmethod
    def param_field(key: str) -> str:
        return f"param__{key}"

    def param_fields(self):
        return [self[name] for name in self.fields if name.startswith("param__")]

    def other_fields(self):
        return [self[name] for name in self.fields if not name.startswith("param__")]

    def clean(self):
        cleaned = super().clean()
        params = {}
        for key, old in (self.rule.params or {}).items():
            name = self.param_field(key)
            if name not in cleaned:
                continue
            value = cleaned[name]
            if isinstance(old, list | dict):
                try:
                    value = json.loads(value)
                except ValueError as exc:
                    self.add_error(name, gettext("Not valid JSON: %(error)s") % {"error": exc})
                    continue
                if not isinstance(value, type(old)):
                    self.add_error(
                        name,
                        gettext("Expected a list, as before.")
                        if isinstance(old, list)
                        else gettext("Expected a mapping, as before."),
                    )
                    continue
            params[key] = value
        cleaned["params"] = params
        # RULES.md: a pack may tighten the law's numbers, never loosen them.
        from huifang.rules.services import DEADLINE_PARAMS, rule_laxer_params

        for problem in rule_laxer_params(self.rule, params):
            message = (
                gettext("%(value)s is laxer than the law allows: at most %(limit)s.")
                if problem["key"] in DEADLINE_PARAMS
                else gettext("%(value)s is laxer than the law allows: at least %(limit)s.")
            )
            self.add_error(self.param_field(problem["key"]), message % problem)
        text = (cleaned.get("conditions") or "").strip()
        if "conditions" in cleaned:
            try:
                conditions = json.loads(text) if text else {}
            except ValueError as exc:
                self.add_error("conditions", gettext("Not valid JSON: %(error)s") % {"error": exc})
            else:
                try:
                    conditions_parse(conditions)
                except ConditionsInvalid as exc:
                    self.add_error("conditions", gettext("Not valid conditions: %(error)s") % {"error": exc})
                else:
                    cleaned["conditions_value"] = conditions or {}
        start, end = cleaned.get("effective_from"), cleaned.get("effective_to")
        if start and end and end < start:
            self.add_error("effective_to", gettext("The last day is before the first day."))
        old_start = self.rule.effective_from
        if "effective_from" in cleaned and start != old_start:
            if start is None or (old_start and start <= old_start):
                self.add_error(
                    "effective_from",
                    gettext(
                        "A new version can only start after the current one (%(start)s); leave the "
                        "day as it is to change the rule for all its days."
                    )
                    % {"start": old_start.isoformat() if old_start else gettext("always")},
                )
            elif self.rule.effective_to and start > self.rule.effective_to:
                self.add_error(
                    "effective_from",
                    gettext("The current version ends on %(end)s, before this day.")
                    % {"end": self.rule.effective_to.isoformat()},
                )
        return cleaned

    def changes(self) -> dict:
        """The service's keyword arguments (only after ``is_valid()``)."""
        data = self.cleaned_data
        return {
            "params": data["params"],
            "conditions": data["conditions_value"],
            "effective_to": data.get("effective_to"),
            "effective_from": data.get("effective_from"),
        }


class PreviewForm(StyledForm):
    """Which policy a preview uses: a policy number in the user's scope, or a generated sample."""

    policy_no = forms.CharField(
        label=_("Policy number"),
        required=False,
        max_length=40,
        strip=True,
        help_text=_("A policy you may see; leave empty to use the sample."),
    )
    sample = forms.ChoiceField(label=_("Sample policy"), choices=SAMPLE_CHOICES, required=False)
    base_date = forms.DateField(
        label=_("Counted from"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("The day the event happened (claim closed, problem found …); default today."),
    )

    def __init__(self, *args, prefix="preview", **kwargs):
        super().__init__(*args, prefix=prefix, **kwargs)


class ScriptVersionForm(StyledForm):
    """The next version of a script, as YAML (the format of huifang/callbacks/script_packs)."""

    definition = forms.CharField(
        label=_("Script (YAML)"),
        widget=forms.Textarea(attrs={"rows": 24, "class": "font-monospace", "spellcheck": "false"}),
        help_text=_(
            "Items with code, text (placeholders such as {product_name}), mandatory, expected "
            "(yes, no or any), conditions, rule_id and problem_category."
        ),
    )
    note = forms.CharField(
        label=_("What changes"),
        max_length=120,
        min_length=4,
        help_text=_("Kept in the audit trail with the new version."),
        error_messages={"required": _("Say what changes in this version.")},
    )

    def __init__(self, *args, code: str, **kwargs):
        self.code = code
        super().__init__(*args, **kwargs)

    def clean_definition(self):
        from huifang.callbacks.scripts import script_definition_clean

        text = self.cleaned_data["definition"]
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValidationError(gettext("Not valid YAML: %(error)s") % {"error": exc}) from None
        if isinstance(raw, dict) and str(raw.get("code") or "").strip() != self.code:
            raise ValidationError(
                gettext("The code must stay %(code)s: a new code would be a new script.")
                % {"code": self.code}
            )
        try:
            return script_definition_clean(raw)
        except ValidationError as exc:  # every problem, each naming the item and key in the YAML
            raise ValidationError(
                [gettext("The script is not valid:")] + [str(m) for m in exc.messages]
            ) from None


class CalendarDayForm(StyledForm):
    """Change one day of a stored year: a holiday, a make-up working day (调休), or an ordinary day."""

    ORDINARY = "ordinary"

    date = forms.DateField(label=_("Date"), widget=forms.DateInput(attrs={"type": "date"}))
    kind = forms.ChoiceField(
        label=_("The day is"),
        choices=[
            (FILE_HOLIDAY, _("a public holiday or day off")),
            (FILE_WORKDAY, _("a make-up working day (调休, a Saturday or Sunday)")),
            (ORDINARY, _("an ordinary day (working Monday to Friday, weekend otherwise)")),
        ],
    )
    name = forms.CharField(label=_("Name"), max_length=100, required=False, help_text=_("e.g. 春节"))
    source = forms.CharField(
        label=_("Source"),
        max_length=200,
        help_text=_("Where the change comes from, e.g. the State Council notice's number."),
    )

    def __init__(self, *args, year: int, **kwargs):
        self.year = year
        super().__init__(*args, **kwargs)

    def clean_date(self):
        value = self.cleaned_data["date"]
        if value.year != self.year:
            raise ValidationError(
                gettext("%(date)s is not in %(year)s.") % {"date": value.isoformat(), "year": self.year}
            )
        return value


class CalendarConfirmForm(StyledForm, ConfirmYearForm):
    """The admin's "Confirm a year" form (source, optional CSV file); the year comes from the URL."""
