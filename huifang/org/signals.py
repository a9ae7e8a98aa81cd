"""Log-ins into the audit chain (Django's user_logged_in / user_login_failed signals).

The password is never recorded (Django already blanks it in ``credentials``; we do not read it
at all). For a failed log-in the typed username is recorded only when it names an existing
account (as the subject); otherwise only a masked form, because people sometimes type their
password into the username field.
"""

from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver

from huifang.core.audit.events import LOGIN_FAILED, LOGIN_SUCCEEDED
from huifang.core.audit.services import audit_record


def client_ip(request) -> str:
    return (request.META.get("REMOTE_ADDR") or "") if request is not None else ""


def mask_username(username: str) -> str:
    """ "zhangsan" → "z***": enough to tell attempts apart in an investigation, nothing more."""
    username = (username or "").strip()
    return f"{username[:1]}***" if username else ""


@receiver(user_logged_in, dispatch_uid="huifang.org.audit_login_succeeded")
def audit_login_succeeded(sender, request, user, **kwargs):
    audit_record(
        LOGIN_SUCCEEDED,
        actor=user,
        subject=user,
        org_unit_id=user.org_unit_id,
        data={"ip": client_ip(request)},
    )


@receiver(user_login_failed, dispatch_uid="huifang.org.audit_login_failed")
def audit_login_failed(sender, credentials, request=None, **kwargs):
    from huifang.org.models import User

    typed = str(credentials.get(User.USERNAME_FIELD) or "")
    account = User.objects.filter(**{User.USERNAME_FIELD: typed}).first() if typed else None
    data = {"ip": client_ip(request)}
    if account is None:
        data["username_masked"] = mask_username(typed)
    audit_record(
        LOGIN_FAILED,
        # Usually AnonymousUser (recorded as such); a logged-in user trying another account is named.
        actor=getattr(request, "user", None),
        subject=account,
        org_unit_id=account.org_unit_id if account else None,
        data=data,
    )
