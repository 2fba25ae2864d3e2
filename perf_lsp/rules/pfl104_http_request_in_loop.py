"""PFL104 http-request-in-loop, and its codemod."""

from __future__ import annotations

import libcst as cst

from perf_lsp.analysis.bindings import (
    bound_names,
    comprehension_targets,
    imported_as,
    name_bindings,
    referenced_names,
    target_names,
)
from perf_lsp.analysis.loops import in_handler, is_batch, loop_targets, varying_loop
from perf_lsp.analysis.receivers import HelperCall, called_helper, helper_calls_may_matter, may_call_helper
from perf_lsp.analysis.tree import FUNCTION_BOUNDARIES, children, dotted, walk
from perf_lsp.fix.codemod import replace_node, replace_nodes
from perf_lsp.fix.context import FixContext
from perf_lsp.model import Applicability
from perf_lsp.rules.base import Rule, RuleContext

# requests function -> how many positional arguments the Session method takes the same way
# (``requests.get(url, params)`` passes ``params`` positionally; ``Session.get`` took only
# ``url`` positionally before requests 2.32, so a second positional argument is not rewritten)
_FUNCTIONS = {
    "get": 1,
    "options": 1,
    "head": 1,
    "delete": 1,
    "post": 3,
    "put": 2,
    "patch": 2,
    "request": 2,
}
_SESSIONS = frozenset({"requests.Session", "requests.sessions.Session", "requests.session"})
_HELPER_ROOTS = frozenset({"requests", "httpx", "urllib"})
"""Packages whose module-level request functions a helper may call (see ``SESSIONLESS_REQUESTS``)."""
_SLEEPS = frozenset({"time.sleep", "asyncio.sleep", "trio.sleep", "anyio.sleep", "gevent.sleep"})


def _request_function(qualified: str | None) -> str | None:
    """``requests.get`` / ``requests.api.get`` -> ``get``; None for anything else."""
    if not qualified:
        return None
    parts = qualified.split(".")
    if parts[0] != "requests" or parts[-1] not in _FUNCTIONS:
        return None
    if len(parts) == 2 or (len(parts) == 3 and parts[1] == "api"):
        return parts[-1]
    return None


