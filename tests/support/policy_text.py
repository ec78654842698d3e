"""Edit policy YAML text in tests around the shipped ``tests:`` block (SPEC §14)."""

from __future__ import annotations


def _tests_block(text: str) -> tuple[int, int] | None:
    """The line range [start, end) of the top-level ``tests:`` block, or None."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.startswith("tests:")), None)
    if start is None:
        return None
    end = start + 1
    while end < len(lines) and lines[end][:1] in (" ", "-", "#", "\n"):
        end += 1
    return start, end


def without_tests(text: str) -> str:
    """``text`` without its top-level ``tests:`` block: a deliberate edit of what the tests
    pin (a test naming a role the edit removes would otherwise be an error)."""
    block = _tests_block(text)
    if block is None:
        return text
    lines = text.splitlines(keepends=True)
    return "".join(lines[: block[0]] + lines[block[1] :])


def with_tests(text: str, items: str) -> str:
    """``text`` with ``items`` (``"  - name: ...\\n"`` lines) added to its ``tests:`` list,
    which is created at the end when there is none."""
    block = _tests_block(text)
    if block is None:
        return text + "tests:\n" + items
    lines = text.splitlines(keepends=True)
    return "".join(lines[: block[1]]) + items + "".join(lines[block[1] :])
