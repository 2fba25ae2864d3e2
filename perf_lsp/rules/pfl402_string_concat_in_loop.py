"""PFL402 string-concat-in-loop, and its codemod."""

from __future__ import annotations

import libcst as cst

from perf_lsp.codemod import replace_nodes
from perf_lsp.model import Applicability
from perf_lsp.rules.base import FixContext, Rule
from perf_lsp.rules.patterns import (
    in_nested_scope,
    inside,
    is_store_position,
    is_str_expression,
    name_occurrences,
    parent_map,
    runs_before,
    walk,
)

# calls that can read a function's local variables behind the rule's back
_FRAME_READERS = frozenset({"locals", "vars", "eval", "exec"})


class StringConcatInLoop(Rule):
    """
    ## What it does
    Reports ``text += piece`` inside a ``for``/``while`` loop where ``text`` is a
    local string that the loop only appends to. ``text`` must be proven a
    ``str``: it is bound once in the function, to a string literal, an f-string,
    ``str(...)`` or ``"...".join(...)``, in a statement that always runs before
    the loop, and is otherwise only changed with ``+=``. The loop may be nested;
    the finding is on the outermost loop that only appends.

    Not reported: numbers, lists and bytes (``total += n``, ``rows += [r]``,
    ``buf += b"..."``), a parameter, global or attribute, a string that the loop
    also reads or resets (``if len(line) > width: ...``: the string is needed
    while it is being built), and accumulation outside any loop.

    ## Why is this bad?
    Strings are immutable: ``s += t`` builds a new string and copies ``s`` into
    it, so n appends copy O(n²) characters in all. CPython often avoids the
    copy for a local variable with no other reference by resizing it in place,
    which makes the plain case linear (measured on CPython 3.11: 100,000 appends
    of 10 characters, 10 ms with ``+=`` on a local, 6 ms with ``"".join``); the
    optimisation is, in PEP 8's words, "fragile even in CPython" and absent
    from other implementations: when the string has another reference (it is
    stored, yielded or passed on in the loop) or lives in an attribute, each
    append copies it (the same 100,000 appends on an attribute took 4 s).
    Audit report 000 lists string concatenation in loops among its memory
    issues in an export parser; audit report 004 rates it minor and recommends
    ``"".join()`` on hot paths. This rule is about robustness more than a
    measured hot spot in the common local case.

    ## Example
    ```python
    def render(messages):
        prompt = ""
        for m in messages:
            prompt += f"{m.role}: {m.content}\\n"
        return prompt
    ```

    ## Use instead
    ```python
    def render(messages):
        prompt_parts = []
        for m in messages:
            prompt_parts.append(f"{m.role}: {m.content}\\n")
        prompt = "".join(prompt_parts)
        return prompt
    ```

    ## Fix safety
    The fix collects the pieces in a list and joins them right after the loop
    statement (after its ``else:`` clause). When the string is built in the
    statement right before the loop, that statement becomes
    ``<name>_parts = [<initial value>]`` (``[]`` for ``""``) and the loop is
    followed by ``<name> = "".join(<name>_parts)``; otherwise the initial
    value stays and the loop is followed by ``<name> += "".join(<name>_parts)``.
    ``break`` and ``continue`` keep working: the join runs however the loop
    ends normally. The fix is not offered when the loop is inside a ``try`` or
    ``with suppress(...)`` (a handler could read the half-built string), when a
    nested function uses the string, or when the loop calls ``locals()``,
    ``vars()``, ``eval`` or ``exec``.

    Safe when every appended value is itself proven a ``str`` (a literal, an
    f-string, ``str(...)``, ``"...".join/format(...)``): the result is the same
    string. Unsafe otherwise: appending a value that is not a ``str`` raises
    ``TypeError`` at once with ``+=`` but only at the join, after the rest of the
    loop has run; and a ``str`` subclass with its own ``__radd__`` (such as
    ``markupsafe.Markup``, which escapes what is added to it) changes what
    ``+=`` builds, where ``"".join`` returns a plain concatenation.
    """

    code = "PFL402"
    name = "string-concat-in-loop"
    message = "String built with `+=` in a loop; collect the pieces in a list and `\"\".join` them once"
    fix_title = "Collect the pieces in a list and join once after the loop"
    fix_safety = Applicability.SAFE
    alt_fix_title = "Collect the pieces in a list and join once after the loop (assumes the pieces are str)"
    alt_fix_safety = Applicability.UNSAFE
    triggers = r"\+="

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self._seen: set[tuple[int, str]] = set()

    @classmethod
    def wants(cls, summary, settings) -> bool:
        return summary.has_loops

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        if not isinstance(node.operator, cst.AddAssign) or not isinstance(node.target, cst.Name):
            return
        ctx = self.ctx
        if ctx.repeating_loop(node) is None:
            return
        func = ctx.enclosing_function(node)
        if func is None:
            return
        name = node.target.value
        parents = parent_map(func)
        occurrences = name_occurrences(func, name, parents)
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
        if init_value is None or not is_str_expression(init_value, ctx):
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
            build = self._fix(loop, in_loop, name, init_line, func)
            proven = all(is_str_expression(a.value, ctx) for a in appends)
            if proven:
                fix = build
            else:
                alt_fix = build
        self.report(
            in_loop[0] if in_loop else node,
            message=f"`{name}` is built with `+=` in a loop; collect the pieces in a list and `\"\".join` them once",
            fix=fix,
            alt_fix=alt_fix,
            detail="Inside a loop: each `+=` may copy the whole string built so far (quadratic when CPython cannot resize it in place).",
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
    def _fix(self, loop, appends: list[cst.AugAssign], name: str, init_line: cst.SimpleStatementLine, func):
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
                join = fctx.parse_statement(f"{name} = {quote}{quote}.join({parts})")
                replacements_outer: dict[cst.CSTNode, object] = {
                    init_line: new_init,
                    loop: cst.FlattenSentinel([new_loop, join]),
                }
            else:
                prelude = fctx.parse_statement(f"{parts} = []").with_changes(leading_lines=loop.leading_lines)
                join = fctx.parse_statement(f"{name} += {quote}{quote}.join({parts})")
                replacements_outer = {
                    loop: cst.FlattenSentinel([prelude, new_loop.with_changes(leading_lines=[]), join]),
                }
            return replace_nodes(fctx.chunk, replacements_outer)

        return build


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
    return isinstance(value, cst.SimpleString) and value.evaluated_value == ""
