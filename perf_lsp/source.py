"""Splitting a document into top-level statements ("chunks").

Analysis works per top-level statement so that one edited function is re-parsed
and re-checked alone: a chunk's results are cached by its text. A class goes
further: it is split into its header and its members (``Chunk.layout``, see
:mod:`perf_lsp.analysis.units`), and an edit that stays inside one member is
re-split by parsing that member alone (after its class's header lines). Splitting uses
:func:`ast.parse` (C-speed: ~33 ms on 6,400 lines) for statement line spans; when
the document does not parse (the user is mid-edit), a line-based fallback still
finds the statements around the broken one, and the broken one is skipped.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from perf_lsp.analysis.module import ModuleContext, build_module_context
from perf_lsp.analysis.units import ClassLayout, Member, class_layout, replace_member
from perf_lsp.text import split_lines


@dataclass(frozen=True)
class Chunk:
    """One top-level statement (with its decorators): lines ``start``..``end``, 1-based, inclusive.

    ``text`` is exactly those lines of the document, line endings included;
    ``nodes`` are the :mod:`ast` statements of the chunk, used by the rules' cheap
    structural prefilters (empty when unknown); ``shift`` is what to add to their
    line numbers to get document lines (they keep the numbers of the parse that
    made them when an edit elsewhere moves the chunk). ``layout``: a class split into
    header and members (:mod:`perf_lsp.analysis.units`), analysed unit by unit.
    """

    start: int
    end: int
    text: str
    nodes: tuple[ast.stmt, ...] = field(default=(), compare=False, repr=False)
    shift: int = field(default=0, compare=False, repr=False)
    layout: ClassLayout | None = field(default=None, compare=False, repr=False)
    lines: Sequence[str] | None = field(default=None, compare=False, repr=False)
    """For a chunk with a ``layout``: its lines (``"".join(lines) == text``), which its units are cut from
    without splitting the text again (a 3,300-line class: ~2 ms a keystroke); else None."""

    def moved(self, delta: int) -> "Chunk":
        """The same chunk ``delta`` lines further down."""
        return Chunk(
            self.start + delta, self.end + delta, self.text, self.nodes, self.shift + delta, self.layout, self.lines
        )


@dataclass
class SplitResult:
    """The chunks of a document, its module context and the syntax error if it has one.

    ``syntax_error`` is ``"line N: message"`` when :func:`ast.parse` rejected the
    document; the chunks then come from the line-based fallback.
    """

    chunks: list[Chunk]
    context: ModuleContext
    syntax_error: str | None


_CONTINUATION = re.compile(r"(else|elif|except|finally)\b|[)\]}]")

TOO_DEEP = "too deeply nested"
"""The error of a statement (or document) nested too deeply to check."""

MAX_NESTING = 200
"""How deep libcst's tree of one statement may be (an estimate from :mod:`ast`, see :func:`too_deep`).

