"""PFL301 sequential-awaits, and its codemod."""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass

import libcst as cst

from perf_lsp.analysis.bindings import all_params, is_store_position
from perf_lsp.analysis.concurrency import (
    HTTP_CLIENTS,
    ORDERED_FIRST_WORDS,
    ORDERED_METHODS,
    awaits_sync_code,
    names_shared_resource,
    ordered_segments,
    runs_on_one_thread,
)
from perf_lsp.analysis.summaries import function_summary
from perf_lsp.analysis.tree import dotted, walk
from perf_lsp.analysis.words import words_of
from perf_lsp.fix.codemod import replace_nodes
from perf_lsp.fix.context import FixContext
from perf_lsp.model import Applicability
from perf_lsp.rules.base import Rule, RuleContext
from perf_lsp.rules.heuristics import is_cold_path

# ``asyncio`` helpers that are ordinary calls to await (everything else in asyncio —
# sleep, gather, wait, shield, Event/Queue methods — ends a group).
_ASYNCIO_CALLS = frozenset({"asyncio.to_thread", "asyncio.wait_for"})
_SLEEPS = frozenset({"anyio.sleep", "trio.sleep"})


# Module-level guards recognised by the class that built them (``_gate = asyncio.Semaphore(4)``).
_GUARD_CLASSES = frozenset(
    {"Lock", "RLock", "Semaphore", "BoundedSemaphore", "Condition", "CapacityLimiter", "Limiter"}
)

LINE_LENGTH = 88


@dataclass(frozen=True)
class _Effects:
    """What one awaited call can change while it runs, and what evaluating it reads.

    ``asyncio.gather(a(), b(x.y))`` evaluates every call and its arguments before any
    of them runs: ``x.y`` is read before ``a()`` has run, where the sequential code
    read it after. Dotted names; a subscript read is written ``x.y[]``.
    """

    receiver: str | None  # ``self`` for ``self.reload()``: the object the method can change (looked up first)
    passed: frozenset[str]  # objects passed as (or inside a literal of) an argument: ``job`` in ``f(job, [cfg])``
    eager: frozenset[str]  # names, attributes and subscripts read by the arguments and inner calls' receivers
    module_globals: frozenset[str]  # read names that a function of this module rebinds or changes in place
    local_calls: frozenset[str]  # functions of this module called while the arguments are evaluated
    qualified_reads: frozenset[str]  # imported names read, qualified (``app.settings.current``)
    callee_module: str | None  # ``app.settings`` for an imported ``reload_settings()``
    runs_module_code: bool  # the callee is not imported: it may be this module's code (and change its globals)
    mutates: bool  # the method's name says it changes its receiver or arguments (reload, connect, fill...)
    module_changes_globals: bool  # some function of this module rebinds or changes a global in place
    containers: frozenset[str] = frozenset()  # passed locals the function built as a list/dict/set: an accumulator


@dataclass
class _Member:
    """One ``target = await call(...)`` statement of a candidate group."""

    stmt: cst.SimpleStatementLine
    small: cst.Assign | cst.AnnAssign
    await_node: cst.Await
    call: cst.Call
    target: cst.BaseAssignTargetExpression
    targets: frozenset[str]  # dotted names the statement binds
    uses: frozenset[str]  # maximal dotted names read by the awaited call
    receivers: frozenset[str]  # dotted receivers of the calls in it (``self`` for ``self.load()``)
    code: str
    writes: bool  # the awaited method's name starts with a write verb (create, update, send...)
    resources: frozenset[str]  # code of the first positional argument and of ``*_id=``/``key=`` arguments
    effects: _Effects  # what the awaited call can change, and what the statement reads before it runs
    plain: bool = True  # ``target = await call(...)`` itself: not under an ``if``, nothing applied to the result
    gathered: bool = False  # the awaited call is ``asyncio.gather(...)``


