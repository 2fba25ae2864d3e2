"""PFL302 await-in-loop, and its codemod."""

from __future__ import annotations

import ast

import libcst as cst

from perf_lsp.analysis.bindings import (
    binding_counts,
    bound_names,
    dotted_refs,
    first_param,
    paths_overlap,
    referenced_names,
    store_path,
    target_leaves,
    target_names,
)
from perf_lsp.analysis.concurrency import (
    HTTP_CLIENTS,
    ORDERED_FIRST_WORDS,
    ORDERED_METHODS,
    awaits_sync_code,
    names_shared_resource,
    ordered_segments,
    runs_on_one_thread,
    uses_other_event_loop,
)
from perf_lsp.analysis.concurrency import gathering_pays
from perf_lsp.analysis.loops import breaks_loop, fallback_after_batch, is_batch
from perf_lsp.analysis.summaries import function_summary
from perf_lsp.analysis.tree import FUNCTION_BOUNDARIES, dotted, walk
from perf_lsp.analysis.words import words_of
from perf_lsp.fix.batching import list_of
from perf_lsp.fix.codemod import replace_nodes
from perf_lsp.fix.context import FixContext
from perf_lsp.model import Applicability
from perf_lsp.rules.base import Rule, RuleContext
from perf_lsp.rules.heuristics import is_cold_path, is_test_function

# First words of awaited methods that change state: one after another, per item,
# their order (or the absence of concurrent writes) is usually part of the meaning.
_WRITE_FIRST_WORDS = frozenset(
    {
        "create", "update", "delete", "remove", "insert", "upsert", "save", "store", "write", "send", "set",
        "put", "patch", "add", "append", "push", "publish", "emit", "commit", "register", "upload", "move",
        "rename", "mark", "assign", "submit", "notify", "enqueue", "persist", "index", "ack", "log",
        "close", "aclose", "finalize", "shutdown", "cleanup", "dispose", "teardown", "cancel", "stop",
        "terminate", "kill", "release", "disconnect", "unsubscribe", "unregister",
        "flush", "sync", "attach", "detach", "rebuild", "reindex", "enter", "leave", "join", "subscribe",
        "install", "handle",
    }
)
# Last words of a callee that is a callback or event sink: ordered by nature.
_SINK_LAST_WORDS = frozenset(
    {"callback", "handler", "emitter", "emit", "hook", "listener", "notify", "progress", "send", "yield_", "cb"}
)
# Segments of a receiver that runs commands one after another in one place (a shell, a sandbox, a process).
_COMMAND_RUNNER_WORDS = frozenset({"commands", "shell", "terminal", "sandbox", "process", "subprocess", "container"})
# Words in a comment at or inside the loop that say the author wants it sequential.
_SEQUENTIAL_COMMENT_WORDS = ("sequential", "one at a time", "one by one", "serially", "not concurrently", "instead of concurrently")
# Calls that already run awaitables concurrently: a function that uses one next to the loop chose sequential on purpose.
_CONCURRENT_CALLS = frozenset({"asyncio.gather", "asyncio.wait", "asyncio.as_completed", "asyncio.TaskGroup", "anyio.create_task_group", "trio.open_nursery"})
# Words of any call in the loop body that pace the loop (rate limiting).
_PACING_WORDS = frozenset({"sleep", "throttle", "limiter", "backoff", "ratelimit", "pace", "wait"})
# Methods that change the object they are called on.
_MUTATING_METHODS = frozenset(
    {
        "append", "extend", "insert", "add", "update", "pop", "popleft", "appendleft", "remove", "clear",
        "setdefault", "discard", "put", "put_nowait", "push", "set", "__setitem__", "sort", "reverse",
    }
)