class HttpRequestInLoop(Rule):
    """
    ## What it does
    Reports ``requests.get``/``post``/``put``/``patch``/``delete``/``head``/
    ``options``/``request`` (the module-level functions, without a session) called
    inside a ``for`` or ``while`` loop or a comprehension, once per item: the call's
    arguments change from one iteration to the next. Any import form counts
    (``from requests import get``).

    Not reported: a loop that repeats the same request (a retry or polling loop),
    a loop that sleeps between requests (deliberately paced: rate limits, polling),
    a loop over candidate URLs that stops at the first answer (``for url in
    mirrors: ... return``/``break``: fallbacks, often on other hosts, where a
    session has nothing to reuse), and calls on a session or client object.

    One call deep: a loop that calls one of the module's own functions (``fetch(url)``,
    ``self._download(url)``) that makes one request without a session, with an argument
    that changes per iteration, is reported at the call, naming the helper (no fix: the
    helper would have to take a session). Not when the loop sleeps between calls or stops
    at the first answer; a helper whose request is in its own loop is reported there.

    ## Why is this bad?
    Each module-level ``requests`` call builds a throwaway ``Session``, opens a new
    connection (DNS, TCP and, for ``https``, a TLS handshake) and closes it after
    the response. In a loop that cost is paid per item, although the requests
    usually go to the same host. The requests documentation: a ``Session`` uses
    urllib3's connection pooling, so "if you're making several requests to the same
    host, the underlying TCP connection will be reused, which can result in a
    significant performance increase". Measured on loopback
    (``benchmarks/bench_costs.py``, ``docs/costs.md``): about 40 ms per HTTPS
    request without a session against about 2 ms with one (about 20x), 1.7 ms
    against 0.9 ms over plain HTTP; a real network adds a round trip per new TCP
    connection and per TLS handshake.

    ## Example
    ```python
    import requests

    def fetch_users(ids):
        users = []
        for user_id in ids:
            response = requests.get(f"https://api.example.com/users/{user_id}", timeout=5)
            users.append(response.json())
        return users
    ```

    ## Use instead
    ```python
    import requests

    def fetch_users(ids):
        users = []
        with requests.Session() as session:
            for user_id in ids:
                response = session.get(f"https://api.example.com/users/{user_id}", timeout=5)
                users.append(response.json())
        return users
    ```

    ## Fix safety
    Unsafe. The fix wraps the loop in ``with requests.Session() as session:`` (a
    name that clashes with nothing in the function) and sends the call through it;
    the session is closed when the loop ends, however it ends. In nested loops the
    outermost loop of the nest is wrapped, and every request in the nest goes
    through that one session: one session per call of the function, not one per
    outer item. The arguments,
    defaults and redirects are the same (``requests.get`` itself calls
    ``Session.request`` on a throwaway session), but one session is shared by the
    iterations: cookies a response sets are sent with the following requests,
    which the throwaway sessions never did, and a connection is reused, so a
    server that mishandles keep-alive can fail a later request. A streamed
    response (``stream=True``) that is not read to the end keeps its connection
    out of the pool. The fix is not offered in comprehensions (there is no
    statement to wrap), in loops that ``yield``, and when the call passes
    ``*args`` or more positional arguments than the session method takes the same
    way (``requests.get(url, params)``). When the loop, or a loop around it,
    already sits alone in a ``with requests.Session() as s:`` block, the call uses
    ``s``.

    ``Session`` is named the way the function can read it where the session is
    created: through the module's import, or through the function's own
    ``import requests`` when it imports requests itself (under ``try``/``except
    ImportError`` too: then no module-level import is added, and the module still
    imports without requests); after a function-local ``from requests import get``
    the fix adds ``import requests`` beside it. No fix when the only import the
    session could use runs inside the loop, after it or in a branch that may not
    run (the name would be unbound when the session is created), or when the
    module imports requests only under ``try``/``if`` (an optional dependency, or
    ``if TYPE_CHECKING:``) and the fix would have to add an unconditional import.

    ## References
    - [requests: Session objects](https://requests.readthedocs.io/en/latest/user/advanced/#session-objects)
    - [RFC 8446: TLS 1.3 handshake](https://www.rfc-editor.org/rfc/rfc8446#section-2)
    - Measured figures: `docs/costs.md`, made by `benchmarks/bench_costs.py`
    """

    code = "PFL104"
    name = "http-request-in-loop"
    message = "HTTP request without a session in a loop: a new connection per iteration; reuse one `requests.Session`"
    fix_title = "Send the requests through one `requests.Session` around the loop"
    fix_safety = Applicability.UNSAFE

    module_facts = ("helper_facts",)

    @classmethod
    def applies_to(cls, text, module_ctx, settings) -> bool:
        if module_ctx.imported_helpers and any(local in text for local, _ in module_ctx.imported_helpers):
            return True  # a function of another module that the project index knows (one call deep)
        if "requests" in text:
            return True
        # a module that sends requests: a loop here may call one of its helpers (one call deep)
        return bool(module_ctx.import_roots & _HELPER_ROOTS) and "(" in text

    @classmethod
    def wants(cls, summary, settings) -> bool:
        if not summary.has_loops:
            return False
        if any(_request_function(qn) for _, qn in summary.call_names):
            return True
        helpers = [(name, qn) for name, qn in summary.call_names if may_call_helper(name, qn, summary.module_ctx)]
        return bool(helpers) and helper_calls_may_matter(summary, helpers)

    def visit_Call(self, node: cst.Call) -> None:
        qualified = self.ctx.qualified_name(node.func)
        method = _request_function(qualified)
        if method is None:
            helper = called_helper(node, self.ctx)
            if helper is not None and helper.facts.requests:
                self._helper_call(node, helper)
            return
        if self._shadowed(node):
            return
        loop = self.ctx.repeating_loop(node)
        if loop is None:
            return
        varying = _varying_loop(node, loop, self.ctx)
        if varying is None or self.ctx.memo(self._paced, varying) or _first_success(node, method, varying):
            return
        fix = None
        if loop is varying and isinstance(loop, (cst.For, cst.While)) and self._fixable_call(node, method):
            fix = _session_fix(self.ctx, node, method, loop)
        self.report(
            node,
            message=f"`requests.{method}` in a loop opens a new connection on every iteration; send the requests through one `requests.Session`",
            fix=fix,
            detail="Inside a loop: connection set-up (TCP + TLS) paid once per iteration instead of once.",
        )

    def _helper_call(self, node: cst.Call, helper: HelperCall) -> None:
        """One call deep: a loop calls one of the module's own functions (``fetch(url)``,
        ``self._fetch(item)``) that makes one request without a session (``requests.get``), with
        an argument that changes per iteration. Not when the loop sleeps between calls or stops at
        the first answer (``break``/``return``: trying fallbacks); a helper whose request is inside
        its own loop is reported there instead."""
        loop = self.ctx.repeating_loop(node)
        if loop is None:
            return
        func = self.ctx.enclosing_function(node)
        if func is None or func.name.value == helper.facts.name:
            return
        varying = varying_loop(self.ctx, loop, [arg.value for arg in node.args])
        if varying is None or self.ctx.memo(self._paced, varying) or in_handler(self.ctx, node, varying):
            return  # no per-item argument, a loop over batches, a paced loop, an error path
        targets, iterable = self.ctx.memo(loop_targets, varying)
        if _fixed_collection(iterable):
            return  # ``for kind in ("a", "b")``, ``for name in FIELDS``: a few requests, fixed in the code
        if any("chunk" in t.lower() for t in targets) or any(is_batch(arg.value) for arg in node.args if not isinstance(arg.value, cst.Name)):
            return  # ``for chunk in chunks: post(chunk)``, ``post(texts[i : i + n])``: one request per batch
        if isinstance(varying, (cst.For, cst.While)) and any(
            isinstance(inner, (cst.Break, cst.Return)) for inner in walk(varying.body, stop=FUNCTION_BOUNDARIES)
        ):
            return
        request = helper.facts.requests
        self.report(
            node,
            message=(
                f"`{helper.label}` makes a request without a session (`{request}`) on every iteration: a new "
                "connection per item; send the requests through one session (pass it to the helper)"
            ),
            detail="Inside a loop, one call deep: connection set-up (TCP + TLS) paid once per iteration instead of once.",
        )

    # -- detection -------------------------------------------------------
    def _shadowed(self, node: cst.Call) -> bool:
        """The callee's head is a parameter or local of an enclosing function (``def f(requests): ...``)."""
        head = dotted(node.func)
        if head is None:
            return True
        head = head.split(".", 1)[0]
        if head in self.ctx.local_imports:
            return False
        for anc in self.ctx.ancestors(node):
            if isinstance(anc, (cst.FunctionDef, cst.Lambda)):
                params = anc.params
                every = [*params.posonly_params, *params.params, *params.kwonly_params]
                every += [p for p in (params.star_arg, params.star_kwarg) if isinstance(p, cst.Param)]
                if any(p.name.value == head for p in every):
                    return True
                if isinstance(anc, cst.FunctionDef) and head in self.ctx.memo(bound_names, anc.body):
                    return True
        return False

    def _paced(self, loop: cst.CSTNode) -> bool:
        """The loop sleeps between iterations: rate limiting or polling, sequential on purpose."""
        for inner in walk(loop, stop=FUNCTION_BOUNDARIES):
            if isinstance(inner, cst.Call):
                qn = self.ctx.qualified_name(inner.func)
                if qn in _SLEEPS:
                    return True
        return False

    def _fixable_call(self, node: cst.Call, method: str) -> bool:
        """The session method takes the call's arguments the same way (no ``*args``, no extra positionals)."""
        positional = 0
        for arg in node.args:
            if arg.star == "*":
                return False
            if arg.star == "" and arg.keyword is None:
                positional += 1
        return positional <= _FUNCTIONS[method]


