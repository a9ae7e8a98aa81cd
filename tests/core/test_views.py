"""Per-role permission matrix for the web shell (login, home, logout, language, admin, audit trail),
the login rate limit and the login audit events."""

import gettext
import shutil
import subprocess
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone, translation

from huifang.core.audit.events import AUDIT_VERIFIED, LOGIN_FAILED, LOGIN_SUCCEEDED, PII_REVEALED
from huifang.core.audit.models import AuditEvent
from huifang.core.audit.services import audit_record
from huifang.core.permissions import CAPABILITY_LABELS, ROLE_LABELS
from huifang.core.views import LOGIN_FAILURE_LIMIT
from huifang.org.models import OrgUnit, User
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

ROLES = [
    "agent",
    "supervisor",
    "problem_handler",
    "complaint_handler",
    "qa_inspector",
    "auditor",
    "admin",
    "agent_js",
    "norole",
]
# Who may open what (everyone else is refused).
ADMIN_INDEX = {"admin"}
AUDIT_LIST = {"auditor", "admin"}
ROLE_LABEL_ZH = {
    "agent": "回访专员",
    "supervisor": "回访主管",
    "problem_handler": "问题件处理人",
    "complaint_handler": "投诉处理专员",
    "qa_inspector": "质检员",
    "auditor": "合规审计员",
    "admin": "系统管理员",
    "agent_js": "回访专员",
}


@pytest.fixture(autouse=True)
def _clear_rate_limit():
    # The rate limit lives in the (per-process) cache: no test may inherit another's failures.
    cache.clear()
    yield
    cache.clear()


def counts():
    return (AuditEvent.objects.count(), User.objects.count(), OrgUnit.objects.count())


def logged_in(client, user):
    client.force_login(user)
    return client


def login_post(client, username, password, **extra):
    return client.post(reverse("login"), {"username": username, "password": password}, **extra)


# ---- anonymous ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/",
        "/admin/",
        "/admin/audit/auditevent/",
        "/admin/audit/auditevent/verify/",
        "/admin/org/user/",
    ],
)
def test_anonymous_is_sent_to_the_login_page(client, users, url):
    response = client.get(url, follow=True)
    assert response.redirect_chain, url
    final = response.redirect_chain[-1][0]
    assert final.startswith(reverse("login")), final
    assert response.status_code == 200
    assert "登录" in response.content.decode()


def test_anonymous_post_to_the_audit_verifier_changes_nothing(client, users):
    before = counts()
    response = client.post("/admin/audit/auditevent/verify/")
    assert response.status_code == 302
    assert counts() == before


def test_login_page_is_chinese_by_default_and_labelled(client):
    response = client.get(reverse("login"))
    html = response.content.decode()
    assert response.status_code == 200
    assert '<html lang="zh-hans">' in html
    assert "登录回访系统" in html
    assert settings.HUIFANG_INSURER_NAME in html
    assert '<label class="form-label required" for="id_username">用户名</label>' in html
    assert '<label class="form-label required" for="id_password">密码</label>' in html
    assert 'name="csrfmiddlewaretoken"' in html
    # Offline: the assets are served by the application itself, never by a CDN.
    assert "/static/vendor/tabler/tabler.min.css" in html
    assert "/static/vendor/htmx/htmx.min.js" in html
    assert "https://" not in html.replace('xmlns="https://', "")


def test_admin_login_is_the_site_login(client, users):
    # The admin's own login form would bypass the rate limit: it only redirects.
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 302 and response.url == reverse("login") + "?next=/admin/"
    before = counts()
    response = client.post("/admin/login/", {"username": "admin", "password": PASSWORD})
    assert response.status_code == 302 and "_auth_user_id" not in client.session
    assert counts() == before


def test_every_page_carries_the_csrf_token_for_htmx(client, users):
    html = logged_in(client, users["agent"]).get("/").content.decode()
    token = client.cookies["csrftoken"].value
    assert '<meta name="csrf-token" content="' in html and token
    assert "/static/huifang/huifang.js" in html


def test_login_page_follows_the_browser_language(client):
    html = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Log in to Huifang" in html


def test_csp_header_has_no_unsafe_inline_script(client):
    response = client.get(reverse("login"))
    csp = response.headers["Content-Security-Policy"]
    script_src = next(part for part in csp.split(";") if part.strip().startswith("script-src"))
    assert "unsafe-inline" not in script_src and "unsafe-eval" not in script_src
    assert "<script>" not in response.content.decode()  # no inline scripts at all


