"""Shared pieces of the REST API (``/api/v1/``, django-ninja) and the core endpoints.

How an app adds endpoints
-------------------------
1. Write ``huifang/<app>/api.py`` with a router; endpoints parse input, call one service or
   selector, and return schemas::

       from huifang.core.api import ErrorOut, Router, require_cap
       from huifang.core.permissions import Cap

       router = Router(tags=["policies"])

       @router.get("/policies/{policy_no}", response={200: PolicyOut, 404: ErrorOut})
       def policy_detail(request, policy_no: str):
           require_cap(request, Cap.VIEW_RECORDS)  # 403 {"code": "forbidden"} otherwise
           return access_policy(request.user, policy_no=policy_no)  # 404 for missing *and* not yours

2. Mount it by appending ``("", "huifang.<app>.api.router")`` to ``ROUTERS`` in ``config/api.py``.
   Paths start with the resource (``/policies``, ``/callback-tasks``), so URLs read
   ``/api/v1/policies/…``; one path belongs to one router.

Every endpoint needs a bearer token (``Authorization: Bearer hf_…``, see huifang.org.api_auth) unless
it says ``auth=None``; ``request.user`` is the token's user and ``request.auth`` the ``ApiToken``.

Errors are always JSON, ``ErrorOut``: ``{"code", "message", "errors": [{"field", "message"}]}``:

* ``validation_error`` (422): ``field`` is a dotted path such as ``body.items.0.policy_no``; Django's
  ``ValidationError`` raised by a service gives its field names (``""`` for the whole request);
* ``bad_request`` (400, e.g. malformed JSON), ``unauthorized`` (401), ``forbidden`` (403,
  ``PermissionDenied``), ``not_found`` (404: ``Http404``, ``DoesNotExist``, unknown paths),
  ``method_not_allowed`` (405), ``server_error`` (500; details only in the log);
* other statuses: raise ``ninja.errors.HttpError(409, "…")`` (code ``conflict``).

Declare the error statuses an endpoint can answer in ``response=`` so that the OpenAPI document
shows them.
"""

import functools
import inspect
import logging
from importlib import metadata

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ObjectDoesNotExist, PermissionDenied, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connection
from django.http import Http404, HttpResponseNotAllowed
from django.urls import URLPattern, re_path
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from ninja import NinjaAPI, Schema, Status
from ninja import Router as NinjaRouter
from ninja.errors import AuthenticationError, HttpError, Throttled, ValidationError

from huifang.core.jobs import heartbeat_status
from huifang.core.permissions import Cap, has_cap, user_roles

logger = logging.getLogger(__name__)


class FieldError(Schema):
    field: str
    message: str


class ErrorOut(Schema):
    code: str
    message: str
    errors: list[FieldError] = []


class Router(NinjaRouter):
    """A ninja router for one app's endpoints; give it ``tags`` for the OpenAPI document."""

    def __init__(self, *, tags: list[str], **kwargs):
        super().__init__(tags=tags, **kwargs)


def require_cap(request, cap: Cap | str) -> None:
    """Raise ``PermissionDenied`` (answered as 403 ``forbidden``) unless the caller holds ``cap``."""
    if not has_cap(getattr(request, "user", None), cap):
        raise PermissionDenied


# ---- error shapes -------------------------------------------------------------------------------

STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    422: "validation_error",
    429: "throttled",
}


def error_body(code: str, message: str, errors: list[dict] | None = None) -> dict:
    return {"code": code, "message": str(message), "errors": errors or []}


def _field_path(loc) -> str:
    return ".".join(str(part) for part in loc)


def install_error_handlers(api: NinjaAPI) -> None:
    """Answer every error raised in an endpoint as ``ErrorOut`` JSON."""

    def respond(request, status: int, body: dict, headers: dict | None = None):
        response = api.create_response(request, body, status=status)
        for key, value in (headers or {}).items():
            response[key] = value
        return response

    @api.exception_handler(ValidationError)
    def ninja_validation(request, exc: ValidationError):
        errors = [
            {"field": _field_path(e.get("loc", ())), "message": str(e.get("msg", ""))} for e in exc.errors
        ]
        return respond(request, 422, error_body("validation_error", _("The request is not valid."), errors))

    @api.exception_handler(DjangoValidationError)
    def django_validation(request, exc: DjangoValidationError):
        if hasattr(exc, "error_dict"):
            errors = [
                {"field": "" if name == NON_FIELD_ERRORS else name, "message": message}
                for name, messages in exc.message_dict.items()
                for message in messages
            ]
        else:
            errors = [{"field": "", "message": message} for message in exc.messages]
        return respond(request, 422, error_body("validation_error", _("The request is not valid."), errors))

    @api.exception_handler(AuthenticationError)
    def unauthorized(request, exc):
        body = error_body("unauthorized", _("A valid API token is required (Authorization: Bearer …)."))
        return respond(request, 401, body, {"WWW-Authenticate": "Bearer"})

    @api.exception_handler(PermissionDenied)
    def forbidden(request, exc):
        return respond(request, 403, error_body("forbidden", _("You are not allowed to do this.")))

    @api.exception_handler(Http404)
    @api.exception_handler(ObjectDoesNotExist)
    def not_found(request, exc):
        return respond(request, 404, error_body("not_found", _("Not found.")))

    @api.exception_handler(HttpError)
    def http_error(request, exc: HttpError):
        code = STATUS_CODES.get(exc.status_code, "error")
        if isinstance(exc, Throttled):
            return respond(request, 429, error_body(code, _("Too many requests.")))
        if exc.status_code == 403:
            return forbidden(request, exc)
        if exc.status_code == 401:
            return unauthorized(request, exc)
        message = str(exc)
        if exc.status_code == 400 and message.startswith("Cannot parse request body"):  # ninja's parser
            message = _("The request body could not be parsed.")
        return respond(request, exc.status_code, error_body(code, message))

    @api.exception_handler(RequestDataTooBig)
    def too_large(request, exc):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        message = _("The request body is larger than %(limit)d bytes.") % {"limit": limit}
        return respond(request, 413, error_body("too_large", message))

    @api.exception_handler(Exception)
    def server_error(request, exc):
        logger.exception("API error on %s %s", request.method, request.path)
        return respond(request, 500, error_body("server_error", _("Internal error; it has been logged.")))


