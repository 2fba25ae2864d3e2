"""PFL303 blocking-call-in-async, and its codemods."""

from __future__ import annotations

import ast

import libcst as cst

from perf_lsp.analysis.bindings import binds_locally, first_param, target_leaves
from perf_lsp.analysis.blocking import (
    BLOCKING_CALLS,
    HTTP_VERBS,
    INSTEAD_DB,
    INSTEAD_HANDLE,
    INSTEAD_HTTP,
    INSTEAD_SLEEP,
    INSTEAD_SOCKET,
)
from perf_lsp.analysis.concurrency import held_thread_lock, uses_other_event_loop
from perf_lsp.analysis.imports import dotted_name
from perf_lsp.analysis.loops import per_item_in_loop
from perf_lsp.analysis.receivers import TypeCatalog, resolver
from perf_lsp.analysis.summaries import function_summary
from perf_lsp.analysis.sync_clients import SDK_IMPORT_ROOTS, SDK_SUGGESTIONS, returns_lazy_result, sync_client_call
from perf_lsp.analysis.tree import SCOPES, dotted, walk
from perf_lsp.fix.codemod import replace_node
from perf_lsp.fix.context import FixContext
from perf_lsp.fix.rewrites import statement_level, to_thread_fix
from perf_lsp.model import Applicability
from perf_lsp.rules.base import Rule, RuleContext, RuleOption, short_code
from perf_lsp.rules.heuristics import calls_method_of, in_lazy_init, is_cached_function, is_cold_path, is_test_function

EXTEND_BLOCKING_CALLS = RuleOption(
    "extend_blocking_calls",
    "qualified-name-map",
    "More calls that block the event loop: qualified name -> what to use instead (shown in the message).",
)

# Objects whose methods block: (qualified names of the constructors) -> methods.
_SESSIONS = frozenset({"requests.Session", "requests.session", "requests.sessions.Session", "httpx.Client"})
_SESSION_METHODS = frozenset(HTTP_VERBS)
_DB_CONNECT = frozenset(qn for qn, s in BLOCKING_CALLS.items() if s is INSTEAD_DB)
_CONNECTION_METHODS = frozenset({"execute", "executemany", "executescript", "commit", "rollback"})
_CURSOR_METHODS = frozenset({"execute", "executemany", "fetchone", "fetchall", "fetchmany", "callproc"})
_RECEIVERS = TypeCatalog(
    constructors={**{qn: "session" for qn in _SESSIONS}, **{qn: "connection" for qn in _DB_CONNECT}},
    methods={("connection", "cursor"): "cursor"},
)
"""Sync HTTP sessions, database connections and their cursors: the receivers whose methods block."""
_RECEIVER_METHODS = _SESSION_METHODS | _CONNECTION_METHODS | _CURSOR_METHODS
_RECEIVER_NAMES = frozenset({*_RECEIVERS.constructors, *_RECEIVERS.annotations})
"""What the prefilter looks for: a call of one of these methods blocks only on a receiver built (or annotated)
by one of these names, which the code can name only through an import."""