class SequentialAwaits(Rule):
    """
    ## What it does
    Reports two or more consecutive statements ``target = await call(...)`` in an
    ``async def`` (in any block of it: the body, ``if``/``else``, ``with``, loop and
    ``try`` bodies) where no call uses a name bound by an earlier one: independent
    I/O awaited one after the other.

    Also reported, without a fix: members written ``x = (await call(...))["key"]``;
    a member alone in an ``if`` without ``else`` (``if settings.graph: hits = await
    search(q)``, after locals such as ``query = "..."`` and before ``if not hits:
    raise ...``), whose test counts as read by it; members with statements between
    them that use no result of the group: a guard ``if <test>: raise ...`` (a later
    member that writes starts a new group after one), a logging call, or an
    assignment to plain names that reads no target of the group; and two fan-outs in
    a row, ``a = await asyncio.gather(*(f(x) for x in xs))`` then another gather of
    starred calls that does not use ``a``. Not a member: an awaited coroutine of the
    class (``await self.load(k)``), or an ``async def`` nested in the function, whose
    own code never awaits: it runs to its end when awaited, so gathering it overlaps
    nothing (a sync driver behind it is PFL303's finding).

    A group ends at any other statement, including a bare ``await x.save()`` (a side
    effect whose order usually matters), ``await asyncio.sleep(...)`` (deliberate
    pacing), ``await`` of something that is not a call, and any ``asyncio`` helper
    other than ``to_thread``/``wait_for``. A call that uses a name bound earlier in
    the group (``a = await f(); b = await g(a)``), rebinds one, or calls a method of
    an object whose attribute the group just set (``self.user = await ...; x = await
    self.load_orders()``) starts a new group. So does a call that reads something an
    earlier call of the group may change: ``asyncio.gather`` evaluates every call's
    arguments before any call runs, so ``ok = await self.reload(); sent = await
    publish(self.config)`` would publish the old config. Changeable are the object an
    earlier method is called on and the objects passed to an earlier call: a later
    argument that reads one of their attributes or items (``self.config``,
    ``job.results``, ``state["k"]``), passes the earlier receiver on
    (``audit(self.agent)`` after ``self.agent.run()``) or calls a method of it
    (``publish(self.current_config())``) is dependent; after a call named as a change
    of its object (``reload``, ``refresh``, ``reset``, ``connect``, ``setup``,
    ``sync``, ``fill``, ``populate``...), any later call on that object or on one of its
    attributes is too (``self.client.fetch()`` after ``self.reconnect()``). An earlier
    call of the module's own code (not imported) makes a later read of a global that
    some function of the module rebinds (``global CONFIG``) or changes in place
    (``CACHE[k] = v``) dependent, and an imported call (``reload_settings()``) a later
    read of a name imported from the same module (``current_settings.model``). Two
    calls both handed a list, dict or set the function built (``log = []``, then
    ``await step(log, ...)`` twice) are dependent too: they communicate through it,
    in order.

    Not reported, because the operations cannot run at once or their order matters:
    a call on, or passing, a database session, connection, cursor or transaction, a
    websocket, socket, stream, reader/writer, pipe, queue, file, lock, semaphore or
    limiter (the last word of any segment of the receiver's name: ``session``,
    ``conn``, ``connection``, ``cursor``, ``db``, ``database``, ``tx``,
    ``transaction``, ``uow``, ``websocket``, ``ws``, ``socket``, ``channel``,
    ``stream``, ``writer``, ``reader``, ``pipe``, ``pipeline``, ``queue``, ``file``,
    ``lock``, ``semaphore``, ``limiter``...; an ``http``/``client`` session is
    allowed); a receiver named ``request``, ``response``, ``chat``,
    ``conversation``, ``thread`` or ``memory``; order-sensitive methods (``send*``,
    ``recv*``, ``receive*``, ``read*``, ``write*``, ``acquire``, ``execute``,
    ``fetchrow``, ``commit``, ``append``, ``rpush``, ``publish``, ``put``,
    ``next``...); ``anext()``; two identical calls; blocks under ``async with`` a
    lock, semaphore, session, connection or transaction; nested functions; a
    write (a method named ``create``, ``update``, ``send``, ``add``... or
    ``acreate``...) and another call on the same resource (the same first
    argument or ``*_id=``/``key=``/``path=`` argument, or one inside the other:
    ``input["thread_id"]`` and ``input``), like adding a message to a thread and
    then starting a run on it; awaits that get hold of a resource or a helper,
    whose callee or target ends in ``session``, ``connection``, ``client``,
    ``pool``, ``emitter``, ``caller``, ``call``, ``callback``, ``handler``,
    ``lock`` or ``cache`` (``session = await get_session()``): usually cached or
    in-memory, with nothing to gain from running them together. Also not
    reported: awaits that asgiref runs on Django's one sync thread (``await
    sync_to_async(f)(...)``, and in a module importing ``django`` or
    ``asgiref.sync`` the async ORM and wrappers named after it: ``afirst()``,
    ``aget_user()``), which cannot overlap; and functions that run once (start-up
    and set-up functions such as ``init_async``, ``main``, CLI commands, and a
    private method the class calls only from them).

    ## Why is this bad?
    Each ``await`` waits for its call to finish before the next one starts, so the
    latency is the sum of the calls instead of the slowest one.
    ``asyncio.gather`` (or a ``TaskGroup``) runs them concurrently on the same
    event loop. With three 50 ms calls (``asyncio.sleep`` stand-ins,
    ``benchmarks/bench_costs.py``, ``docs/costs.md``): about 150 ms one after
    another, about 50 ms gathered.

    ## Example
    ```python
    class Workflow:
        async def process(self, state):
            hubspot_data = await self.hubspot_agent.process(state.query)
            gong_data = await self.gong_agent.process(state.query)
            slack_data = await self.slack_agent.process(state.query)
            return self.combine(hubspot_data, gong_data, slack_data)
    ```

    ## Use instead
    ```python
    import asyncio

    class Workflow:
        async def process(self, state):
            hubspot_data, gong_data, slack_data = await asyncio.gather(
                self.hubspot_agent.process(state.query),
                self.gong_agent.process(state.query),
                self.slack_agent.process(state.query),
            )
            return self.combine(hubspot_data, gong_data, slack_data)
    ```

    ## Fix safety
    Unsafe: the calls now run concurrently. Calls that share hidden state (one
    writes what the other reads, a client that allows one request at a time, a
    server-side rate limit), or whose order is observable, can behave differently.
    The rule keeps apart the calls whose dependence the code shows (above), but
    cannot see inside the callees: two methods of one object that read and write its
    state in their bodies (``self.fetch_a()`` and ``self.fetch_b()``) now interleave
    at each ``await``.
    On failure, ``gather`` raises the first exception while the other calls keep
    running, and no target of the group is assigned (sequentially, the targets
    before the failing call were). The fix replaces the group by
    ``a, b = await asyncio.gather(f(), g())`` (targets in order), adds ``import
    asyncio`` when the module has no ``asyncio`` or ``gather`` import, writes one
    call per line when the line would be longer than 88 characters, and keeps the
    statements' comments beside their calls. Annotations of plain names are kept as
    bare annotations (``x: T``) before the new statement; the fix is not offered
    when a member annotates an attribute or when a comment could not be kept.

    ## References
    - [Python: asyncio.gather](https://docs.python.org/3/library/asyncio-task.html#asyncio.gather)
    - [Python: asyncio.TaskGroup](https://docs.python.org/3/library/asyncio-task.html#task-groups)
    - Measured figures: `docs/costs.md`, made by `benchmarks/bench_costs.py`
    """

    code = "PFL301"
    name = "sequential-awaits"
    message = "Independent awaits run one after another; run them concurrently with asyncio.gather"
    fix_title = "Run the independent awaits concurrently with asyncio.gather"
    fix_safety = Applicability.UNSAFE
    triggers = r"await(?<=\bawait)\b"
    module_facts = ("mutated_globals",)

    @classmethod
    def wants(cls, summary, settings) -> bool:
        own = summary.own
        if own.has_awaited_pair:
            return True
        return any(_ast_awaits_apart(node) for node in own.statements.get(ast.AsyncFunctionDef, ()))

    def __init__(self, ctx: RuleContext) -> None:
        super().__init__(ctx)
        self._locals_by_func: dict[int, frozenset[str]] = {}
        self._containers_by_func: dict[int, frozenset[str]] = {}
        self._func: cst.FunctionDef | None = None

    @property
    def _http(self) -> frozenset[str]:
        """HTTP-client names of the function being checked, computed on first need."""
        return function_summary(self.ctx, self._func).http_clients if self._func is not None else frozenset()

    def visit_IndentedBlock(self, node: cst.IndentedBlock) -> None:
        if sum(1 for stmt in node.body if _awaited_assignment(stmt, conditional=True)) < 2:
            return
        func = self.ctx.enclosing_function(node)
        if func is None or func.asynchronous is None or is_cold_path(node, self.ctx):
            return
        self._func = func
        if self._under_guard(node):
            return
        group: list[_Member] = []
        apart = False  # a statement stands between two members of the group: report it without a fix
        guarded = False  # a raising guard stands in the group: a later write must wait for it
        for stmt in node.body:
            member = self._member(stmt)
            if member is None:
                between = _between(stmt, group)
                if between is not None and group:
                    apart = True
                    guarded = guarded or between == "guard"
                    continue
                self._flush(group, apart, node)
                group, apart, guarded = [], False, False
            elif (
                (guarded and member.writes)
                or (group and group[0].gathered != member.gathered)  # a gather groups only with gathers
                or any(_depends(earlier, member) for earlier in group)
            ):
                self._flush(group, apart, node)
                group, apart, guarded = [member], False, False
            else:
                group.append(member)
        self._flush(group, apart, node)

    # -- detection -------------------------------------------------------
    def _under_guard(self, block: cst.IndentedBlock) -> bool:
        """True under ``async with lock/semaphore/session/connection/transaction``."""
        for anc in self.ctx.ancestors(block):
            if isinstance(anc, cst.FunctionDef):
                return False
            if isinstance(anc, cst.With):
                for item in anc.items:
                    if isinstance(item.item, cst.Call) and self.ctx.qualified_name(item.item.func) in HTTP_CLIENTS:
                        continue
                    if _mentions_shared(item.item) or (item.asname and _mentions_shared(item.asname.name)):
                        return True
                    built = self.ctx.module_ctx.binding(item.item.value) if isinstance(item.item, cst.Name) else None
                    if built and built.rsplit(".", 1)[-1] in _GUARD_CLASSES:
                        return True
        return False

    def _member(self, stmt: cst.BaseStatement) -> _Member | None:
        if isinstance(stmt, cst.If):
            return self._conditional_member(stmt)
        if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
            return None
        small = stmt.body[0]
        if isinstance(small, cst.Assign) and len(small.targets) == 1:
            target = small.targets[0].target
        elif isinstance(small, cst.AnnAssign) and small.value is not None:
            target = small.target
        else:
            return None
        value, applied = _awaited_part(small.value)
        if not isinstance(value, cst.Await) or not isinstance(value.expression, cst.Call):
            return None
        call = value.expression
        targets = _target_names(target)
        if targets is None:
            return None
        if _plumbing(call, targets):
            return None
        if self._func is not None and awaits_sync_code(call, self.ctx, self._func):
            return None  # a coroutine of this class that never awaits: gathered, nothing would overlap
        scan = _Scan()
        call.visit(scan)
        for part in applied:  # ``(await f())[key]``: what the index reads is read too
            part.visit(scan)
        # two fan-outs in a row (``gather(*(f(x) for x in xs))``): one gather would run both at once
        gathered = self._qualified(call) == "asyncio.gather" and any(arg.star == "*" for arg in call.args)
        if scan.unsafe or (self._breaks(call) and not gathered) or any(self._excluded(c) for c in scan.calls):
            return None
        return _Member(
            stmt=stmt,
            small=small,
            await_node=value,
            call=call,
            target=target,
            targets=frozenset(targets),
            uses=frozenset(scan.uses),
            receivers=frozenset(scan.receivers),
            code=self.ctx.code(call),
            writes=_writes(call),
            resources=frozenset(self.ctx.code(arg.value) for arg in _resource_args(call)),
            effects=self._effects(call),
            plain=not applied and not gathered,
            gathered=gathered,
        )

    def _conditional_member(self, stmt: cst.If) -> _Member | None:
        """``if settings.enabled: results = await search(q)`` (no ``else``, one statement): a member that may not run.

        Its test is read with the call (a test that reads an earlier member's target makes it dependent).
        """
        if stmt.orelse is not None or not isinstance(stmt.body, cst.IndentedBlock) or not stmt.body.body:
            return None
        test = _Scan()
        stmt.test.visit(test)
        if test.unsafe:
            return None
        body = list(stmt.body.body)
        while len(body) > 1 and _between(body[-1], []) == "guard":
            body.pop()  # ``if not row: raise NotFound`` after the await checks only its result
        *before, last = body
        for local in before:  # ``query = f"SELECT ..."`` before the await: read with it
            if _between(local, []) != "local":
                return None
            local.visit(test)
        inner = self._member(last)
        if inner is None or not isinstance(inner.stmt, cst.SimpleStatementLine) or inner.writes:
            return None  # a write that may not run: its order with the others is usually the point
        inner.uses = inner.uses | frozenset(test.uses)
        inner.plain = False
        return inner

    def _effects(self, call: cst.Call) -> _Effects:
        """What ``await call`` can change while it runs and what evaluating ``call`` reads (see :class:`_Effects`)."""
        reads = _EagerReads()
        func = call.func
        lookup: str | None = None
        callee: str | None = None
        if isinstance(func, cst.Attribute):
            lookup = dotted(func.value)
            if lookup is None:
                func.value.visit(reads)
        elif isinstance(func, cst.Name):
            callee = func.value
        else:
            func.visit(reads)
        for arg in call.args:
            arg.value.visit(reads)
        passed: set[str] = set()
        for arg in call.args:
            passed |= _passed_objects(arg.value)
        names = reads.names | ({lookup} if lookup else set())
        locals_ = self._locals()
        roots = {name.split(".", 1)[0].split("[", 1)[0] for name in names}
        mutated = set(self.ctx.module_ctx.mutated_globals)
        qualified = self.ctx.qualified_name(func)
        imported = qualified is not None
        return _Effects(
            receiver=lookup,
            passed=frozenset(passed),
            eager=frozenset(reads.names),
            module_globals=frozenset(root for root in roots if root in mutated and root not in locals_),
            local_calls=frozenset(
                name for name in reads.called if name not in locals_ and self.ctx.resolve_dotted(name) is None
                and not hasattr(builtins, name)
            ),
            qualified_reads=frozenset(
                qn for qn in (self.ctx.resolve_dotted(name.replace("[]", "")) for name in names) if qn is not None
            ),
            callee_module=qualified.rsplit(".", 1)[0] if qualified is not None and "." in qualified else None,
            runs_module_code=not imported and not (callee is not None and hasattr(builtins, callee)),
            mutates=_mutates(call),
            module_changes_globals=bool(mutated),
            containers=frozenset(passed) & self._containers(),
        )

    def _containers(self) -> frozenset[str]:
        """Locals of the function being checked bound to a new list, dict or set (``log = []``, ``cache = dict()``)."""
        func = self._func
        if func is None:
            return frozenset()
        found = self._containers_by_func.get(id(func))
        if found is None:
            names: set[str] = set()
            for node in walk(func.body, stop=(cst.FunctionDef, cst.ClassDef, cst.Lambda)):
                if isinstance(node, cst.Assign) and _is_new_container(node.value):
                    names |= {t.target.value for t in node.targets if isinstance(t.target, cst.Name)}
                elif isinstance(node, cst.AnnAssign) and node.value is not None and _is_new_container(node.value):
                    if isinstance(node.target, cst.Name):
                        names.add(node.target.value)
            found = self._containers_by_func[id(func)] = frozenset(names)
        return found

    def _locals(self) -> frozenset[str]:
        """Names the function being checked binds (parameters, assignments, imports, loop and ``with`` targets)."""
        func = self._func
        if func is None:
            return frozenset()
        found = self._locals_by_func.get(id(func))
        if found is None:
            names = {param.name.value for param in all_params(func.params)}
            declared: set[str] = set()
            parents = self.ctx.record_parents(func.body)
            for node in walk(func.body):
                if isinstance(node, cst.Global):
                    declared |= {item.name.value for item in node.names}
                elif isinstance(node, cst.Name) and is_store_position(node, parents):
                    names.add(node.value)
                elif isinstance(node, (cst.Import, cst.ImportFrom)) and not isinstance(node.names, cst.ImportStar):
                    for alias in node.names:
                        bound = alias.asname.name if alias.asname else alias.name
                        if isinstance(bound, cst.Name):
                            names.add(bound.value)
                        elif isinstance(bound, cst.Attribute):
                            names.add((dotted(bound) or "").split(".", 1)[0])
            found = self._locals_by_func[id(func)] = frozenset(names - declared)
        return found

    def _qualified(self, call: cst.Call) -> str | None:
        return self.ctx.qualified_name(call.func) or dotted(call.func)

    def _breaks(self, call: cst.Call) -> bool:
        """True when the awaited call is a sleep, ``anext`` or an asyncio helper (but to_thread/wait_for)."""
        qn = self._qualified(call)
        if qn is None:
            return False
        if qn.startswith("asyncio.") and qn not in _ASYNCIO_CALLS:
            return True
        return qn in _SLEEPS or qn in {"anext", "builtins.anext"}

    def _excluded(self, call: cst.Call) -> bool:
        """True when ``call`` (the awaited one or one inside it) sleeps or uses a shared resource."""
        qn = self._qualified(call)
        if qn in _SLEEPS or qn in {"asyncio.sleep", "anext", "builtins.anext"}:
            return True
        if runs_on_one_thread(call, self.ctx):
            return True
        if isinstance(call.func, cst.Attribute):
            method = call.func.attr.value
            words = words_of(method)
            if method in ORDERED_METHODS or (words and words[0] in ORDERED_FIRST_WORDS):
                return True
            receiver = dotted(call.func.value)
            if receiver is not None:
                segments = receiver.split(".")
                if (
                    any(
                        names_shared_resource(seg) and not (i < len(segments) - 1 and _names_store(seg))
                        for i, seg in enumerate(segments)
                    )
                    or ordered_segments(receiver)
                ) and receiver not in self._http:
                    return True
            elif _mentions_shared(call.func.value):
                return True
        for arg in call.args:
            passed = dotted(arg.value)
            if passed is not None and names_shared_resource(passed.rsplit(".", 1)[-1]) and passed not in self._http:
                return True
        return False

    def _flush(self, group: list[_Member], apart: bool = False, block: cst.IndentedBlock | None = None) -> None:
        if len(group) < 2:
            return
        if apart and block is not None:
            runs = _adjacent_runs(group, block)
            if runs:  # the fixable runs of next-door statements, as without the statements between
                for run in runs:
                    self._flush(run)
                return
            if any(self._qualified(m.call) == "asyncio.to_thread" for m in group):
                return  # what PFL303/PFL304's fixes write: reported apart, a fix would create a finding
        n = len(group)
        fixable = not apart and all(
            m.plain and (isinstance(m.small, cst.Assign) or isinstance(m.target, cst.Name)) and _comments_kept(m)
            for m in group
        )
        self.report(
            group[0].await_node,
            end_node=group[-1].await_node,
            message=(
                f"{n} independent asyncio.gather calls run one after another; run all their calls in one gather"
                if any(m.gathered for m in group)
                else f"{n} independent awaits run one after another; run them concurrently with asyncio.gather"
            ),
            fix=self._fix(list(group)) if fixable else None,
            detail=(
                f"Latency is the sum of the {n} calls instead of the slowest one "
                "(three 50 ms calls: ~150 ms in a row, ~50 ms gathered; see docs/costs.md)."
            ),
            questions=tuple(
                self.type_question(m.call.func.value, reject=SEQUENTIAL_TYPES, keep_unresolved=True)
                for m in group
                if isinstance(m.call.func, cst.Attribute) and dotted(m.call.func.value) not in (None, "self", "cls")
            ),
        )

    # -- codemod -----------------------------------------------------------
    def _fix(self, group: list[_Member]):
        indent_column = self.ctx.range_of(group[0].small).start.column

        def build(fctx: FixContext) -> cst.Module | None:
            gather = fctx.parse_expression(fctx.name_ref("asyncio", "gather"))
            targets = _targets_tuple(group)
            trailing = [m.stmt.trailing_whitespace.comment for m in group]
            leading = [[line.comment for line in m.stmt.leading_lines if line.comment] for m in group]
            multiline = any(trailing) or any(leading[1:]) or any(_multiline(m.code) for m in group)
            assign: cst.Assign | None = None
            if not multiline:
                assign = _gather_assign(targets, cst.Call(gather, _one_line_args(group)))
                multiline = indent_column + len(fctx.chunk.code_for_node(assign)) > LINE_LENGTH
            if multiline:
                unit = fctx.chunk.default_indent
                opening = cst.ParenthesizedWhitespace(indent=True, last_line=cst.SimpleWhitespace(unit))
                call = cst.Call(gather, _multiline_args(group, trailing, leading, unit), whitespace_before_args=opening)
                assign = _gather_assign(targets, call)

            first = group[0].stmt
            newline_only = first.trailing_whitespace.with_changes(whitespace=cst.SimpleWhitespace(""), comment=None)
            new_lines = [  # ``x: T = await ...`` keeps its annotation as ``x: T``
                cst.SimpleStatementLine(
                    [cst.AnnAssign(target=m.target, annotation=m.small.annotation, value=None)],
                    trailing_whitespace=newline_only,
                )
                for m in group
                if isinstance(m.small, cst.AnnAssign)
            ]
            new_lines.append(cst.SimpleStatementLine([assign], trailing_whitespace=newline_only))
            new_lines[0] = new_lines[0].with_changes(leading_lines=first.leading_lines)
            replacements: dict[cst.CSTNode, cst.CSTNode | cst.RemovalSentinel | cst.FlattenSentinel] = {
                first: cst.FlattenSentinel(new_lines) if len(new_lines) > 1 else new_lines[0]
            }
            for m in group[1:]:
                replacements[m.stmt] = cst.RemoveFromParent()
            return replace_nodes(fctx.chunk, replacements)

        return build


