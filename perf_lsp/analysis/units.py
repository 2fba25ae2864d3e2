"""Units of analysis inside a top-level class: its header and each of its members.

A top-level statement is the unit of analysis (:mod:`perf_lsp.source`), except a
class: it is split into its *header* (decorators, the ``class`` line(s) and the
class-body statements that are not definitions) and its *members* (each
``def``/``async def``/nested class with its decorators; nested classes split the
same way, recursively; functions stay whole, nested functions inside theirs).

A unit is analysed with libcst on its own *text*: the headers of the classes
around it, then the members it reads (:func:`perf_lsp.analysis.classes.context`),
then itself, each as whole document lines, in document order: the class with the
members it cannot depend on left out. Columns are the document's; lines map back
piece by piece (:meth:`Unit.chunk_line`). Findings on lines of the unit's own
pieces are its own; findings on the other pieces belong to their own units and are
dropped. The unit's cache key is its text and the lines it owns, so a keystroke
inside a method re-checks that method and the units that read it, nothing else.

Lines here are 1-based. A :class:`ClassLayout` counts from its own first line (its
first decorator, or the ``class`` line), so a layout moves with its class
unchanged; a :class:`Unit` counts in the top-level statement (the chunk).
"""

from __future__ import annotations

import ast
import copy
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from perf_lsp.analysis.classes import (
    THREAD_LOCKS,
    MemberFacts,
    class_imports,
    class_index,
    context,
    member_facts,
    splittable,
)

_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")  # lines as the tokenizer counts them


@dataclass(eq=False)
class Member:
    """One class-body statement (or several sharing lines): lines ``start``..``end`` of its class's layout.

    ``start`` is its first decorator's line; ``nodes`` its :mod:`ast` statements
    (their own line numbers are not used); ``layout``: the split of a nested class.
    """

    start: int
    end: int
    nodes: tuple[ast.stmt, ...]
    layout: "ClassLayout | None" = None

    @cached_property
    def facts(self) -> MemberFacts:
        """What it offers its siblings and reads from them (computed on first use)."""
        return member_facts(self.nodes)

    @property
    def is_unit(self) -> bool:
        """A definition (``def``, ``async def``, ``class``): a unit of its own, not part of the header."""
        return len(self.nodes) == 1 and isinstance(self.nodes[0], (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))

    @cached_property
    def signature(self) -> tuple[int, str, str] | None:
        """For a ``def`` whose body starts on a line of its own: (its last header line, in its class's lines;
        its body's indentation; its first parameter), else None."""
        node = self.nodes[0] if len(self.nodes) == 1 else None
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or not node.body:
            return None
        first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        inner = node.body[0]
        body = min([inner.lineno, *(d.lineno for d in getattr(inner, "decorator_list", ()))])
        if body <= node.lineno:
            return None
        args = node.args
        param = (args.posonlyargs or args.args or [None])[0]
        indent = " " * inner.col_offset
        return self.start + body - first - 1, indent, param.arg if param is not None else "self"

    def moved(self, delta: int) -> "Member":
        """The same member ``delta`` lines further down its class (itself when ``delta`` is 0)."""
        if not delta:
            return self
        moved = Member(self.start + delta, self.end + delta, self.nodes, self.layout)
        if "facts" in self.__dict__:
            moved.__dict__["facts"] = self.__dict__["facts"]
        if "signature" in self.__dict__ and self.__dict__["signature"] is not None:
            end, indent, param = self.__dict__["signature"]
            moved.__dict__["signature"] = (end + delta, indent, param)
        return moved


@dataclass(eq=False)
class ClassLayout:
    """A class split into header and members; lines count from the class's first line (1).

    ``node``: the class's :mod:`ast` node (a copy with the current members' nodes
    after an incremental re-parse); ``header_end``: the last header line (the line
    before the first member); ``members``: every class-body statement, in order.
    """

    node: ast.ClassDef
    header_end: int
    members: tuple[Member, ...]
    _units: "dict[frozenset[str], list[Unit]]" = field(default_factory=dict, repr=False)
    _made: "dict[tuple, Any]" = field(default_factory=dict, repr=False)
    """Units made for this class and the versions it was re-split from, by what they are made of
    (the :class:`Member` objects, which change whenever their lines do), and the members' contexts
    by their facts: a keystroke inside one method rebuilds the units that include it, not the
    class's every unit."""

    @cached_property
    def header_facts(self) -> MemberFacts:
        """What the decorators, bases and keywords read."""
        return member_facts(self.header_nodes, header=True)

    @property
    def header_nodes(self) -> tuple[ast.AST, ...]:
        node = self.node
        return (*node.decorator_list, *node.bases, *(k.value for k in node.keywords))

    def splittable(self) -> bool:
        """Whether the class (and every class nested in it) can be analysed member by member."""
        return splittable([m.facts for m in self.members])