def _url_argument(node: cst.Call, method: str) -> cst.BaseExpression | None:
    index = 1 if method == "request" else 0
    positional = [arg for arg in node.args if not arg.star and arg.keyword is None]
    for arg in node.args:
        if arg.keyword is not None and arg.keyword.value == "url":
            return arg.value
    return positional[index].value if len(positional) > index else None


def _fixed_collection(iterable: cst.BaseExpression | None) -> bool:
    """A literal collection or a module constant (``FIELDS``, ``SOURCES.items()``): a few items fixed in
    the code, not a collection that grows with the input."""
    if iterable is None:
        return False
    if isinstance(iterable, cst.Call) and isinstance(iterable.func, cst.Attribute) and iterable.func.attr.value in ("items", "keys", "values"):
        iterable = iterable.func.value
    if isinstance(iterable, (cst.List, cst.Tuple, cst.Set, cst.Dict)):
        return True
    name = iterable.attr.value if isinstance(iterable, cst.Attribute) else iterable.value if isinstance(iterable, cst.Name) else None
    return name is not None and name.isupper()


def _first_success(node: cst.Call, method: str, loop: cst.CSTNode) -> bool:
    """``for url in candidates: ... requests.get(url) ... return/break``: trying fallbacks (often other hosts)
    until one answers, not a request per item. The URL is the loop's item or built from it."""
    if not isinstance(loop, cst.For) or not isinstance(loop.target, cst.Name):
        return False
    url = _url_argument(node, method)
    if url is None:
        return False
    item = loop.target.value
    names = referenced_names(url)
    if item not in names:
        # ``url = f"{base}/{path}"`` built from the item in the loop body
        built = False
        for inner in walk(loop.body, stop=FUNCTION_BOUNDARIES):
            if (
                isinstance(inner, cst.Assign)
                and item in referenced_names(inner.value)
                and any(isinstance(t.target, cst.Name) and t.target.value in names for t in inner.targets)
            ):
                built = True
        if not built:
            return False
    return any(isinstance(inner, (cst.Break, cst.Return)) for inner in walk(loop.body, stop=FUNCTION_BOUNDARIES))


