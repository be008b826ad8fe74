"""``python -m tests.compliance [--check]``: write (or check) docs/compliance.md."""

from __future__ import annotations

import sys

from tests.compliance.matrix import main

sys.exit(main(sys.argv[1:]))
