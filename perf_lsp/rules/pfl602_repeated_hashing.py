"""PFL602 repeated-hashing (no fix: the docs show a cached helper)."""

from __future__ import annotations

import ast
import builtins

import libcst as cst

from perf_lsp.analysis.bindings import all_params, changed_names, referenced_names, target_names
from perf_lsp.analysis.tree import COMPREHENSIONS, FUNCTION_BOUNDARIES, SCOPES, children, dotted, walk
from perf_lsp.rules.base import Rule
from perf_lsp.rules.heuristics import is_cached_function

_ALGORITHMS = frozenset(
    {
        "md5", "sha1", "sha224", "sha256", "sha384", "sha512",
        "sha3_224", "sha3_256", "sha3_384", "sha3_512",
        "blake2b", "blake2s", "shake_128", "shake_256",
    }
)
_DIGESTS = frozenset({"hexdigest", "digest"})
# Calls that compute a value from their arguments without side effects or state:
# a hashed value built only from these is the same when its inputs are.
_PURE_METHODS = frozenset(
    {"encode", "decode", "lower", "upper", "casefold", "strip", "lstrip", "rstrip", "join", "format", "replace", "hex"}
)
_PURE_FUNCTIONS = frozenset({"str", "repr", "bytes", "int", "float", "len", "json.dumps"})
_BUILTINS = frozenset(dir(builtins))
_RETRY_WORDS = ("attempt", "retry", "retries", "tries")
_EXITS = (cst.Return, cst.Raise, cst.Continue, cst.Break)

_LOOP_MESSAGE = "`{algo}` digest of the same value computed on every iteration; compute it once before the loop"
_REPEAT_MESSAGE = "`{algo}` digest of the same value computed again in `{func}()`; compute it once and reuse it"


