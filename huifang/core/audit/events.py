from django.utils.translation import gettext_lazy as _

from huifang.core.audit.registry import register

AUDIT_VERIFIED = register("audit.verified", _("Audit chain verified"))
# The heads of all chains sealed into one event (huifang.core.audit.services.audit_chains_anchor).
AUDIT_ANCHORED = register("audit.anchored", _("Audit chain heads sealed"))
PII_REVEALED = register("pii.revealed", _("Personal information revealed"), rule="PV-10")
LOGIN_SUCCEEDED = register("auth.login", _("User logged in"))
LOGIN_FAILED = register("auth.login_failed", _("Failed login"))
API_TOKEN_CREATED = register("api_token.created", _("API token created"))
API_TOKEN_REVOKED = register("api_token.revoked", _("API token revoked"))
CALENDAR_YEAR_CONFIRMED = register("calendar.year_confirmed", _("Working-day calendar year confirmed"))
CRYPTO_REKEYED = register("crypto.rekeyed", _("Encrypted fields re-encrypted under a new key"))
