from django.db import models
from django.utils.translation import gettext_lazy as _


class Access(models.Model):
    """No table: carries the capability permissions (see huifang.core.permissions.Cap)."""

    class Meta:
        managed = False
        default_permissions = ()
        verbose_name = _("access capability")


class WorkerHeartbeat(models.Model):
    """Last time each worker/scheduler process proved it was alive (shown by /api/v1/health)."""

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=20)  # worker | scheduler
    pid = models.IntegerField(default=0)
    hostname = models.CharField(max_length=255, blank=True)
    beat_at = models.DateTimeField()

    class Meta:
        verbose_name = _("worker heartbeat")


class PeriodicRun(models.Model):
    """One row per periodic job and time slot: the unique constraint makes sure that, with several
    schedulers running, each slot is enqueued exactly once."""

    job = models.CharField(max_length=100)
    slot = models.DateTimeField()
    enqueued_at = models.DateTimeField(auto_now_add=True)
    task_result_id = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "slot"], name="periodic_run_once_per_slot")]
        verbose_name = _("periodic job run")
