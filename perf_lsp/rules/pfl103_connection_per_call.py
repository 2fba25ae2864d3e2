"""PFL103 connection-per-call, and its codemod (PFL101's cached factory, where it is mechanical)."""

from __future__ import annotations

import re

import libcst as cst

from perf_lsp.analysis import catalogs
from perf_lsp.analysis.receivers import HelperCall, called_helper, helper_calls_may_matter, may_call_helper
from perf_lsp.analysis.semantic import assigned_target
from perf_lsp.analysis.summaries import built_value_escapes
from perf_lsp.analysis.tree import COMPREHENSIONS, FUNCTION_BOUNDARIES, children, dotted, walk
from perf_lsp.fix.rewrites import cached_factory_fix
from perf_lsp.model import Applicability
from perf_lsp.rules.base import Rule
from perf_lsp.rules.heuristics import (
    callee_differs_at_module_level,
    closed_or_context_managed,
    has_uncacheable_arg,
    in_lazy_init,
    is_cold_path,
)

CONNECTIONS: dict[str, str] = {
    **catalogs.field_map("databases", "connection", "kind"),
    **catalogs.field_map("clients", "http", "kind"),
}
"""Calls that open a connection, a pool of them, or a client that holds one -> what it opens:
``[[connection]]`` of the ``databases`` catalog and ``[[http]]`` of the ``clients`` catalog
(``perf_lsp/catalogs/``)."""

_FACTORIES = {
    **catalogs.field_map("databases", "connection", "factory"),
    **catalogs.field_map("clients", "http", "factory"),
}
"""Qualified name -> the name of the cached factory the fix writes (only where sharing is mechanical:
thread-safe objects not tied to an event loop)."""

_HTTP_KINDS = frozenset({"HTTP client", "HTTP session"})
_REQUEST_METHODS = frozenset(
    {"get", "post", "put", "patch", "delete", "head", "options", "request", "stream", "send"}
)
_ROOTS = frozenset(qn.split(".", 1)[0] for qn in CONNECTIONS)


_LOOPS = (cst.For, cst.While, *COMPREHENSIONS)


