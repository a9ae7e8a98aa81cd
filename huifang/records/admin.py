"""Admin for insurance records, for holders of ``Cap.ADMINISTER``.

Products and salespeople are reference data an administrator may correct. Customers, policies,
claims, policy events and imports come from the core system (feed or file import): they are
read-only here. Personal information is shown masked only, on the list and on the detail page —
revealing it is the audited reveal on the customer page. Search is by business key, exactly, so it
never needs to decrypt a column.
"""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from huifang.core.crypto.masking import mask_address, mask_email, mask_id_number, mask_name, mask_phone
from huifang.core.permissions import Cap, has_cap
from huifang.records.models import (
    Claim,
    Customer,
    ImportJob,
    ImportRowError,
    Policy,
    PolicyEvent,
    Product,
    Salesperson,
)


class AdministerAdmin(admin.ModelAdmin):
    """Open to administrators; nothing is ever deleted (the evidence trail refers to it)."""

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


class CoreSystemRecordAdmin(AdministerAdmin):
    """Records owned by the core policy system: read-only."""

    actions = None

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# ---- reference data (editable) ------------------------------------------------------------------


@admin.register(Product)
class ProductAdmin(AdministerAdmin):
    list_display = ["code", "name", "line", "kind", "term_type", "cooling_off_days", "high_risk", "active"]
    list_filter = ["line", "kind", "term_type", "high_risk", "active"]
    search_fields = ["=code"]
    fields = [
        "code",
        "name",
        "line",
        "kind",
        "term_type",
        "cooling_off_days",
        "high_risk",
        "script_code",
        "active",
        "created_at",
        "updated_at",
    ]
    readonly_fields = ["created_at", "updated_at"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return self.readonly_fields
        # The code is the business key; kind, term and cooling-off days feed the facts derived and
        # stored on every policy of the product (huifang.records.derive), so they change only
        # through the core-system feed, which re-derives them.
        return [*self.readonly_fields, "code", "line", "kind", "term_type", "cooling_off_days"]


@admin.register(Salesperson)
class SalespersonAdmin(AdministerAdmin):
    list_display = ["code", "name", "org_unit", "channel", "status", "departed_on", "staff_user"]
    list_filter = ["status", "channel"]
    search_fields = ["=code"]
    list_select_related = ["org_unit", "staff_user"]
    autocomplete_fields = ["org_unit", "staff_user"]
    fields = ["code", "name", "org_unit", "channel", "status", "departed_on", "staff_user"]

    def get_readonly_fields(self, request, obj=None):
        return ["code"] if obj is not None else []


# ---- core-system records (read-only, masked) ----------------------------------------------------


@admin.register(Customer)
class CustomerAdmin(CoreSystemRecordAdmin):
    list_display = ["customer_no", "masked_name", "id_type", "masked_id_number", "masked_mobile", "org_unit"]
    list_filter = ["id_type", "sex"]
    search_fields = ["=customer_no"]
    list_select_related = ["org_unit"]
    show_full_result_count = False
    # Only masked renderings of the encrypted fields, never the fields themselves.
    fields = [
        "customer_no",
        "masked_name",
        "id_type",
        "masked_id_number",
        "sex",
        "birth_date",
        "masked_mobile",
        "masked_other_phones",
        "masked_address",
        "masked_email",
        "contact_window_start",
        "contact_window_end",
        "do_not_call_reason",
        "do_not_call_until",
        "e_callback_declined",
        "org_unit",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields

    @admin.display(description=pgettext_lazy("customer field", "Name"))
    def masked_name(self, obj):
        return mask_name(obj.name)

    @admin.display(description=pgettext_lazy("customer field", "ID number"))
    def masked_id_number(self, obj):
        return mask_id_number(obj.id_number)

    @admin.display(description=pgettext_lazy("customer field", "Mobile"))
    def masked_mobile(self, obj):
        return mask_phone(obj.mobile)

    @admin.display(description=pgettext_lazy("customer field", "Other phones"))
    def masked_other_phones(self, obj):
        return ", ".join(m for m in (mask_phone(p) for p in obj.other_phones or []) if m)

    @admin.display(description=pgettext_lazy("customer field", "Address"))
    def masked_address(self, obj):
        return mask_address(obj.address)

    @admin.display(description=pgettext_lazy("customer field", "E-mail"))
    def masked_email(self, obj):
        return mask_email(obj.email)


@admin.register(Policy)
class PolicyAdmin(CoreSystemRecordAdmin):
    list_display = [
        "policy_no",
        "product",
        "channel",
        "status",
        "applicant_no",
        "masked_applicant",
        "application_date",
        "org_unit",
    ]
    list_filter = ["status", "channel", "payment_mode", "recording_required"]
    search_fields = ["=policy_no"]
    list_select_related = ["product", "applicant", "org_unit"]
    show_full_result_count = False
    fields = [
        "policy_no",
        "product",
        "channel",
        "is_group",
        "applicant_no",
        "masked_applicant",
        "insured_no",
        "masked_insured",
        "beneficiary_count",
        "salesperson",
        "org_unit",
        "premium",
        "sum_assured",
        "payment_mode",
        "payment_years",
        "payment_frequency",
        "term_years",
        "application_date",
        "issue_date",
        "receipt_date",
        "termination_date",
        "status",
        "status_changed_on",
        "sale_recorded",
        "applicant_age",
        "is_long_term",
        "recording_required",
        "cooling_off_days",
        "cooling_off_end",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("insured", "salesperson")

    @admin.display(description=_("applicant"), ordering="applicant__customer_no")
    def applicant_no(self, obj):
        return obj.applicant.customer_no

    @admin.display(description=_("applicant name"))
    def masked_applicant(self, obj):
        return mask_name(obj.applicant.name)

    @admin.display(description=_("insured"))
    def insured_no(self, obj):
        return obj.insured.customer_no

    @admin.display(description=_("insured name"))
    def masked_insured(self, obj):
        return mask_name(obj.insured.name)

    @admin.display(description=_("beneficiaries"))
    def beneficiary_count(self, obj):
        return len(obj.beneficiaries or [])


@admin.register(Claim)
class ClaimAdmin(CoreSystemRecordAdmin):
    list_display = ["claim_no", "policy", "status", "decision", "reported_on", "closed_on", "org_unit"]
    list_filter = ["status", "decision"]
    search_fields = ["=claim_no", "=policy__policy_no"]
    list_select_related = ["policy", "org_unit"]
    show_full_result_count = False
    fields = [
        "claim_no",
        "policy",
        "claimant_no",
        "org_unit",
        "status",
        "decision",
        "reported_on",
        "accepted_on",
        "decided_on",
        "paid_on",
        "closed_on",
        "amount_claimed",
        "amount_paid",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields

    @admin.display(description=_("claimant"))
    def claimant_no(self, obj):
        return obj.claimant.customer_no if obj.claimant_id else "—"


@admin.register(PolicyEvent)
class PolicyEventAdmin(CoreSystemRecordAdmin):
    list_display = ["event_no", "policy", "kind", "event_date", "applied_at", "org_unit"]
    list_filter = ["kind"]
    search_fields = ["=event_no", "=policy__policy_no"]
    list_select_related = ["policy", "org_unit"]
    show_full_result_count = False
    fields = ["event_no", "policy", "kind", "event_date", "details", "org_unit", "applied_at", "created_at"]
    readonly_fields = fields


@admin.register(ImportJob)
class ImportJobAdmin(CoreSystemRecordAdmin):
    list_display = [
        "created_at",
        "kind",
        "original_name",
        "status",
        "total_rows",
        "rows_committed",
        "created_count",
        "updated_count",
        "unchanged_count",
        "quarantined_count",
        "created_by",
    ]
    list_filter = ["kind", "status"]
    search_fields = ["=file_sha256", "=original_name"]
    list_select_related = ["created_by"]
    exclude = ["file"]  # the uploaded file holds plaintext personal information

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in ImportJob._meta.concrete_fields if f.name != "file"]


@admin.register(ImportRowError)
class ImportRowErrorAdmin(CoreSystemRecordAdmin):
    list_display = ["job", "row_number", "column", "reason", "business_key"]
    # A job can quarantine many rows: they are listed here (search by job id), not inline.
    search_fields = ["=business_key", "=job__id"]
    list_select_related = ["job"]
    show_full_result_count = False
    fields = ["job", "row_number", "column", "reason", "business_key"]
    readonly_fields = fields
