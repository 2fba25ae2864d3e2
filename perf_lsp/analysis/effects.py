"""Whether a function does I/O on its default path: network, database, file or subprocess calls.

A rule-agnostic fact read from :mod:`ast`: for each ``def``/``async def`` of a module
(methods as ``Class.method``, nested classes as ``Outer.Inner.method``),
:class:`ModuleEffects` answers one of three :class:`Answer` s with a reason:

- ``IO``: the function awaits an I/O call on its default path (an ``aiohttp``/``httpx``
  request, an SDK or driver method, ``asyncio.create_subprocess_exec``, a method on a
  receiver named like a client or connection), directly or through functions of the
  same module it calls, up to :data:`MAX_DEPTH` calls deep;
- ``BLOCKING``: its only I/O on the default path is sync (``requests.get``, a sync
  driver held on ``self``, ``open``): an ``async def`` that wraps a blocking client;
- ``NONE``: no I/O on the default path (it builds text or objects locally, sleeps,
  or awaits a user callback only when the callback returned an awaitable);
- ``UNKNOWN``: an awaited call that cannot be followed: a callee outside the module,
  a callback or parameter, an abstract or missing method (dynamic dispatch).

The default path leaves out ``except`` handlers and the branches of an ``if`` on a flag
that defaults to off: a parameter whose default is ``False``/``None``
(``if force_download:``, ``if url is not None:``) or a settings/config/options
attribute (``if self.settings.download:``); ``if not flag:`` keeps its body and drops its
``else``. ``asyncio.sleep`` and the other ``asyncio`` helpers are not I/O.

:func:`module_io_functions` gives the answers of a whole module as a hashable tuple
(the ``io_functions`` lazy module fact), memoised per module version (the identity of
its top-level :mod:`ast` statements) and per function node.
"""

from __future__ import annotations

import ast
import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from perf_lsp.analysis.blocking import BLOCKING_CALLS
from perf_lsp.analysis.hotness import ProjectIndex
from perf_lsp.analysis.imports import dotted_name, import_bindings, resolve_dotted
from perf_lsp.analysis.tree import node_memo
from perf_lsp.analysis.words import words_of

MAX_DEPTH = 4
"""How many calls deep :class:`ModuleEffects` follows functions of the module."""


class Answer(enum.Enum):
    """What a function or call does on its default path."""

    IO = "io"  # awaits network, database, file or subprocess I/O
    BLOCKING = "blocking"  # only sync (blocking) I/O
    NONE = "none"  # no I/O
    UNKNOWN = "unknown"  # an awaited call that cannot be followed


@dataclass(frozen=True)
class Effect:
    """An :class:`Answer` and why, e.g. ``Effect(Answer.IO, "awaits self.client.get")``."""

    answer: Answer
    reason: str = ""
    suspect: bool = False  # UNKNOWN: the call that cannot be followed is named like a round trip (:func:`io_ish`)


NONE = Effect(Answer.NONE)

