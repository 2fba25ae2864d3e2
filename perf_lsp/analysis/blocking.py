"""Calls that block the event loop's thread, and what a function does for its callers, one call deep.

:data:`BLOCKING_CALLS` maps the qualified name of a call that blocks on I/O or a
timer to what to use instead in ``async def``. :func:`function_facts` summarises
one function from its :mod:`ast` (what it builds, returns, requests, or blocks on;
:class:`FunctionFacts`), once per function version; :func:`module_function_facts`
and :func:`module_blocking_helpers` give them for the module's functions (lazy
:class:`~perf_lsp.analysis.module.ModuleContext` facts), so a rule can report a
call of a helper defined in another top-level statement, naming the helper.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from perf_lsp.analysis import catalogs
from perf_lsp.analysis.imports import dotted_name, import_bindings, resolve_dotted
from perf_lsp.analysis.tree import node_memo

HTTP_VERBS = ("get", "post", "put", "patch", "delete", "head", "options", "request")


INSTEAD_SLEEP = "await asyncio.sleep(...)"


INSTEAD_HTTP = "an async client (httpx.AsyncClient, aiohttp) or await asyncio.to_thread(...)"


INSTEAD_FILE = "aiofiles, or await asyncio.to_thread(...) around the whole read"


INSTEAD_PROCESS = "asyncio.create_subprocess_exec(...), or await asyncio.to_thread(...)"


INSTEAD_DB = "an async driver (asyncpg, aiosqlite, aiomysql, psycopg's AsyncConnection), or await asyncio.to_thread(...)"


INSTEAD_SOCKET = "asyncio.open_connection(...), or await asyncio.to_thread(...) around the connection and its reads"


INSTEAD_HANDLE = (
    "an async client (httpx.AsyncClient, aiohttp), or await asyncio.to_thread(...) around the request "
    "and the reads of its response"
)


_INSTEAD = {
    "sleep": INSTEAD_SLEEP,
    "http": INSTEAD_HTTP,
    "handle": INSTEAD_HANDLE,
    "file": INSTEAD_FILE,
    "process": INSTEAD_PROCESS,
    "db": INSTEAD_DB,
    "socket": INSTEAD_SOCKET,
}
"""The suggestions a ``blocking`` catalog entry names by its ``instead`` key."""

BLOCKING_CALLS: dict[str, str] = {
    qn: _INSTEAD[instead] for qn, instead in catalogs.field_map("blocking", "call", "instead").items()
}
"""Qualified names of calls that block the calling thread on I/O or a timer, and
what to use instead in ``async def`` (the ``blocking`` catalog, ``perf_lsp/catalogs/blocking.toml``);
extended by ``extend-blocking-calls``."""


# -- what a function does for its callers, one call deep -------------------------------------------
CHAIN_METHODS = frozenset({"eval", "to", "half", "cuda", "cpu", "float", "bfloat16", "double", "train", "requires_grad_"})
"""Methods that return the object they are called on (``model.eval()``, ``model.to(device)``): a chain of
them keeps the object built at its start (``AutoModel.from_pretrained(p).eval().to("cuda")``)."""

SESSIONLESS_REQUESTS = frozenset(
    {*(f"requests.{verb}" for verb in HTTP_VERBS), *(f"requests.api.{verb}" for verb in HTTP_VERBS)}
    | {f"httpx.{verb}" for verb in HTTP_VERBS}
    | {"urllib.request.urlopen"}
)
"""Module-level request functions: each call opens (and closes) its own connection, no session kept."""

CONSTRUCTOR_VERBS = frozenset(
    {
        "connect", "create_engine", "create_async_engine", "create_pool", "from_url", "from_pretrained",
        "from_config", "load", "blank", "pipeline", "client", "resource", "session", "Session",
    }
)
"""Last parts of qualified names that build an object although they are not spelled as a class
(``psycopg2.connect``, ``redis.from_url``, ``boto3.client``, ``spacy.load``)."""


def constructor_like(qualified: str) -> bool:
    """Whether a call of ``qualified`` may build a client, model or connection: a class (its last part
    capitalised: ``openai.OpenAI``) or one of :data:`CONSTRUCTOR_VERBS`. What :class:`FunctionFacts`
    records as built or returned, so that typing an ordinary call changes no fact."""
    last = qualified.rsplit(".", 1)[-1]
    return last[:1].isupper() or last in CONSTRUCTOR_VERBS


CACHE_DECORATORS = frozenset({"cache", "lru_cache", "cached", "alru_cache", "cached_property"})
"""Last parts of the decorators that keep a function's result (``functools.cache``, ``async_lru.alru_cache``)."""