class ConnectionPerCall(Rule):
    """
    ## What it does
    Reports a database connection, engine or pool, a Redis client, or an HTTP
    client or session opened inside a function body: ``psycopg2.connect``,
    ``psycopg.connect``, ``asyncpg.connect``/``create_pool``, ``pymysql.connect``,
    ``snowflake.connector.connect``, ``pymongo.MongoClient``,
    ``sqlalchemy.create_engine``/``create_async_engine``, ``redis.Redis(...)`` and
    ``redis.from_url`` (sync and ``redis.asyncio``), ``httpx.Client``/``AsyncClient``,
    ``aiohttp.ClientSession`` and ``requests.Session``, Neo4j drivers and vector-store
    clients (Qdrant, Pinecone, Weaviate, Milvus, Chroma's HTTP client), with or
    without ``with``. The full list is the ``databases`` and ``clients`` catalogs
    (``perf_lsp/catalogs/``), each entry with its documentation page.

    An HTTP client or session is reported only when the function opens it to make
    one request (``async with httpx.AsyncClient() as c: r = await c.get(url)``): one
    opened for a loop of requests, or handed to other code, is the right shape for
    a batch; one opened for a websocket (``ws_connect``) lives as long as it does.
    Database connections, engines, pools and Redis clients are reported however
    they are used.

    Not reported: at module level; in ``__init__`` and other one-time set-up
    methods; in cached functions; under a lazy-initialisation guard; in ``main()``,
    test functions and start-up hooks; in functions whose name says they set up,
    open or check connections (``lifespan``, ``startup``, ``init_db``,
    ``get_connection``, ``health_check``, migrations); and in factories, where the
    connection leaves the function (returned, yielded, stored on ``self`` or in a
    global). Cold paths are not reported either: a function nested in one of
    those; credential checks; model listing (the function's name says so, or the
    one request goes to ``.../models``, Ollama's ``/api/tags`` or ``/api/show``);
    FastAPI endpoints only administrators may call (a ``Depends(get_admin_user)``
    parameter); and database connections opened by a document loader (a class
    deriving from ``BaseLoader`` or another ``*Loader``), which serve a whole
    ingestion run.

    A retry loop (``for attempt in range(n): ... return``) is not a loop of
    requests: a client opened in it is reported as opened once per call.

    One call deep: a call of one of the module's own functions (``get_connection()``,
    ``self._connect()``) that opens a new connection and returns it, not cached and not
    taken from a pool, is reported at the call, naming the helper, and judged like the
    connect call there; an HTTP client from such a helper only when the call is in a loop.
    A helper that connects and uses the connection is reported inside the helper.

    ## Why is this bad?
    Opening a connection costs work and network round trips before the first
    query: TCP, TLS, authentication and session set-up. An engine, a pool, a Redis
    client or an HTTP client built per call starts empty, so nothing is ever kept
    alive and reused, and each call can leave sockets open until the garbage
    collector runs. Under load, per-call connections also run into the server's
    connection limit (PostgreSQL's ``max_connections`` defaults to 100). SQLAlchemy's
    documentation describes the engine as created once per process and shared;
    psycopg and redis-py provide pools for the same reason. Even with no network
    at all, ``sqlite3.connect`` per call plus one query costs about 10x the query on
    a shared connection (``benchmarks/bench_costs.py``, ``docs/costs.md``); a
    network database adds its round trips to that.

    ## Example
    ```python
    import os

    import httpx
    import psycopg2

    DSN = os.environ["DATABASE_URL"]

    def load_user(user_id):
        conn = psycopg2.connect(DSN)
        with conn.cursor() as cur:
            cur.execute("SELECT name FROM users WHERE id = %s", (user_id,))
            return cur.fetchone()

    async def fetch_profile(url):
        async with httpx.AsyncClient() as client:
            response = await client.get(url)
        return response.json()
    ```

    ## Use instead
    A pool created once (at start-up, or lazily) and borrowed per call, and one
    HTTP client created at start-up and closed at shutdown:
    ```python
    import os

    import httpx
    from psycopg2.pool import ThreadedConnectionPool

    DSN = os.environ["DATABASE_URL"]
    POOL = ThreadedConnectionPool(1, 10, DSN)
    http_client = httpx.AsyncClient(limits=httpx.Limits(max_connections=20))  # aclose() at shutdown

    def load_user(user_id):
        conn = POOL.getconn()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT name FROM users WHERE id = %s", (user_id,))
                return cur.fetchone()
        finally:
            POOL.putconn(conn)

    async def fetch_profile(url):
        response = await http_client.get(url)
        return response.json()
    ```
    For SQLAlchemy, create the engine once and open connections from it
    (``engine.connect()`` borrows from its pool); for asyncpg, create the pool in
    the application's start-up hook; for Redis, one client (it has its own pool).

    ## Fix safety
    Unsafe, and offered only where it is mechanical: ``sqlalchemy.create_engine``,
    ``create_async_engine``, sync ``redis.Redis``/``redis.from_url`` and
    ``httpx.Client`` built outside a ``with`` block and never closed or disposed in
    the function. The fix adds a module-level factory decorated with
    ``functools.cache`` that builds the object from the same arguments (PFL101's
    fix) and calls it instead: one engine or client is then shared by every caller
    passing the same arguments and lives as long as the process; settings read
    when it was built are read once; an async engine is tied to the event loop
    that first uses it. The fix is not offered when an argument cannot key the
    cache: a list, dict or set (a display, a comprehension, or a local bound to
    one anywhere in the function: ``headers = {...}; httpx.Client(headers=headers)``
    would raise ``TypeError`` on every call), another call's result
    (``retry=Retry(...)``, ``timeout=httpx.Timeout(...)``: a new object per call,
    so the cache would never hit and would keep every client), ``**kwargs``, or a
    dict-valued keyword (``headers``, ``connect_args``, ``execution_options``);
    strings and numbers read from the environment (``os.getenv(...)``) are fine.
    Nor when the callee's name is a parameter or a local of the function
    (``def f(redis): redis.Redis()``), or imported by the function from elsewhere
    than the module imports it from: the factory would call another object. (When
    the module imports it only under ``if TYPE_CHECKING:``/``try``, the factory
    imports it itself, as the function does.)
    No fix for ``connect()`` calls, pools, async clients and ``with`` blocks:
    borrowing from a pool or a shared client changes transaction and shutdown
    handling, which the code must decide (see the example above).

    ## References
    - [SQLAlchemy: Connection pooling](https://docs.sqlalchemy.org/en/20/core/pooling.html)
    - [psycopg 3: Connection pools](https://www.psycopg.org/psycopg3/docs/advanced/pool.html)
    - [redis-py: Connection pools](https://redis.readthedocs.io/en/stable/connections.html#connectionpool)
    - [PostgreSQL: max_connections](https://www.postgresql.org/docs/current/runtime-config-connection.html#GUC-MAX-CONNECTIONS)
    - Measured figures: `docs/costs.md`, made by `benchmarks/bench_costs.py`
    """

    code = "PFL103"
    name = "connection-per-call"
    message = "Connection opened on every call; create it (or a pool) once and reuse it"
    fix_title = "Create it once in a cached module-level factory"
    fix_safety = Applicability.UNSAFE

    module_facts = ("helper_facts",)

    @classmethod
    def applies_to(cls, text, module_ctx, settings) -> bool:
        if module_ctx.imported_helpers and any(local in text for local, _ in module_ctx.imported_helpers):
            return True  # a function of another module that the project index knows (one call deep)
        if any(root in text for root in _ROOTS):
            return True
        if not module_ctx.import_roots & _ROOTS:
            return False
        # the module opens connections: a call here may be one of its helpers (one call deep)
        return "(" in text

    @classmethod
    def wants(cls, summary, settings) -> bool:
        if any(qn in CONNECTIONS for _, qn in summary.call_names):
            return True
        helpers = [(name, qn) for name, qn in summary.call_names if may_call_helper(name, qn, summary.module_ctx)]
        return bool(helpers) and helper_calls_may_matter(summary, helpers)

    def visit_Call(self, node: cst.Call) -> None:
        qn = self.ctx.qualified_name(node.func)
        kind = CONNECTIONS.get(qn or "")
        if kind is None:
            helper = called_helper(node, self.ctx)
            if helper is not None:
                self._helper_call(node, helper)
            return
        func = self.ctx.enclosing_function(node)
        if func is None or in_lazy_init(node, self.ctx) or is_cold_path(node, self.ctx):
            return
        if built_value_escapes(node, func, self.ctx):
            return
        if kind not in _HTTP_KINDS and self._in_document_loader(func):
            return
        loop = self.ctx.repeating_loop(node)
        in_loop = loop is not None and not _retry_loop(loop)
        if kind in _HTTP_KINDS:
            if not in_loop and not self._single_request(node, func):
                return
            if self._catalog_request(node, func):
                return
        callee = dotted(node.func) or "connect"
        if in_loop:
            detail = f"Inside a loop: a new {kind} on every iteration."
        elif kind in _HTTP_KINDS:
            detail = (
                f"Paid on every call of `{func.name.value}()`: the request cannot reuse a kept-alive connection, "
                "so it pays TCP and TLS set-up every time."
            )
        else:
            detail = (
                f"Paid on every call of `{func.name.value}()`: connection set-up (TCP, TLS, authentication) "
                "before the first query, where a shared pool hands out an open connection."
            )
        fix = None
        factory = _FACTORIES.get(qn or "")
        if factory and self._fixable(node, func):
            fix = cached_factory_fix(self.ctx, node, callee, qn, factory)
        self.report(
            node,
            message=f"`{callee}(...)` opens a new {kind} on every call of `{func.name.value}()`; create it once and reuse it",
            fix=fix,
            detail=detail,
        )

    def _helper_call(self, node: cst.Call, helper: HelperCall) -> None:
        """One call deep: ``conn = get_connection()`` where the module's ``get_connection`` opens a new
        connection and returns it (not cached, not from a pool it keeps): judged like the connect call
        at this call. An HTTP client from a helper is reported only when the call is in a loop."""
        built = next((qn for qn in helper.facts.returns_new if qn in CONNECTIONS), None)
        if built is None:
            return
        kind = CONNECTIONS[built]
        func = self.ctx.enclosing_function(node)
        if func is None or func.name.value == helper.facts.name:
            return
        if in_lazy_init(node, self.ctx) or is_cold_path(node, self.ctx) or built_value_escapes(node, func, self.ctx):
            return
        if kind not in _HTTP_KINDS and self._in_document_loader(func):
            return
        loop = self.ctx.repeating_loop(node)
        in_loop = loop is not None and not _retry_loop(loop)
        if kind in _HTTP_KINDS and not in_loop:
            return
        where = "on every iteration" if in_loop else f"on every call of `{func.name.value}()`"
        self.report(
            node,
            message=(
                f"`{helper.label}` opens a new {kind} {where}; create it (or a pool) once and reuse it "
                f"(cache `{helper.facts.name}` or keep what it returns)"
            ),
            detail=(
                f"`{helper.facts.name}` returns a new `{built}` each time it is called: connection set-up "
                "(TCP, TLS, authentication) on every call, where a shared pool hands out an open connection."
            ),
        )

    # -- detection -------------------------------------------------------
    def _in_document_loader(self, func: cst.FunctionDef) -> bool:
        """A method of a document loader (a class deriving from ``BaseLoader`` or another ``*Loader``):
        it runs once per ingestion, and one connection serves the whole load."""
        cls = self.ctx.enclosing_class(func)
        if cls is None:
            return False
        for base in cls.bases:
            name = dotted(base.value) or ""
            if name.rsplit(".", 1)[-1].endswith("Loader"):
                return True
        return False

    def _catalog_request(self, node: cst.Call, func: cst.FunctionDef) -> bool:
        """The one request reads a model catalog (``/models``, Ollama's ``/api/tags``, ``/api/show``):
        model listing is a cold, cached path."""
        for inner in walk(func.body, stop=FUNCTION_BOUNDARIES):
            text = None
            if isinstance(inner, cst.SimpleString):
                text = inner.evaluated_value
            elif isinstance(inner, cst.FormattedString) and inner.parts and isinstance(inner.parts[-1], cst.FormattedStringText):
                text = inner.parts[-1].value  # ``f"{base}/models"``, not ``f"{base}/models/{m}:generate"``
            if isinstance(text, str) and _CATALOG_PATH.search(text):
                return True
        return False

    def _single_request(self, node: cst.Call, func: cst.FunctionDef) -> bool:
        """The HTTP client built by ``node`` is used for exactly one request, outside any loop,
        and is not handed to other code."""
        parent = self.ctx.parent(node)
        if isinstance(parent, cst.Attribute) and parent.value is node:
            grand = self.ctx.parent(parent)
            return isinstance(grand, cst.Call) and grand.func is parent and parent.attr.value in _REQUEST_METHODS
        name: str | None = None
        if isinstance(parent, cst.WithItem) and parent.item is node:
            if parent.asname is not None and isinstance(parent.asname.name, cst.Name):
                name = parent.asname.name.value
        else:
            target = assigned_target(node, self.ctx)
            if isinstance(target, cst.Name):
                name = target.value
        return name is not None and _one_request_through(name, func)

    def _fixable(self, node: cst.Call, func: cst.FunctionDef) -> bool:
        if isinstance(self.ctx.parent(node), cst.WithItem):
            return False  # ``with httpx.Client() as c:`` closes it on exit
        if callee_differs_at_module_level(node, func, self.ctx):
            return False  # ``def f(redis): redis.Redis()``: the factory would call another object
        if has_uncacheable_arg(node, func, self.ctx):
            return False  # the cache would raise TypeError (headers, connect_args) or never hit (a Retry(...))
        target = assigned_target(node, self.ctx)
        return not (isinstance(target, cst.Name) and closed_or_context_managed(target.value, func))