# Packages whose calls (other than their constructors, spelled in CamelCase) talk to a server, a database or files.
IO_PACKAGES = frozenset(
    {
        "aiohttp", "httpx", "requests", "urllib3", "aiofiles", "anyio.Path", "openai", "anthropic", "cohere",
        "mistralai", "groq", "together", "ollama", "boto3", "botocore", "aiobotocore", "aioboto3", "litellm",
        "asyncpg", "psycopg", "psycopg2", "pymysql", "aiomysql", "aiosqlite", "sqlite3", "motor", "pymongo",
        "redis", "neo4j", "qdrant_client", "weaviate", "chromadb", "pinecone", "pymilvus", "elasticsearch",
        "opensearchpy", "websockets", "grpc", "google.genai", "google.cloud", "vertexai", "smtplib", "aiosmtplib",
        "ftplib", "paramiko", "asyncssh", "socket", "shutil", "subprocess",
    }
)
# ``asyncio`` calls that are I/O (the others schedule, sleep or wait on local objects).
ASYNCIO_IO = frozenset(
    {
        "asyncio.create_subprocess_exec", "asyncio.create_subprocess_shell", "asyncio.open_connection",
        "asyncio.open_unix_connection", "asyncio.start_server",
    }
)
# Words of a receiver segment that name a remote client, a connection or a store.
IO_RECEIVER_WORDS = frozenset(
    {
        "client", "clients", "http", "https", "api", "apis", "db", "database", "conn", "connection", "redis",
        "cursor", "pool", "llm", "llms", "openai", "anthropic", "cohere", "bedrock", "gemini", "vertex", "s3",
        "bucket", "storage", "store", "docstore", "vectorstore", "repo", "repository", "collection", "retriever",
        "embedder", "embeddings", "embedding", "service", "session", "requests", "httpx", "aiohttp", "mongo",
        "postgres", "pg", "sql", "es", "elastic", "qdrant", "weaviate", "chroma", "pinecone", "milvus", "neo4j",
        "graph", "kv", "blob", "fs", "ftp", "sftp", "ssh", "smtp", "mail", "grpc", "stub", "remote", "server",
        "endpoint", "backend", "provider", "mcp", "fetcher", "downloader", "uploader", "crawler", "scraper",
        "browser", "search", "searcher", "index", "table", "cache", "manager", "managers", "dao", "crud",
    }
)
# First (or only) words of a method or function name that do a round trip.
IO_VERBS = frozenset(
    {
        "fetch", "download", "upload", "request", "query", "search", "retrieve", "embed", "complete",
        "completion", "completions", "generate", "chat", "invoke", "ainvoke", "agenerate", "acomplete", "achat",
        "aembed", "aquery", "aretrieve", "asearch", "afetch", "arequest", "crawl", "scrape", "call", "post",
        "get", "head", "lookup", "load", "read", "connect", "select", "execute", "run", "predict", "transcribe",
        "translate", "summarize", "rerank", "prefetch", "ping", "poll", "stream", "list", "classify", "moderate", "send",
    }
)
# I/O verbs that many local methods use too (``get_instructions``, ``load_state``, ``run``).
GENERIC_VERBS = frozenset(
    {"get", "load", "read", "run", "call", "head", "select", "execute", "list", "lookup", "predict", "send",
     "connect", "post", "poll", "ping", "stream", "complete", "generate", "translate", "classify"}
)
# Words anywhere in a function or method name that say round trip (``promptlayer_api_request_async``).
IO_NAME_WORDS = frozenset(
    {
        "api", "http", "request", "requests", "completion", "completions", "embedding", "embeddings", "stream",
        "llm", "remote", "download", "upload", "fetch", "query", "webhook", "rpc",
    }
)
# Attribute segments whose flags default to off unless set: ``if self.settings.force_download:``.
_SETTINGS_WORDS = frozenset({"settings", "config", "configs", "cfg", "conf", "options", "opts", "flags", "features"})
# Methods that change the object they are called on.
_MUTATORS = frozenset(
    {"append", "extend", "insert", "add", "update", "pop", "popitem", "remove", "clear", "setdefault", "discard", "sort"}
)
# Methods that build what an object holds.
_SETUP_METHODS = frozenset({"__init__", "__post_init__", "model_post_init", "__aenter__", "__enter__", "warm_up"})
# Calls that test whether a value is awaitable (a user callback may be sync or async).
_AWAITABLE_TESTS = frozenset({"isawaitable", "iscoroutine", "iscoroutinefunction", "isasyncgen", "isasyncgenfunction"})


def _is_io_qualified(qn: str) -> bool:
    """``httpx.get``, ``openai.resources.x``: a call into an I/O package (not a CamelCase constructor)."""
    if qn in ASYNCIO_IO:
        return True
    if qn == "time.sleep":
        return False
    if qn in BLOCKING_CALLS:
        return True
    last = qn.rsplit(".", 1)[-1]
    if last[:1].isupper():
        return False
    return any(qn == pkg or qn.startswith(pkg + ".") for pkg in IO_PACKAGES)


