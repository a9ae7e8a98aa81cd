"""Outgoing messages (SMS) of huifang.notify.

A message row is written before it is handed to the backend, so every message sent is on record.
The phone number and the text are encrypted at rest (a text may carry a one-time code or a link);
``to_masked`` (138****1234) is what screens and logs show.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

from huifang.core.crypto.fields import EncryptedTextField


class Message(models.Model):
    """One SMS: the versioned template it was rendered from, where it went, how delivery went."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting to be sent")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Sending failed")

    kind = models.CharField(_("message kind"), max_length=40)  # e.g. "ecallback_link", "ecallback_code"
    template = models.CharField(_("SMS template"), max_length=40)
    template_version = models.PositiveSmallIntegerField(_("SMS template version"))
    to = EncryptedTextField(_("recipient"), pii_kind="phone")
    to_masked = models.CharField(_("recipient (masked)"), max_length=40)
    text = EncryptedTextField(_("message text"))
    # What the message concerns ("selfservice.ecallbacklink:12"), never personal information.
    subject = models.CharField(max_length=80, blank=True, db_index=True)
    status = models.CharField(
        _("sending status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    backend = models.CharField(max_length=120, blank=True)
    provider_ref = models.CharField(max_length=120, blank=True)
    tries = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("message")
        verbose_name_plural = _("messages")

    def __str__(self):
        return f"{self.kind} → {self.to_masked}"
