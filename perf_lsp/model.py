"""The engine's data model: positions, ranges, edits, fixes and diagnostics.

Every position in the core uses libcst's convention: lines are 1-based, columns
are 0-based and counted in code points. Lines, offsets and range shifts are
computed in ``perf_lsp.text``; reports add one to columns (Ruff's convention) in
``perf_lsp.output``; the language server converts to 0-based lines and UTF-16
code units in exactly one place, ``perf_lsp.lsp.convert``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


@dataclass(frozen=True, order=True)
class Position:
    """A place in a document: ``line`` 1-based, ``column`` 0-based in code points."""

    line: int
    column: int


@dataclass(frozen=True)
class Range:
    """A half-open span ``[start, end)`` of a document, positions as in :class:`Position`."""

    start: Position
    end: Position

    def contains(self, pos: Position) -> bool:
        """True when ``pos`` lies in the range (both ends included, as hovers expect)."""
        return self.start <= pos <= self.end

    def overlaps(self, other: "Range") -> bool:
        """True when the two ranges share at least one position (touching counts)."""
        return self.start <= other.end and other.start <= self.end


class Applicability(str, enum.Enum):
    """Fix safety, as Ruff defines it.

    ``SAFE``: applying the fix keeps the program's behaviour; applied by ``fix`` and
    fix-all by default. ``UNSAFE``: the fix can change behaviour (a shared instance,
    concurrency, ordering, a return type); applied only on request
    (``--unsafe-fixes``, ``unsafeFixes``, or by picking the quick fix by hand).
    """

    SAFE = "safe"
    UNSAFE = "unsafe"


@dataclass(frozen=True)
class Edit:
    """Replace the text in ``range`` with ``content`` (an insertion when the range is empty)."""

    range: Range
    content: str


@dataclass(frozen=True)
class Fix:
    """A fix ready to apply: a title (the quick fix's label), its safety and its edits.

    Edits never overlap; they are sorted by position.
    """

    title: str
    applicability: Applicability
    edits: tuple[Edit, ...]


@dataclass(frozen=True)
class FixOffer:
    """What the analysis knows about a fix before it is built: its title and safety.

    Building the edits is deferred (see ``Analysis.fix``) because it needs the whole
    document (free names, where imports go) and is only wanted on request.
    """

    title: str
    applicability: Applicability


@dataclass(frozen=True)
class Diagnostic:
    """One finding of one rule in one document.

    ``range`` uses the core convention (1-based lines, 0-based code-point columns).
    ``fixes`` lists the fixes on offer, the primary one first (PFL101 offers two).
    ``detail`` is an optional extra sentence for the hover, e.g. the multiplier the
    rule can see ("inside a loop: paid once per iteration").
    """

    code: str
    name: str
    message: str
    range: Range
    fixes: tuple[FixOffer, ...] = ()
    detail: str = ""
    key: tuple = field(default=(), compare=False, repr=False)

    @property
    def fixable(self) -> bool:
        """True when at least one fix is on offer."""
        return bool(self.fixes)
