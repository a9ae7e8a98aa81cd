"""Audit event types of the customer's e-callback (huifang.selfservice)."""

from django.utils.translation import gettext_lazy as _

from huifang.core.audit.registry import register

LINK_SENT = register("ecallback.link_sent", _("E-callback link sent"), rule="EC-01")
LINK_LOCKED = register("ecallback.locked", _("E-callback locked after wrong codes"), rule="EC-01")
SWITCHED = register(
    "ecallback.switched_to_phone", _("Customer switched the e-callback to phone"), rule="EC-02"
)
EVIDENCE_SEALED = register("ecallback.evidence_sealed", _("E-callback evidence sealed"), rule="EC-03")
