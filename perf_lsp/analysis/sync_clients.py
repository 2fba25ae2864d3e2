"""Sync SDK clients and drivers whose method calls block on the network: which call is one, and what to use instead.

A call blocks when its receiver chain starts at an object the code shows was built by
a sync client constructor (a module-level name, a local, ``self.x`` the class assigns,
a parameter annotated with the class) and the chain and method are the ones that send
a request: ``self.client.chat.completions.create(...)`` on an ``openai.OpenAI``,
``cache.get(key)`` on a ``redis.Redis``, ``mongo["app"]["users"].find_one(q)`` on a
``pymongo.MongoClient``, ``s3.put_object(...)`` on a ``boto3.client("s3")``,
``table.put_item(...)`` on a ``boto3.resource("dynamodb").Table(name)``. The async
clients of the same SDKs (``AsyncOpenAI``, ``redis.asyncio.Redis``, motor,
``AsyncMongoClient``...) are catalogued too, so that a receiver that may be either is
not reported.

Sources (the SDKs' own reference pages, for the constructors and the request methods):

- OpenAI: https://github.com/openai/openai-python (``OpenAI``/``AzureOpenAI`` and ``AsyncOpenAI``/``AsyncAzureOpenAI``;
  resources such as ``client.chat.completions.create``, ``client.embeddings.create``)
- Anthropic: https://github.com/anthropics/anthropic-sdk-python (``Anthropic``, ``AsyncAnthropic``; ``client.messages.create``)
- Groq, Together: OpenAI-compatible SDKs (https://github.com/groq/groq-python, https://github.com/togethercomputer/together-python)
- Mistral: https://github.com/mistralai/client-python (``Mistral``; ``client.chat.complete``, ``client.embeddings.create``)
- Cohere: https://docs.cohere.com/reference/about (``cohere.Client``/``ClientV2``; ``chat``, ``embed``, ``rerank``)
- Ollama: https://github.com/ollama/ollama-python (``ollama.Client``/``AsyncClient``; ``chat``, ``generate``, ``embed``)
- redis-py: https://redis.readthedocs.io/en/stable/ (``redis.Redis``, ``redis.from_url``; ``redis.asyncio.Redis``)
- PyMongo: https://pymongo.readthedocs.io/en/stable/api/pymongo/collection.html (``MongoClient``; collection
  operations); motor: https://motor.readthedocs.io/
- boto3: https://boto3.amazonaws.com/v1/documentation/api/latest/index.html (``boto3.client``, ``boto3.resource``,
  ``Session.client``; ``generate_presigned_url`` and ``get_paginator`` make no request)
"""

from __future__ import annotations

import libcst as cst

from perf_lsp.analysis.receivers import TypeCatalog, resolver
from perf_lsp.analysis.semantic import SemanticModel

_OPENAI_LIKE = "openai"
_ANTHROPIC = "anthropic"
_MISTRAL = "mistral"
_COHERE = "cohere"
_OLLAMA = "ollama"
_REDIS = "redis"
_MONGO_CLIENT = "mongo_client"
_MONGO_DB = "mongo_db"
_MONGO_COLLECTION = "mongo_collection"
_BOTO3_SESSION = "boto3_session"
_BOTO3_CLIENT = "boto3_client"
_BOTO3_RESOURCE = "boto3_resource"
_BOTO3_ITEM = "boto3_item"
_ASYNC = "async"