def io_ish(target: str, http_names: Iterable[str] = (), strict: bool = False) -> bool:
    """The dotted callee ``target`` (``self.llm_service.grade``, ``fetch_page``) looks like a round trip:
    a receiver segment named like a client, connection or store (``IO_RECEIVER_WORDS``; ``http_names``:
    names bound to HTTP clients), or a method or function named with an I/O verb (``IO_VERBS``) or with
    a word such as ``api``, ``request``, ``completion`` (``IO_NAME_WORDS``). ``strict``: the generic
    verbs (``get``, ``load``, ``read``, ``run``, ``call``, ``list``...) do not count, unless spelled as the
    async twin of a method (``aget``, ``arun``)."""
    parts = target.split(".")
    receiver = parts[:-1]
    if receiver and receiver[0] in {"self", "cls"}:
        receiver = receiver[1:]
    names = set(http_names)
    for i, seg in enumerate(receiver):
        if ".".join(parts[: i + 1 + (1 if parts[0] in {"self", "cls"} else 0)]) in names or seg in names:
            return True
        words = words_of(seg)
        if words and words[-1] in IO_RECEIVER_WORDS:
            return True
    words = [w for w in words_of(parts[-1]) if w not in {"async", "a"}]
    if not words:
        return False
    first = words[0]
    verbs = IO_VERBS - GENERIC_VERBS if strict else IO_VERBS
    if first in verbs or (first[:1] == "a" and first[1:] in IO_VERBS):  # ``aget``: the async twin of a method
        return True  # the verb: ``fetch_page``, ``aquery``
    return any(w in IO_NAME_WORDS or (w[:1] == "a" and w[1:] in IO_NAME_WORDS) for w in words)


# -- one function's own facts ------------------------------------------------------------------
@dataclass(frozen=True)
class _Site:
    """A call on the default path: ``target`` its dotted callee (None: not a name chain), ``awaited``
    whether it is awaited (also ``async with``/``async for``), ``line`` 1-based in its module."""

    target: str | None
    awaited: bool
    line: int
    first_arg: str | None = None  # ``asyncio.to_thread(f, ...)``: the dotted name of ``f``


@dataclass(frozen=True)
class _Own:
    params: frozenset[str]
    sites: tuple[_Site, ...]
    built: tuple[tuple[str, str], ...]  # (local name, dotted callee it was built by): ``c = httpx.AsyncClient()``
    abstract: bool  # body is ``...``/``pass``/docstring/``raise NotImplementedError``, or @abstractmethod


_OWN_MEMO: dict = node_memo()


def _own(func: ast.FunctionDef | ast.AsyncFunctionDef) -> _Own:
    entry = _OWN_MEMO.get(id(func))
    if entry is not None and entry[0] is func:
        return entry[1]
    if len(_OWN_MEMO) > 8192:
        _OWN_MEMO.clear()
    args = func.args
    positional = [*args.posonlyargs, *args.args]
    defaults: dict[str, ast.expr | None] = {a.arg: None for a in [*positional, *args.kwonlyargs]}
    for a, d in zip(positional[len(positional) - len(args.defaults) :], args.defaults):
        defaults[a.arg] = d
    for a, d in zip(args.kwonlyargs, args.kw_defaults):
        defaults[a.arg] = d
    off = frozenset(
        name for name, d in defaults.items() if isinstance(d, ast.Constant) and (d.value is None or d.value is False)
    )
    params = frozenset(defaults) | {a.arg for a in (args.vararg, args.kwarg) if a is not None}
    scan = _Scan(off, [])
    scan.block(func.body)
    result = _Own(params, tuple(scan.sites), tuple(scan.built), _is_abstract(func))
    _OWN_MEMO[id(func)] = (func, result)
    return result


