"""Parse the project's own sources for the tests that read them (layers, package rules).

The collector is paused during a parse: on CPython 3.11 a finalizer that runs inside
``ast.parse`` and formats a traceback (pytest's hook for a warning raised by a
finalizer does) parses again, and the outer parse fails with ``SystemError: AST
constructor recursion depth mismatch`` — a failure of the interpreter, not of the file.
"""

from __future__ import annotations

import ast
import gc
from pathlib import Path


def parse(path: Path) -> ast.Module:
    """``path``'s syntax tree, parsed with no collection (so no finalizer) running."""
    source = path.read_text()
    paused = gc.isenabled()
    gc.disable()
    try:
        return ast.parse(source, str(path))
    finally:
        if paused:
            gc.enable()
