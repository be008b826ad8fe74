"""What the published package promises: its metadata, its license, its dependencies."""

from __future__ import annotations

import ast
import asyncio
import re
import sys
import tomllib
from pathlib import Path

import pytest

import oauth_middleware
from oauth_middleware import TokenStore
from tests.source_trees import parse

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
#: The import name of every runtime dependency and extra of pyproject.toml.
DECLARED = {"starlette", "anyio", "redis", "hiredis", "itsdangerous", "click", "jinja2",  # core
            "fakeredis", "lupa",  # embedded
            "a2wsgi",  # wsgi
            "joserfc", "cryptography", "httpx",  # jwt (keys sealed at rest), introspection, cimd
            "fastapi", "pydantic",  # fastapi (an optional import)
            "prometheus_client",  # metrics
            "opentelemetry"}  # otel (spans, an optional import)


def test_the_version_is_single_sourced_from_the_package() -> None:
    assert "version" in PROJECT["project"]["dynamic"] and "version" not in PROJECT["project"]
    assert PROJECT["tool"]["hatch"]["version"]["path"] == "oauth_middleware/__init__.py"
    assert re.fullmatch(r"\d+\.\d+\.\d+", oauth_middleware.__version__)


def test_the_license_file_is_the_declared_bsd_3_clause() -> None:
    assert PROJECT["project"]["license"] == "BSD-3-Clause"
    assert PROJECT["project"]["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("BSD 3-Clause License")
    assert "Neither the name of the copyright holder" in text


def test_the_projects_tools_are_dependency_groups_not_published_extras() -> None:
    extras = " ".join(" ".join(deps) for deps in
                      PROJECT["project"]["optional-dependencies"].values())
    for tool in ("pytest", "mypy", "ruff", "mutmut", "mkdocs", "playwright", "hypothesis"):
        assert tool not in extras
    assert {"test", "lint", "docs", "demo", "dev", "bench", "mutate"} <= set(
        PROJECT["dependency-groups"])


def test_the_package_imports_only_what_it_declares() -> None:
    """python-multipart is not among them: the package parses forms itself, strictly."""
    stdlib = sys.stdlib_module_names
    imported: set[str] = set()
    for path in (ROOT / "oauth_middleware").rglob("*.py"):
        for node in ast.walk(parse(path)):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    third_party = imported - set(stdlib) - {"oauth_middleware", "_typeshed"}
    assert third_party <= DECLARED, third_party - DECLARED
    core = " ".join(PROJECT["project"]["dependencies"])
    assert "multipart" not in core and "fakeredis" not in core


@pytest.mark.parametrize("missing", ["fakeredis", "lupa"])
def test_without_the_embedded_extra_the_embedded_store_names_the_extra_to_install(
    missing: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, missing, None)  # what an absent package looks like
    with pytest.raises(ImportError) as refused:
        TokenStore.from_url(None)
    message = str(refused.value)
    assert 'pip install "oauth-middleware[embedded]"' in message
    assert "redis://" in message
    assert PROJECT["project"]["optional-dependencies"]["embedded"] == ["fakeredis[lua]>=2.26"]


@pytest.mark.parametrize(("name", "module", "missing", "extra"), [
    ("JWTVerifier", "verifiers.jwt", "joserfc", "jwt"),
    ("IntrospectionVerifier", "verifiers.introspection", "httpx", "introspection"),
])
def test_without_its_extra_a_verifier_names_the_extra_and_the_package_still_imports(
    name: str, module: str, missing: str, extra: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delattr(oauth_middleware, name, raising=False)
    for loaded in (f"oauth_middleware.{module}", "oauth_middleware.verifiers.remote",
                   "oauth_middleware.verifiers.jwks", "oauth_middleware.verifiers.service_token"):
        monkeypatch.delitem(sys.modules, loaded, raising=False)
    monkeypatch.setitem(sys.modules, missing, None)  # what an absent package looks like
    with pytest.raises(ImportError, match=rf'pip install "oauth-middleware\[{extra}\]"'):
        getattr(oauth_middleware, name)
    assert missing in " ".join(PROJECT["project"]["optional-dependencies"][extra])


def test_without_the_jwt_extra_the_server_signs_nothing_and_key_rings_name_the_extra(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from oauth_middleware.keyring import StoreKeys, from_files
    from oauth_middleware.server import AuthorizationServer

    for missing in ("joserfc", "cryptography"):
        monkeypatch.setitem(sys.modules, missing, None)  # what an absent package looks like
    store = TokenStore.from_url(None)
    server = AuthorizationServer(store=store, issuer="https://auth.example/oauth",
                                 secret_key=b"k" * 32)
    assert server.config.signing_keys is None
    with pytest.raises(ValueError, match=r"pip install 'oauth-middleware\[jwt\]'"):
        asyncio.run(StoreKeys(store, b"k" * 32).signing_key("RS256"))
    (tmp_path / "key.pem").write_text("-----BEGIN PRIVATE KEY-----\n")
    with pytest.raises(ValueError, match=r"pip install 'oauth-middleware\[jwt\]'"):
        from_files(tmp_path / "key.pem")
    assert "cryptography" in " ".join(PROJECT["project"]["optional-dependencies"]["jwt"])
