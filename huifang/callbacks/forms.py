"""Forms of the agent workbench and the problem-case desk. They parse input only; the callback
engine's services decide (attempt_submit, recall_schedule, letter_visit_request,
problem_case_resolve)."""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from huifang.callbacks.channels import SHANGHAI
from huifang.callbacks.models import Attempt, Channel, ProblemCase

D = Attempt.Disposition
# What an agent can record on the workbench (an e-callback stop is the customer's, EC-02).
AGENT_DISPOSITIONS = [
    (D.REACHED, D.REACHED.label),
    (D.NO_ANSWER, D.NO_ANSWER.label),
    (D.WRONG_NUMBER, D.WRONG_NUMBER.label),
    (D.NOT_POLICYHOLDER, D.NOT_POLICYHOLDER.label),
    (D.REFUSED, D.REFUSED.label),
    (D.CALL_LATER, D.CALL_LATER.label),
]
ANSWER_CHOICES = [("yes", _("Yes")), ("no", _("No")), ("unsure", _("Not sure"))]

RECORDING_EXTENSIONS = (".mp3", ".wav", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".amr", ".webm", ".flac")
RECEIPT_EXTENSIONS = (".pdf", ".jpg", ".jpeg", ".png", ".tif", ".tiff")
RECORDING_MAX_BYTES = 100 * 1024 * 1024
LOCAL_INPUT_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]


def _shanghai(value: datetime | None) -> datetime | None:
    """A datetime-local value is a Shanghai wall-clock time (CL-01 is cut in Asia/Shanghai)."""
    if value is None:
        return None
    if timezone.is_aware(value):
        value = timezone.make_naive(value, timezone.get_current_timezone())
    return timezone.make_aware(value, SHANGHAI)


class LocalDateTimeField(forms.DateTimeField):
    widget = forms.DateTimeInput(
        attrs={"type": "datetime-local", "class": "form-control"}, format="%Y-%m-%dT%H:%M"
    )

    def __init__(self, **kwargs):
        kwargs.setdefault("input_formats", LOCAL_INPUT_FORMATS)
        super().__init__(**kwargs)

    def to_python(self, value):
        return _shanghai(super().to_python(value))