def class_layout(node: ast.stmt, offset: int) -> ClassLayout | None:
    """The layout of class ``node`` whose first line is line ``offset + 1`` of its ast's numbering.

    None when the class cannot be split: not a class, a body on the ``class`` line,
    fewer than two members, or members sharing a line with the header.
    """
    if not isinstance(node, ast.ClassDef) or not node.body:
        return None
    spans: list[list] = []
    for stmt in node.body:
        start = min([stmt.lineno, *(d.lineno for d in getattr(stmt, "decorator_list", ()))])
        end = stmt.end_lineno or stmt.lineno
        if spans and start <= spans[-1][1]:
            spans[-1][1] = max(end, spans[-1][1])
            spans[-1][2].append(stmt)
        else:
            spans.append([start, end, [stmt]])
    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    header_end = spans[0][0] - 1 - offset
    if first - offset != 1 or header_end < node.lineno - offset or len(spans) < 2:
        return None
    members = []
    for start, end, stmts in spans:
        nested = class_layout(stmts[0], start - 1) if len(stmts) == 1 else None
        members.append(Member(start - offset, end - offset, tuple(stmts), nested))
    return ClassLayout(node, header_end, tuple(members))


@dataclass(frozen=True, eq=False)
class Unit:
    """One unit of a split class: the text libcst parses and how its lines map to the chunk.

    ``pieces``: (first line in ``text``, first line in the chunk, number of lines,
    owned) for each run of whole lines, in order; a piece with chunk line 0 is
    synthetic: a ``pass`` giving a header without body statements a body, or the
    body of a stub (a caller of a private method: ``self._m`` lines after its
    signature, see :func:`perf_lsp.analysis.classes.context`).
    ``nodes``: the :mod:`ast` nodes of the text (for the rules' prefilters);
    ``imports``: the class's imports (the whole statement's, as rules resolve
    names through them), None when they must come from the whole statement;
    ``import_text``: the class's import statements as code, for the rules' text
    prefilters (a rule may apply because a sibling imports a package); ``own_nodes``:
    those of ``nodes`` on the unit's own pieces (its member, or its class's header),
    where its findings can be.
    """

    text: str
    pieces: tuple[tuple[int, int, int, bool], ...]
    nodes: tuple[ast.AST, ...]
    imports: tuple[tuple[str, str], ...] | None
    import_text: str = ""
    own_nodes: tuple[ast.AST, ...] = ()

    @property
    def owned(self) -> tuple[tuple[int, int], ...]:
        """(first line in ``text``, number of lines) of the pieces the unit owns: with ``text``, its identity."""
        return tuple((first, count) for first, _, count, owned in self.pieces if owned)

    def piece_at(self, line: int) -> tuple[int, int, int, bool] | None:
        """The piece holding ``text`` line ``line``, or None."""
        for piece in self.pieces:
            if piece[0] <= line < piece[0] + piece[2]:
                return piece
        return None

    def owns(self, line: int) -> bool:
        """Whether ``text`` line ``line`` is on one of the unit's own pieces."""
        piece = self.piece_at(line)
        return piece is not None and piece[3]

    def chunk_line(self, line: int) -> int:
        """The chunk line of ``text`` line ``line`` (which must be on a piece from the chunk)."""
        piece = self.piece_at(line)
        if piece is None or not piece[1]:
            raise ValueError(f"line {line} is not on a piece of the document")
        return line - piece[0] + piece[1]


