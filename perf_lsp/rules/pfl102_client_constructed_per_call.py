"""PFL102 client-constructed-per-call, and its codemod (PFL101's cached factory)."""

from __future__ import annotations

import re

import libcst as cst

from perf_lsp.analysis import catalogs
from perf_lsp.analysis.bindings import local_binding_index, referenced_names
from perf_lsp.analysis.expressions import is_literal
from perf_lsp.analysis.receivers import HelperCall, called_helper, helper_calls_may_matter, may_call_helper
from perf_lsp.analysis.semantic import assigned_target
from perf_lsp.analysis.summaries import built_value_escapes
from perf_lsp.analysis.tree import FUNCTION_BOUNDARIES, dotted, walk
from perf_lsp.analysis.words import camel_to_snake
from perf_lsp.fix.rewrites import cached_factory_fix
from perf_lsp.model import Applicability
from perf_lsp.rules.base import Rule, RuleOption
from perf_lsp.rules.heuristics import (
    callee_differs_at_module_level,
    client_only_reads_catalog,
    closed_or_context_managed,
    has_uncacheable_arg,
    in_lazy_init,
    is_cold_path,
)

EXTEND_CLIENTS = RuleOption(
    "extend_clients",
    "qualified-names",
    "More SDK client constructors (your own wrappers), as qualified names: reported like the built-in ones.",
)

SDK_CLIENTS = frozenset(catalogs.names("clients", "sdk"))
"""Qualified names whose call builds an SDK client with its own HTTP connection pool: ``[[sdk]]``
of the ``clients`` catalog (``perf_lsp/catalogs/clients.toml``); extended by ``extend-clients``.
``boto3.Session(...).client(...)`` is matched by shape."""

_GENERIC_NAMES = frozenset({"Client", "AsyncClient", "ClientV2", "AsyncClientV2", "client", "resource"})
"""Constructor names shown with their module (``genai.Client``, ``boto3.client``)."""
_BOTO3_SESSIONS = frozenset(catalogs.names("clients", "boto3_session"))
_ROOTS = frozenset(qn.split(".", 1)[0] for qn in SDK_CLIENTS)


def is_sdk_client(qualified: str | None, extra: tuple[str, ...] = ()) -> bool:
    """True for a qualified name whose call builds an SDK client (see :data:`SDK_CLIENTS`)."""
    return bool(qualified) and (qualified in SDK_CLIENTS or qualified in extra)