class AwaitInLoop(Rule):
    """
    ## What it does
    Reports an ``await`` on a call made once per item of a ``for`` loop (or of a
    list, set or dict comprehension) in an ``async def``, when the items are
    independent: the awaited call reads the loop variable, and nothing it reads is
    carried from one iteration to the next.

    Not reported when:

    - the awaited call does no I/O on its default path: the ``async def`` it
      calls (followed through the module's functions and methods) builds text
      or objects locally, awaits a user callback only when it is awaitable,
      does I/O only under an ``if`` on a flag that is off by default, or only
      calls a sync client (PFL303's finding); an awaited call that cannot be
      followed is reported only when its receiver or name says round trip (a
      client, connection, store or service; ``fetch``, ``query``,
      ``embed``...);
    - the loop dispatches in order: over hooks, listeners, handlers,
      transformers, middlewares or plugins; a comment at the loop or the
      function's docstring says the order matters ("in order", "before ...");
      or each call is passed a local that starts empty and is passed again to
      the next call (shared state);
    - the loop carries a data dependency: the call reads a name the body changes
      with ``+=``, assigns at or after the call, or mutates (``history.append``
      then ``await llm.chat(history)``), or an attribute or item the body stores;
    - the loop paces itself: any ``sleep``, ``throttle``, ``limiter``,
      ``backoff`` or ``wait`` call in the body (deliberate rate limiting);
    - the body ``break``s, ``return``s or ``yield``s (it stops, or streams, on a
      result), or awaits more than once (also ``async with``/``async for``):
      their order may matter;
    - the call uses a shared sequential receiver, as PFL301 decides: a database
      session, connection, cursor or transaction, a websocket, stream, queue,
      file, lock or semaphore (an ``aiohttp``/``httpx`` client session is
      allowed), a ``request``/``response``/``chat``/``thread``/``memory``; or an
      ordered method (``send*``, ``read*``, ``write*``, ``execute``, ``commit``,
      ``acquire``...); or the loop runs under ``async with`` such a resource;
    - the call writes or tears down (``create``, ``update``, ``delete``,
      ``save``, ``add``, ``send``, ``publish``, ``upload``, ``close``,
      ``finalize``, ``cancel``...) or is a callback or event sink
      (``on_progress``, ``emitter``, ``handler``...): per-item side effects
      whose order is observable;
    - the call does not read the loop variable (a retry or polling loop), or is
      an ``asyncio`` helper other than ``to_thread`` (``await task`` on tasks
      already running is not a call);
    - the await sits in a ``with`` block inside the loop (a per-call span, timer
      or ``pytest.raises``), or the function is a test (``test_*``);
    - a condition in the body reads state the body changes (``if key not in
      cache: cache[key] = await fetch(key)``, ``if x.id in seen: continue``): a
      memo or a visited set, which concurrent calls would defeat;
    - the loop is sequential on purpose: its block (or the other branch of the
      ``if`` it sits in) also runs ``asyncio.gather``/``wait``/a task group (the
      author chose sequential for these items), a comment at or in the loop says
      so ("sequentially", "one at a time"...), it iterates
      ``reversed(...)``, or another loop of the function iterates ``reversed()``
      of the same items (key down, then key up in reverse order); or an
      enclosing loop sleeps (a periodic background job);
    - the call runs a command in a shell, sandbox or process
      (``sbx.commands.run("pip install ...")``), or is ``asyncio.to_thread`` of a
      writing function (``os.remove``), or one that asgiref runs on Django's one
      sync thread (``sync_to_async(f)(x)``, the async ORM and wrappers named after
      it such as ``aget_user(x)``): they cannot overlap;
    - the loop hands one batch at a time to a method of the class that already runs
      its work concurrently (``asyncio.gather``, ``as_completed``, a task group):
      batches in turn bound the load; or the loop is a per-item fallback in the
      ``except`` clause after a call given the same items failed (``try: await
      embed_batch(texts)`` / ``except ...: for t in texts: ...``);
    - the awaited call is a coroutine of the class (``await self.load(x)``) or an
      ``async def`` nested in the function whose own code never awaits: gathered,
      nothing would overlap;
    - the function runs once: start-up and set-up functions (``init_*``,
      ``main``, CLI commands...) and private methods called only from them.

    In a module that imports ``trio``, ``anyio`` or ``curio`` the message asks for
    a task group and no ``asyncio`` fix is offered.

    ``await asyncio.to_thread(f, x)`` per item is reported like any other call:
    worker threads can run the items together (``asyncio.gather`` of the
    ``to_thread`` calls), unless ``f`` writes (``os.remove``...). PFL303 does not
    create such a finding: for a blocking call once per item of a loop like this, it
    offers no ``to_thread`` fix and its message gives the gathered form instead.

    ## Why is this bad?
    Each iteration waits for its call to finish before the next one starts: ``n``
    items cost ``n`` round trips end to end, where running them concurrently costs
    about one. With ten 50 ms calls (``asyncio.sleep`` stand-ins,
    ``benchmarks/bench_costs.py``, ``docs/costs.md``): about 500 ms in the loop,
    about 50 ms gathered. A loop that sleeps between calls on purpose (rate
    limiting) is not reported.

    ## Example
    ```python
    async def grade_documents(self, question, documents):
        grades = []
        for doc in documents:
            grades.append(await self.llm_service.grade(question, doc))
        return grades
    ```

    ## Use instead
    ```python
    import asyncio

    async def grade_documents(self, question, documents):
        grades = list(await asyncio.gather(*(self.llm_service.grade(question, doc) for doc in documents)))
        return grades
    ```
    ``gather`` starts every call at once: with a long list, bound the concurrency
    (an ``asyncio.Semaphore`` around the call, or batches) so as not to exceed the
    provider's rate limit or the connection pool.

    ## Fix safety
    Unsafe. The calls run concurrently, with no bound on how many at once (a
    long list can hit rate limits or exhaust a connection pool: add a semaphore),
    in an order the server may observe. On failure, ``gather`` raises the first
    exception while the other calls keep running, and no result is kept
    (sequentially, the results before the failing call were). Results are kept in
    the items' order. The fix is offered for three shapes, when the loop has no
    ``else:``, no comments inside and its variable is not used after it:
    ``for x in xs: await f(x)`` becomes ``await asyncio.gather(*(f(x) for x in
    xs))``; ``results = []`` right before ``for x in xs:
    results.append(await f(x))`` becomes ``results = list(await
    asyncio.gather(*(f(x) for x in xs)))``; and ``[await f(x) for x in xs]``
    becomes ``list(await asyncio.gather(*(f(x) for x in xs)))``. It adds ``import
    asyncio`` when the module has no ``asyncio`` or ``gather`` import.

    ## References
    - [Python: asyncio.gather](https://docs.python.org/3/library/asyncio-task.html#asyncio.gather)
    - [Python: asyncio.Semaphore (to bound the concurrency)](https://docs.python.org/3/library/asyncio-sync.html#asyncio.Semaphore)
    - Measured figures: `docs/costs.md`, made by `benchmarks/bench_costs.py`
    """

    code = "PFL302"
    module_facts = ("io_functions",)  # what the awaited callees of the module do (analysis.effects)
    name = "await-in-loop"
    message = "`await` in a loop runs independent calls one after another; run them concurrently with asyncio.gather"
    fix_title = "Run the calls concurrently with asyncio.gather"
    fix_safety = Applicability.UNSAFE
    triggers = r"await(?<=\bawait)\b"

    @classmethod
    def wants(cls, summary, settings) -> bool:
        """An awaited call in an ``async def`` (not a test) whose innermost loop is a ``for`` loop's body or
        a list, set or dict comprehension's: the loops the rule gathers (not ``while``, ``async for`` or a
        generator expression)."""
        return any(
            type(loop) in _GATHERED_LOOPS and type(func) is ast.AsyncFunctionDef and not _is_test_name(func.name)
            for func, _, loop in summary.own.awaits_in_loops
        )

    def __init__(self, ctx: RuleContext) -> None:
        super().__init__(ctx)
        self._seen: set[int] = set()
        self._http_names: frozenset[str] = frozenset()

    def visit_Await(self, node: cst.Await) -> None:
        call = node.expression
        if not isinstance(call, cst.Call):
            return
        loop = self.ctx.repeating_loop(node)
        if loop is None or id(loop) in self._seen:
            return
        func = self.ctx.enclosing_function(node)
        if func is None or func.asynchronous is None or is_test_function(func) or is_cold_path(node, self.ctx):
            return
        self._seen.add(id(loop))
        if awaits_sync_code(call, self.ctx, func):
            return  # a coroutine of the class that never awaits: gathered, nothing would overlap
        self._http_names = function_summary(self.ctx, func).http_clients
        if isinstance(loop, cst.For):
            if loop.asynchronous is not None or not self._independent_for(node, call, loop):
                return
            fix = self._for_fix(node, call, loop, func)
        elif isinstance(loop, (cst.ListComp, cst.SetComp, cst.DictComp)):
            if not self._independent_comprehension(node, call, loop):
                return
            fix = self._comprehension_fix(node, call, loop)
        else:
            return
        if self._under_guard(loop, func) or self._in_with(node, loop):
            return
        if self._sequential_on_purpose(loop, func) or fallback_after_batch(self.ctx, loop, func):
            return
        if isinstance(loop, cst.For) and self._batches_run_concurrently(loop, func):
            return
        if not gathering_pays(call, loop, func, self.ctx, self._http_names):
            return  # the callee does no I/O on its default path, only blocking I/O, or the loop dispatches in order
        message = None
        if uses_other_event_loop(self.ctx):  # trio/anyio: a task group, and no asyncio fix
            fix = None
            message = "`await` in a loop runs independent calls one after another; run them concurrently in a task group"
        self.report(
            node,
            message=message,
            fix=fix,
            detail="Inside a loop: one full round trip per item, one after another "
            "(ten 50 ms calls: ~500 ms in a loop, ~50 ms gathered; see docs/costs.md).",
        )

    # -- detection -------------------------------------------------------
    def _independent_for(self, await_node: cst.Await, call: cst.Call, loop: cst.For) -> bool:
        body = loop.body
        awaits = 0
        for inner in walk(body, stop=FUNCTION_BOUNDARIES):
            if isinstance(inner, cst.Await):
                awaits += 1
            elif isinstance(inner, (cst.With, cst.For)) and inner.asynchronous is not None:
                return False
            elif isinstance(inner, (cst.Return, cst.Yield)):
                return False
            elif isinstance(inner, cst.Call) and self._paces(inner):
                return False
        if awaits != 1 or breaks_loop(body):
            return False
        if not self._call_ok(call):
            return False
        fresh = self._fresh_names(loop, await_node)
        reads = referenced_names(call)
        if not reads & fresh:
            return False  # the same call every time: a retry or polling loop
        bound = bound_names(body)
        if reads & (bound - fresh):
            return False  # a value carried from one iteration to the next
        refs = dotted_refs(call)
        conditions = self._controlling_conditions(await_node, loop)
        for path in _mutated_paths(body):
            if path[0] in fresh:
                continue
            if any(paths_overlap(path, ref) for ref in refs):
                return False
            if path[0] not in bound and any(paths_overlap(path, ref) for ref in conditions):
                return False  # a memo or visited set kept across iterations decides which calls run
        return True

    def _independent_comprehension(self, await_node: cst.Await, call: cst.Call, comp: cst.CSTNode) -> bool:
        element = [comp.elt] if not isinstance(comp, cst.DictComp) else [comp.key, comp.value]
        if not any(_contains(e, await_node) for e in element):
            return False
        awaits = 0
        clause = comp.for_in
        targets: set[str] = set()
        while clause is not None:
            if clause.asynchronous is not None:
                return False
            targets |= referenced_names(clause.target)
            clause = clause.inner_for_in
        for inner in walk(comp, stop=FUNCTION_BOUNDARIES):
            if isinstance(inner, cst.Await):
                awaits += 1
            elif isinstance(inner, (cst.NamedExpr, cst.Yield)):
                return False
            elif isinstance(inner, cst.Call) and self._paces(inner):
                return False
        if awaits != 1 or not self._call_ok(call):
            return False
        return bool(referenced_names(call) & targets)

    def _fresh_names(self, loop: cst.For, await_node: cst.Await) -> set[str]:
        """The loop's targets, and names the body assigns in simple statements at its top level
        before the statement holding the await (and nowhere else in the body)."""
        fresh = set(referenced_names(loop.target))
        statements = list(loop.body.body) if isinstance(loop.body, cst.IndentedBlock) else [loop.body]
        holder = next((s for s in statements if _contains(s, await_node)), None)
        if holder is None:
            return fresh
        assigned_before: dict[str, int] = {}
        for stmt in statements[: statements.index(holder)]:
            if isinstance(stmt, cst.SimpleStatementLine):
                for small in stmt.body:
                    if isinstance(small, (cst.Assign, cst.AnnAssign)) and small.value is not None:
                        targets = [t.target for t in small.targets] if isinstance(small, cst.Assign) else [small.target]
                        for target in targets:
                            for name in target_names(target) or ():
                                assigned_before[name] = assigned_before.get(name, 0) + 1
        counts = binding_counts(loop.body)
        fresh |= {name for name, n in assigned_before.items() if counts.get(name, 0) == n}
        return fresh

    def _controlling_conditions(self, await_node: cst.Await, loop: cst.For) -> set[tuple[str, ...]]:
        """What the conditions that decide whether the await runs read: the tests of the ``if``s around it
        in the loop body, and of guard clauses (``if ...: continue``) before it in any block around it."""
        refs: set[tuple[str, ...]] = set()
        child: cst.CSTNode = await_node
        for anc in self.ctx.ancestors(await_node):
            if anc is loop:
                break
            if isinstance(anc, (cst.If, cst.IfExp)) and child is not anc.test:
                refs |= dotted_refs(anc.test)
            if isinstance(anc, cst.IndentedBlock):
                for stmt in anc.body:
                    if stmt is child:
                        break
                    if isinstance(stmt, cst.If) and any(isinstance(n, (cst.Continue, cst.Break)) for n in walk(stmt.body)):
                        refs |= dotted_refs(stmt.test)
            child = anc
        return refs

    def _sequential_on_purpose(self, loop: cst.CSTNode, func: cst.FunctionDef) -> bool:
        """The author chose sequential: a concurrent helper beside the loop, a comment, a reverse-order pair,
        or a periodic job (an enclosing loop that sleeps)."""
        if not isinstance(loop, cst.For):
            return False
        if _is_reversed_call(loop.iter, self.ctx):
            return True
        iterable = self.ctx.code(loop.iter)
        for other, reversed_code in self.ctx.memo(self._reversed_loops, func):
            if other is not loop and reversed_code == iterable:
                return True
        if _says_sequential(loop, self.ctx):
            return True
        # the loop's block, and the other branches of the ``if`` the loop sits in
        places: list[cst.CSTNode] = []
        parent = self.ctx.parent(loop)
        if isinstance(parent, cst.IndentedBlock):
            places.append(parent)
            holder = self.ctx.parent(parent)
            if isinstance(holder, cst.Else):
                holder = self.ctx.parent(holder)
            if isinstance(holder, cst.If):
                while True:  # up the ``elif`` chain to the first ``if``
                    up = self.ctx.parent(holder)
                    if isinstance(up, cst.If) and up.orelse is holder:
                        holder = up
                    else:
                        break
                places.append(holder)
        if any(self.ctx.memo(self._calls_concurrently, place) for place in places):
            return True
        child: cst.CSTNode = loop
        for anc in self.ctx.ancestors(loop):
            if anc is func:
                break
            if isinstance(anc, (cst.For, cst.While)) and child is anc.body:
                for inner in self.ctx.memo(self._pacing_calls, anc.body):
                    if not _contains(loop, inner):
                        return True
            child = anc
        return False

    def _batches_run_concurrently(self, loop: cst.For, func: cst.FunctionDef) -> bool:
        """The body calls a method of this class whose own code already runs its work concurrently
        (``asyncio.gather``, ``as_completed``, a task group): the loop hands it one batch at a time, and
        running the batches in turn is what bounds the load."""
        cls = self.ctx.enclosing_class(func)
        owner = first_param(func)
        if cls is None or owner is None:
            return False
        for inner in walk(loop.body, stop=FUNCTION_BOUNDARIES):
            if not (isinstance(inner, cst.Call) and isinstance(inner.func, cst.Attribute)):
                continue
            if not (isinstance(inner.func.value, cst.Name) and inner.func.value.value == owner):
                continue
            for stmt in cls.body.body if isinstance(cls.body, cst.IndentedBlock) else ():
                if (
                    isinstance(stmt, cst.FunctionDef)
                    and stmt.name.value == inner.func.attr.value
                    and self.ctx.memo(self._calls_concurrently, stmt.body)
                ):
                    return True
        return False

    # per-function and per-block facts, remembered with ctx.memo (asked once per loop inside them)
    def _reversed_loops(self, func: cst.FunctionDef) -> list[tuple[cst.For, str]]:
        """The ``for ... in reversed(xs)`` loops of ``func``, with the code of ``xs``."""
        return [
            (other, self.ctx.code(other.iter.args[0].value))
            for other in walk(func.body, stop=FUNCTION_BOUNDARIES)
            if isinstance(other, cst.For) and _is_reversed_call(other.iter, self.ctx)
        ]

    def _calls_concurrently(self, place: cst.CSTNode) -> bool:
        """``place`` calls a concurrency helper (``asyncio.gather``, ``TaskGroup``...)."""
        return any(
            isinstance(inner, cst.Call) and (self.ctx.qualified_name(inner.func) or dotted(inner.func)) in _CONCURRENT_CALLS
            for inner in walk(place, stop=FUNCTION_BOUNDARIES)
        )

    def _pacing_calls(self, block: cst.CSTNode) -> list[cst.Call]:
        """The calls in ``block`` that pace a loop (:meth:`_paces`), in source order."""
        return [inner for inner in walk(block, stop=FUNCTION_BOUNDARIES) if isinstance(inner, cst.Call) and self._paces(inner)]

    def _paces(self, call: cst.Call) -> bool:
        """A sleep or a rate limiter: ``asyncio.sleep``, ``time.sleep``, ``self.limiter.wait()``, ``throttle()``."""
        name = dotted(call.func) or (call.func.attr.value if isinstance(call.func, cst.Attribute) else "")
        words = {w for seg in name.split(".") for w in words_of(seg)} | {seg.lower() for seg in name.split(".")}
        return bool(words & _PACING_WORDS) or "rate_limit" in name.lower()


    def _call_ok(self, call: cst.Call) -> bool:
        """The awaited call may run concurrently with itself: no shared receiver, ordered or writing method."""
        qn = self.ctx.qualified_name(call.func) or dotted(call.func) or ""
        if (qn.startswith("asyncio.") and qn != "asyncio.to_thread") or qn in {"anext", "builtins.anext"}:
            return False
        if qn == "asyncio.to_thread" and call.args:
            # ``to_thread(os.remove, path)``: judge the function it runs
            target = call.args[0].value
            name = target.attr.value if isinstance(target, cst.Attribute) else (dotted(target) or "")
            words = words_of(name.rsplit(".", 1)[-1])
            if words and words[0] in _WRITE_FIRST_WORDS | {"unlink", "rmtree", "makedirs", "mkdir", "rmdir"}:
                return False
        if isinstance(call.func, cst.Attribute):
            receiver = dotted(call.func.value) or ""
            if any(word in _COMMAND_RUNNER_WORDS for seg in receiver.split(".") for word in words_of(seg)):
                return False
        if qn.split(".", 1)[0] in {"trio", "anyio"}:
            return False
        if runs_on_one_thread(call, self.ctx):
            return False  # Django's async ORM: one thread runs them all, one after another
        callee = call.func.attr.value if isinstance(call.func, cst.Attribute) else (dotted(call.func) or "")
        words = words_of(callee.rsplit(".", 1)[-1])
        if words and words[0] == "async" and len(words) > 1:
            words = words[1:]  # ``async_embed_with_retry``: the verb comes after
        if words and not _model_api_request(call):
            first = words[0][1:] if words[0].startswith("a") and words[0][1:] in _WRITE_FIRST_WORDS else words[0]
            if first in _WRITE_FIRST_WORDS or first in ORDERED_FIRST_WORDS or words[-1] in _SINK_LAST_WORDS:
                return False
            if words[0] == "on":
                return False  # ``on_token``, ``on_progress``: an event callback
        for inner in [call, *(n for n in walk(call, stop=FUNCTION_BOUNDARIES) if isinstance(n, cst.Call))]:
            if self._shared(inner):
                return False
        return True

    def _shared(self, call: cst.Call) -> bool:
        if isinstance(call.func, cst.Attribute):
            method = call.func.attr.value
            words = words_of(method)
            if method in ORDERED_METHODS or (words and words[0] in ORDERED_FIRST_WORDS):
                return True
            receiver = dotted(call.func.value)
            if receiver is not None:
                if receiver in self._http_names:
                    pass
                elif any(names_shared_resource(seg) for seg in receiver.split(".")) or ordered_segments(receiver):
                    return True
            elif any(names_shared_resource(seg) for name in _dotted_names(call.func.value) for seg in name.split(".")):
                return True
        elif isinstance(call.func, cst.Name) and names_shared_resource(call.func.value):
            return True
        for arg in call.args:
            passed = dotted(arg.value)
            if passed is not None and passed not in self._http_names and names_shared_resource(passed.rsplit(".", 1)[-1]):
                return True
        return False

    def _in_with(self, node: cst.CSTNode, loop: cst.CSTNode) -> bool:
        """The await runs inside a ``with`` block in the loop body: a per-call context (a span, a timer,
        ``pytest.raises``) that gather would not keep."""
        for anc in self.ctx.ancestors(node):
            if anc is loop:
                return False
            if isinstance(anc, cst.With):
                return True
        return False

    def _under_guard(self, loop: cst.CSTNode, func: cst.FunctionDef) -> bool:
        """True when the loop runs under ``with``/``async with`` a lock, session, connection or transaction."""
        for anc in self.ctx.ancestors(loop):
            if anc is func:
                return False
            if isinstance(anc, cst.With):
                for item in anc.items:
                    if isinstance(item.item, cst.Call) and self.ctx.qualified_name(item.item.func) in HTTP_CLIENTS:
                        continue
                    names = _dotted_names(item.item) | (_dotted_names(item.asname.name) if item.asname else set())
                    if any(names_shared_resource(seg) for name in names for seg in name.split(".")):
                        return True
                    if isinstance(item.item, cst.Call) and isinstance(item.item.func, cst.Attribute):
                        if item.item.func.attr.value in {"acquire", "begin", "transaction", "lock"}:
                            return True
        return False

    # -- codemods ----------------------------------------------------------
    def _for_fix(self, await_node: cst.Await, call: cst.Call, loop: cst.For, func: cst.FunctionDef):
        if loop.orelse is not None or not _generator_iterable(loop.iter) or _comments_inside(loop):
            return None
        if not isinstance(loop.body, cst.IndentedBlock) or len(loop.body.body) != 1:
            return None
        stmt = loop.body.body[0]
        if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
            return None
        targets = target_names(loop.target)
        if targets is None or referenced_names(func.body, skip=loop) & targets:  # the loop variable, read after the fix
            return None
        small = stmt.body[0]
        if isinstance(small, cst.Expr) and small.value is await_node:
            return self._bare_fix(call, loop)
        if (
            isinstance(small, cst.Expr)
            and isinstance(small.value, cst.Call)
            and isinstance(small.value.func, cst.Attribute)
            and isinstance(small.value.func.value, cst.Name)
            and small.value.func.attr.value == "append"
            and len(small.value.args) == 1
            and small.value.args[0].value is await_node
            and not small.value.args[0].star
            and small.value.args[0].keyword is None
        ):
            accumulator = small.value.func.value.value
            previous = self._previous_statement(loop)
            if previous is not None and _empty_list_init(previous, accumulator):
                return self._append_fix(call, loop, previous)
        return None

    def _previous_statement(self, loop: cst.For) -> cst.SimpleStatementLine | None:
        parent = self.ctx.parent(loop)
        if not isinstance(parent, (cst.IndentedBlock, cst.Module)):
            return None
        body = list(parent.body)
        index = next((i for i, s in enumerate(body) if s is loop), None)
        if not index:
            return None
        previous = body[index - 1]
        return previous if isinstance(previous, cst.SimpleStatementLine) else None

    def _bare_fix(self, call: cst.Call, loop: cst.For):
        def build(fctx: FixContext) -> cst.Module | None:
            gathered = _gather(fctx, call, loop.target, loop.iter)
            new = cst.SimpleStatementLine([cst.Expr(gathered)], leading_lines=loop.leading_lines)
            return replace_nodes(fctx.chunk, {loop: new})

        return build

    def _append_fix(self, call: cst.Call, loop: cst.For, previous: cst.SimpleStatementLine):
        def build(fctx: FixContext) -> cst.Module | None:
            value = list_of(_gather(fctx, call, loop.target, loop.iter))
            small = previous.body[0]
            new_small = small.with_changes(value=value)
            new = previous.with_changes(body=[new_small])
            return replace_nodes(fctx.chunk, {previous: new, loop: cst.RemoveFromParent()})

        return build

    def _comprehension_fix(self, await_node: cst.Await, call: cst.Call, comp: cst.CSTNode):
        if not isinstance(comp, cst.ListComp) or comp.elt is not await_node:
            return None
        clause = comp.for_in
        if clause.inner_for_in is not None or clause.ifs or not _generator_iterable(clause.iter):
            return None
        if _comments_inside(comp):
            return None

        def build(fctx: FixContext) -> cst.Module | None:
            new = list_of(_gather(fctx, call, clause.target, clause.iter)).with_changes(lpar=comp.lpar, rpar=comp.rpar)
            return replace_nodes(fctx.chunk, {comp: new})

        return build