def units(
    layout: ClassLayout, text: str, module_imports: Sequence[tuple[str, str]] = (), lines: Sequence[str] | None = None
) -> list[Unit] | None:
    """The units of the top-level class ``layout``, whose chunk's text is ``text``; None when it does not split.

    ``lines``: ``text`` split into lines as the tokenizer counts them, when the caller has them (else ``text``
    is split when a unit must be built).

    ``module_imports``: (local name, qualified name) of the module's imports (which
    names are lock classes). Cached on the layout (rebuilt whenever its class
    changes), per set of lock aliases.
    """
    if not layout.splittable():
        return None
    facts = [m.facts for m in layout.members]
    imports = class_imports(facts)
    every = [*module_imports, *(pair for f in facts for pair in f.imports)]
    aliases = frozenset(local for local, qualified in every if qualified in THREAD_LOCKS)
    found = layout._units.get(aliases)
    if found is not None:
        return found
    if lines is None:
        lines = _Lines(text)
    import_text = "".join(f.import_text for f in facts)
    found: list[Unit] = []
    made = layout._made
    used: set[tuple] = set()
    _collect(layout, 0, (), lines, (imports, import_text), aliases, found, made, used)
    # a unit made of a member that was typed over can never be asked for again (members are compared by
    # identity): keep the units of the current members only, and at most PLANS_KEPT plans besides this one's
    plans = [key for key in made if key[0] == "plan" and key not in used]
    for key in [key for key in made if key[0] != "plan" and key not in used] + plans[: max(0, len(plans) - PLANS_KEPT)]:
        del made[key]
    layout._units[aliases] = found
    return found


PLANS_KEPT = 16
"""Plans (what each member is analysed with, by the members' facts) kept beyond the current one's: typing that
changes a member's facts and changes them back reuses them."""