_SYNC_CONSTRUCTORS = {
    "openai.OpenAI": _OPENAI_LIKE,
    "openai.AzureOpenAI": _OPENAI_LIKE,
    "groq.Groq": _OPENAI_LIKE,
    "together.Together": _OPENAI_LIKE,
    "anthropic.Anthropic": _ANTHROPIC,
    "anthropic.AnthropicBedrock": _ANTHROPIC,
    "anthropic.AnthropicVertex": _ANTHROPIC,
    "mistralai.Mistral": _MISTRAL,
    "cohere.Client": _COHERE,
    "cohere.ClientV2": _COHERE,
    "ollama.Client": _OLLAMA,
    "redis.Redis": _REDIS,
    "redis.StrictRedis": _REDIS,
    "redis.client.Redis": _REDIS,
    "redis.Redis.from_url": _REDIS,
    "redis.from_url": _REDIS,
    "redis.RedisCluster": _REDIS,
    "redis.cluster.RedisCluster": _REDIS,
    "pymongo.MongoClient": _MONGO_CLIENT,
    "pymongo.mongo_client.MongoClient": _MONGO_CLIENT,
    "boto3.client": _BOTO3_CLIENT,
    "boto3.resource": _BOTO3_RESOURCE,
    "boto3.Session": _BOTO3_SESSION,
    "boto3.session.Session": _BOTO3_SESSION,
}

_ASYNC_CONSTRUCTORS = (
    "openai.AsyncOpenAI",
    "openai.AsyncAzureOpenAI",
    "groq.AsyncGroq",
    "together.AsyncTogether",
    "anthropic.AsyncAnthropic",
    "anthropic.AsyncAnthropicBedrock",
    "anthropic.AsyncAnthropicVertex",
    "cohere.AsyncClient",
    "cohere.AsyncClientV2",
    "ollama.AsyncClient",
    "redis.asyncio.Redis",
    "redis.asyncio.from_url",
    "redis.asyncio.Redis.from_url",
    "redis.asyncio.client.Redis",
    "redis.asyncio.RedisCluster",
    "motor.motor_asyncio.AsyncIOMotorClient",
    "pymongo.AsyncMongoClient",
    "pymongo.asynchronous.mongo_client.AsyncMongoClient",
    "aioboto3.Session",
)

CATALOG = TypeCatalog(
    constructors={**_SYNC_CONSTRUCTORS, **{qn: _ASYNC for qn in _ASYNC_CONSTRUCTORS}},
    methods={
        (_BOTO3_SESSION, "client"): _BOTO3_CLIENT,
        (_BOTO3_SESSION, "resource"): _BOTO3_RESOURCE,
        (_BOTO3_RESOURCE, "Table"): _BOTO3_ITEM,
        (_BOTO3_RESOURCE, "Bucket"): _BOTO3_ITEM,
        (_BOTO3_RESOURCE, "Object"): _BOTO3_ITEM,
        (_BOTO3_RESOURCE, "Queue"): _BOTO3_ITEM,
        (_MONGO_CLIENT, "get_database"): _MONGO_DB,
        (_MONGO_CLIENT, "get_default_database"): _MONGO_DB,
        (_MONGO_DB, "get_collection"): _MONGO_COLLECTION,
    },
)
"""Sync SDK clients (and what their factory methods give), and their async twins tagged ``async``."""

SDK_IMPORT_ROOTS = frozenset(qn.split(".", 1)[0] for qn in _SYNC_CONSTRUCTORS)
"""Top-level packages of the sync clients: a module that imports none of them cannot build one."""

_INSTEAD = {
    _OPENAI_LIKE: "the SDK's async client (AsyncOpenAI, AsyncGroq...), or await asyncio.to_thread(...)",
    _ANTHROPIC: "anthropic.AsyncAnthropic, or await asyncio.to_thread(...)",
    _MISTRAL: "the client's async methods (complete_async, create_async), or await asyncio.to_thread(...)",
    _COHERE: "cohere.AsyncClient, or await asyncio.to_thread(...)",
    _OLLAMA: "ollama.AsyncClient, or await asyncio.to_thread(...)",
    _REDIS: "redis.asyncio.Redis, or await asyncio.to_thread(...)",
    _MONGO_CLIENT: "pymongo's AsyncMongoClient (or motor), or await asyncio.to_thread(...)",
    _BOTO3_CLIENT: "aioboto3 (or aiobotocore), or await asyncio.to_thread(...)",
    _BOTO3_RESOURCE: "aioboto3 (or aiobotocore), or await asyncio.to_thread(...)",
}
_INSTEAD[_MONGO_DB] = _INSTEAD[_MONGO_COLLECTION] = _INSTEAD[_MONGO_CLIENT]
_INSTEAD[_BOTO3_ITEM] = _INSTEAD[_BOTO3_SESSION] = _INSTEAD[_BOTO3_CLIENT]

