"""PFL402 string-concat-in-loop, and its codemod."""

from __future__ import annotations

import ast

import libcst as cst

from perf_lsp.analysis.bindings import is_store_position, occurrences_in
from perf_lsp.analysis.expressions import is_bytes_expression, is_str_expression
from perf_lsp.analysis.semantic import runs_before
from perf_lsp.analysis.tree import in_nested_scope, inside, walk
from perf_lsp.fix.codemod import replace_nodes
from perf_lsp.fix.context import FixContext
from perf_lsp.model import Applicability
from perf_lsp.rules.base import Rule

# calls that can read a function's local variables behind the rule's back
_FRAME_READERS = frozenset({"locals", "vars", "eval", "exec"})


class StringConcatInLoop(Rule):
    """
    ## What it does
    Reports ``+=`` on a string inside a ``for``/``while`` loop where each append
    copies everything built so far:

    - a local ``bytes`` accumulator (``body = b""`` ... ``body += chunk``);
    - a local ``str`` accumulator that a nested function or lambda reads (the
      variable is a closure cell);
    - ``self.<attr> += piece`` where every assignment to ``self.<attr>`` in the
      class is a string (reported without a fix).

    A local accumulator must be proven: it is bound once in the function, to a
    literal, an f-string, ``str(...)``/``bytes(...)`` or ``"...".join(...)``, in a
    statement that always runs before the loop, and is otherwise only changed
    with ``+=``. The loop may be nested; the finding is on the outermost loop
    that only appends.

    Not reported: a plain local ``str`` that only the function refers to
    (CPython appends to it in place, see below); numbers and lists (``total +=
    n``, ``rows += [r]``); a parameter or global; a string that the loop also
    reads or resets (``if len(line) > width: ...``); accumulation outside any
    loop.

    ## Why is this bad?
    Strings and bytes are immutable: ``s += t`` builds a new object and copies
    ``s`` into it, so n appends copy O(n²) bytes in all; the Python documentation
    says concatenating immutable sequences "results in a new object" and has a
    quadratic runtime cost, and recommends ``str.join``/``bytes.join``. CPython
    avoids the copy in one case: a ``str`` in a local variable with no other
    reference is resized in place, which is why that case is not reported (PEP 8
    calls that optimisation fragile; it is absent from PyPy). Measured with 20,000
    pieces of 40 characters (``benchmarks/bench_costs.py``, ``docs/costs.md``): a
    plain local ``str``, about 1.1 ms (``"".join``: 0.1 ms); the same appends to
    ``self.text``, about 200 ms; to a local ``bytes``, about 210 ms (bytes are
    never resized in place). The cost grows with the square of the number of
    pieces.

    ## Example
    ```python
    def download(response):
        body = b""
        for chunk in response.iter_content(8192):
            body += chunk
        return body
    ```

    ## Use instead
    ```python
    def download(response):
        body_parts = []
        for chunk in response.iter_content(8192):
            body_parts.append(chunk)
        body = b"".join(body_parts)
        return body
    ```

    ## Fix safety
    The fix collects the pieces in a list and joins them right after the loop
    statement (after its ``else:`` clause). When the string is built in the
    statement right before the loop, that statement becomes
    ``<name>_parts = [<initial value>]`` (``[]`` for ``""``/``b""``) and the loop is
    followed by ``<name> = "".join(<name>_parts)`` (``b"".join`` for bytes); otherwise
    the initial value stays and the loop is followed by ``<name> += "".join(<name>_parts)``.
    ``break`` and ``continue`` keep working: the join runs however the loop
    ends normally. The fix is not offered when the loop is inside a ``try`` or
    ``with suppress(...)`` (a handler could read the half-built string), when a
    nested function uses the string, or when the loop calls ``locals()``,
    ``vars()``, ``eval`` or ``exec``.

    Safe when every appended value is itself proven a ``str`` (a literal, an
    f-string, ``str(...)``, ``"...".join/format(...)``), or a ``bytes`` for a bytes
    accumulator: the result is the same string. Unsafe otherwise: appending a value that is not a ``str`` raises
    ``TypeError`` at once with ``+=`` but only at the join, after the rest of the
    loop has run; and a ``str`` subclass with its own ``__radd__`` (such as
    ``markupsafe.Markup``, which escapes what is added to it) changes what
    ``+=`` builds, where ``"".join`` returns a plain concatenation.

    ## References
    - [Python: Common sequence operations, note 6](https://docs.python.org/3/library/stdtypes.html#common-sequence-operations)
    - [PEP 8: Programming recommendations](https://peps.python.org/pep-0008/#programming-recommendations)
    - Measured figures: `docs/costs.md`, made by `benchmarks/bench_costs.py`
    """

    code = "PFL402"
    name = "string-concat-in-loop"
    message = "String built with `+=` in a loop; collect the pieces in a list and `\"\".join` them once"
    fix_title = "Collect the pieces in a list and join once after the loop"
    fix_safety = Applicability.SAFE
    alt_fix_title = "Collect the pieces in a list and join once after the loop (assumes every piece has the accumulator's type)"
    alt_fix_safety = Applicability.UNSAFE
    triggers = r"\+="

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self._seen: set[tuple[int, str]] = set()

    @classmethod
    def wants(cls, summary, settings) -> bool:
        """A loop and a ``+=``: on ``self.<attr>``, or on a name in a chunk with bytes or a nested ``def`` or
        ``lambda`` (a ``str`` local is reported only when a closure reads it)."""
        if not summary.has_loops:
            return False
        adds = [node.target for node in summary.statements_of(ast.AugAssign) if type(node.op) is ast.Add]
        if not adds:
            return False
        inits: dict[str, set[str]] = {}  # name or "self.<attr>" -> "str"/"bytes" of the values assigned to it
        for assign in summary.statements_of(ast.Assign, ast.AnnAssign):
            targets = assign.targets if type(assign) is ast.Assign else [assign.target]
            kind = _string_kind(assign.value)
            if kind is None:
                continue
            for target in targets:
                if type(target) is ast.Name:
                    inits.setdefault(target.id, set()).add(kind)
                elif type(target) is ast.Attribute and type(target.value) is ast.Name and target.value.id == "self":
                    inits.setdefault("self." + target.attr, set()).add(kind)
        names: set[str] = set()
        for target in adds:
            if type(target) is ast.Name and target.id in inits:
                if "bytes" in inits[target.id]:
                    return True  # bytes are copied on every append
                names.add(target.id)
            elif type(target) is ast.Attribute and type(target.value) is ast.Name and target.value.id == "self":
                if "str" in inits.get("self." + target.attr, ()):
                    return True
        return bool(names) and _closure_mentions(summary, names)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        if not isinstance(node.operator, cst.AddAssign):
            return
        if isinstance(node.target, cst.Attribute):
            self._attribute_append(node)
            return
        if not isinstance(node.target, cst.Name):
            return
        ctx = self.ctx
        if ctx.repeating_loop(node) is None:
            return
        func = ctx.enclosing_function(node)
        if func is None:
            return
        name = node.target.value
        if name not in ctx.memo(_string_names, func, ctx):
            return  # no ``name = <str or bytes>`` in the function: not the string this rule is about
        parents, by_name = occurrences_in(ctx, func)  # once per function, not per site
        occurrences = by_name.get(name, [])
        appends: list[cst.AugAssign] = []
        others: list[cst.Name] = []
        for occ, store in occurrences:
            parent = parents.get(occ)
            if store and isinstance(parent, cst.AugAssign) and parent.target is occ and isinstance(parent.operator, cst.AddAssign):
                appends.append(parent)
            else:
                others.append(occ)
        # exactly one other use before the loop: the binding to a string
        inits = [occ for occ in others if is_store_position(occ, parents)]
        if len(inits) != 1:
            return
        init = inits[0]
        init_value = _assigned_value(init, parents)
        if init_value is None:
            return
        is_bytes = is_bytes_expression(init_value, ctx)
        if not is_bytes and not is_str_expression(init_value, ctx):
            return
        # CPython appends in place to a ``str`` local that nothing else refers to (measured linear):
        # only a string a nested function closes over (a cell) is copied on every ``+=``; bytes always are.
        in_closure = any(_in_nested_function(occ, func, parents) for occ in others)
        if not is_bytes and not in_closure:
            return
        assign = parents.get(init)
        if isinstance(assign, cst.AssignTarget):
            assign = parents.get(assign)
        init_line = parents.get(assign)
        if not isinstance(init_line, cst.SimpleStatementLine):
            return
        loop = self._outermost_appending_loop(node, others, parents, func)
        if loop is None:
            return
        key = (id(loop), name)
        if key in self._seen or not runs_before(init_line, loop, ctx, func):
            return
        self._seen.add(key)
        in_loop = [a for a in appends if inside(a, loop, parents)]
        fix = alt_fix = None
        if self._fixable(loop, others, parents, func):
            build = self._fix(loop, in_loop, name, init_line, func, is_bytes)
            proven_piece = is_bytes_expression if is_bytes else is_str_expression
            proven = all(proven_piece(a.value, ctx) for a in appends)
            if proven:
                fix = build
            else:
                alt_fix = build
        if is_bytes:
            message = f"`{name}` (bytes) is built with `+=` in a loop: every append copies all of it; collect the pieces in a list and `b\"\".join` them once"
        else:
            message = f"`{name}` is built with `+=` in a loop and a nested function reads it, so every append copies the whole string; collect the pieces in a list and `\"\".join` them once"
        self.report(
            in_loop[0] if in_loop else node,
            message=message,
            fix=fix,
            alt_fix=alt_fix,
            detail="Inside a loop: each `+=` copies everything built so far (quadratic in the final length).",
        )

    def _attribute_append(self, node: cst.AugAssign) -> None:
        """``self.text += piece`` in a loop, ``self.text`` proven a ``str`` by every assignment in the class."""
        ctx = self.ctx
        target = node.target
        if not (isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name) and target.value.value == "self"):
            return
        loop = ctx.repeating_loop(node)
        func = ctx.enclosing_function(node)
        if loop is None or func is None or not isinstance(loop, (cst.For, cst.While)):
            return
        cls = ctx.enclosing_class(func)
        if cls is None:
            return
        attr = target.attr.value
        key = (id(loop), "self." + attr)
        if key in self._seen:
            return
        assigned = 0
        for sub in walk(cls):
            if isinstance(sub, cst.Assign):
                for t in sub.targets:
                    if _is_self_attr(t.target, attr):
                        if not is_str_expression(sub.value, ctx):
                            return
                        assigned += 1
            elif isinstance(sub, cst.AnnAssign) and _is_self_attr(sub.target, attr):
                if sub.value is None or not is_str_expression(sub.value, ctx):
                    return
                assigned += 1
            elif isinstance(sub, cst.AugAssign) and _is_self_attr(sub.target, attr):
                if not isinstance(sub.operator, cst.AddAssign) or not is_str_expression(sub.value, ctx):
                    return
            elif isinstance(sub, (cst.Del, cst.Global, cst.Nonlocal)) and "self." + attr in ctx.code(sub):
                return
        if not assigned:
            return
        self._seen.add(key)
        self.report(
            node,
            message=f"`self.{attr}` is built with `+=` in a loop: an attribute is copied on every append; "
            f"collect the pieces in a local list and assign `\"\".join(...)` once",
            detail="Inside a loop: each `+=` copies everything built so far (quadratic in the final length).",
        )

    # -- detection -------------------------------------------------------
    def _outermost_appending_loop(self, node, others, parents, func) -> cst.CSTNode | None:
        """The outermost ``for``/``while`` around ``node`` in which ``name`` is only appended to."""
        found = None
        child = node
        for anc in self.ctx.ancestors(node):
            if anc is func:
                break
            if isinstance(anc, (cst.Lambda, cst.ClassDef, cst.FunctionDef)):
                return None
            repeats = (isinstance(anc, cst.For) and child is anc.body) or (
                isinstance(anc, cst.While) and child is anc.body
            )
            if repeats:
                if any(inside(occ, anc, parents) for occ in others):
                    break
                found = anc
            child = anc
        return found

    def _fixable(self, loop, others, parents, func) -> bool:
        if any(in_nested_scope(occ, func, parents) for occ in others):
            return False
        if not isinstance(self.ctx.parent(loop), (cst.IndentedBlock, cst.Module)):
            return False
        for anc in self.ctx.ancestors(loop):
            if anc is func:
                break
            if isinstance(anc, cst.Try) or isinstance(anc, cst.TryStar):
                return False
            if isinstance(anc, cst.With):
                for item in anc.items:
                    call = item.item
                    if isinstance(call, cst.Call):
                        qn = self.ctx.qualified_name(call.func) or ""
                        if qn.rsplit(".", 1)[-1] == "suppress" or (isinstance(call.func, cst.Name) and call.func.value == "suppress"):
                            return False
        for sub in walk(loop):
            if isinstance(sub, cst.Call) and isinstance(sub.func, cst.Name) and sub.func.value in _FRAME_READERS:
                return False
        return True

    # -- codemod ---------------------------------------------------------
    def _fix(self, loop, appends: list[cst.AugAssign], name: str, init_line: cst.SimpleStatementLine, func, is_bytes: bool = False):
        ctx = self.ctx
        block = ctx.parent(loop)
        body = list(block.body)
        index = next(i for i, s in enumerate(body) if s is loop)
        right_before = (
            index > 0
            and body[index - 1] is init_line
            and len(init_line.body) == 1
            and isinstance(init_line.body[0], cst.Assign)
        )

        def build(fctx: FixContext) -> cst.Module | None:
            parts = fctx.local_name(f"{name}_parts", func)
            prefix = "b" if is_bytes else ""
            quote = '"'
            replacements: dict[cst.CSTNode, cst.CSTNode] = {}
            for aug in appends:
                call = cst.Call(
                    func=cst.Attribute(value=cst.Name(parts), attr=cst.Name("append")),
                    args=[cst.Arg(aug.value)],
                )
                replacements[aug] = cst.Expr(value=call, semicolon=aug.semicolon)
            new_loop = replace_nodes(loop, replacements)
            if right_before:
                assign = init_line.body[0]
                value = assign.value
                if isinstance(value, cst.SimpleString):
                    quote = value.quote[0]
                elements = [] if _empty_string(value) else [cst.Element(value)]
                new_init = init_line.with_changes(
                    body=[assign.with_changes(targets=[cst.AssignTarget(cst.Name(parts))], value=cst.List(elements))]
                )
                join = fctx.parse_statement(f"{name} = {prefix}{quote}{quote}.join({parts})")
                replacements_outer: dict[cst.CSTNode, object] = {
                    init_line: new_init,
                    loop: cst.FlattenSentinel([new_loop, join]),
                }
            else:
                prelude = fctx.parse_statement(f"{parts} = []").with_changes(leading_lines=loop.leading_lines)
                join = fctx.parse_statement(f"{name} += {prefix}{quote}{quote}.join({parts})")
                replacements_outer = {
                    loop: cst.FlattenSentinel([prelude, new_loop.with_changes(leading_lines=[]), join]),
                }
            return replace_nodes(fctx.chunk, replacements_outer)

        return build