class RepeatedHashing(Rule):
    """
    ## What it does
    Reports a one-shot ``hashlib`` digest (``hashlib.sha256(data).hexdigest()``,
    ``.digest()``, any algorithm, ``hashlib.new(name, data)``, any import form)
    that is computed again for the same value:

    - inside a ``for`` loop or a comprehension, when the hashed value does not
      change from one iteration to the next (it reads no name the loop binds or
      mentions elsewhere, and is built only from side-effect-free calls such as
      ``.encode()``, ``str()`` or ``json.dumps()``);
    - twice in one function: the same expression, on names that are not rebound
      in between (nor possibly modified: a name mentioned in between is only
      accepted when the value is ``name.encode(...)``, a string), on paths that
      both run (not ``if``/``else`` branches, ``except`` handlers, or after a
      ``return``/``raise``).

    Not reported: hashing a different value per iteration (each item hashed once
    is correct), streaming digests (``h.update(chunk)`` in a loop), ``hmac``, a
    hash computed once per call, functions cached with ``functools.cache`` or
    ``lru_cache``, ``while`` loops and retry loops (a ``sleep`` in the body, a loop
    variable named ``attempt``/``retry``), whose repetitions are rare by design.

    ## Why is this bad?
    A digest reads every byte of its input: SHA-256 of 1 MiB takes about 0.6 ms on
    this project's benchmark machine (``benchmarks/bench_costs.py``,
    ``docs/costs.md``; about 1.7 GB/s with the CPU's SHA instructions, several times
    slower without them), plus the temporary bytes ``.encode()`` allocates.
    Computing it again for the same value doubles that for nothing, and in a loop
    it is paid once per iteration. Keep the digest in a variable, or cache it.

    ## Example
    ```python
    import hashlib

    def tag_chunks(document: str, chunks: list[str]) -> list[dict]:
        return [
            {"doc": hashlib.sha256(document.encode()).hexdigest(), "text": chunk}
            for chunk in chunks
        ]
    ```

    ## Use instead
    ```python
    import hashlib
    from functools import lru_cache

    @lru_cache(maxsize=1024)
    def sha256_of(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()

    def tag_chunks(document: str, chunks: list[str]) -> list[dict]:
        doc_hash = sha256_of(document)
        return [{"doc": doc_hash, "text": chunk} for chunk in chunks]
    ```

    ## Fix safety
    No fix. Where to keep the digest (a local before the loop, an attribute, a
    cached helper shared by several call sites) is a design choice the tool cannot
    make; the example above shows the usual forms.

    ## References
    - [Python: hashlib](https://docs.python.org/3/library/hashlib.html)
    - [Python: functools.lru_cache](https://docs.python.org/3/library/functools.html#functools.lru_cache)
    - Measured figures: `docs/costs.md`, made by `benchmarks/bench_costs.py`
    """

    code = "PFL602"
    name = "repeated-hashing"
    message = "Digest of the same value computed repeatedly; compute it once and reuse it"
    triggers = r"digest\s*\("

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self._by_function: dict[cst.FunctionDef, list[tuple[cst.Call, cst.BaseExpression, str]]] = {}

    @classmethod
    def applies_to(cls, text, module_ctx, settings) -> bool:
        if not super().applies_to(text, module_ctx, settings):
            return False
        return "hashlib" in text or "hashlib" in module_ctx.import_roots

    @classmethod
    def wants(cls, summary, settings) -> bool:
        return any(qn and qn.startswith("hashlib.") and _algorithm_of(qn) for _, qn in summary.call_names)

    # -- detection -------------------------------------------------------
    def visit_Call(self, node: cst.Call) -> None:
        shape = self._one_shot_digest(node)
        if shape is None:
            return
        value, algo = shape
        scope = next((a for a in self.ctx.ancestors(node) if isinstance(a, FUNCTION_BOUNDARIES)), None)
        if not isinstance(scope, cst.FunctionDef) or is_cached_function(scope, self.ctx):
            return
        if not _pure(value, self.ctx):
            return
        loop = self.ctx.repeating_loop(node)
        if loop is not None and self._invariant_in(loop, value):
            self.report(
                node,
                message=_LOOP_MESSAGE.format(algo=algo),
                detail="Inside a loop: the same digest is paid once per iteration.",
            )
            return
        self._by_function.setdefault(scope, []).append((node, value, algo))

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        found = self._by_function.pop(original_node, None)
        if not found or len(found) < 2:
            return
        groups: dict[str, list[tuple[cst.Call, cst.BaseExpression, str]]] = {}
        for entry in found:
            key = _shape_key(self.ctx.code(entry[0]))
            if key is not None:
                groups.setdefault(key, []).append(entry)
        for entries in groups.values():
            if len(entries) < 2:
                continue
            first = entries[0]
            for later in entries[1:]:
                if self._repeats(original_node, first, later, [e[0] for e in entries]):
                    self.report(
                        later[0],
                        message=_REPEAT_MESSAGE.format(algo=later[2], func=original_node.name.value),
                        detail=f"Computed earlier in the same call of `{original_node.name.value}()`.",
                    )

    def _one_shot_digest(self, node: cst.Call) -> tuple[cst.BaseExpression, str] | None:
        """(hashed value, algorithm) for ``hashlib.<algo>(value).hexdigest()``-shaped calls, else None."""
        func = node.func
        if not (isinstance(func, cst.Attribute) and func.attr.value in _DIGESTS and isinstance(func.value, cst.Call)):
            return None
        ctor = func.value
        qn = self.ctx.qualified_name(ctor.func)
        algo = _algorithm_of(qn) if qn and qn.startswith("hashlib.") else None
        if algo is None:
            return None
        data_index = 1 if qn == "hashlib.new" else 0
        positional = 0
        value = None
        for arg in ctor.args:
            if arg.star:
                return None
            if arg.keyword is None:
                if positional == data_index:
                    value = arg.value
                positional += 1
            elif arg.keyword.value in ("data", "string"):
                value = arg.value
        if value is None:
            return None
        if qn == "hashlib.new":
            name_arg = ctor.args[0].value if ctor.args and ctor.args[0].keyword is None else None
            if isinstance(name_arg, cst.SimpleString) and isinstance(name_arg.evaluated_value, str):
                algo = f"hashlib.new({name_arg.evaluated_value!r})"
        return value, algo

    def _invariant_in(self, loop: cst.CSTNode, value: cst.BaseExpression) -> bool:
        """The hashed value is the same on every iteration of ``loop`` (For or comprehension)."""
        if isinstance(loop, cst.While):
            return False
        if isinstance(loop, cst.For):
            if _is_retry_loop(loop, self.ctx):
                return False
            scope_parts: list[cst.CSTNode] = [loop.target, loop.body]
        elif isinstance(loop, COMPREHENSIONS):
            scope_parts = [part for part in children(loop) if part is not loop.for_in]
            comp_for: cst.CompFor | None = loop.for_in
            while comp_for is not None:
                scope_parts.append(comp_for.target)
                scope_parts.extend(comp_for.ifs)
                if comp_for is not loop.for_in:
                    scope_parts.append(comp_for.iter)
                comp_for = comp_for.inner_for_in
        else:
            return False
        names = referenced_names(value)
        if not names:
            return True
        mentioned: set[str] = set()
        for part in scope_parts:
            mentioned |= _mentions(part, skip=value)
        return not (names & mentioned)

    def _repeats(
        self,
        func: cst.FunctionDef,
        first: tuple[cst.Call, cst.BaseExpression, str],
        later: tuple[cst.Call, cst.BaseExpression, str],
        group: list[cst.Call],
    ) -> bool:
        """``later`` recomputes ``first``'s digest of the same value whenever both run, and both can run."""
        first_node, value, _ = first
        later_node = later[0]
        if _exclusive(first_node, later_node, self.ctx):
            return False
        first_start = self.ctx.range_of(first_node).start
        first_end = self.ctx.range_of(first_node).end
        later_start = self.ctx.range_of(later_node).start
        names = referenced_names(value)
        params = {p.name.value for p in all_params(func.params)}
        # every binding of the value's names must come before the first digest
        for node in walk(func.body, stop=SCOPES):
            bound = changed_names(node)
            if bound and bound & names and not self.ctx.range_of(_binding_site(node)).end <= first_start:
                return False
        if names - params - _assigned_anywhere(func) and not self._global_ok(names - params - _assigned_anywhere(func)):
            return False
        string_receiver = (
            isinstance(value, cst.Call)
            and isinstance(value.func, cst.Attribute)
            and value.func.attr.value == "encode"
            and isinstance(value.func.value, cst.Name)
        )
        if string_receiver:
            return True
        # anything else may be changed in place between the two: no mention of its names in between
        for node in walk(func.body, stop=FUNCTION_BOUNDARIES):
            if isinstance(node, cst.Name) and node.value in names:
                if any(node is n or _inside(node, n, self.ctx) for n in group):
                    continue
                pos = self.ctx.range_of(node).start
                if first_end <= pos < later_start:
                    return False
        return True

    def _global_ok(self, names: set[str]) -> bool:
        """Module-level names read by the value: only imported modules and functions (``json``) are stable."""
        return all(
            self.ctx.module_ctx.imported(n) or n in self.ctx.local_imports or (n in _BUILTINS and not self.ctx.module_ctx.binding(n))
            for n in names
        )


