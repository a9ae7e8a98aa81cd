"""Writes of the customer's electronic callback (RULES.md EC-01…EC-06).

The way through, one service per step (each in one transaction, with its evidence step and, where
the chain needs it, its audit event):

``ecallback_start``           the engine's electronic step begins: a link by SMS (EC-01)
``ecallback_code_send``       a one-time code by SMS (6 digits, valid 5 min, resend limited)
``ecallback_code_verify``     the code; 5 wrong codes lock the link and make the phone due (EC-01)
``ecallback_identity``        "本人" (or not: the phone step is due)
``ecallback_answer``          one script item: "是" moves on; "否"/"有疑问" opens the problem case
                              (EC-06); the last item submits the attempt (KP-06 decides success)
``ecallback_switch``          "改为电话回访" at any point (EC-02), with the preferred time
``ecallback_expire_due``      links past their end stop working (the EC-05 fallback point)

A refused step raises ``ECallbackRefused`` with a code and a message for the customer and changes
nothing (a wrong code is the exception: it is counted).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext

from huifang.callbacks.channels import (
    SHANGHAI,
    SLOTS,
    channel_fallback_point,
    channel_to_phone,
    contact_next_allowed,
    e_callback_possible,
)
from huifang.callbacks.models import OPEN_STATUSES, Attempt, CallbackTask, Channel, TaskStatus
from huifang.callbacks.outcomes import attempt_submit
from huifang.callbacks.problems import problem_case_open
from huifang.callbacks.scripts import script_for_task, script_render, text_sha256
from huifang.callbacks.status import TRANSITIONS, callback_task_set_status
from huifang.core.audit.services import audit_record
from huifang.core.crypto.masking import mask_id_number, mask_name, mask_phone
from huifang.notify.services import message_send_now_or_later, sms_queue
from huifang.selfservice import events
from huifang.selfservice.models import ECallbackLink, ECallbackStep, EvidenceBundle, LinkStatus, RateHit

Kind = ECallbackStep.Kind

# RULES.md EC-01: identity by SMS code. Numbers of the code and its limits.
OTP_DIGITS = 6
OTP_TTL = timedelta(minutes=5)
OTP_RESEND_AFTER = timedelta(seconds=60)
OTP_MAX_SENDS = 5
OTP_MAX_FAILURES = 5
# The browser that entered the right code keeps working for this long without a new code.
BROWSER_TTL = timedelta(minutes=30)
BROWSER_COOKIE = "hf_h5"
# Per-IP limits (name → (hits, window seconds)); shared by every web process through the database.
IP_LIMITS = {
    "code_send": (10, 3600),
    "code_verify": (20, 600),
    "bad_token": (30, 600),
}
# EC-04: e-callback data is kept at least 10 years from the contract's termination.
RETENTION_YEARS = 10
PAGE_VERSION = "h5-1"
SIGNER_SALT = "huifang.selfservice.link"
ANSWER_VALUES = ("yes", "no", "unsure")


class ECallbackRefused(Exception):
    """A step the customer may not take now. ``code`` is stable; ``message`` is for the customer."""

    def __init__(self, code: str, message: str, *, status: int = 400):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


@dataclass(frozen=True)
class ClientMeta:
    """Where a step came from (kept in the evidence, EC-03)."""

    ip: str | None = None
    user_agent: str = ""

    @classmethod
    def from_request(cls, request) -> ClientMeta:
        return cls(
            ip=request.META.get("REMOTE_ADDR") or None,
            user_agent=(request.META.get("HTTP_USER_AGENT") or "")[:300],
        )


SYSTEM = ClientMeta()


# ---- tokens and codes -----------------------------------------------------------------------------


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=SIGNER_SALT)


def _token_max_age() -> timedelta:
    return timedelta(days=int(getattr(settings, "HUIFANG_H5_LINK_DAYS", 15)) + 1)


def token_secret(token: str) -> str | None:
    """The random part of a link token if its signature holds and it is not too old, else None.
    The token never carries a task id: the link is found by the SHA-256 of this secret."""
    if not token or len(token) > 200:
        return None
    try:
        return _signer().unsign(token, max_age=_token_max_age())
    except (signing.BadSignature, ValueError):
        return None


def link_by_token(token: str) -> ECallbackLink | None:
    """The link a token opens (any status), or None for a tampered, unknown or too old token.
    Only the link's own row is read (one indexed query); the task, policy and customer are
    loaded when a page needs them — the code and item pages do not (see ``link_items``)."""
    secret = token_secret(token)
    if secret is None:
        return None
    # Plain SQL: this runs on every page view, and compiling the ORM query cost more than running it.
    table = ECallbackLink._meta.db_table
    found = list(ECallbackLink.objects.raw(f"SELECT * FROM {table} WHERE token_hash = %s", [_sha256(secret)]))  # noqa: S611
    return found[0] if found else None


def _otp_hash(link_id: int, code: str) -> str:
    return salted_hmac("huifang.selfservice.otp", f"{link_id}:{code}", algorithm="sha256").hexdigest()


def browser_key_valid(link: ECallbackLink, key: str | None) -> bool:
    """Does the cookie ``key`` belong to the browser that entered the right code (recently)?"""
    if not key or not link.browser_key_hash or link.verified_at is None:
        return False
    if timezone.now() - link.verified_at > BROWSER_TTL and link.status == LinkStatus.ACTIVE:
        return False
    return hmac.compare_digest(_sha256(key), link.browser_key_hash)


# ---- rate limits ----------------------------------------------------------------------------------


def rate_hit(name: str, ip: str | None, *, now: datetime | None = None) -> bool:
    """Count one hit of limit ``name`` for ``ip``; False once the limit of its window is passed."""
    limit, seconds = IP_LIMITS[name]
    now = now or timezone.now()
    epoch = int(now.timestamp())
    window_start = datetime.fromtimestamp(epoch - epoch % seconds, tz=UTC)
    key = _sha256(f"{name}|{ip or '-'}")
    with transaction.atomic():
        hit, _created = RateHit.objects.select_for_update().get_or_create(
            key=key, window_start=window_start, defaults={"count": 0}
        )
        RateHit.objects.filter(pk=hit.pk).update(count=F("count") + 1)
    return hit.count + 1 <= limit


def rate_limited(name: str, ip: str | None, *, now: datetime | None = None) -> bool:
    """Has ``ip`` used up limit ``name`` in the current window (without counting a hit)?"""
    limit, seconds = IP_LIMITS[name]
    now = now or timezone.now()
    epoch = int(now.timestamp())
    window_start = datetime.fromtimestamp(epoch - epoch % seconds, tz=UTC)
    row = RateHit.objects.filter(key=_sha256(f"{name}|{ip or '-'}"), window_start=window_start).first()
    return bool(row and row.count >= limit)


def rate_hits_purge(before: datetime) -> int:
    """Drop rate counters whose window started before ``before``."""
    return RateHit.objects.filter(window_start__lt=before).delete()[0]


# ---- evidence -------------------------------------------------------------------------------------


def _step(
    link: ECallbackLink,
    kind: str,
    meta: ClientMeta,
    *,
    at: datetime | None = None,
    item_code: str = "",
    item_text: str = "",
    answer: str = "",
    data: dict | None = None,
) -> ECallbackStep:
    """Append one evidence step (the caller holds the link's row lock, so ``seq`` has no gaps)."""
    last = ECallbackStep.objects.filter(link=link).order_by("-seq").values_list("seq", flat=True).first()
    return ECallbackStep.objects.create(
        link=link,
        seq=(last or 0) + 1,
        kind=kind,
        at=at or timezone.now(),
        ip=meta.ip,
        user_agent=meta.user_agent[:300],
        item_code=item_code,
        item_text=item_text,
        text_sha256=text_sha256(item_text) if item_text else "",
        answer=answer,
        page_version=PAGE_VERSION,
        data=data or {},
    )


def _add_years(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28)


def retention_of(policy) -> tuple[date | None, str]:
    """EC-04: keep until 10 years after the contract's termination; unknown while it runs."""
    if policy is not None and policy.termination_date:
        until = _add_years(policy.termination_date, RETENTION_YEARS)
        return until, f"EC-04: {RETENTION_YEARS} years from termination {policy.termination_date.isoformat()}"
    return None, f"EC-04: {RETENTION_YEARS} years from the contract's termination (not terminated yet)"


def evidence_canonical(link: ECallbackLink) -> bytes:
    """The canonical JSON of a link's evidence (what the bundle hash covers)."""
    steps = [
        {
            "seq": s.seq,
            "kind": s.kind,
            "at": s.at.astimezone(UTC).isoformat(),
            "ip": s.ip or "",
            "user_agent": s.user_agent,
            "item_code": s.item_code,
            "item_text": s.item_text,
            "text_sha256": s.text_sha256,
            "answer": s.answer,
            "page_version": s.page_version,
            "data": s.data,
        }
        for s in ECallbackStep.objects.filter(link=link).order_by("seq")
    ]
    body = {
        "link_id": link.pk,
        "task_id": link.task_id,
        "policy_id": link.task.policy_id,
        "attempt_id": link.attempt_id,
        "outcome": link.status,
        "steps": steps,
    }
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _seal(link: ECallbackLink) -> EvidenceBundle:
    """Hash the ended link's evidence, seal the hash into the audit chain, keep it (EC-03, EC-04)."""
    canonical = evidence_canonical(link)
    digest = hashlib.sha256(canonical).hexdigest()
    retain_until, basis = retention_of(link.task.policy)
    steps = ECallbackStep.objects.filter(link=link).count()
    event = audit_record(
        events.EVIDENCE_SEALED,
        subject=link.task,
        data={
            "link_id": link.pk,
            "outcome": link.status,
            "steps": steps,
            "sha256": digest,
            "attempt_id": link.attempt_id,
            "retain_until": retain_until.isoformat() if retain_until else None,
        },
    )
    return EvidenceBundle.objects.create(
        link=link,
        task=link.task,
        outcome=link.status,
        steps=steps,
        sha256=digest,
        audit_seq=getattr(event, "seq", None),
        sealed_at=timezone.now(),
        retention_years=RETENTION_YEARS,
        retain_until=retain_until,
        retention_basis=basis,
    )


def evidence_verify(bundle: EvidenceBundle) -> bool:
    """Does the evidence still hash to what was sealed?"""
    return hashlib.sha256(evidence_canonical(bundle.link)).hexdigest() == bundle.sha256


def _end(link: ECallbackLink, status: str, reason: str, *, now: datetime) -> ECallbackLink:
    link.status = status
    link.ended_at = now
    link.end_reason = reason[:200]
    link.save()
    _seal(link)
    return link


# ---- the script as the customer sees it -----------------------------------------------------------


@dataclass(frozen=True)
class H5Item:
    code: str
    text: str
    text_sha256: str
    mandatory: bool
    expected: str
    rule_id: str
    problem_category: str
    is_identity_check: bool


ITEMS_CACHE_SECONDS = 300


def link_items(link: ECallbackLink) -> list[H5Item]:
    """The visible script items for this link's policy, in order (identity items included),
    rendered with the policy's own details. Cached per link for a few minutes: the pages are
    read far more often than they change."""
    key = f"h5:items:{link.token_hash}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    task = link.task
    script = script_for_task(task)
    rendered = script_render(script, task.policy, customer=task.customer) if script else []
    items = [
        H5Item(
            r.code,
            r.text,
            r.text_sha256,
            r.mandatory,
            r.expected,
            r.rule_id,
            r.problem_category,
            r.is_identity_check,
        )
        for r in rendered
        if r.visible
    ]
    cache.set(key, items, ITEMS_CACHE_SECONDS)
    return items


def question_items(link: ECallbackLink) -> list[H5Item]:
    """The items asked one by one after the identity confirmation."""
    return [item for item in link_items(link) if not item.is_identity_check]


def current_item(link: ECallbackLink) -> tuple[int, H5Item] | None:
    """(index, item) of the first item not answered yet, or None when all are answered."""
    for index, item in enumerate(question_items(link)):
        if item.code not in link.answers:
            return index, item
    return None


def identity_text(link: ECallbackLink) -> str:
    """What the identity page shows: the policyholder's masked name and ID (EC-01)."""
    customer = link.task.customer
    return gettext("Policyholder: %(name)s, ID number %(id)s. Are you the policyholder in person?") % {
        "name": mask_name(customer.name),
        "id": mask_id_number(customer.id_number),
    }


def _wrong(item: H5Item, answer: str) -> bool:
    return item.expected in ("yes", "no") and answer != item.expected


# ---- starting -------------------------------------------------------------------------------------


def link_url(token: str) -> str:
    from django.urls import reverse

    return settings.HUIFANG_H5_BASE_URL + reverse("h5:code", args=[token])


def _policy_tail(policy) -> str:
    return policy.policy_no[-4:] if policy is not None else ""


def _date_zh(d) -> str:
    local = timezone.localtime(d, SHANGHAI) if isinstance(d, datetime) else d
    return f"{local.year}年{local.month}月{local.day}日"


@transaction.atomic
def ecallback_start(
    task: CallbackTask, *, actor=None, now: datetime | None = None
) -> tuple[ECallbackLink, str]:
    """Start the electronic step of ``task``: a new link by SMS to the policyholder's mobile
    (EC-01). An earlier active link of the task stops working (superseded). Returns the link and
    its URL. Refused for a task that is closed, not electronic, or past its fallback point (EC-05)."""
    now = now or timezone.now()
    task = (
        CallbackTask.objects.select_for_update(of=("self",))
        .select_related("policy", "policy__product", "customer")
        .get(pk=task.pk)
    )
    if task.status not in OPEN_STATUSES or task.channel != Channel.ELECTRONIC:
        raise ECallbackRefused("not_electronic", gettext("This callback is not on the electronic channel."))
    if not e_callback_possible(task):
        raise ECallbackRefused("not_possible", gettext("No electronic callback for this customer (EC-05)."))
    fallback = channel_fallback_point(task)
    if fallback is None or fallback <= now:
        raise ECallbackRefused(
            "too_late", gettext("The fallback point has passed; the phone step is due (EC-05).")
        )
    expires_at = min(fallback, now + timedelta(days=int(getattr(settings, "HUIFANG_H5_LINK_DAYS", 15))))
    for old in ECallbackLink.objects.select_for_update().filter(task=task, status=LinkStatus.ACTIVE):
        _end(old, LinkStatus.SUPERSEDED, "a newer link was sent", now=now)
    secret = secrets.token_urlsafe(24)
    token = _signer().sign(secret)
    link = ECallbackLink.objects.create(
        task=task,
        token_hash=_sha256(secret),
        sent_to_masked=mask_phone(task.customer.mobile),
        expires_at=expires_at,
    )
    url = link_url(token)
    message = sms_queue(
        to=task.customer.mobile,
        template="ecallback_link",
        values={
            "insurer": settings.HUIFANG_INSURER_NAME,
            "product": task.policy.product.name if task.policy_id else "",
            "policy_tail": _policy_tail(task.policy),
            "deadline": _date_zh(expires_at),
            "link": url,
        },
        subject=f"selfservice.ecallbacklink:{link.pk}",
    )
    _step(
        link,
        Kind.LINK_SENT,
        SYSTEM,
        at=now,
        data={"message_id": message.pk, "expires_at": expires_at.isoformat()},
    )
    audit_record(
        events.LINK_SENT,
        actor=actor,
        subject=task,
        data={
            "link_id": link.pk,
            "message_id": message.pk,
            "to": link.sent_to_masked,
            "expires_at": expires_at.isoformat(),
        },
    )
    message_send_now_or_later(message.pk)
    return link, url


def ecallback_start_due(now: datetime | None = None, *, limit: int = 500) -> int:
    """Start the e-callback of every open electronic task that has no link yet (the engine put it
    on the electronic channel). Texts go out 09:00–21:00 Asia/Shanghai only (CL-01, CL-03)."""
    now = now or timezone.now()
    if not (9 <= timezone.localtime(now, SHANGHAI).hour < 21):
        return 0
    ids = list(
        CallbackTask.objects.filter(
            status__in=OPEN_STATUSES,
            channel=Channel.ELECTRONIC,
            channel_due_at__gt=now,
            ecallback_links__isnull=True,
        ).values_list("id", flat=True)[:limit]
    )
    started = 0
    for pk in ids:
        try:
            ecallback_start(CallbackTask(pk=pk), now=now)
            started += 1
        except ECallbackRefused:
            continue
    return started


# ---- the link's steps -------------------------------------------------------------------------------


def _lock(link: ECallbackLink) -> ECallbackLink:
    return (
        ECallbackLink.objects.select_for_update(of=("self",))
        .select_related("task", "task__policy", "task__policy__product", "task__customer")
        .get(pk=link.pk)
    )


def link_usable(link: ECallbackLink, now: datetime) -> None:
    """Raise ``ECallbackRefused`` (status 410) unless the link still works."""
    if link.status == LinkStatus.ACTIVE and now >= link.expires_at:
        raise ECallbackRefused("expired", gettext("This link has expired."), status=410)
    if link.status != LinkStatus.ACTIVE:
        raise ECallbackRefused(link.status, gettext("This link no longer works."), status=410)


def _expire_if_due(link: ECallbackLink, now: datetime) -> None:
    if link.status == LinkStatus.ACTIVE and now >= link.expires_at:
        _step(link, Kind.EXPIRED, SYSTEM, at=now)
        _end(link, LinkStatus.EXPIRED, "EC-05: link expired at the fallback point", now=now)


def _moved_on(link: ECallbackLink) -> bool:
    # EC-05: the plan only moves forward; once the task is on the phone (an agent called, the
    # fallback point passed) or closed, the e-callback link has nothing left to do.
    state = CallbackTask.objects.filter(pk=link.task_id).values_list("status", "channel").first()
    return state is None or state[0] not in OPEN_STATUSES or state[1] != Channel.ELECTRONIC


def _gate(link: ECallbackLink, now: datetime) -> None:
    """Refuse a step on a link that no longer works. A link past its end is marked expired, and
    a link whose task has moved on is ended, first (in their own transaction, so the refusal does
    not undo it)."""
    if link.status == LinkStatus.ACTIVE and (now >= link.expires_at or _moved_on(link)):
        with transaction.atomic():
            locked = _lock(link)
            _expire_if_due(locked, now)
            if locked.status == LinkStatus.ACTIVE and _moved_on(locked):
                _end(locked, LinkStatus.MOVED_ON, "EC-05: the task left the electronic channel", now=now)
        link.status = locked.status
    link_usable(link, now)


def ecallback_code_send(link: ECallbackLink, meta: ClientMeta, *, now: datetime | None = None) -> None:
    """Send a new one-time code to the policyholder's mobile (EC-01): 6 digits, valid 5 minutes,
    at most one a minute and 5 per link, and a per-IP limit."""
    now = now or timezone.now()
    if not rate_hit("code_send", meta.ip, now=now):
        raise ECallbackRefused(
            "rate_ip", gettext("Too many requests from your network; please try again later."), status=429
        )
    _gate(link, now)
    with transaction.atomic():
        link = _lock(link)
        link_usable(link, now)
        if link.otp_sends >= OTP_MAX_SENDS:
            raise ECallbackRefused(
                "sends_used",
                gettext("No more codes can be sent for this link; choose a phone callback below."),
                status=429,
            )
        if link.otp_sent_at and now - link.otp_sent_at < OTP_RESEND_AFTER:
            wait = int((OTP_RESEND_AFTER - (now - link.otp_sent_at)).total_seconds()) + 1
            raise ECallbackRefused(
                "too_soon",
                gettext("Please wait %(s)s seconds before asking for a new code.") % {"s": wait},
                status=429,
            )
        code = f"{secrets.randbelow(10**OTP_DIGITS):0{OTP_DIGITS}d}"
        link.otp_hash = _otp_hash(link.pk, code)
        link.otp_sent_at = now
        link.otp_expires_at = now + OTP_TTL
        link.otp_sends += 1
        link.save(update_fields=["otp_hash", "otp_sent_at", "otp_expires_at", "otp_sends"])
        message = sms_queue(
            to=link.task.customer.mobile,
            template="ecallback_code",
            values={
                "insurer": settings.HUIFANG_INSURER_NAME,
                "code": code,
                "minutes": int(OTP_TTL.total_seconds() // 60),
            },
            kind="ecallback_code",
            subject=f"selfservice.ecallbacklink:{link.pk}",
        )
        _step(link, Kind.CODE_SENT, meta, at=now, data={"message_id": message.pk, "send": link.otp_sends})
        message_send_now_or_later(message.pk)


def ecallback_code_verify(
    link: ECallbackLink, code: str, meta: ClientMeta, *, now: datetime | None = None
) -> str:
    """Check the one-time code. Right: returns a new browser key (for the cookie). Wrong: counted;
    the 5th wrong code locks the link and makes the phone step due at once (EC-01, EC-05)."""
    now = now or timezone.now()
    code = (code or "").strip()
    if not rate_hit("code_verify", meta.ip, now=now):
        raise ECallbackRefused(
            "rate_ip", gettext("Too many requests from your network; please try again later."), status=429
        )
    if not (len(code) == OTP_DIGITS and code.isascii() and code.isdigit()):
        raise ECallbackRefused("format", gettext("Enter the 6-digit code from the text message."))
    _gate(link, now)
    with transaction.atomic():
        link = _lock(link)
        link_usable(link, now)
        if not link.otp_hash:
            raise ECallbackRefused("no_code", gettext("Ask for a code first."))
        if link.otp_expires_at is None or now > link.otp_expires_at:
            raise ECallbackRefused("code_expired", gettext("The code has expired; ask for a new one."))
        if hmac.compare_digest(_otp_hash(link.pk, code), link.otp_hash):
            key = secrets.token_urlsafe(24)
            link.browser_key_hash = _sha256(key)
            link.verified_at = now
            link.otp_hash = ""  # a code works once
            link.save(update_fields=["browser_key_hash", "verified_at", "otp_hash"])
            _step(link, Kind.CODE_VERIFIED, meta, at=now)
            return key
        link.otp_failures += 1
        link.save(update_fields=["otp_failures"])
        _step(link, Kind.CODE_WRONG, meta, at=now, data={"failures": link.otp_failures})
        locked = link.otp_failures >= OTP_MAX_FAILURES
        if locked:
            _lock_out(link, meta, now)
    # Raised after the transaction: the wrong code stays counted (and the lock stays).
    if locked:
        raise ECallbackRefused(
            "locked",
            gettext("The code was wrong 5 times; this link is locked. We will call you instead."),
            status=410,
        )
    left = OTP_MAX_FAILURES - link.otp_failures
    raise ECallbackRefused("wrong", gettext("The code is wrong; %(n)s tries left.") % {"n": left})


def _lock_out(link: ECallbackLink, meta: ClientMeta, now: datetime) -> None:
    task = channel_to_phone(link.task, reason="EC-01: 5 wrong e-callback codes, phone due at once", now=now)
    link.phone_due_at = task.channel_due_at
    _step(link, Kind.LOCKED, meta, at=now, data={"failures": link.otp_failures})
    audit_record(
        events.LINK_LOCKED, subject=link.task, data={"link_id": link.pk, "failures": link.otp_failures}
    )
    _end(link, LinkStatus.LOCKED, "EC-01: 5 wrong codes", now=now)


def _verified(link: ECallbackLink, browser_key: str | None) -> None:
    if not browser_key_valid(link, browser_key):
        raise ECallbackRefused(
            "not_verified", gettext("Please enter the code from the text message first."), status=403
        )


def ecallback_identity(
    link: ECallbackLink,
    confirmed: bool,
    meta: ClientMeta,
    *,
    browser_key: str | None,
    now: datetime | None = None,
) -> ECallbackLink:
    """The customer confirms they are the policyholder ("本人"), or says they are not: then the
    e-callback ends and the phone step is due at once."""
    now = now or timezone.now()
    _gate(link, now)
    with transaction.atomic():
        link = _lock(link)
        link_usable(link, now)
        _verified(link, browser_key)
        if link.identity_confirmed_at is not None:
            return link
        text = identity_text(link)
        identity_codes = [item.code for item in link_items(link) if item.is_identity_check]
        _step(
            link,
            Kind.IDENTITY,
            meta,
            at=now,
            item_code=",".join(identity_codes),
            item_text=text,
            answer="yes" if confirmed else "no",
        )
        if confirmed:
            link.identity_confirmed_at = now
            link.answers = {**link.answers, **dict.fromkeys(identity_codes, "yes")}
            link.save(update_fields=["identity_confirmed_at", "answers"])
            return link
        link.answers = {**link.answers, **dict.fromkeys(identity_codes, "no")}
        task = channel_to_phone(
            link.task, reason="EC-01: not the policyholder on the e-callback page", now=now
        )
        link.phone_due_at = task.channel_due_at
        link.attempt, _outcome = attempt_submit(
            task,
            agent=None,
            channel=Channel.ELECTRONIC,
            started_at=link.verified_at or now,
            ended_at=now,
            disposition=Attempt.Disposition.NOT_POLICYHOLDER,
            answers={},
            identity_confirmed=False,
            notes="e-callback: the person with the link says they are not the policyholder",
            evidence=_attempt_evidence(link),
        )
        return _end(link, LinkStatus.NOT_HOLDER, "EC-01: not the policyholder", now=now)


def _attempt_evidence(link: ECallbackLink) -> dict:
    return {
        "ecallback_link_id": link.pk,
        "code_verified_at": link.verified_at.isoformat() if link.verified_at else None,
        "code_sends": link.otp_sends,
        "code_failures": link.otp_failures,
        "steps": ECallbackStep.objects.filter(link=link).count(),
        "page_version": PAGE_VERSION,
    }


def ecallback_answer(
    link: ECallbackLink,
    item_code: str,
    answer: str,
    meta: ClientMeta,
    *,
    browser_key: str | None,
    now: datetime | None = None,
) -> ECallbackLink:
    """Record the answer to the current item. "是" (as expected) moves on; the last item submits
    the attempt (success only when every mandatory item is confirmed, KP-06). A wrong answer
    ("否"/"有疑问") ends the e-callback: the problem case is opened (EC-06, BS-17) and the phone
    step is due at the next allowed time (EC-05)."""
    now = now or timezone.now()
    if answer not in ANSWER_VALUES:
        raise ECallbackRefused("answer", gettext("Choose one of the answers."))
    _gate(link, now)
    with transaction.atomic():
        link = _lock(link)
        link_usable(link, now)
        _verified(link, browser_key)
        if link.identity_confirmed_at is None:
            raise ECallbackRefused(
                "identity_first", gettext("Please confirm your identity first."), status=409
            )
        current = current_item(link)
        if current is None or current[1].code != item_code:
            raise ECallbackRefused(
                "not_current", gettext("This question has already been answered."), status=409
            )
        _index, item = current
        _step(
            link,
            Kind.ANSWER,
            meta,
            at=now,
            item_code=item.code,
            item_text=item.text,
            answer=answer,
            data={"rule_id": item.rule_id, "expected": item.expected},
        )
        link.answers = {**link.answers, item.code: answer}
        link.save(update_fields=["answers"])
        if _wrong(item, answer):
            return _problem(link, item, answer, meta, now)
        if current_item(link) is None:
            return _finish(link, meta, now)
        return link


def _submit(link: ECallbackLink, disposition: str, now: datetime, notes: str) -> Attempt:
    answers = dict(link.answers)
    attempt, _outcome = attempt_submit(
        link.task,
        agent=None,
        channel=Channel.ELECTRONIC,
        started_at=link.verified_at or now,
        ended_at=now,
        disposition=disposition,
        answers=answers,
        identity_confirmed=link.identity_confirmed_at is not None,
        notes=notes,
        evidence=_attempt_evidence(link),
    )
    return attempt


def _finish(link: ECallbackLink, meta: ClientMeta, now: datetime) -> ECallbackLink:
    link.attempt = _submit(link, Attempt.Disposition.REACHED, now, "e-callback completed by the customer")
    _step(link, Kind.FINISHED, meta, at=now, data={"attempt_id": link.attempt.pk})
    return _end(link, LinkStatus.FINISHED, "every item answered", now=now)


def _problem(
    link: ECallbackLink, item: H5Item, answer: str, meta: ClientMeta, now: datetime
) -> ECallbackLink:
    customer = link.task.customer
    due = contact_next_allowed(customer, now)
    task = channel_to_phone(
        link.task,
        reason=f"EC-06: answer “{answer}” to {item.rule_id or item.code} on the e-callback",
        now=due,
    )
    link.phone_due_at = task.channel_due_at
    attempt = _submit(
        link, Attempt.Disposition.STOPPED, now, f"e-callback ended: {item.code} answered {answer} (EC-06)"
    )
    link.attempt = attempt
    case = problem_case_open(
        task,
        attempt,
        item.code,
        item.problem_category or "other",
        f"{item.rule_id or item.code}: answered “{answer}” on the e-callback, expected “{item.expected}”",
        discovered_on=timezone.localdate(now, SHANGHAI),
    )
    link.problem_case_numbers = [case.number]
    task.refresh_from_db()
    if task.status == TaskStatus.PROBLEM_FOUND or TaskStatus.PROBLEM_FOUND in TRANSITIONS.get(
        task.status, set()
    ):
        callback_task_set_status(task, TaskStatus.PROBLEM_FOUND, reason=f"EC-06: {item.code}", rule="EC-06")
    _step(link, Kind.FINISHED, meta, at=now, data={"attempt_id": attempt.pk, "problem_case": case.number})
    return _end(link, LinkStatus.PROBLEM, f"EC-06: {item.code} answered {answer}", now=now)


# ---- switching to phone (EC-02) --------------------------------------------------------------------

PREFERRED_SLOTS = ("asap", *(name for name, _start, _end in SLOTS))


def preferred_due(customer, slot: str, now: datetime) -> datetime:
    """The first moment of the chosen slot ("asap", "morning", "afternoon", "evening") at or after
    ``now``, adjusted to the times the customer may be called (CL-01, CL-03)."""
    if slot == "asap":
        return contact_next_allowed(customer, now)
    start, end = next((s, e) for name, s, e in SLOTS if name == slot)
    local = timezone.localtime(now, SHANGHAI)
    if local.time() < start:
        candidate = local.replace(hour=start.hour, minute=start.minute, second=0, microsecond=0)
    elif local.time() < end:
        candidate = local
    else:
        candidate = (local + timedelta(days=1)).replace(
            hour=start.hour, minute=start.minute, second=0, microsecond=0
        )
    return contact_next_allowed(customer, candidate)


def ecallback_switch(
    link: ECallbackLink,
    slot: str,
    meta: ClientMeta,
    *,
    browser_key: str | None = None,
    now: datetime | None = None,
) -> ECallbackLink:
    """EC-02: the customer stops the e-callback and asks for a phone callback, at any point (also
    before the code: the link reached the policyholder's mobile). The phone step becomes due at the
    preferred time; the attempt records the stop with the answers given so far."""
    now = now or timezone.now()
    if slot not in PREFERRED_SLOTS:
        raise ECallbackRefused("slot", gettext("Choose when we may call you."))
    _gate(link, now)
    with transaction.atomic():
        link = _lock(link)
        link_usable(link, now)
        due = preferred_due(link.task.customer, slot, now)
        task = channel_to_phone(
            link.task, reason=f"EC-02: the customer chose a phone callback ({slot})", now=due
        )
        link.phone_due_at = task.channel_due_at
        verified = browser_key_valid(link, browser_key)
        _step(
            link,
            Kind.SWITCHED,
            meta,
            at=now,
            data={"slot": slot, "phone_due_at": due.isoformat(), "verified": verified},
        )
        link.attempt = _submit(link, Attempt.Disposition.STOPPED, now, f"EC-02: switched to phone ({slot})")
        audit_record(
            events.SWITCHED,
            subject=task,
            data={"link_id": link.pk, "slot": slot, "phone_due_at": due.isoformat(), "verified": verified},
        )
        return _end(link, LinkStatus.SWITCHED, f"EC-02: phone ({slot})", now=now)


# ---- timing (EC-05) -----------------------------------------------------------------------------------


def ecallback_expire(link: ECallbackLink, now: datetime | None = None) -> ECallbackLink:
    """End ``link`` if it is past its end (it stops working; its evidence is sealed)."""
    now = now or timezone.now()
    if link.status == LinkStatus.ACTIVE and now >= link.expires_at:
        with transaction.atomic():
            link = _lock(link)
            _expire_if_due(link, now)
    return link


def ecallback_expire_due(now: datetime | None = None) -> int:
    """End every active link past its end (the EC-05 fallback point): it stops working and its
    evidence is sealed. ``channel_fallback_sweep`` moves the task to phone."""
    now = now or timezone.now()
    ended = 0
    for pk in ECallbackLink.objects.filter(status=LinkStatus.ACTIVE, expires_at__lte=now).values_list(
        "pk", flat=True
    ):
        with transaction.atomic():
            link = _lock(ECallbackLink(pk=pk))
            if link.status == LinkStatus.ACTIVE and link.expires_at <= now:
                _expire_if_due(link, now)
                ended += 1
    return ended
