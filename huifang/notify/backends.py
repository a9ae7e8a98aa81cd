"""SMS backends: how a rendered message leaves Huifang.

Every backend implements ``send(to, text, *, ref="", kind="") -> str`` and returns the provider's
reference for the message (or ``""``). ``to`` is the full number (the provider needs it); the
backends never log it unmasked.

Choose one with ``HUIFANG_SMS_BACKEND`` (dotted path):

``huifang.notify.backends.FileBackend`` (default)
    Appends one JSON line per message to ``HUIFANG_SMS_OUTBOX`` (default ``var/outbox/sms.jsonl``):
    ``{"ref", "at", "kind", "to", "text"}`` with ``to`` masked. For development and demos: the
    link and the code can be copied from there. ``outbox_read()`` parses the file.
``huifang.notify.backends.ConsoleBackend``
    Writes the same line to standard output.
``huifang.notify.backends.HttpBackend``
    A real SMS gateway behind an HTTP endpoint. ``POST HUIFANG_SMS_HTTP_URL`` with the JSON body
    ``{"to": "13812341234", "text": "…", "ref": "hf-msg-12", "kind": "ecallback_code"}`` and the
    header ``Authorization: Bearer HUIFANG_SMS_HTTP_TOKEN``; timeout ``HUIFANG_SMS_HTTP_TIMEOUT``
    seconds (default 5). A 2xx answer is success; its JSON ``{"id": "…"}`` (if any) is kept as the
    provider reference. 429 and 5xx are temporary (``NotifyTemporaryError``, retried with backoff),
    any other answer is permanent (``NotifyError``). The gateway must run inside the insurer's own
    network (EC-03: no third-party platform holds the e-callback).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import urllib.error
import urllib.request
from abc import ABC, abstractmethod
from pathlib import Path

from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string

from huifang.core.crypto.masking import mask_phone

logger = logging.getLogger(__name__)


class NotifyError(Exception):
    """The message could not be sent and trying again will not help."""


class NotifyTemporaryError(NotifyError):
    """The gateway is busy or down; try again later."""


class BaseBackend(ABC):
    name = "base"

    @abstractmethod
    def send(self, to: str, text: str, *, ref: str = "", kind: str = "") -> str:
        """Hand one message to the gateway; return the gateway's message id."""


def _line(to: str, text: str, ref: str, kind: str) -> str:
    record = {
        "ref": ref,
        "at": timezone.now().isoformat(),
        "kind": kind,
        "to": mask_phone(to),
        "text": text,
    }
    return json.dumps(record, ensure_ascii=False)


class ConsoleBackend(BaseBackend):
    """One JSON line per message on standard output (the number masked)."""

    name = "console"

    def __init__(self, stream=None):
        self.stream = stream

    def send(self, to: str, text: str, *, ref: str = "", kind: str = "") -> str:
        stream = self.stream or sys.stdout
        stream.write("SMS " + _line(to, text, ref, kind) + "\n")
        stream.flush()
        return ref


_file_lock = threading.Lock()


def outbox_path() -> Path:
    return Path(getattr(settings, "HUIFANG_SMS_OUTBOX", Path(settings.VAR_DIR) / "outbox" / "sms.jsonl"))


class FileBackend(BaseBackend):
    """Appends one JSON line per message to the outbox file (the number masked)."""

    name = "file"

    def __init__(self, path: Path | str | None = None):
        self.path = Path(path) if path else outbox_path()

    def send(self, to: str, text: str, *, ref: str = "", kind: str = "") -> str:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = _line(to, text, ref, kind) + "\n"
        with _file_lock, self.path.open("a", encoding="utf-8") as fh:
            fh.write(line)
        return ref


def outbox_read(path: Path | str | None = None) -> list[dict]:
    """The messages in the file outbox, oldest first (an absent outbox is empty)."""
    path = Path(path) if path else outbox_path()
    if not path.exists():
        return []
    messages = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        if raw.strip():
            try:
                messages.append(json.loads(raw))
            except ValueError:
                continue
    return messages


class HttpBackend(BaseBackend):
    """POST the message as JSON to the insurer's SMS gateway (see the module docstring)."""

    name = "http"

    def __init__(self, url: str | None = None, token: str | None = None, timeout: float | None = None):
        self.url = url if url is not None else getattr(settings, "HUIFANG_SMS_HTTP_URL", "")
        self.token = token if token is not None else getattr(settings, "HUIFANG_SMS_HTTP_TOKEN", "")
        self.timeout = timeout if timeout is not None else getattr(settings, "HUIFANG_SMS_HTTP_TIMEOUT", 5.0)
        if not self.url.startswith(("http://", "https://")):
            raise NotifyError("HUIFANG_SMS_HTTP_URL must be an http(s) URL")

    def send(self, to: str, text: str, *, ref: str = "", kind: str = "") -> str:
        body = json.dumps({"to": to, "text": text, "ref": ref, "kind": kind}, ensure_ascii=False).encode()
        request = urllib.request.Request(  # noqa: S310 - the URL scheme is checked in __init__
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "Authorization": f"Bearer {self.token}",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                raw = response.read(65536)
        except urllib.error.HTTPError as exc:
            status = exc.code
            logger.warning("SMS gateway answered %s for %s (to %s)", status, ref, mask_phone(to))
            if status == 429 or status >= 500:
                raise NotifyTemporaryError(f"SMS gateway answered {status}") from exc
            raise NotifyError(f"SMS gateway refused the message ({status})") from exc
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            logger.warning("SMS gateway unreachable for %s (to %s): %s", ref, mask_phone(to), exc)
            raise NotifyTemporaryError("SMS gateway unreachable") from exc
        try:
            answer = json.loads(raw or b"{}")
        except ValueError:
            answer = {}
        return str(answer.get("id", "") if isinstance(answer, dict) else "")[:120]


def sms_backend() -> BaseBackend:
    """The configured backend (``HUIFANG_SMS_BACKEND``)."""
    dotted = getattr(settings, "HUIFANG_SMS_BACKEND", "huifang.notify.backends.FileBackend")
    return import_string(dotted)()
