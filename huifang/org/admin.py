"""Django admin for org units, users and API tokens, and the admin site's own settings.

Access to the admin follows Huifang's roles, not Django's ``is_staff`` flag and per-model
permissions: the site is open to holders of ``Cap.ADMINISTER`` (everything registered here) and
``Cap.VERIFY_AUDIT`` (the audit trail, huifang.core.audit.admin). Nothing here deletes: users and
org units are deactivated instead, because the evidence trail refers to them for years.
"""

from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.models import Group
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache

from huifang.core.permissions import ROLE_LABELS, Cap, Role, has_cap
from huifang.org.models import ApiToken, OrgUnit, User
from huifang.org.services import org_unit_upsert

# ---- the admin site ------------------------------------------------------------------------------


def admin_site_has_permission(request) -> bool:
    """Who may open the admin at all (each model admin then checks its own capability)."""
    user = request.user
    return bool(user.is_active and (has_cap(user, Cap.ADMINISTER) or has_cap(user, Cap.VERIFY_AUDIT)))


@never_cache
@login_not_required
def admin_site_login(request, extra_context=None):
    """One login page for the whole site (with its rate limit): anonymous visitors go there; a
    logged-in user who may not use the admin gets 403 rather than a second login form."""
    if not request.user.is_authenticated:
        next_url = request.GET.get("next") or reverse("admin:index")
        return redirect_to_login(next_url, settings.LOGIN_URL)
    if admin_site_has_permission(request):
        next_url = request.GET.get("next", "")
        safe = url_has_allowed_host_and_scheme(next_url, {request.get_host()}, request.is_secure())
        return HttpResponseRedirect(next_url if safe else reverse("admin:index"))
    raise PermissionDenied


_django_admin_index = admin.site.index


def admin_site_index(request, extra_context=None):
    """The admin's index is for administrators; an auditor's admin is the audit trail alone."""
    if has_cap(request.user, Cap.ADMINISTER):
        return _django_admin_index(request, extra_context)
    return HttpResponseRedirect(reverse("admin:audit_auditevent_changelist"))


admin.site.site_header = "回访 Huifang"
admin.site.site_title = "回访 Huifang"
admin.site.index_title = _("Administration")
admin.site.has_permission = admin_site_has_permission
admin.site.login = admin_site_login
admin.site.index = admin_site_index


class AdministerOnly:
    """Model admin for holders of Cap.ADMINISTER; never deletes."""

    def has_module_permission(self, request):
        return has_cap(request.user, Cap.ADMINISTER)

    def has_view_permission(self, request, obj=None):
        return has_cap(request.user, Cap.ADMINISTER)

    def has_add_permission(self, request):
        return has_cap(request.user, Cap.ADMINISTER)

    def has_change_permission(self, request, obj=None):
        return has_cap(request.user, Cap.ADMINISTER)

    def has_delete_permission(self, request, obj=None):
        return False


# ---- org units -----------------------------------------------------------------------------------


class OrgUnitForm(forms.ModelForm):
    class Meta:
        model = OrgUnit
        fields = ["code", "name", "kind", "parent", "active"]

    def clean(self):
        cleaned = super().clean()
        parent = cleaned.get("parent")
        if self.instance.pk and parent is not None and parent.path.startswith(self.instance.path):
            self.add_error("parent", _("An org unit cannot be moved under itself or one of its own units."))
        return cleaned


@admin.register(OrgUnit)
class OrgUnitAdmin(AdministerOnly, admin.ModelAdmin):
    form = OrgUnitForm
    list_display = ["tree_name", "code", "kind", "path", "active"]
    list_filter = ["kind", "active"]
    search_fields = ["code", "name"]
    ordering = ["path"]
    readonly_fields = ["path", "depth"]
    list_select_related = ["parent"]
    autocomplete_fields = ["parent"]

    @admin.display(description=_("name"), ordering="path")
    def tree_name(self, obj):
        return f"{'— ' * obj.depth}{obj.name}"

    def get_readonly_fields(self, request, obj=None):
        # The code is the unit's identity (and part of every descendant's path).
        return [*self.readonly_fields, "code"] if obj is not None else self.readonly_fields

    def save_model(self, request, obj, form, change):
        # Through the service: it computes the materialised path and re-paths a moved subtree.
        unit = org_unit_upsert(code=obj.code, name=obj.name, kind=obj.kind, parent=obj.parent)
        if unit.active != obj.active:
            unit.active = obj.active
            unit.save(update_fields=["active"])
        obj.pk, obj.path, obj.depth = unit.pk, unit.path, unit.depth


# ---- users ---------------------------------------------------------------------------------------


class RoleListFilter(admin.SimpleListFilter):
    title = _("role")
    parameter_name = "role"

    def lookups(self, request, model_admin):
        return [(role.value, ROLE_LABELS[role]) for role in Role]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(groups__name=self.value())
        return queryset


@admin.register(User)
class UserAdmin(AdministerOnly, DjangoUserAdmin):
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        (_("Huifang"), {"fields": ("full_name", "staff_code", "org_unit", "skills")}),
        (
            _("Roles and access"),
            {"fields": ("is_active", "groups", "is_staff", "is_superuser", "user_permissions")},
        ),
        (_("Personal info"), {"fields": ("first_name", "last_name", "email")}),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("username", "full_name", "org_unit", "usable_password", "password1", "password2"),
            },
        ),
    )
    list_display = [
        "username",
        "full_name",
        "org_unit",
        "staff_code",
        "role_names",
        "is_active",
        "last_login",
    ]
    list_filter = [RoleListFilter, "groups", "org_unit", "is_active"]
    search_fields = ["username", "full_name", "staff_code"]
    list_select_related = ["org_unit"]
    autocomplete_fields = ["org_unit"]
    readonly_fields = ["last_login", "date_joined"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("groups")

    @admin.display(description=_("roles"))
    def role_names(self, obj):
        return "、".join(str(ROLE_LABELS.get(g.name, g.name)) for g in obj.groups.all())

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            # An administrator manages roles; only a superuser can hand out superuser rights or
            # individual permissions outside the role model.
            fields += ["is_superuser", "user_permissions"]
        return fields

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        if db_field.name == "groups" and field is not None:
            field.queryset = Group.objects.filter(name__in=[r.value for r in Role]).order_by("name")
            field.label = _("roles")
            field.help_text = _("Each role grants a fixed set of capabilities (see the home page).")
            field.label_from_instance = lambda group: str(ROLE_LABELS.get(group.name, group.name))
        return field


# ---- API tokens ----------------------------------------------------------------------------------


@admin.register(ApiToken)
class ApiTokenAdmin(AdministerOnly, admin.ModelAdmin):
    """Read-only: tokens are created and revoked with `huifang token`; the secret is never shown
    (only its hash is stored, and not even that is displayed)."""

    list_display = ["prefix", "name", "user", "created_at", "last_used_at", "expires_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["prefix", "name", "user__username"]
    list_select_related = ["user"]
    fields = ["prefix", "name", "user", "created_at", "last_used_at", "expires_at", "revoked_at"]
    readonly_fields = fields
    ordering = ["-created_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
