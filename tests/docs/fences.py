"""The fenced code blocks of a Markdown page, with the line each starts on.

The docs tests run the ``python`` blocks (tests/docs/test_code_blocks.py), run or check
every ``sh``/``console`` block (tests/docs/shell_table.py says which test does what);
every other language only shows text. A block may sit indented in a list item: its
indentation is removed.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Block:
    """One fenced block: ``line`` is the 1-based line of its first code line."""

    page: str
    line: int
    lang: str
    code: str


def blocks(path: Path) -> list[Block]:
    """Every fenced block of ``path`` in order; an unclosed fence is an error."""
    page = str(path.relative_to(ROOT))
    found: list[Block] = []
    opened: tuple[int, str, str] | None = None
    body: list[str] = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        stripped = line.lstrip()
        if opened is None:
            if stripped.startswith("```"):
                opened = (number + 1, stripped[3:].strip(), line[: len(line) - len(stripped)])
                body = []
        elif stripped.startswith("```") and not stripped.strip("`"):
            found.append(Block(page, opened[0], opened[1],
                               textwrap.dedent("\n".join(body)) + "\n"))
            opened = None
        else:
            body.append(line)
    if opened is not None:
        raise ValueError(f"{page}:{opened[0] - 1}: a code fence is never closed")
    return found


def pages() -> list[Path]:
    """The pages whose blocks are checked: the README, the project's own pages, docs/."""
    top = [ROOT / name for name in ("README.md", "CONTRIBUTING.md", "CHANGELOG.md")]
    return [p for p in top if p.exists()] + sorted((ROOT / "docs").rglob("*.md"))
