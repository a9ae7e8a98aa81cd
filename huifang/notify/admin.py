from django.contrib import admin

from huifang.notify.models import Message


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    """Read-only: what was sent, to whom (masked), with which template version."""

    list_display = ("created_at", "kind", "to_masked", "template", "template_version", "status", "tries")
    list_filter = ("kind", "status")
    fields = list_display + ("subject", "backend", "provider_ref", "last_error", "sent_at")
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
