"""The customer's electronic callback (电子化回访, RULES.md EC-01…EC-06).

``ECallbackLink``
    One SMS link for one callback task. The link carries a signed, expiring token; only its
    SHA-256 is stored (``token_hash``), so a link can be looked up and revoked but never rebuilt
    from the database. The one-time code is stored as an HMAC too. A link is ``active`` until it
    ends: finished (every item confirmed), problem (a "否"/"有疑问" answer, EC-06), switched to
    phone (EC-02), expired (EC-05 fallback point), locked (5 wrong codes), superseded by a
    newer link, or moved on (the task left the electronic channel or closed without it, e.g. an
    agent's call). Only ``active`` links work.
``ECallbackStep``
    The evidence (EC-03): one row per thing that happened — link sent, code sent, code wrong or
    right, identity confirmed, each item shown and answered with its exact text and SHA-256,
    the switch to phone — with time, IP and user agent. Append-only: the database refuses any
    update or delete.
``EvidenceBundle``
    The sealed bundle of an ended link: the SHA-256 over the canonical JSON of its steps, sealed
    into the audit chain (``audit_seq``), and the retention date (EC-04: 10 years from the
    contract's termination). Immutable once written.
``RateHit``
    Counters per key and time window for the per-IP limits (shared by every web process).
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class LinkStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    FINISHED = "finished", _("Completed")
    PROBLEM = "problem", _("Ended with a problem case (EC-06)")
    SWITCHED = "switched", _("Switched to a phone callback (EC-02)")
    NOT_HOLDER = "not_holder", _("Not the policyholder")
    EXPIRED = "expired", _("Expired")
    LOCKED = "locked", _("Locked after wrong codes")
    SUPERSEDED = "superseded", _("Replaced by a newer link")
    MOVED_ON = "moved_on", _("Ended: the callback went on by another channel or was closed")


class ECallbackLink(models.Model):
    """One e-callback link sent to the policyholder's mobile (see the module docstring)."""

    task = models.ForeignKey(
        "callbacks.CallbackTask", on_delete=models.PROTECT, related_name="ecallback_links"
    )
    token_hash = models.CharField(max_length=64, unique=True)
    status = models.CharField(
        _("status"), max_length=12, choices=LinkStatus.choices, default=LinkStatus.ACTIVE
    )
    sent_to_masked = models.CharField(max_length=40)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"))
    # One-time code (EC-01): HMAC of the code, when it was sent and until when it is valid.
    otp_hash = models.CharField(max_length=64, blank=True)
    otp_sent_at = models.DateTimeField(null=True, blank=True)
    otp_expires_at = models.DateTimeField(null=True, blank=True)
    otp_sends = models.PositiveSmallIntegerField(default=0)
    otp_failures = models.PositiveSmallIntegerField(default=0)
    verified_at = models.DateTimeField(null=True, blank=True)
    # The browser that entered the right code holds this key in a cookie (its SHA-256 is here).
    browser_key_hash = models.CharField(max_length=64, blank=True)
    identity_confirmed_at = models.DateTimeField(null=True, blank=True)
    # Answers so far: item code → "yes" | "no" | "unsure" (the steps hold the evidence).
    answers = models.JSONField(default=dict, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=200, blank=True)
    attempt = models.ForeignKey(
        "callbacks.Attempt", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    problem_case_numbers = models.JSONField(default=list, blank=True)
    phone_due_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("e-callback link")
        verbose_name_plural = _("e-callback links")
        indexes = [models.Index(fields=["task", "status"], name="ecb_link_task_status_idx")]

    def __str__(self):
        return f"e-callback link {self.pk} ({self.status})"


class ECallbackStep(models.Model):
    """One evidence step of an e-callback (append-only; see the module docstring)."""

    class Kind(models.TextChoices):
        LINK_SENT = "link_sent", _("Link sent")
        CODE_SENT = "code_sent", _("Code sent")
        CODE_WRONG = "code_wrong", _("Wrong code")
        CODE_VERIFIED = "code_verified", _("Code verified")
        LOCKED = "locked", _("Locked after wrong codes")
        IDENTITY = "identity", _("Identity confirmation")
        ANSWER = "answer", _("Item answered")
        SWITCHED = "switched", _("Switched to phone")
        EXPIRED = "expired", _("Expired")
        FINISHED = "finished", _("Finished")

    link = models.ForeignKey(ECallbackLink, on_delete=models.PROTECT, related_name="steps")
    seq = models.PositiveIntegerField()
    kind = models.CharField(max_length=20, choices=Kind.choices)
    at = models.DateTimeField()
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    item_code = models.CharField(max_length=40, blank=True)
    item_text = models.TextField(blank=True)  # the exact text shown (policy details, masked name)
    text_sha256 = models.CharField(max_length=64, blank=True)
    answer = models.CharField(max_length=10, blank=True)
    page_version = models.CharField(max_length=20, blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["link", "seq"]
        constraints = [models.UniqueConstraint(fields=["link", "seq"], name="ecb_step_seq_once")]


class EvidenceBundle(models.Model):
    """The sealed evidence of one ended e-callback link (immutable; see the module docstring)."""

    link = models.OneToOneField(ECallbackLink, on_delete=models.PROTECT, related_name="bundle")
    task = models.ForeignKey("callbacks.CallbackTask", on_delete=models.PROTECT, related_name="+")
    outcome = models.CharField(max_length=12, choices=LinkStatus.choices)
    steps = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    algorithm = models.CharField(max_length=10, default="sha256")
    audit_seq = models.BigIntegerField(null=True, blank=True)
    sealed_at = models.DateTimeField()
    # EC-04: kept at least 10 years from the contract's termination.
    retention_years = models.PositiveSmallIntegerField(default=10)
    retain_until = models.DateField(null=True, blank=True)
    retention_basis = models.CharField(max_length=200)

    class Meta:
        verbose_name = _("e-callback evidence bundle")


class RateHit(models.Model):
    """How often ``key`` (a hash of the limit's name and the client IP) was hit in a window."""

    key = models.CharField(max_length=64)
    window_start = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["key", "window_start"], name="ratehit_once")]
