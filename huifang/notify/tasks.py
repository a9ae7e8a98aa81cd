"""Background jobs of huifang.notify: retrying an SMS the gateway could not take at once."""

from huifang.core.jobs import RetryableError, huifang_task
from huifang.notify.backends import NotifyTemporaryError


@huifang_task(queue_name="default", max_attempts=5, backoff_seconds=30)
def message_send(message_id: int) -> None:
    """Send message ``message_id`` if it is still pending (safe to run twice)."""
    from huifang.notify.services import message_deliver

    try:
        message_deliver(message_id)
    except NotifyTemporaryError as exc:
        raise RetryableError(str(exc)) from exc