class HuifangAPI(NinjaAPI):
    """NinjaAPI with Huifang's JSON errors everywhere, including unknown paths under the API."""

    def set_default_exception_handlers(self) -> None:
        install_error_handlers(self)

    def validation_error_from_error_contexts(self, error_contexts) -> ValidationError:
        # A single body schema arrives under its parameter name ("body.payload.items.0.x"); the
        # client never sees that name, so drop it: "body.items.0.x".
        error = super().validation_error_from_error_contexts(error_contexts)
        single = {
            getattr(context.model, "__read_from_single_attr__", None)
            for context in error_contexts
            if context.model.__ninja_param_source__ == "body"
        } - {None}
        for item in error.errors:
            loc = tuple(item.get("loc", ()))
            if len(loc) >= 2 and loc[0] == "body" and loc[1] in single:
                item["loc"] = ("body", *loc[2:])
        return error

    def _get_urls(self):
        urls = super()._get_urls()
        for pattern in urls:
            if isinstance(pattern, URLPattern):
                pattern.callback = self._json_method_not_allowed(pattern.callback)

        @csrf_exempt
        def unknown_path(request, *args, **kwargs):
            return self.create_response(request, error_body("not_found", _("Not found.")), status=404)

        urls.append(re_path(r"^.*$", unknown_path, name="unknown-path"))
        return urls

    def _json_method_not_allowed(self, view):
        """ninja answers a wrong method with a plain-text 405; answer it as ErrorOut JSON."""

        def convert(request, response):
            if not isinstance(response, HttpResponseNotAllowed):
                return response
            allowed = response["Allow"]
            message = _("Method not allowed; use %(allowed)s.") % {"allowed": allowed}
            converted = self.create_response(request, error_body("method_not_allowed", message), status=405)
            converted["Allow"] = allowed
            return converted

        if inspect.iscoroutinefunction(view):

            @functools.wraps(view)  # keeps csrf_exempt
            async def async_wrapped(request, *args, **kwargs):
                return convert(request, await view(request, *args, **kwargs))

            return async_wrapped

        @functools.wraps(view)  # keeps csrf_exempt
        def wrapped(request, *args, **kwargs):
            return convert(request, view(request, *args, **kwargs))

        return wrapped


# ---- core endpoints -----------------------------------------------------------------------------

router = Router(tags=["system"])


class ProcessHealth(Schema):
    ok: bool
    last_beat: str | None
    age_seconds: float | None


class DatabaseHealth(Schema):
    ok: bool
    vendor: str


class HealthOut(Schema):
    status: str
    database: DatabaseHealth
    worker: ProcessHealth
    scheduler: ProcessHealth
    version: str


class MeOut(Schema):
    username: str
    org_unit: str | None
    roles: list[str]
    capabilities: list[str]


def huifang_version() -> str:
    try:
        return metadata.version("huifang")
    except metadata.PackageNotFoundError:
        from huifang import __version__

        return __version__


def database_answers() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        logger.exception("health check: the database does not answer")
        return False
    return True


@router.get("/health", auth=None, response={200: HealthOut, 503: HealthOut}, summary="Health")
def health(request):
    """Is the service usable? 200 when the database answers (``status`` is ``degraded`` if no
    worker has run a task, or no scheduler ticked, in the last 3 minutes), 503 when it does not."""
    database_ok = database_answers()
    down = {"ok": False, "last_beat": None, "age_seconds": None}
    worker = heartbeat_status("worker") if database_ok else down
    scheduler = heartbeat_status("scheduler") if database_ok else down
    ok = database_ok and worker["ok"] and scheduler["ok"]
    body = {
        "status": "ok" if ok else "degraded",
        "database": {"ok": database_ok, "vendor": connection.vendor},
        "worker": worker,
        "scheduler": scheduler,
        "version": huifang_version(),
    }
    return Status(200 if database_ok else 503, body)


@router.get("/me", response={200: MeOut, 401: ErrorOut}, summary="The token's user")
def me(request):
    """Who the presented token acts as: username, org unit code, roles and capabilities."""
    user = request.user
    return {
        "username": user.username,
        "org_unit": user.org_unit.code if user.org_unit_id else None,
        "roles": [role.value for role in user_roles(user)],
        "capabilities": sorted(cap.value for cap in Cap if has_cap(user, cap)),
    }
