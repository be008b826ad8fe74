"""The audit trail: security-relevant events to a Redis Stream, a logger and a hook."""

from oauth_middleware.audit.events import EVENT_TYPES, Event, EventType
from oauth_middleware.audit.trail import (
    REQUEST_ID,
    RETENTION,
    AuditTrail,
    OnEvent,
    note,
    request_id_from,
)

__all__ = [
    "EVENT_TYPES",
    "REQUEST_ID",
    "RETENTION",
    "AuditTrail",
    "Event",
    "EventType",
    "OnEvent",
    "note",
    "request_id_from",
]
