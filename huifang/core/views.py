"""The web shell: home page, the rate-limited login and the language switch."""

import hashlib
import logging

from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView as DjangoLoginView
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _
from django.views.i18n import set_language as django_set_language

from huifang.core.permissions import CAPABILITY_LABELS, ROLE_LABELS, Cap, Role, has_cap, user_roles

logger = logging.getLogger(__name__)

# What each role will do, shown on the home page. A description, not a link: the workspaces
# appear in the navigation only once they exist.
ROLE_DUTIES = {
    Role.AGENT: _(
        "Works the callback queue: opens the next due task, reads the script to the customer, "
        "records each answer, the outcome and the recording, and schedules a recall when needed."
    ),
    Role.SUPERVISOR: _(
        "Watches the team's backlog, overdue tasks and success rate, reassigns tasks and approves "
        "letter and visit callbacks."
    ),
    Role.PROBLEM_HANDLER: _(
        "Resolves the problem cases found in callbacks within their deadline, never for a policy "
        "they sold themselves."
    ),
    Role.COMPLAINT_HANDLER: _(
        "Takes complaints from every channel, meets the 15, 30 and 60-day limits and calls the "
        "complainant back."
    ),
    Role.QA_INSPECTOR: _(
        "Samples finished callbacks and recordings, scores them on a scorecard and sends findings back."
    ),
    Role.AUDITOR: _("Reads KPIs and regulator reports, verifies the audit chain and checks retention."),
    Role.ADMIN: _(
        "Manages branches, users and roles, products, rule packs, callback scripts and the "
        "working-day calendar."
    ),
}

# CAPABILITY_LABELS (huifang.core.permissions) are plain strings; these markers put them into the
# translation catalogue so that they can be translated where they are shown (gettext at runtime).
_CAPABILITY_LABEL_MSGIDS = (
    gettext_noop("View customers and policies in scope"),
    gettext_noop("See every org unit (read)"),
    gettext_noop("Reveal masked personal information (with a reason)"),
    gettext_noop("Import records from the core system"),
    gettext_noop("Work callback tasks"),
    gettext_noop("Supervise callbacks"),
    gettext_noop("Handle problem cases"),
    gettext_noop("Handle complaints"),
    gettext_noop("Inspect call quality"),
    gettext_noop("View KPIs and reports"),
    gettext_noop("Read and verify the audit chain"),
    gettext_noop("Administer Huifang"),
)


def role_labels(user) -> list[str]:
    """The user's roles as translated labels, in the order of ``Role``."""
    return [str(ROLE_LABELS[role]) for role in user_roles(user)]


def org_unit_trail(unit) -> list:
    """The unit and its ancestors from the head office down (one query, by materialised path)."""
    if unit is None:
        return []
    from huifang.org.models import OrgUnit

    codes = [code for code in unit.path.split("/") if code]
    return list(OrgUnit.objects.filter(code__in=codes).order_by("depth"))


# Workspaces linked from the home page: (URL name, capability, label). A link appears only when
# the user has the capability and the page exists (its app's URLs are mounted).
WORKSPACES = (
    ("work:home", Cap.WORK_CALLBACKS, _("My callbacks: the next task, due today, overdue and recalls")),
    (
        "work:problems",
        Cap.HANDLE_PROBLEM_CASES,
        _("Problem cases (问题件) to resolve within 15 working days"),
    ),
    ("board:home", Cap.SUPERVISE_CALLBACKS, _("Callback board: backlog, agents, approvals and KPIs")),
    ("board:home", Cap.VIEW_REPORTS, _("Callback board: backlog, agents, approvals and KPIs")),
    ("records:search", Cap.VIEW_RECORDS, _("Customers and policies")),
    ("imports:list", Cap.IMPORT_RECORDS, _("Imports from the core system")),
    ("setup:home", Cap.ADMINISTER, _("Rule packs, callback scripts and the working-day calendar")),
    ("setup:home", Cap.VERIFY_AUDIT, _("Rule packs, callback scripts and the working-day calendar")),
    (
        "admin:audit_auditevent_changelist",
        Cap.VERIFY_AUDIT,
        _("Audit trail: read events and verify the hash chain"),
    ),
    ("admin:index", Cap.ADMINISTER, _("Administration: org units, users and API tokens")),
)