def _is_abstract(func: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    if any((dotted_name(d) or "").rsplit(".", 1)[-1] in {"abstractmethod", "overload"} for d in func.decorator_list):
        return True
    for stmt in func.body:
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue  # docstring or ``...``
        if isinstance(stmt, ast.Pass):
            continue
        if isinstance(stmt, ast.Raise) and stmt.exc is not None:
            exc = stmt.exc.func if isinstance(stmt.exc, ast.Call) else stmt.exc
            if (dotted_name(exc) or "") in {"NotImplementedError", "NotImplemented"}:
                continue
        return False
    return True


class _Scan:
    """Collects the call sites of a function body on its default path."""

    def __init__(self, off: frozenset[str], sites: list[_Site]) -> None:
        self.off = off
        self.sites = sites
        self.built: list[tuple[str, str]] = []  # (local, dotted callee that built it)

    def _bind(self, target: ast.expr | None, value: ast.expr) -> None:
        if isinstance(target, ast.Name) and isinstance(value, ast.Call):
            name = callee_name(value.func)
            if name:
                self.built.append((target.id, name))

    def block(self, body: Iterable[ast.stmt], awaitable_guard: bool = False) -> None:
        for stmt in body:
            self.stmt(stmt, awaitable_guard)

    def stmt(self, stmt: ast.stmt, guard: bool) -> None:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            return
        if isinstance(stmt, ast.If):
            self.expr(stmt.test, guard)
            branch = self._branch(stmt.test)
            body_guard = guard or _tests_awaitable(stmt.test)
            if branch != "body-off":
                self.block(stmt.body, body_guard)
            if branch != "else-off":
                self.block(stmt.orelse, guard)
            return
        if isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
            self.block(stmt.body, guard)  # handlers: the error path, not the default one
            self.block(stmt.orelse, guard)
            self.block(stmt.finalbody, guard)
            return
        if isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                self._bind(target, stmt.value)
        elif isinstance(stmt, (ast.With, ast.AsyncWith)):
            for item in stmt.items:
                self._bind(item.optional_vars, item.context_expr)
        if isinstance(stmt, ast.AsyncWith):
            for item in stmt.items:
                self.expr(item.context_expr, guard, awaited=True)
            self.block(stmt.body, guard)
            return
        if isinstance(stmt, ast.AsyncFor):
            if not isinstance(stmt.iter, ast.Call) and not guard:
                self.sites.append(_Site(None, True, stmt.lineno))  # an async iterator passed in: not followable
            self.expr(stmt.iter, guard, awaited=True)
            self.block(stmt.body, guard)
            self.block(stmt.orelse, guard)
            return
        for field in ("test", "iter", "value", "exc", "context_expr", "msg", "target", "targets", "items", "subject"):
            value = getattr(stmt, field, None)
            if isinstance(value, ast.expr):
                self.expr(value, guard)
            elif isinstance(value, list):
                for v in value:
                    if isinstance(v, ast.expr):
                        self.expr(v, guard)
                    elif isinstance(v, ast.withitem):
                        self.expr(v.context_expr, guard)
        for field in ("body", "orelse", "finalbody"):
            value = getattr(stmt, field, None)
            if isinstance(value, list):
                self.block(value, guard)
        for case in getattr(stmt, "cases", ()) or ():
            self.block(case.body, guard)

    def expr(self, node: ast.expr, guard: bool, awaited: bool = False) -> None:
        stack: list[tuple[ast.AST, bool]] = [(node, awaited)]
        while stack:
            current, is_awaited = stack.pop()
            if isinstance(current, (ast.Lambda, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            if isinstance(current, ast.Await):
                value = current.value
                if isinstance(value, ast.Call):
                    stack.append((value, True))
                elif not guard:
                    self.sites.append(_Site(None, True, current.lineno))  # ``await task``: not followable
                    stack.append((value, False))
                continue
            if isinstance(current, ast.comprehension) and current.is_async:
                if isinstance(current.iter, ast.Call):
                    stack.append((current.iter, True))
                elif not guard:
                    self.sites.append(_Site(None, True, getattr(current.iter, "lineno", 0)))
                stack.extend((child, False) for child in [current.target, *current.ifs])
                if not isinstance(current.iter, ast.Call):
                    stack.append((current.iter, False))
                continue
            if isinstance(current, ast.Call):
                if is_awaited and guard and isinstance(current.func, ast.Name):
                    pass  # ``if iscoroutinefunction(cb): await cb(x)``: a user callback that may be async
                else:
                    first = dotted_name(current.args[0]) if current.args else None
                    self.sites.append(_Site(callee_name(current.func), is_awaited, current.lineno, first))
                stack.extend((child, False) for child in ast.iter_child_nodes(current))
                continue
            stack.extend((child, is_awaited and isinstance(child, ast.Call)) for child in ast.iter_child_nodes(current))

    def _branch(self, test: ast.expr) -> str | None:
        """``body-off``: the ``if`` body runs only when a default-off flag is set; ``else-off``: the ``else``
        does; None: both are on the default path."""
        if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
            return "else-off" if self._flag(test.operand) else None
        if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And):
            return "body-off" if any(self._flag(v) for v in test.values) else None
        if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.comparators[0], ast.Constant):
            if test.comparators[0].value is None and isinstance(test.left, ast.Name) and test.left.id in self.off:
                if isinstance(test.ops[0], ast.IsNot):
                    return "body-off"
                if isinstance(test.ops[0], ast.Is):
                    return "else-off"
            return None
        return "body-off" if self._flag(test) else None

    def _flag(self, test: ast.expr) -> bool:
        if isinstance(test, ast.Name):
            return test.id in self.off
        name = dotted_name(test)
        if name is None:
            return False
        parts = name.split(".")
        return len(parts) > 1 and any(w in _SETTINGS_WORDS for seg in parts[:-1] for w in words_of(seg))


def callee_name(func: ast.expr) -> str | None:
    """The dotted callee, calls and subscripts in the chain dropped: ``httpx.AsyncClient().get`` ->
    ``httpx.AsyncClient.get``, ``self.clients[k].post`` -> ``self.clients.post``; None when the chain
    does not start at a name."""
    parts: list[str] = []
    node = func
    while True:
        if isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        elif isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Subscript):
            node = node.value
        elif isinstance(node, ast.Name):
            parts.append(node.id)
            return ".".join(reversed(parts))
        else:
            return None