class ClientConstructedPerCall(Rule):
    """
    ## What it does
    Reports an SDK client built inside a function body: ``openai.OpenAI``,
    ``AsyncOpenAI``, ``AzureOpenAI``, ``AsyncAzureOpenAI``, ``anthropic.Anthropic``
    and ``AsyncAnthropic``, ``cohere.Client``/``ClientV2``/``AsyncClient``,
    ``boto3.client``/``boto3.resource`` (and ``boto3.Session(...).client(...)``, also
    through a local ``session = boto3.Session(...)``),
    LangChain chat and embedding models (``ChatOpenAI``, ``AzureChatOpenAI``,
    ``OpenAIEmbeddings``, ``ChatAnthropic``, ...), LlamaIndex LLM and embedding
    classes, Groq, Mistral, Together, Ollama, Google GenAI and Vertex AI clients,
    and any qualified name listed in ``extend-clients``. The full list is the
    ``clients`` catalog (``perf_lsp/catalogs/clients.toml``), each entry with its
    documentation page.

    Not reported: at module level; in ``__init__`` and other one-time set-up
    methods; in a function decorated with ``functools.cache``/``lru_cache``; under a
    lazy-initialisation guard (``if self._client is None:``); in ``main()``, test
    functions and start-up hooks; in functions whose name says they set up or
    configure (``init_*``, ``setup_*``, ``configure_*``, ``lifespan``,
    ``get_client``); and in factories, where the client leaves the
    function (it is returned, or stored on ``self`` or in a global): keeping it is
    then the caller's job. Cold paths are not reported either: a function nested in
    one of those; credential checks (``check_api_key``, ``verify_credentials``: a
    fresh client per key is the point); model listing (the function's name says
    so, or the client only calls ``client.models.list()``/``retrieve()``); FastAPI
    endpoints only administrators may call (a ``Depends(get_admin_user)``
    parameter); and a client whose listing a loop iterates (``for obj in
    s3.Bucket(b).objects.all()``: one client serves the whole batch).

    One call deep: a call of one of the module's own functions (``make_client()``,
    ``self._new_client()``) that returns a new SDK client, not cached, is reported at
    the call, naming the helper, and judged like the constructor there (not in
    ``__init__``, nor when the client is stored or returned, nor when it escapes into a
    closure or a returned object). A helper that builds a client and uses it is reported
    inside the helper, not again at its callers.

    A client built from per-request settings (an API key a user brought, a base
    URL) is still reported: keep one client per distinct settings (a cache keyed
    by them) instead of one per call; the message says so.

    ## Why is this bad?
    Each client owns an HTTP connection pool (``httpx`` for OpenAI, Anthropic and
    Cohere; ``urllib3`` for ``requests``; ``botocore`` for boto3, which also loads
    its service model from disk). A client built per call starts with an empty
    pool, so its first request pays DNS, TCP and TLS set-up again instead of
    reusing a kept-alive connection, and the old pool is left to the garbage
    collector with its sockets. The httpx documentation says to use one client
    rather than one per request for this reason. Measured on loopback
    (``benchmarks/bench_costs.py``, ``docs/costs.md``): a new ``requests.Session``
    and one HTTPS request, about 44 ms, against about 1.3 ms on a reused session
    (about 30x); over a network each new connection also waits one round trip for
    TCP and at least one more for the TLS handshake (RFC 8446), on top of a model
    call that is already slow.

    ## Example
    ```python
    from openai import OpenAI

    def summarize(text):
        client = OpenAI()
        response = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": text}]
        )
        return response.choices[0].message.content
    ```

    ## Use instead
    ```python
    import functools

    from openai import OpenAI

    @functools.cache
    def _get_openai_client(*args, **kwargs):
        return OpenAI(*args, **kwargs)

    def summarize(text):
        client = _get_openai_client()
        response = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": text}]
        )
        return response.choices[0].message.content
    ```

    ## Fix safety
    Unsafe. The fix adds a module-level factory decorated with ``functools.cache``
    that builds the client from the same arguments, and the call site calls it
    (PFL101's fix): the client becomes one instance shared by every caller that
    passes the same arguments, and lives as long as the process; an API key read from the
    environment when the client is built is then read once; and an async client
    (``AsyncOpenAI``) is tied to the event loop of its first request, which matters
    when the code runs several loops (``asyncio.run`` per call, some test set-ups).
    With per-request credentials the cache keeps one client per distinct key for
    the life of the process: with many keys, prefer
    ``functools.lru_cache(maxsize=...)``. The fix is not offered when the client is
    entered in a ``with`` block or closed in the function (a shared client would be
    closed for everyone), when an argument cannot key the cache: a list, dict or
    set (a display, a comprehension, or a local bound to one anywhere in the
    function: the cache would raise ``TypeError``), another call's result
    (``http_client=httpx.Client()``, ``timeout=httpx.Timeout(...)``: a new object
    per call, so the cache would never hit and would keep every client alive),
    ``**kwargs``, or a dict- or list-valued keyword (``default_headers``,
    ``default_query``, ``callbacks``...); when the class's name is a parameter or a
    local of the function, or imported by the function from elsewhere than the
    module imports it from (the factory would read the module's name; when the
    module imports it only under ``if TYPE_CHECKING:``/``try``, the factory imports
    it itself as the function does); and for ``boto3.Session(...).client(...)``.

    ## References
    - [httpx: Clients (why to reuse one)](https://www.python-httpx.org/advanced/clients/)
    - [requests: Session objects](https://requests.readthedocs.io/en/latest/user/advanced/#session-objects)
    - [RFC 8446: TLS 1.3 handshake](https://www.rfc-editor.org/rfc/rfc8446#section-2)
    - Measured figures: `docs/costs.md`, made by `benchmarks/bench_costs.py`
    """

    code = "PFL102"
    name = "client-constructed-per-call"
    message = "SDK client built on every call; build it once and reuse it"
    fix_title = "Build the client once in a cached module-level factory"
    fix_safety = Applicability.UNSAFE
    options = (EXTEND_CLIENTS,)
    module_facts = ("helper_facts",)

    @classmethod
    def applies_to(cls, text, module_ctx, settings) -> bool:
        if module_ctx.imported_helpers and any(local in text for local, _ in module_ctx.imported_helpers):
            return True  # a function of another module that the project index knows (one call deep)
        roots = _ROOTS | {name.split(".", 1)[0] for name in settings.option(EXTEND_CLIENTS)}
        if any(root in text for root in roots):
            return True  # an import or a spelled-out module path
        if not module_ctx.import_roots & roots:
            return False
        # the module uses an SDK: a call here may be one of its helpers (one call deep)
        return "(" in text

    @classmethod
    def wants(cls, summary, settings) -> bool:
        extra = settings.option(EXTEND_CLIENTS)
        if any(is_sdk_client(qn, extra) or qn in _BOTO3_SESSIONS for _, qn in summary.call_names):
            return True
        helpers = [(name, qn) for name, qn in summary.call_names if may_call_helper(name, qn, summary.module_ctx)]
        return bool(helpers) and helper_calls_may_matter(summary, helpers)

    def visit_Call(self, node: cst.Call) -> None:
        qn = self.ctx.qualified_name(node.func)
        chained_session = False
        if not is_sdk_client(qn, self.ctx.settings.option(EXTEND_CLIENTS)):
            if not self._boto3_session_client(node):
                helper = called_helper(node, self.ctx)
                if helper is not None:
                    self._helper_call(node, helper)
                return
            chained_session, qn = True, "boto3.Session().client"
        func = self.ctx.enclosing_function(node)
        if func is None or is_cold_path(node, self.ctx):
            return
        if in_lazy_init(node, self.ctx):
            return
        if built_value_escapes(node, func, self.ctx):
            return
        in_loop = self.ctx.repeating_loop(node) is not None
        target = self._client_name(node)
        if target is not None and not in_loop:
            if client_only_reads_catalog(target, func):
                return  # ``client.models.list()``: model listing, a cold path
            if _iterates_its_listing(target, func):
                return  # one client for a whole listing: the cost is paid once per batch
        callee = dotted(node.func) or "client"
        shown = "boto3.Session(...).client" if chained_session else callee
        per_settings = self._varying_arguments(node)
        if in_loop:
            detail = "Inside a loop: a new client, with an empty connection pool, on every iteration."
        else:
            detail = (
                f"Paid on every call of `{func.name.value}()`: a new client starts with no open connection, "
                "so its first request pays connection set-up (TCP + TLS: ~44 ms for HTTPS on loopback, more over a network; see docs/costs.md)."
            )
        if per_settings:
            detail += (
                " The arguments may differ between calls (an API key, a base URL): keep one client per distinct "
                "arguments, e.g. a cache keyed by them."
            )
            advice = "reuse one client per distinct arguments (a cache keyed by them)"
        else:
            advice = "build it once and reuse it"
        fix = None
        if not chained_session and self._fixable(node, func):
            fix = cached_factory_fix(self.ctx, node, callee, qn or callee, _factory_name(callee))
        self.report(
            node,
            message=f"`{shown}(...)` builds a new client on every call of `{func.name.value}()`; {advice}",
            fix=fix,
            detail=detail,
        )

    def _helper_call(self, node: cst.Call, helper: HelperCall) -> None:
        """One call deep: ``client = make_client()`` where the module's ``make_client`` returns a new,
        uncached SDK client. Judged like the constructor itself at this call (not when the client is
        stored, returned, built lazily or on a cold path). A helper that builds a client and uses it
        is reported at its own construction, not at its callers."""
        extra = self.ctx.settings.option(EXTEND_CLIENTS)
        built = next((qn for qn in helper.facts.returns_new if is_sdk_client(qn, extra)), None)
        if built is None:
            return
        func = self.ctx.enclosing_function(node)
        if func is None or func.name.value == helper.facts.name or is_cold_path(node, self.ctx):
            return
        if in_lazy_init(node, self.ctx) or built_value_escapes(node, func, self.ctx):
            return
        in_loop = self.ctx.repeating_loop(node) is not None
        target = self._client_name(node)
        if target is not None and not in_loop and client_only_reads_catalog(target, func):
            return
        parts = built.split(".")
        kind = ".".join(parts[-2:]) if parts[-1] in _GENERIC_NAMES and len(parts) > 1 else parts[-1]
        where = "on every iteration" if in_loop else f"on every call of `{func.name.value}()`"
        self.report(
            node,
            message=(
                f"`{helper.label}` builds a new `{kind}` client {where}; build it once and reuse it "
                f"(cache `{helper.facts.name}` or keep the client)"
            ),
            detail=(
                f"`{helper.facts.name}` returns a new `{built}` each time it is called, so each call starts with an "
                "empty connection pool and pays connection set-up (TCP + TLS: ~44 ms for HTTPS on loopback; see docs/costs.md)."
            ),
        )

    # -- detection -------------------------------------------------------
    def _client_name(self, node: cst.Call) -> str | None:
        """The local name the client is bound to (``client = OpenAI()``, ``with OpenAI() as client``)."""
        parent = self.ctx.parent(node)
        if isinstance(parent, cst.WithItem) and parent.item is node:
            if parent.asname is not None and isinstance(parent.asname.name, cst.Name):
                return parent.asname.name.value
            return None
        target = assigned_target(node, self.ctx)
        if isinstance(target, cst.Name):
            return target.value
        # ``pages = boto3.client("s3").get_paginator(...)``: what the chain gives is bound instead
        holder: cst.CSTNode = node
        for anc in self.ctx.ancestors(node):
            if isinstance(anc, (cst.Attribute, cst.Call)) and not (isinstance(anc, cst.Call) and holder in anc.args):
                holder = anc
                continue
            break
        if holder is not node and _resource_step(holder, skip=node):
            target = assigned_target(holder, self.ctx)
            if isinstance(target, cst.Name):
                return target.value
        return None

    def _varying_arguments(self, node: cst.Call) -> bool:
        """The client is built from values that may change between calls (not only literals)."""
        return any(not is_literal(arg.value) for arg in node.args)

    def _boto3_session_client(self, node: cst.Call) -> bool:
        """``boto3.Session(...).client("s3")`` / ``.resource(...)``, or ``session.client(...)`` where every
        binding of the local ``session`` in the function is ``boto3.Session(...)``."""
        func = node.func
        if not (isinstance(func, cst.Attribute) and func.attr.value in {"client", "resource"}):
            return False
        if isinstance(func.value, cst.Call):
            return self.ctx.qualified_name(func.value.func) in _BOTO3_SESSIONS
        if not isinstance(func.value, cst.Name):
            return False
        scope = self.ctx.enclosing_function(node)
        bindings = self.ctx.memo(local_binding_index, scope, True).get(func.value.value) if scope is not None else None
        values = [(kind, value) for kind, value in bindings or () if kind != "annotation"]  # ``session: Final = ...``
        return bool(values) and all(
            kind == "value" and isinstance(value, cst.Call) and self.ctx.qualified_name(value.func) in _BOTO3_SESSIONS
            for kind, value in values
        )

    def _fixable(self, node: cst.Call, func: cst.FunctionDef) -> bool:
        if isinstance(self.ctx.parent(node), cst.WithItem):
            return False  # ``with OpenAI() as client:`` closes it on exit
        if callee_differs_at_module_level(node, func, self.ctx):
            return False  # ``def f(OpenAI): OpenAI()``: the factory would build another class
        if has_uncacheable_arg(node, func, self.ctx):
            return False  # ``default_headers=headers``, ``**kwargs``, ``http_client=httpx.Client()``
        target = assigned_target(node, self.ctx)
        return not (isinstance(target, cst.Name) and closed_or_context_managed(target.value, func))


