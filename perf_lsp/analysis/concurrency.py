"""Facts about concurrency: the event loop a module runs on, awaits that cannot overlap, threading locks held.

Shared by the ``async`` rules (PFL301-PFL304): an ``asyncio`` fix does not run
under trio/anyio/curio, Django's async ORM runs on one thread, and an ``await``
must not be added where a threading lock is held.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import libcst as cst

from perf_lsp.analysis.bindings import all_params, first_param
from perf_lsp.analysis.effects import Answer, Effect, io_ish, module_effects
from perf_lsp.analysis.receivers import TypeCatalog, resolver
from perf_lsp.analysis.semantic import SemanticModel
from perf_lsp.analysis.tree import FUNCTION_BOUNDARIES, dotted, loop_head, walk
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


# -- ordered dispatch: loops whose iterations must run one after another --------------------------
ORDERED_COLLECTION_WORDS = frozenset(
    {
        "hook", "hooks", "listener", "listeners", "handler", "handlers", "transformer", "transformers",
        "callback", "callbacks", "middleware", "middlewares", "interceptor", "interceptors", "observer",
        "observers", "subscriber", "subscribers", "plugin", "plugins", "processor", "processors",
        "extension", "extensions", "receiver", "receivers", "watcher", "watchers",
    }
)
"""Last words of a collection whose members are called in turn (``self._hooks``, ``event_listeners``)."""

_ORDER_WORDS = re.compile(
    r"\bin (?:the )?(?:same |registration |definition |insertion |declaration |declared |given |list |sorted )?order\b(?! to\b)"
    r"|\border (?:matters|is important|is significant|is preserved|of registration|of definition)\b"
    r"|\b(?:registration|definition|insertion) order\b|\bordered\b|\bone after (?:the )?other\b|\bbefore\b"
)
_EMPTY_CONTAINERS = frozenset({"dict", "list", "set", "collections.defaultdict", "defaultdict", "OrderedDict", "collections.OrderedDict", "Counter", "collections.Counter", "deque", "collections.deque"})
_ITER_WRAPPERS = frozenset({"list", "tuple", "sorted", "reversed", "enumerate", "iter"})


def ordered_dispatch(call: cst.Call, loop: cst.CSTNode, func: cst.FunctionDef, ctx: SemanticModel) -> str | None:
    """Why the loop's iterations must run in turn, or None.

    ``call`` is the awaited call once per iteration of ``loop`` (a ``for`` or a comprehension) in
    ``func``. Ordered: the loop runs over hooks, listeners, handlers, transformers, middlewares,
    plugins... (:data:`ORDERED_COLLECTION_WORDS`, the last word of the iterable or of the loop
    variable); a comment at or in the loop, or the function's docstring, says the order matters
    ("in order", "in registration order", "before ..."); or the call is passed a local that starts
    empty (``state = {}``, ``seen = set()``) and is passed again in the next iteration: the calls
    share what they put in it."""
    head = loop_head(loop)
    if head is None:
        return None
    iterable, target = head
    while isinstance(iterable, cst.Call):
        if isinstance(iterable.func, cst.Attribute) and iterable.func.attr.value in {"values", "items", "keys", "copy"}:
            iterable = iterable.func.value
        elif isinstance(iterable.func, cst.Name) and iterable.func.value in _ITER_WRAPPERS and iterable.args:
            iterable = iterable.args[0].value
        else:
            break
    for expr in (iterable, target):
        name = dotted(expr) or ""
        words = words_of(name.rsplit(".", 1)[-1]) if name else []
        if words and words[-1] in ORDERED_COLLECTION_WORDS:
            return f"it calls each of `{name}` in turn"
    texts = [_comment_text(loop)]
    doc = func.get_docstring(clean=True)
    if doc:
        texts.append(doc)
    for text in texts:
        found = _ORDER_WORDS.search(text.lower())
        if found:
            return f"a comment or docstring says the order matters (\"{found.group(0)}\")"
    loop_names = {n.value for n in walk(target) if isinstance(n, cst.Name)}
    for position, arg in enumerate(call.args):
        if isinstance(arg.value, cst.Name) and arg.value.value not in loop_names and _starts_empty(arg.value.value, func):
            if not _callee_may_fill(call, func, ctx, None if arg.keyword else position, arg.keyword.value if arg.keyword else None):
                continue  # the callee only reads it (a cache filled before the loop)
            return f"every call is passed `{arg.value.value}`, which the calls fill in turn"
    return None


def _loop_names(loop: cst.CSTNode) -> set[str]:
    """The names a ``for`` loop or a comprehension binds per item."""
    if isinstance(loop, cst.For):
        target = loop.target
    elif isinstance(loop, (cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp)):
        target = loop.for_in.target
    else:
        return set()
    return {n.value for n in walk(target) if isinstance(n, cst.Name)} | ({target.value} if isinstance(target, cst.Name) else set())


def _callee_may_fill(call: cst.Call, func: cst.FunctionDef, ctx: SemanticModel, position: int | None, keyword: str | None) -> bool:
    """The callee of ``call`` may change the argument at ``position``/``keyword``: True unless it is a
    function of the module that does not."""
    module_ctx = ctx.module_ctx
    imports = dict(module_ctx.imports)
    imports.update(ctx.local_imports)
    effects = module_effects(module_ctx.body, imports)
    target = dotted(call.func)
    key = effects.resolve(target, _class_path(func, ctx)) if target else None
    if key is None:
        return True
    if any(a.star for a in call.args[: (position or 0) + 1]):
        return True
    return effects.mutates_argument(key, position, keyword, bound=target.split(".")[0] in {"self", "cls"})


class _Comments(cst.CSTVisitor):
    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    def visit_Comment(self, node: cst.Comment) -> None:
        self.texts.append(node.value)


def _comment_text(node: cst.CSTNode) -> str:
    visitor = _Comments()
    node.visit(visitor)
    return " ".join(visitor.texts)


def _starts_empty(name: str, func: cst.FunctionDef) -> bool:
    """``name = {}`` / ``[]`` / ``set()`` / ``defaultdict(list)`` in ``func``'s own code."""
    for node in walk(func.body, stop=FUNCTION_BOUNDARIES):
        if isinstance(node, (cst.Assign, cst.AnnAssign)) and node.value is not None:
            targets = [t.target for t in node.targets] if isinstance(node, cst.Assign) else [node.target]
            if not any(isinstance(t, cst.Name) and t.value == name for t in targets):
                continue
            value = node.value
            if isinstance(value, (cst.Dict, cst.List, cst.Set)) and not value.elements:
                return True
            if isinstance(value, cst.Call) and dotted(value.func) in _EMPTY_CONTAINERS:
                return not value.args or dotted(value.func) in {"defaultdict", "collections.defaultdict"}
    return False