def _string_names(func: cst.FunctionDef, ctx) -> frozenset[str]:
    """Names ``func`` (nested scopes included) binds with ``name = value`` or ``name: T = value`` to a
    str or bytes expression: the only names whose ``+=`` this rule can report (a cheap first test,
    before the function's occurrences are mapped)."""
    names: set[str] = set()
    for node in walk(func):
        if isinstance(node, cst.Assign) and len(node.targets) == 1:
            target, value = node.targets[0].target, node.value
        elif isinstance(node, cst.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, cst.Name) and target.value not in names:
            if is_str_expression(value, ctx) or is_bytes_expression(value, ctx):
                names.add(target.value)
    return frozenset(names)


def _assigned_value(store: cst.Name, parents) -> cst.BaseExpression | None:
    """The value of ``name = value`` / ``name: T = value`` when ``store`` is its only target."""
    parent = parents.get(store)
    if isinstance(parent, cst.AssignTarget):
        assign = parents.get(parent)
        if isinstance(assign, cst.Assign) and len(assign.targets) == 1:
            return assign.value
    if isinstance(parent, cst.AnnAssign) and parent.target is store:
        return parent.value
    return None


def _empty_string(value: cst.BaseExpression) -> bool:
    return isinstance(value, cst.SimpleString) and value.evaluated_value in ("", b"")


