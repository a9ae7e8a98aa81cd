"""The customer's e-callback pages (/h5/e/<token>/…): phone-sized, Simplified Chinese, no staff login.

Who may do what is decided by the link, never by a staff session: a signed token in the URL
(tampered, unknown or too old → 404, counted per IP), the one-time code for everything after
the code page (a browser key in an HttpOnly cookie), and the link's status (an ended link
answers 410). No Django session is used, so the pages stay cheap; POSTs carry CSRF tokens.
"""

from __future__ import annotations

import functools

from django.conf import settings
from django.core.cache import cache
from django.http import HttpResponse, HttpResponseRedirect
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from huifang.core.crypto.masking import mask_name
from huifang.selfservice.models import ECallbackLink, LinkStatus
from huifang.selfservice.services import (
    BROWSER_COOKIE,
    PREFERRED_SLOTS,
    ClientMeta,
    ECallbackRefused,
    browser_key_valid,
    current_item,
    ecallback_answer,
    ecallback_code_send,
    ecallback_code_verify,
    ecallback_expire,
    ecallback_identity,
    ecallback_switch,
    identity_text,
    link_by_token,
    question_items,
    rate_hit,
)

COOKIE_MAX_AGE = 2 * 3600


def _h5(view):
    """Chinese pages that are never cached, nor referred to another site (the URL carries the token)."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        with translation.override("zh-hans"):
            response = view(request, *args, **kwargs)
        response["Cache-Control"] = "no-store"
        # Never to another site; "no-referrer" would make browsers send "Origin: null" (CSRF fails).
        response["Referrer-Policy"] = "same-origin"
        return response

    return wrapper


def _page(request, template: str, context: dict, status: int = 200) -> HttpResponse:
    context.setdefault("insurer", settings.HUIFANG_INSURER_NAME)
    return render(request, f"selfservice/{template}", context, status=status)


# The GET pages most often asked for (the code page, an item page) depend only on the link and
# where it stands; they are rendered once per state and cached, and each response gets its own
# CSRF token in place of the placeholder. No context processor runs for them (none is needed).
PAGE_CACHE_SECONDS = 300
_CSRF_PLACEHOLDER = "@@h5-csrf-token@@"


def _cached_page(request, template: str, context: dict, key: str) -> HttpResponse:
    html = cache.get(key)
    if html is None:
        context = {**context, "insurer": settings.HUIFANG_INSURER_NAME, "csrf_token": _CSRF_PLACEHOLDER}
        html = render_to_string(f"selfservice/{template}", context)
        cache.set(key, html, PAGE_CACHE_SECONDS)
    return HttpResponse(html.replace(_CSRF_PLACEHOLDER, get_token(request)))


def _invalid(request) -> HttpResponse:
    # A tampered, unknown or too old token: the same answer for each, counted per IP.
    if not rate_hit("bad_token", ClientMeta.from_request(request).ip):
        return _page(request, "message.html", {"title_key": "rate"}, status=429)
    return _page(request, "message.html", {"title_key": "invalid"}, status=404)


def _resolve(request, token: str):
    """(link, verified) or an HttpResponse to return."""
    link = link_by_token(token)
    if link is None:
        return _invalid(request)
    return link, browser_key_valid(link, request.COOKIES.get(BROWSER_COOKIE))


def _ended(link: ECallbackLink) -> bool:
    return link.status != LinkStatus.ACTIVE or timezone.now() >= link.expires_at


def _verified_link(request, token: str):
    """The link of a page past the code (identity, items), or the response that sends the visitor
    where they belong: the end page once the link has ended, the code page until this browser
    entered the right code."""
    resolved = _resolve(request, token)
    if isinstance(resolved, HttpResponse):
        return resolved
    link, verified = resolved
    if _ended(link):
        return _to("end", token)
    if not verified:
        return _to("code", token)
    return link


def _to(name: str, token: str) -> HttpResponseRedirect:
    return HttpResponseRedirect(reverse(f"h5:{name}", args=[token]))


def _refused(request, link, token, exc: ECallbackRefused, template="code.html", extra=None) -> HttpResponse:
    if exc.status == 410:
        return _to("end", token)
    context = {"link": link, "token": token, "error": exc.message, **(extra or {})}
    return _page(request, template, context, status=exc.status)


def _next_page(link: ECallbackLink, token: str, verified: bool) -> HttpResponseRedirect | None:
    """Where a verified customer belongs now."""
    if _ended(link):
        return _to("end", token)
    if not verified:
        return None
    if link.identity_confirmed_at is None:
        return _to("identity", token)
    return _to("item", token)


# ---- the code page ---------------------------------------------------------------------------------


@_h5
@require_GET
def code(request, token: str):
    """Landing page of the SMS link: the insurer's name and the one-time code (EC-01)."""
    resolved = _resolve(request, token)
    if isinstance(resolved, HttpResponse):
        return resolved
    link, verified = resolved
    if _ended(link) or verified:
        return _next_page(link, token, verified)
    key = f"h5:page:code:{link.token_hash}:{int(bool(link.otp_sends))}"
    return _cached_page(request, "code.html", {"link": link, "token": token}, key)


@_h5
@require_POST
def code_send(request, token: str):
    resolved = _resolve(request, token)
    if isinstance(resolved, HttpResponse):
        return resolved
    link, _verified = resolved
    try:
        ecallback_code_send(link, ClientMeta.from_request(request))
    except ECallbackRefused as exc:
        return _refused(request, link, token, exc)
    link.refresh_from_db()
    return _page(request, "code.html", {"link": link, "token": token, "sent": True})


