"""Facts about concurrency: the event loop a module runs on, awaits that cannot overlap, threading locks held.

Shared by the ``async`` rules (PFL301-PFL304): an ``asyncio`` fix does not run
under trio/anyio/curio, Django's async ORM runs on one thread, and an ``await``
must not be added where a threading lock is held.
"""

from __future__ import annotations

import libcst as cst

from perf_lsp.analysis.bindings import first_param
from perf_lsp.analysis.receivers import TypeCatalog, resolver
from perf_lsp.analysis.semantic import SemanticModel
from perf_lsp.analysis.tree import FUNCTION_BOUNDARIES, dotted, walk
from perf_lsp.analysis.words import camel_to_snake, words_of

OTHER_EVENT_LOOPS = frozenset({"trio", "anyio", "curio"})
"""Async libraries whose code cannot await ``asyncio`` helpers (``asyncio.gather``, ``to_thread``, ``sleep``)."""


def uses_other_event_loop(ctx: SemanticModel) -> bool:
    """True when the module or chunk imports trio, anyio or curio: an ``asyncio`` fix would not run there."""
    qualified = [qn for _, qn in ctx.module_ctx.imports] + list(ctx.local_imports.values())
    return any(qn.split(".", 1)[0] in OTHER_EVENT_LOOPS for qn in qualified)


_DJANGO_ASYNC_VERBS = (
    "get", "first", "last", "count", "exists", "create", "update", "delete", "filter", "is_", "has_", "save",
    "all", "aggregate", "bulk_", "iterator", "contains", "in_bulk", "earliest", "latest", "set_", "refresh_from_db",
)


def runs_on_one_thread(call: cst.Call, ctx: SemanticModel) -> bool:
    """An awaited call that asgiref runs on Django's single sync thread, so awaiting several at once
    overlaps nothing: ``await sync_to_async(f)(...)`` (``thread_sensitive`` is True by default), and,
    in a module that imports ``django`` or ``asgiref.sync``, Django's async ORM and the wrappers named
    after it (``a`` + the sync name: ``afirst()``, ``aget_user(...)``, ``ais_subscribed(...)``)."""
    func = call.func
    if isinstance(func, cst.Call):
        inner = ctx.qualified_name(func.func) or dotted(func.func) or ""
        if inner.endswith("sync_to_async"):
            return not any(
                arg.keyword is not None and arg.keyword.value == "thread_sensitive" and dotted(arg.value) == "False"
                for arg in func.args
            )
        return False
    qualified = [qn for _, qn in ctx.module_ctx.imports] + list(ctx.local_imports.values())
    if not any(qn.split(".", 1)[0] == "django" or qn.startswith("asgiref.sync") for qn in qualified):
        return False
    name = func.attr.value if isinstance(func, cst.Attribute) else (func.value if isinstance(func, cst.Name) else "")
    return len(name) > 2 and name[0] == "a" and name[1:].startswith(_DJANGO_ASYNC_VERBS)


# -- threading locks held across an await -------------------------------------
_THREAD_LOCKS = frozenset(
    f"{module}.{name}"
    for module in ("threading", "multiprocessing")
    for name in ("Lock", "RLock", "Condition", "Semaphore", "BoundedSemaphore")
)
_LOCK_CATALOG = TypeCatalog(constructors={qn: "lock" for qn in _THREAD_LOCKS})


_LOCK_WORDS = ("lock", "locks", "rlock", "mutex", "semaphore", "sem", "condition", "cond")


