"""PFL403 regex-compiled-per-call (its codemod: :mod:`perf_lsp.fix.regex`)."""

from __future__ import annotations

import libcst as cst

from perf_lsp.fix.regex import calls_re, hoist_fix, may_call_re, regex_call
from perf_lsp.model import Applicability
from perf_lsp.rules.base import Rule
from perf_lsp.rules.heuristics import ONE_TIME_METHODS, in_lazy_init, is_cached_function


class RegexCompiledPerCall(Rule):
    """
    ## What it does
    Reports a regular expression with a constant pattern compiled once per call of
    a hot function, outside any loop: ``re.compile("...")`` or
    ``re.match/search/fullmatch/findall/finditer/sub/subn/split("...", ...)`` in
    the body of a request handler, a queue or bot handler, or a function one of
    them calls (the project index decides: see ``include-cold`` and the hover,
    which names the handler). Any import form counts (``import re as rx``, ``from
    re import search``).

    Not reported: where the project index cannot show that the function runs per
    request or per event (a function nobody is known to call, a CLI command, a
    test); inside a loop or comprehension (that is PFL401); at module level; in
    ``__init__`` and other one-time set-up methods; in a function decorated with
    ``functools.cache``/``lru_cache``; under a lazy-initialisation guard; when the
    pattern or flags are not constants. The editor shows it as a hint (``severity``
    changes that).

    ## Why is this bad?
    Only a little. ``re`` keeps the patterns it compiled in a cache, so a call with
    a constant pattern costs a lookup in that cache by (type, pattern, flags)
    before the match. Measured (``benchmarks/bench_costs.py``, ``docs/costs.md``,
    on a busy 2-core machine): the lookup alone takes about 0.7-0.9 us, against
    1.2-1.4 us for the short case-insensitive search it serves, and the whole
    ``re.search(pattern, text, re.I)`` about 2.5 us against 1.2 us for the
    compiled pattern's ``search``: about a microsecond per call, which matters in
    a handler that does little else and not in one that waits on a model or a
    database. It grows to a full parse and compile of the pattern, tens of
    microseconds, when the process uses more distinct patterns than the cache
    holds (``_MAXCACHE``, 512 in CPython 3.11+). The change also gives the pattern
    a name and puts it where readers look for patterns.

    ## Example
    ```python
    import re

    from fastapi import FastAPI

    app = FastAPI()

    @app.post("/ask")
    def ask(question: str):
        if re.search(r"\\bpassword\\b", question, re.I):
            return {"answer": "I cannot help with passwords."}
        return {"answer": question}
    ```

    ## Use instead
    ```python
    import re

    from fastapi import FastAPI

    app = FastAPI()

    _ASK_RE = re.compile(r"\\bpassword\\b", re.I)

    @app.post("/ask")
    def ask(question: str):
        if _ASK_RE.search(question):
            return {"answer": "I cannot help with passwords."}
        return {"answer": question}
    ```

    ## Fix safety
    Safe, and the same fix as PFL401's: ``re.search(p, s, f)`` and
    ``re.compile(p, f).search(s)`` are documented as equivalent, compiled patterns
    are immutable, and a constant pattern compiles the same way at import time as
    at call time. The fix adds a module-level ``NAME = re.compile(pattern, flags)``
    with a name that clashes with nothing in the file (or reuses one defined above
    with the same pattern and flags), rewrites the call to use it, and adds ``import
    re`` when the module only had ``from re import ...``. No fix when the pattern
    does not compile here (it raises at its call today and would raise at import),
    with ``re.DEBUG``, or when a comment could not go with the pattern.

    ## References
    - [Python: re.compile and the pattern cache](https://docs.python.org/3/library/re.html#re.compile)
    - [CPython: Lib/re/__init__.py (_MAXCACHE)](https://github.com/python/cpython/blob/3.11/Lib/re/__init__.py)
    - Measured figures: `docs/costs.md`, made by `benchmarks/bench_costs.py`
    """

    code = "PFL403"
    name = "regex-compiled-per-call"
    message = "Regular expression compiled on every call of a hot function; precompile it once at module level"
    fix_title = "Precompile the pattern into a module-level constant"
    fix_safety = Applicability.SAFE
    hot_only = True
    default_severity = "hint"

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
        func = self.ctx.enclosing_function(node)
        if func is None or self.ctx.repeating_loop(node) is not None:
            return  # module level runs once; a loop is PFL401's
        if func.name.value in ONE_TIME_METHODS or is_cached_function(func, self.ctx) or in_lazy_init(node, self.ctx):
            return
        call = regex_call(node, self.ctx)
        if call is None:
            return
        if call.function == "compile":
            message = None
        else:
            message = f"`re.{call.function}` looks up its constant pattern on every call of a hot function; precompile it at module level"
        self.report(
            node,
            message=message,
            fix=hoist_fix(call, self.ctx),
            detail="Once per call: a lookup in re's pattern cache, about 1 us, against about 1.3 us for a short match (docs/costs.md).",
        )
