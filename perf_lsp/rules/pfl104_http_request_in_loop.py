"""PFL104 http-request-in-loop, and its codemod."""

from __future__ import annotations

import re

import libcst as cst

from perf_lsp.codemod import replace_node, replace_nodes
from perf_lsp.model import Applicability
from perf_lsp.rules.base import FUNCTION_BOUNDARIES, FixContext, Rule, RuleContext, dotted
from perf_lsp.rules.patterns import referenced_names, target_names, walk
from perf_lsp.rules.pfl201_encode_in_loop import _bound_names, _comprehension_targets

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
_SLEEPS = frozenset({"time.sleep", "asyncio.sleep", "trio.sleep", "anyio.sleep", "gevent.sleep"})
_SCOPES = FUNCTION_BOUNDARIES


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

    ## Why is this bad?
    Each module-level ``requests`` call builds a throwaway ``Session``, opens a new
    connection (DNS, TCP and, for ``https``, a TLS handshake: tens to hundreds of
    milliseconds; 200-500 ms for connection set-up in audit report 001) and closes
    it after the response. In a loop that cost is paid per item, although the
    requests usually go to the same host. A ``requests.Session`` keeps the
    connection alive and reuses it: audit report 002 estimates 10-30% faster
    repeated API calls with a pooled session, more on high-latency links.

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
    the session is closed when the loop ends, however it ends. The arguments,
    defaults and redirects are the same (``requests.get`` itself calls
    ``Session.request`` on a throwaway session), but one session is shared by the
    iterations: cookies a response sets are sent with the following requests,
    which the throwaway sessions never did, and a connection is reused, so a
    server that mishandles keep-alive can fail a later request. A streamed
    response (``stream=True``) that is not read to the end keeps its connection
    out of the pool. The fix is not offered in comprehensions (there is no
    statement to wrap), in loops that ``yield``, and when the call passes
    ``*args`` or more positional arguments than the session method takes the same
    way (``requests.get(url, params)``). When the loop already sits alone in a
    ``with requests.Session() as s:`` block, the call uses ``s``.
    """

    code = "PFL104"
    name = "http-request-in-loop"
    message = "HTTP request without a session in a loop: a new connection per iteration; reuse one `requests.Session`"
    fix_title = "Send the requests through one `requests.Session` around the loop"
    fix_safety = Applicability.UNSAFE

    @classmethod
    def applies_to(cls, text, module_ctx, settings) -> bool:
        if "requests" in text:
            return True
        for local, qualified in module_ctx.imports:
            if qualified.split(".", 1)[0] == "requests" and re.search(rf"\b{re.escape(local)}\b", text):
                return True
        return False

    @classmethod
    def wants(cls, summary, settings) -> bool:
        return summary.has_loops and any(_request_function(qn) for _, qn in summary.call_names)

    def visit_Call(self, node: cst.Call) -> None:
        method = _request_function(self.ctx.qualified_name(node.func))
        if method is None or self._shadowed(node):
            return
        loop = self.ctx.repeating_loop(node)
        if loop is None:
            return
        varying = _varying_loop(node, loop, self.ctx)
        if varying is None or self._paced(varying) or _first_success(node, method, varying):
            return
        fix = None
        if loop is varying and isinstance(loop, (cst.For, cst.While)) and self._fixable_call(node, method, loop):
            fix = _session_fix(self.ctx, node, method, loop)
        self.report(
            node,
            message=f"`requests.{method}` in a loop opens a new connection on every iteration; send the requests through one `requests.Session`",
            fix=fix,
            detail="Inside a loop: connection set-up (TCP + TLS) paid once per iteration instead of once.",
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
                if isinstance(anc, cst.FunctionDef) and head in _bound_names(anc.body):
                    return True
        return False

    def _paced(self, loop: cst.CSTNode) -> bool:
        """The loop sleeps between iterations: rate limiting or polling, sequential on purpose."""
        for inner in walk(loop, stop=_SCOPES):
            if isinstance(inner, cst.Call):
                qn = self.ctx.qualified_name(inner.func)
                if qn in _SLEEPS:
                    return True
        return False

    def _fixable_call(self, node: cst.Call, method: str, loop: cst.CSTNode) -> bool:
        positional = 0
        for arg in node.args:
            if arg.star == "*":
                return False
            if arg.star == "" and arg.keyword is None:
                positional += 1
        if positional > _FUNCTIONS[method]:
            return False
        return not any(isinstance(inner, cst.Yield) for inner in walk(loop, stop=_SCOPES))


def _url_argument(node: cst.Call, method: str) -> cst.BaseExpression | None:
    index = 1 if method == "request" else 0
    positional = [arg for arg in node.args if not arg.star and arg.keyword is None]
    for arg in node.args:
        if arg.keyword is not None and arg.keyword.value == "url":
            return arg.value
    return positional[index].value if len(positional) > index else None


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
        for inner in walk(loop.body, stop=_SCOPES):
            if (
                isinstance(inner, cst.Assign)
                and item in referenced_names(inner.value)
                and any(isinstance(t.target, cst.Name) and t.target.value in names for t in inner.targets)
            ):
                built = True
        if not built:
            return False
    return any(isinstance(inner, (cst.Break, cst.Return)) for inner in walk(loop.body, stop=_SCOPES))


def _varying_loop(node: cst.Call, loop: cst.CSTNode | None, ctx: RuleContext) -> cst.CSTNode | None:
    """The innermost loop around ``node`` whose per-iteration names the call's arguments read, or None."""
    used: set[str] = set()
    for arg in node.args:
        used |= referenced_names(arg.value)
    while loop is not None:
        if isinstance(loop, cst.While):
            bound = _bound_names(loop.body)
        elif isinstance(loop, cst.For):
            bound = (target_names(loop.target) or referenced_names(loop.target)) | _bound_names(loop.body)
        else:
            bound = _comprehension_targets(loop)
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


def _session_fix(ctx: RuleContext, node: cst.Call, method: str, loop: cst.For | cst.While):
    existing = _existing_session(loop, ctx)
    function = ctx.enclosing_function(loop)

    def build(fctx: FixContext) -> cst.Module | None:
        if existing is not None:
            new_call = node.with_changes(func=cst.Attribute(value=cst.Name(existing), attr=cst.Name(method)))
            return replace_node(fctx.chunk, node, new_call)
        name = fctx.local_name("session", function)
        session_class = fctx.name_ref("requests", "Session")
        new_call = node.with_changes(func=cst.Attribute(value=cst.Name(name), attr=cst.Name(method)))
        new_loop = replace_node(loop, node, new_call).with_changes(leading_lines=[])
        wrapper = cst.With(
            items=[
                cst.WithItem(
                    item=fctx.parse_expression(f"{session_class}()"),
                    asname=cst.AsName(name=cst.Name(name)),
                )
            ],
            body=cst.IndentedBlock(body=[new_loop]),
            leading_lines=loop.leading_lines,
        )
        return replace_nodes(fctx.chunk, {loop: wrapper})

    return build
