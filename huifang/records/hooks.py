"""What other apps do when the core-system feed changes records.

``records_changed`` is called after the transaction that wrote a batch commits, with the kind
("policies", "claims", "events", …) and the business keys created or updated. Apps register
handlers in their ``AppConfig.ready``::

    from huifang.records.hooks import register_records_hook
    register_records_hook(my_handler)  # my_handler(kind: str, keys: list[str]) -> None

Handlers must be quick (enqueue a job that takes the keys) and must not raise: the records are
already committed; a daily sweep catches anything a handler missed.
"""

import logging
from collections.abc import Callable

logger = logging.getLogger(__name__)

_HOOKS: list[Callable[[str, list[str]], None]] = []


def register_records_hook(handler: Callable[[str, list[str]], None]) -> None:
    if handler not in _HOOKS:
        _HOOKS.append(handler)


def records_changed(kind: str, keys: list[str]) -> None:
    for handler in list(_HOOKS):
        try:
            handler(kind, keys)
        except Exception:  # the feed is committed; the daily sweep will catch up
            logger.exception("records hook %r failed for %s (%d keys)", handler, kind, len(keys))
