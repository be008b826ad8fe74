"""The Redis gateway: the only code of the project that imports redis-py (see :mod:`.gateway`)."""

from oauth_middleware.store._gateway.connection import StoreRefused, StoreUnavailable
from oauth_middleware.store._gateway.gateway import Gateway, texts
from oauth_middleware.store._gateway.readthrough import Step, pairs
from oauth_middleware.store._gateway.script import Command, Script, evalsha

__all__ = [
    "Command",
    "Gateway",
    "Script",
    "Step",
    "StoreRefused",
    "StoreUnavailable",
    "evalsha",
    "pairs",
    "texts",
]