@_h5
@require_POST
def code_verify(request, token: str):
    resolved = _resolve(request, token)
    if isinstance(resolved, HttpResponse):
        return resolved
    link, _verified = resolved
    try:
        key = ecallback_code_verify(link, request.POST.get("code", ""), ClientMeta.from_request(request))
    except ECallbackRefused as exc:
        link.refresh_from_db()
        return _refused(request, link, token, exc)
    response = _to("identity", token)
    response.set_cookie(
        BROWSER_COOKIE,
        key,
        max_age=COOKIE_MAX_AGE,
        path="/h5/",
        httponly=True,
        samesite="Strict",
        secure=settings.SESSION_COOKIE_SECURE,
    )
    return response


# ---- identity and items ---------------------------------------------------------------------------


@_h5
@require_http_methods(["GET", "POST"])
def identity(request, token: str):
    """ "本人": the policyholder's masked name and ID, confirmed or not."""
    link = _verified_link(request, token)
    if isinstance(link, HttpResponse):
        return link
    if request.method == "POST":
        choice = request.POST.get("answer")
        if choice not in ("yes", "no"):
            context = {"link": link, "token": token, "text": identity_text(link)}
            context["error"] = translation.gettext("Choose one of the answers.")
            return _page(request, "identity.html", context, status=400)
        try:
            link = ecallback_identity(
                link,
                choice == "yes",
                ClientMeta.from_request(request),
                browser_key=request.COOKIES.get(BROWSER_COOKIE),
            )
        except ECallbackRefused as exc:
            return _refused(request, link, token, exc, "identity.html", {"text": identity_text(link)})
        return _to("item" if link.status == LinkStatus.ACTIVE else "end", token)
    if link.identity_confirmed_at is not None:
        return _to("item", token)
    return _page(request, "identity.html", {"link": link, "token": token, "text": identity_text(link)})


@_h5
@require_http_methods(["GET", "POST"])
def item(request, token: str):
    """The current script item, with the policy's own details: 是 / 否 / 有疑问."""
    link = _verified_link(request, token)
    if isinstance(link, HttpResponse):
        return link
    if link.identity_confirmed_at is None:
        return _to("identity", token)
    if request.method == "POST":
        try:
            link = ecallback_answer(
                link,
                request.POST.get("item", ""),
                request.POST.get("answer", ""),
                ClientMeta.from_request(request),
                browser_key=request.COOKIES.get(BROWSER_COOKIE),
            )
        except ECallbackRefused as exc:
            if exc.code == "not_current":
                return _to("item", token)  # a second tap or the back button: show the current one
            return _item_page(request, link, token, error=exc.message, status=exc.status)
        return _to("item" if link.status == LinkStatus.ACTIVE else "end", token)
    return _item_page(request, link, token, cached=True)


def _item_page(request, link, token, *, error: str = "", status: int = 200, cached=False) -> HttpResponse:
    # Answers are given in order and never taken back, so their number names the current item.
    key = f"h5:page:item:{link.token_hash}:{len(link.answers)}"
    if cached:
        html = cache.get(key)
        if html is not None:
            return HttpResponse(html.replace(_CSRF_PLACEHOLDER, get_token(request)))
    current = current_item(link)
    if current is None:
        return _to("end", token)
    index, it = current
    total = len(question_items(link))
    context = {
        "link": link,
        "token": token,
        "item": it,
        "number": index + 1,
        "total": total,
        "percent": int(100 * index / total) if total else 0,
        "error": error,
    }
    if cached:
        return _cached_page(request, "item.html", context, key)
    return _page(request, "item.html", context, status=status)


# ---- switching to phone and the end ----------------------------------------------------------------


@_h5
@require_http_methods(["GET", "POST"])
def phone(request, token: str):
    """ "改为电话回访" (EC-02): stop here and choose when we may call."""
    resolved = _resolve(request, token)
    if isinstance(resolved, HttpResponse):
        return resolved
    link, _verified = resolved
    if _ended(link):
        return _to("end", token)
    context = {"link": link, "token": token, "slots": PREFERRED_SLOTS}
    if request.method == "POST":
        try:
            ecallback_switch(
                link,
                request.POST.get("slot", ""),
                ClientMeta.from_request(request),
                browser_key=request.COOKIES.get(BROWSER_COOKIE),
            )
        except ECallbackRefused as exc:
            return _refused(request, link, token, exc, "phone.html", {"slots": PREFERRED_SLOTS})
        return _to("end", token)
    return _page(request, "phone.html", context)


@_h5
@require_GET
def end(request, token: str):
    """Where an e-callback ends: the summary with the cooling-off right (CO-01, CO-03) for the
    customer who finished; for anyone else only that the link no longer works (410)."""
    resolved = _resolve(request, token)
    if isinstance(resolved, HttpResponse):
        return resolved
    link, verified = resolved
    if not _ended(link):
        return _next_page(link, token, verified) or _to("code", token)
    if link.status == LinkStatus.ACTIVE:  # past its end but not yet marked: mark it now
        link = ecallback_expire(link)
    policy = link.task.policy
    context = {"link": link, "token": token, "verified": verified, "status": link.status}
    if link.status == LinkStatus.SWITCHED:
        context["phone_due_at"] = link.phone_due_at
    # What was confirmed, and the right to cancel, only for the browser that did the e-callback.
    if verified:
        context.update(
            {
                "confirmed": [
                    it
                    for it in question_items(link)
                    if it.expected == "yes" and link.answers.get(it.code) == "yes"
                ],
                "policy": policy,
                "holder": mask_name(link.task.customer.name),
                "cooling_off_end": policy.cooling_off_end if policy else None,
                "phone_due_at": link.phone_due_at,
                "problem_numbers": link.problem_case_numbers,
            }
        )
    ok = verified or link.status == LinkStatus.SWITCHED
    return _page(request, "end.html", context, status=200 if ok else 410)
