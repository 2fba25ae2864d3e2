"""PFL601 stdlib-json-with-orjson, and its codemod."""

from __future__ import annotations

import libcst as cst

from perf_lsp.analysis.tree import walk
from perf_lsp.fix.codemod import replace_node
from perf_lsp.fix.context import FixContext, imported_only_optionally
from perf_lsp.model import Applicability
from perf_lsp.rules.base import Rule
from perf_lsp.rules.heuristics import ONE_TIME_METHODS, is_cached_function

_CALLS = frozenset({"json.loads", "json.dumps"})
# Keywords of json.dumps that orjson can express (OPT_SORT_KEYS, OPT_INDENT_2, default=,
# UTF-8 output); a call with any other keyword keeps json's behaviour on purpose.
_DUMPS_KEYWORDS = frozenset({"default", "sort_keys", "ensure_ascii", "indent"})
_MESSAGE = "`json.{function}` used where the project has orjson; `orjson.{function}` is 3-10x faster"
_UTF8 = frozenset({"utf-8", "utf8", "UTF-8", "UTF8", "utf_8", "U8"})
_BYTES_RESPONSES = frozenset(
    f"{module}.{name}"
    for module in ("starlette.responses", "fastapi.responses", "fastapi")
    for name in ("Response", "PlainTextResponse", "HTMLResponse")
)
"""Response classes whose ``content`` may be ``str`` (encoded as UTF-8) or ``bytes`` (sent as is)."""


def _normalise(name: str) -> str:
    return name.replace("_", "-").replace(".", "-").lower()