def _string_kind(value: ast.expr | None) -> str | None:
    """``"str"``/``"bytes"`` when ``value`` may be what ``is_str_expression``/``is_bytes_expression`` accept (its
    :mod:`ast` form: a literal, an f-string, ``str(...)``/``bytes(...)``, ``"...".join/format(...)``), else None."""
    if type(value) is ast.Constant:
        return "str" if isinstance(value.value, str) else "bytes" if isinstance(value.value, bytes) else None
    if type(value) is ast.JoinedStr:
        return "str"
    if type(value) is ast.Call:
        func = value.func
        if type(func) is ast.Name and func.id in ("str", "bytes"):
            return func.id
        if type(func) is ast.Attribute and func.attr in ("join", "format") and type(func.value) is ast.Constant:
            return _string_kind(func.value)
    return None


def _closure_mentions(summary, names: set[str]) -> bool:
    """Whether a ``def`` or ``lambda`` that starts inside a ``def`` of the chunk (its signature or body) has
    one of ``names`` in it (as any identifier or string: a superset of the occurrences the rule follows)."""
    functions = summary.statements_of(ast.FunctionDef, ast.AsyncFunctionDef)
    if summary.may_contain("lambda"):
        functions = [*functions, *summary.of_type(ast.Lambda)]
    spans = sorted(
        (node.lineno, node.col_offset, node.end_lineno or node.lineno, node.end_col_offset or 0, index)
        for index, node in enumerate(functions)
    )
    open_until = (0, 0)  # the furthest end of a ``def`` started so far
    for line, column, end_line, end_column, index in spans:
        node = functions[index]
        if (line, column) < open_until and _mentions(node, names):
            return True
        if type(node) is not ast.Lambda:
            open_until = max(open_until, (end_line, end_column))
    return False


def _mentions(tree: ast.AST, names: set[str]) -> bool:
    for node in ast.walk(tree):
        for field in node._fields:
            value = getattr(node, field, None)
            if type(value) is str:
                if value in names or ("." in value and names.intersection(value.split("."))):
                    return True  # ``import a.b`` binds ``a``
            elif type(value) is list and value and type(value[0]) is str and names.intersection(value):
                return True
    return False


def _in_nested_function(node: cst.CSTNode, func: cst.CSTNode, parents) -> bool:
    """True when ``node`` sits in a ``def`` or ``lambda`` nested in ``func`` (the variable is a closure cell)."""
    current = parents.get(node)
    while current is not None and current is not func:
        if isinstance(current, (cst.FunctionDef, cst.Lambda)):
            return True
        current = parents.get(current)
    return False


def _is_self_attr(target: cst.CSTNode, attr: str) -> bool:
    return (
        isinstance(target, cst.Attribute)
        and isinstance(target.value, cst.Name)
        and target.value.value == "self"
        and target.attr.value == attr
    )