class BlockingCallInAsync(Rule):
    """
    ## What it does
    Reports a call that blocks the thread directly inside an ``async def``:
    ``time.sleep``; ``requests.get/post/...`` and calls on a ``requests.Session``
    or ``httpx.Client``; ``httpx.get/post/...``; ``urllib.request.urlopen``;
    ``socket.create_connection``; ``open()`` (and so the ``json.load`` that reads from it); ``subprocess.run``,
    ``call``, ``check_output``..., ``os.system``; sync database drivers
    (``sqlite3``, ``psycopg2``, ``psycopg``, ``pymysql``, ``mysql.connector``):
    ``connect`` and ``execute``/``commit``/``fetch*`` on a connection or cursor the
    function or module got from them; requests made through a sync SDK client or
    driver (:mod:`perf_lsp.analysis.sync_clients`): ``client.chat.completions.create``
    on an ``openai.OpenAI`` (also Azure, Groq, Together), ``client.messages.create``
    on an ``anthropic.Anthropic``, Mistral, Cohere and Ollama clients, any command on
    a ``redis.Redis`` (not ``pipeline()``/``lock()``), collection operations on a
    ``pymongo.MongoClient`` (``mongo["app"]["users"].find_one(...)``), and calls on a
    ``boto3`` client or resource (``s3.put_object``, ``dynamodb.Table(t).put_item``;
    not ``generate_presigned_url``/``get_paginator``), where the client is a module
    name, a local or a ``self`` attribute the class builds (in ``__init__``, the class
    body or any method) or annotates, never when awaited or when the receiver may be
    the SDK's async client; and any qualified name listed in
    ``extend-blocking-calls`` (its suggestion is shown in the message).

    It goes one step further than Ruff's ``ASYNC2xx`` rules: a call from an
    ``async def`` to a sync helper of the same class (``self._load_config()``), or
    to a sync function defined inside the ``async def``, is reported when the
    helper's own body makes one of these calls; the message names it. (Module-level
    helpers are checked when the module context lists them in
    ``blocking_helpers``: see :func:`module_blocking_helpers`; a function imported
    from another module of the project, when the project index says it blocks.)

    Not reported: calls inside a nested sync ``def`` or a ``lambda`` (they run
    where they are called: ``await asyncio.to_thread(lambda: ...)``), callables
    passed to ``asyncio.to_thread``/``run_in_executor`` rather than called,
    ``aiofiles.open``, ``httpx.AsyncClient``, ``asyncio.sleep``,
    ``time.time()``/``time.monotonic()``, receivers whose type cannot be resolved,
    helpers that are generators or cached with ``functools.cache``, a helper whose
    blocking call sits under a lazy-initialisation guard (``if self._ok is None:``:
    it runs once and the result is kept), and test
    functions (``test_*``), which block on purpose. In a module that imports
    ``trio``, ``anyio`` or ``curio`` the call is reported without a fix.

    ## Why is this bad?
    An ``async`` service runs every request on one event loop thread. A blocking
    call stops that thread: no other request, timer or health check makes progress
    until it returns. The asyncio documentation: "if a function performs a
    CPU-intensive calculation for 1 second, all concurrent asyncio Tasks and IO
    operations would be delayed by 1 second", and the same holds for blocking I/O.
    Ten concurrent handlers that each wait 50 ms finish in about 500 ms with
    ``time.sleep`` and about 50 ms with ``asyncio.sleep``
    (``benchmarks/bench_costs.py``, ``docs/costs.md``); a blocking HTTP call or
    file read stalls everything in flight the same way.

    ## Example
    ```python
    import requests

    async def fetch_profile(user_id):
        response = requests.get(f"https://api.example.com/users/{user_id}", timeout=5)
        return response.json()
    ```

    ## Use instead
    ```python
    import asyncio

    import requests

    async def fetch_profile(user_id):
        response = await asyncio.to_thread(requests.get, f"https://api.example.com/users/{user_id}", timeout=5)
        return response.json()
    ```
    Better still, an async client (``httpx.AsyncClient``, ``aiohttp``) created once.

    ## Fix safety
    ``time.sleep(x)`` written as a statement directly in the ``async def``
    becomes ``await asyncio.sleep(x)``: safe, the coroutine still waits that long
    (other tasks now run meanwhile, which is the point). An ``await`` is a point
    where other tasks interleave: code that relied on not being interrupted there
    can behave differently. So the fix is not offered where the function uses an
    attribute, item or ``global`` on both sides of the sleep and changes it on one
    side: read before and written after loses other tasks' updates (``n =
    self.count; time.sleep(1); self.count = n + 1``), written before and read after
    may read theirs (``self.count += 1; time.sleep(1); return self.count``).

    No fix at all (neither ``asyncio.sleep`` nor ``to_thread``) while a threading
    lock is held: inside ``with threading.Lock():``, ``with self._lock:`` (a
    ``threading``/``multiprocessing`` ``Lock``, ``RLock``, ``Condition`` or
    ``Semaphore``, found by its constructor, or any object named ``*lock``,
    ``*mutex``, ``*semaphore``, ``*cond`` used with a plain ``with``) or between
    ``lock.acquire()`` and ``lock.release()``. An ``await`` there suspends the
    coroutine with the lock held; a second task that reaches the lock blocks the
    event loop thread, so the first task can never resume to release it: a
    deadlock. Use an ``asyncio.Lock`` (``async with``) instead; the finding's message
    says so.

    Other calls, where the call sits directly in the ``async def`` (not in a
    comprehension, lambda or nested function), become ``await
    asyncio.to_thread(func, *args, **kwargs)``: unsafe. The call runs in a worker
    thread of the default executor: objects it shares with the event loop (a
    ``sqlite3`` connection, which refuses other threads by default, a session
    that is not thread-safe, a helper that touches loop state) can break; the
    executor has a bounded number of threads; and the call's context variables
    are copied, not shared. The fix adds ``import asyncio`` when needed. ``open()``
    has no fix: the file object is used across several statements; wrap the whole
    read in a helper and ``await asyncio.to_thread(helper)``, or use ``aiofiles``.
    Neither have the other calls that return a handle which blocks when it is used
    later: ``urllib.request.urlopen`` (its response's ``read()``),
    ``socket.create_connection`` (``recv``/``sendall``), and ``requests`` calls with
    ``stream=True`` (or ``**kwargs``): moving only the call to a thread would leave
    the reads on the event loop. Nor do sync database connections, nor SDK calls
    that return something read later: a pymongo cursor (``find``, ``aggregate``), a
    streamed completion (``stream=True``, ``**kwargs``, ``.stream(...)``), a redis
    ``scan_iter``.

    No ``to_thread`` fix either for a call made once per item of a ``for`` loop
    whose items look independent (the call reads the loop variable or a name the
    body binds, nothing it reads is changed by the body, and the body neither
    awaits, paces itself, returns, yields nor breaks): awaited there, it would be an
    ``await`` in a loop that PFL302 reports, so fixing one finding would create
    another. The message gives the form that fixes both, ``await
    asyncio.gather(*(asyncio.to_thread(f, x) for x in xs))`` (unsafe for PFL302's
    reasons too: the items then run at once, unbounded). A call in a ``while`` or
    ``async for`` loop, or in a loop PFL302 leaves alone (polling, a carried value,
    ``sleep``), keeps its fix.

    ## References
    - [Python: Developing with asyncio, running blocking code](https://docs.python.org/3/library/asyncio-dev.html#running-blocking-code)
    - [Python: asyncio.to_thread](https://docs.python.org/3/library/asyncio-task.html#asyncio.to_thread)
    - Measured figures: `docs/costs.md`, made by `benchmarks/bench_costs.py`
    """

    code = "PFL303"
    name = "blocking-call-in-async"
    message = "Blocking call in `async def` stops the event loop; use an async alternative"
    fix_title = "Run the call in a worker thread with asyncio.to_thread"
    fix_safety = Applicability.UNSAFE
    options = (EXTEND_BLOCKING_CALLS,)
    alt_fix_title = "Replace `time.sleep` with `await asyncio.sleep`"
    alt_fix_safety = Applicability.SAFE
    triggers = r"async(?<=\basync)\s+def\b"
    module_facts = ("blocking_helpers",)

    @classmethod
    def wants(cls, summary, settings) -> bool:
        """An ``async def`` whose own code makes a call :func:`blocking_call` may report (a name of
        ``BLOCKING_CALLS`` or ``extend-blocking-calls`` through the imports, ``open``, a session, connection
        or cursor method when the imports can name one of their constructors, any method call when the module
        imports a sync SDK or driver package, ``sync_clients.SDK_IMPORT_ROOTS``), or calls a helper that
        makes one: a ``def`` of the chunk by that name (``self.<name>()``, ``<name>()``), for a bare name
        nothing imports, a module-level helper of ``blocking_helpers`` (read last), or an imported function
        the project index says blocks (``ModuleContext.imported_helpers``)."""
        if not summary.own.has_async_def:
            return False
        names = BLOCKING_CALLS.keys() | dict(settings.option(EXTEND_BLOCKING_CALLS)).keys()
        receivers = summary.may_name_any(_RECEIVER_NAMES)
        roots = summary.module_ctx.import_roots | {
            qn.split(".", 1)[0] for found in summary._import_table.values() for qn in found
        }
        sdk = bool(SDK_IMPORT_ROOTS & roots)  # a sync SDK client or driver: any method may be a round trip

        def may_block(call: ast.Call) -> bool:
            target = call.func
            name = dotted_name(target)
            if name is not None and (name == "open" or not names.isdisjoint(summary.qualified_names(name))):
                return True
            if sdk and isinstance(target, ast.Attribute):
                return True
            return receivers and isinstance(target, ast.Attribute) and target.attr in _RECEIVER_METHODS

        helpers: dict[str, bool] = {}
        module_helpers: set[str] = set()
        imported_blocking = {local for local, facts in summary.module_ctx.imported_helpers if facts.blocks}
        for func in summary.own.statements_of(ast.AsyncFunctionDef):  # where a finding can be
            if _is_test_name(func.name):
                continue
            args = func.args
            owner = (args.posonlyargs or args.args or [None])[0]
            for call in summary.own_calls(func):
                if may_block(call):
                    return True
                target = call.func
                if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
                    if owner is None or target.value.id != owner.arg:
                        continue
                    name = target.attr
                elif isinstance(target, ast.Name):
                    name = target.id
                    if not summary.imported(name):
                        module_helpers.add(name)
                    elif name in imported_blocking:  # a function of another module of the project that blocks
                        return True
                else:
                    continue
                found = helpers.get(name)
                if found is None:
                    found = helpers[name] = any(
                        may_block(inner) for helper in summary.sync_functions.get(name, ()) for inner in summary.own_calls(helper)
                    )
                if found:
                    return True
        if not module_helpers:
            return False
        return any(name in module_helpers for name, _ in summary.module_fact("blocking_helpers"))

    def visit_Call(self, node: cst.Call) -> None:
        func = self.ctx.enclosing_function(node)
        if func is None or func.asynchronous is None or is_test_function(func):
            return
        found = self._blocking(node, func)
        if found is not None and found[0] in _OPEN_LABELS and not _file_io_here(node, func, self.ctx):
            return
        if found is None:
            found = self._blocking_helper(node, func)
            if found is None:
                return
        if is_cold_path(node, self.ctx):  # start-up, migrations, admin actions: nothing else is waiting
            return
        label, suggestion, via = found
        if via:
            message = f"`{label}` blocks the event loop: it calls `{via}`; run it with {_TO_THREAD_HINT}"
        else:
            message = f"Blocking call `{label}` in `async def` stops the event loop; use {suggestion}"
        if uses_other_event_loop(self.ctx):  # trio/anyio code cannot await asyncio helpers
            if suggestion is INSTEAD_SLEEP:
                message = f"Blocking call `{label}` in `async def` stops the event loop; use the async library's sleep"
            self.report(node, message=message, detail=_DETAIL)
            return
        lock = held_thread_lock(node, self.ctx, func)
        if lock is not None:  # an await here keeps the lock across a suspension: no fix (see Fix safety)
            what = f"`{label}` blocks the event loop (it calls `{via}`)" if via else f"Blocking call `{label}` stops the event loop"
            message = (
                f"{what} while threading lock `{short_code(lock)}` is held; an await here would keep the lock "
                "across a suspension and can deadlock: use an asyncio.Lock, then await"
            )
            self.report(node, message=message, detail=_DETAIL)
            return
        if via:
            fix = to_thread_fix(node, self.ctx)
        elif _returns_blocking_handle(node, suggestion):
            fix = None  # to_thread around the call alone would leave the reads on the event loop
            if suggestion is INSTEAD_HTTP:
                message = f"Blocking call `{label}` in `async def` stops the event loop; use {INSTEAD_HANDLE}"
        elif self.ctx.qualified_name(node.func) == "time.sleep":
            sleep_fix = None if _splits_shared_update(node, func, self.ctx) else _sleep_fix(node, self.ctx)
            self.report(node, message=message, alt_fix=sleep_fix, detail=_DETAIL)
            return
        elif label in _OPEN_LABELS or suggestion is INSTEAD_DB or (suggestion in SDK_SUGGESTIONS and returns_lazy_result(node)):
            fix = None  # a file, a connection, a cursor or stream read later: more than the call blocks
        else:
            fix = to_thread_fix(node, self.ctx)
        if fix is not None and per_item_in_loop(node, func, self.ctx):
            fix = None  # awaited once per item, it would be PFL302's finding: the fix must not create one
            message += _PER_ITEM_HINT
        self.report(node, message=message, fix=fix, detail=_DETAIL)

    # -- detection -------------------------------------------------------
    def _blocking(self, call: cst.Call, func: cst.FunctionDef) -> tuple[str, str, str] | None:
        """(label, suggestion, "") when ``call`` itself blocks, else None."""
        return blocking_call(call, self.ctx, func)

    def _blocking_helper(self, call: cst.Call, func: cst.FunctionDef) -> tuple[str, str, str] | None:
        """(label, "", what blocks inside) when ``call`` calls a sync helper that blocks."""
        target = call.func
        if isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name):
            owner = first_param(func)
            cls = self.ctx.enclosing_class(func)
            if cls is None or owner is None or target.value.value != owner or _is_static(func, self.ctx):
                return None
            helper = _method(cls, target.attr.value)
            label = f"{owner}.{target.attr.value}()"
            around = cls
        elif isinstance(target, cst.Name):
            name = target.value
            helper = _nested_def(func, name, self.ctx)
            label = f"{name}()"
            around = func
            if helper is None:
                if binds_locally(func, name) or self.ctx.local_imports.get(name):
                    return None
                if self.ctx.module_ctx.imported(name):  # another module's function, when the project index knows it
                    facts = dict(self.ctx.module_ctx.imported_helpers).get(name)
                    if facts is None or facts.is_async or facts.cached or not facts.blocks:
                        return None
                    return (label, "", facts.blocks)
                via = dict(getattr(self.ctx.module_ctx, "blocking_helpers", ()) or ()).get(name)
                return (label, "", via) if via else None
        else:
            return None
        if helper is None or helper.asynchronous is not None or is_cached_function(helper, self.ctx):
            return None
        via = self.ctx.memo(_first_blocking_in, helper, self.ctx, (helper, *resolver(self.ctx, _RECEIVERS).scopes_at(around)))
        return (label, "", via) if via else None