class StdlibJsonWithOrjson(Rule):
    """
    ## What it does
    Reports ``json.loads`` and ``json.dumps`` from the standard library inside a
    function, in a project that already has ``orjson``: the project declares it
    (``pyproject.toml`` dependencies or optional dependencies, Poetry/PDM/uv
    groups, ``requirements*.txt``, ``setup.cfg`` ``install_requires``, ``Pipfile``),
    or the module itself imports ``orjson``. Any import form counts
    (``from json import loads``); ``flask.json``, ``simplejson`` and ``ujson`` are
    other modules and are not reported.

    Not reported: module-level and class-level code (runs once at import);
    database migration scripts (modules that import ``alembic`` or Django's
    migrations: they run once per deploy);
    ``__init__`` and other one-time set-up methods and functions cached with
    ``functools.cache``/``lru_cache``; a function that mentions ``orjson`` in an
    ``if`` test or a ``try`` body (a helper that chooses between the two, an
    optional-import fallback); code under ``if`` tests that mention ``orjson``
    (``if HAS_ORJSON:``) and in ``except`` handlers (fallback paths); calls with options orjson has no equivalent for
    (``cls=``, ``separators=``, ``indent`` other than 2, ``allow_nan=``,
    ``object_hook=``, ``parse_float=``..., ``**kwargs``). ``json.load``/``json.dump``
    on files are not reported: they are mostly one-time configuration reads, and
    orjson has no file API.

    ## Why is this bad?
    orjson is a compiled JSON library: its README benchmarks put ``dumps`` and
    ``loads`` several times faster than the standard library, and its ``dumps``
    produces UTF-8 bytes directly. Measured on a chat-service-sized payload (100
    messages; ``benchmarks/bench_costs.py``, ``docs/costs.md``): ``json.dumps``
    about 460 us against about 33 us for ``orjson.dumps(...).decode()``, and
    ``json.loads`` about 310 us against about 80 us. The rule reports only where
    the project already depends on orjson, so the speed-up costs nothing but the
    edit.

    ## Example
    In a project whose dependencies list ``orjson``, or, as here, in a module that
    imports it:
    ```python
    import json

    import orjson

    def publish(event: dict) -> bytes:
        return orjson.dumps(event)

    def handle(raw: bytes) -> str:
        message = json.loads(raw)
        return json.dumps({"id": message["id"], "ok": True})
    ```

    ## Use instead
    ```python
    import orjson

    def publish(event: dict) -> bytes:
        return orjson.dumps(event)

    def handle(raw: bytes) -> str:
        message = orjson.loads(raw)
        return orjson.dumps({"id": message["id"], "ok": True}).decode()
    ```

    ## Fix safety
    Unsafe. ``json.loads(x)`` becomes ``orjson.loads(x)``; ``json.dumps(x)`` without
    keyword arguments becomes ``orjson.dumps(x).decode()`` (still a ``str``), and
    ``json.dumps(x).encode()`` becomes ``orjson.dumps(x)`` (the same UTF-8 bytes), as
    does a ``json.dumps(x)`` whose value is discarded (a statement of its own, kept for
    the ``TypeError`` it raises) or passed as the ``content`` of a Starlette/FastAPI
    ``Response``, ``PlainTextResponse`` or ``HTMLResponse`` (which encode a ``str`` as
    UTF-8). The call keeps its layout and comments (only the callee changes);
    ``import orjson`` is added when missing. The two libraries differ:

    - ``orjson.dumps`` writes compact JSON (``{"a":1}``, not ``{"a": 1}``) and
      non-ASCII characters as UTF-8 instead of ``\\uXXXX`` escapes: the text is
      equivalent JSON but not the same string, so cache keys, hashes or
      signatures computed from it change;
    - ``orjson.dumps`` serialises dataclasses, ``datetime``, ``UUID`` and numpy
      arrays natively where ``json`` raises ``TypeError``, rejects integers beyond
      64 bits and non-``str`` dict keys, and writes ``NaN``/``Infinity`` as ``null``;
    - ``orjson.loads`` rejects ``NaN``/``Infinity`` literals, integers beyond 64
      bits and invalid UTF-8 (lone surrogates) that ``json.loads`` accepts. Its
      errors are ``orjson.JSONDecodeError``, a subclass of
      ``json.JSONDecodeError`` and ``ValueError``, so existing ``except`` clauses
      still catch them;
    - the fixed code needs orjson installed wherever the module runs. So no fix
      is offered in a module that imports orjson only optionally (under a
      top-level ``try``/``if``: ``orjson`` may be None there, and an unconditional
      ``import orjson`` would stop the module from importing without it).

    Calls with keyword arguments are reported without a fix (``sort_keys=True`` is
    ``option=orjson.OPT_SORT_KEYS``, ``indent=2`` is ``orjson.OPT_INDENT_2``; a
    ``default=`` function is called for other types than json's, ``ensure_ascii=False``
    is orjson's only output), and so is ``json.dumps(x).encode(codec)`` for a codec
    other than UTF-8 (``"ascii"`` relies on json escaping every non-ASCII character).
    Non-ASCII text now reaches places that may accept only ASCII or Latin-1 (an HTTP
    header value, a file opened with such an encoding).

    ## References
    - [orjson: README (performance)](https://github.com/ijl/orjson#performance)
    - [Python: json](https://docs.python.org/3/library/json.html)
    - Measured figures: `docs/costs.md`, made by `benchmarks/bench_costs.py`
    """

    code = "PFL601"
    opt_in = True
    name = "stdlib-json-with-orjson"
    message = "Standard library `json` used where the project has orjson, which is 3-10x faster"
    fix_title = "Use orjson instead of the standard library json"
    fix_safety = Applicability.UNSAFE
    triggers = r"(?:loads(?<=\bloads)|dumps(?<=\bdumps))\b"

    @classmethod
    def applies_to(cls, text, module_ctx, settings) -> bool:
        if not super().applies_to(text, module_ctx, settings):
            return False
        return (
            _declared(settings)
            or "orjson" in text
            or "orjson" in module_ctx.import_roots
        )

    @classmethod
    def wants(cls, summary, settings) -> bool:
        return any(qn in _CALLS for _, qn in summary.call_names)

    def visit_Call(self, node: cst.Call) -> None:
        qn = self.ctx.qualified_name(node.func)
        if qn not in _CALLS:
            return
        evidence = self._evidence()
        if evidence is None:
            return
        function = qn[5:]
        if not self._hot(node) or not self._portable(node, function):
            return
        loop = self.ctx.repeating_loop(node)
        detail = evidence + (" Inside a loop: paid once per iteration." if loop is not None else "")
        plain = len(node.args) == 1 and node.args[0].keyword is None and not node.args[0].star
        encode_call = None
        as_bytes = False
        if function == "dumps":
            encode_call, utf8 = self._encode_of(node)
            if encode_call is not None and not utf8:
                plain = False  # ``.encode("ascii")`` relied on json's ASCII-only output; orjson writes UTF-8
            as_bytes = encode_call is None and self._bytes_do(node)
        if imported_only_optionally(self.ctx.module_ctx, "orjson"):
            plain = False  # ``try: import orjson``: the fix would make the module need it
        self.report(
            node,
            message=_MESSAGE.format(function=function),
            fix=self._fix(node, function, encode_call, as_bytes) if plain else None,
            detail=detail,
        )

    # -- detection -------------------------------------------------------
    def _evidence(self) -> str | None:
        if _declared(self.ctx.settings):
            return "orjson is declared in this project's dependencies."
        imports = [qn for _, qn in self.ctx.module_ctx.imports] + list(self.ctx.local_imports.values())
        if any(qn == "orjson" or qn.startswith("orjson.") for qn in imports):
            return "This module already imports orjson."
        return None

    def _hot(self, node: cst.Call) -> bool:
        """In a function that runs per call (not set-up, not cached, not choosing between json and orjson)."""
        func = self.ctx.enclosing_function(node)
        if func is None or self._migration():
            return False
        if func.name.value in ONE_TIME_METHODS or is_cached_function(func, self.ctx):
            return False
        child: cst.CSTNode = node
        for anc in self.ctx.ancestors(node):
            if isinstance(anc, cst.ExceptHandler):
                return False
            if isinstance(anc, cst.If) and child is not anc.test and "orjson" in self.ctx.code(anc.test).lower():
                return False
            if isinstance(anc, cst.FunctionDef) and self._chooses_orjson(anc):
                return False
            child = anc
        return True

    def _migration(self) -> bool:
        """A database migration script (the module imports ``alembic``, or Django's migrations): runs once per deploy."""
        imports = [qn for _, qn in self.ctx.module_ctx.imports] + list(self.ctx.local_imports.values())
        return any(qn == "alembic" or qn.startswith(("alembic.", "django.db.migrations")) for qn in imports)

    def _chooses_orjson(self, func: cst.FunctionDef) -> bool:
        """``func`` decides between orjson and json: a test or a ``try`` body that mentions orjson."""
        if "orjson" not in self.ctx.code(func).lower():
            return False
        for node in walk(func.body):
            if isinstance(node, (cst.If, cst.IfExp, cst.While)) and "orjson" in self.ctx.code(node.test).lower():
                return True
            if isinstance(node, (cst.Try, cst.TryStar)) and "orjson" in self.ctx.code(node.body).lower():
                return True
        return False

    def _portable(self, node: cst.Call, function: str) -> bool:
        """Whether orjson can do what the call asks (no options it lacks)."""
        positional = 0
        for arg in node.args:
            if arg.star:
                return False
            if arg.keyword is None:
                positional += 1
                continue
            if function == "loads":
                return False
            key = arg.keyword.value
            if key not in _DUMPS_KEYWORDS:
                return False
            if key == "indent" and not (
                (isinstance(arg.value, cst.Integer) and arg.value.value == "2")
                or (isinstance(arg.value, cst.Name) and arg.value.value == "None")
            ):
                return False
        return positional == 1

    def _encode_of(self, node: cst.Call) -> tuple[cst.Call | None, bool]:
        """The ``json.dumps(x).encode(...)`` call around ``node`` (or None), and whether it encodes as UTF-8.

        ``encode()``, ``encode("utf-8")`` and ``encode(encoding="utf-8")`` are UTF-8;
        any other codec or argument is not (``"ascii"`` only works because
        ``json.dumps`` escapes every non-ASCII character).
        """
        attr = self.ctx.parent(node)
        if not (isinstance(attr, cst.Attribute) and attr.value is node and attr.attr.value == "encode"):
            return None, False
        call = self.ctx.parent(attr)
        if not (isinstance(call, cst.Call) and call.func is attr):
            return None, False
        if not call.args:
            return call, True
        if len(call.args) == 1 and not call.args[0].star:
            arg = call.args[0]
            if arg.keyword is None or arg.keyword.value == "encoding":
                value = arg.value
                if isinstance(value, cst.SimpleString) and value.evaluated_value in _UTF8:
                    return call, True
        return call, False

    def _bytes_do(self, node: cst.Call) -> bool:
        """Whether ``json.dumps(...)``'s ``str`` is not needed: its value is discarded (a statement
        of its own), or handed to a response class that encodes a ``str`` as UTF-8 and takes bytes as they are."""
        parent = self.ctx.parent(node)
        if isinstance(parent, cst.Expr) and parent.value is node:
            return True
        if not (isinstance(parent, cst.Arg) and parent.value is node and not parent.star):
            return False
        call = self.ctx.parent(parent)
        if not (isinstance(call, cst.Call) and self.ctx.qualified_name(call.func) in _BYTES_RESPONSES):
            return False
        if parent.keyword is not None:
            return parent.keyword.value == "content"
        return call.args[0] is parent

    # -- codemod ----------------------------------------------------------
    def _fix(self, node: cst.Call, function: str, encode_call: cst.Call | None, as_bytes: bool):
        def build(fctx: FixContext) -> cst.Module | None:
            module = fctx.parse_expression(fctx.module_ref("orjson"))
            func = node.func
            if isinstance(func, cst.Attribute):  # ``json.dumps`` -> ``orjson.dumps``: the call's own nodes and layout
                new_func: cst.BaseExpression = func.with_changes(value=module, attr=func.attr.with_changes(value=function))
            else:  # ``dumps`` imported from json
                new_func = cst.Attribute(value=module, attr=cst.Name(function), lpar=func.lpar, rpar=func.rpar)
            call = node.with_changes(func=new_func)
            if function == "loads" or as_bytes:
                return replace_node(fctx.chunk, node, call)
            if encode_call is not None:
                return replace_node(fctx.chunk, encode_call, call.with_changes(lpar=encode_call.lpar, rpar=encode_call.rpar))
            decoded = cst.Call(func=cst.Attribute(value=call.with_changes(lpar=[], rpar=[]), attr=cst.Name("decode")), lpar=node.lpar, rpar=node.rpar)
            return replace_node(fctx.chunk, node, decoded)

        return build


def _declared(settings) -> bool:
    return any(_normalise(p) == "orjson" for p in getattr(settings, "project_packages", ()))