# ---- log in, log out ---------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_each_role_logs_in_and_out(client, users, role):
    response = login_post(client, role, PASSWORD)
    assert response.status_code == 302
    assert response.url == reverse("home")
    event = AuditEvent.objects.filter(event_type=LOGIN_SUCCEEDED.id).get()
    assert event.actor_id == users[role].pk
    assert event.subject_type == "org.user" and event.subject_id == str(users[role].pk)
    assert event.org_unit_id == users[role].org_unit_id

    response = client.post(reverse("logout"))
    assert response.status_code == 302 and response.url == reverse("login")
    assert client.get("/").status_code == 302


def test_logout_needs_post(client, users):
    logged_in(client, users["agent"])
    assert client.get(reverse("logout")).status_code == 405
    assert client.get("/").status_code == 200


def test_logged_in_user_visiting_login_goes_home(client, users):
    logged_in(client, users["agent"])
    response = client.get(reverse("login"))
    assert response.status_code == 302 and response.url == reverse("home")


def test_login_redirects_to_next_but_not_off_site(client, users):
    response = client.post(
        reverse("login") + "?next=/admin/", {"username": "admin", "password": PASSWORD, "next": "/admin/"}
    )
    assert response.url == "/admin/"
    client.post(reverse("logout"))
    response = client.post(
        reverse("login"), {"username": "admin", "password": PASSWORD, "next": "https://evil.example/"}
    )
    assert response.url == reverse("home")


def test_wrong_password_shows_a_chinese_error_and_audits_without_the_password(client, users):
    before_users = User.objects.count()
    response = login_post(client, "agent", "not-the-password-9")
    html = response.content.decode()
    assert response.status_code == 200
    assert "用户名或密码错误" in html
    assert "_auth_user_id" not in client.session
    event = AuditEvent.objects.get(event_type=LOGIN_FAILED.id)
    assert event.actor_id is None
    assert event.subject_type == "org.user" and event.subject_id == str(users["agent"].pk)
    assert "not-the-password-9" not in repr(event.data) and "password" not in event.data
    assert set(event.data) == {"ip"}
    assert User.objects.count() == before_users


def test_failed_login_for_an_unknown_name_records_it_masked(client, users):
    login_post(client, "Secret-Typed-In-Username", "whatever-1234")
    event = AuditEvent.objects.get(event_type=LOGIN_FAILED.id)
    assert event.subject_type == "" and event.subject_id == ""
    assert event.data["username_masked"] == "S***"
    assert "Secret-Typed-In-Username" not in repr(event.data) + event.actor_label
    assert "whatever-1234" not in repr(event.data)


def test_inactive_user_cannot_log_in(client, users):
    users["agent"].is_active = False
    users["agent"].save()
    response = login_post(client, "agent", PASSWORD)
    assert response.status_code == 200 and "_auth_user_id" not in client.session


# ---- rate limit --------------------------------------------------------------------------------


def test_five_failures_for_one_username_block_it_for_15_minutes(client, users):
    for _ in range(LOGIN_FAILURE_LIMIT):
        response = login_post(client, "agent", "wrong-password-1")
        assert "用户名或密码错误" in response.content.decode()
    before = counts()
    # Even the right password is refused now, and nothing is written.
    response = login_post(client, "agent", PASSWORD)
    assert response.status_code == 200
    assert "登录失败次数过多" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert counts() == before
    # Another user from another address is not affected.
    response = login_post(client, "supervisor", PASSWORD, REMOTE_ADDR="10.0.0.2")
    assert response.status_code == 302

    with time_machine.travel(timezone.now() + timezone.timedelta(minutes=16)):
        other = client.__class__()
        response = login_post(other, "agent", PASSWORD)
        assert response.status_code == 302


def test_five_failures_from_one_address_block_that_address(client, users):
    for name in ["agent", "supervisor", "nobody1", "nobody2", "nobody3"]:
        login_post(client, name, "wrong-password-1", REMOTE_ADDR="10.9.9.9")
    response = login_post(client, "auditor", PASSWORD, REMOTE_ADDR="10.9.9.9")
    assert "登录失败次数过多" in response.content.decode()
    assert "_auth_user_id" not in client.session
    response = login_post(client, "auditor", PASSWORD, REMOTE_ADDR="10.9.9.10")
    assert response.status_code == 302


def test_a_success_resets_the_username_counter(client, users):
    for _ in range(LOGIN_FAILURE_LIMIT - 1):
        login_post(client, "agent", "wrong-password-1", REMOTE_ADDR="10.1.1.1")
    assert login_post(client, "agent", PASSWORD, REMOTE_ADDR="10.1.1.2").status_code == 302
    client.post(reverse("logout"))
    for _ in range(LOGIN_FAILURE_LIMIT - 1):
        login_post(client, "agent", "wrong-password-1", REMOTE_ADDR="10.1.1.3")
    assert login_post(client, "agent", PASSWORD, REMOTE_ADDR="10.1.1.4").status_code == 302