class _Lines(Sequence[str]):
    """``text``'s lines (as the tokenizer counts them), split on first use: most keystrokes build no unit."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._lines: list[str] | None = None

    def _split(self) -> list[str]:
        if self._lines is None:
            self._lines = _LINE.findall(self.text)
        return self._lines

    def __getitem__(self, index):  # type: ignore[override]
        return self._split()[index]

    def __len__(self) -> int:
        return len(self._split())


def _collect(
    layout: ClassLayout,
    base: int,
    outer: tuple[tuple[tuple[int, int], tuple[ast.AST, ...]], ...],
    lines: Sequence[str],
    class_imports: tuple[tuple[tuple[str, str], ...] | None, str],
    aliases: frozenset[str],
    found: list[Unit],
    made: dict[tuple, Any],
    used: set[tuple],
) -> None:
    """Add the units of ``layout`` (its line 1 is chunk line ``base + 1``) to ``found``.

    ``outer``: ((chunk line, count), header nodes) of the classes around it;
    ``class_imports``: (:attr:`Unit.imports`, :attr:`Unit.import_text`); ``made``:
    units already built, by what they are made of, and each member's context by the
    members' facts (:attr:`ClassLayout._made`); ``used``: the keys of ``made`` this class's units need,
    filled in.
    """
    imports, import_text = class_imports
    members = layout.members
    facts = [m.facts for m in members]
    header = ((base + 1, layout.header_end), layout.header_nodes)
    around = (*outer, header)
    own_header = [i for i, m in enumerate(members) if not m.is_unit]
    # what each unit must be analysed with depends on the members' facts alone (equal facts: equal plan),
    # so a keystroke that changes no member's facts reuses it
    plan_key = ("plan", tuple(facts), layout.header_facts, aliases, tuple((m.is_unit, m.layout is None) for m in members))
    plan = made.get(plan_key)
    if plan is None:
        index = class_index(facts, layout.header_facts, aliases)
        plan = {
            number: context([number], index)
            for number, member in enumerate(members)
            if member.is_unit and member.layout is None
        }
        plan[-1] = context(own_header, index)
        made[plan_key] = plan
    used.add(plan_key)

    def unit(chosen: set[int], stubs: dict[int, set[str]], owned: set[int], owns_header: bool) -> Unit:
        key = (
            base,
            outer,
            header,
            owns_header,
            class_imports,
            tuple((members[i], i in owned) for i in sorted(chosen)),
            tuple((members[i], frozenset(names)) for i, names in sorted(stubs.items())),
        )
        built = made.get(key)
        if built is None:
            built = _unit(layout, base, outer, header, chosen, stubs, owned, owns_header, lines, imports)
            if import_text:
                built = replace(built, import_text=import_text)
            made[key] = built
        used.add(key)
        return built

    chosen, stubs = plan[-1]
    found.append(unit(chosen, stubs, set(own_header), True))
    for number, member in enumerate(members):
        if not member.is_unit:
            continue
        if member.layout is not None:
            _collect(member.layout, base + member.start - 1, around, lines, class_imports, aliases, found, made, used)
            continue
        chosen, stubs = plan[number]
        found.append(unit(chosen, stubs, {number}, False))


def _unit(
    layout: ClassLayout,
    base: int,
    outer: tuple,
    header: tuple[tuple[int, int], tuple[ast.AST, ...]],
    chosen: set[int],
    stubs: dict[int, set[str]],
    owned: set[int],
    owns_header: bool,
    lines: Sequence[str],
    imports: tuple[tuple[str, str], ...] | None,
) -> Unit:
    # (chunk line, count, owned) of document lines, or (0, 0, synthetic text)
    spans: list[tuple[int, int, bool | str]] = [(start, count, False) for (start, count), _ in outer]
    nodes: list[ast.AST] = [node for _, header_nodes in outer for node in header_nodes]
    spans.append((header[0][0], header[0][1], owns_header))
    nodes.extend(header[1])
    own: list[ast.AST] = list(header[1]) if owns_header else []
    chosen = chosen | {i for i in stubs if layout.members[i].signature is None}  # a one-line def: whole
    for index in sorted(chosen | set(stubs)):
        member = layout.members[index]
        if index in chosen:
            spans.append((base + member.start, member.end - member.start + 1, index in owned))
            nodes.extend(member.nodes)
            if index in owned:
                own.extend(member.nodes)
            continue
        end, indent, param = member.signature  # type: ignore[misc]  # a stub: signature and a mention
        spans.append((base + member.start, end - member.start + 1, False))
        last = lines[base + end - 1]
        newline = "\r\n" if last.endswith("\r\n") else "\r" if last.endswith("\r") else "\n"
        spans.append((0, 0, "".join(f"{indent}{param}.{name}{newline}" for name in sorted(stubs[index]))))
    pieces: list[tuple[int, int, int, bool]] = []
    parts: list[str] = []
    line = 1
    for start, count, is_owned in spans:
        if not start:  # synthetic
            text = str(is_owned)
            pieces.append((line, 0, text.count("\n") + text.count("\r") - text.count("\r\n"), False))
            parts.append(text)
            line += pieces[-1][2]
            continue
        pieces.append((line, start, count, bool(is_owned)))
        parts.extend(lines[start - 1 : start - 1 + count])
        line += count
    if len(spans) == len(outer) + 1:  # a header alone: give it a body
        first = layout.members[0]
        body = lines[base + first.start - 1]
        indent = body[: len(body) - len(body.lstrip(" \t"))]
        newline = "\r\n" if parts[-1].endswith("\r\n") else "\r" if parts[-1].endswith("\r") else "\n"
        if not parts[-1].endswith(("\n", "\r")):
            parts[-1] += newline
        parts.append(indent + "pass" + newline)
        pieces.append((line, 0, 1, False))
    return Unit("".join(parts), tuple(pieces), tuple(nodes), imports, own_nodes=tuple(own))


def replace_member(layout: ClassLayout, path: Sequence[int], new: Sequence[Member], delta: int) -> ClassLayout:
    """``layout`` with the member at ``path`` (indices down nested layouts) replaced by ``new``.

    ``new`` are in the innermost layout's lines; the members after the replaced one,
    and the ends of the members holding it, move ``delta`` lines. The layouts'
    :mod:`ast` class nodes are shallow copies with the new members' statements.
    """
    index = path[0]
    old = layout.members[index]
    if len(path) == 1:
        replacement = list(new)
        old_nodes = old.nodes
        new_nodes = [node for member in new for node in member.nodes]
    else:
        inner = replace_member(old.layout, path[1:], new, delta)
        replacement = [Member(old.start, old.start - 1 + inner.members[-1].end, (inner.node,), inner)]
        old_nodes = old.nodes
        new_nodes = [inner.node]
    members = (*layout.members[:index], *replacement, *(m.moved(delta) for m in layout.members[index + 1 :]))
    node = copy.copy(layout.node)
    body = layout.node.body
    at = next(i for i, stmt in enumerate(body) if stmt is old_nodes[0])
    node.body = [*body[:at], *new_nodes, *body[at + len(old_nodes) :]]
    return ClassLayout(node, layout.header_end, members, _made=layout._made)
