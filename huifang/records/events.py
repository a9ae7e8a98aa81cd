from django.utils.translation import gettext_lazy as _

from huifang.core.audit.registry import register

RECORDS_BATCH_UPSERTED = register("records.batch_upserted", _("Records received from the core system"))
POLICY_STATUS_CHANGED = register("policy.status_changed", _("Policy status changed by a policy event"))
SALESPERSON_DEPARTED = register("salesperson.departed", _("Salesperson departed"), rule="CB-07")
POLICY_EVENT_RECORDED = register("policy_event.recorded", _("Policy event recorded"))
IMPORT_STARTED = register("import.started", _("File import started"))
IMPORT_FINISHED = register("import.finished", _("File import finished"))
