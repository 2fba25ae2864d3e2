"""PFL204 redis-without-pipeline (no fix)."""

from __future__ import annotations

import libcst as cst

from perf_lsp.analysis import catalogs
from perf_lsp.analysis.bindings import bound_names, local_binding_index, referenced_names
from perf_lsp.analysis.loops import conditional_in, loop_detail, loop_sleeps, loop_targets, varying_loop
from perf_lsp.analysis.receivers import TypeCatalog, attribute_bindings, resolver
from perf_lsp.analysis.tree import FUNCTION_BOUNDARIES, SCOPES, walk
from perf_lsp.rules.base import Rule, RuleContext, short_code

_CLIENTS = catalogs.names("databases", "redis_client")

REDIS_CATALOG = TypeCatalog(constructors={qn: "redis" for qn in _CLIENTS})
"""Redis clients (sync and asyncio, redis-py and aioredis); a pipeline made from one is not a client.
From ``[[redis_client]]`` of the ``databases`` catalog (``perf_lsp/catalogs/databases.toml``)."""

REDIS_COMMANDS = frozenset(catalogs.load("databases")["redis_commands"]["names"])
"""Non-blocking single-round-trip commands (no ``blpop``/``xread``/``watch``/``eval``/``pubsub``):
``[redis_commands]`` of the ``databases`` catalog."""

_CLIENT_NAMES = frozenset({"redis", "redis_client", "redis_conn", "redis_connection", "redis_cli", "aioredis", "aredis"})
"""Receiver names that are evidence of a Redis client when the name is not an import and nothing else binds it."""

_TRANSACTION_METHODS = frozenset({"watch", "multi", "transaction", "unwatch"})
_MIN_RUN = 3


