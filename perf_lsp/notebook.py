"""Jupyter notebooks (nbformat 4): their code cells as one Python module, and fixes written back per cell.

A notebook is read as JSON (:func:`read_notebook`); its code cells, in order, make one
module (:class:`NotebookModule`), which the engine analyses like a file. IPython syntax
is *masked* first, line for line, so that the module keeps every cell's line numbers
and is never asked to parse what is not Python:

- a line magic (``%time f()``, ``%pip install x``), a shell escape (``!ls``) and a
  help request (``obj?``, ``??obj``) become ``pass`` at the line's indentation; an
  assignment from one (``files = !ls``, ``t = %timeit -o f()``) keeps its target
  (``files = None``); the lines a ``\\`` continues become blank;
- a cell magic that runs its body as Python (``%%time``, ``%%timeit``, ``%%capture``,
  ... :data:`PYTHON_CELL_MAGICS`) masks only its own line; a cell with any other cell
  magic (``%%bash``, ``%%writefile``, ``%%sql``) is left out of the module, and so is a
  cell that is not valid Python once masked (:attr:`NotebookModule.skipped` says which
  and why).

Coordinates: a module position is the core's (1-based line, 0-based code-point column,
:mod:`perf_lsp.model`); :meth:`NotebookModule.locate` turns it into (cell, position in
that cell's text) with the same convention, the cell given by its 0-based index among
*all* the notebook's cells (markdown ones included). Reports print that index 1-based
(``cell 3``), as Ruff does.

Writing fixes back (:meth:`NotebookModule.cell_sources`): the fixed module text is
compared with the module line by line; each changed block goes to the cell that owns
its lines. Text inserted between two cells goes to the end of the cell before when it
is imports, to the start of the cell after otherwise (a definition the next cell's
code needs); imports inserted before the first cell go to a new code cell at the top.
A change to a masked line is refused (:class:`NotebookError`). Then
:func:`render_notebook` replaces the ``source`` values of the changed cells in the
file's JSON text, and nothing else: outputs, metadata, ids, key order, indentation and
the trailing newline stay byte for byte; ``source`` stays a list of lines or a string,
as it was.
"""

from __future__ import annotations

import ast
import bisect
import difflib
import json
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from json.decoder import scanstring

from perf_lsp.model import Position, Range
from perf_lsp.text import split_lines

NOTEBOOK_SUFFIX = ".ipynb"

PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun", "debug", "python", "python3", "pypy"})
"""Cell magics whose body is Python: the magic's line is masked, the body analysed. The body of
any other cell magic is not Python (``%%bash``, ``%%writefile``): the cell is left out."""

_LINE_MAGIC = re.compile(r"^([ \t]*)(?:%|!)")
_ASSIGN_MAGIC = re.compile(r"^([ \t]*)([A-Za-z_][\w.]*(?:[ \t]*,[ \t]*[A-Za-z_][\w.]*)*)[ \t]*=[ \t]*[%!]")
_HELP = re.compile(r"^([ \t]*)(?:\?{1,2}[\w.]+(?:\(\))?|[\w.]+(?:\(\))?\?{1,2})[ \t]*$")
_CELL_MAGIC = re.compile(r"^%%(\w+)")


class NotebookError(Exception):
    """A notebook that cannot be used: not JSON, not nbformat 4, not Python, or a fix that cannot be
    written back. The message names the reason, without the path."""


@dataclass(frozen=True)
class Cell:
    """One cell of a notebook: ``index`` 0-based among all cells, ``kind`` (``code``, ``markdown``,
    ``raw``), ``source`` the text (a list of lines joined), ``span`` the offsets of its ``source``
    value in the file's JSON text (``[start, end)``), ``as_list``: ``source`` is a JSON list of lines."""

    index: int
    kind: str
    source: str
    span: tuple[int, int]
    as_list: bool


@dataclass(frozen=True)
class Notebook:
    """A notebook read from JSON text: its cells, the ``cells`` array's span and what writing needs.

    ``nbformat_minor`` decides whether a new cell gets an ``id`` (4.5 and later).
    """

    text: str
    cells: tuple[Cell, ...]
    cells_span: tuple[int, int]
    nbformat_minor: int
    ensure_ascii: bool

    @property
    def code_cells(self) -> tuple[Cell, ...]:
        """The code cells, in order."""
        return tuple(c for c in self.cells if c.kind == "code")