class AttemptForm(forms.Form):
    """One callback attempt: the disposition, identity, the answer to each shown script item,
    notes and the recording (a file or the URL an external dialer gives)."""

    disposition = forms.ChoiceField(
        label=_("Outcome of the call"),
        choices=[("", "—")] + AGENT_DISPOSITIONS,
        widget=forms.Select(attrs={"class": "form-select"}),
        error_messages={"required": _("Choose the outcome of the call.")},
    )
    identity_confirmed = forms.BooleanField(
        label=_("Identity of the policyholder confirmed (BS-13(1))"), required=False
    )
    notes = forms.CharField(
        label=_("Notes"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3, "class": "form-control"}),
    )
    recording = forms.FileField(
        label=_("Recording (audio file)"),
        required=False,
        widget=forms.ClearableFileInput(attrs={"class": "form-control", "accept": "audio/*"}),
    )
    recording_url = forms.URLField(
        label=_("or the recording's address in the dialer"),
        required=False,
        max_length=200,
        assume_scheme="https",
        widget=forms.URLInput(attrs={"class": "form-control", "placeholder": "https://"}),
    )
    recall_at = LocalDateTimeField(
        label=_("Call back at (Beijing time)"),
        required=False,
        error_messages={"invalid": _("Enter a date and time, e.g. 2026-03-02 10:30.")},
    )
    started_at = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, items=(), channel: str = "phone", **kwargs):
        super().__init__(*args, **kwargs)
        # A letter or visit carries the policyholder's signed receipt instead of a recording (EC-05).
        self.receipt = channel in (Channel.LETTER, Channel.VISIT)
        if self.receipt:
            self.fields["recording"].label = _("Signed receipt (PDF or image)")
            self.fields["recording"].widget.attrs["accept"] = ",".join(RECEIPT_EXTENSIONS)
        self.items = [item for item in items if item.visible]
        for item in self.items:
            self.fields[f"answer_{item.code}"] = forms.ChoiceField(
                label=item.text,
                choices=ANSWER_CHOICES,
                required=False,
                widget=forms.RadioSelect,
            )

    def answer_fields(self):
        return [(item, self[f"answer_{item.code}"]) for item in self.items]

    def clean_recording(self):
        upload = self.cleaned_data.get("recording")
        if not upload:
            return None
        ext = os.path.splitext(upload.name or "")[1].lower()
        content_type = (getattr(upload, "content_type", "") or "").lower()
        if self.receipt:
            if ext not in RECEIPT_EXTENSIONS:
                raise forms.ValidationError(
                    _("The signed receipt must be a PDF or an image (%(exts)s)."),
                    params={"exts": ", ".join(RECEIPT_EXTENSIONS)},
                )
        elif ext not in RECORDING_EXTENSIONS and not content_type.startswith("audio/"):
            raise forms.ValidationError(
                _("The recording must be an audio file (%(exts)s)."),
                params={"exts": ", ".join(RECORDING_EXTENSIONS)},
            )
        if (
            not self.receipt
            and content_type
            and not (
                content_type.startswith("audio/")
                or content_type in ("application/octet-stream", "video/webm", "video/ogg")
            )
        ):
            raise forms.ValidationError(
                _("The recording must be an audio file, not %(type)s."), params={"type": content_type}
            )
        if upload.size == 0:
            raise forms.ValidationError(_("The recording file is empty."))
        if upload.size > RECORDING_MAX_BYTES:
            raise forms.ValidationError(
                _("The recording is larger than %(mb)d MB."),
                params={"mb": RECORDING_MAX_BYTES // (1024 * 1024)},
            )
        return upload

    def clean_started_at(self):
        # The moment the page was opened (when the call began); anything odd falls back to now.
        now = timezone.now()
        raw = (self.cleaned_data.get("started_at") or "").strip()
        try:
            value = datetime.fromisoformat(raw) if raw else None
        except ValueError:
            value = None
        if value is None or timezone.is_naive(value) or value > now or value < now - timedelta(hours=12):
            return now
        return value

    def clean(self):
        data = super().clean()
        disposition = data.get("disposition")
        answers = {item.code: data.get(f"answer_{item.code}") for item in self.items}
        data["answers"] = {code: value for code, value in answers.items() if value}
        if disposition == D.CALL_LATER and not data.get("recall_at") and "recall_at" not in self.errors:
            self.add_error("recall_at", _("Give the time the customer asked to be called back."))
        if disposition in (D.NO_ANSWER, D.WRONG_NUMBER) and data["answers"]:
            self.add_error(
                None,
                _(
                    "Nobody answered, so no script item can be answered: clear the answers or change the outcome."
                ),
            )
        if disposition == D.REACHED and data.get("identity_confirmed"):
            missing = [item for item in self.items if item.mandatory and item.code not in data["answers"]]
            for item in missing:
                self.add_error(
                    f"answer_{item.code}",
                    _("A mandatory item (%(rule)s) must be answered.") % {"rule": item.rule_id or item.code},
                )
        if data.get("recording") and data.get("recording_url"):
            self.add_error("recording_url", _("Give either a recording file or its address, not both."))
        return data


class RecallForm(forms.Form):
    """The recall card beside the script runner (its own ids: the attempt form has a recall time too)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "recall_%s")
        super().__init__(*args, **kwargs)

    recall_at = LocalDateTimeField(
        label=_("Call back at (Beijing time)"),
        error_messages={
            "required": _("Choose the date and time of the recall."),
            "invalid": _("Enter a date and time, e.g. 2026-03-02 10:30."),
        },
    )


class LetterVisitForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("Ask the supervisor for"),
        choices=[("letter", _("a letter callback")), ("visit", _("a visit callback"))],
        widget=forms.RadioSelect,
        error_messages={"required": _("Choose a letter or a visit.")},
    )


class ResolveForm(forms.Form):
    resolution = forms.ChoiceField(
        label=_("Resolution"),
        choices=[("", "—")] + list(ProblemCase.Resolution.choices),
        widget=forms.Select(attrs={"class": "form-select"}),
        error_messages={"required": _("Choose how the problem was resolved.")},
    )
    note = forms.CharField(
        label=_("What was done (note)"),
        min_length=4,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 4, "class": "form-control"}),
        error_messages={
            "required": _("Write what was done: the note is required."),
            "min_length": _("The note must have at least %(limit_value)d characters."),
        },
    )
