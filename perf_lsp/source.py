"""Splitting a document into top-level statements ("chunks").

Analysis works per top-level statement so that one edited function is re-parsed
and re-checked alone: a chunk's results are cached by its text. Splitting uses
:func:`ast.parse` (C-speed: ~33 ms on 6,400 lines) for statement line spans; when
the document does not parse (the user is mid-edit), a line-based fallback still
finds the statements around the broken one, and the broken one is skipped.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from perf_lsp.names import ModuleContext, build_module_context


@dataclass(frozen=True)
class Chunk:
    """One top-level statement (with its decorators): lines ``start``..``end``, 1-based, inclusive.

    ``text`` is exactly those lines of the document, line endings included;
    ``nodes`` are the :mod:`ast` statements of the chunk, used by the rules' cheap
    structural prefilters (empty when unknown); ``shift`` is what to add to their
    line numbers to get document lines (they keep the numbers of the parse that
    made them when an edit elsewhere moves the chunk).
    """

    start: int
    end: int
    text: str
    nodes: tuple[ast.stmt, ...] = field(default=(), compare=False, repr=False)
    shift: int = field(default=0, compare=False, repr=False)

    def moved(self, delta: int) -> "Chunk":
        """The same chunk ``delta`` lines further down."""
        return Chunk(self.start + delta, self.end + delta, self.text, self.nodes, self.shift + delta)


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


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


def split_lines(source: str) -> list[str]:
    """Lines of ``source`` with their endings, split only at \\n, \\r\\n and \\r.

    That is how Python's tokenizer, libcst and the LSP count lines;
    ``str.splitlines`` also splits at form feeds and U+2028, which would shift lines.
    """
    return _LINE.findall(source)


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
    """
    if lines is None:
        lines = split_lines(source)
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError) as exc:  # ValueError: null bytes
        lineno = getattr(exc, "lineno", None) or 0
        message = f"line {lineno}: {getattr(exc, 'msg', str(exc))}"
        chunks: list[Chunk] = []
        for start, end in _spans_fallback(lines):
            text = "".join(lines[start - 1 : end])
            try:
                part = ast.parse(text)
            except (SyntaxError, ValueError):
                chunks.append(Chunk(start, end, text))
                continue
            chunks.append(Chunk(start, end, text, tuple(part.body), start - 1))
        return SplitResult(chunks, _context(chunks), message)
    chunks = _chunks(lines, _spans_from_ast(tree.body), 0)
    return SplitResult(chunks, _context(chunks), None)


def split_incremental(old_lines: list[str], old: SplitResult, new_lines: list[str]) -> SplitResult | None:
    """Re-split after an edit by parsing only the statements the edit touched.

    Lines before and after the changed ones are compared with the previous
    version; the chunks around the change (plus the one before it, which an
    indented new line may extend) are parsed again on their own, the others are
    kept and moved. Returns None when that cannot be done safely (the previous
    document did not parse, or the changed region does not parse on its own):
    the caller then splits the whole document.
    """
    if old.syntax_error is not None:
        return None
    n_old, n_new = len(old_lines), len(new_lines)
    first = 0
    limit = min(n_old, n_new)
    while first < limit and old_lines[first] == new_lines[first]:
        first += 1
    if first == n_old == n_new:
        return old
    tail = 0
    while tail < limit - first and old_lines[n_old - 1 - tail] == new_lines[n_new - 1 - tail]:
        tail += 1
    # changed lines: old [first, n_old - tail), new [first, n_new - tail) (0-based)
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
    except (SyntaxError, ValueError):
        return None
    if region and region[-1].rstrip("\r\n").endswith("\\"):
        return None
    middle = _chunks(new_lines, [(s + lo, e + lo, nodes) for s, e, nodes in _spans_from_ast(tree.body)], lo)
    chunks = [*old.chunks[:index_lo], *middle, *(c.moved(delta) for c in old.chunks[index_hi:])]
    return SplitResult(chunks, _context(chunks), None)


def _context(chunks: list[Chunk]) -> ModuleContext:
    return build_module_context([(node, chunk.shift) for chunk in chunks for node in chunk.nodes])


def _chunks(lines: list[str], spans: list[tuple[int, int, tuple[ast.stmt, ...]]], shift: int) -> list[Chunk]:
    return [Chunk(start, end, "".join(lines[start - 1 : end]), nodes, shift) for start, end, nodes in spans]


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
