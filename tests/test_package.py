"""Package-wide promises: a sorted and complete public API, no asserts, no weak randomness."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import oauth_middleware
from tests.source_trees import parse

PACKAGE = Path(oauth_middleware.__file__).parent


def _isort_style(names: list[str]) -> list[str]:
    """ruff's RUF022 order: SCREAMING_CASE, then CamelCase, then the rest, each sorted."""
    def rank(name: str) -> tuple[int, str]:
        kind = 0 if name.isupper() else 1 if name[:1].isupper() else 2
        return kind, name
    return sorted(names, key=rank)


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_public_api_is_sorted_and_complete() -> None:
    exported = oauth_middleware.__all__
    assert exported == _isort_style(exported)
    assert all(hasattr(oauth_middleware, name) for name in exported)
    public = {name for name in vars(oauth_middleware) if not name.startswith("_")}
    modules = {m.name for m in pkgutil.iter_modules(oauth_middleware.__path__)}
    assert public - modules - {"annotations"} == set(exported)


def test_subpackage_exports_are_sorted() -> None:
    for info in pkgutil.walk_packages(oauth_middleware.__path__, "oauth_middleware."):
        module = importlib.import_module(info.name)
        names = getattr(module, "__all__", None)
        if names is not None:
            assert list(names) == _isort_style(list(names)), info.name


def test_package_is_typed() -> None:
    assert (PACKAGE / "py.typed").exists()


def test_no_assert_statements_in_the_package() -> None:
    """Checks must not vanish under ``python -O`` (STYLE rule 7)."""
    for path in _modules():
        tree = parse(path)
        asserts = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Assert)]
        assert asserts == [], f"{path.relative_to(PACKAGE)}: assert at lines {asserts}"


@pytest.mark.rule("rest.randomness")
def test_no_weak_randomness_in_the_package() -> None:
    for path in _modules():
        tree = parse(path)
        imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                    if isinstance(node, ast.Import | ast.ImportFrom)
                    for alias in (node.names if isinstance(node, ast.Import) else
                                  [ast.alias(node.module or "")])}
        assert not imported & {"random", "uuid"}, path.relative_to(PACKAGE)


def test_only_the_store_keys_module_spells_redis_keys() -> None:
    offenders = []
    for path in _modules():
        if path.name == "keys.py":
            continue
        for node in ast.walk(parse(path)):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and node.value.startswith("om:"):
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert offenders == []
