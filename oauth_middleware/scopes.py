"""Which scopes a route needs (RFC 6749 §3.3, RFC 6750 §3.1), declared per route or derived.

A mapping key is a Starlette path template with an optional method
(``"POST /polls/{poll_id}/vote"``); a value is a scope, a list of scopes (all
required, an empty list: any valid token) or :data:`AUTO`. ``AUTO`` derives the
identifier from Starlette's own route naming: the names of the enclosing named
``Mount``s joined with ``:``, then the route name (the endpoint's function name
by default); without a named mount, oauthost's rule applies: the first
component of the endpoint's module, ``:``, the function name (a route's
``name=`` plays no part there).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Final

from starlette.routing import compile_path

from oauth_middleware.errors import SCOPE_TOKEN

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_CACHE_SIZE = 4096
#: Longest path (and method) the route cache keeps: the server passes paths of tens of KB,
#: and 4096 of those would hold hundreds of MB. Longer ones are matched every time.
_CACHED_LENGTH = 256
#: Deepest nesting of mounts and included routers walked, and most routes (no real app
#: comes close to either; an app object that loops or never ends must not hang a walk).
MAX_NESTING = 64
MAX_ROUTES = 100_000
#: Attribute :func:`~oauth_middleware.decorators.oauth_required` sets on an endpoint.
REQUIRED_ATTR = "__oauth_required__"


class _Auto:
    def __repr__(self) -> str:
        return "AUTO"


AUTO: Final = _Auto()
"""Derive the scope from the route's name (see the module docstring)."""

ScopeSpec = str | Sequence[str] | _Auto


@dataclass(frozen=True, slots=True)
class Rule:
    method: str | None
    template: str
    regex: re.Pattern[str]
    scopes: frozenset[str]


@dataclass(frozen=True, slots=True)
class RouteInfo:
    """A route with its full path template and the names of the mounts around it."""

    template: str
    methods: frozenset[str] | None
    name: str | None
    endpoint: Any
    mounts: tuple[str, ...]
    #: The route object itself (e.g. FastAPI's, whose ``dependant`` lists its dependencies).
    route: Any = field(default=None, compare=False, repr=False)


def validate_scope(identifier: str) -> str:
    if not SCOPE_TOKEN.fullmatch(identifier):
        raise ValueError(
            f"invalid scope identifier {identifier!r}: use printable ASCII without spaces, "
            'quotes or backslashes, e.g. "polls:vote"'
        )
    return identifier


def parse_key(key: str) -> tuple[str | None, str]:
    """``"POST /a/{id}"`` -> ("POST", "/a/{id}"); ``"/a"`` -> (None, "/a")."""
    method, _, path = key.strip().partition(" ")
    if not path:
        method, path = "", method
    if method and method.upper() not in _METHODS:
        raise ValueError(f"unknown HTTP method in scope key {key!r}: write e.g. 'POST /path'")
    if not path.startswith("/"):
        raise ValueError(f"scope key {key!r} must be a path template starting with '/'")
    return (method.upper() or None), path.strip()


def walk_routes(routes: Iterable[Any], prefix: str = "", mounts: tuple[str, ...] = ()
                ) -> Iterator[RouteInfo]:
    """Every leaf route under ``routes`` with its full template (Mount prefixes included).

    Recent FastAPI keeps a router added with ``include_router(router, prefix=...)``
    whole, as one entry holding ``original_router`` and the prefix in
    ``include_context``; it has neither ``routes`` nor ``endpoint``, so it is
    descended into here. Older FastAPI copied the router's routes, prefixed, into
    the app's own list: those are plain routes. An app mounted inside itself is a
    ``ValueError`` (:func:`descend`), not an endless walk.
    """
    for count, info in enumerate(_walk(routes, prefix, mounts, (id(routes),)), 1):
        if count > MAX_ROUTES:
            raise ValueError(f"the app has more than {MAX_ROUTES} routes: not walked further")
        yield info


def listed(routes: Iterable[Any], where: str) -> list[Any]:
    """``routes`` as a list, ``ValueError`` past :data:`MAX_ROUTES` (an endless iterable)."""
    found = list(islice(routes, MAX_ROUTES + 1))
    if len(found) > MAX_ROUTES:
        raise ValueError(f"the routes at {where!r} number more than {MAX_ROUTES}: "
                         "not walked further")
    return found


def descend(within: tuple[int, ...], routes: object, where: str) -> tuple[int, ...]:
    """``within`` (the route lists entered so far) plus ``routes``, mounted at ``where``;
    ``ValueError`` when they were entered already (a cycle) or nest too deep."""
    if id(routes) in within:
        raise ValueError(f"the Mount at {where!r} contains an app it is mounted in: "
                         "a cycle of mounts cannot be walked")
    if len(within) > MAX_NESTING:
        raise ValueError(f"routes are nested more than {MAX_NESTING} mounts deep "
                         f"(at {where!r})")
    return (*within, id(routes))