def _varying_loop(node: cst.Call, loop: cst.CSTNode | None, ctx: RuleContext) -> cst.CSTNode | None:
    """The innermost loop around ``node`` whose per-iteration names the call's arguments read, or None."""
    used: set[str] = set()
    for arg in node.args:
        used |= referenced_names(arg.value)
    while loop is not None:
        if isinstance(loop, cst.While):
            bound = ctx.memo(bound_names, loop.body)
        elif isinstance(loop, cst.For):
            bound = (target_names(loop.target) or referenced_names(loop.target)) | ctx.memo(bound_names, loop.body)
        else:
            bound = comprehension_targets(loop)
        if used & bound:
            return loop
        loop = ctx.repeating_loop(loop)
    return None


# -- codemod -----------------------------------------------------------------
def _existing_session(loop: cst.CSTNode, ctx: RuleContext) -> str | None:
    """``s`` when ``loop`` is the only statement of ``with requests.Session() as s:``."""
    block = ctx.parent(loop)
    with_stmt = ctx.parent(block) if block is not None else None
    if not (isinstance(block, cst.IndentedBlock) and isinstance(with_stmt, cst.With)):
        return None
    if len(block.body) != 1 or len(with_stmt.items) != 1:
        return None
    item = with_stmt.items[0]
    if not (isinstance(item.item, cst.Call) and ctx.qualified_name(item.item.func) in _SESSIONS and not item.item.args):
        return None
    if item.asname is None or not isinstance(item.asname.name, cst.Name):
        return None
    return item.asname.name.value


def _loop_nest(loop: cst.For | cst.While, ctx: RuleContext) -> list[cst.For | cst.While]:
    """``loop`` and the loops around it that repeat it, innermost first, within its function."""
    nest = [loop]
    outer = ctx.repeating_loop(loop)
    while isinstance(outer, (cst.For, cst.While)):
        nest.append(outer)
        outer = ctx.repeating_loop(outer)
    return nest