# -- helpers -----------------------------------------------------------------
# Resources of the model APIs (OpenAI-style SDKs) whose ``create`` computes and returns, and stores nothing.
_MODEL_API_RESOURCES = frozenset({"embeddings", "completions", "responses", "moderations"})


def _model_api_request(call: cst.Call) -> bool:
    """``self.llm.chat.completions.create(...)``, ``client.embeddings.create(input=batch)``: a model API
    request named ``create`` that writes nothing (per item, the requests are independent). An
    ``embeddings.create`` counts only when it sends a batch (``input=`` a list of several, a
    comprehension, a plural name, or ``**kwargs``)."""
    func = call.func
    if not (isinstance(func, cst.Attribute) and func.attr.value in {"create", "acreate"}):
        return False
    if not (isinstance(func.value, cst.Attribute) and func.value.attr.value in _MODEL_API_RESOURCES):
        return False
    if func.value.attr.value != "embeddings":
        return True
    # one embedding request per batch: an item per request is PFL202's finding (send them all in one)
    return any(
        arg.star == "**" or (arg.keyword is not None and arg.keyword.value == "input" and is_batch(arg.value))
        for arg in call.args
    )


_GATHERED_LOOPS = frozenset({ast.For, ast.ListComp, ast.SetComp, ast.DictComp})
"""The :mod:`ast` loops whose awaited calls the rule may gather."""


