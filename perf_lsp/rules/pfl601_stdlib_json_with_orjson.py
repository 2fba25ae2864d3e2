"""PFL601 stdlib-json-with-orjson, and its codemod."""

from __future__ import annotations

import libcst as cst

from perf_lsp.codemod import replace_node
from perf_lsp.model import Applicability
from perf_lsp.rules.base import FixContext, Rule
from perf_lsp.rules.patterns import ONE_TIME_METHODS, is_cached_function, walk

_CALLS = frozenset({"json.loads", "json.dumps"})
# Keywords of json.dumps that orjson can express (OPT_SORT_KEYS, OPT_INDENT_2, default=,
# UTF-8 output); a call with any other keyword keeps json's behaviour on purpose.
_DUMPS_KEYWORDS = frozenset({"default", "sort_keys", "ensure_ascii", "indent"})
_MESSAGE = "`json.{function}` used where the project has orjson; `orjson.{function}` is 3-10x faster"
_UTF8 = frozenset({"utf-8", "utf8", "UTF-8", "UTF8"})


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
    orjson is a compiled JSON library; it parses and serialises 3-10x faster than
    the standard library and its ``dumps`` produces UTF-8 bytes directly. Audit
    report 004 (a WhatsApp bot service) found orjson in ``requirements.txt`` while 37
    files still used ``json.loads``/``json.dumps``, paying the slower parser on
    every message; audit report 000 (#10) found ``json.dumps`` of a whole result on
    every telemetry event and recommends orjson. The dependency is already
    installed, so the speed-up costs nothing but the edit.

    ## Example
    ```python
    import json

    def handle(raw: bytes) -> str:
        message = json.loads(raw)
        return json.dumps({"id": message["id"], "ok": True})
    ```

    ## Use instead
    ```python
    import json
    import orjson

    def handle(raw: bytes) -> str:
        message = orjson.loads(raw)
        return orjson.dumps({"id": message["id"], "ok": True}).decode()
    ```

    ## Fix safety
    Unsafe. ``json.loads(x)`` becomes ``orjson.loads(x)``; ``json.dumps(x)`` without
    keyword arguments becomes ``orjson.dumps(x).decode()`` (still a ``str``), and
    ``json.dumps(x).encode()`` becomes ``orjson.dumps(x)`` (the same UTF-8 bytes);
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
    - the fixed code needs orjson installed wherever the module runs (a module
      that imports orjson only optionally loses its fallback).

    Calls with keyword arguments are reported without a fix (``sort_keys=True`` is
    ``option=orjson.OPT_SORT_KEYS``, ``indent=2`` is ``orjson.OPT_INDENT_2``).
    """

    code = "PFL601"
    opt_in = True
    name = "stdlib-json-with-orjson"
    message = "Standard library `json` used where the project has orjson, which is 3-10x faster"
    fix_title = "Use orjson instead of the standard library json"
    fix_safety = Applicability.UNSAFE
    triggers = r"\b(?:loads|dumps)\b"

    @classmethod
    def applies_to(cls, text, module_ctx, settings) -> bool:
        if not super().applies_to(text, module_ctx, settings):
            return False
        return (
            _declared(settings)
            or "orjson" in text
            or any(qn == "orjson" or qn.startswith("orjson.") for _, qn in module_ctx.imports)
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
        encode_call = self._utf8_encode_of(node) if function == "dumps" else None
        self.report(
            node,
            message=_MESSAGE.format(function=function),
            fix=self._fix(node, function, encode_call) if plain else None,
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

    def _utf8_encode_of(self, node: cst.Call) -> cst.Call | None:
        """The ``json.dumps(x).encode()`` call around ``node`` (UTF-8 or no argument), or None."""
        attr = self.ctx.parent(node)
        if not (isinstance(attr, cst.Attribute) and attr.value is node and attr.attr.value == "encode"):
            return None
        call = self.ctx.parent(attr)
        if not (isinstance(call, cst.Call) and call.func is attr):
            return None
        if not call.args:
            return call
        if len(call.args) == 1 and call.args[0].keyword in (None,) and not call.args[0].star:
            value = call.args[0].value
            if isinstance(value, cst.SimpleString) and value.evaluated_value in _UTF8:
                return call
        return None

    # -- codemod ----------------------------------------------------------
    def _fix(self, node: cst.Call, function: str, encode_call: cst.Call | None):
        def build(fctx: FixContext) -> cst.Module | None:
            ref = fctx.module_ref("orjson")
            call = cst.Call(
                func=cst.Attribute(value=fctx.parse_expression(ref), attr=cst.Name(function)),
                args=node.args,
                lpar=node.lpar,
                rpar=node.rpar,
            )
            if function == "loads":
                return replace_node(fctx.chunk, node, call)
            if encode_call is not None:
                return replace_node(fctx.chunk, encode_call, call.with_changes(lpar=encode_call.lpar, rpar=encode_call.rpar))
            decoded = cst.Call(func=cst.Attribute(value=call.with_changes(lpar=[], rpar=[]), attr=cst.Name("decode")), lpar=node.lpar, rpar=node.rpar)
            return replace_node(fctx.chunk, node, decoded)

        return build


def _declared(settings) -> bool:
    return any(_normalise(p) == "orjson" for p in getattr(settings, "project_packages", ()))