# ---- home --------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_home_shows_name_org_unit_roles_and_only_permitted_links(client, users, role):
    user = users[role]
    user.full_name = f"测试{role}"
    user.save()
    html = logged_in(client, user).get("/").content.decode()
    assert f"欢迎，测试{role}" in html
    assert user.org_unit.name in html
    if role in ROLE_LABEL_ZH:
        assert ROLE_LABEL_ZH[role] in html
    else:
        assert "尚未分配角色" in html
    assert (f'href="{reverse("admin:index")}"' in html) == (role in ADMIN_INDEX)
    assert (f'href="{reverse("admin:audit_auditevent_changelist")}"' in html) == (role in AUDIT_LIST)
    assert reverse("logout") in html
    assert 'href="#"' not in html


def test_home_in_english(client, users):
    client.cookies["django_language"] = "en"
    html = logged_in(client, users["agent"]).get("/").content.decode()
    assert '<html lang="en">' in html
    assert "Welcome, agent" in html and "Callback agent" in html


def test_language_switch_works_for_anonymous_and_logged_in(client, users):
    response = client.post(reverse("set_language"), {"language": "en", "next": reverse("login")})
    assert response.status_code == 302 and response.url == reverse("login")
    assert "Log in to Huifang" in client.get(reverse("login")).content.decode()
    logged_in(client, users["agent"])
    client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    assert "欢迎" in client.get("/").content.decode()


# ---- admin -------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_admin_index_is_for_administrators_only(client, users, role):
    logged_in(client, users[role])
    before = counts()
    response = client.get("/admin/")
    if role in ADMIN_INDEX:
        assert response.status_code == 200
        html = response.content.decode()
        assert "回访 Huifang" in html
        for url in [
            "/admin/org/orgunit/",
            "/admin/org/user/",
            "/admin/org/apitoken/",
            "/admin/audit/auditevent/",
        ]:
            assert url in html
    elif role in AUDIT_LIST:
        # An auditor's admin is the audit trail alone.
        assert response.status_code == 302 and response.url == reverse("admin:audit_auditevent_changelist")
    else:
        assert response.status_code == 302
        assert client.get(response.url).status_code == 403
    assert counts() == before


@pytest.mark.parametrize("role", ROLES)
def test_audit_list_for_auditors_and_administrators_only(client, users, role):
    audit_record(PII_REVEALED, actor=users["agent"], subject=users["agent"], data={"field": "phone"})
    logged_in(client, users[role])
    before = counts()
    response = client.get(reverse("admin:audit_auditevent_changelist"), follow=True)
    if role in AUDIT_LIST:
        assert response.status_code == 200
        html = response.content.decode()
        assert "个人信息已查看明文" in html  # the event type's label
        assert reverse("admin:audit_auditevent_verify") in html
        assert "/admin/audit/auditevent/add/" not in html
    else:
        assert response.status_code == 403
    assert counts() == before


@pytest.mark.parametrize("role", ROLES)
def test_audit_events_cannot_be_added_changed_or_deleted_by_anyone(client, users, role):
    event = audit_record(PII_REVEALED, actor=users["agent"], subject=users["agent"])
    logged_in(client, users[role])
    before = counts()
    assert client.get("/admin/audit/auditevent/add/").status_code in (302, 403)
    assert client.post("/admin/audit/auditevent/add/", {"seq": 99}).status_code in (302, 403)
    assert client.post(f"/admin/audit/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code in (
        302,
        403,
    )
    response = client.post(f"/admin/audit/auditevent/{event.pk}/change/", {"event_type": "x"})
    assert response.status_code in (302, 403)
    if role in AUDIT_LIST:  # may read the detail, read-only
        html = client.get(f"/admin/audit/auditevent/{event.pk}/change/").content.decode()
        assert (
            event.hash in html
            and 'type="submit"' not in html.split('id="content-main"')[1].split("</form>")[0]
        )
    assert counts() == before
    event.refresh_from_db()
    assert event.event_type == PII_REVEALED.id


