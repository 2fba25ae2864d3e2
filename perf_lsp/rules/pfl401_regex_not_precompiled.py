"""PFL401 regex-not-precompiled, and its codemod."""

from __future__ import annotations

import ast
import re
import warnings

import libcst as cst

from perf_lsp.analysis.expressions import is_constant_string
from perf_lsp.analysis.imports import dotted_name, resolve_dotted
from perf_lsp.analysis.semantic import assigned_target
from perf_lsp.analysis.words import snake_to_upper
from perf_lsp.fix.codemod import comments, remove_args, replace_node
from perf_lsp.fix.context import FixContext
from perf_lsp.model import Applicability
from perf_lsp.rules.base import Rule, RuleContext
from perf_lsp.rules.heuristics import ONE_TIME_METHODS, in_lazy_init, is_cached_function

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
    the cache holds (``_MAXCACHE``, 512 in CPython 3.11+), the pattern is parsed and
    compiled again. The ``re`` documentation notes that the most recent patterns are
    cached, "so programs that use only a few regular expressions at a time needn't
    worry about compiling regular expressions", and that ``re.compile`` and reuse
    is more efficient when an expression is used several times. Measured
    (``benchmarks/bench_costs.py``, ``docs/costs.md``): on a cache hit
    ``re.findall`` costs about 1.9 us against 1.7 us for a compiled pattern; with
    700 distinct patterns in turn (the cache overflows) about 25 us against under
    0.1 us.

    This is a small cost per call ("only a micro-optimisation" in Ruff's words for
    similar rules) that adds up in per-message and per-item code, and much larger
    in programs with many patterns. The fix also gives the pattern a name.

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
    the same way at import time as at call time (the literal is copied as written:
    a ``bytes`` pattern stays ``bytes``). The fix adds a module-level
    ``NAME = re.compile(pattern, flags)`` with a name that clashes with nothing in
    the file, or reuses one defined above with the same pattern and flags; rewrites
    the call to use it; and adds ``import re`` when the module only had
    ``from re import ...``. The constant goes before the function, or after the
    last module-level binding of ``re`` when that comes later (an ``import re``
    below the function). The call keeps its layout and comments: a comment that
    ended the pattern's or the flags' line moves with them, above the constant.

    No fix when the pattern does not compile here (an invalid pattern, or a ``str``
    pattern with ``re.LOCALE``: it raises at its call today and would raise at
    import), with ``re.DEBUG`` (it prints when the pattern compiles), or when code
    could run between the function and a later ``import re`` (a call or a
    decorator at module level) and use the constant before it exists.

    ## References
    - [Python: re.compile and the pattern cache](https://docs.python.org/3/library/re.html#re.compile)
    - [CPython: Lib/re/__init__.py (_MAXCACHE)](https://github.com/python/cpython/blob/3.11/Lib/re/__init__.py)
    - Measured figures: `docs/costs.md`, made by `benchmarks/bench_costs.py`
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
        if "re" not in module_ctx.import_roots:
            return False
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
            return  # once per call: a cache lookup, about 1 us (docs/real-code-review.md)
        key = compiled_key(pattern.value, flags.value if flags else None, self.ctx)
        fix = self._compile_fix(node, pattern, flags, key) if key is not None else None
        self.report(node, fix=fix, detail="Inside a loop: paid once per iteration.")

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
        key = compiled_key(pattern.value, flags.value if flags else None, self.ctx)
        self.report(
            node,
            message=f"`re.{function}` recompiles (or looks up) its constant pattern on every iteration; precompile it at module level",
            fix=self._function_fix(node, function, pattern, flags, key) if key is not None else None,
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

    def _existing(self, fctx: FixContext, key: tuple) -> str | None:
        """A module-level ``NAME = re.compile(<same pattern>, <same flags>)`` defined before the chunk."""
        imports = dict(self.ctx.module_ctx.imports)
        for name, value in fctx.module_assignments().items():
            if _ast_compiled_key(value, imports) == key:
                return name
        return None

    def _constant(self, fctx: FixContext, node: cst.Call, key: tuple, value: cst.Call, comments: list[cst.Comment]) -> str:
        """Add ``NAME = <value>`` at module level (once per pattern and flags); returns NAME."""
        fctx.define(("re.compile", key))
        name = fctx.unique_name(self._constant_name(node, compiled=_is_compile(node, self.ctx)))
        lines = [cst.EmptyLine(indent=False, comment=comment) for comment in comments]
        target = cst.AssignTarget(cst.Name(name))
        fctx.add_definition(cst.SimpleStatementLine([cst.Assign([target], value)], leading_lines=lines))
        return name

    def _compiled(self, fctx: FixContext, node: cst.Call, pattern: cst.Arg, flags: cst.Arg | None) -> cst.Call:
        """``<re>.compile(pattern, flags)``, made of the call's own argument nodes."""
        re_ref = fctx.parse_expression(fctx.module_ref("re"))
        args = [pattern.with_changes(comma=cst.MaybeSentinel.DEFAULT, whitespace_after_arg=cst.SimpleWhitespace(""))]
        if flags is not None:
            value = _rewrite_flags(flags.value, self.ctx, fctx.module_ref("re"))
            args[0] = args[0].with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
            args.append(flags.with_changes(value=value, comma=cst.MaybeSentinel.DEFAULT, whitespace_after_arg=cst.SimpleWhitespace("")))
        return cst.Call(func=cst.Attribute(value=re_ref, attr=cst.Name("compile")), args=args)

    def _compile_fix(self, node: cst.Call, pattern: cst.Arg, flags: cst.Arg | None, key: tuple):
        def build(fctx: FixContext) -> cst.Module | None:
            name = self._existing(fctx, key)
            if name is None:
                # the constant is the call itself, layout and comments included
                func = cst.Attribute(value=fctx.parse_expression(fctx.module_ref("re")), attr=cst.Name("compile"))
                value = node.with_changes(func=func, lpar=[], rpar=[])
                if flags is not None:
                    new_flags = flags.with_changes(value=_rewrite_flags(flags.value, self.ctx, fctx.module_ref("re")))
                    value = value.with_changes(args=[new_flags if arg is flags else arg for arg in value.args])
                name = self._constant(fctx, node, key, value, [])
            elif comments(node):
                return None  # the call's comments would go with it
            return replace_node(fctx.chunk, node, cst.Name(name, lpar=node.lpar, rpar=node.rpar), self.ctx.ancestors(node))

        return build

    def _function_fix(self, node: cst.Call, function: str, pattern: cst.Arg, flags: cst.Arg | None, key: tuple):
        def build(fctx: FixContext) -> cst.Module | None:
            name = self._existing(fctx, key)
            removed = [pattern] if flags is None else [pattern, flags]
            # the other arguments stay as written; a comment that ended the line of the
            # pattern or flags moves with them to the constant (or stays, on its own line)
            new_call, moved = remove_args(node, removed, keep_comments=name is not None)
            if name is None:
                name = self._constant(fctx, node, key, self._compiled(fctx, node, pattern, flags), moved)
            kept = len(comments(new_call)) + len(moved) + sum(len(comments(arg.value)) for arg in removed)
            if kept != len(comments(node)):
                return None  # a comment somewhere unusual: no fix rather than a lost comment
            new_call = new_call.with_changes(func=cst.Attribute(value=cst.Name(name), attr=cst.Name(function)))
            return replace_node(fctx.chunk, node, new_call, self.ctx.ancestors(node))

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


def compiled_key(pattern: cst.BaseExpression, flags: cst.BaseExpression | None, ctx: RuleContext) -> tuple | None:
    """(type, pattern, flags) of a constant pattern that compiles, or None.

    The pattern literal is evaluated (implicit concatenation included), the flags
    from ``re``'s constants, and the pattern compiled here: an invalid one (or a
    ``str`` pattern with ``LOCALE``) raises at its call today and must not raise at
    import instead. ``DEBUG`` is refused: it prints when the pattern compiles.
    """
    try:
        value = ast.literal_eval(ctx.code(pattern).strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    number = 0 if flags is None else _flag_value(flags, ctx.qualified_name)
    return _checked(value, number)


def _checked(value: object, flags: int | None) -> tuple | None:
    if not isinstance(value, (str, bytes)) or flags is None or flags & re.DEBUG:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            re.compile(value, flags)
    except (re.error, ValueError, TypeError, OverflowError, RecursionError, MemoryError):
        return None
    return (type(value).__name__, value, int(flags))


def _flag_value(expr, qualified_name) -> int | None:
    """The value of a flags expression (``re.I | re.M``, ``2``), for libcst or ast nodes; None if unknown."""
    if isinstance(expr, cst.Integer):
        return int(expr.evaluated_value)
    if isinstance(expr, ast.Constant):
        return expr.value if type(expr.value) is int else None
    if isinstance(expr, (cst.BinaryOperation, ast.BinOp)):
        left = _flag_value(expr.left, qualified_name)
        right = _flag_value(expr.right, qualified_name)
        if left is None or right is None:
            return None
        if isinstance(expr.operator if isinstance(expr, cst.BinaryOperation) else expr.op, (cst.BitOr, ast.BitOr)):
            return left | right
        if isinstance(expr.operator if isinstance(expr, cst.BinaryOperation) else expr.op, (cst.Add, ast.Add)):
            return left + right
        return None
    qn = qualified_name(expr)
    if qn is None or not qn.startswith("re."):
        return None
    tail = qn[3:]
    if tail.startswith("RegexFlag."):
        tail = tail[len("RegexFlag.") :]
    if tail not in _FLAG_NAMES:
        return None
    value = getattr(re, tail, None)
    return int(value) if isinstance(value, int) else None


def _ast_compiled_key(value: ast.expr, imports: dict[str, str]) -> tuple | None:
    """The (type, pattern, flags) of a module-level ``re.compile(<literal>, <flags>)``, or None."""
    if not isinstance(value, ast.Call):
        return None
    func = dotted_name(value.func)
    if func is None or resolve_dotted(func, imports) != "re.compile":
        return None
    if len(value.args) > 2 or any(isinstance(a, ast.Starred) for a in value.args):
        return None
    pattern = value.args[0] if value.args else None
    flags = value.args[1] if len(value.args) > 1 else None
    for keyword in value.keywords:
        if keyword.arg == "pattern" and pattern is None:
            pattern = keyword.value
        elif keyword.arg == "flags" and flags is None:
            flags = keyword.value
        else:
            return None
    if pattern is None:
        return None
    try:
        literal = ast.literal_eval(pattern)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None

    def qualified(expr: ast.expr) -> str | None:
        name = dotted_name(expr)
        return resolve_dotted(name, imports) if name else None

    number = 0 if flags is None else _flag_value(flags, qualified)
    return _checked(literal, number)
