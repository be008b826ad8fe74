"""The docs site builds in strict mode, offline, and documents every public name.

``mkdocs build --strict`` fails on a broken link, a missing page or an anchor that
does not exist; mkdocstrings renders the API reference from the docstrings but
silently leaves out a public member without one, so the second test fails instead.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import griffe

import oauth_middleware
from tests.docs.fences import ROOT

#: Public names outside ``oauth_middleware.__all__`` that docs/reference.md documents.
ALSO_DOCUMENTED = ("server.AuthorizationServer", "admin.AdminApp", "account.ConnectedAppsApp",
                   "wsgi.protect_wsgi", "wsgi.wsgi_token")


def test_the_docs_build_in_strict_mode_without_fetching_anything(tmp_path: Path) -> None:
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
        env={"PATH": "/usr/bin:/bin", "NO_MKDOCS_2_WARNING": "1", "HOME": str(tmp_path)})
    assert built.returncode == 0, built.stderr
    reference = (tmp_path / "reference" / "index.html").read_text()
    for name in oauth_middleware.__all__:
        assert f'id="oauth_middleware.{name}"' in reference, name
    remote = re.compile(r'<(?:link|script|img)[^>]*(?:src|href)="(?:https?:)?//')
    fetched = [str(page.relative_to(tmp_path)) for page in tmp_path.rglob("*.html")
               if remote.search(page.read_text())]
    assert fetched == []


def _undocumented(obj: griffe.Object | griffe.Alias, path: str) -> list[str]:
    missing = [] if obj.docstring and obj.docstring.value.strip() else [path]
    if obj.is_class:
        for name, member in obj.all_members.items():  # inherited ones are rendered too
            if name.startswith("_") or member.is_attribute:
                continue
            missing += _undocumented(member, f"{path}.{name}")
    return missing


def test_every_public_name_and_its_public_methods_have_a_docstring() -> None:
    package = griffe.load("oauth_middleware", search_paths=[str(ROOT)])
    names = [*oauth_middleware.__all__, *ALSO_DOCUMENTED]
    missing = [gap for name in names for gap in _undocumented(package[name], name)]
    assert missing == []


def test_the_relative_links_of_the_top_level_pages_point_at_files() -> None:
    """The README, CONTRIBUTING.md and CHANGELOG.md are outside the mkdocs build."""
    link = re.compile(r"\]\(([^)\s#]+)(?:#[^)]*)?\)")
    broken = [f"{name}: {target}" for name in ("README.md", "CONTRIBUTING.md", "CHANGELOG.md")
              for target in link.findall((ROOT / name).read_text())
              if "://" not in target and not (ROOT / target).exists()]
    assert broken == []
    readme = (ROOT / "README.md").read_text()
    assert len(readme.encode()) < 15_000  # a front page; the rest lives in docs/
