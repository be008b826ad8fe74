"""An app module whose own import fails: ``scope sync`` must show that traceback, not hide it."""

from __future__ import annotations

import importlib

importlib.import_module("tests.cli.a_dependency_that_is_not_installed")
