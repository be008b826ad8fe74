"""Hypothesis profiles for the fuzz tests.

``ci`` (the default, what ``scripts/test`` runs): a bounded, derandomized run,
the same examples every time, no example database written. ``long``: many more
random examples, for a deliberate hunt::

    HYPOTHESIS_PROFILE=long .venv/bin/pytest tests/fuzz
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from tests.fuzz.env import FuzzEnv

settings.register_profile(
    "ci", max_examples=60, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "long", max_examples=3000, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="module")
def fuzz() -> Iterator[FuzzEnv]:
    """One embedded store and the apps on it, on one event loop, for a module's examples."""
    with asyncio.Runner() as runner:
        env = runner.run(FuzzEnv.create(runner))
        yield env
        runner.run(env.store.aclose())
