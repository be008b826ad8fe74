"""An app module whose import raises (a missing setting): ``scope sync`` says so in one line."""

from __future__ import annotations

raise RuntimeError("DATABASE_URL is not set\n(see settings.py)")