def _adjacent_runs(group: list[_Member], block: cst.IndentedBlock) -> list[list[_Member]]:
    """The runs of two or more members of ``group`` that are next-door statements of ``block``, each
    ``target = await call(...)`` itself (what the fix rewrites)."""
    index = {id(stmt): i for i, stmt in enumerate(block.body)}
    runs: list[list[_Member]] = []
    run: list[_Member] = []
    for member in group:
        at = index.get(id(member.stmt))
        if member.plain and at is not None and run and index.get(id(run[-1].stmt)) == at - 1:
            run.append(member)
            continue
        if len(run) >= 2:
            runs.append(run)
        run = [member] if member.plain and at is not None else []
    if len(run) >= 2:
        runs.append(run)
    return runs


def _multiline(code: str) -> bool:
    return "\n" in code or "\r" in code


def _space_comma() -> cst.Comma:
    return cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))


def _targets_tuple(group: list[_Member]) -> cst.Tuple:
    """``a, self.b, (c, d)``: the members' targets in order, a tuple target in parentheses."""
    elements = []
    for i, m in enumerate(group):
        target = m.target
        if isinstance(target, (cst.Tuple, cst.List)) and not target.lpar:
            target = target.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
        elements.append(cst.Element(target, comma=_space_comma() if i < len(group) - 1 else cst.MaybeSentinel.DEFAULT))
    return cst.Tuple(elements, lpar=[], rpar=[])