libcst generates code, computes positions and runs transforms recursively, about
three Python frames per level of its tree, under Python's limit of 1,000 frames:
code generation failed from about 280 levels (``f(f(f(...)))`` 140 calls deep,
``x[x[x[...]]]`` 95) to 320 (a 320-branch ``elif`` chain, ``x + x + ...`` with 320
terms). Real code stays under 40 (the standard library's ``_pydecimal.py``: 23).
Its native parser also crashed the interpreter (a stack overflow) on some
statements thousands of levels deep (``x and x and ...`` with 10,000 terms, an
``import a.a.a...`` 10,000 names long), and took 15 s on ``x + x + ...`` with
2,900 terms: a statement over the limit is never given to libcst.
"""

# ast messages for input too deep for CPython itself (3.10-3.13)
_DEPTH_MESSAGES = ("too many nested parentheses", "too many levels of indentation", "too complex", "stack overflow")

# How many levels of libcst's tree an ast node stands for, where it is more than one:
# ``f(x)`` is Call > Arg > x; ``x[i]`` Subscript > SubscriptElement > Index > i; ``[x]`` List > Element > x;
# a comprehension's ``for`` is CompFor > (CompIf); a block is IndentedBlock > statement line > statement.
_WEIGHT = {
    ast.Call: 2,
    ast.Subscript: 3,
    ast.List: 2,
    ast.Tuple: 2,
    ast.Set: 2,
    ast.Dict: 2,
    ast.comprehension: 2,
    ast.ListComp: 2,
    ast.SetComp: 2,
    ast.DictComp: 2,
    ast.GeneratorExp: 2,
    ast.Slice: 2,
    ast.Starred: 2,
    ast.JoinedStr: 2,
    ast.FormattedValue: 2,
}
_STRING_PART = re.compile(r"[ \t]*(?:[rRbBuUfF]{0,2})['\"]")


def too_deep(nodes: Sequence[ast.AST], lines: Sequence[str], limit: int = MAX_NESTING) -> bool:
    """Whether libcst's tree of these statements could be more than ``limit`` levels deep.

    ``nodes``: :mod:`ast` statements parsed from ``lines`` (line numbers 1-based
    into ``lines``). An upper estimate, not an exact depth: each ast node counts
    for the libcst levels it becomes (:data:`_WEIGHT`; a block of statements is
    IndentedBlock > statement line, an ``elif`` is an If in the If before it);
    where ast is flat and libcst nests, the extra levels are added: ``a and b
    and c`` (one BoolOp, a BooleanOperation per ``and``), an implicit
    concatenation of strings (one Constant, a ConcatenatedString per part: a
    line of its span that starts with a quote counts as a part), a dotted import
    (an Attribute per dot). Iterative: never recurses, stops at the first path
    over the limit.
    """
    stack: list[tuple[ast.AST, int]] = [(node, _BLOCK) for node in nodes]
    while stack:
        node, depth = stack.pop()
        depth += _node_weight(node, lines)
        if depth > limit:
            return True
        for name, value in ast.iter_fields(node):
            if isinstance(value, ast.AST):
                stack.append((value, depth))
            elif isinstance(value, list) and value:
                extra = 0
                if isinstance(value[0], ast.stmt):
                    elif_ = name == "orelse" and isinstance(node, ast.If) and len(value) == 1 and isinstance(value[0], ast.If)
                    extra = 0 if elif_ else _BLOCK + (name in ("orelse", "finalbody"))
                stack.extend((item, depth + extra) for item in value if isinstance(item, ast.AST))
    return False


_BLOCK = 2  # IndentedBlock > statement line (SimpleStatementLine, or the compound statement itself)


def _node_weight(node: ast.AST, lines: Sequence[str]) -> int:
    kind = type(node)
    weight = _WEIGHT.get(kind, 1)
    if kind is ast.BoolOp:
        weight += len(node.values) - 1
    elif kind is ast.Constant or kind is ast.JoinedStr:
        first, last = getattr(node, "lineno", 0), getattr(node, "end_lineno", 0) or 0
        if last > first:  # parts on later lines of the span: a line that starts with a string
            weight += sum(1 for line in lines[first:last] if _STRING_PART.match(line))
    elif kind is ast.alias:
        weight += node.name.count(".")
    elif kind is ast.ImportFrom:
        weight += (node.module or "").count(".")
    return weight


def depth_error(text: str) -> str | None:
    """:data:`TOO_DEEP` when the statement(s) ``text`` must not go to libcst, else None (see :func:`parse_checked`)."""
    return parse_checked(text)[1]


def parse_checked(text: str, depth: bool = True) -> tuple[ast.Module | None, str | None]:
    """``text``'s :func:`ast.parse` (None when it does not parse) and :data:`TOO_DEEP` when it must not go to libcst.

    Parses ``text`` with :mod:`ast` (C-speed). Too deep: ast itself gives up
    (``RecursionError``, ``MemoryError``, "too many nested parentheses"), or
    :func:`too_deep`. Text ast rejects for another reason (a syntax error, syntax
    newer than this interpreter) is too deep when its brackets nest more than
    half of :data:`MAX_NESTING` or a line has more than that many ``and``/``or``/
    operators: libcst gets the rest, as before. ``depth=False``: the tree that
    parses is not measured (the caller does it when it must, :func:`statements_too_deep`).
    """
    try:
        tree = ast.parse(text)
    except (RecursionError, MemoryError):
        return None, TOO_DEEP
    except SyntaxError as exc:
        if any(message in str(exc.msg) for message in _DEPTH_MESSAGES):
            return None, TOO_DEEP
        return None, TOO_DEEP if _text_too_deep(text) else None
    except ValueError:  # null bytes: libcst says why
        return None, None
    if not depth:
        return tree, None
    return tree, TOO_DEEP if too_deep(tree.body, split_lines(text)) else None


def statements_too_deep(nodes: Sequence[ast.AST], lines: Sequence[str], blocks: int) -> bool:
    """:func:`too_deep` for statements that sit ``blocks`` indented blocks deep in their text.

    Each block around them costs libcst's tree three levels (the compound statement,
    its IndentedBlock, the statement line), counted against :data:`MAX_NESTING`.
    """
    return too_deep(nodes, lines, MAX_NESTING - 3 * blocks)


_BRACKET = re.compile(r"[(\[{]|[)\]}]")
_CHAIN = re.compile(r"\b(?:and|or)\b|[-+*/%@&|^.]")


def _text_too_deep(text: str) -> bool:
    """For text ast cannot parse: brackets nested deeper than half the limit, or a long operator chain on one line."""
    depth = 0
    for match in _BRACKET.finditer(text):
        if match.group() in "([{":
            depth += 1
            if depth > MAX_NESTING // 2:
                return True
        else:
            depth = max(0, depth - 1)
    return any(len(line) > MAX_NESTING and len(_CHAIN.findall(line)) > MAX_NESTING for line in text.splitlines())


def _spans_from_ast(body: list[ast.stmt]) -> list[tuple[int, int, tuple[ast.stmt, ...]]]:
    spans: list[tuple[int, int, tuple[ast.stmt, ...]]] = []
    for stmt in body:
        start = stmt.lineno
        for deco in getattr(stmt, "decorator_list", ()):
            start = min(start, deco.lineno)
        end = stmt.end_lineno or stmt.lineno
        if spans and start <= spans[-1][1]:
            first, last, nodes = spans[-1]
            spans[-1] = (first, max(end, last), (*nodes, stmt))
        else:
            spans.append((start, end, (stmt,)))
    return spans


def _spans_fallback(lines: list[str]) -> list[tuple[int, int]]:
    """Statement spans guessed from indentation: a chunk starts at a column-0 line."""
    starts: list[int] = []
    after_decorator = False
    for index, line in enumerate(lines, start=1):
        stripped = line.strip()
        if not stripped or line[0] in " \t#" or _CONTINUATION.match(line):
            continue
        if not after_decorator:
            starts.append(index)
        after_decorator = line.startswith("@")
    spans: list[tuple[int, int]] = []
    for i, start in enumerate(starts):
        end = (starts[i + 1] - 1) if i + 1 < len(starts) else len(lines)
        while end > start and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")):
            end -= 1
        spans.append((start, end))
    return spans


def split_document(source: str, lines: list[str] | None = None) -> SplitResult:
    """Split ``source`` into chunks and collect its module context.

    Never raises on bad input: a syntax error is returned in ``syntax_error``.
    A document too deeply nested for :func:`ast.parse` (``RecursionError``; it
    is valid Python, CPython's compiler accepts it) is split by indentation and
    each statement parsed on its own: those ast can parse are checked, the
    others get no nodes (and are reported as too deeply nested by the engine).
    """
    if lines is None:
        lines = split_lines(source)
    try:
        tree = ast.parse(source)
    except (RecursionError, MemoryError):
        return _split_statements(lines, deep=True)
    except (SyntaxError, ValueError) as exc:  # ValueError: null bytes
        lineno = getattr(exc, "lineno", None) or 0
        split = _split_statements(lines, deep=False)
        split.syntax_error = f"line {lineno}: {getattr(exc, 'msg', str(exc))}"
        return split
    chunks = _chunks(lines, _spans_from_ast(tree.body), 0)
    return SplitResult(chunks, _context(chunks), None)


def _split_statements(lines: list[str], deep: bool) -> SplitResult:
    """Chunks from the indentation-based split, each parsed alone (those that do not parse get no nodes).

    ``deep``: the whole document was too deep for ast. Then a statement ast
    rejects only for its depth is fine (no syntax error); one it rejects as
    invalid means the split went wrong, and the document cannot be checked.
    """
    chunks: list[Chunk] = []
    misplit = deepest = 0
    for start, end in _spans_fallback(lines):
        text = "".join(lines[start - 1 : end])
        try:
            part = ast.parse(text)
        except (RecursionError, MemoryError):
            deepest = deepest or start
            chunks.append(Chunk(start, end, text))
            continue
        except (SyntaxError, ValueError):
            misplit = misplit or start
            chunks.append(Chunk(start, end, text))
            continue
        layout = _layout(part.body, 0)
        chunks.append(Chunk(start, end, text, tuple(part.body), start - 1, layout, lines[start - 1 : end] if layout else None))
    error = f"line {deepest or misplit}: {TOO_DEEP}" if deep and misplit else None
    return SplitResult(chunks, _context(chunks), error)


def split_incremental(
    old_lines: list[str], old: SplitResult, new_lines: list[str], same: tuple[int, int] = (0, 0)
) -> SplitResult | None:
    """Re-split after an edit by parsing only the statements the edit touched.

    Lines before and after the changed ones are compared with the previous
    version; the chunks around the change (plus the one before it, which an
    indented new line may extend) are parsed again on their own, the others are
    kept and moved. Returns None when that cannot be done safely (the previous
    document did not parse, or the changed region does not parse on its own):
    the caller then splits the whole document. ``same``: how many lines at the start
    and at the end the caller already knows to be equal (not overlapping;
    :func:`perf_lsp.text.split_lines_after_edit`), so they are not compared again.
    """
    if old.syntax_error is not None:
        return None
    n_old, n_new = len(old_lines), len(new_lines)
    first = same[0]
    limit = min(n_old, n_new)
    while first < limit and old_lines[first] == new_lines[first]:
        first += 1
    if first == n_old == n_new:
        return old
    tail = min(same[1], limit - first)
    while tail < limit - first and old_lines[n_old - 1 - tail] == new_lines[n_new - 1 - tail]:
        tail += 1
    # changed lines: old [first, n_old - tail), new [first, n_new - tail) (0-based)
    inside = _split_member(old, new_lines, first, n_old - tail, n_new - n_old)
    if inside is not None:
        return inside
    lo = first  # 0-based first line of the region to re-parse
    hi = n_old - tail  # 0-based end (exclusive) of the region in the old document
    index_lo, found = 0, False
    for index, chunk in enumerate(old.chunks):
        if chunk.start - 1 <= first:
            index_lo, found = index, True  # the chunk containing or preceding the change
    index_hi = index_lo
    for index in range(index_lo, len(old.chunks)):
        if old.chunks[index].start - 1 < max(hi, first + 1):
            index_hi = index + 1  # chunks that start before the change ends
    if found:
        lo = min(lo, old.chunks[index_lo].start - 1)
    if index_hi > index_lo:
        hi = max(hi, old.chunks[index_hi - 1].end)
    delta = n_new - n_old
    region = new_lines[lo : hi + delta]
    try:
        tree = ast.parse("".join(region))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    if region and region[-1].rstrip("\r\n").endswith("\\"):
        return None
    middle = _chunks(new_lines, [(s + lo, e + lo, nodes) for s, e, nodes in _spans_from_ast(tree.body)], lo)
    chunks = [*old.chunks[:index_lo], *middle, *(c.moved(delta) for c in old.chunks[index_hi:])]
    return SplitResult(chunks, _context(chunks), None)


def _split_member(old: SplitResult, new_lines: list[str], first: int, old_end: int, delta: int) -> SplitResult | None:
    """Re-split after an edit that stays inside one member of a split class, parsing only that member.

    ``first``..``old_end``: the changed lines of the old document (0-based, end
    exclusive); ``delta``: lines added. The member's lines (with the blank and
    comment lines after it, up to the next member) are parsed with :mod:`ast`
    after the headers of the classes around it, which keeps its lines' columns;
    None when the edit is not inside one member or the result is not a class body
    of one or more members there (the caller then parses more).
    """
    index = next((i for i, c in enumerate(old.chunks) if c.start - 1 <= first and old_end <= c.end), None)
    if index is None or old.chunks[index].layout is None:
        return None
    chunk = old.chunks[index]
    lo, hi = first - chunk.start + 2, old_end - chunk.start + 1  # changed lines of the chunk: lo..hi (1-based)
    layout: ClassLayout = chunk.layout
    base = 0  # chunk line of the layout's line 1, minus 1
    path: list[int] = []
    headers: list[tuple[int, int]] = []
    while True:
        headers.append((base + 1, base + layout.header_end))
        found = None
        for position, member in enumerate(layout.members):
            following = layout.members[position + 1].start - 1 if position + 1 < len(layout.members) else member.end
            if base + member.start <= lo and hi <= base + following:
                found = position, member, following
                break
        if found is None:
            return None
        position, member, following = found
        path.append(position)
        inner = member.layout
        if inner is not None and any(
            base + m.start - 1 + member.start <= lo and hi <= base + member.start - 1 + (inner.members[k + 1].start - 1 if k + 1 < len(inner.members) else m.end)
            for k, m in enumerate(inner.members)
        ):
            base += member.start - 1
            layout = inner
            continue
        break
    start = chunk.start + base + member.start - 1  # document line where the member starts
    end = chunk.start + base + following - 1 + delta  # its last line (or the next member's), after the edit
    if end < start:
        return None
    prefix: list[str] = []
    for first_line, last_line in headers:
        prefix.extend(new_lines[chunk.start + first_line - 2 : chunk.start + last_line - 1])
    region = new_lines[start - 1 : end]
    if not region or region[-1].rstrip("\r\n").endswith("\\") or not region[-1].endswith(("\n", "\r")):
        return None
    try:
        tree = ast.parse("".join(prefix) + "".join(region))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    body: list[ast.stmt] = tree.body
    for _ in headers:
        if len(body) != 1 or not isinstance(body[0], ast.ClassDef):
            return None
        body = body[0].body
    skip = len(prefix)  # statements must start after the headers
    if not body or any(min([s.lineno, *(d.lineno for d in getattr(s, "decorator_list", ()))]) <= skip for s in body):
        return None
    offset = skip + 1 - member.start  # ast line - offset = line of the innermost layout
    # The new statements must be indented as their siblings are (ast accepts any indentation for a body alone).
    sibling = layout.members[position - 1 if position else position + 1]
    sibling_line = new_lines[chunk.start + base + sibling.start - 2 + (delta if position == 0 else 0)]
    indent = sibling_line[: len(sibling_line) - len(sibling_line.lstrip(" \t"))]
    for stmt in body:
        line = new_lines[start - 1 + min([stmt.lineno, *(d.lineno for d in getattr(stmt, "decorator_list", ()))]) - skip - 1]
        if line[: len(indent)] != indent or line[len(indent) : len(indent) + 1] in (" ", "\t"):
            return None
    new_members: list[Member] = []
    for stmt in body:
        first_line = min([stmt.lineno, *(d.lineno for d in getattr(stmt, "decorator_list", ()))])
        last_line = stmt.end_lineno or stmt.lineno
        if new_members and first_line - offset <= new_members[-1].end:
            previous = new_members[-1]
            new_members[-1] = Member(previous.start, max(previous.end, last_line - offset), (*previous.nodes, stmt))
        else:
            new_members.append(Member(first_line - offset, last_line - offset, (stmt,)))
    new_members = [
        Member(m.start, m.end, m.nodes, class_layout(m.nodes[0], m.start + offset - 1) if len(m.nodes) == 1 else None)
        for m in new_members
    ]
    top = replace_member(chunk.layout, path, new_members, delta)
    new_end = chunk.start + top.members[-1].end - 1
    own = new_lines[chunk.start - 1 : new_end]
    replaced = Chunk(chunk.start, new_end, "".join(own), (top.node,), chunk.shift, top, own)
    chunks = [*old.chunks[:index], replaced, *(c.moved(delta) for c in old.chunks[index + 1 :])]
    return SplitResult(chunks, _context(chunks), None)


def _context(chunks: list[Chunk]) -> ModuleContext:
    return build_module_context([(node, chunk.shift) for chunk in chunks for node in chunk.nodes])


def _chunks(lines: list[str], spans: list[tuple[int, int, tuple[ast.stmt, ...]]], shift: int) -> list[Chunk]:
    chunks = []
    for start, end, nodes in spans:
        own = lines[start - 1 : end]
        layout = _layout(nodes, start - shift - 1)
        chunks.append(Chunk(start, end, "".join(own), nodes, shift, layout, own if layout is not None else None))
    return chunks


def _layout(nodes: Sequence[ast.stmt], offset: int) -> ClassLayout | None:
    """The split of a chunk that is one class (its first line is ast line ``offset + 1``), else None."""
    return class_layout(nodes[0], offset) if len(nodes) == 1 else None


_NEWER_SYNTAX: tuple[tuple[str, tuple[int, int]], ...] = (
    ("TryStar", (3, 11)),  # except*
    ("TypeAlias", (3, 12)),  # type X = ...
    ("TypeParameters", (3, 12)),  # def f[T](), class C[T]
    ("FormattedString", (3, 12)),  # PEP 701: quotes, backslashes, comments inside f-string braces
    ("TemplatedString", (3, 14)),  # t"..."
)


def needs_newer_python(source: str, line: int) -> tuple[int, int] | None:
    """The Python version whose syntax ``source`` needs, when that explains why :func:`ast.parse`
    (the running interpreter's grammar) rejected it at ``line`` (1-based); else None.

    libcst's parser is not tied to the running interpreter: when it accepts the whole
    document and the top-level statement holding ``line`` contains a construct newer
    than the running Python (``type X = int``, type parameters, a PEP 701 f-string,
    ``except*``, a t-string, an unparenthesised ``except A, B:``), that construct's
    version is returned. Plain syntax errors (libcst rejects them too) give None.
    Costs one libcst parse; call it only after ``ast.parse`` failed. Never raises.
    """
    import sys

    import libcst as cst
    from libcst.metadata import MetadataWrapper, PositionProvider

    try:
        module = cst.parse_module(source)
        wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
        positions = wrapper.resolve(PositionProvider)
    except Exception:  # ParserSyntaxError, RecursionError, MemoryError... : not newer syntax
        return None
    statement = next(
        (s for s in module.body if positions[s].start.line <= line <= positions[s].end.line), None
    )
    if statement is None:
        return None
    kinds = {name: version for name, version in _NEWER_SYNTAX if version > sys.version_info[:2]}
    found: list[tuple[int, int]] = []

    class Finder(cst.CSTVisitor):
        def on_visit(self, node: cst.CSTNode) -> bool:
            version = kinds.get(type(node).__name__)
            if version is not None:
                found.append(version)
            if isinstance(node, (cst.ExceptHandler, cst.ExceptStarHandler)) and (3, 14) > sys.version_info[:2]:
                kind = node.type
                if isinstance(kind, cst.Tuple) and not kind.lpar:
                    found.append((3, 14))  # PEP 758: except A, B:
            return True

    try:
        statement.visit(Finder())
    except RecursionError:
        return None
    return max(found) if found else None