def read_notebook(text: str) -> Notebook:
    """Read a notebook's JSON text; raises NotebookError when it is not valid JSON, not nbformat 4,
    or its kernel's language is not Python (a notebook without a language counts as Python)."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise NotebookError(f"not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise NotebookError("not a notebook (the JSON is not an object)")
    if data.get("nbformat") != 4:
        raise NotebookError(f"not an nbformat 4 notebook (nbformat: {data.get('nbformat')!r})")
    cells = data.get("cells")
    if not isinstance(cells, list) or not all(isinstance(c, dict) for c in cells):
        raise NotebookError("not a notebook ('cells' is not a list of objects)")
    metadata = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    language = _language(metadata)
    if language is not None and language.lower() not in ("python", "python3", "ipython", "ipython3"):
        raise NotebookError(f"not a Python notebook (language: {language})")
    spans = _source_spans(text, len(cells))
    out = []
    for index, cell in enumerate(cells):
        source = cell.get("source", "")
        if isinstance(source, list) and all(isinstance(s, str) for s in source):
            joined, as_list = "".join(source), True
        elif isinstance(source, str):
            joined, as_list = source, False
        else:
            raise NotebookError(f"cell {index + 1}: 'source' is not a string or a list of strings")
        kind = cell.get("cell_type") if isinstance(cell.get("cell_type"), str) else ""
        span = spans[0][index]
        if span is None and kind == "code":
            raise NotebookError(f"cell {index + 1}: a code cell without 'source'")
        out.append(Cell(index, kind, joined, span or (-1, -1), as_list))
    minor = data.get("nbformat_minor") if isinstance(data.get("nbformat_minor"), int) else 0
    ensure_ascii = not any(ord(ch) > 127 for ch in text) and "\\u" in text
    return Notebook(text, tuple(out), spans[1], minor, ensure_ascii)


def _language(metadata: dict) -> str | None:
    info = metadata.get("language_info")
    if isinstance(info, dict) and isinstance(info.get("name"), str):
        return info["name"]
    kernel = metadata.get("kernelspec")
    if isinstance(kernel, dict) and isinstance(kernel.get("language"), str):
        return kernel["language"]
    return None


# -- where the sources are in the JSON text ---------------------------------------------------

_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


def _skip_ws(text: str, i: int) -> int:
    return _WS.match(text, i).end()


def _skip_value(text: str, i: int) -> int:
    return _DECODER.raw_decode(text, i)[1]


def _source_spans(text: str, count: int) -> tuple[list[tuple[int, int] | None], tuple[int, int]]:
    """The ``[start, end)`` offsets of each cell's ``source`` value, and of the ``cells`` array.

    ``text`` is valid JSON (:func:`json.loads` accepted it) whose top level is an object with a
    ``cells`` list of ``count`` objects; the last occurrence of a duplicate key wins, as in json.
    """
    spans: list[tuple[int, int] | None] = [None] * count
    cells_span = (-1, -1)
    i = _skip_ws(text, 0)
    assert text[i] == "{"
    i = _skip_ws(text, i + 1)
    while text[i] != "}":
        key, i = scanstring(text, i + 1)
        i = _skip_ws(text, _skip_ws(text, i) + 1)  # past ':'
        if key == "cells":
            start = i
            spans = [None] * count
            i = _skip_ws(text, i + 1)
            index = 0
            while text[i] != "]":
                spans[index] = _cell_source_span(text, i)
                i = _skip_ws(text, _skip_value(text, i))
                if text[i] == ",":
                    i = _skip_ws(text, i + 1)
                index += 1
            cells_span = (start, i + 1)
            i += 1
        else:
            i = _skip_value(text, i)
        i = _skip_ws(text, i)
        if text[i] == ",":
            i = _skip_ws(text, i + 1)
    return spans, cells_span


def _cell_source_span(text: str, i: int) -> tuple[int, int] | None:
    found = None
    i = _skip_ws(text, i + 1)  # past '{'
    while text[i] != "}":
        key, i = scanstring(text, i + 1)
        i = _skip_ws(text, _skip_ws(text, i) + 1)
        end = _skip_value(text, i)
        if key == "source":
            found = (i, end)
        i = _skip_ws(text, end)
        if text[i] == ",":
            i = _skip_ws(text, i + 1)
    return found


# -- the module --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModuleCell:
    """A code cell's place in the module: ``index`` (0-based among all cells), ``first_line``
    (the module line of its line 1), ``lines`` (its lines as in the cell, with endings; the last one
    gets a ``"\\n"`` in the module when it has none: ``added_newline``), ``masked`` (0-based rows
    whose text the module replaced)."""

    index: int
    first_line: int
    lines: tuple[str, ...]
    added_newline: bool
    masked: frozenset[int]


@dataclass(frozen=True)
class NotebookModule:
    """The code cells of a notebook as one module (see the module docstring).

    ``text``: the module; ``cells``: the cells in it, in order; ``skipped``: (cell index, reason)
    of the code cells left out.
    """

    text: str
    cells: tuple[ModuleCell, ...]
    skipped: tuple[tuple[int, str], ...] = ()
    _firsts: tuple[int, ...] = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_firsts", tuple(c.first_line for c in self.cells))

    def cell_at(self, line: int) -> ModuleCell | None:
        """The cell holding module line ``line`` (1-based), or None past the last cell's lines."""
        k = bisect.bisect_right(self._firsts, line) - 1
        if k < 0:
            return None
        cell = self.cells[k]
        if line >= cell.first_line + max(len(cell.lines), 1):
            return None
        return cell

    def locate(self, pos: Position) -> tuple[int, Position]:
        """(cell index, position in the cell) of a module position; a position past a cell's last
        line (the end of the module) is the end of the last cell."""
        cell = self.cell_at(pos.line)
        if cell is None:
            if not self.cells:
                return 0, pos
            cell = self.cells[-1]
            last = cell.lines[-1] if cell.lines else ""
            return cell.index, Position(max(len(cell.lines), 1), len(last.rstrip("\r\n")))
        return cell.index, Position(pos.line - cell.first_line + 1, pos.column)

    def locate_range(self, rng: Range) -> tuple[int, Range]:
        """(cell index, range in the cell) of a module range; a range that ends in a later cell is cut at
        the end of its first cell."""
        index, start = self.locate(rng.start)
        end_index, end = self.locate(rng.end)
        if end_index != index:
            cell = next(c for c in self.cells if c.index == index)
            last = cell.lines[-1] if cell.lines else ""
            end = Position(max(len(cell.lines), 1), len(last.rstrip("\r\n")))
        return index, Range(start, end)

    def to_module(self, index: int, pos: Position) -> Position | None:
        """The module position of ``pos`` in cell ``index``; None for a cell not in the module."""
        for cell in self.cells:
            if cell.index == index:
                return Position(cell.first_line + pos.line - 1, pos.column)
        return None

    def cell_sources(self, new_text: str, new_cell: bool = True) -> tuple[dict[int, str], str | None]:
        """The new text of each cell that ``new_text`` (the fixed module) changes, and the text of a
        new cell to put before the first cell (None when there is none).

        With ``new_cell`` False (an editor that edits existing cells only), what would go in a new
        cell goes at the start of the first cell instead. Raises NotebookError when a masked line
        would change.
        """
        old = split_lines(self.text)
        new = split_lines(new_text)
        owner: list[int] = []  # position in self.cells of each module line
        for k, cell in enumerate(self.cells):
            owner.extend([k] * len(cell.lines))
        parts: list[list[str]] = [[] for _ in self.cells]
        top: list[str] = []
        changed: set[int] = set()

        def put(cell: int | None, lines: list[str]) -> None:
            """Add ``lines`` to cell ``cell``'s new source, or to the new top cell (None)."""
            if cell is None:
                top.extend(lines)
            else:
                parts[cell].extend(lines)
                changed.add(cell)

        matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag == "equal":
                for i in range(i1, i2):
                    parts[owner[i]].append(self._original(owner[i], i))
                continue
            for i in range(i1, i2):
                k = owner[i]
                if i - self.cells[k].first_line + 1 in self.cells[k].masked:
                    raise NotebookError(
                        f"a fix would change IPython syntax in cell {self.cells[k].index + 1}; not written"
                    )
                changed.add(k)
            added = new[j1:j2]
            if i1 < i2:
                put(owner[i1], added)  # a replaced block: where it starts
                continue
            before = owner[i1 - 1] if i1 > 0 else None
            after = owner[i1] if i1 < len(old) else None
            if before is not None and (after is None or before == after):
                put(before, added)
                continue
            cut = _import_prefix(added)
            head, tail = added[:cut], added[cut:]
            put(before if before is not None else None if new_cell or after is None else after, head)
            if tail:
                while tail and not tail[0].strip():
                    tail = tail[1:]
                put(after if after is not None else before, tail)
        out = {}
        for k in sorted(changed):
            cell = self.cells[k]
            text = _tidy("".join(parts[k]), "".join(cell.lines), cell.added_newline)
            if text != "".join(cell.lines):
                out[cell.index] = text
        new_top = _tidy("".join(top), "", True) if "".join(top).strip() else None
        return out, new_top

    def _original(self, k: int, line_index: int) -> str:
        """Module line ``line_index`` (0-based) as the cell has it (unmasked), with the module's line ending."""
        cell = self.cells[k]
        row = line_index - cell.first_line + 1
        line = cell.lines[row]
        if row == len(cell.lines) - 1 and cell.added_newline:
            line += "\n"
        return line