SDK_SUGGESTIONS = frozenset(_INSTEAD.values())
"""What :func:`sync_client_call` suggests instead, one per SDK: tells its findings from the other blocking calls'."""

# Resource methods that send a request (openai-python, anthropic-sdk-python, mistralai: ``client.<resource>.<method>``).
_RESOURCE_METHODS = frozenset(
    {
        "create", "parse", "stream", "retrieve", "list", "delete", "update", "cancel", "complete",
        "generate", "edit", "upload", "content", "create_and_poll", "upload_and_poll", "count_tokens",
    }
)
# Calls inside an SDK chain that configure rather than send: ``client.with_options(timeout=5).chat...``.
_CONFIGURING = frozenset({"with_options", "copy", "with_raw_response", "with_streaming_response"})
_COHERE_METHODS = frozenset({"chat", "chat_stream", "embed", "rerank", "generate", "classify", "tokenize", "summarize"})
_OLLAMA_METHODS = frozenset({"chat", "generate", "embed", "embeddings", "pull", "push", "list", "show", "ps", "create"})
# redis-py client methods that send nothing: a pipeline or lock is built here and sends later.
_REDIS_LOCAL = frozenset(
    {"pipeline", "lock", "pubsub", "register_script", "get_encoder", "get_connection_kwargs", "monitor", "close"}
)
_MONGO_OPERATIONS = frozenset(
    {
        "find", "find_one", "insert_one", "insert_many", "update_one", "update_many", "replace_one",
        "delete_one", "delete_many", "aggregate", "count_documents", "estimated_document_count", "distinct",
        "bulk_write", "find_one_and_update", "find_one_and_replace", "find_one_and_delete", "create_index",
        "list_collection_names", "command", "drop",
    }
)
_MONGO_NAVIGATION = frozenset({"get_database", "get_default_database", "get_collection"})
# boto3 client methods that make no request (signing is local; a paginator or waiter sends when used).
_BOTO3_LOCAL = frozenset(
    {"get_paginator", "get_waiter", "can_paginate", "generate_presigned_url", "generate_presigned_post", "close"}
)
_BOTO3_ITEM_LOCAL = frozenset({"batch_writer"})

_MAX_CHAIN = 6


def sync_client_call(call: cst.Call, ctx: SemanticModel, scopes: list[cst.CSTNode]) -> tuple[str, str] | None:
    """(label, what to use instead) when ``call`` sends a request through a sync SDK client or driver, else None.

    ``scopes``: the functions, lambdas, comprehensions and classes around ``call``,
    innermost first (as :meth:`~perf_lsp.analysis.receivers.CatalogResolver.kind` takes
    them). The label is the call's receiver chain and method (``self.client.chat.completions.create``).
    The root must be a sync client however the code binds it (a binding to ``None``
    does not count: no method is called on it), so a receiver that may be an async
    client of the catalogue, or anything else, is never reported; nor one whose root
    the code does not show (see the module docstring); nor an awaited call (a
    client annotated ``OpenAI`` but awaited is an async one in fact).
    """
    func = call.func
    if not isinstance(func, cst.Attribute) or isinstance(ctx.parent(call), cst.Await):
        return None  # awaited: whatever the annotation says, the object is an async client
    if not (SDK_IMPORT_ROOTS & _import_roots(ctx)):
        return None  # neither built nor annotated here: nothing to follow
    method = func.attr.value
    steps: list[tuple[str, str]] = []  # from the root outwards: ("attr", name), ("item", ""), ("call", name)
    expr: cst.BaseExpression = func.value
    receivers = resolver(ctx, CATALOG)
    tag: str | None = None
    for _ in range(_MAX_CHAIN):
        if isinstance(expr, (cst.Name, cst.Attribute, cst.Call)):
            tag = receivers.kind(expr, scopes)  # "must be": every way the code binds it gives this tag
            if tag is not None:
                break
        if isinstance(expr, cst.Attribute):
            steps.insert(0, ("attr", expr.attr.value))
            expr = expr.value
        elif isinstance(expr, cst.Subscript):
            steps.insert(0, ("item", ""))
            expr = expr.value
        elif isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute):
            steps.insert(0, ("call", expr.func.attr.value))
            expr = expr.func.value
        else:
            return None
    if tag is None or tag == _ASYNC:
        return None
    if not _sends(tag, steps, method):
        return None
    return f"{_short(ctx.code(func.value))}.{method}", _INSTEAD[tag]


