"""Admin for rule packs and rule versions, for holders of ``Cap.ADMINISTER``: read-only.

Rules change by loading a pack file (``huifang rules load``) or through ``rule_version_create``,
never by editing a row: every version is kept (a deadline computed last year can still say which
version set it) and every change is audited.
"""

import json

from django.contrib import admin
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from huifang.core.permissions import Cap, has_cap
from huifang.rules.models import Rule, RulePack


class ReadOnlyAdministerAdmin(admin.ModelAdmin):
    actions = None

    def has_module_permission(self, request):
        return has_cap(request.user, Cap.ADMINISTER)

    def has_view_permission(self, request, obj=None):
        return has_cap(request.user, Cap.ADMINISTER)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


@admin.register(RulePack)
class RulePackAdmin(ReadOnlyAdministerAdmin):
    list_display = ("code", "name", "kind", "precedence", "active", "source_file", "loaded_at")
    list_filter = ("kind", "active")


@admin.register(Rule)
class RuleAdmin(ReadOnlyAdministerAdmin):
    list_display = (
        "rule_id",
        "version",
        "pack",
        "certainty",
        "effect",
        "params_text",
        "effective_from",
        "effective_to",
        "current",
    )
    list_filter = ("pack", "certainty", "effect", ("superseded_at", admin.EmptyFieldListFilter))
    search_fields = ("=rule_id",)
    ordering = ("rule_id", "-pack__precedence", "-version")
    list_select_related = ("pack",)
    readonly_fields = ("params_pretty", "conditions_pretty")
    exclude = ("params", "conditions")

    @admin.display(description=_("parameters"))
    def params_text(self, obj):
        return _json(obj.params)

    @admin.display(description=_("current"), boolean=True)
    def current(self, obj):
        return obj.superseded_at is None

    @admin.display(description=_("parameters"))
    def params_pretty(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.params, ensure_ascii=False, indent=2))

    @admin.display(description=_("conditions"))
    def conditions_pretty(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.conditions, ensure_ascii=False, indent=2))