def _session_fix(ctx: RuleContext, node: cst.Call, method: str, loop: cst.For | cst.While):
    """The fix builder for the request ``node`` that varies with ``loop``, or None when there is no safe fix.

    The call goes through the session of a ``with requests.Session() as s:`` that holds one of the
    loops around it alone; otherwise one new session wraps the outermost loop of the nest (one session
    per call of the function, not per outer item), named through the ``requests`` the function can
    read there (see :func:`_session_class`).
    """
    nest = _loop_nest(loop, ctx)
    for each in nest:
        existing = _existing_session(each, ctx)
        if existing is not None:
            return _reuse_fix(node, method, existing)
    target = nest[-1]
    if any(isinstance(inner, cst.Yield) for inner in walk(target, stop=FUNCTION_BOUNDARIES)):
        return None  # a generator would hold the session open between items
    function = ctx.enclosing_function(target)
    plan = _session_class(ctx, node, target, function)
    if plan is None:
        return None
    kind, ref, after = plan

    def build(fctx: FixContext) -> cst.Module | None:
        session_class = ref
        if kind == "module":
            session_class = f"{fctx.module_ref('requests')}.Session"
            head = session_class.split(".", 1)[0]
            if function is not None and any(True for _ in name_bindings(function, head)):
                return None  # the module name is a local of the function there
        name = fctx.local_name("session", function)
        new_call = node.with_changes(func=cst.Attribute(value=cst.Name(name), attr=cst.Name(method)))
        new_loop = replace_node(target, node, new_call).with_changes(leading_lines=[])
        wrapper = cst.With(
            items=[
                cst.WithItem(
                    item=fctx.parse_expression(f"{session_class}()"),
                    asname=cst.AsName(name=cst.Name(name)),
                )
            ],
            body=cst.IndentedBlock(body=[new_loop]),
            leading_lines=target.leading_lines,
        )
        replacements: dict[cst.CSTNode, cst.CSTNode | cst.FlattenSentinel] = {target: wrapper}
        if after is not None:
            replacements[after] = cst.FlattenSentinel([after, fctx.parse_statement("import requests\n")])
        return replace_nodes(fctx.chunk, replacements)

    return build


def _reuse_fix(node: cst.Call, method: str, session: str):
    def build(fctx: FixContext) -> cst.Module | None:
        new_call = node.with_changes(func=cst.Attribute(value=cst.Name(session), attr=cst.Name(method)))
        return replace_node(fctx.chunk, node, new_call)

    return build


def _session_class(
    ctx: RuleContext, node: cst.Call, target: cst.For | cst.While, function: cst.FunctionDef | None
) -> tuple[str, str, cst.SimpleStatementLine | None] | None:
    """How the fix names ``requests.Session`` in a ``with`` just before ``target``, or None (no fix).

    ``("expr", "<ref>.Session", None)``: a name the function can read there, bound to the requests
    module (or to ``Session``) by the module or by a function-local import that always runs before
    the loop; ``("module", "", None)``: ``import requests`` at module level, only when the call itself
    goes through an unconditional module-level import from requests (the module needs requests
    anyway); ``("after", "requests.Session", line)``: the function imports the callee from requests
    itself (``from requests import get``) before the loop, and ``import requests`` goes right after
    that ``line``. A module-level name imported only under ``try``/``if`` (``if TYPE_CHECKING:``) is
    not relied on, nor a function-local import in the loop, after it, or in a branch that may not
    run (the name would be unbound when the session is created: ``UnboundLocalError``).
    """
    head = (dotted(node.func) or "").split(".", 1)[0]
    module_ctx = ctx.module_ctx

    def bound_here(name: str) -> bool:
        """``name`` is a local of the function (or, at module level, bound inside the loop)."""
        return any(True for _ in name_bindings(function or target, name))

    if ctx.resolve_dotted(head) == "requests":
        if not bound_here(head):
            return ("expr", f"{head}.Session", None)
        if _imported_before(head, target, function, ctx, lambda qn: qn == "requests") is not None:
            return ("expr", f"{head}.Session", None)
        return None
    for qualified, ref in (("requests.Session", "{}"), ("requests", "{}.Session")):
        alias = module_ctx.alias_for(qualified)
        if alias and alias not in module_ctx.guarded_imports and not bound_here(alias):
            return ("expr", ref.format(alias), None)
    if function is not None:
        for local, qualified in ctx.local_imports.items():
            if qualified == "requests" and _imported_before(local, target, function, ctx, lambda qn: qn == "requests"):
                return ("expr", f"{local}.Session", None)
    if (
        module_ctx.imported(head) is not None
        and head not in module_ctx.guarded_imports
        and module_ctx.alias_for("requests") is None
        and not bound_here(head)
    ):
        return ("module", "", None)
    if function is not None and not _mentions(function, "requests"):
        line = _imported_before(head, target, function, ctx, lambda qn: qn.startswith("requests."))
        if line is not None:
            return ("after", "requests.Session", line)
    return None