def _gather_assign(targets: cst.Tuple, call: cst.Call) -> cst.Assign:
    return cst.Assign(targets=[cst.AssignTarget(targets)], value=cst.Await(call))


def _one_line_args(group: list[_Member]) -> list[cst.Arg]:
    return [
        cst.Arg(m.call, comma=_space_comma() if i < len(group) - 1 else cst.MaybeSentinel.DEFAULT)
        for i, m in enumerate(group)
    ]


def _multiline_args(
    group: list[_Member], trailing: list[cst.Comment | None], leading: list[list[cst.Comment]], unit: str
) -> list[cst.Arg]:
    """One call per line with a trailing comma; each statement's comments go beside its call.

    A statement's trailing comment follows its call's comma; the comment lines above a
    later statement go above its call. Multi-line calls are indented one more level.
    """
    args = []
    for i, m in enumerate(group):
        last = i == len(group) - 1
        comment = trailing[i]
        above_next = [] if last else leading[i + 1]
        gap = cst.SimpleWhitespace("  " if comment else "")
        after = cst.ParenthesizedWhitespace(
            first_line=cst.TrailingWhitespace(whitespace=gap, comment=comment),
            empty_lines=[cst.EmptyLine(whitespace=cst.SimpleWhitespace(unit), comment=c) for c in above_next],
            indent=True,
            last_line=cst.SimpleWhitespace("" if last else unit),
        )
        call = m.call.visit(_Reindent(unit)) if _multiline(m.code) else m.call
        args.append(cst.Arg(call, comma=cst.Comma(whitespace_after=after)))
    return args


