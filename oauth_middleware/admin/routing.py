"""The admin's route table and matching: one handler per method and path.

A small router of our own instead of Starlette's, so that a wrong method or an
unknown path becomes one of our pages (with the admin's headers) wherever the
app is mounted, rather than a plain-text answer or an exception for the host.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from re import Pattern
from typing import Any

from starlette.convertors import Convertor
from starlette.responses import Response
from starlette.routing import compile_path
from starlette.types import Scope

from oauth_middleware.admin.refusals import MethodNotAllowed, NotFound
from oauth_middleware.admin.request import AdminRequest

Handler = Callable[[AdminRequest], Awaitable[Response]]


@dataclass(frozen=True)
class AdminRoute:
    method: str
    path: str
    handler: Handler
    regex: Pattern[str] = field(init=False, repr=False)
    convertors: dict[str, Convertor[Any]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        regex, _, convertors = compile_path(self.path)
        object.__setattr__(self, "regex", regex)
        object.__setattr__(self, "convertors", convertors)


def route_path(scope: Scope) -> str:
    """The path below the mount point (``scope["root_path"]``)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root):len(root) + 1] in ("", "/"):
        path = path[len(root):]
    return path or "/"


class MissingSlash(Exception):
    """A GET for a page whose address ends with ``/``, asked without it (``/clients``)."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


class Router:
    def __init__(self, routes: Sequence[tuple[str, str, Handler]]) -> None:
        self.routes = [AdminRoute(method, path, handler) for method, path, handler in routes]

    def match(self, method: str, path: str) -> tuple[AdminRoute, dict[str, str]]:
        """The route for ``method`` and ``path``; else NotFound or MethodNotAllowed, or
        :class:`MissingSlash` for a page asked without its trailing slash."""
        method = "GET" if method == "HEAD" else method
        allowed: set[str] = set()
        for route in self.routes:
            found = route.regex.match(path)
            if found is None:
                continue
            if route.method != method:
                allowed.add(route.method)
                continue
            params = {k: str(route.convertors[k].convert(v)) for k, v in found.groupdict().items()}
            return route, params
        if allowed:
            raise MethodNotAllowed(allowed)
        if method == "GET" and not path.endswith("/") and any(
                route.method == "GET" and route.regex.match(path + "/") for route in self.routes):
            raise MissingSlash(path + "/")
        raise NotFound("There is no page at this address.")