def _mentions(node: cst.CSTNode, name: str) -> bool:
    """``name`` is read or bound as a variable somewhere in ``node`` (nested scopes included; attribute
    names and the module of ``from m import x`` are not variables)."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, cst.Name):
            if current.value == name:
                return True
            continue
        if isinstance(current, cst.Attribute):
            stack.append(current.value)
        elif isinstance(current, cst.ImportFrom):
            if not isinstance(current.names, cst.ImportStar):
                stack.extend(alias.asname.name if alias.asname else alias.name for alias in current.names)
        else:
            stack.extend(children(current))
    return False


def _imported_before(
    name: str, target: cst.CSTNode, function: cst.FunctionDef | None, ctx: RuleContext, wanted
) -> cst.SimpleStatementLine | None:
    """The statement line of ``function`` that always binds ``name`` before ``target`` runs, by an import
    whose qualified name satisfies ``wanted``, when every binding of ``name`` in the function is such
    an import (else None)."""
    if function is None:
        return None
    bindings = list(name_bindings(function, name))
    if not bindings or any(kind != "import" or not wanted(imported_as(node, name) or "") for kind, node, _ in bindings):
        return None
    child: cst.CSTNode = target
    for anc in ctx.ancestors(target):
        if isinstance(anc, cst.IndentedBlock):
            index = next((i for i, stmt in enumerate(anc.body) if stmt is child), 0)
            for stmt in reversed(anc.body[:index]):
                line = _always_imports(stmt, name)
                if line is not None:
                    return line
        if anc is function:
            break
        child = anc
    return None


def _always_imports(stmt: cst.CSTNode, name: str) -> cst.SimpleStatementLine | None:
    """The line in ``stmt`` that binds ``name`` by an import whenever ``stmt`` completes normally, or None.

    A plain import line; or an import in a ``try`` body whose every ``except`` handler leaves (``return``,
    ``raise``, ``continue``, ``break``), so the code after the ``try`` runs only when the import did.
    """
    if isinstance(stmt, cst.SimpleStatementLine):
        for small in stmt.body:
            if isinstance(small, (cst.Import, cst.ImportFrom)) and imported_as(small, name) is not None:
                return stmt
        return None
    if isinstance(stmt, (cst.Try, cst.TryStar)) and all(_leaves(handler.body) for handler in stmt.handlers):
        for inner in reversed(stmt.body.body):
            line = _always_imports(inner, name)
            if line is not None:
                return line
    return None


def _leaves(block: cst.BaseSuite) -> bool:
    """The block always ends with ``return``, ``raise``, ``continue`` or ``break``."""
    body = block.body
    if not body:
        return False
    last = body[-1]
    small = last.body[-1] if isinstance(last, cst.SimpleStatementLine) and last.body else last
    return isinstance(small, (cst.Return, cst.Raise, cst.Continue, cst.Break))
