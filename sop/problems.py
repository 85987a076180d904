"""A problem found in an SOP definition, located in its file so an author can fix it."""

from __future__ import annotations

from dataclasses import dataclass

from sop.limits import Breach


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding. ``code`` is a stable slug for tools and tests; ``message`` is for people.

    ``line`` is 1-based. File-level problems (unreadable file, empty document) use line 1, so
    every problem prints as ``FILE:LINE: message``, the format editors and CI annotate.
    """

    file: str
    line: int
    code: str
    message: str
    breach: Breach | None = None
    """The limit of :mod:`sop.limits` the definition breaks, when that is the problem."""

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


NodePath = tuple[str | int, ...]


class SourceMap:
    """Where each node of a YAML document starts: its path (keys and indexes) -> 1-based line.

    For a mapping entry the line is that of its key, for a sequence item that of the item, so
    ``("stages", 3, "outcomes", "issued")`` is the line that reads ``issued: ...``.
    """

    def __init__(self, lines: dict[NodePath, int] | None = None) -> None:
        self._lines: dict[NodePath, int] = dict(lines or {})

    def __contains__(self, path: object) -> bool:
        return path in self._lines

    def record(self, path: NodePath, line: int) -> None:
        self._lines.setdefault(path, line)

    def line(self, *path: str | int) -> int:
        """The line of ``path``, or of its deepest ancestor the document has.

        Path elements the document lacks are skipped rather than ending the walk, so a pydantic
        error location with union tags (``('stages', 0, 'kind', 'tuple[...]', 1)``) still lands
        on the right line.
        """
        best = self._lines.get((), 1)
        prefix: NodePath = ()
        for element in path:
            candidate = (*prefix, element)
            if candidate in self._lines:
                prefix = candidate
                best = self._lines[candidate]
        return best
