"""The audit trail: security-relevant events to a Redis Stream, a logger and a hook."""

from oauth_middleware.audit.events import EVENT_TYPES, Event, EventType
from oauth_middleware.audit.trail import (
    RETENTION,
    AuditTrail,
    OnEvent,
    cascading,
    note,
    removed,
)

__all__ = [
    "EVENT_TYPES",
    "RETENTION",
    "AuditTrail",
    "Event",
    "EventType",
    "OnEvent",
    "cascading",
    "note",
    "removed",
]