def _tidy(text: str, original: str, added_newline: bool) -> str:
    """An edited cell's text with the blank lines a fix left at its ends trimmed, and its last line
    ending as the original's (no line ending when the module added one)."""
    if original[:1] not in ("\n", "\r"):
        text = text.lstrip("\r\n")
    body = text.rstrip(" \t\r\n")
    if not body:
        return ""
    if added_newline:
        return body
    ending = original[len(original.rstrip("\r\n")) :]
    return body + (ending or "\n")


def _import_prefix(lines: Sequence[str]) -> int:
    """How many of ``lines`` (inserted text) are imports and blank lines at their start: the longest
    prefix that parses as imports only, ending on an import."""
    best = 0
    for cut in range(1, len(lines) + 1):
        if not lines[cut - 1].strip():
            continue
        try:
            tree = ast.parse("".join(lines[:cut]))
        except (SyntaxError, ValueError):
            continue
        if tree.body and all(isinstance(node, (ast.Import, ast.ImportFrom)) for node in tree.body):
            best = cut
        else:
            break
    return best


def _mask(lines: list[str]) -> tuple[list[str], set[int]]:
    """The lines with IPython syntax masked (see the module docstring); returns them and the masked rows."""
    out = list(lines)
    masked: set[int] = set()
    row = 0
    while row < len(out):
        body = out[row].rstrip("\r\n")
        ending = out[row][len(body) :]
        replacement = None
        match = _ASSIGN_MAGIC.match(body)
        if match:
            replacement = f"{match.group(1)}{match.group(2)} = None"
        else:
            match = _LINE_MAGIC.match(body) or _HELP.match(body)
            if match:
                replacement = f"{match.group(1)}pass"
        if replacement is None:
            row += 1
            continue
        out[row] = replacement + ending
        masked.add(row)
        while body.endswith("\\") and row + 1 < len(out):  # the magic goes on on the next line
            row += 1
            body = out[row].rstrip("\r\n")
            out[row] = out[row][len(body) :] or ""
            masked.add(row)
        row += 1
    return out, masked