# -- helpers -----------------------------------------------------------------
WRITE_VERBS = frozenset(
    {
        "create", "update", "delete", "remove", "insert", "upsert", "add", "set", "put", "post", "patch",
        "save", "store", "write", "send", "submit", "cancel", "start", "stop", "run", "apply", "modify",
        "edit", "mark", "assign", "attach", "detach", "upload", "move", "copy", "rename", "register",
    }
)
"""First words of method names that change state: a call named so, on the same
resource as another call of the group, keeps the group apart (message then run,
in OpenAI's threads API)."""


PLUMBING_WORDS = frozenset(
    {"session", "connection", "conn", "client", "pool", "emitter", "caller", "call", "callback", "handler", "lock", "cache"}
)
"""Last words of a callee or target that mark getting hold of a resource or a helper
(``session = await get_session()``, ``emitter = await get_event_emitter(...)``,
``module = await get_module_from_cache(...)``): usually cached or in-memory, and
set up before what uses it; not worth a gather."""


def _plumbing(call: cst.Call, targets) -> bool:
    callee = call.func.attr.value if isinstance(call.func, cst.Attribute) else getattr(call.func, "value", "")
    names = [callee] if isinstance(callee, str) else []
    names += [target.rsplit(".", 1)[-1] for target in targets]
    return any((words_of(name) or [""])[-1] in PLUMBING_WORDS for name in names)


SEQUENTIAL_TYPES = frozenset(
    {
        "sqlalchemy.orm.Session",
        "sqlalchemy.orm.session.Session",
        "sqlalchemy.ext.asyncio.AsyncSession",
        "sqlalchemy.ext.asyncio.session.AsyncSession",
        "sqlalchemy.ext.asyncio.AsyncConnection",
        "sqlalchemy.ext.asyncio.engine.AsyncConnection",
        "asyncpg.Connection",
        "asyncpg.connection.Connection",
        "aiosqlite.Connection",
        "aiosqlite.core.Connection",
        "psycopg.AsyncConnection",
        "psycopg.AsyncCursor",
        "aiomysql.Connection",
        "aiomysql.Cursor",
        "websockets.WebSocketClientProtocol",
        "websockets.asyncio.client.ClientConnection",
        "fastapi.WebSocket",
        "starlette.websockets.WebSocket",
        "asyncio.Lock",
        "asyncio.locks.Lock",
        "asyncio.Semaphore",
        "asyncio.locks.Semaphore",
        "asyncio.StreamReader",
        "asyncio.streams.StreamReader",
        "asyncio.StreamWriter",
        "asyncio.streams.StreamWriter",
        "asyncpg.connect",
        "sqlalchemy.ext.asyncio.async_sessionmaker",
    }
)
"""Types (and the callables that make them) that run one operation at a time: when jedi
shows a receiver is one of them, the group is not reported, whatever its name."""