def _is_test_name(name: str) -> bool:
    """The names :func:`~perf_lsp.rules.heuristics.is_test_function` gives to tests, which are not reported."""
    return name.startswith("test_") or (name.startswith("test") and name[4:5].isupper())


def _returns_blocking_handle(call: cst.Call, suggestion: str) -> bool:
    """True when ``call`` returns a handle whose later use blocks too.

    ``urllib.request.urlopen`` (a response read later), ``socket.create_connection``
    (a socket), and a ``requests`` call or session method with ``stream=`` other than
    ``False`` (the body is read as it is iterated). Like ``open()``, such a call gets no
    ``to_thread`` fix: only the call would move to the worker thread.
    """
    if suggestion is INSTEAD_HANDLE or suggestion is INSTEAD_SOCKET:
        return True
    if suggestion is not INSTEAD_HTTP:
        return False
    for arg in call.args:
        if arg.star == "**":
            return True  # ``**kwargs`` may carry stream=True
        if arg.keyword is not None and arg.keyword.value == "stream":
            return not (isinstance(arg.value, cst.Name) and arg.value.value in {"False", "None"})
    return False


_OPENS = frozenset({"open", "io.open", "builtins.open"})
_HANDLE_IO = frozenset({"read", "readline", "readlines", "write", "writelines", "truncate"})
_HANDLE_CONSUMERS = frozenset(
    {
        "json.load", "json.dump", "pickle.load", "pickle.dump", "yaml.load", "yaml.safe_load", "yaml.dump",
        "yaml.safe_dump", "tomllib.load", "csv.reader", "csv.writer", "csv.DictReader", "csv.DictWriter",
        "shutil.copyfileobj",
    }
)