def _algorithm_of(qn: str) -> str | None:
    tail = qn[len("hashlib.") :]
    if tail in _ALGORITHMS:
        return qn
    if tail == "new":
        return "hashlib.new"
    return None


def _pure(value: cst.BaseExpression, ctx) -> bool:
    """The value is built from names, literals, operators and side-effect-free calls only."""
    for node in [value, *walk(value)]:
        if isinstance(node, (cst.Await, cst.Yield, cst.NamedExpr, cst.Lambda, *COMPREHENSIONS)):
            return False
        if isinstance(node, cst.Call):
            func = node.func
            if isinstance(func, cst.Attribute) and func.attr.value in _PURE_METHODS:
                continue
            name = ctx.qualified_name(func) or (dotted(func) if isinstance(func, cst.Name) else None)
            if name in _PURE_FUNCTIONS:
                continue
            return False
    return True


def _mentions(node: cst.CSTNode, skip: cst.CSTNode) -> set[str]:
    """Variable names mentioned in ``node`` outside ``skip`` (attribute and keyword names excluded)."""
    return referenced_names(node, skip)


def _is_retry_loop(loop: cst.For, ctx) -> bool:
    target = target_names(loop.target) or set()
    if any(word in name.lower() for name in target for word in _RETRY_WORDS):
        return True
    for node in walk(loop.body, stop=FUNCTION_BOUNDARIES):
        if isinstance(node, cst.Call):
            name = ctx.qualified_name(node.func) or dotted(node.func) or ""
            if name.rsplit(".", 1)[-1] == "sleep":
                return True
    return False