_LISTING_METHODS = frozenset({"all", "filter", "paginate", "list", "scan", "limit", "page_size", "iterator", "iter_pages"})
"""Calls that page through a remote collection (``bucket.objects.filter(...)``, ``paginator.paginate(...)``)."""


def _resource_step(expr: cst.BaseExpression, skip: cst.CSTNode | None = None) -> bool:
    """``s3.Bucket(name)``, ``client.get_paginator(op)``, ``bucket.objects``: an object taken from a client
    that makes no request by itself (a resource, a paginator, a collection)."""
    for node in (expr, *walk(expr)):
        if node is skip:
            continue
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
            method = node.func.attr.value
            if not (method[:1].isupper() or method == "get_paginator"):
                return False
    return True


def _lists(expr: cst.BaseExpression) -> bool:
    for node in (expr, *walk(expr)):
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
            method = node.func.attr.value
            if method in _LISTING_METHODS or method.startswith("list_"):
                return True
    return False


def _iterates_its_listing(name: str, func: cst.FunctionDef) -> bool:
    """A loop in ``func`` pages through a remote collection the client bound to ``name`` gives, directly
    or through a resource taken from it (``bucket = s3.Bucket(b)``; ``for obj in
    bucket.objects.filter(...)``; ``client.get_paginator(op).paginate(...)``): one client serves the
    whole batch (a listing, then requests per item), so its set-up is paid once per batch. A response
    (``for r in client.rerank(...).results``, a stream) is not a listing.

    Walks ``func`` itself (the rule context knows parents only up to the node being visited)."""
    scopes = FUNCTION_BOUNDARIES
    names = {name}
    changed = True
    while changed:
        changed = False
        for node in walk(func.body, stop=scopes):
            if isinstance(node, cst.Assign) and len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Name):
                target = node.targets[0].target.value
                if target not in names and referenced_names(node.value) & names and _resource_step(node.value):
                    names.add(target)
                    changed = True
    for node in walk(func.body, stop=scopes):
        if isinstance(node, (cst.For, cst.CompFor)) and referenced_names(node.iter) & names and _lists(node.iter):
            return True
    return False


def _factory_name(callee: str) -> str:
    """``OpenAI`` -> ``_get_openai_client``; ``boto3.client`` -> ``_get_boto3_client``; ``ChatOpenAI`` -> ``_get_chat_openai``."""
    parts = callee.split(".")
    last = parts[-1]
    if last in {"client", "resource"} and len(parts) > 1:
        word = f"{camel_to_snake(parts[-2])}_{last}"
    else:
        word = camel_to_snake(last).replace("open_ai", "openai")
        if last in {"Client", "ClientV2", "AsyncClient", "AsyncClientV2"} and len(parts) > 1:
            word = f"{camel_to_snake(parts[-2])}_{word}"
        if not re.search(r"(client|client_v\d+|embeddings)$|(^|_)chat_", word):
            word += "_client"
    return "_get_" + word