def workspaces(user) -> list[dict]:
    """The workspaces the user may open, once each (in WORKSPACES order)."""
    links, seen = [], set()
    for name, cap, label in WORKSPACES:
        if name in seen or not has_cap(user, cap):
            continue
        try:
            url = reverse(name)
        except NoReverseMatch:
            continue
        seen.add(name)
        links.append({"url": url, "label": label, "name": name})
    return links


def home(request):
    user = request.user
    roles = user_roles(user)
    context = {
        "workspaces": workspaces(user),
        "roles": roles,
        "user_role_labels": [str(ROLE_LABELS[role]) for role in roles],
        "role_cards": [{"label": ROLE_LABELS[role], "duties": ROLE_DUTIES[role]} for role in roles],
        "org_trail": org_unit_trail(user.org_unit),
        "capability_labels": [gettext(CAPABILITY_LABELS[cap]) for cap in Cap if has_cap(user, cap)],
    }
    return render(request, "core/home.html", context)


# ---- login with a rate limit -------------------------------------------------------------------
#
# After LOGIN_FAILURE_LIMIT failed attempts for one username or from one IP address within
# LOGIN_WINDOW_SECONDS, every attempt for that username or from that address is refused for
# LOGIN_LOCKOUT_SECONDS, without checking the password. The counters live in Django's cache: the
# default LocMemCache is per process, so with several web processes (or hosts) each keeps its own
# counters and the effective limit is multiplied by their number; configure a shared cache
# (database or Redis) in that case. REMOTE_ADDR is used as the address: behind a reverse proxy it
# is the proxy's, so the per-address limit then applies to everyone at once.

LOGIN_FAILURE_LIMIT = 5
LOGIN_WINDOW_SECONDS = 15 * 60
LOGIN_LOCKOUT_SECONDS = 15 * 60


def client_ip(request) -> str:
    return (request.META.get("REMOTE_ADDR") or "") if request is not None else ""


def _login_limit_keys(request, username: str) -> list[str]:
    keys = []
    if username:
        # Hashed: the cache never holds what was typed (it may be a mistyped password).
        digest = hashlib.sha256(username.strip().lower().encode()).hexdigest()
        keys.append(f"huifang:login:user:{digest}")
    ip = client_ip(request)
    if ip:
        keys.append(f"huifang:login:ip:{ip}")
    return keys


def login_blocked(request, username: str) -> bool:
    return any(cache.get(f"{key}:locked") for key in _login_limit_keys(request, username))


def login_failure_note(request, username: str) -> None:
    """Count one failed attempt for the username and the address; lock either at the limit."""
    for key in _login_limit_keys(request, username):
        counter = f"{key}:failures"
        cache.add(counter, 0, LOGIN_WINDOW_SECONDS)  # the window starts at the first failure
        try:
            failures = cache.incr(counter)
        except ValueError:  # expired between add() and incr()
            cache.set(counter, 1, LOGIN_WINDOW_SECONDS)
            failures = 1
        if failures >= LOGIN_FAILURE_LIMIT:
            cache.set(f"{key}:locked", True, LOGIN_LOCKOUT_SECONDS)
            cache.delete(counter)
            logger.warning("login locked for %s minutes (%s)", LOGIN_LOCKOUT_SECONDS // 60, key.split(":")[2])


def login_success_note(request, username: str) -> None:
    """A successful login clears the username's failures (not the address's: one valid account
    must not let an address go on guessing others)."""
    keys = _login_limit_keys(request, username)
    if username and keys:
        cache.delete(f"{keys[0]}:failures")


class RateLimitedAuthenticationForm(AuthenticationForm):
    """Django's login form with the rate limit above and messages of our own."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": _("Incorrect username or password. Both are case-sensitive."),
        "locked": _(
            "Too many failed log-in attempts. Log-in is blocked for 15 minutes; "
            "please try again later or ask your administrator."
        ),
    }

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        if login_blocked(self.request, username):
            logger.warning("login refused by the rate limit")
            raise ValidationError(self.error_messages["locked"], code="locked")
        try:
            cleaned = super().clean()
        except ValidationError:
            if self.user_cache is None:  # wrong credentials (not merely a missing field)
                login_failure_note(self.request, username)
            raise
        if self.user_cache is not None:
            login_success_note(self.request, username)
        return cleaned


class LoginView(DjangoLoginView):
    template_name = "registration/login.html"
    authentication_form = RateLimitedAuthenticationForm
    redirect_authenticated_user = True


@login_not_required
def set_language(request):
    """Django's set_language, also open to anonymous visitors (the login page has the switch)."""
    return django_set_language(request)