def _writes(call: cst.Call) -> bool:
    name = call.func.attr.value if isinstance(call.func, cst.Attribute) else getattr(call.func, "value", "")
    words = words_of(name) if isinstance(name, str) else []
    if not words:
        return False
    first = words[0]
    return first in WRITE_VERBS or (first.startswith("a") and first[1:] in WRITE_VERBS)  # ``acreate``


STATE_VERBS = frozenset(
    {
        "reload", "refresh", "reset", "clear", "sync", "init", "initialize", "initialise", "setup",
        "connect", "reconnect", "login", "authenticate", "configure", "reconfigure", "invalidate", "fill",
        "populate", "enrich", "merge", "extend", "mutate",
    }
)
"""First words of method names that change the object they are called on or are given
(``self.reload()``, ``populate(job)``): a call named so and another call on or with the
same object keep the group apart."""


def _mutates(call: cst.Call) -> bool:
    name = call.func.attr.value if isinstance(call.func, cst.Attribute) else getattr(call.func, "value", "")
    words = words_of(name) if isinstance(name, str) else []
    if not words:
        return False
    first = words[0]
    return first in STATE_VERBS or (first.startswith("a") and first[1:] in STATE_VERBS)  # ``areload``


def _same_resource(a: str, b: str) -> bool:
    """``input["thread_id"]`` and ``input`` (or ``req.user.id`` and ``req``) name overlapping things."""
    if a == b:
        return True
    short, long = sorted((a, b), key=len)
    return long.startswith((short + "[", short + "."))


def _resource_args(call: cst.Call) -> list[cst.Arg]:
    """The arguments that name what a call acts on: the first positional one, and ``*_id=``, ``*_key=``, ``key=``, ``path=``."""
    out: list[cst.Arg] = []
    positional = [arg for arg in call.args if arg.keyword is None and not arg.star]
    if positional:
        out.append(positional[0])
    for arg in call.args:
        if arg.keyword is not None:
            word = arg.keyword.value.lower()
            if word.endswith(("id", "_key")) or word in {"key", "path"}:
                out.append(arg)
    return out


def _names_store(segment: str) -> bool:
    """``database``, ``vector_db``: a segment that names a whole store. Followed by another attribute
    (``self.providers.database.chunks.get_chunk``) it holds handlers over a pool, not one connection."""
    return (words_of(segment) or [""])[-1] in {"db", "database"}


def _mentions_shared(expr: cst.CSTNode) -> bool:
    """True when any dotted name or called method in ``expr`` names a shared resource."""
    scan = _Scan()
    expr.visit(scan)
    for name in scan.uses:
        if any(names_shared_resource(seg) for seg in name.split(".")):
            return True
    guards = {"acquire", "begin", "transaction", "lock"}
    return any(isinstance(c.func, cst.Attribute) and c.func.attr.value in guards for c in scan.calls)


def _target_names(target: cst.BaseExpression) -> list[str] | None:
    """The dotted names an assignment target binds, or None for targets the rule does not take."""
    if isinstance(target, (cst.Tuple, cst.List)):
        out: list[str] = []
        for element in target.elements:
            inner = _target_names(element.value)
            if inner is None:
                return None
            out.extend(inner)
        return out or None
    if isinstance(target, cst.StarredElement):
        return _target_names(target.value)
    if isinstance(target, (cst.Name, cst.Attribute)):
        name = dotted(target)
        return [name] if name else None
    return None


_CONTAINER_TYPES = frozenset({"list", "dict", "set", "bytearray", "deque", "defaultdict", "OrderedDict", "Counter"})


def _is_new_container(value: cst.BaseExpression) -> bool:
    """A display, comprehension or constructor call that makes a new mutable container."""
    if isinstance(value, (cst.List, cst.Dict, cst.Set, cst.ListComp, cst.DictComp, cst.SetComp)):
        return True
    if isinstance(value, cst.Call):
        name = dotted(value.func)
        return name is not None and name.rsplit(".", 1)[-1] in _CONTAINER_TYPES  # list(), collections.deque()
    return False


def _related(a: str, b: str) -> bool:
    """``a`` and ``b`` are the same object or one is part of the other (``self`` / ``self.x``)."""
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


def _depends(earlier: _Member, later: _Member) -> bool:
    """True when ``later`` cannot run concurrently with ``earlier`` by what the names show."""
    if earlier.code == later.code:
        return True
    if (earlier.writes or later.writes) and any(
        _same_resource(a, b) for a in earlier.resources for b in later.resources
    ):
        return True  # a write and another call on the same resource: order is the meaning
    if _changes_what_later_reads(earlier.effects, later.effects):
        return True
    if any(_related(bound, used) for bound in later.targets for used in earlier.uses):
        return True  # ``form, meta = await process(form, meta)`` after ``await build(form)``: a new version of its input
    for bound in earlier.targets:
        if any(_related(bound, used) for used in later.uses):
            return True
        if any(bound.startswith(receiver + ".") for receiver in later.receivers):
            return True
        if any(_related(bound, other) for other in later.targets):
            return True
    return False