def _tests_awaitable(test: ast.expr) -> bool:
    return any(
        isinstance(n, ast.Call) and (dotted_name(n.func) or "").rsplit(".", 1)[-1] in _AWAITABLE_TESTS
        for n in ast.walk(test)
    )


# -- a module's answers ----------------------------------------------------------------------------
class ModuleEffects:
    """The I/O answers of the functions of one module (``body``: its top-level :mod:`ast` statements;
    ``imports``: local name -> qualified name). ``external``: answers for a qualified name outside the
    module (a project index, :func:`index_lookup`), or None when it cannot tell; ``module``: the
    module's dotted name, to make relative imports absolute for it. Answers are memoised on the
    instance."""

    def __init__(
        self,
        body: Iterable[ast.stmt],
        imports: Mapping[str, str],
        external: Callable[[str], Effect | None] | None = None,
        module: str | None = None,
    ) -> None:
        self.imports = dict(imports)
        self.external = external
        self.module = module
        self.functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
        self.classes: dict[str, list[str]] = {}  # class path -> base class names
        self.io_attrs: dict[str, set[str]] = {}  # class path -> self attributes built by an I/O constructor
        self._memo: dict[str, Effect] = {}
        self._cuts = 0  # how many times a walk was cut short (recursion, depth)
        for stmt in body:
            if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                self.imports.update(import_bindings(stmt))
        self._collect(body, "")

    def _collect(self, body: Iterable[ast.stmt], prefix: str) -> None:
        for stmt in body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self.functions.setdefault(prefix + stmt.name, stmt)
            elif isinstance(stmt, ast.ClassDef):
                path = prefix + stmt.name
                self.classes[path] = [dotted_name(b) or "" for b in stmt.bases]
                self._collect(stmt.body, path + ".")
                self.io_attrs[path] = self._attrs_built_by_io(stmt)
            elif isinstance(stmt, (ast.If, ast.Try)):
                self._collect([*stmt.body, *getattr(stmt, "orelse", [])], prefix)

    def _attrs_built_by_io(self, cls: ast.ClassDef) -> set[str]:
        """``self.x = AsyncOpenAI(...)``/``redis.Redis(...)`` in a set-up method (``__init__``, ``setup``,
        ``connect``, ``start``...): ``x`` is an I/O client."""
        found: set[str] = set()
        setup = [
            m for m in cls.body
            if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))
            and (m.name in _SETUP_METHODS or m.name.lstrip("_").startswith(("init", "setup", "connect", "start")))
        ]
        for node in (n for m in setup for n in ast.walk(m)):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                name = dotted_name(node.value.func)
                qn = resolve_dotted(name, self.imports) if name else None
                if qn is None or not any(qn == p or qn.startswith(p + ".") for p in IO_PACKAGES):
                    continue
                for target in node.targets:
                    t = dotted_name(target)
                    if t and t.startswith("self.") and t.count(".") == 1:
                        found.add(t[5:])
        return found

    def function(self, key: str) -> Effect:
        """The answer for the module's function ``key`` (``helper``, ``Class.method``); UNKNOWN if absent."""
        return self._function(key, 0, frozenset())

    def _function(self, key: str, depth: int, stack: frozenset[str]) -> Effect:
        memo = self._memo.get(key)
        if memo is not None:
            return memo
        func = self.functions.get(key)
        if func is None:
            return Effect(Answer.UNKNOWN, f"`{key}` is not defined here")
        if key in stack:
            self._cuts += 1
            return NONE  # recursion: what the other calls do decides
        if depth > MAX_DEPTH:
            self._cuts += 1
            return Effect(Answer.UNKNOWN, "too many calls deep", True)
        cuts = self._cuts
        own = _own(func)
        if own.abstract:
            result = Effect(Answer.UNKNOWN, f"`{key}` is abstract (overridden elsewhere)", io_ish(key))
        else:
            cls = key.rsplit(".", 1)[0] if "." in key and key.rsplit(".", 1)[0] in self.classes else None
            built = self._io_locals(own)
            result = self._combine(
                (self.site(s, cls, own.params, depth + 1, stack | {key}, built) for s in own.sites), own
            )
        if result.answer is Answer.IO or self._cuts == cuts:
            self._memo[key] = result  # not when a cycle or the depth bound cut the walk short: another start may see more
        return result

    @staticmethod
    def _combine(effects: Iterable[Effect], own: _Own | None = None) -> Effect:
        io = blocking = unknown = suspect = None
        for e in effects:
            if e.answer is Answer.IO:
                io = io or e
                break
            if e.answer is Answer.UNKNOWN:
                if e.suspect and suspect is None:
                    suspect = e
                elif unknown is None:
                    unknown = e
            elif e.answer is Answer.BLOCKING and blocking is None:
                blocking = e
        return io or suspect or unknown or blocking or NONE

    def _io_locals(self, own: _Own) -> frozenset[str]:
        """The locals of a function built by a call into an I/O package (``c = httpx.AsyncClient()``)."""
        found = set()
        for name, ctor in own.built:
            qn = resolve_dotted(ctor, self.imports)
            if qn is not None and any(qn == p or qn.startswith(p + ".") for p in IO_PACKAGES):
                found.add(name)
        return frozenset(found)

    def site(
        self,
        s: _Site,
        cls: str | None,
        params: frozenset[str],
        depth: int = 1,
        stack: frozenset[str] = frozenset(),
        io_locals: frozenset[str] = frozenset(),
    ) -> Effect:
        """What the call site ``s`` in a function of class ``cls`` (None: a plain function) with
        parameters ``params`` and I/O clients in locals ``io_locals`` does."""
        target = s.target
        if target is None:
            return Effect(Answer.UNKNOWN, "awaits a value that is not a call") if s.awaited else NONE
        parts = target.split(".")
        head = parts[0]
        if head in io_locals and len(parts) > 1:
            return Effect(Answer.IO if s.awaited else Answer.BLOCKING, f"{'awaits' if s.awaited else 'calls'} `{target}`, an I/O client")
        qn = resolve_dotted(target, self.imports) if head not in params and head not in {"self", "cls"} else None
        if qn is None and target in BLOCKING_CALLS and target not in self.functions and head not in params:
            qn = target  # a builtin: ``open``
        if qn is not None:
            if qn in {"asyncio.to_thread"} or qn.endswith("run_in_executor"):
                return self._offloaded(s, cls, params, depth, stack)
            if _is_io_qualified(qn):
                return Effect(Answer.IO if s.awaited else Answer.BLOCKING, f"{'awaits' if s.awaited else 'calls'} `{qn}`")
            if qn.startswith(("asyncio.", "anyio.", "inspect.", "json.", "time.", "logging.", "typing.")):
                return NONE
            absolute = _absolute(qn, self.module) if qn.startswith(".") else qn
            if absolute is not None and self.external is not None:
                found = self.external(absolute)
                if found is not None:
                    return found if s.awaited or found.answer is not Answer.UNKNOWN else NONE
            # a function of another module: only a project index can follow it, so it is taken for a round
            # trip (as before this analysis); a method on an object defined elsewhere must be named like one
            elsewhere = io_ish(target) or not qn.split(".")[-1][:1].isupper() and len(parts) <= 2
            return Effect(Answer.UNKNOWN, f"awaits `{qn}`, defined elsewhere", elsewhere) if s.awaited else NONE
        # a function or method of this module
        key = None
        if head in {"self", "cls"} and len(parts) == 2 and cls is not None:
            key = self._method(cls, parts[1])
            if key is None and s.awaited:
                return Effect(Answer.UNKNOWN, f"`{target}` is not defined in its class", io_ish(target))
        elif len(parts) == 1 and head not in params and head in self.functions:
            key = head
        elif len(parts) == 2 and head in self.classes:
            key = self._method(head, parts[1])
        if key is not None:
            inner = self._function(key, depth, stack)
            if inner.answer is Answer.IO and not s.awaited and not isinstance(self.functions[key], ast.AsyncFunctionDef):
                inner = Effect(Answer.BLOCKING, inner.reason)
            if inner.answer is Answer.UNKNOWN and not s.awaited:
                return NONE
            if inner.answer in {Answer.IO, Answer.BLOCKING}:
                if inner.reason.startswith("through "):
                    return Effect(inner.answer, f"through `{target}`, {inner.reason[len('through '):]}")
                return Effect(inner.answer, f"through `{target}`, which {inner.reason}")
            return inner
        # a method on a receiver
        if head in {"self", "cls"} and len(parts) >= 3 and cls is not None and parts[1] in self._class_io_attrs(cls):
            return Effect(Answer.IO if s.awaited else Answer.BLOCKING, f"{'awaits' if s.awaited else 'calls'} `{target}`, an I/O client")
        if len(parts) > 1 and io_ish(".".join(parts[:-1]) + ".x"):
            return Effect(Answer.IO if s.awaited else Answer.BLOCKING, f"{'awaits' if s.awaited else 'calls'} `{target}`")
        if not s.awaited:
            return NONE
        if head in params and head not in {"self", "cls"}:
            return Effect(Answer.UNKNOWN, f"awaits `{target}`, a parameter", io_ish(target))
        return Effect(Answer.UNKNOWN, f"awaits `{target}`", io_ish(target))

    def _offloaded(self, s: _Site, cls: str | None, params: frozenset[str], depth: int, stack: frozenset[str]) -> Effect:
        """``await asyncio.to_thread(f, ...)``: the I/O of ``f``, run on a thread (so awaited)."""
        if s.first_arg is None:
            return Effect(Answer.UNKNOWN, "runs a callable on a thread", True)
        inner = self.site(_Site(s.first_arg, False, s.line), cls, params, depth, stack)
        if inner.answer is Answer.BLOCKING:
            return Effect(Answer.IO, f"runs `{s.first_arg}` on a thread, which {inner.reason}")
        if inner.answer is Answer.NONE and (s.first_arg in self.functions or s.first_arg.split(".")[0] in {"self", "cls"}):
            return NONE
        return Effect(Answer.UNKNOWN, f"runs `{s.first_arg}` on a thread", True)

    def _method(self, cls: str, name: str, depth: int = 0) -> str | None:
        key = f"{cls}.{name}"
        if key in self.functions:
            return key
        if depth < 4:
            for base in self.classes.get(cls, ()):
                if base in self.classes:
                    found = self._method(base, name, depth + 1)
                    if found is not None:
                        return found
        return None

    def _class_io_attrs(self, cls: str) -> set[str]:
        found = set(self.io_attrs.get(cls, ()))
        for base in self.classes.get(cls, ()):
            if base in self.classes and base != cls:
                found |= self.io_attrs.get(base, set())
        return found

    def call(self, target: str | None, cls: str | None, params: Iterable[str], awaited: bool = True, first_arg: str | None = None) -> Effect:
        """What an (awaited) call of the dotted ``target`` in a function of class path ``cls`` with
        parameters ``params`` does (``first_arg``: the dotted first argument, for ``to_thread``)."""
        return self.site(_Site(target, awaited, 0, first_arg), cls, frozenset(params))

    def resolve(self, target: str, cls: str | None) -> str | None:
        """The key of the module's function that the dotted callee ``target`` names from a function of
        class path ``cls`` (``self.m``, ``helper``, ``Class.m``), or None."""
        parts = target.split(".")
        if parts[0] in {"self", "cls"} and len(parts) == 2 and cls is not None:
            return self._method(cls, parts[1])
        if len(parts) == 1 and target in self.functions:
            return target
        if len(parts) == 2 and parts[0] in self.classes:
            return self._method(parts[0], parts[1])
        return None

    def mutates_argument(self, key: str, position: int | None, keyword: str | None, bound: bool) -> bool:
        """Whether the module's function ``key`` changes the argument passed at ``position`` (0-based,
        after ``self`` when ``bound``) or as ``keyword``: item or attribute stores into it, ``+=``,
        or a mutating method (``append``, ``update``, ``setdefault``...)."""
        func = self.functions.get(key)
        if func is None:
            return True
        args = [*func.args.posonlyargs, *func.args.args]
        if bound and args:
            args = args[1:]
        if keyword is not None:
            name = keyword
        elif position is not None and position < len(args):
            name = args[position].arg
        else:
            return True  # ``*args``: cannot tell
        for node in ast.walk(func):
            targets: list[ast.expr] = []
            if isinstance(node, ast.Assign):
                targets = list(node.targets)
            elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
                targets = [node.target]
            elif isinstance(node, ast.Delete):
                targets = list(node.targets)
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _MUTATORS:
                targets = [node.func]
            for t in targets:
                root = t
                while isinstance(root, (ast.Attribute, ast.Subscript)):
                    root = root.value
                if isinstance(root, ast.Name) and root.id == name and root is not t:
                    return True
        return False

    def answers(self) -> tuple[tuple[str, str, str], ...]:
        """``(key, answer value, reason)`` for every function of the module (the value ends in ``?`` for an
        UNKNOWN that is :attr:`Effect.suspect`), and ``(class, "io_attrs",
        "a,b")`` for the classes that hold I/O clients on ``self``: hashable, for a cache key."""
        rows = [
            (key, e.answer.value + ("?" if e.suspect else ""), e.reason)
            for key in sorted(self.functions)
            for e in [self.function(key)]
        ]
        rows.extend((cls, "io_attrs", ",".join(sorted(attrs))) for cls, attrs in sorted(self.io_attrs.items()) if attrs)
        return tuple(rows)