class RedisWithoutPipeline(Rule):
    """
    ## What it does
    Reports Redis commands sent one round trip at a time where a pipeline would
    send them together:

    - three or more commands in a row (consecutive statements, sync or
      ``await``-ed) on the same client, none of which uses the result of an
      earlier one of the run;
    - a command inside a ``for`` loop or a comprehension whose arguments change
      per item (reported once per loop).

    The receiver must be a Redis client: built by ``redis.Redis``,
    ``redis.from_url``, ``redis.asyncio.Redis``/``from_url`` or ``aioredis``
    (module level, local, ``self.x`` assigned in the class, or an annotation), or
    named like one (``redis``, ``redis_client``, ``self.redis``...) when nothing
    else binds the name.

    Not reported: commands on a pipeline (``pipe.get(...)``), two commands in a
    row, a command that uses an earlier result (``GET`` then a ``SET`` built from
    it: a pipeline cannot send it in the same round trip), functions that use
    ``WATCH``/``MULTI`` (optimistic transactions), Lua scripts (``eval``,
    ``register_script``), blocking commands (``blpop``, ``xread``), ``while``
    loops (consumers), loops over batches and loops that sleep between commands.

    ## Why is this bad?
    Every command is a network round trip: the client sends it and waits for the
    reply before it sends the next. The Redis documentation on pipelining
    explains that the round-trip time, not the server, bounds such a client, and
    that a pipeline sends the commands in one write and reads all replies at once:
    one round trip instead of N (``mget``/``mset`` do the same for plain reads and
    writes). The gain grows with the round-trip time: about 0.1 ms on loopback, a
    millisecond or more across a data centre or to a managed Redis.

    ## Example
    ```python
    async def load_context(self, user_id):
        profile = await self.redis.get(f"profile:{user_id}")
        history = await self.redis.lrange(f"history:{user_id}", 0, -1)
        await self.redis.set(f"seen:{user_id}", 1, ex=3600)
        return profile, history
    ```

    ## Use instead
    ```python
    async def load_context(self, user_id):
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(f"profile:{user_id}")
            pipe.lrange(f"history:{user_id}", 0, -1)
            pipe.set(f"seen:{user_id}", 1, ex=3600)
            profile, history, _ = await pipe.execute()
        return profile, history
    ```

    In a loop: ``r.mget(keys)`` for reads, or queue the per-item commands on one
    pipeline and ``execute()`` it after the loop.

    ## Fix safety
    No fix. A pipeline changes where results come from (``execute()`` returns
    them all at the end), and errors are reported per command in the result list
    instead of raised at the failing call; the code that reads results has to be
    rewritten by hand.

    ## References
    - [Redis: Pipelining](https://redis.io/docs/latest/develop/use/pipelining/)
    - [redis-py: Pipelines](https://redis.readthedocs.io/en/stable/advanced_features.html#default-pipelines)
    """

    code = "PFL204"
    name = "redis-without-pipeline"
    message = "Redis commands sent one round trip at a time; send them in one pipeline"
    triggers = r"(?i)redis"

    @classmethod
    def applies_to(cls, text, module_ctx, settings) -> bool:
        if super().applies_to(text, module_ctx, settings):
            return True
        return bool(module_ctx.import_roots & {"redis", "aioredis"})

    @classmethod
    def wants(cls, summary, settings) -> bool:
        return any(name and name.rsplit(".", 1)[-1] in REDIS_COMMANDS for name, _ in summary.call_names)

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self._resolver = resolver(ctx, REDIS_CATALOG)
        self._reported_loops: set[int] = set()

    # -- one command per iteration -----------------------------------------
    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not (isinstance(func, cst.Attribute) and func.attr.value in REDIS_COMMANDS):
            return
        innermost = self.ctx.repeating_loop(node)
        if innermost is None:
            return
        args = [a.value for a in node.args]
        loop = varying_loop(self.ctx, innermost, args)
        if loop is None or id(loop) in self._reported_loops:
            return
        if referenced_names(func.value) & _per_iteration(self.ctx, loop):
            return  # a different client or pipeline per item
        if loop_sleeps(self.ctx, loop) or _exits_early(loop) or conditional_in(self.ctx, node, loop):
            return
        scopes = self._resolver.scopes_at(self.ctx.parent(node))
        if not self._is_client(func.value, scopes) or self._uses_transactions(scopes):
            return
        self._reported_loops.add(id(loop))
        self.report(
            node,
            message=f"`{short_code(self.ctx.code(func))}` sends one Redis round trip per item; "
            "queue the commands on a pipeline (or use a multi-key command) and execute once",
            detail=f"{loop_detail(loop)}: one network round trip per item.",
        )

    # -- commands in a row -------------------------------------------------
    def visit_IndentedBlock(self, node: cst.IndentedBlock) -> None:
        self._check_block(node, list(node.body))

    def visit_Module(self, node: cst.Module) -> None:
        self._check_block(node, list(node.body))

    def _check_block(self, block: cst.CSTNode, statements: list[cst.CSTNode]) -> None:
        run: list[tuple[cst.CSTNode, cst.Call]] = []
        receiver: str | None = None
        assigned: set[str] = set()
        scopes: list[cst.CSTNode] | None = None
        loop = self.ctx.repeating_loop(block) if not isinstance(block, cst.Module) else None

        def flush() -> None:
            if len(run) >= _MIN_RUN:
                self._report_run(run, scopes)

        for stmt in statements:
            command = _command(stmt)
            if command is None:
                flush()
                run, receiver, assigned = [], None, set()
                continue
            call, targets = command
            if loop is not None and varying_loop(self.ctx, loop, [a.value for a in call.args]) is not None:
                flush()  # per-item commands: reported as a loop
                run, receiver, assigned = [], None, set()
                continue
            code = self.ctx.code(call.func.value)
            uses = set()
            for arg in call.args:
                uses |= referenced_names(arg.value)
            if code != receiver or uses & assigned:
                flush()
                run, receiver, assigned = [], code, set()
            run.append((stmt, call))
            assigned |= targets
            if scopes is None:
                scopes = self._resolver.scopes_at(block)
        flush()

    def _report_run(self, run: list[tuple[cst.CSTNode, cst.Call]], scopes: list[cst.CSTNode] | None) -> None:
        first_call = run[0][1]
        scopes = scopes or []
        if not self._is_client(first_call.func.value, scopes) or self._uses_transactions(scopes):
            return
        receiver = short_code(self.ctx.code(first_call.func.value))
        self.report(
            run[0][0],
            end_node=run[-1][0],
            message=f"{len(run)} Redis commands in a row on `{receiver}`, one round trip each; "
            "send them in one pipeline",
            detail=f"{len(run)} network round trips where a pipeline makes one.",
        )

    # -- receivers ---------------------------------------------------------
    def _is_client(self, expr: cst.BaseExpression, scopes: list[cst.CSTNode]) -> bool:
        tags = self._resolver.infer(expr, scopes)
        if tags:
            return tags == {"redis"}
        word = expr.attr.value if isinstance(expr, cst.Attribute) else expr.value if isinstance(expr, cst.Name) else None
        if word is None or word.strip("_").lower() not in _CLIENT_NAMES:
            return False
        if isinstance(expr, cst.Name):
            if self.ctx.resolve_dotted(expr.value) is not None or self.ctx.module_ctx.binding(expr.value):
                return False  # the ``redis`` module itself, or a module-level name built by something else
            return not self._bound_locally(expr.value, scopes)
        if not (isinstance(expr.value, cst.Name) and expr.value.value == "self"):
            return False
        return not self._class_builds(expr.attr.value, scopes)

    def _class_builds(self, attr: str, scopes: list[cst.CSTNode]) -> bool:
        """The class assigns ``self.attr`` from a call the resolver does not know (a wrapper, a cache class)."""
        cls = next((s for s in scopes if isinstance(s, cst.ClassDef)), None)
        if cls is None:
            return False
        return any(
            method is not None and kind == "value" and isinstance(value, (cst.Call, cst.Await))
            for kind, value, method in self.ctx.memo(attribute_bindings, cls).get(attr, ())
        )

    def _bound_locally(self, name: str, scopes: list[cst.CSTNode]) -> bool:
        """A local binding the resolver could not type (a parameter without annotation counts as unknown)."""
        for scope in scopes:
            if isinstance(scope, cst.FunctionDef):
                found = self.ctx.memo(local_binding_index, scope, True).get(name)
                if found is not None:
                    return any(kind != "annotation" or value is not None for kind, value in found)
        return False

    def _uses_transactions(self, scopes: list[cst.CSTNode]) -> bool:
        func = next((s for s in scopes if isinstance(s, cst.FunctionDef)), None)
        if func is None:
            return False
        for node in walk(func.body, stop=FUNCTION_BOUNDARIES):
            if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value in _TRANSACTION_METHODS:
                return True
        return False