def _changes_what_later_reads(earlier: _Effects, later: _Effects) -> bool:
    """True when ``earlier``'s call can change something ``later`` reads before ``earlier`` runs, once gathered.

    - both calls are handed a list, dict or set the function built (``log = []``;
      ``step(log, ...)`` twice): they communicate through it, in order;
    - ``later`` reads an attribute or item of the object the earlier method was called
      on or of an object passed to it (``self.config`` after ``self.reload()``,
      ``job.results`` after ``populate(job)``); or, when the earlier call is named as
      a change of its object (``reload``, ``connect``, ``setup``...), its own receiver is
      one (``self.client.fetch()`` after ``self.reconnect()``). The receiver of a
      later method is otherwise only looked up: ``self.store.get()`` after
      ``self.load()`` stays in the group;
    - ``later`` passes on the earlier call's receiver or calls a method of it while its
      arguments are evaluated (``audit(self.agent)`` after ``self.agent.run()``);
    - one of the two calls is named as a change of its object (``reload``, ``connect``,
      ``fill``...) and the other uses that object (``self.connect()`` then
      ``self.fetch()``);
    - the earlier call may run this module's code and ``later`` reads a global that a
      function of the module rebinds or changes in place, or calls a function of the
      module while some global is changed that way;
    - the earlier call is imported from a module and ``later`` reads a name imported
      from that same module (``reload_settings()`` then ``current_settings.model``).
    """
    if earlier.containers & later.passed:
        return True  # both are handed the list/dict the function built: they communicate through it
    changeable = set(earlier.passed)
    if earlier.receiver is not None:
        changeable.add(earlier.receiver)
    for name in later.eager:
        if any(name.startswith((base + ".", base + "[")) for base in changeable):
            return True  # an attribute or item of what the earlier call can change, read before it runs
    read = set(later.eager)
    if later.receiver is not None:
        read.add(later.receiver)
        if earlier.mutates and any(later.receiver.startswith((base + ".", base + "[")) for base in changeable):
            return True  # ``self.client.fetch()`` after ``self.reconnect()``: the client may be a new one
    if earlier.receiver is not None and earlier.receiver in later.eager:
        return True  # the earlier call's receiver handed on, or used by a call that runs first
    if (earlier.mutates or later.mutates) and read & changeable:
        return True  # ``self.connect()`` and ``self.fetch()``: one changes the object the other uses
    if earlier.runs_module_code and (later.module_globals or (later.local_calls and later.module_changes_globals)):
        return True
    module = earlier.callee_module
    return module is not None and any(qn.startswith(module + ".") for qn in later.qualified_reads)


class _EagerReads(cst.CSTVisitor):
    """The dotted names an expression reads when it is evaluated (``x.y[]`` for a subscript of ``x.y``).

    A call inside counts as run: its receiver is read (``self.client`` for
    ``self.client.get(u)``), and a plain function's name goes to ``called``.
    Conservative: lambda and comprehension bodies count as read too.
    """

    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()
        self.called: set[str] = set()

    def visit_Name(self, node: cst.Name) -> bool:
        self.names.add(node.value)
        return False

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        name = dotted(node)
        if name is not None:
            self.names.add(name)
            return False
        node.value.visit(self)
        return False

    def visit_Subscript(self, node: cst.Subscript) -> bool:
        name = dotted(node.value)
        if name is not None:
            self.names.add(name + "[]")
        else:
            node.value.visit(self)
        for element in node.slice:
            element.visit(self)
        return False

    def visit_Call(self, node: cst.Call) -> bool:
        func = node.func
        if isinstance(func, cst.Name):
            self.called.add(func.value)
        elif isinstance(func, cst.Attribute):
            func.value.visit(self)
        else:
            func.visit(self)
        for arg in node.args:
            arg.value.visit(self)
        return False

    def visit_Arg(self, node: cst.Arg) -> bool:
        node.value.visit(self)  # skip the keyword's name
        return False


def _passed_objects(expr: cst.BaseExpression) -> set[str]:
    """Dotted names handed to a call as objects: ``job`` in ``f(job)``, ``f(*jobs)``, ``f([a, b.c])``, ``f({"k": d})``."""
    name = dotted(expr)
    if name is not None:
        return {name}
    out: set[str] = set()
    if isinstance(expr, (cst.List, cst.Tuple, cst.Set)):
        for element in expr.elements:
            out |= _passed_objects(element.value)
    elif isinstance(expr, cst.Dict):
        for element in expr.elements:
            if isinstance(element, cst.DictElement):
                out |= _passed_objects(element.value)
            else:
                out |= _passed_objects(element.value)
    elif isinstance(expr, cst.StarredElement):
        out |= _passed_objects(expr.value)
    return out


class _Scan(cst.CSTVisitor):
    """Collects the maximal dotted names read in an expression, its calls and their receivers.

    ``unsafe`` is set by constructs that make a statement more than one awaited call:
    a nested ``await``, a ``yield`` or a walrus.
    """

    def __init__(self) -> None:
        super().__init__()
        self.uses: set[str] = set()
        self.receivers: set[str] = set()
        self.calls: list[cst.Call] = []
        self.unsafe = False

    def visit_Name(self, node: cst.Name) -> bool:
        self.uses.add(node.value)
        return False

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        name = dotted(node)
        if name is not None:
            self.uses.add(name)
            return False
        node.value.visit(self)  # ``f().attr``: the attribute name is not a read of a variable
        return False

    def visit_Arg(self, node: cst.Arg) -> bool:
        node.value.visit(self)  # skip the keyword's name
        return False

    def visit_Call(self, node: cst.Call) -> None:
        self.calls.append(node)
        if isinstance(node.func, cst.Attribute):
            receiver = dotted(node.func.value)
            if receiver is not None:
                self.receivers.add(receiver)

    def visit_Await(self, node: cst.Await) -> None:
        self.unsafe = True

    def visit_Yield(self, node: cst.Yield) -> None:
        self.unsafe = True

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        self.unsafe = True


class _Comments(cst.CSTVisitor):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def visit_Comment(self, node: cst.Comment) -> None:
        self.count += 1


def _count_comments(node: cst.CSTNode) -> int:
    visitor = _Comments()
    node.visit(visitor)
    return visitor.count


def _comments_kept(member: _Member) -> bool:
    """True when every comment of the statement is in its leading lines, trailing comment or call."""
    stmt = member.stmt
    kept = sum(1 for line in stmt.leading_lines if line.comment) + (1 if stmt.trailing_whitespace.comment else 0)
    return _count_comments(stmt) == kept + _count_comments(member.call)


