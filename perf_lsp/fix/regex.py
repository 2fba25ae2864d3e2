"""Hoisting a constant regular expression to a module-level ``re.compile`` constant.

The fix PFL401 (a pattern compiled per loop iteration) and PFL403 (a pattern compiled
once per call of a hot function) share: :func:`regex_call` splits a ``re.compile(...)``
or ``re.<function>(pattern, ...)`` call into its pattern and flags and checks that the
pattern compiles here; :func:`hoist_fix` builds the fix: a module-level
``NAME = re.compile(pattern, flags)`` (or one defined above with the same pattern and
flags, reused) and the call rewritten to use it.
"""

from __future__ import annotations

import ast
import re
import warnings
from dataclasses import dataclass

import libcst as cst

from perf_lsp.analysis.expressions import is_constant_string
from perf_lsp.analysis.imports import dotted_name, resolve_dotted
from perf_lsp.analysis.module import ModuleContext
from perf_lsp.analysis.semantic import SemanticModel, assigned_target
from perf_lsp.analysis.words import snake_to_upper
from perf_lsp.fix.codemod import comments, remove_args, replace_node
from perf_lsp.fix.context import FixBuilder, FixContext

REGEX_FUNCTIONS = {
    "match": 2,
    "search": 2,
    "fullmatch": 2,
    "findall": 2,
    "finditer": 2,
    "sub": 4,
    "subn": 4,
    "split": 3,
}
"""``re``'s module-level functions that take a pattern first -> the index of their ``flags`` argument."""

REGEX_CALLABLES = frozenset({"compile", *REGEX_FUNCTIONS})
"""``compile`` and :data:`REGEX_FUNCTIONS`: the ``re`` functions that compile a pattern."""

_FUNCTION_ALTERNATION = "|".join(sorted(REGEX_FUNCTIONS))
_FLAG_NAMES = frozenset(
    {"A", "ASCII", "I", "IGNORECASE", "L", "LOCALE", "M", "MULTILINE", "S", "DOTALL", "X", "VERBOSE", "U", "UNICODE", "NOFLAG", "DEBUG"}
)


@dataclass(frozen=True)
class RegexCall:
    """A ``re.compile(...)`` or ``re.<function>(...)`` call with a constant pattern and constant flags.

    ``function``: ``"compile"`` or a key of :data:`REGEX_FUNCTIONS`; ``pattern``/``flags``:
    the call's own arguments (``flags`` None when not given); ``key``: (type name, pattern,
    flags as an int) when the pattern compiles here (None: it would raise, or uses
    ``re.DEBUG``, so no fix).
    """

    node: cst.Call
    function: str
    pattern: cst.Arg
    flags: cst.Arg | None
    key: tuple | None


def calls_re(call_names) -> bool:
    """Structural test on a chunk's ``(dotted callee, qualified name)`` pairs (``ChunkSummary.call_names``):
    does it call ``re.compile`` or a function of :data:`REGEX_FUNCTIONS`?"""
    return any(qn == "re.compile" or (qn and qn.startswith("re.") and qn[3:] in REGEX_FUNCTIONS) for _, qn in call_names)


def may_call_re(text: str, module_ctx: ModuleContext) -> bool:
    """Cheap text test: can ``text`` (a chunk of a module with ``module_ctx``) call ``re.compile`` or a
    function of :data:`REGEX_FUNCTIONS` through any import form?"""
    if "import re" in text or "from re " in text:
        return True
    if "re" not in module_ctx.import_roots:
        return False
    for local, qn in module_ctx.imports:
        if qn == "re" and re.search(rf"\b{re.escape(local)}\s*\.\s*(?:compile|{_FUNCTION_ALTERNATION})\b", text):
            return True
        if qn.startswith("re.") and qn[3:] in REGEX_CALLABLES and re.search(rf"\b{re.escape(local)}\s*\(", text):
            return True
    return False


def regex_call(node: cst.Call, ctx: SemanticModel) -> RegexCall | None:
    """``node`` as a :class:`RegexCall`, or None: not a call of ``re``, a pattern or flags that are
    not constants, ``*args``/``**kwargs``, or (``compile``) arguments besides pattern and flags."""
    qn = ctx.qualified_name(node.func)
    if qn is None or not qn.startswith("re.") or qn.count(".") != 1:
        return None
    function = qn[3:]
    if function not in REGEX_CALLABLES:
        return None
    parts = _split_args(node, flags_index=1 if function == "compile" else REGEX_FUNCTIONS[function])
    if parts is None:
        return None
    pattern, flags, rest = parts
    if (function == "compile" and rest) or not is_constant_string(pattern.value):
        return None
    if flags is not None and not _constant_flags(flags.value, ctx):
        return None
    key = compiled_key(pattern.value, flags.value if flags else None, ctx)
    return RegexCall(node, function, pattern, flags, key)


def hoist_fix(call: RegexCall, ctx: SemanticModel) -> FixBuilder | None:
    """The fix builder that hoists ``call``'s pattern into a module-level compiled constant, or None when
    the pattern does not compile here.

    ``re.compile(p, f)`` becomes the constant's name; ``re.findall(p, s, f)`` becomes
    ``NAME.findall(s)``. The constant is named after the assignment target of a
    ``compile`` (``word = re.compile(...)`` -> ``_WORD``), else after the function
    (``_TOKENS_RE``). ``import re`` is added when the module only has ``from re import
    ...``. Comments that ended the pattern's or the flags' line move above the constant;
    a comment anywhere else means no fix.
    """
    if call.key is None:
        return None
    if call.function == "compile":
        return _compile_fix(call, ctx)
    return _function_fix(call, ctx)


