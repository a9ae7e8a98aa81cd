"""Org units (head office → province → city → sales office; vendors too), users and API tokens."""

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _


class OrgUnit(models.Model):
    """A node of the org tree. ``path`` is the materialised path of codes ("/HO/GD/GZ/") so that a
    subtree is one indexed ``startswith`` filter."""

    class Kind(models.TextChoices):
        HEAD_OFFICE = "head_office", _("Head office")
        PROVINCE = "province", _("Province branch")
        CITY = "city", _("City branch")
        SALES_OFFICE = "sales_office", _("Sales office")
        VENDOR = "vendor", _("Outsourced callback vendor")

    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    path = models.CharField(max_length=400, unique=True, editable=False)
    depth = models.PositiveSmallIntegerField(default=0, editable=False)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["path"]
        verbose_name = _("org unit")
        verbose_name_plural = _("org units")
        indexes = [models.Index(fields=["path"], name="orgunit_path_idx", opclasses=["varchar_pattern_ops"])]

    def __str__(self):
        return self.name

    def is_ancestor_of(self, other: "OrgUnit") -> bool:
        return other.path.startswith(self.path)


class User(AbstractUser):
    """A staff user. Belongs to one org unit; roles are groups (huifang.core.permissions.Role)."""

    full_name = models.CharField(_("full name"), max_length=100, blank=True)
    staff_code = models.CharField(_("staff code"), max_length=32, blank=True, db_index=True)
    org_unit = models.ForeignKey(
        OrgUnit,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="users",
        verbose_name=_("org unit"),
    )
    # Skills route callback pools (e.g. "bank_channel", "elderly"); free tags, see the callback engine.
    skills = models.JSONField(_("skills"), default=list, blank=True)

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self):
        return self.full_name or self.username

    @property
    def display_name(self) -> str:
        return self.full_name or self.username


class ApiToken(models.Model):
    """A bearer token for the REST API. Only its SHA-256 is stored; the secret is shown once."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, db_index=True)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self):
        return f"{self.prefix}… ({self.name})"
