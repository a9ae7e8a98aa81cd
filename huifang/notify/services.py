"""Sending SMS: record the message, hand it to the backend, retry temporary failures.

``sms_queue`` writes the message row (inside the caller's transaction); ``message_deliver``
hands it to the backend and records the result — call it after the transaction committed (the
``notify.message_send`` job retries temporary failures with backoff).
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from huifang.core.crypto.masking import mask_phone
from huifang.notify.backends import NotifyError, NotifyTemporaryError, sms_backend
from huifang.notify.models import Message
from huifang.notify.templates import sms_template

logger = logging.getLogger(__name__)

MAX_TRIES = 5


def sms_queue(*, to: str, template: str, values: dict, kind: str = "", subject: str = "") -> Message:
    """Render the versioned ``template`` with ``values`` and record the message to ``to``."""
    tpl = sms_template(template)
    return Message.objects.create(
        kind=kind or template,
        template=tpl.code,
        template_version=tpl.version,
        to=to,
        to_masked=mask_phone(to),
        text=tpl.render(**values),
        subject=subject[:80],
    )


def message_deliver(message_id: int, *, backend=None) -> Message:
    """Send a pending message once; safe to run twice (a sent message is not sent again).
    A temporary gateway failure is re-raised as ``NotifyTemporaryError`` after it is recorded;
    a permanent one marks the message failed."""
    message = Message.objects.get(pk=message_id)
    if message.status != Message.Status.PENDING:
        return message
    backend = backend or sms_backend()
    ref = f"hf-msg-{message.pk}"
    try:
        provider_ref = backend.send(message.to, message.text, ref=ref, kind=message.kind)
    except NotifyTemporaryError as exc:
        tries = message.tries + 1
        status = Message.Status.FAILED if tries >= MAX_TRIES else Message.Status.PENDING
        Message.objects.filter(pk=message.pk).update(tries=tries, last_error=str(exc)[:300], status=status)
        logger.warning("SMS %s to %s: temporary failure (%s)", ref, message.to_masked, exc)
        raise
    except NotifyError as exc:
        Message.objects.filter(pk=message.pk).update(
            tries=message.tries + 1, last_error=str(exc)[:300], status=Message.Status.FAILED
        )
        logger.error("SMS %s to %s failed: %s", ref, message.to_masked, exc)
        message.refresh_from_db()
        return message
    Message.objects.filter(pk=message.pk).update(
        tries=message.tries + 1,
        status=Message.Status.SENT,
        sent_at=timezone.now(),
        backend=getattr(backend, "name", type(backend).__name__)[:120],
        provider_ref=(provider_ref or ref)[:120],
        last_error="",
    )
    logger.info("SMS %s (%s) sent to %s", ref, message.kind, mask_phone(message.to))
    message.refresh_from_db()
    return message


def message_send_now_or_later(message_id: int) -> None:
    """Deliver once the current transaction commits; a temporary failure goes to the retry job."""

    def deliver():
        try:
            message_deliver(message_id)
        except NotifyTemporaryError:
            from huifang.notify.tasks import message_send

            message_send.enqueue(message_id)

    transaction.on_commit(deliver, robust=True)
