"""The audit trail in the admin: read-only, for holders of Cap.VERIFY_AUDIT, with a page that
verifies the hash chain on demand."""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.decorators import method_decorator
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from huifang.core.audit.events import AUDIT_VERIFIED
from huifang.core.audit.models import AuditEvent
from huifang.core.audit.registry import all_event_types
from huifang.core.audit.registry import get as get_event_type
from huifang.core.audit.services import audit_chain_verify, audit_record
from huifang.core.permissions import Cap, has_cap


class EventTypeFilter(admin.SimpleListFilter):
    title = _("event type")
    parameter_name = "event_type"

    def lookups(self, request, model_admin):
        return [(event.id, f"{event.label} ({event.id})") for event in all_event_types()]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(event_type=self.value())
        return queryset


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Append-only evidence: nobody adds, changes or deletes here, not even a superuser (the
    database refuses UPDATE and DELETE anyway). Listed in the order written (``seq``, across the
    parallel chains); ``chain`` and ``chain_seq`` say where each event links in."""

    list_display = [
        "seq",
        "occurred_at",
        "event_label",
        "actor_label",
        "subject",
        "rule",
        "chain",
        "chain_seq",
    ]
    list_display_links = ["seq"]
    list_filter = [EventTypeFilter]
    # Exact matches only: the table grows for years and substring search would scan all of it.
    search_fields = ["=subject_id", "=actor_label", "=rule"]
    ordering = ["-seq"]
    list_per_page = 50
    show_full_result_count = False
    actions = None
    fields = [
        "seq",
        "chain",
        "chain_seq",
        "format",
        "occurred_at",
        "event_type",
        "event_label",
        "actor_label",
        "actor_id",
        "subject_type",
        "subject_id",
        "org_unit_id",
        "rule",
        "data",
        "algorithm",
        "prev_hash",
        "hash",
    ]
    readonly_fields = fields

    @admin.display(description=_("event type"), ordering="event_type")
    def event_label(self, obj):
        try:
            return get_event_type(obj.event_type).label
        except KeyError:  # an id from a newer or retired release: show it as stored
            return obj.event_type

    @admin.display(description=_("subject"))
    def subject(self, obj):
        return f"{obj.subject_type} #{obj.subject_id}" if obj.subject_type else "—"

    def has_module_permission(self, request):
        return has_cap(request.user, Cap.VERIFY_AUDIT)

    def has_view_permission(self, request, obj=None):
        return has_cap(request.user, Cap.VERIFY_AUDIT)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        return [
            path("verify/", self.admin_site.admin_view(self.verify_view), name="audit_auditevent_verify"),
            *super().get_urls(),
        ]

    @method_decorator(require_http_methods(["GET", "POST"]))
    def verify_view(self, request):
        """GET explains, POST walks the whole chain and records who verified it with what result.

        The walk runs inside the request; for a very long chain use ``huifang audit verify``.
        """
        if not has_cap(request.user, Cap.VERIFY_AUDIT):
            raise PermissionDenied
        result = None
        event_count = AuditEvent.objects.count()  # before this verification's own event
        if request.method == "POST":
            result = audit_chain_verify()
            audit_record(
                AUDIT_VERIFIED,
                actor=request.user,
                data={
                    "ok": result.ok,
                    "count": result.count,
                    "broken_seq": result.broken_seq,
                    "reason": result.reason,
                    "via": "admin",
                },
            )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Verify the audit chain"),
            "result": result,
            "event_count": event_count,
        }
        return TemplateResponse(request, "admin/audit/auditevent/verify.html", context)