def _file_io_here(call: cst.Call, func: cst.FunctionDef, ctx: RuleContext) -> bool:
    """Whether the file ``call`` (an ``open(...)``) opens is read or written in ``func`` itself.

    Opening a local file takes microseconds; the reads and writes are what block. Not
    counted: a handle whose read runs in a worker thread (``asyncio.to_thread(f.read)``)
    or that is handed to another call (an SDK upload), which is where any blocking is.
    """
    parent = ctx.parent(call)
    if isinstance(parent, cst.Attribute):  # open(p).read()
        return True
    if isinstance(parent, cst.Arg):
        consumer = ctx.parent(parent)
        return isinstance(consumer, cst.Call) and ctx.qualified_name(consumer.func) in _HANDLE_CONSUMERS
    name: str | None = None
    scope: cst.CSTNode = func.body
    if isinstance(parent, cst.WithItem) and parent.asname is not None and isinstance(parent.asname.name, cst.Name):
        name, scope = parent.asname.name.value, ctx.parent(parent) or func.body
    elif isinstance(parent, cst.Assign) and len(parent.targets) == 1 and isinstance(parent.targets[0].target, cst.Name):
        name = parent.targets[0].target.value
    if name is None:
        return True  # used some other way: assume it is read here
    for node in walk(scope, stop=SCOPES):
        if isinstance(node, cst.Call):
            if calls_method_of(node, name, _HANDLE_IO):
                return True
            if ctx.qualified_name(node.func) in _HANDLE_CONSUMERS and any(
                isinstance(arg.value, cst.Name) and arg.value.value == name for arg in node.args
            ):
                return True
        elif isinstance(node, (cst.For, cst.CompFor)) and isinstance(node.iter, cst.Name) and node.iter.value == name:
            return True
    return False