def test_superuser_cannot_alter_audit_events_either(client, users):
    boss = User.objects.create_superuser("root", password=PASSWORD)
    event = audit_record(PII_REVEALED, actor=users["agent"])
    logged_in(client, boss)
    before = counts()
    assert client.post(f"/admin/audit/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.get("/admin/audit/auditevent/add/").status_code == 403
    assert counts() == before


@pytest.mark.parametrize("role", ROLES)
def test_verify_chain_page(client, users, role):
    audit_record(PII_REVEALED, actor=users["agent"])
    logged_in(client, users[role])
    before = counts()
    url = reverse("admin:audit_auditevent_verify")
    if role in AUDIT_LIST:
        assert client.get(url).status_code == 200
        assert counts() == before  # looking does not write
        response = client.post(url)
        assert response.status_code == 200
        assert "审计链完整" in response.content.decode()
        event = AuditEvent.objects.order_by("-seq").first()
        assert event.event_type == AUDIT_VERIFIED.id and event.actor_id == users[role].pk
        assert event.data["ok"] is True and event.data["count"] == before[0]
    else:
        assert client.post(url).status_code in (302, 403)
        assert client.get(url, follow=True).status_code == 403
        assert counts() == before


def test_audit_list_filters_by_event_type(client, users):
    audit_record(PII_REVEALED, actor=users["agent"], subject_type="x.y", subject_id="111")
    audit_record(AUDIT_VERIFIED, actor=users["auditor"], subject_type="x.y", subject_id="222")
    logged_in(client, users["auditor"])
    url = reverse("admin:audit_auditevent_changelist")
    html = client.get(url, {"event_type": AUDIT_VERIFIED.id}).content.decode()
    assert "x.y #222" in html and "x.y #111" not in html
    html = client.get(url, {"q": "111"}).content.decode()
    assert "x.y #111" in html and "x.y #222" not in html


@pytest.mark.parametrize(
    "url",
    ["/admin/org/orgunit/", "/admin/org/user/", "/admin/org/apitoken/", "/admin/org/user/add/"],
)
@pytest.mark.parametrize("role", ROLES)
def test_org_admin_pages_for_administrators_only(client, users, role, url):
    logged_in(client, users[role])
    before = counts()
    response = client.get(url)
    if role in ADMIN_INDEX:
        assert response.status_code == 200
    else:
        assert response.status_code in (302, 403)
        if response.status_code == 302:
            assert client.get(response.url, follow=True).status_code == 403
    assert counts() == before


def test_refused_user_change_changes_nothing(client, users):
    target = users["agent_js"]
    logged_in(client, users["supervisor"])
    before = counts()
    response = client.post(
        f"/admin/org/user/{target.pk}/change/", {"username": "hijacked", "full_name": "x", "is_active": ""}
    )
    assert response.status_code in (302, 403)
    target.refresh_from_db()
    assert target.username == "agent_js" and target.is_active
    assert counts() == before


# ---- translation catalogue ---------------------------------------------------------------------

CATALOGUE = Path(__file__).resolve().parents[2] / "huifang" / "locale" / "zh_Hans" / "LC_MESSAGES"


def test_role_and_capability_labels_are_translated():
    with translation.override("zh-hans"):
        for label in ROLE_LABELS.values():
            assert not str(label).isascii(), label
        for label in CAPABILITY_LABELS.values():
            assert not translation.gettext(label).isascii(), label
        for _code, name in settings.LANGUAGES:
            assert not str(name).isascii(), name


@pytest.mark.skipif(not shutil.which("msgfmt"), reason="GNU gettext (msgfmt) is not installed")
def test_catalogue_is_complete_and_compiled(tmp_path):
    po, mo = CATALOGUE / "django.po", CATALOGUE / "django.mo"
    fresh = tmp_path / "django.mo"
    result = subprocess.run(
        ["msgfmt", "--check", "--statistics", "-o", str(fresh), str(po)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "untranslated" not in result.stderr and "fuzzy" not in result.stderr, result.stderr
    with mo.open("rb") as committed, fresh.open("rb") as compiled:
        # The committed .mo holds exactly what the .po says (run scripts/i18n.sh after editing it).
        assert gettext.GNUTranslations(committed)._catalog == gettext.GNUTranslations(compiled)._catalog


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "present", "absent"),
    [
        (
            "agent",
            ["records:search", "work:home"],
            ["admin:index", "imports:list", "setup:home", "board:home"],
        ),
        (
            "auditor",
            ["admin:audit_auditevent_changelist", "records:search", "setup:home"],
            ["admin:index", "imports:list"],
        ),
        ("admin", ["admin:index", "records:search", "imports:list", "setup:home"], []),
        ("norole", [], ["records:search", "admin:index"]),
    ],
)
def test_home_links_only_the_workspaces_the_user_may_open(client, users, role, present, absent):
    from huifang.core.views import workspaces

    client.force_login(users[role])
    html = client.get("/").content.decode()
    names = [link["name"] for link in workspaces(users[role])]
    for name in present:
        assert name in names and f'href="{reverse(name)}"' in html
    for name in absent:
        assert name not in names
    assert len(names) == len(set(names))  # one link per page, even when two capabilities open it