def _is_test_name(name: str) -> bool:
    """The names :func:`~perf_lsp.rules.heuristics.is_test_function` gives to tests, which are not reported."""
    return name.startswith("test_") or (name.startswith("test") and name[4:5].isupper())


def _is_reversed_call(expr: cst.BaseExpression, ctx: RuleContext) -> bool:
    """``reversed(xs)`` (the builtin): the items are visited in an order chosen on purpose."""
    return (
        isinstance(expr, cst.Call)
        and isinstance(expr.func, cst.Name)
        and expr.func.value == "reversed"
        and len(expr.args) == 1
        and ctx.resolve_dotted("reversed") is None
    )


def _says_sequential(loop: cst.For, ctx: RuleContext) -> bool:
    """A comment just above the loop or inside it says the loop is sequential on purpose."""
    visitor = _CommentText()
    loop.visit(visitor)
    text = " ".join(visitor.texts).lower()
    return any(word in text for word in _SEQUENTIAL_COMMENT_WORDS)


class _CommentText(cst.CSTVisitor):
    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    def visit_Comment(self, node: cst.Comment) -> None:
        self.texts.append(node.value)


def _gather(fctx: FixContext, call: cst.Call, target: cst.BaseAssignTargetExpression, iterable: cst.BaseExpression) -> cst.Await:
    """``await asyncio.gather(*(call for target in iterable))``."""
    gather = fctx.parse_expression(fctx.name_ref("asyncio", "gather"))
    generator = cst.GeneratorExp(
        elt=call,
        for_in=cst.CompFor(target=target, iter=iterable),
        lpar=[cst.LeftParen()],
        rpar=[cst.RightParen()],
    )
    return cst.Await(cst.Call(gather, [cst.Arg(generator, star="*")]))


