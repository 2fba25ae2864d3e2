"""PFL401 regex-not-precompiled, and its codemod."""

from __future__ import annotations

import re

import libcst as cst

from perf_lsp.codemod import replace_node
from perf_lsp.model import Applicability
from perf_lsp.rules.base import FixContext, Rule, RuleContext
from perf_lsp.rules.patterns import (
    ONE_TIME_METHODS,
    assigned_target,
    in_lazy_init,
    is_cached_function,
    is_constant_string,
    snake_to_upper,
)

# module-level function -> (index of the string argument after the pattern, index of flags)
_FUNCTIONS = {
    "match": 2,
    "search": 2,
    "fullmatch": 2,
    "findall": 2,
    "finditer": 2,
    "sub": 4,
    "subn": 4,
    "split": 3,
}
_CALLABLE = frozenset({"compile", *_FUNCTIONS})
_FUNCTION_ALTERNATION = "|".join(sorted(_FUNCTIONS))
_FLAG_NAMES = frozenset(
    {"A", "ASCII", "I", "IGNORECASE", "L", "LOCALE", "M", "MULTILINE", "S", "DOTALL", "X", "VERBOSE", "U", "UNICODE", "NOFLAG", "DEBUG"}
)


class RegexNotPrecompiled(Rule):
    """
    ## What it does
    Reports a regular expression with a constant pattern that is compiled where it
    runs again and again: ``re.compile("...")`` or
    ``re.match/search/fullmatch/findall/finditer/sub/subn/split("...", ...)`` inside a
    loop or comprehension. Any import form counts (``import re as rx``,
    ``from re import findall``).

    Not reported: at module level; once per call in a function body outside any
    loop (``re``'s cache turns it into a lookup of about 1 us, cheaper than the match
    it serves: the hand review of five real codebases found no such finding worth a
    change); in ``__init__`` and other one-time set-up methods; in a function
    decorated with ``functools.cache``/``lru_cache``; under a lazy-initialisation
    guard (``if self._pattern is None:``); when the pattern or flags are not
    constants.

    ## Why is this bad?
    Each call goes through ``re``'s compile path: the pattern cache is looked up by
    (type, pattern, flags) and, when the program uses more distinct patterns than
    the cache holds (512 in CPython 3.11+), the pattern is parsed and compiled
    again, tens to hundreds of microseconds each time. Even on a cache hit the
    module-level function costs a lookup and an extra call per use, paid once per
    iteration in a loop. Audit report 004 (a WhatsApp bot) found intent-pattern
    lists compiled on every use in its message path; a module-level compiled
    pattern costs one compilation per process.

    This is a small cost per call ("only a micro-optimisation" in Ruff's words for
    similar rules) that adds up in per-message and per-item code. The fix also
    gives the pattern a name.

    ## Example
    ```python
    import re

    def tokens(lines):
        return [re.findall(r"\\w+", line) for line in lines]
    ```

    ## Use instead
    ```python
    import re

    _TOKENS_RE = re.compile(r"\\w+")

    def tokens(lines):
        return [_TOKENS_RE.findall(line) for line in lines]
    ```

    ## Fix safety
    Safe. ``re.findall(p, s)`` and ``re.compile(p).findall(s)`` are documented as
    equivalent, compiled patterns are immutable, and a constant pattern is compiled
    the same way at import time as at call time. The fix adds a module-level
    ``NAME = re.compile(pattern, flags)`` with a name that clashes with nothing in
    the file, rewrites the call to use it, and adds ``import re`` when the module
    only had ``from re import ...``.
    """

    code = "PFL401"
    name = "regex-not-precompiled"
    message = "Regular expression compiled on every iteration; precompile it once at module level"
    fix_title = "Precompile the pattern into a module-level constant"
    fix_safety = Applicability.SAFE

    @classmethod
    def applies_to(cls, text, module_ctx, settings) -> bool:
        if "import re" in text or "from re " in text:
            return True
        for local, qn in module_ctx.imports:
            if qn == "re" and re.search(rf"\b{re.escape(local)}\s*\.\s*(?:compile|{_FUNCTION_ALTERNATION})\b", text):
                return True
            if qn.startswith("re.") and qn[3:] in _CALLABLE and re.search(rf"\b{re.escape(local)}\s*\(", text):
                return True
        return False

    @classmethod
    def wants(cls, summary, settings) -> bool:
        return any(qn == "re.compile" or (qn and qn[3:] in _FUNCTIONS and qn.startswith("re.")) for _, qn in summary.call_names)

    def visit_Call(self, node: cst.Call) -> None:
        qn = self.ctx.qualified_name(node.func)
        if qn is None or not qn.startswith("re.") or qn.count(".") != 1:
            return
        function = qn[3:]
        if function == "compile":
            self._check_compile(node)
        elif function in _FUNCTIONS:
            self._check_function(node, function)

    # -- detection -------------------------------------------------------
    def _excluded(self, node: cst.Call) -> bool:
        func = self.ctx.enclosing_function(node)
        if func is not None:
            if func.name.value in ONE_TIME_METHODS or is_cached_function(func, self.ctx):
                return True
        return in_lazy_init(node, self.ctx)

    def _check_compile(self, node: cst.Call) -> None:
        func = self.ctx.enclosing_function(node)
        if func is None or self._excluded(node):
            return
        parts = _split_args(node, flags_index=1, function="compile")
        if parts is None:
            return
        pattern, flags, rest = parts
        if rest or not is_constant_string(pattern.value):
            return
        if flags is not None and not _constant_flags(flags.value, self.ctx):
            return
        if self.ctx.repeating_loop(node) is None:
            return  # once per call: a cache lookup, about 1 us (hand review, issue 3)
        self.report(node, fix=self._compile_fix(node, pattern, flags), detail="Inside a loop: paid once per iteration.")

    def _check_function(self, node: cst.Call, function: str) -> None:
        if self.ctx.repeating_loop(node) is None or self._excluded(node):
            return
        parts = _split_args(node, flags_index=_FUNCTIONS[function], function=function)
        if parts is None:
            return
        pattern, flags, rest = parts
        if not is_constant_string(pattern.value):
            return
        if flags is not None and not _constant_flags(flags.value, self.ctx):
            return
        self.report(
            node,
            message=f"`re.{function}` recompiles (or looks up) its constant pattern on every iteration; precompile it at module level",
            fix=self._function_fix(node, function, pattern, flags, rest),
            detail="Inside a loop: paid once per iteration.",
        )

    # -- codemods ---------------------------------------------------------
    def _constant_name(self, node: cst.Call, compiled: bool) -> str:
        target = assigned_target(node, self.ctx) if compiled else None
        if isinstance(target, cst.Name):
            return "_" + snake_to_upper(target.value)
        if isinstance(target, cst.Attribute):
            return "_" + snake_to_upper(target.attr.value)
        func = self.ctx.enclosing_function(node)
        return f"_{snake_to_upper(func.name.value)}_RE" if func is not None else "_PATTERN"

    def _definition(self, fctx: FixContext, node: cst.Call, pattern: cst.Arg, flags: cst.Arg | None) -> str:
        re_ref = fctx.module_ref("re")
        name = fctx.unique_name(self._constant_name(node, compiled=_is_compile(node, self.ctx)))
        args = [self.ctx.code(pattern.value)]
        if flags is not None:
            args.append(fctx.chunk.code_for_node(_rewrite_flags(flags.value, self.ctx, re_ref)))
        fctx.add_definition(f"{name} = {re_ref}.compile({', '.join(args)})")
        return name

    def _compile_fix(self, node: cst.Call, pattern: cst.Arg, flags: cst.Arg | None):
        def build(fctx: FixContext) -> cst.Module | None:
            name = self._definition(fctx, node, pattern, flags)
            return replace_node(fctx.chunk, node, cst.Name(name))

        return build

    def _function_fix(self, node: cst.Call, function: str, pattern: cst.Arg, flags: cst.Arg | None, rest: list[cst.Arg]):
        def build(fctx: FixContext) -> cst.Module | None:
            name = self._definition(fctx, node, pattern, flags)
            args = list(rest)
            if args:
                args[-1] = args[-1].with_changes(comma=node.args[-1].comma)
            new_call = node.with_changes(func=cst.Attribute(value=cst.Name(name), attr=cst.Name(function)), args=args)
            return replace_node(fctx.chunk, node, new_call)

        return build