_CATALOG_PATH = re.compile(r"/(v\d+/)?models/?$|/api/(tags|show)/?$|/openai/deployments(\?|/?$)")
"""URL paths (at the end of a string part) that list or describe a provider's models."""


def _retry_loop(loop: cst.CSTNode) -> bool:
    """``for attempt in range(n): ... return/break``: the body repeats only when an attempt fails;
    the loop variable feeds nothing but the retry bookkeeping."""
    if not (isinstance(loop, cst.For) and isinstance(loop.iter, cst.Call) and dotted(loop.iter.func) == "range"):
        return False
    exits = any(isinstance(n, (cst.Return, cst.Break)) for n in walk(loop.body, stop=FUNCTION_BOUNDARIES))
    if not exits:
        return False
    target = loop.target.value if isinstance(loop.target, cst.Name) else None
    if target is None:
        return False
    for n in walk(loop.body, stop=FUNCTION_BOUNDARIES):
        if isinstance(n, cst.Call) and isinstance(n.func, cst.Attribute) and n.func.attr.value in _REQUEST_METHODS:
            if target in _identifiers(n):
                return False  # the attempt number changes the request: not a plain retry
    return True


def _one_request_through(name: str, func: cst.FunctionDef) -> bool:
    """``func`` makes exactly one request through local ``name`` (``name.get(...)``, ...), not in a loop,
    and otherwise only configures or closes it (``name.headers.update(...)``, ``name.close()``)."""
    requests = 0
    stack: list[tuple[cst.CSTNode, tuple[cst.CSTNode, ...]]] = [(func.body, (func,))]
    while stack:
        node, chain = stack.pop()
        if isinstance(node, FUNCTION_BOUNDARIES) and node is not func:
            if name in _identifiers(node):
                return False  # used by nested code: may run any number of times
            continue
        if isinstance(node, cst.Name) and node.value == name:
            parent = chain[-1]
            if isinstance(parent, (cst.AsName, cst.AssignTarget)) or (isinstance(parent, cst.AnnAssign) and parent.target is node):
                continue  # the binding itself
            if isinstance(parent, cst.Arg) and parent.keyword is node:
                continue  # ``f(client=...)``: a keyword, not the variable
            if isinstance(parent, cst.Attribute) and parent.attr is node:
                continue  # ``self.client``
            if isinstance(parent, cst.Attribute) and parent.value is node:
                grand = chain[-2]
                if isinstance(grand, cst.Call) and grand.func is parent and parent.attr.value in _REQUEST_METHODS:
                    requests += 1
                    if any(isinstance(a, _LOOPS) and not _retry_loop(a) for a in chain):
                        return False
                continue  # configuration (``client.headers``, ``session.mount``) or closing
            return False  # handed on, compared, rebound...
        for child in children(node):
            stack.append((child, (*chain, node)))
    return requests == 1


def _identifiers(node: cst.CSTNode) -> set[str]:
    return {n.value for n in _names(node)}


def _names(node: cst.CSTNode):
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, cst.Name):
            yield current
        stack.extend(children(current))