def _generator_iterable(expr: cst.BaseExpression) -> bool:
    """The iterable can be written after ``in`` of a generator expression and evaluates the same there."""
    if isinstance(expr, cst.Tuple) and not expr.lpar:
        return False
    return not any(isinstance(n, (cst.Await, cst.Yield, cst.NamedExpr, cst.Lambda)) for n in walk(expr)) and not isinstance(
        expr, (cst.Await, cst.Yield, cst.NamedExpr, cst.Lambda)
    )


def _empty_list_init(stmt: cst.SimpleStatementLine, name: str) -> bool:
    """``name = []`` or ``name: T = []`` (also ``list()``) as the whole statement."""
    if len(stmt.body) != 1:
        return False
    small = stmt.body[0]
    if isinstance(small, cst.Assign):
        if len(small.targets) != 1 or not (isinstance(small.targets[0].target, cst.Name) and small.targets[0].target.value == name):
            return False
    elif isinstance(small, cst.AnnAssign):
        if not (isinstance(small.target, cst.Name) and small.target.value == name):
            return False
    else:
        return False
    value = small.value
    if isinstance(value, cst.List):
        return not value.elements
    return isinstance(value, cst.Call) and dotted(value.func) == "list" and not value.args


class _Comments(cst.CSTVisitor):
    def __init__(self) -> None:
        super().__init__()
        self.found = False

    def visit_Comment(self, node: cst.Comment) -> None:
        self.found = True