@dataclass(frozen=True)
class FunctionFacts:
    """What calling one function does, from its own code (nested ``def``/``lambda``/``class`` left out).

    Rule-agnostic: constructors are given by qualified name (through the module's and the
    function's own imports; only those :func:`constructor_like`); a rule sorts them with its
    own catalog.

    ``builds``: what it constructs and neither returns nor stores (on ``self``, in a global or
    an item): a per-call cost paid inside it (``client = OpenAI(); return client.chat...``).
    ``returns_new``: what it constructs and returns as is (``return OpenAI(...)``,
    ``m = AutoModel.from_pretrained(p); return m.eval()``): a factory that builds a new object
    on every call; empty when the function is cached. ``returns``: the constructors of what it
    returns, new or kept (``returns_new`` and, when cached, what the cache keeps), for the
    type of its result. ``returns_pooled``: it returns a kept
    object (a cached function's result, a module global, a ``self`` attribute, or it is
    cached itself). ``requests``: the first module-level request function it calls outside its
    own loops (``requests.get``: a new connection per call; :data:`SESSIONLESS_REQUESTS`).
    ``blocks``: the first call of :data:`BLOCKING_CALLS` in it (``"open()"`` for the builtin),
    None for a generator (its body runs when iterated, not when called).
    ``cached``: decorated with a cache (:data:`CACHE_DECORATORS`); ``generator``: it yields;
    ``is_async``: an ``async def``. Hashable; :meth:`to_json` / :meth:`from_json` round-trip.
    """

    name: str
    is_async: bool = False
    cached: bool = False
    generator: bool = False
    builds: tuple[str, ...] = ()
    returns: tuple[str, ...] = ()
    returns_new: tuple[str, ...] = ()
    returns_pooled: bool = False
    requests: str | None = None
    blocks: str | None = None

    @property
    def interesting(self) -> bool:
        """Whether any fact a caller could be reported for is set (builds, factory, request, blocking)."""
        return bool(self.builds or self.returns or self.requests or self.blocks)

    def to_json(self) -> list:
        """A JSON-serialisable form (a list of the fields in order)."""
        return [self.name, self.is_async, self.cached, self.generator, list(self.builds), list(self.returns),
                list(self.returns_new), self.returns_pooled, self.requests, self.blocks]

    @classmethod
    def from_json(cls, data: list) -> FunctionFacts:
        """The facts :meth:`to_json` gave (raises ``TypeError``/``ValueError`` on another shape)."""
        name, is_async, cached, generator, builds, returns, returns_new, pooled, requests, blocks = data
        return cls(str(name), bool(is_async), bool(cached), bool(generator), tuple(builds), tuple(returns),
                   tuple(returns_new), bool(pooled), requests, blocks)