def _is_compile(node: cst.Call, ctx: RuleContext) -> bool:
    return ctx.qualified_name(node.func) == "re.compile"


def _split_args(node: cst.Call, *, flags_index: int, function: str) -> tuple[cst.Arg, cst.Arg | None, list[cst.Arg]] | None:
    """Split a call's arguments into (pattern, flags, the rest, in order); None for ``*args``/``**kw``."""
    pattern: cst.Arg | None = None
    flags: cst.Arg | None = None
    rest: list[cst.Arg] = []
    for index, arg in enumerate(node.args):
        if arg.star:
            return None
        keyword = arg.keyword.value if arg.keyword else None
        if keyword == "pattern" or (keyword is None and index == 0):
            pattern = arg
        elif keyword == "flags" or (keyword is None and index == flags_index):
            flags = arg
        else:
            rest.append(arg)
    if pattern is None:
        return None
    return pattern, flags, rest


def _constant_flags(expr: cst.BaseExpression, ctx: RuleContext) -> bool:
    if isinstance(expr, cst.Integer):
        return True
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, (cst.BitOr, cst.Add)):
        return _constant_flags(expr.left, ctx) and _constant_flags(expr.right, ctx)
    qn = ctx.qualified_name(expr)
    if qn is None:
        return False
    head, _, tail = qn.partition(".")
    if tail.startswith("RegexFlag."):
        tail = tail[len("RegexFlag.") :]
    return head == "re" and tail in _FLAG_NAMES


def _rewrite_flags(expr: cst.BaseExpression, ctx: RuleContext, re_ref: str) -> cst.BaseExpression:
    """Spell every ``re`` flag in ``expr`` through the module-level name of ``re``."""
    if isinstance(expr, cst.BinaryOperation):
        return expr.with_changes(left=_rewrite_flags(expr.left, ctx, re_ref), right=_rewrite_flags(expr.right, ctx, re_ref))
    qn = ctx.qualified_name(expr)
    if qn and qn.startswith("re."):
        return cst.Attribute(value=cst.Name(re_ref), attr=cst.Name(qn.rsplit(".", 1)[-1]))
    return expr
