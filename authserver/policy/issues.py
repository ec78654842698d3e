"""Policy issues: an error or warning with the place in the document it points at.

Admins fix policies from these messages, so each one carries a 1-based line and column
when the policy came from YAML text, and always a dotted path (``roles.editor.inherits[0]``)
so that a JSON body, which has no lines, can still be pointed at.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

#: A place in the document: mapping keys (str) and list indexes (int).
Path = tuple[object, ...]

#: Finds the (line, column) of a path; ``key=True`` asks for the mapping key, not its value.
#: (None, None) when the path lies outside the text it knows (a role body inside a policy).
Locate = Callable[[Path, bool], tuple[int | None, int | None]]


@dataclass(frozen=True)
class PolicyIssue:
    """One problem found in a policy document."""

    line: int | None
    column: int | None
    path: str
    message: str

    def format(self, filename: str) -> str:
        """Render like a compiler message: ``FILE:LINE:COLUMN: message``."""
        if self.line is None:
            where = f"{self.path}: " if self.path else ""
            return f"{filename}: {where}{self.message}"
        return f"{filename}:{self.line}:{self.column}: {self.message}"

    def to_dict(self) -> dict[str, object]:
        """The issue as the admin API shows it: ``{line, column, path, message}``."""
        return {
            "line": self.line,
            "column": self.column,
            "path": self.path,
            "message": self.message,
        }

    def sort_key(self) -> tuple[int, int]:
        """Order issues by position; issues without one keep their relative order."""
        return (self.line or 0, self.column or 0)


def format_path(path: Path) -> str:
    """``("roles", "editor", "inherits", 0)`` -> ``"roles.editor.inherits[0]"``."""
    text = ""
    for part in path:
        if type(part) is int:
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def type_name(value: object) -> str:
    """The name an admin knows for a value's type (YAML/JSON vocabulary, not Python's)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "mapping"
    return type(value).__name__


class Reporter:
    """Collects every error and warning (not only the first), located when it can be."""

    def __init__(self, locate: Locate | None = None) -> None:
        self._locate = locate
        self.errors: list[PolicyIssue] = []
        self.warnings: list[PolicyIssue] = []

    def issue(self, path: Path, message: str, *, key: bool = False) -> PolicyIssue:
        """Build an issue for ``path``; ``key=True`` points at the key rather than the value."""
        if self._locate is None:
            return PolicyIssue(None, None, format_path(path), message)
        line, column = self._locate(path, key)
        return PolicyIssue(line, column, format_path(path), message)

    def error(self, path: Path, message: str, *, key: bool = False) -> None:
        self.errors.append(self.issue(path, message, key=key))

    def warning(self, path: Path, message: str, *, key: bool = False) -> None:
        self.warnings.append(self.issue(path, message, key=key))

    def sorted_errors(self) -> list[PolicyIssue]:
        return sorted(self.errors, key=PolicyIssue.sort_key)

    def sorted_warnings(self) -> list[PolicyIssue]:
        return sorted(self.warnings, key=PolicyIssue.sort_key)