_MODULE_MEMO: dict = node_memo()  # emptied after each file of a batch run, as the other node memos


def module_effects(body: Iterable[ast.stmt], imports: Mapping[str, str]) -> ModuleEffects:
    """The :class:`ModuleEffects` of a module version: remembered for the same statement nodes and imports
    (the language server keeps unchanged statements' nodes between keystrokes; a few versions are kept)."""
    body = tuple(body)
    key = (tuple(map(id, body)), tuple(sorted(imports.items())))
    entry = _MODULE_MEMO.get(key)
    if entry is not None and len(entry[0]) == len(body) and all(a is b for a, b in zip(entry[0], body)):
        return entry[1]
    if len(_MODULE_MEMO) >= 4:
        _MODULE_MEMO.pop(next(iter(_MODULE_MEMO)))
    found = ModuleEffects(body, imports)
    _MODULE_MEMO[key] = (body, found)  # the nodes stay alive with their entry, so their ids stay theirs
    return found


def module_io_functions(body: Iterable[ast.stmt], imports: Mapping[str, str]) -> tuple[tuple[str, str, str], ...]:
    """:meth:`ModuleEffects.answers` of the module (the ``io_functions`` lazy module fact)."""
    return module_effects(body, imports).answers()



def _absolute(qn: str, module: str | None) -> str | None:
    """``.tools.lookup`` imported in ``pkg.agent`` -> ``pkg.tools.lookup``; None without ``module``."""
    if module is None:
        return None
    level = len(qn) - len(qn.lstrip("."))
    base = module.split(".")
    if level > len(base):
        return None
    base = base[: len(base) - level]
    rest = qn.lstrip(".")
    return ".".join([*base, rest]) if rest else ".".join(base) or None


