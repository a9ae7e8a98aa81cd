"""Insurance records fed by the core policy system: customers, products, salespeople, policies,
claims and policy events (保全, cancellation, lapse, salesperson departure).

Every record has a business key from the core system (``customer_no``, ``policy_no`` …) and a
``source_hash`` (keyed HMAC of the canonical input) so that a re-sent record is recognised as
unchanged without decrypting anything. Facts the rules need are derived in one place
(``huifang.records.derive``) and stored.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

from huifang.core.crypto.fields import EncryptedJSONField, EncryptedTextField


class IdType(models.TextChoices):
    RESIDENT_ID = "resident_id", _("Resident ID card")
    PASSPORT = "passport", _("Passport")
    HK_MACAU_PERMIT = "hk_macau", _("Mainland travel permit for HK/Macau residents")
    TAIWAN_PERMIT = "taiwan", _("Mainland travel permit for Taiwan residents")
    FOREIGN_PERMANENT = "foreign_permanent", _("Foreigner's permanent residence ID")
    MILITARY = "military", _("Military ID")
    OTHER = "other", _("Other")


class Sex(models.TextChoices):
    MALE = "M", _("Male")
    FEMALE = "F", _("Female")
    UNKNOWN = "U", _("Unknown")


class Channel(models.TextChoices):
    AGENCY = "agency", _("Individual agency (个险)")
    BANCASSURANCE = "bank", _("Bancassurance (银保)")
    TELESALES = "phone", _("Telesales (电销)")
    INTERNET = "internet", _("Internet (网销)")
    GROUP = "group", _("Group (团险)")


class Customer(models.Model):
    """A policyholder, insured person, claimant or complainant. PII is encrypted at rest; exact
    search on ID and mobile numbers goes through the blind indexes."""

    customer_no = models.CharField(_("customer number"), max_length=40)
    name = EncryptedTextField(_("name"))
    id_type = models.CharField(
        _("ID type"), max_length=20, choices=IdType.choices, default=IdType.RESIDENT_ID
    )
    id_number = EncryptedTextField(_("ID number"), blank=True)
    id_number_bidx = models.CharField(max_length=64, blank=True, editable=False)
    birth_date = models.DateField(_("birth date"), null=True, blank=True)
    sex = models.CharField(_("sex"), max_length=1, choices=Sex.choices, default=Sex.UNKNOWN)
    mobile = EncryptedTextField(_("mobile"), blank=True)
    mobile_bidx = models.CharField(max_length=64, blank=True, editable=False)
    other_phones = EncryptedJSONField(_("other phones"), default=list, blank=True)
    address = EncryptedTextField(_("address"), blank=True)
    email = EncryptedTextField(_("e-mail"), blank=True)
    # Contact preferences (CL-01, CL-03): a preferred window, and do-not-call with reason and expiry.
    contact_window_start = models.TimeField(_("preferred contact from"), null=True, blank=True)
    contact_window_end = models.TimeField(_("preferred contact until"), null=True, blank=True)
    do_not_call_reason = models.CharField(_("do-not-call reason"), max_length=200, blank=True)
    do_not_call_until = models.DateField(_("do not call until"), null=True, blank=True)
    e_callback_declined = models.BooleanField(_("declined electronic callback"), default=False)
    org_unit = models.ForeignKey(
        "org.OrgUnit",
        on_delete=models.PROTECT,
        related_name="customers",
        verbose_name=_("servicing org unit"),
    )
    # Fingerprints (huifang.records.fingerprints): of the person, the same from the customer feed
    # and from a policy; and of what only the customer feed carries (org unit, contact preferences).
    source_hash = models.CharField(max_length=64, editable=False)
    contact_hash = models.CharField(max_length=64, editable=False, blank=True)
    last_import_job = models.BigIntegerField(null=True, blank=True, editable=False)
    last_import_row = models.IntegerField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        # Declared here rather than with unique=True / db_index=True: on PostgreSQL those add a
        # second, varchar_pattern_ops index to each column for LIKE prefix searches, which nothing
        # does on a business key or a blind index, and every import row would maintain it.
        constraints = [models.UniqueConstraint(fields=["customer_no"], name="customer_no_unique")]
        indexes = [
            models.Index(fields=["id_number_bidx"], name="customer_id_number_bidx"),
            models.Index(fields=["mobile_bidx"], name="customer_mobile_bidx"),
        ]

    def __str__(self):
        return self.customer_no


class ConsentRecord(models.Model):
    """A consent the customer gave or withdrew (PV-06: separate consent for sensitive data)."""

    class Kind(models.TextChoices):
        MARKETING = "marketing", _("Marketing contact")
        E_CALLBACK = "e_callback", _("Electronic callback")
        SENSITIVE_PI = "sensitive_pi", _("Processing of sensitive personal information")
        RECORDING = "recording", _("Call recording")

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="consents")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    granted = models.BooleanField()
    recorded_at = models.DateTimeField()
    channel = models.CharField(max_length=40, blank=True)
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-recorded_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "kind", "recorded_at"], name="consent_once_per_moment"
            )
        ]


class Product(models.Model):
    """An insurance product and the facts the callback rules need."""

    class Line(models.TextChoices):
        LIFE = "life", _("Life")
        HEALTH = "health", _("Health")
        ACCIDENT = "accident", _("Accident")
        PROPERTY = "property", _("Property")
        AUTO = "auto", _("Auto")

    class Kind(models.TextChoices):
        TRADITIONAL = "traditional", _("Traditional")
        PARTICIPATING = "participating", _("Participating (分红)")
        UNIVERSAL = "universal", _("Universal (万能)")
        INVESTMENT_LINKED = "investment_linked", _("Investment-linked (投连)")
        HEALTH = "health", _("Health")

    class TermType(models.TextChoices):
        LONG = "long", _("Long-term (over one year)")
        SHORT = "short", _("Short-term (one year or less)")

    code = models.CharField(_("product code"), max_length=40, unique=True)
    name = models.CharField(_("product name"), max_length=200)
    line = models.CharField(_("line"), max_length=20, choices=Line.choices)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    term_type = models.CharField(
        _("term type"), max_length=10, choices=TermType.choices, default=TermType.LONG
    )
    # CO-01/02/03: cooling-off length in calendar days, counted from the day after receipt.
    cooling_off_days = models.PositiveSmallIntegerField(_("cooling-off days"), default=15)
    high_risk = models.BooleanField(_("high-risk product (CB-06)"), default=False)
    script_code = models.CharField(_("callback script"), max_length=40, blank=True)
    active = models.BooleanField(_("active"), default=True)
    source_hash = models.CharField(max_length=64, editable=False, blank=True)
    last_import_job = models.BigIntegerField(null=True, blank=True, editable=False)
    last_import_row = models.IntegerField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("product")
        verbose_name_plural = _("products")

    def __str__(self):
        return f"{self.name} ({self.code})"


class Salesperson(models.Model):
    """The agent of record (业务员). A departed salesperson's policies get a CB-07 callback."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        DEPARTED = "departed", _("Departed")

    code = models.CharField(_("salesperson code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=100)
    org_unit = models.ForeignKey("org.OrgUnit", on_delete=models.PROTECT, related_name="salespeople")
    channel = models.CharField(_("channel"), max_length=20, choices=Channel.choices)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE)
    departed_on = models.DateField(_("departed on"), null=True, blank=True)
    # A staff user who is also this salesperson must never call back or visit their own sales.
    staff_user = models.ForeignKey(
        "org.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source_hash = models.CharField(max_length=64, editable=False, blank=True)
    last_import_job = models.BigIntegerField(null=True, blank=True, editable=False)
    last_import_row = models.IntegerField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("salesperson")
        verbose_name_plural = _("salespeople")

    def __str__(self):
        return f"{self.name} ({self.code})"


class PolicyStatus(models.TextChoices):
    IN_FORCE = "in_force", _("In force")
    CANCELLED_COOLING_OFF = "cancelled_cooling_off", _("Cancelled in the cooling-off period (犹豫期撤单)")
    SURRENDERED = "surrendered", _("Surrendered")
    LAPSED = "lapsed", _("Lapsed")
    TERMINATED = "terminated", _("Terminated")


class Policy(models.Model):
    """A policy. The fields after ``derived`` are computed by huifang.records.derive and stored."""

    class PaymentMode(models.TextChoices):
        SINGLE = "single", _("Single premium (趸交)")
        REGULAR = "regular", _("Regular premium (期缴)")

    class Frequency(models.TextChoices):
        SINGLE = "single", _("Single")
        ANNUAL = "annual", _("Annual")
        SEMIANNUAL = "semiannual", _("Semi-annual")
        QUARTERLY = "quarterly", _("Quarterly")
        MONTHLY = "monthly", _("Monthly")

    policy_no = models.CharField(_("policy number"), max_length=40)
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="policies")
    channel = models.CharField(_("channel"), max_length=20, choices=Channel.choices)
    is_group = models.BooleanField(_("group policy"), default=False)
    applicant = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="policies_as_applicant")
    insured = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="policies_as_insured")
    beneficiaries = EncryptedJSONField(_("beneficiaries"), default=list, blank=True)
    salesperson = models.ForeignKey(
        Salesperson, null=True, blank=True, on_delete=models.PROTECT, related_name="policies"
    )
    # No index of its own: policy_org_status_idx (org unit, status) leads with it.
    org_unit = models.ForeignKey(
        "org.OrgUnit", on_delete=models.PROTECT, related_name="policies", db_index=False
    )
    premium = models.DecimalField(_("premium"), max_digits=14, decimal_places=2)
    sum_assured = models.DecimalField(
        _("sum assured"), max_digits=16, decimal_places=2, null=True, blank=True
    )
    payment_mode = models.CharField(_("payment mode"), max_length=10, choices=PaymentMode.choices)
    payment_years = models.PositiveSmallIntegerField(_("payment years"), default=1)
    payment_frequency = models.CharField(_("payment frequency"), max_length=12, choices=Frequency.choices)
    term_years = models.PositiveSmallIntegerField(_("term in years (0 = whole life)"), default=0)
    application_date = models.DateField(_("application date"))
    issue_date = models.DateField(_("issue date"), null=True, blank=True)
    receipt_date = models.DateField(_("receipt signed (回执签收)"), null=True, blank=True)
    termination_date = models.DateField(_("termination date"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=24, choices=PolicyStatus.choices, default=PolicyStatus.IN_FORCE
    )
    status_changed_on = models.DateField(_("status changed on"), null=True, blank=True)
    sale_recorded = models.BooleanField(_("sale recorded (双录 done)"), default=False)
    # --- derived (huifang.records.derive.policy_derive) ---
    applicant_age = models.PositiveSmallIntegerField(_("applicant age at application"), null=True, blank=True)
    is_long_term = models.BooleanField(_("term over one year"), default=True)
    recording_required = models.BooleanField(_("双录 required (RC-04)"), default=False)
    cooling_off_days = models.PositiveSmallIntegerField(_("cooling-off days"), null=True, blank=True)
    cooling_off_end = models.DateField(_("cooling-off end (CO-03)"), null=True, blank=True)
    source_hash = models.CharField(max_length=64, editable=False)
    last_import_job = models.BigIntegerField(null=True, blank=True, editable=False)
    last_import_row = models.IntegerField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("policy")
        verbose_name_plural = _("policies")
        # Not unique=True: see Customer.Meta (no LIKE index on the business key).
        constraints = [models.UniqueConstraint(fields=["policy_no"], name="policy_no_unique")]
        indexes = [
            models.Index(fields=["org_unit", "status"], name="policy_org_status_idx"),
            # Receipt date first (the new-policy trigger's window, BS-12), then what the coverage
            # KPI filters and counts by (huifang.reports.kpis): coverage reads this index alone.
            models.Index(
                fields=["receipt_date", "org_unit", "product", "channel", "is_group", "is_long_term", "id"],
                name="policy_receipt_cover_idx",
            ),
            # With the id, so that the policies whose cooling-off ends soon are read from the index
            # alone and hash-joined to their open tasks (the board's cooling-off risks).
            models.Index(fields=["cooling_off_end", "id"], name="policy_cooling_off_end_idx"),
        ]

    def __str__(self):
        return self.policy_no


class Claim(models.Model):
    """A claim on a policy. Closing one triggers a claims callback (KP-07)."""

    class Status(models.TextChoices):
        REPORTED = "reported", _("Reported")
        ACCEPTED = "accepted", _("Accepted")
        DECIDED = "decided", _("Decided")
        PAID = "paid", _("Paid")
        CLOSED = "closed", _("Closed")

    class Decision(models.TextChoices):
        NONE = "", _("Not decided")
        APPROVED = "approved", _("Approved")
        PARTIAL = "partial", _("Partly approved")
        REJECTED = "rejected", _("Rejected")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    claim_no = models.CharField(_("claim number"), max_length=40, unique=True)
    policy = models.ForeignKey(Policy, on_delete=models.PROTECT, related_name="claims")
    claimant = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.PROTECT, related_name="claims"
    )
    org_unit = models.ForeignKey("org.OrgUnit", on_delete=models.PROTECT, related_name="claims")
    reported_on = models.DateField(_("reported on"))
    accepted_on = models.DateField(_("accepted on"), null=True, blank=True)
    decided_on = models.DateField(_("decided on"), null=True, blank=True)
    paid_on = models.DateField(_("paid on"), null=True, blank=True)
    closed_on = models.DateField(_("closed on"), null=True, blank=True, db_index=True)
    decision = models.CharField(
        _("decision"), max_length=10, choices=Decision.choices, blank=True, default=""
    )
    amount_claimed = models.DecimalField(
        _("amount claimed"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    amount_paid = models.DecimalField(
        _("amount paid"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.REPORTED)
    source_hash = models.CharField(max_length=64, editable=False)
    last_import_job = models.BigIntegerField(null=True, blank=True, editable=False)
    last_import_row = models.IntegerField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("claim")
        verbose_name_plural = _("claims")

    def __str__(self):
        return self.claim_no


class PolicyEvent(models.Model):
    """Something that happened to a policy after issue. Applying one (services.policy_event_apply)
    updates the policy's status and writes an audit event."""

    class Kind(models.TextChoices):
        COOLING_OFF_CANCEL = "cooling_off_cancel", _("Cancelled in the cooling-off period (犹豫期撤单)")
        SURRENDER = "surrender", _("Surrender (退保)")
        LAPSE = "lapse", _("Lapse (失效)")
        REINSTATEMENT = "reinstatement", _("Reinstatement (复效)")
        SERVICE_REQUESTED = "service_requested", _("Policy service requested (保全申请)")
        SERVICE_COMPLETED = "service_completed", _("Policy service completed (保全完成)")
        SALESPERSON_DEPARTED = "salesperson_departed", _("Salesperson departed (业务员离司)")
        TERMINATION = "termination", _("Contract terminated (满期/终止)")

    event_no = models.CharField(_("event number"), max_length=60, unique=True)
    policy = models.ForeignKey(Policy, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(_("kind"), max_length=24, choices=Kind.choices)
    event_date = models.DateField(_("event date"))
    details = models.JSONField(_("details"), default=dict, blank=True)
    org_unit = models.ForeignKey("org.OrgUnit", on_delete=models.PROTECT, related_name="policy_events")
    applied_at = models.DateTimeField(null=True, blank=True)
    source_hash = models.CharField(max_length=64, editable=False)
    last_import_job = models.BigIntegerField(null=True, blank=True, editable=False)
    last_import_row = models.IntegerField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["event_date", "id"]
        verbose_name = _("policy event")
        verbose_name_plural = _("policy events")
        indexes = [models.Index(fields=["kind", "event_date"], name="policyevent_kind_date_idx")]

    def __str__(self):
        return f"{self.event_no} {self.kind}"


class ImportJob(models.Model):
    """A file import from the core system. Rows are committed in batches together with
    ``rows_committed``, so a killed import resumes after its last committed row; upserts by business
    key make a full re-run land every row exactly once as well."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting")
        RUNNING = "running", _("Running")
        DONE = "done", _("Finished")
        FAILED = "failed", _("Failed")

    kind = models.CharField(_("record kind"), max_length=20)
    file = models.FileField(_("file"), upload_to="imports/%Y/%m/")
    original_name = models.CharField(_("file name"), max_length=255)
    file_sha256 = models.CharField(max_length=64, db_index=True)
    file_format = models.CharField(max_length=10)  # csv | xlsx
    encoding = models.CharField(max_length=20, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    total_rows = models.IntegerField(_("rows in file"), null=True, blank=True)
    rows_committed = models.IntegerField(_("rows processed"), default=0)
    created_count = models.IntegerField(default=0)
    updated_count = models.IntegerField(default=0)
    unchanged_count = models.IntegerField(default=0)
    quarantined_count = models.IntegerField(default=0)
    file_problems = models.JSONField(default=list, blank=True)  # header-level problems
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        "org.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("import job")
        verbose_name_plural = _("import jobs")

    def __str__(self):
        return f"{self.kind} {self.original_name}"

    @property
    def progress_percent(self) -> int:
        if not self.total_rows:
            return 100 if self.status == self.Status.DONE else 0
        return min(100, round(100 * self.rows_committed / self.total_rows))


class ImportRowError(models.Model):
    """A quarantined row: its number in the file, the column and the reason. Values are masked."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="row_errors")
    row_number = models.IntegerField()
    column = models.CharField(max_length=60, blank=True)
    reason = models.CharField(max_length=300)
    business_key = models.CharField(max_length=60, blank=True)

    class Meta:
        ordering = ["row_number", "id"]
