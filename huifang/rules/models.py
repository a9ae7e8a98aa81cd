"""Rule packs: every regulatory number Huifang enforces, as data with its RULES.md id, citation,
parameters, conditions and effective dates (DESIGN.md §4 "Rules are data, not if statements").

A pack (the shipped national pack, the insurer's default pack, a local regulator's pack) is loaded
from YAML in ``huifang/rules/packs/`` and may be edited by administrators; every change creates a
new ``Rule`` version (the old one is kept, with ``superseded_at`` set) so a deadline computed
last year can still say which rule version set it.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class RulePack(models.Model):
    class Kind(models.TextChoices):
        NATIONAL = "national", _("National regulation")
        LOCAL = "local", _("Local regulator")
        INSURER = "insurer", _("Insurer policy")

    code = models.CharField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    # Higher precedence wins when two active rules with the same id apply (insurer > local > national
    # lets an insurer be stricter than the law; packs never make a rule laxer than the law — checked).
    precedence = models.PositiveSmallIntegerField(default=0)
    source_file = models.CharField(max_length=200, blank=True)
    source_sha256 = models.CharField(max_length=64, blank=True)
    loaded_at = models.DateTimeField(null=True, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["-precedence", "code"]
        verbose_name = _("rule pack")
        verbose_name_plural = _("rule packs")

    def __str__(self):
        return self.name


class Rule(models.Model):
    """One version of one rule. ``rule_id`` is the RULES.md id (e.g. "BS-12")."""

    class Certainty(models.TextChoices):
        LAW = "law", _("Law (checked against the official text)")
        SECONDARY = "2nd", _("Secondary sources")
        POLICY = "policy", _("Insurer policy (configurable)")

    pack = models.ForeignKey(RulePack, on_delete=models.PROTECT, related_name="rules")
    rule_id = models.CharField(_("rule id"), max_length=20, db_index=True)
    version = models.PositiveIntegerField(default=1)
    title = models.CharField(_("title"), max_length=300)
    citation = models.CharField(_("citation"), max_length=300)
    certainty = models.CharField(max_length=10, choices=Certainty.choices, default=Certainty.LAW)
    # What the rule does in Huifang: e.g. "callback_task" (generates tasks), "deadline", "kpi", "guard".
    effect = models.CharField(max_length=30, blank=True)
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    conditions = models.JSONField(_("conditions"), default=dict, blank=True)
    effective_from = models.DateField(_("effective from"), null=True, blank=True)
    effective_to = models.DateField(_("effective until"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        "org.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    superseded_at = models.DateTimeField(null=True, blank=True)
    change_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["rule_id", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["pack", "rule_id", "version"], name="rule_version_once")
        ]
        verbose_name = _("rule")
        verbose_name_plural = _("rules")

    def __str__(self):
        return f"{self.rule_id} v{self.version}"
