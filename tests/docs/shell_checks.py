"""Shell commands of the docs that cannot run in a test, checked against the real thing.

Installing from the package registry, the whole suite, the benchmark, mutation runs and
long fuzz runs take minutes or the network; ``curl https://api.example/...`` has no
server behind it. Each command line is split as the shell splits it and checked: the
extras and packages ``pip`` is given are declared in pyproject.toml; a script exists,
is executable, hands its arguments where its comment says, and that program accepts
the flags shown (parsed, never run); pytest options are registered and environment
variables honoured; a URL names a route of the page's app with the method shown.
Every checker returns the problems it found, ``[]`` when the command is right.
"""

from __future__ import annotations

import ast
import functools
import itertools
import os
import re
import subprocess
import sys
import tempfile
import tomllib
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
from starlette.routing import BaseRoute, Match, Mount
from starlette.types import ASGIApp

from tests.docs.fences import ROOT
from tests.docs.shell import words

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = "oauth-middleware"
REQUIREMENT = re.compile(r"([A-Za-z0-9._-]+)(?:\[([\w,-]+)\])?")
#: The Python module each wrapper script ends in (``exec .venv/bin/python -m MODULE "$@"``).
WRAPPED = {"scripts/demo": "demo", "scripts/mutate": "tests.mutation",
           "scripts/compliance": "tests.compliance", "bench/run": "bench"}
#: The dependency group each script installs first (the docs say so beside them).
SETS_UP = {"scripts/demo": "demo", "scripts/mutate": "mutate", "bench/run": "bench",
           "scripts/test": "dev"}


def name_of(requirement: str) -> str:
    """``fakeredis[lua]>=2.26`` -> ``fakeredis``, normalised as package indexes compare."""
    found = REQUIREMENT.match(requirement)
    assert found is not None, requirement
    return re.sub(r"[-_.]+", "-", found.group(1)).lower()


def _group(name: str) -> set[str]:
    found: set[str] = set()
    for item in PYPROJECT["dependency-groups"][name]:
        found |= _group(item["include-group"]) if isinstance(item, dict) else {name_of(item)}
    return found


def pip(command: str, *, lists: bool = False) -> list[str]:
    """``pip install ...``: our extras exist; other packages are ones the project tests with;
    ``lists``: the comment names exactly the packages the extra (or the package) brings."""
    args = words(command)
    if args[:2] != ["pip", "install"]:
        return [f"not a pip install: {command!r}"]
    problems, brought = [], set()
    for requirement in args[2:]:
        found = REQUIREMENT.fullmatch(requirement)
        if found is None or name_of(requirement) != PROJECT:
            if found is None or name_of(requirement) not in _group("dev"):
                problems.append(f"{requirement!r}: not a package the project tests with")
            continue
        extras = [e for e in (found.group(2) or "").split(",") if e]
        declared = PYPROJECT["project"]["optional-dependencies"]
        problems += [f"no extra {e!r} in pyproject.toml" for e in extras if e not in declared]
        deps = [d for e in extras if e in declared for d in declared[e]]
        brought |= {name_of(d) for d in deps or PYPROJECT["project"]["dependencies"]}
    comment = command.partition("#")[2]
    named = {w.lower() for w in re.findall(r"[A-Za-z][\w-]+", comment)} & _runtime()
    if lists and named != brought:
        problems.append(f"the comment names {sorted(named)}, the install brings {sorted(brought)}")
    return problems


def _runtime() -> set[str]:
    declared = PYPROJECT["project"]["optional-dependencies"].values()
    return ({name_of(d) for extra in declared for d in extra}
            | {name_of(d) for d in PYPROJECT["project"]["dependencies"]})


def script(path: str) -> list[str]:
    """The script exists, is executable, installs the group the docs say it installs, and
    passes its arguments on (``"$@"``) to the program the docs say."""
    file = ROOT / path
    if not file.is_file() or not os.access(file, os.X_OK):
        return [f"{path} is not an executable file"]
    text = file.read_text()
    module = WRAPPED.get(path)
    if module and f'exec .venv/bin/python -m {module} "$@"' not in text:
        return [f"{path} no longer hands its arguments to python -m {module}"]
    if path == "scripts/test" and not re.search(r'python -m pytest .*"\$@"', text):
        return ["scripts/test no longer hands its arguments to pytest"]
    group = SETS_UP.get(path)
    if group and not re.search(rf"^scripts/setup {group}$", text, re.M):
        return [f"{path} no longer runs scripts/setup {group}"]
    return []