_OPEN_LABELS = frozenset(f"{qn}()" for qn in _OPENS)
_DETAIL = "In an async handler: blocks every other request for that long."
_TO_THREAD_HINT = "`await asyncio.to_thread(...)` or make it async"
_PER_ITEM_HINT = (
    "; once per item of this loop: run the items together in worker threads, "
    "await asyncio.gather(*(asyncio.to_thread(...) for ... in ...))"
)


def blocking_call(
    call: cst.Call, ctx: RuleContext, func: cst.FunctionDef, scopes: list[cst.CSTNode] | None = None
) -> tuple[str, str, str] | None:
    """(label, suggestion, "") when ``call`` (inside ``func``) is a blocking call, else None.

    ``scopes``: the functions, lambdas, comprehensions and classes around ``call``,
    innermost first (``func`` first), where its receiver's bindings are looked up
    (default: ``func`` and the scopes the traversal recorded around it).
    """
    qn = ctx.qualified_name(call.func)
    if qn is None and isinstance(call.func, cst.Name) and call.func.value == "open":
        if not binds_locally(func, "open") and ctx.module_ctx.binding("open") is None:
            qn = "open"
    if qn is not None:
        label = f"{qn}()" if qn in _OPENS else qn
        suggestion = dict(ctx.settings.option(EXTEND_BLOCKING_CALLS)).get(qn)
        if suggestion is not None:
            return label, suggestion, ""
        if qn in BLOCKING_CALLS:
            return label, BLOCKING_CALLS[qn], ""
    if not isinstance(call.func, cst.Attribute):
        return None
    method = call.func.attr.value
    receivers = resolver(ctx, _RECEIVERS)
    if scopes is None:
        scopes = receivers.scopes_at(func)
    if method not in _SESSION_METHODS and method not in _CONNECTION_METHODS and method not in _CURSOR_METHODS:
        sdk = sync_client_call(call, ctx, scopes)  # a sync SDK client's request (openai, redis, pymongo, boto3)
        return (sdk[0], sdk[1], "") if sdk is not None else None
    receiver = call.func.value
    kind = receivers.kind(receiver, scopes)
    if kind == "session" and method in _SESSION_METHODS:
        return f"{short_code(ctx.code(receiver))}.{method}", INSTEAD_HTTP, ""
    if kind == "connection" and method in _CONNECTION_METHODS:
        return f"{short_code(ctx.code(receiver))}.{method}", INSTEAD_DB, ""
    if kind == "cursor" and method in _CURSOR_METHODS:
        return f"{short_code(ctx.code(receiver))}.{method}", INSTEAD_DB, ""
    sdk = sync_client_call(call, ctx, scopes)  # ``cache.get(key)`` on a sync Redis, ``boto3`` ``s3.delete(...)``
    return (sdk[0], sdk[1], "") if sdk is not None else None