def _command(stmt: cst.CSTNode) -> tuple[cst.Call, set[str]] | None:
    """``[target =] [await] receiver.<command>(...)`` as a whole statement: the call and the names it assigns."""
    if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
        return None
    small = stmt.body[0]
    targets: set[str] = set()
    if isinstance(small, cst.Expr):
        value = small.value
    elif isinstance(small, cst.Assign):
        value = small.value
        for target in small.targets:
            targets |= referenced_names(target.target)
    elif isinstance(small, cst.AnnAssign) and small.value is not None:
        value = small.value
        targets = referenced_names(small.target)
    else:
        return None
    if isinstance(value, cst.Await):
        value = value.expression
    if not (isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute)):
        return None
    if value.func.attr.value not in REDIS_COMMANDS or any(a.star for a in value.args):
        return None
    if not isinstance(value.func.value, (cst.Name, cst.Attribute)):
        return None
    return value, targets


def _per_iteration(ctx: RuleContext, loop: cst.CSTNode) -> set[str]:
    targets, _ = ctx.memo(loop_targets, loop)
    return targets | (ctx.memo(bound_names, loop.body) if isinstance(loop, cst.For) else set())


def _exits_early(loop: cst.CSTNode) -> bool:
    """A ``for`` loop that can stop at an item (``break``/``return``): it may not need every reply."""
    if not isinstance(loop, cst.For):
        return False
    for node in walk(loop.body, stop=SCOPES):
        if isinstance(node, (cst.Break, cst.Return)):
            return True
    return False
