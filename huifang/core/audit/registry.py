"""Typed registry of audit event types with stable ids ("policy.status_changed").

Each app declares its events in ``events.py``::

    POLICY_STATUS_CHANGED = register("policy.status_changed", _("Policy status changed"), rule="CO-03")

An id, once released, never changes meaning: old rows in the chain refer to it forever.
"""

from dataclasses import dataclass

from django.utils.functional import Promise


@dataclass(frozen=True)
class EventType:
    id: str
    label: str | Promise
    rule: str = ""  # RULES.md id that requires the event, when one does

    def __str__(self):
        return self.id


_REGISTRY: dict[str, EventType] = {}


def register(event_id: str, label, rule: str = "") -> EventType:
    if event_id in _REGISTRY and _REGISTRY[event_id].label != label:
        raise ValueError(f"audit event id {event_id!r} registered twice with different meanings")
    event = EventType(event_id, label, rule)
    _REGISTRY[event_id] = event
    return event


def get(event_id: str) -> EventType:
    try:
        return _REGISTRY[event_id]
    except KeyError:
        raise KeyError(f"unknown audit event type {event_id!r}; declare it in an events.py") from None


def all_event_types() -> list[EventType]:
    return sorted(_REGISTRY.values(), key=lambda e: e.id)