def held_thread_lock(node: cst.CSTNode, ctx: SemanticModel, func: cst.FunctionDef) -> str | None:
    """The code of a threading lock held where ``node`` runs in ``func``, or None.

    An ``await`` there would keep the lock across a suspension (PFL303 and PFL304 offer
    no fix that awaits there). Held means: ``node`` is in the body of a plain (not ``async``) ``with`` whose item
    is a threading lock (see :func:`_is_thread_lock`), in the body of ``if
    X.acquire(...):``, or after a statement that calls ``X.acquire()`` (not awaited)
    in an enclosing block with no ``X.release()`` in between.
    """
    child = node
    for anc in ctx.ancestors(node):
        if anc is func or isinstance(anc, FUNCTION_BOUNDARIES):
            return None
        if isinstance(anc, cst.With) and anc.asynchronous is None and child is anc.body:
            for item in anc.items:
                if _is_thread_lock(item.item, ctx, func):
                    return ctx.code(item.item)
        if isinstance(anc, cst.If) and child is anc.body:
            for call in _calls_in(anc.test):
                receiver = _sync_method_receiver(call, "acquire", ctx)
                if receiver is not None:
                    return receiver
        if isinstance(anc, cst.IndentedBlock):
            held: dict[str, bool] = {}
            for stmt in anc.body:
                if stmt is child:
                    break
                for call in _calls_in(stmt):
                    for method, state in (("acquire", True), ("release", False)):
                        receiver = _sync_method_receiver(call, method, ctx)
                        if receiver is not None:
                            held[receiver] = state
            locked = [receiver for receiver, state in held.items() if state]
            if locked:
                return locked[0]
        child = anc
    return None


def _calls_in(node: cst.CSTNode) -> list[cst.Call]:
    """The calls under ``node`` in source order, nested functions and classes left out."""
    out = [node] if isinstance(node, cst.Call) else []
    out.extend(n for n in walk(node, stop=FUNCTION_BOUNDARIES) if isinstance(n, cst.Call))
    return out


def _sync_method_receiver(call: cst.Call, method: str, ctx: SemanticModel) -> str | None:
    """The receiver's code when ``call`` is ``X.method(...)`` and is not awaited (an asyncio lock's is)."""
    if not (isinstance(call.func, cst.Attribute) and call.func.attr.value == method):
        return None
    if isinstance(ctx.parent(call), cst.Await):
        return None
    return ctx.code(call.func.value)


def _is_thread_lock(expr: cst.BaseExpression, ctx: SemanticModel, func: cst.FunctionDef) -> bool:
    """True when ``expr``, used with a plain ``with`` in an ``async def``, is a threading lock.

    Built by a ``threading``/``multiprocessing`` lock constructor (here, or as the
    receiver inference finds it: a local, a module-level name, ``self.X = ...`` or a
    class attribute of the enclosing class), or named like one (``self._lock``, ``write_mutex``, ``locks[key]``): an
    ``asyncio.Lock`` cannot be used with a plain ``with``, so such a name is a thread one.
    """
    if isinstance(expr, cst.Call):
        return ctx.qualified_name(expr.func) in _THREAD_LOCKS
    if isinstance(expr, cst.Subscript):
        expr = expr.value
    name = dotted(expr)
    if name is None:
        return False
    last = camel_to_snake(name.rsplit(".", 1)[-1]).split("_")
    if last and last[-1] in _LOCK_WORDS:
        return True
    receivers = resolver(ctx, _LOCK_CATALOG)
    return bool(receivers.infer(expr, receivers.scopes_at(func)))


# A call whose receiver (or an argument passed as a whole) is one of these objects is
# not a group member: the object runs one operation at a time, or its operations are
# ordered. Matched against the last word of each dotted segment, snake_case or
# camelCase (``self.db_session`` -> "session", ``self._wsConn`` -> "conn").
SHARED_RESOURCES = frozenset(
    {
        # database sessions, connections, cursors, transactions
        "session", "sess", "conn", "connection", "con", "cnx", "cursor", "cur",
        "db", "database", "tx", "txn", "transaction", "uow",
        # sockets and streams
        "websocket", "ws", "socket", "sock", "channel", "chan", "stream", "writer",
        "reader", "pipe", "pipeline", "queue", "file", "fh", "fp", "proc", "subprocess",
        # synchronisation and rate limiting
        "lock", "mutex", "semaphore", "sem", "condition", "cond", "limit", "limiter", "throttle",
    }
)
"""Words that name an object which cannot run two operations at once."""


# Receiver segments that must match as a whole: a request or response body is read
# once, a chat/thread/memory keeps the conversation in order.
WHOLE_SEGMENTS = frozenset({"request", "req", "response", "resp", "chat", "conversation", "thread", "memory"})