def _walk(routes: Iterable[Any], prefix: str, mounts: tuple[str, ...],
          within: tuple[int, ...]) -> Iterator[RouteInfo]:
    for route in listed(routes, prefix or "/"):
        included = getattr(route, "original_router", None)
        if included is not None and hasattr(included, "routes"):
            where = prefix + getattr(getattr(route, "include_context", None), "prefix", "")
            yield from _walk(included.routes, where, mounts,
                             descend(within, included.routes, where))
            continue
        path = getattr(route, "path", "")
        children = getattr(route, "routes", None)
        if children is not None and not hasattr(route, "endpoint"):
            name = getattr(route, "name", None)
            yield from _walk(children, prefix + path, mounts + ((name,) if name else ()),
                             descend(within, children, prefix + path))
        elif hasattr(route, "endpoint"):
            methods = getattr(route, "methods", None)
            yield RouteInfo(prefix + path, frozenset(methods) if methods else None,
                            getattr(route, "name", None), route.endpoint, mounts, route)


def derive(route: RouteInfo) -> str:
    """The AUTO scope of a route (module docstring).

    The route name counts only under a named mount: without one, oauthost's rule
    (module, then the function's own name) applies even to a route named otherwise.
    """
    func = getattr(route.endpoint, "__wrapped__", route.endpoint)
    func_name = str(getattr(func, "__name__", ""))
    if route.mounts:
        return validate_scope(":".join((*route.mounts, str(route.name or func_name))))
    module = getattr(func, "__module__", "") or ""
    return validate_scope(f"{module.split('.')[0]}:{func_name}")


def _as_scopes(spec: str | Sequence[str]) -> frozenset[str]:
    items = [spec] if isinstance(spec, str) else list(spec)
    return frozenset(validate_scope(s) for s in items)


class ScopePolicy:
    """Route -> required scopes. ``required()`` is None for routes that are not protected."""

    def __init__(self, mapping: Mapping[str, ScopeSpec] | None = None) -> None:
        self._declared = [(*parse_key(key), spec) for key, spec in (mapping or {}).items()]
        #: Until bound to the app's routes, the explicit rules already apply.
        self._rules = _ordered([
            self._rule(method, template, spec, [])
            for method, template, spec in self._declared if not isinstance(spec, _Auto)
        ])
        self._cache: dict[tuple[str, str], frozenset[str] | None] = {}
        self.bound = False

    @property
    def needs_routes(self) -> bool:
        """True when AUTO entries can only be resolved from the app's routes."""
        return any(isinstance(spec, _Auto) for _, _, spec in self._declared)

    @property
    def declared_keys(self) -> list[tuple[str | None, str]]:
        """The mapping's keys as (method or None, path template), in declaration order."""
        return [(method, template) for method, template, _ in self._declared]

    @property
    def rules(self) -> list[Rule]:
        return list(self._rules)

    def bind(self, routes: Iterable[Any]) -> list[Rule]:
        """Resolve AUTO and decorator-declared scopes against the app's routes."""
        infos = list(walk_routes(routes))
        rules = [self._rule(method, template, spec, infos)
                 for method, template, spec in self._declared]
        rules += [rule for info in infos for rule in _decorated(info)]
        self._rules, self._cache, self.bound = _ordered(rules), {}, True
        return self.rules

    @staticmethod
    def _rule(method: str | None, template: str, spec: ScopeSpec, infos: list[RouteInfo]) -> Rule:
        if isinstance(spec, _Auto):
            matches = [i for i in infos if i.template == template
                       and (method is None or i.methods is None or method in i.methods)]
            if not matches:
                raise ValueError(f"AUTO scope for {template!r}: no route has that path template")
            scopes = frozenset({derive(matches[0])})
        else:
            scopes = _as_scopes(spec)
        return Rule(method, template, compile_path(template)[0], scopes)

    def required(self, method: str, path: str) -> frozenset[str] | None:
        key = (method, path)
        try:
            return self._cache[key]
        except KeyError:
            pass
        found = self._match(method, path)
        if len(path) > _CACHED_LENGTH or len(method) > _CACHED_LENGTH:
            return found
        if len(self._cache) >= _CACHE_SIZE:
            self._cache.clear()
        self._cache[key] = found
        return found

    def _match(self, method: str, path: str) -> frozenset[str] | None:
        return first_match(self._rules, method, path)


def first_match(rules: Iterable[Rule], method: str, path: str) -> frozenset[str] | None:
    """The scopes of the first rule for ``method`` and ``path`` (HEAD counts as GET)."""
    if method == "HEAD":
        method = "GET"
    for rule in rules:
        if (rule.method is None or rule.method == method) and rule.regex.match(path):
            return rule.scopes
    return None


def endpoint_rules(routes: Iterable[Any], endpoint: Any) -> list[Rule]:
    """The rules of every route serving ``endpoint`` (a decorated one), derived exactly
    as :meth:`ScopePolicy.bind` derives them, so the decorator and the middleware agree."""
    return _ordered([rule for info in walk_routes(routes) if info.endpoint is endpoint
                     for rule in _decorated(info)])


def _ordered(rules: list[Rule]) -> list[Rule]:
    """Method-specific rules first, otherwise in declaration order (a stable sort)."""
    return sorted(rules, key=lambda r: r.method is None)


def _decorated(info: RouteInfo) -> list[Rule]:
    spec: ScopeSpec | None = getattr(info.endpoint, REQUIRED_ATTR, None)
    if spec is None:
        return []
    scopes = frozenset({derive(info)}) if isinstance(spec, _Auto) else _as_scopes(spec)
    regex = compile_path(info.template)[0]
    methods = sorted(info.methods) if info.methods else [None]
    return [Rule(m, info.template, regex, scopes) for m in methods]