# -- the awaited call of a loop (libcst side) --------------------------------------------------------
def awaited_call_effect(call: cst.Call, func: cst.FunctionDef, ctx: SemanticModel) -> Effect:
    """What the awaited ``call`` in ``func`` does on its default path, through the module's functions
    (``self.method`` of the enclosing class and its bases in the module, module-level functions) and
    the module's imports."""
    module_ctx = ctx.module_ctx
    imports = dict(module_ctx.imports)
    imports.update(ctx.local_imports)
    effects = module_effects(module_ctx.body, imports)
    params = {p.name.value for p in all_params(func.params)}
    first = dotted(call.args[0].value) if call.args else None
    return effects.call(_callee_text(call, ctx), _class_path(func, ctx), params, awaited=True, first_arg=first)


def _class_path(func: cst.FunctionDef, ctx: SemanticModel) -> str | None:
    """``Outer.Inner`` for a method (also for a function nested in one: ``self`` is the method's), else None."""
    names: list[str] = []
    for anc in ctx.ancestors(func):
        if isinstance(anc, cst.ClassDef):
            names.append(anc.name.value)
        elif isinstance(anc, cst.FunctionDef) and names:
            return None  # a class defined inside a function: not a module path
    return ".".join(reversed(names)) or None


def _callee_text(call: cst.Call, ctx: SemanticModel) -> str:
    """The callee as a dotted name, subscripts and calls dropped (``self.clients[k].get`` -> ``self.clients.get``)."""
    name = dotted(call.func)
    if name is not None:
        return name
    text = ctx.code(call.func)
    for _ in range(3):
        text = re.sub(r"\[[^\[\]]*\]|\([^()]*\)", "", text)
    return re.sub(r"\s+", "", text)


def gathering_pays(
    call: cst.Call, loop: cst.CSTNode, func: cst.FunctionDef, ctx: SemanticModel, http_names: Iterable[str] = ()
) -> bool:
    """Whether running the awaited ``call`` of each iteration of ``loop`` concurrently gains time and
    keeps the meaning: the callee does I/O on its default path (:class:`Answer` ``IO``), or cannot be
    followed (``UNKNOWN``) and is named like a round trip (:func:`io_ish`: a client, connection or
    store receiver, an I/O verb; ``http_names``: names bound to HTTP clients); and the loop is not an
    ordered dispatch (:func:`ordered_dispatch`). No I/O, or only
    blocking I/O (a sync client behind an ``async def``: concurrency overlaps nothing), is False."""
    if ordered_dispatch(call, loop, func, ctx) is not None:
        return False
    effect = awaited_call_effect(call, func, ctx)
    if effect.answer is Answer.IO:
        return True
    if effect.answer is Answer.UNKNOWN:
        callee = _callee_text(call, ctx)
        head = callee.split(".", 1)[0]
        if "." in callee and head in _loop_names(loop):
            # a method of each item (``capability.get_instructions()``): objects configured in turn, whose
            # methods are often local; only a receiver or a name that clearly says round trip counts
            return io_ish(callee, http_names, strict=True)
        if effect.suspect or io_ish(callee, http_names):
            return True
        # a collaborator passed in (``client``, ``translator``): a method on it is taken for a round trip
        head = callee.split(".", 1)[0]
        params = {p.name.value for p in all_params(func.params)} - {"self", "cls"}
        return "." in callee and head in params
    return False
