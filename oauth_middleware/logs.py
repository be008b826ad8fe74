"""The one place the library's loggers are set up: a handler, text or JSON lines, request ids.

Every logger of the library is a child of ``oauth_middleware``
(``oauth_middleware.middleware``, ``.server``, ``.store``, ``.audit``...), so one
handler there sees them all. :func:`configure_logging` installs it (again and again
if called again: it replaces its own handler, never the host's) with
:class:`~oauth_middleware.request_id.RequestIdFilter`, so each line names its request.

The library never logs a token, code or secret (SECURITY.md); the formatters add only
the record's own fields, and the JSON one escapes every value, so a path with a CR LF in
it stays inside one line.
"""

from __future__ import annotations

import json as _json
import logging
import sys
from datetime import UTC, datetime
from typing import IO

from oauth_middleware.request_id import RequestIdFilter

#: The library's root logger.
ROOT = "oauth_middleware"
#: The text format: time, level, logger, request id, message.
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time`` (UTC, ISO 8601), ``level``, ``logger``,
    ``request_id``, ``message``, and ``exception`` (the formatted traceback) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return _json.dumps(entry, ensure_ascii=False)


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler :func:`configure_logging` owns (found again by its type)."""


def configure_logging(*, json: bool = False, level: int | str = logging.INFO,
                      stream: IO[str] | None = None) -> logging.Handler:
    """Send the library's log records at ``level`` and above to ``stream`` (stderr), as JSON
    lines when ``json``, each with its request id; returns the handler installed.

    The records still propagate to the host's root logger too, unless the host sets
    ``logging.getLogger("oauth_middleware").propagate = False``. To stamp the host's own
    records (uvicorn's access log...) add :class:`RequestIdFilter` to its handlers.
    """
    logger = logging.getLogger(ROOT)
    for old in [h for h in logger.handlers if isinstance(h, _Handler)]:
        logger.removeHandler(old)
    handler = _Handler(stream if stream is not None else sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if json else logging.Formatter(TEXT_FORMAT))
    logger.addHandler(handler)
    logger.setLevel(level)
    return handler