def function_facts(func: ast.FunctionDef | ast.AsyncFunctionDef, imports: Mapping[str, str]) -> FunctionFacts:
    """The :class:`FunctionFacts` of ``func`` given the module's ``imports`` (local name -> qualified name).

    Remembered per node and set of imports: an unchanged function keeps its :mod:`ast` node
    from one keystroke to the next, so its facts are computed once per version."""
    key = tuple(sorted(imports.items())) if not isinstance(imports, _Key) else imports.key
    entry = _FACTS_CACHE.get(id(func))
    if entry is not None and entry[0] is func and entry[1] == key:
        return entry[2]
    if len(_FACTS_CACHE) > 8192:
        _FACTS_CACHE.clear()
    facts = _FactsReader(func, imports).facts()
    _FACTS_CACHE[id(func)] = (func, key, facts)
    return facts


def read_function_facts(func: ast.FunctionDef | ast.AsyncFunctionDef, imports: Mapping[str, str]) -> FunctionFacts:
    """:func:`function_facts` without the memo: for a batch reader whose nodes are read once (the project index)."""
    return _FactsReader(func, imports).facts()


class _Key(dict):
    """Imports with their sorted items computed once (one module's many functions share it)."""

    def __init__(self, imports: Mapping[str, str]) -> None:
        super().__init__(imports)
        self.key = tuple(sorted(self.items()))


_FACTS_CACHE: dict[int, tuple[ast.AST, tuple, FunctionFacts]] = node_memo()


def module_function_facts(body: Iterable[ast.stmt], imports: Mapping[str, str]) -> tuple[tuple[str, FunctionFacts], ...]:
    """(local name, facts) for the module's functions whose facts are :attr:`~FunctionFacts.interesting`:
    top-level ``def`` s by name, methods of top-level classes as ``Class.method``; a later
    definition of a name wins (one without such facts removes the name). Sorted by name."""
    keyed = imports if isinstance(imports, _Key) else _Key(imports)
    out: dict[str, FunctionFacts] = {}

    def add(local: str, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        facts = function_facts(node, keyed)
        if facts.interesting:
            out[local] = facts
        else:
            out.pop(local, None)

    for stmt in body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            add(stmt.name, stmt)
        elif isinstance(stmt, ast.ClassDef):
            for inner in stmt.body:
                if isinstance(inner, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    add(f"{stmt.name}.{inner.name}", inner)
    return tuple(sorted(out.items()))


def module_blocking_helpers(body: Iterable[ast.stmt], imports: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """(name, label of the blocking call) for each module-level sync ``def`` whose own body blocks.

    Meant for :class:`perf_lsp.analysis.module.ModuleContext` (its lazy ``blocking_helpers``
    fact) so that PFL303 can report ``helper()`` called from an
    ``async def`` in another top-level statement. Read from each function's
    :class:`FunctionFacts` (``blocks``): the calls of :data:`BLOCKING_CALLS` (``open``
    when the function does not rebind it). Generators and cached functions are left out.
    """
    keyed = _Key(imports)
    out: dict[str, str] = {}
    for stmt in body:
        if not isinstance(stmt, ast.FunctionDef):
            continue
        facts = function_facts(stmt, keyed)
        if facts.blocks is not None and not facts.cached:
            out[stmt.name] = facts.blocks
        else:
            out.pop(stmt.name, None)
    return tuple(sorted(out.items()))


def _ast_cached(deco: ast.expr, imports: Mapping[str, str]) -> bool:
    target = deco.func if isinstance(deco, ast.Call) else deco
    name = dotted_name(target) or ""
    qn = resolve_dotted(name, imports) or name
    return qn.rsplit(".", 1)[-1] in CACHE_DECORATORS


_CONTEXTS = frozenset({ast.Load, ast.Store, ast.Del})
_SCOPE_TYPES = frozenset({ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef})
_LOOP_TYPES = frozenset({ast.For, ast.AsyncFor, ast.While, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp})


def _chained_local(value: ast.expr | None, built: Mapping[str, str]) -> bool:
    """``name.eval()`` / ``name.to(device)`` on a local that holds a built object."""
    return (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Attribute)
        and value.func.attr in CHAIN_METHODS
        and isinstance(value.func.value, ast.Name)
        and value.func.value.id in built
    )


def _passed_names(expr: ast.expr) -> set[str]:
    """The names ``expr`` hands on as values (``Wrapper(client)`` -> client), not those it only calls or
    reads an attribute of (``client.chat(q)`` -> q)."""
    found: set[str] = set()
    stack: list[ast.AST] = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.Attribute):
            continue  # ``client.x`` uses the object
        elif isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name):
                stack.append(node.func)
            stack.extend(node.args)
            stack.extend(kw.value for kw in node.keywords)
        elif isinstance(node, ast.Lambda):
            found.update(n.id for n in ast.walk(node.body) if isinstance(n, ast.Name))
        else:
            stack.extend(ast.iter_child_nodes(node))
    return found