def index_lookup(index: ProjectIndex, max_modules: int = 64) -> Callable[[str], Effect | None]:
    """An ``external`` hook for :class:`ModuleEffects` that follows a qualified name into the other
    files of ``index`` (a :class:`~perf_lsp.analysis.hotness.ProjectIndex`): the file of the function is
    read and parsed once (at most ``max_modules`` files per hook), and its answer comes from its own
    :class:`ModuleEffects`, which follows its imports the same way. A name the index does not hold, a
    file that cannot be read, or a cycle of modules gives None (UNKNOWN for the caller)."""
    functions = index.functions()
    loaded: dict[str, ModuleEffects | None] = {}
    running: set[str] = set()

    def external(qn: str) -> Effect | None:
        fn = functions.get(qn)
        if fn is None or qn in running:
            return None
        if fn.path not in loaded:
            if len(loaded) >= max_modules:
                return None
            try:
                tree = ast.parse(Path(fn.path).read_text(encoding="utf-8", errors="replace"))
            except (OSError, SyntaxError, ValueError, RecursionError, MemoryError):
                loaded[fn.path] = None
                return None
            module = fn.qualname[: len(fn.qualname) - len(fn.local)].rstrip(".")
            loaded[fn.path] = ModuleEffects(tree.body, {}, external=external, module=module or None)
        effects = loaded[fn.path]
        if effects is None:
            return None
        running.add(qn)
        try:
            return effects.function(fn.local)
        finally:
            running.discard(qn)

    return external