def build_module(cells: Notebook | Iterable[tuple[int, str]]) -> NotebookModule:
    """A notebook's code cells as one module (see the module docstring).

    ``cells``: a notebook read from JSON, or the (index among all cells, source) of its code cells
    in order, as an editor sends them.
    """
    if isinstance(cells, Notebook):
        cells = [(c.index, c.source) for c in cells.code_cells]
    parts: list[str] = []
    included: list[ModuleCell] = []
    skipped: list[tuple[int, str]] = []
    line = 1
    for index, source in cells:
        lines = split_lines(source)
        if not lines:
            continue
        first = lines[0].rstrip("\r\n")
        match = _CELL_MAGIC.match(first)
        if match and match.group(1) not in PYTHON_CELL_MAGICS:
            skipped.append((index, f"%%{match.group(1)} cell (not Python)"))
            continue
        masked_lines, masked = _mask(lines)
        if match:  # a Python cell magic: only its line is masked
            masked_lines[0] = "pass" + lines[0][len(first) :]
            masked.add(0)
        added = not masked_lines[-1].endswith(("\n", "\r"))
        if added:
            masked_lines[-1] += "\n"
        text = "".join(masked_lines)
        try:
            ast.parse(text)
        except (SyntaxError, ValueError) as exc:
            where = f" (line {exc.lineno})" if getattr(exc, "lineno", None) else ""
            skipped.append((index, f"not valid Python{where}: {getattr(exc, 'msg', exc)}"))
            continue
        except (RecursionError, MemoryError):
            skipped.append((index, "nested too deeply to parse"))
            continue
        parts.append(text)
        included.append(ModuleCell(index, line, tuple(lines), added, frozenset(masked)))
        line += len(lines)
    return NotebookModule("".join(parts), tuple(included), tuple(skipped))