@functools.cache
def _help(module: str) -> str:
    return subprocess.run([sys.executable, "-m", module, "--help"], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout


def help_flags(module: str, flags: list[str]) -> list[str]:
    """Flags a comment mentions (``--host/--port``) are in ``python -m module --help``."""
    shown = _help(module)
    return [f"python -m {module} has no {flag}" for flag in flags
            if not re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", shown)]


def bench_rows() -> set[str]:
    """The row keys of bench/rows.py (the first argument of every ``Row(...)``)."""
    tree = ast.parse((ROOT / "bench" / "rows.py").read_text())
    return {str(node.args[0].value) for node in ast.walk(tree)
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Row"
            and node.args and isinstance(node.args[0], ast.Constant)}


def bench(args: list[str]) -> list[str]:
    from bench.__main__ import parse

    try:
        parsed = parse(args)
    except SystemExit:
        return [f"python -m bench refuses {args}"]
    unknown = {k for k in parsed.only.split(",") if k} - bench_rows()
    return [f"bench has no row {k!r}" for k in sorted(unknown)]


def pytest_args(args: list[str], option: Callable[[str], object]) -> list[str]:
    """Options are registered with this pytest (``option`` is ``config.getoption``);
    the other arguments are paths of the repository."""
    problems = []
    for arg in args:
        if arg.startswith("-"):
            try:
                option(arg)
            except ValueError:
                problems.append(f"pytest has no option {arg}")
        elif not (ROOT / arg).exists() and not args[args.index(arg) - 1].startswith("-"):
            problems.append(f"no {arg} for pytest to run")
    return problems


@functools.cache
def hypothesis_profile(name: str) -> list[str]:
    """``HYPOTHESIS_PROFILE=name`` is read by tests/fuzz and runs more than the default."""
    probe = ("import tests.fuzz.conftest; from hypothesis import settings; "
             "print(settings.default.max_examples)")
    def examples(profile: str | None) -> int:
        env = {k: v for k, v in os.environ.items() if k != "HYPOTHESIS_PROFILE"}
        env |= {"HYPOTHESIS_PROFILE": profile} if profile else {}
        return int(subprocess.run([sys.executable, "-c", probe], cwd=ROOT, check=True,
                                  env=env, capture_output=True, text=True).stdout)
    default, chosen = examples(None), examples(name)
    return [] if chosen > default else [f"HYPOTHESIS_PROFILE={name} runs no more examples"]


def uvicorn(args: list[str]) -> list[str]:
    """uvicorn's own click command parses the arguments (nothing is served)."""
    from uvicorn.main import main

    try:
        main.make_context("uvicorn", list(args))
    except click.ClickException as refused:
        return [f"uvicorn refuses {args}: {refused.format_message()}"]
    return []


def project_cli(args: list[str]) -> list[str]:
    """Our own click command parses the arguments down to the subcommand (nothing runs):
    the command, its group and every option shown exist (``# comments`` dropped). Files an
    ``--input`` names are the ones the page's earlier command wrote: they exist, empty, in
    a scratch directory while the arguments are parsed."""
    with tempfile.TemporaryDirectory() as scratch:
        inputs = [value for flag, value in itertools.pairwise(args)
                  if flag in ("--input", "-i")]
        for name in inputs:
            (Path(scratch) / name).touch()
        return _parse_cli([str(Path(scratch) / a) if a in inputs else a for a in args])


def _parse_cli(args: list[str]) -> list[str]:
    from oauth_middleware.cli.main import main

    command: click.Command = main
    context: click.Context | None = None
    opened: list[click.Context] = []
    try:
        rest = list(args)
        while True:
            context = command.make_context(command.name or "oauth-middleware", rest,
                                           parent=context, resilient_parsing=False)
            opened.append(context)
            with warnings.catch_warnings():  # Click 9 moves these into ``args``
                warnings.simplefilter("ignore", DeprecationWarning)
                remaining = [*context.protected_args, *context.args]
            if not isinstance(command, click.Group) or not remaining:
                return []
            name, *rest = remaining
            found = command.get_command(context, name)
            if found is None:
                return [f"oauth-middleware has no command {name!r}"]
            command = found
    except click.ClickException as refused:
        return [f"oauth-middleware refuses {args}: {refused.format_message()}"]
    finally:  # what the options opened (an --input file) is closed with its context
        for done in reversed(opened):
            done.close()


def curl_route(command: str, app: ASGIApp) -> list[str]:
    """``curl`` names a route of ``app`` (through its mounts) that takes the method it sends."""
    args = words(command)
    url = next(a for a in args if a.startswith("https://"))
    method = "POST" if {"-d", "--data"} & set(args) else "GET"
    path = urlsplit(url).path
    scope: dict[str, Any] = {"type": "http", "method": method, "path": path, "root_path": ""}
    if not _routed(getattr(app, "routes", []), scope):
        return [f"{method} {path} is not a route of the page's app"]
    return []


def _routed(routes: list[BaseRoute], scope: dict[str, Any]) -> bool:
    for route in routes:
        match, child = route.matches(scope)
        if match is Match.FULL and isinstance(route, Mount):
            if _routed(route.routes, {**scope, **child}):
                return True
        elif match is Match.FULL:
            return True
    return False


def mutate_modules(args: list[str]) -> list[str]:
    from tests.mutation.plan import arguments

    try:
        arguments(args)
    except SystemExit as refused:
        return [str(refused)]
    return []


def mutmut(args: list[str]) -> list[str]:
    import mutmut.__main__ as cli

    problems = [] if "mutmut" in _group("mutate") else ["mutmut is not in the mutate group"]
    if args[0] not in cli.cli.commands:
        problems.append(f"mutmut has no command {args[0]!r}")
    return problems


def check(command: str, option: Callable[[str], object], app: ASGIApp | None,
          *, lists: bool = False) -> list[str]:
    """The problems of one command line that cannot run here: dispatched on its program.
    ``app``: what ``curl`` lines address; ``lists``: ``pip`` comments list packages."""
    args = words(command)
    while args and re.fullmatch(r"[A-Z_]+=.*", args[0]):
        variable, _, value = args.pop(0).partition("=")
        if variable != "HYPOTHESIS_PROFILE":
            return [f"no check knows the variable {variable}"]
        problems = hypothesis_profile(value)
        if problems:
            return problems
    program, rest = args[0], args[1:]
    flags = re.findall(r"--[a-z][a-z-]*", command.partition("#")[2])
    if program == "pip":
        return pip(command, lists=lists)
    if program == "uvicorn":
        return uvicorn(rest)
    if program == PROJECT:
        return project_cli(rest)
    if program == "curl" and app is not None:
        return curl_route(command, app)
    if program == ".venv/bin/pytest" and "pytest" not in _group("dev"):
        return ["pytest is not in the dev group that scripts/setup installs"]
    if program in (".venv/bin/pytest", "scripts/test"):
        return (script(program) if program == "scripts/test" else []) + pytest_args(rest, option)
    if program == ".venv/bin/mutmut":
        return mutmut(rest)
    if program == "scripts/setup":
        return script(program) + [f"no dependency group {a!r}" for a in rest
                                  if a not in PYPROJECT["dependency-groups"]]
    checks: dict[str, Callable[[], list[str]]] = {
        "scripts/demo": lambda: help_flags("demo", rest + flags),
        # In full: argparse would take an abbreviation (--run for --runs) the help never shows.
        "bench/run": lambda: bench(rest) + help_flags(
            "bench", flags + [a.partition("=")[0] for a in rest if a.startswith("--")]),
        "scripts/mutate": lambda: mutate_modules(rest),
        "scripts/compliance": lambda: [f"scripts/compliance takes no {a}" for a in rest
                                       if a != "--check"],
    }
    if program not in checks:
        return [f"no check knows {program!r}"]
    return script(program) or checks[program]()