_LAZY_METHODS = frozenset({"find", "aggregate", "stream", "scan_iter", "hscan_iter", "sscan_iter", "zscan_iter"})


def returns_lazy_result(call: cst.Call) -> bool:
    """Whether an SDK call returns something that sends (or reads) more when it is iterated: a
    pymongo cursor (``find``, ``aggregate``), a streamed completion (``stream=True``, ``.stream(...)``),
    a redis ``scan_iter``. Moving only the call to a worker thread would leave that on the event loop."""
    func = call.func
    if isinstance(func, cst.Attribute) and func.attr.value in _LAZY_METHODS:
        return True
    for arg in call.args:
        if arg.star == "**":
            return True
        if arg.keyword is not None and arg.keyword.value == "stream":
            return not (isinstance(arg.value, cst.Name) and arg.value.value == "False")
    return False


def _sends(tag: str, steps: list[tuple[str, str]], method: str) -> bool:
    """Whether ``method``, reached from a root of ``tag`` through ``steps``, sends a request."""
    calls = [name for kind, name in steps if kind == "call"]
    if tag in (_OPENAI_LIKE, _ANTHROPIC, _MISTRAL):
        attrs = [name for kind, name in steps if kind == "attr"]
        return (
            bool(attrs)
            and all(kind != "item" for kind, _ in steps)
            and all(name in _CONFIGURING for name in calls)
            and method in _RESOURCE_METHODS
        )
    if tag == _COHERE:
        return not steps and method in _COHERE_METHODS
    if tag == _OLLAMA:
        return not steps and method in _OLLAMA_METHODS
    if tag == _REDIS:
        return not steps and method not in _REDIS_LOCAL and not method.startswith("_")
    if tag in (_MONGO_CLIENT, _MONGO_DB, _MONGO_COLLECTION):
        depth = {_MONGO_CLIENT: 2, _MONGO_DB: 1, _MONGO_COLLECTION: 0}[tag]
        if any(kind == "call" and name not in _MONGO_NAVIGATION for kind, name in steps):
            return False
        return len(steps) == depth and method in _MONGO_OPERATIONS
    if tag == _BOTO3_CLIENT:
        return not steps and method not in _BOTO3_LOCAL and not method.startswith("_") and method.islower()
    if tag == _BOTO3_RESOURCE:
        return (
            len(steps) == 1 and steps[0][0] == "call" and steps[0][1][:1].isupper()
            and method.islower() and method not in _BOTO3_ITEM_LOCAL
        )
    if tag == _BOTO3_ITEM:
        return not steps and method.islower() and method not in _BOTO3_ITEM_LOCAL and not method.startswith("_")
    return False


def _import_roots(ctx: SemanticModel) -> set[str]:
    roots = {qn.split(".", 1)[0] for _, qn in ctx.module_ctx.imports}
    roots |= {qn.split(".", 1)[0] for qn in ctx.local_imports.values()}
    return roots


def _short(code: str) -> str:
    """One line, at most 60 characters."""
    line = " ".join(code.split())
    return line if len(line) <= 60 else line[:57] + "..."