def _is_static(func: cst.FunctionDef, ctx: RuleContext) -> bool:
    return any(dotted(d.decorator) in {"staticmethod", "classmethod"} for d in func.decorators)


def _method(cls: cst.ClassDef, name: str) -> cst.FunctionDef | None:
    """The last ``def name`` directly in the class body (None when it is a property or not a plain def)."""
    found = None
    for stmt in cls.body.body:
        if isinstance(stmt, cst.FunctionDef) and stmt.name.value == name:
            found = stmt
    if found is not None and any((dotted(d.decorator) or "").split(".")[-1] in {"property", "setter", "cached_property"} for d in found.decorators):
        return None
    return found


def _nested_def(func: cst.FunctionDef, name: str, ctx: RuleContext) -> cst.FunctionDef | None:
    """A ``def name`` directly in ``func``'s body (not in a branch), when ``name`` is bound nowhere else."""
    found = [s for s in func.body.body if isinstance(s, cst.FunctionDef) and s.name.value == name]
    if len(found) != 1 or name in function_summary(ctx, func).assigned:
        return None
    return found[0] if not found[0].decorators else None


def _first_blocking_in(helper: cst.FunctionDef, ctx: RuleContext, scopes: tuple[cst.CSTNode, ...]) -> str | None:
    """The first blocking call made directly in ``helper``'s body, as a label; None for generators.

    ``scopes``: ``helper`` and the scopes around it, innermost first. The helper may come
    after the call being checked: its parents are recorded first. Meant for ``ctx.memo``
    (asked once per helper, however many calls reach it)."""
    if function_summary(ctx, helper).yields:
        return None
    ctx.record_parents(helper)
    for node in walk(helper.body, stop=SCOPES):
        if isinstance(node, cst.Call) and not in_lazy_init(node, ctx):
            # under ``if self._x is None:`` the blocking call runs once and its result is kept
            found = blocking_call(node, ctx, helper, list(scopes))
            if found is not None:
                return found[0]
    return None


