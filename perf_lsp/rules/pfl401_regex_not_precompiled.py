"""PFL401 regex-not-precompiled (its codemod: :mod:`perf_lsp.fix.regex`)."""

from __future__ import annotations

import libcst as cst

from perf_lsp.fix.regex import calls_re, hoist_fix, may_call_re, regex_call
from perf_lsp.model import Applicability
from perf_lsp.rules.base import Rule, RuleContext
from perf_lsp.rules.heuristics import ONE_TIME_METHODS, in_lazy_init, is_cached_function


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
    change; PFL403 reports it in functions that run per request, as a hint); in ``__init__`` and other one-time set-up methods; in a function
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
        return may_call_re(text, module_ctx)

    @classmethod
    def wants(cls, summary, settings) -> bool:
        return calls_re(summary.call_names)

    def visit_Call(self, node: cst.Call) -> None:
        qn = self.ctx.qualified_name(node.func)
        if qn is None or not qn.startswith("re."):
            return
        if qn == "re.compile" and self.ctx.enclosing_function(node) is None:
            return
        if self.ctx.repeating_loop(node) is None:
            return  # once per call: a cache lookup (PFL403 reports it in a hot function)
        if _excluded(node, self.ctx):
            return
        call = regex_call(node, self.ctx)
        if call is None:
            return
        if call.function == "compile":
            message = None
        else:
            message = f"`re.{call.function}` recompiles (or looks up) its constant pattern on every iteration; precompile it at module level"
        self.report(node, message=message, fix=hoist_fix(call, self.ctx), detail="Inside a loop: paid once per iteration.")


def _excluded(node: cst.Call, ctx: RuleContext) -> bool:
    """A call that runs once: in a one-time set-up method, a cached function, or under a lazy-initialisation guard."""
    func = ctx.enclosing_function(node)
    if func is not None and (func.name.value in ONE_TIME_METHODS or is_cached_function(func, ctx)):
        return True
    return in_lazy_init(node, ctx)