class _Reindent(cst.CSTTransformer):
    """Indents a multi-line call's continuation lines by one more level."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def leave_ParenthesizedWhitespace(self, original_node, updated_node):
        if updated_node.indent:
            return updated_node.with_changes(last_line=cst.SimpleWhitespace(self.unit + updated_node.last_line.value))
        return updated_node

    def leave_EmptyLine(self, original_node, updated_node):
        if updated_node.indent:
            return updated_node.with_changes(whitespace=cst.SimpleWhitespace(self.unit + updated_node.whitespace.value))
        return updated_node


def _awaited_assignment(stmt: cst.BaseStatement, conditional: bool = False) -> bool:
    """A cheap first look: ``x = await ...``, ``x: T = await ...`` or ``x = (await ...)[k]`` as a whole
    statement line; with ``conditional``, also alone in the body of an ``if`` without ``else``."""
    if conditional and isinstance(stmt, cst.If) and stmt.orelse is None and isinstance(stmt.body, cst.IndentedBlock):
        return any(_awaited_assignment(inner) for inner in stmt.body.body)
    if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
        return False
    small = stmt.body[0]
    return isinstance(small, (cst.Assign, cst.AnnAssign)) and isinstance(_awaited_part(small.value)[0], cst.Await)


def _awaited_part(value: cst.BaseExpression | None) -> tuple[cst.BaseExpression | None, list[cst.CSTNode]]:
    """``(await f())["k"].v`` -> (the ``await``, [the index ``"k"``]): the awaited expression under
    subscripts and attribute reads of its result, and the slices applied to it (read after it)."""
    applied: list[cst.CSTNode] = []
    while isinstance(value, (cst.Subscript, cst.Attribute)) and not isinstance(value, cst.Await):
        if isinstance(value, cst.Subscript):
            applied.extend(value.slice)
            value = value.value
        else:
            applied.append(value.attr)
            value = value.value
    return value, applied


_LOG_METHODS = frozenset({"debug", "info", "warning", "warn", "error", "exception", "critical", "log"})


def _between(stmt: cst.BaseStatement, group: list[_Member]) -> str | None:
    """What ``stmt`` is when it may stand between two members of ``group`` without joining them, else None.

    ``"guard"``: ``if <test>: raise ...`` with no ``else`` and no ``await`` (a check of an
    earlier result that only fails the request); ``"log"``: a logging call
    (``logger.info(...)``); ``"local"``: an assignment to plain names with no ``await``
    or ``yield`` that reads no target of the group (``query = "SELECT ..."``,
    ``results = []``). Anything else ends the group.
    """
    bound = {name for m in group for name in m.targets}
    changeable = {base for m in group for base in (*m.effects.passed, m.effects.receiver) if base}

    def reads_changed(node: cst.CSTNode) -> bool:
        """Reads an attribute or item of an object an earlier member may have changed (``agent.messages``
        after ``await agent.step()``): what comes next depends on that call's effects."""
        scan = _Scan()
        node.visit(scan)
        return any(used.startswith((base + ".", base + "[")) for used in scan.uses for base in changeable)

    if isinstance(stmt, cst.If):
        if stmt.orelse is not None:
            return None
        if isinstance(stmt.body, cst.SimpleStatementSuite):  # ``if not row: raise NotFound``
            raising = all(isinstance(small, cst.Raise) for small in stmt.body.body)
        else:
            raising = all(
                isinstance(s, cst.SimpleStatementLine) and all(isinstance(small, cst.Raise) for small in s.body)
                for s in stmt.body.body
            )
        if not raising:
            return None
        scan = _Scan()
        stmt.test.visit(scan)
        return None if scan.unsafe or reads_changed(stmt.test) else "guard"
    if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
        return None
    small = stmt.body[0]
    if isinstance(small, cst.Expr) and isinstance(small.value, cst.Call):
        func = small.value.func
        if isinstance(func, cst.Attribute) and func.attr.value in _LOG_METHODS and "log" in (dotted(func.value) or "").lower():
            scan = _Scan()
            small.value.visit(scan)
            return None if scan.unsafe else "log"
        return None
    if isinstance(small, cst.Assign):
        targets = [t.target for t in small.targets]
    elif isinstance(small, cst.AnnAssign) and small.value is not None:
        targets = [small.target]
    else:
        return None
    if not all(isinstance(t, cst.Name) for t in targets) or small.value is None:
        return None
    scan = _Scan()
    small.value.visit(scan)
    if scan.unsafe or any(_related(name, used) for name in bound for used in scan.uses) or reads_changed(small.value):
        return None
    if any(t.value in bound for t in targets):
        return None
    return "local"





def _ast_awaits_apart(func: ast.AsyncFunctionDef) -> bool:
    """Whether a block of ``func`` (in its :mod:`ast`) holds two statements that may be members of a
    group, not next to each other: ``x = await ...`` (also ``x = (await ...)[k]``) or an ``if`` without
    ``else`` whose body ends with one. The prefilter of the groups with statements between members."""
    for node in ast.walk(func):
        if node is not func and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        blocks = [getattr(node, field, None) for field in ("body", "orelse", "finalbody")]
        if isinstance(node, ast.Try):
            blocks.extend(h.body for h in node.handlers)
        for block in blocks:
            if isinstance(block, list) and _ast_run_of_members(block):
                return True
    return False


def _ast_run_of_members(block: list) -> bool:
    """Two possible members in ``block`` with only possible in-between statements (a raising guard,
    a call of a method named like logging, an assignment with no ``await``) between them."""
    members = 0
    for stmt in block:
        if not isinstance(stmt, ast.stmt):
            return False
        if _ast_member(stmt, True):
            members += 1
            if members >= 2:
                return True
        elif not _ast_between(stmt):
            members = 0
    return False


def _ast_between(stmt: ast.stmt) -> bool:
    if isinstance(stmt, ast.If):
        return not stmt.orelse and all(isinstance(s, ast.Raise) for s in stmt.body)
    if isinstance(stmt, ast.Expr):
        return isinstance(stmt.value, ast.Call) and isinstance(stmt.value.func, ast.Attribute) and (
            stmt.value.func.attr in _LOG_METHODS
        )
    if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
        return stmt.value is not None and not any(isinstance(n, ast.Await) for n in ast.walk(stmt.value))
    return False


def _ast_member(stmt: ast.AST, conditional: bool) -> bool:
    if conditional and isinstance(stmt, ast.If) and not stmt.orelse:
        return any(_ast_member(inner, False) for inner in stmt.body)
    if not isinstance(stmt, (ast.Assign, ast.AnnAssign)):
        return False
    value = stmt.value
    while isinstance(value, (ast.Subscript, ast.Attribute)):
        value = value.value
    return isinstance(value, ast.Await)
