from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditEvent(models.Model):
    """One link of one of the parallel audit chains. Append-only: database triggers refuse UPDATE
    and DELETE.

    The trail is ``HUIFANG_AUDIT_CHAINS`` (default 16) hash chains written side by side, so that
    writers in different chains do not wait for each other (docs/audit-chain.md). An event is link
    ``chain_seq`` (1, 2, 3 … without gaps) of chain ``chain``; ``prev_hash`` is the hash of link
    ``chain_seq - 1`` of the same chain. ``hash`` = H(canonical JSON of every other field), H being
    SHA-256 or SM3 (``algorithm``). Links are assigned under a per-chain lock, so no chain forks.
    ``seq`` numbers all events in the order they were written, across chains (unique, increasing;
    on PostgreSQL it may skip numbers after a rollback). ``data`` never holds unmasked PII.
    """

    seq = models.BigIntegerField(unique=True)
    chain = models.SmallIntegerField(default=0)
    chain_seq = models.BigIntegerField()
    format = models.SmallIntegerField(default=2)  # 1: written before the chains (huifang.core.audit.chain)
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
        constraints = [
            # One event per link: the chain cannot fork, and its head is one index probe away.
            models.UniqueConstraint(fields=["chain", "chain_seq"], name="audit_chain_link_uniq"),
        ]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")

    def __str__(self):
        return f"#{self.seq} {self.event_type} (chain {self.chain} #{self.chain_seq})"