def _constant_name(node: cst.Call, compiled: bool, ctx: SemanticModel) -> str:
    target = assigned_target(node, ctx) if compiled else None
    if isinstance(target, cst.Name):
        return "_" + snake_to_upper(target.value)
    if isinstance(target, cst.Attribute):
        return "_" + snake_to_upper(target.attr.value)
    func = ctx.enclosing_function(node)
    return f"_{snake_to_upper(func.name.value)}_RE" if func is not None else "_PATTERN"


def _existing(fctx: FixContext, key: tuple, ctx: SemanticModel) -> str | None:
    """A module-level ``NAME = re.compile(<same pattern>, <same flags>)`` defined before the chunk."""
    imports = dict(ctx.module_ctx.imports)
    for name, value in fctx.module_assignments().items():
        if _ast_compiled_key(value, imports) == key:
            return name
    return None


def _constant(fctx: FixContext, call: RegexCall, value: cst.Call, moved: list[cst.Comment], ctx: SemanticModel) -> str:
    """Add ``NAME = <value>`` at module level (once per pattern and flags); returns NAME."""
    fctx.define(("re.compile", call.key))
    name = fctx.unique_name(_constant_name(call.node, call.function == "compile", ctx))
    lines = [cst.EmptyLine(indent=False, comment=comment) for comment in moved]
    target = cst.AssignTarget(cst.Name(name))
    fctx.add_definition(cst.SimpleStatementLine([cst.Assign([target], value)], leading_lines=lines))
    return name


def _compiled(fctx: FixContext, call: RegexCall, ctx: SemanticModel) -> cst.Call:
    """``<re>.compile(pattern, flags)``, made of the call's own argument nodes."""
    pattern, flags = call.pattern, call.flags
    re_ref = fctx.parse_expression(fctx.module_ref("re"))
    args = [pattern.with_changes(comma=cst.MaybeSentinel.DEFAULT, whitespace_after_arg=cst.SimpleWhitespace(""))]
    if flags is not None:
        value = _rewrite_flags(flags.value, ctx, fctx.module_ref("re"))
        args[0] = args[0].with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
        args.append(flags.with_changes(value=value, comma=cst.MaybeSentinel.DEFAULT, whitespace_after_arg=cst.SimpleWhitespace("")))
    return cst.Call(func=cst.Attribute(value=re_ref, attr=cst.Name("compile")), args=args)


def _compile_fix(call: RegexCall, ctx: SemanticModel) -> FixBuilder:
    node, flags = call.node, call.flags

    def build(fctx: FixContext) -> cst.Module | None:
        name = _existing(fctx, call.key, ctx)
        if name is None:
            # the constant is the call itself, layout and comments included
            func = cst.Attribute(value=fctx.parse_expression(fctx.module_ref("re")), attr=cst.Name("compile"))
            value = node.with_changes(func=func, lpar=[], rpar=[])
            if flags is not None:
                new_flags = flags.with_changes(value=_rewrite_flags(flags.value, ctx, fctx.module_ref("re")))
                value = value.with_changes(args=[new_flags if arg is flags else arg for arg in value.args])
            name = _constant(fctx, call, value, [], ctx)
        elif comments(node):
            return None  # the call's comments would go with it
        return replace_node(fctx.chunk, node, cst.Name(name, lpar=node.lpar, rpar=node.rpar), ctx.ancestors(node))

    return build


def _function_fix(call: RegexCall, ctx: SemanticModel) -> FixBuilder:
    node, pattern, flags = call.node, call.pattern, call.flags

    def build(fctx: FixContext) -> cst.Module | None:
        name = _existing(fctx, call.key, ctx)
        removed = [pattern] if flags is None else [pattern, flags]
        # the other arguments stay as written; a comment that ended the line of the
        # pattern or flags moves with them to the constant (or stays, on its own line)
        new_call, moved = remove_args(node, removed, keep_comments=name is not None)
        if name is None:
            name = _constant(fctx, call, _compiled(fctx, call, ctx), moved, ctx)
        kept = len(comments(new_call)) + len(moved) + sum(len(comments(arg.value)) for arg in removed)
        if kept != len(comments(node)):
            return None  # a comment somewhere unusual: no fix rather than a lost comment
        new_call = new_call.with_changes(func=cst.Attribute(value=cst.Name(name), attr=cst.Name(call.function)))
        return replace_node(fctx.chunk, node, new_call, ctx.ancestors(node))

    return build


def _split_args(node: cst.Call, *, flags_index: int) -> tuple[cst.Arg, cst.Arg | None, list[cst.Arg]] | None:
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


def _constant_flags(expr: cst.BaseExpression, ctx: SemanticModel) -> bool:
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


def _rewrite_flags(expr: cst.BaseExpression, ctx: SemanticModel, re_ref: str) -> cst.BaseExpression:
    """Spell every ``re`` flag in ``expr`` through the module-level name of ``re``."""
    if isinstance(expr, cst.BinaryOperation):
        return expr.with_changes(left=_rewrite_flags(expr.left, ctx, re_ref), right=_rewrite_flags(expr.right, ctx, re_ref))
    qn = ctx.qualified_name(expr)
    if qn and qn.startswith("re."):
        return cst.Attribute(value=cst.Name(re_ref), attr=cst.Name(qn.rsplit(".", 1)[-1]))
    return expr


def compiled_key(pattern: cst.BaseExpression, flags: cst.BaseExpression | None, ctx: SemanticModel) -> tuple | None:
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