# -- interleaving at an await ------------------------------------------------
_CONTAINER_CHANGES = frozenset(
    {"append", "extend", "insert", "pop", "remove", "clear", "update", "setdefault", "add", "discard"}
)


def _splits_shared_update(call: cst.Call, func: cst.FunctionDef, ctx: RuleContext) -> bool:
    """True when ``func`` uses shared state on both sides of ``call``, changing it on one side.

    Shared: an attribute or item of anything (``self.count``, ``CACHE[k]``), or a name
    the function declares ``global``/``nonlocal``. With ``await`` at ``call``, other tasks
    run in between: a value read before and written after loses their updates
    (``n = self.count; sleep; self.count = n + 1``), one written before and read after
    may be theirs (``self.count += 1; sleep; return self.count``); with the blocking
    call, no task could run there.
    """
    declared = function_summary(ctx, func).declared
    before: list[tuple[str, bool]] = []
    after: list[tuple[str, bool]] = []
    side = before
    for node in walk(func.body, stop=SCOPES):
        if node is call:
            side = after
            continue
        target_nodes: list[cst.CSTNode] = []
        if isinstance(node, cst.Assign):
            target_nodes = [t.target for t in node.targets]
        elif isinstance(node, (cst.AugAssign, cst.AnnAssign, cst.Del)):
            target_nodes = [node.target]
        elif (
            isinstance(node, cst.Call)
            and isinstance(node.func, cst.Attribute)
            and node.func.attr.value in _CONTAINER_CHANGES
        ):
            target_nodes = [node.func.value]
        for target in target_nodes:
            for leaf in target_leaves(target):
                path = _shared_path(leaf, declared)
                if path is not None:
                    side.append((path, True))
        if isinstance(node, (cst.Attribute, cst.Subscript, cst.Name)):
            path = _shared_path(node, declared)
            if path is not None:
                side.append((path, False))
    return any(
        (wrote or writes) and _overlap(path, other) for path, wrote in before for other, writes in after
    )


def _overlap(a: str, b: str) -> bool:
    return a == b or a.startswith((b + ".", b + "[")) or b.startswith((a + ".", a + "["))


def _shared_path(node: cst.CSTNode, declared: set[str]) -> str | None:
    """``self.count`` for ``self.count``, ``CACHE[]`` for ``CACHE[k]``, ``N`` for a declared global ``N``; else None."""
    if isinstance(node, cst.Subscript):
        base = dotted(node.value)
        return f"{base}[]" if base is not None else None
    if isinstance(node, cst.Attribute):
        return dotted(node)
    if isinstance(node, cst.Name) and node.value in declared:
        return node.value
    return None


def _sleep_fix(call: cst.Call, ctx: RuleContext):
    parent = ctx.parent(call)
    if not (isinstance(parent, cst.Expr) and parent.value is call and statement_level(call, ctx)):
        return None
    if len(call.args) != 1 or call.args[0].star or call.args[0].keyword is not None:
        return None

    def build(fctx: FixContext) -> cst.Module | None:
        sleep = fctx.parse_expression(fctx.name_ref("asyncio", "sleep"))
        return replace_node(fctx.chunk, call, cst.Await(call.with_changes(func=sleep)))

    return build