# -- writing back ------------------------------------------------------------------------------


def _line_list(text: str) -> list[str]:
    """A cell's text as nbformat stores it in a list: ``str.splitlines(keepends=True)``."""
    return text.splitlines(keepends=True)


def _indent_of(text: str, start: int) -> str:
    """The whitespace from the start of ``start``'s line to the first non-blank character."""
    line_start = text.rfind("\n", 0, start) + 1
    return re.match(r"[ \t]*", text[line_start:]).group(0)


def _encode_source(notebook: Notebook, old_span: tuple[int, int], as_list: bool, source: str) -> str:
    """A ``source`` JSON value for ``source`` in the formatting of the value at ``old_span``."""
    dump = lambda s: json.dumps(s, ensure_ascii=notebook.ensure_ascii)  # noqa: E731
    if not as_list:
        return dump(source)
    items = [dump(s) for s in _line_list(source)]
    old = notebook.text[old_span[0] : old_span[1]]
    if not items:
        return "[]"
    match = re.match(r"\[(\s*)", old)
    lead = match.group(1)
    trail = re.search(r"(\s*)\]$", old).group(1)
    if old.strip("[] \t\r\n") == "":  # an empty list: one item a line, one unit deeper than the key
        key_indent = _indent_of(notebook.text, old_span[0])
        unit = _indent_unit(notebook.text)
        newline = _newline(notebook.text)
        lead = newline + key_indent + unit if unit is not None else ""
        trail = newline + key_indent if unit is not None else ""
    sep = ","
    between = re.search(r'",(\s*)"', old)
    sep += between.group(1) if between else lead
    return "[" + lead + sep.join(items) + trail + "]"


def _indent_unit(text: str) -> str | None:
    """The file's indentation unit (the whitespace before its first key), or None for one-line JSON."""
    match = re.match(r"\{\r?\n([ \t]+)\"", text)
    return match.group(1) if match else None


def _newline(text: str) -> str:
    """The file's line ending (``"\\r\\n"`` when its first line ends so, else ``"\\n"``)."""
    first = text.find("\n")
    return "\r\n" if first > 0 and text[first - 1] == "\r" else "\n"


def render_notebook(notebook: Notebook, sources: dict[int, str], new_cell: str | None = None) -> str:
    """The notebook's JSON text with the ``source`` of the cells in ``sources`` (cell index -> text)
    replaced and, with ``new_cell``, a new code cell holding it inserted before the first cell.
    Everything else is the original text, byte for byte."""
    text = notebook.text
    pieces: list[tuple[int, int, str]] = []
    for index, source in sources.items():
        cell = notebook.cells[index]
        pieces.append((cell.span[0], cell.span[1], _encode_source(notebook, cell.span, cell.as_list, source)))
    if new_cell is not None:
        pieces.append(_new_cell_piece(notebook, new_cell))
    out = []
    cursor = 0
    for start, end, replacement in sorted(pieces):
        out.append(text[cursor:start])
        out.append(replacement)
        cursor = end
    out.append(text[cursor:])
    return "".join(out)


def _new_cell_piece(notebook: Notebook, source: str) -> tuple[int, int, str]:
    """An insertion of a new code cell at the start of the ``cells`` array, formatted like its neighbours."""
    text = notebook.text
    start = notebook.cells_span[0] + 1
    first = _skip_ws(text, start)
    lead = text[start:first]
    unit = _indent_unit(text)
    cell_indent = _indent_of(text, first) if "\n" in lead else ""
    template = notebook.code_cells[0] if notebook.code_cells else None
    as_list = template.as_list if template is not None else True
    cell = {"cell_type": "code", "execution_count": None}
    if notebook.nbformat_minor >= 5:
        cell["id"] = uuid.uuid4().hex[:8]
    cell.update({"metadata": {}, "outputs": [], "source": _line_list(source) if as_list else source})
    dumped = json.dumps(cell, indent=unit, ensure_ascii=notebook.ensure_ascii)
    if unit is not None:
        dumped = dumped.replace("\n", _newline(text) + cell_indent)
    if notebook.cells:
        return start, first, lead + dumped + "," + lead
    return start, first, lead + dumped
