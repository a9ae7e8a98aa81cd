from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditEvent(models.Model):
    """One link of the audit chain. Append-only: database triggers refuse UPDATE and DELETE.

    ``hash`` = H(canonical JSON of every other field, including ``prev_hash``), H being SHA-256 or
    SM3 (``algorithm``). ``seq`` is assigned under a lock, so the chain never forks.
    ``data`` never holds unmasked PII.
    """

    seq = models.BigIntegerField(unique=True)
    occurred_at = models.DateTimeField(db_index=True)
    event_type = models.CharField(max_length=80, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_label = models.CharField(max_length=150, blank=True)
    subject_type = models.CharField(max_length=60, blank=True)
    subject_id = models.CharField(max_length=64, blank=True)
    org_unit_id = models.BigIntegerField(null=True, blank=True)
    rule = models.CharField(max_length=80, blank=True)
    data = models.JSONField(default=dict)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)
    algorithm = models.CharField(max_length=10, default="sha256")

    class Meta:
        ordering = ["seq"]
        indexes = [models.Index(fields=["subject_type", "subject_id"], name="audit_subject_idx")]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")

    def __str__(self):
        return f"#{self.seq} {self.event_type}"