def _comments_inside(node: cst.CSTNode) -> bool:
    """A comment in ``node`` other than in its leading lines (which the fix keeps)."""
    if isinstance(node, cst.For):
        node = node.with_changes(leading_lines=())
    visitor = _Comments()
    node.visit(visitor)
    return visitor.found


def _contains(node: cst.CSTNode, target: cst.CSTNode) -> bool:
    if node is target:
        return True
    return any(n is target for n in walk(node))


def _dotted_names(node: cst.CSTNode) -> set[str]:
    return {".".join(path) for path in dotted_refs(node)}




def _mutated_paths(body: cst.CSTNode) -> list[tuple[str, ...]]:
    """Attribute and item stores, augmented assignments, deletions and mutating method calls in ``body``."""
    out: list[tuple[str, ...]] = []
    for node in walk(body, stop=FUNCTION_BOUNDARIES):
        targets: list[cst.CSTNode] = []
        if isinstance(node, cst.Assign):
            targets = [t.target for t in node.targets]
        elif isinstance(node, (cst.AnnAssign, cst.AugAssign)):
            targets = [node.target]
        elif isinstance(node, cst.Del):
            targets = [node.target]
        elif isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value in _MUTATING_METHODS:
            path = store_path(node.func.value)
            if path:
                out.append(path)
        for target in targets:
            for element in target_leaves(target):
                if isinstance(element, (cst.Attribute, cst.Subscript)) or isinstance(node, cst.AugAssign):
                    path = store_path(element)
                    if path:
                        out.append(path)
    return out