def ordered_segments(receiver: str) -> list[str]:
    """The segments of a dotted receiver that are :data:`WHOLE_SEGMENTS` and name an ordered object:
    ``self.chat`` (a chat session) but not the ``chat`` of ``client.chat.completions`` (the OpenAI-style
    SDKs' stateless completions resource)."""
    segments = receiver.split(".")
    return [
        seg for i, seg in enumerate(segments)
        if seg in WHOLE_SEGMENTS and not (seg == "chat" and segments[i + 1 : i + 2] == ["completions"])
    ]


# Methods whose order matters on any receiver: stream I/O, locking, database calls,
# ordered writes.
ORDERED_METHODS = frozenset(
    {
        "acquire", "release", "wait", "drain", "close", "aclose", "asend", "athrow",
        "__anext__", "__aenter__", "__aexit__", "begin", "commit", "rollback", "flush",
        "refresh", "execute", "executemany", "fetchone", "fetchall", "fetchmany",
        "fetchrow", "fetchval", "scalar", "scalars", "scalar_one", "append", "push",
        "rpush", "lpush", "lpop", "rpop", "pop", "xadd", "publish", "put", "enqueue",
        "incr", "decr", "incrby", "decrby", "next", "communicate",
    }
)


# HTTP clients whose "session" is a connection pool that serves concurrent requests.
HTTP_CLIENTS = frozenset({"aiohttp.ClientSession", "httpx.AsyncClient"})


ORDERED_FIRST_WORDS = frozenset(
    {"send", "recv", "receive", "read", "readline", "readlines", "readexactly", "readuntil", "write", "writelines"}
)
"""``send_json``, ``receive_text``, ``read``, ``writelines``...: stream I/O, in order by nature."""


def names_shared_resource(segment: str) -> bool:
    """``db_session``, ``self._lock``, ``wsConn``: the segment names a shared resource."""
    words = words_of(segment)
    if not words or words[-1] not in SHARED_RESOURCES:
        return False
    return not (words[-1] in {"session", "sess"} and ({"http", "client", "aiohttp", "httpx"} & set(words)))


def awaits_sync_code(call: cst.Call, ctx: SemanticModel, func: cst.FunctionDef) -> bool:
    """True when ``call`` (awaited in ``func``) runs a coroutine of this class or of ``func`` that never awaits.

    ``await self.load(key)`` where the class defines ``async def load(self, key)`` with no
    ``await``, ``async for`` or ``async with`` in its own code (a sync driver or a dict
    behind an ``async def``), or a call of such an ``async def`` nested in ``func``:
    the coroutine runs to its end the moment it is awaited, so gathering several of
    them overlaps nothing (a blocking call inside it is PFL303's finding).
    """
    target = call.func
    helper: cst.FunctionDef | None = None
    if isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name):
        cls = ctx.enclosing_class(func)
        if cls is None or first_param(func) != target.value.value:
            return False
        helper = _last_def(cls.body, target.attr.value)
    elif isinstance(target, cst.Name):
        helper = _last_def(func.body, target.value)
    if helper is None or helper.asynchronous is None or helper.decorators:
        return False
    return not ctx.memo(_suspends, helper)


def _suspends(func: cst.FunctionDef) -> bool:
    """An ``await``, ``async for``, ``async with`` or ``yield`` in ``func``'s own code (nested scopes left out)."""
    for node in walk(func.body, stop=FUNCTION_BOUNDARIES):
        if isinstance(node, (cst.Await, cst.Yield)):
            return True
        if isinstance(node, (cst.For, cst.With, cst.CompFor)) and node.asynchronous is not None:
            return True
    return False


def _last_def(block: cst.BaseSuite, name: str) -> cst.FunctionDef | None:
    """The last ``def name`` directly in ``block`` (a class or function body)."""
    found = None
    for stmt in getattr(block, "body", ()):
        if isinstance(stmt, cst.FunctionDef) and stmt.name.value == name:
            found = stmt
    return found
