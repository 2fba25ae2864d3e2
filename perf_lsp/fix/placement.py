"""Where a fix's additions go in a document, and the edits that apply several fixes together.

A fix (:class:`FixPlan`) rewrites one top-level statement and may need imports and
module-level definitions. :class:`Placement` decides where those go (imports after
the imports that precede the statement, definitions before the statement unless a
name they read is bound later, PEP 8 spacing), merges the fixes of one statement,
removes the imports a change leaves unused, and turns it all into text edits on the
document (lines 1-based, columns code points).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from perf_lsp.analysis.bindings import DocumentNames, parse_names
from perf_lsp.analysis.module import ModuleContext
from perf_lsp.fix.context import FixContext
from perf_lsp.fix.unused_imports import remove_imports, unused_after
from perf_lsp.model import Diagnostic, Edit, FixOffer, Position, Range
from perf_lsp.textedit import apply_edits, diff_edits, merge_insertions

DEFINITION_START = re.compile(r"(@|def\b|async\s+def\b|class\b)")
"""The start of a statement that PEP 8 surrounds with two blank lines (a decorator, ``def``, ``class``)."""


@dataclass
class FixPlan:
    """One fix built against an analysed document, before it becomes text edits.

    ``index``: the chunk it rewrites; ``text``: that chunk's new text; ``edits``:
    from the chunk's text to ``text``, chunk-relative (line 1 is the chunk's first
    line); ``imports``: import lines to add (no newline); ``definitions``: (index of
    the chunk to insert before, code) of the module-level statements to add;
    ``local``: every edit of the chunk lies inside the diagnostic's range (the fix
    rewrites only the reported code, so it commutes with other such fixes).
    """

    diag: Diagnostic
    offer: FixOffer
    index: int
    text: str
    edits: list[Edit]
    imports: list[str]
    definitions: list[tuple[int, str]]
    fctx: FixContext
    local: bool


class Statement(Protocol):
    """A top-level statement of the document: lines ``start``..``end`` (1-based, inclusive), its text and
    :mod:`ast` nodes (``perf_lsp.source.Chunk``)."""

    start: int
    end: int
    text: str
    nodes: tuple


class Placement:
    """The placement of fixes' additions in one analysed document.

    ``lines``: the document's lines (endings kept); ``chunks``: its top-level
    statements in order; ``context``: its module facts; ``names``: what it binds and
    reads (computed on first use); ``parses``: whether a text is valid Python;
    ``package_init``: the document is a package's ``__init__.py`` (its module-level
    imports are kept).
    """

    def __init__(
        self,
        lines: Sequence[str],
        chunks: Sequence[Statement],
        context: ModuleContext,
        names: Callable[[], DocumentNames],
        parses: Callable[[str], bool],
        package_init: bool = False,
    ) -> None:
        self.lines = lines
        self.chunks = chunks
        self.context = context
        self._names = names
        self.parses = parses
        self.package_init = package_init

    @property
    def names(self) -> DocumentNames:
        """What the document binds and reads (:func:`perf_lsp.analysis.bindings.parse_names` per statement)."""
        return self._names()

    def definition_slot(self, index: int, code: str) -> int | None:
        """Where a module-level definition for chunk ``index`` goes: the index of the chunk to insert it before.

        Before the chunk itself, unless a name the definition reads at import time
        (``re`` in ``_P = re.compile(...)``) is bound at module level by the chunk or
        a later statement: then right after the last such binding, provided no
        statement from the chunk to that binding runs code at import (a call, a
        decorator), which could use the definition before it exists. None when that
        does not hold.
        """
        found = parse_names(code)
        if found is None:
            return None
        names = self.names
        last = -1
        for name in found.import_loads:
            bound = names.last_module_binding(name)
            if bound is not None:
                last = max(last, bound)
        if last < index:
            return index
        if any(names.chunks[i].runs_code for i in range(index, last + 1)):
            return None
        return last + 1

    def render(self, plans: Sequence[FixPlan]) -> list[Edit] | None:
        """The edits that apply ``plans`` (built against this document) together.

        Fixes of one statement are merged (their edits must not overlap); each
        import line goes in once, after the imports that precede the first
        statement needing it; definitions for one place go together, in order,
        PEP 8 spaced; imports the change leaves unused are removed. None when the
        edits overlap or a rewritten statement does not parse. Edits are sorted.
        """
        if not plans:
            return []
        nl = plans[0].fctx.chunk.default_newline
        texts: dict[int, str] = {}
        groups: dict[int, list[FixPlan]] = {}
        for plan in plans:
            groups.setdefault(plan.index, []).append(plan)
        for index, group in groups.items():
            if len(group) == 1:
                texts[index] = group[0].text
                continue
            try:
                text = apply_edits(self.chunks[index].text, merge_insertions(e for p in group for e in p.edits))
            except ValueError:
                return None
            if not self.parses(text):
                return None
            texts[index] = text
        anchors: dict[str, int] = {}
        for plan in plans:
            anchor = self.context.import_anchor(self.chunks[plan.index].start)
            for line in plan.imports:
                anchors[line] = min(anchors.get(line, anchor), anchor)
        slots: dict[int, list[str]] = {}
        for plan in plans:
            for slot, code in plan.definitions:
                if code not in slots.setdefault(slot, []):
                    slots[slot].append(code)
        added = [*anchors, *(code for codes in slots.values() for code in codes)]
        targets = unused_after(
            self.names, {i: self.chunks[i].nodes for i in texts}, texts, added, module_level=not self.package_init
        )
        if targets is None:
            return None
        for index, scopes in targets.items():
            text = remove_imports(texts.get(index, self.chunks[index].text), scopes)
            if text is None or not self.parses(text):
                return None
            texts[index] = text
        edits: list[Edit] = []
        by_anchor: dict[int, list[str]] = {}
        for line, anchor in anchors.items():
            by_anchor.setdefault(anchor, []).append(line)
        first_defs = slots.get(0)
        if first_defs:
            opens_definition = any(DEFINITION_START.match(code) for code in first_defs)
        else:
            opens_definition = bool(self.chunks) and bool(DEFINITION_START.match(self.chunks[0].text.lstrip()))
        for anchor, lines in by_anchor.items():
            edits.append(self._imports_edit(anchor, lines, nl, opens_definition))
        for slot, codes in slots.items():
            edits.append(self._definitions_edit(slot, codes, nl))
        inserted = {e.range.start.line for e in edits}
        for index, text in texts.items():
            chunk = self.chunks[index]
            if text:
                edits.extend(diff_edits(chunk.text, text, chunk.start))
            else:
                edits.append(self._deletion(chunk, inserted))
        try:
            return merge_insertions(edits)
        except ValueError:
            return None

    def _deletion(self, chunk: Statement, inserted: set[int]) -> Edit:
        """Delete ``chunk``'s lines, and the blank lines that would double up or open the file.

        At the top of the file the blank lines after the chunk go too; between two
        blank runs, the run before it. Lines where other edits insert text
        (``inserted``, 1-based) are kept as boundaries.
        """
        first, last = chunk.start, chunk.end  # 1-based, inclusive

        def blank(line: int) -> bool:
            return 1 <= line <= len(self.lines) and not self.lines[line - 1].strip()

        if all(blank(line) for line in range(1, first)):
            while blank(last + 1) and last + 1 not in inserted and last + 2 not in inserted:
                last += 1
        elif blank(first - 1) and (blank(last + 1) or last == len(self.lines)) and first not in inserted:
            while blank(first - 1) and first - 1 not in inserted:
                first -= 1
        end = Position(last + 1, 0) if last < len(self.lines) else Position(last, len(self.lines[last - 1]))
        return Edit(Range(Position(first, 0), end), "")

    def _imports_edit(self, anchor: int, lines: list[str], nl: str, opens_definition: bool = False) -> Edit:
        """Insert import ``lines`` after document line ``anchor`` (see ``ModuleContext.import_anchor``).

        ``opens_definition``: what follows at the top of the file is a ``def``/``class``
        (two blank lines after the imports, PEP 8).
        """
        text = "".join(line + nl for line in lines)
        has_imports = any(end == anchor for end in self.context.import_lines)
        if anchor == 0:
            anchor = self._after_leading_comments()
            text += nl * 2 if opens_definition else nl
        elif not has_imports:  # right after the docstring
            text = nl + text
        return self._insertion(anchor + 1, text, nl)

    def _insertion(self, line: int, text: str, nl: str) -> Edit:
        """Insert ``text`` at the start of ``line`` (1-based); past the end, after a newline."""
        if line > len(self.lines) and self.lines and not self.lines[-1].endswith(("\n", "\r")):
            text = nl + text
        if line > len(self.lines) + 1:
            line = len(self.lines) + 1
        return Edit(Range(Position(line, 0), Position(line, 0)), text)

    def _definitions_edit(self, index: int, definitions: list[str], nl: str) -> Edit:
        """Module-level definitions (code without final newline) go before the chunk at ``index``, PEP 8 spaced.

        Functions and classes go right above the chunk (and its comments) with two
        blank lines after them. Simple statements (constants) go right after the
        previous top-level statement: a block of constants grows in place.
        ``index`` may be the number of chunks: then after the last statement.
        """
        blocks = [code + nl for code in definitions]
        compound = any(DEFINITION_START.match(code) for code in definitions)
        if index >= len(self.chunks):
            previous = self.chunks[-1]
            lead = nl * 2 if compound or DEFINITION_START.match(previous.text.lstrip()) else nl
            return self._insertion(previous.end + 1, lead + "".join(blocks), nl)
        chunk = self.chunks[index]
        if compound or index == 0:
            gap = nl * 2 if compound or DEFINITION_START.match(chunk.text.lstrip()) else ""
            return self._insertion(self._definition_line(chunk), gap.join(blocks) + gap, nl)
        previous = self.chunks[index - 1]
        first = previous.text.lstrip()
        if DEFINITION_START.match(first):
            lead = nl * 2
        elif first.startswith(("import ", "from ")) or first.startswith(('"', "'")):
            lead = nl
        else:
            lead = ""
        trail = ""
        if previous.end + 1 == self._definition_line(chunk):  # no blank line between the two statements
            trail = nl * 2 if DEFINITION_START.match(chunk.text.lstrip()) else ""
        return self._insertion(previous.end + 1, lead + "".join(blocks) + trail, nl)

    def _definition_line(self, chunk: Statement) -> int:
        """The line to insert a module-level definition for ``chunk``: above its leading comments."""
        line = chunk.start
        while line > 1 and self.lines[line - 2].lstrip().startswith("#") and not self.lines[line - 2].startswith("#!"):
            line -= 1
        return line

    def _after_leading_comments(self) -> int:
        line = 0
        while line < len(self.lines) and self.lines[line].startswith("#"):
            line += 1
        return line