def _shape_key(code: str) -> str | None:
    """The expression's structure, independent of layout and comments."""
    try:
        return ast.dump(ast.parse(f"(\n{code}\n)", mode="eval"))
    except (SyntaxError, ValueError, RecursionError):
        return None


def _binding_site(node: cst.CSTNode) -> cst.CSTNode:
    """The part of a binding node that does the binding (a loop's target, not its body)."""
    if isinstance(node, cst.For):
        return node.target
    if isinstance(node, cst.ExceptHandler) and node.name is not None:
        return node.name.name
    if isinstance(node, (cst.FunctionDef, cst.ClassDef)):
        return node.name
    return node


def _assigned_anywhere(func: cst.FunctionDef) -> set[str]:
    out: set[str] = set()
    for node in walk(func.body, stop=SCOPES):
        out |= changed_names(node)
    return out


def _inside(node: cst.CSTNode, container: cst.CSTNode, ctx) -> bool:
    return any(anc is container for anc in ctx.ancestors(node))


def _exclusive(a: cst.CSTNode, b: cst.CSTNode, ctx) -> bool:
    """True when ``a`` and ``b`` cannot both run in one call, or ``b`` cannot run after ``a``."""
    chain_a = [a, *ctx.ancestors(a)]
    chain_b = [b, *ctx.ancestors(b)]
    ids_b = {id(n): i for i, n in enumerate(chain_b)}
    lca_index_a = next(i for i, n in enumerate(chain_a) if id(n) in ids_b)
    lca = chain_a[lca_index_a]
    if lca_index_a == 0 or ids_b[id(lca)] == 0:
        return True  # one inside the other
    child_a = chain_a[lca_index_a - 1]
    child_b = chain_b[ids_b[id(lca)] - 1]
    if isinstance(lca, cst.If):
        if lca.test in (child_a, child_b):
            return False
        return True  # body vs elif/else
    if isinstance(lca, cst.IfExp) and {id(child_a), id(child_b)} == {id(lca.body), id(lca.orelse)}:
        return True
    if isinstance(lca, (cst.Try, cst.TryStar)) and (isinstance(child_a, cst.ExceptHandler) or isinstance(child_b, cst.ExceptHandler) or isinstance(child_a, cst.ExceptStarHandler) or isinstance(child_b, cst.ExceptStarHandler)):
        return True
    if isinstance(lca, cst.Match):
        return True
    # an exit between ``a`` and ``b`` in the common block, or after ``a`` in any block below it
    if isinstance(lca, (cst.IndentedBlock, cst.SimpleStatementSuite, cst.SimpleStatementLine)):
        between = False
        for item in lca.body:
            if item is child_b:
                break
            if item is child_a:
                between = True
            if between and _exits(item):
                return True
    for index in range(lca_index_a - 1):
        block = chain_a[index + 1]
        stmt = chain_a[index]
        body = getattr(block, "body", None)
        if isinstance(block, (cst.IndentedBlock, cst.SimpleStatementSuite)) and isinstance(body, (list, tuple)):
            after = False
            for item in body:
                if item is stmt:
                    after = True
                if after and _exits(item):
                    return True
        if isinstance(block, cst.SimpleStatementLine) and any(isinstance(s, _EXITS) for s in block.body):
            return True
    return False


def _exits(stmt: cst.CSTNode) -> bool:
    if isinstance(stmt, _EXITS):
        return True
    return isinstance(stmt, cst.SimpleStatementLine) and any(isinstance(s, _EXITS) for s in stmt.body)