def _unchained(value: ast.expr) -> ast.expr:
    while isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and value.func.attr in CHAIN_METHODS:
        value = value.func.value
    return value


class _FactsReader:
    """One walk of a function's own code for :func:`function_facts`: the walk records, then names are
    resolved (through the module's imports and the function's own, wherever they are in it)."""

    def __init__(self, func: ast.FunctionDef | ast.AsyncFunctionDef, imports: Mapping[str, str]) -> None:
        self.func = func
        self.imports = imports
        args = func.args
        self.params = {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg] if a}

    def qualified(self, func: ast.expr) -> str | None:
        name = dotted_name(func)
        return resolve_dotted(name, self.imports) if name else None

    def fresh(self, expr: ast.expr | None) -> str | None:
        """The qualified constructor of a new object ``expr`` evaluates to (through ``await`` and
        :data:`CHAIN_METHODS` chains), else None."""
        while True:
            if isinstance(expr, ast.Await):
                expr = expr.value
            elif (
                isinstance(expr, ast.Call)
                and isinstance(expr.func, ast.Attribute)
                and expr.func.attr in CHAIN_METHODS
                and isinstance(expr.func.value, ast.Call)
            ):
                expr = expr.func.value
            else:
                break
        if isinstance(expr, ast.Call):
            qn = self.qualified(expr.func)
            return qn if qn is not None and constructor_like(qn) else None
        return None

    def facts(self) -> FunctionFacts:
        func = self.func
        generator = False
        own_imports: dict[str, str] = {}
        calls: list[tuple[ast.Call, bool]] = []  # in source order, with "inside a loop of the function"
        assignments: list[tuple[list[ast.expr], ast.expr | None]] = []
        returned: list[ast.expr] = []
        used: list[ast.expr] = []  # ``with X() as c``, ``X().attr``: objects built and used here
        nested: list[ast.AST] = []  # nested defs, lambdas and classes: what they read is captured
        declared: set[str] = set()
        assigned: set[str] = set()
        stack: list[tuple[ast.AST, bool]] = [(node, False) for node in reversed(func.body)]
        while stack:
            node, in_loop = stack.pop()
            kind = type(node)
            if kind in _SCOPE_TYPES:
                if kind is not ast.Lambda:
                    assigned.add(node.name)  # a nested def or class is a local
                nested.append(node)
                continue
            if kind is ast.Call:
                calls.append((node, in_loop))
            elif kind is ast.Yield or kind is ast.YieldFrom:
                generator = True
            elif kind is ast.Global or kind is ast.Nonlocal:
                declared.update(node.names)
            elif kind is ast.Return:
                if node.value is not None:
                    returned.append(node.value)
            elif kind is ast.Assign:
                assignments.append((node.targets, node.value))
            elif kind is ast.AnnAssign:
                assignments.append(([node.target], node.value))
            elif kind is ast.withitem:
                used.append(node.context_expr)
            elif kind is ast.Attribute:
                if node.attr not in CHAIN_METHODS:
                    used.append(node.value)
            elif kind is ast.Import or kind is ast.ImportFrom:
                own_imports.update(import_bindings(node))
            children: list[ast.AST] = []
            for field in node._fields:
                value = getattr(node, field, None)
                if type(value) is list:
                    children.extend(item for item in value if isinstance(item, ast.AST))
                elif isinstance(value, ast.AST) and type(value) not in _CONTEXTS:
                    children.append(value)
            if kind is ast.For or kind is ast.AsyncFor:
                # the iterable is evaluated once; the body and target per item
                stack.extend((child, child is not node.iter or in_loop) for child in reversed(children))
                continue
            loop_here = in_loop or kind in _LOOP_TYPES
            stack.extend((child, loop_here) for child in reversed(children))
        if own_imports:
            self.imports = {**self.imports, **own_imports}
        cached = any(_ast_cached(d, self.imports) for d in func.decorator_list)
        # what it blocks on, and its first request outside its own loops
        blocks: str | None = None
        requests: str | None = None
        local_open = "open" in self.params
        for call, in_loop in calls:
            name = dotted_name(call.func)
            if not name:
                continue
            qn = resolve_dotted(name, self.imports)
            if blocks is None:
                if qn is None and name == "open" and not local_open:
                    blocks = "open()"
                elif qn in BLOCKING_CALLS:
                    blocks = qn
            if requests is None and not in_loop and qn in SESSIONLESS_REQUESTS:
                requests = qn
            if blocks is not None and requests is not None:
                break
        if generator:
            blocks = None
        # what it builds, and where each built object goes
        built: dict[str, str] = {}  # local -> constructor
        stored: set[str] = set()  # locals stored on an attribute or in an item
        for targets, value in assignments:
            qn = self.fresh(value)
            for target in targets:
                if isinstance(target, ast.Name):
                    assigned.add(target.id)
                    if qn is not None:
                        built[target.id] = qn
                    elif _chained_local(value, built):
                        built[target.id] = built[value.func.value.id]  # ``model = model.eval()``
                    elif target.id in built and value is not None:
                        built.pop(target.id)
                elif isinstance(target, (ast.Attribute, ast.Subscript)) and value is not None:
                    stored.update(n.id for n in ast.walk(value) if isinstance(n, ast.Name))
        used_fresh = [qn for expr in used if (qn := self.fresh(expr)) is not None]
        kept = stored | declared
        returns: list[str] = []
        returns_new: list[str] = []
        pooled = cached
        passed: set[str] = set()  # locals handed on inside what is returned (``Wrapper(client)``)
        if built:
            for node in nested:  # a closure keeps what it reads
                passed.update(n.id for n in ast.walk(node) if isinstance(n, ast.Name))
        for value in returned:
            qn = self.fresh(value)
            if qn is not None:
                returns.append(qn)
                returns_new.append(qn)
                continue
            value = _unchained(value)  # ``return model.eval().to(device)``
            if not isinstance(value, ast.Name):
                passed |= _passed_names(value)
            if isinstance(value, ast.Name):
                if value.id in built:
                    returns.append(built[value.id])
                    if value.id in kept:
                        pooled = True
                    else:
                        returns_new.append(built[value.id])
                elif value.id in declared or (value.id not in assigned and value.id not in self.params):
                    pooled = True  # a module global
            elif isinstance(value, ast.Attribute) and isinstance(value.value, ast.Name) and value.value.id == "self":
                pooled = True
        returned_names = {v.id for v in map(_unchained, returned) if isinstance(v, ast.Name)}
        builds = {qn for local, qn in built.items() if local not in kept | passed and local not in returned_names}
        builds.update(used_fresh)
        if cached or generator:
            returns_new = []
        return FunctionFacts(
            name=func.name,
            is_async=isinstance(func, ast.AsyncFunctionDef),
            cached=cached,
            generator=generator,
            builds=tuple(sorted(builds)),
            returns=tuple(dict.fromkeys(returns)) if not generator else (),
            returns_new=tuple(dict.fromkeys(returns_new)),
            returns_pooled=pooled,
            requests=requests,
            blocks=blocks,
        )
