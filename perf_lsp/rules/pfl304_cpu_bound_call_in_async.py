"""PFL304 cpu-bound-call-in-async, and its codemod (shared with PFL303)."""

from __future__ import annotations

import libcst as cst

from perf_lsp.analysis.concurrency import held_thread_lock, uses_other_event_loop
from perf_lsp.analysis.loops import per_item_in_loop
from perf_lsp.analysis.receivers import CatalogResolver, FamilyCatalog, TypeCatalog, resolver
from perf_lsp.analysis.tree import COMPREHENSIONS, dotted
from perf_lsp.fix.rewrites import to_thread_fix
from perf_lsp.model import Applicability
from perf_lsp.rules.base import Rule, RuleContext, short_code
from perf_lsp.rules.heuristics import is_test_function

_SENTENCE = "sentence-transformers model"
_CROSS = "cross-encoder"
_PIPELINE = "transformers pipeline"
_SPACY = "spaCy pipeline"
_HF_MODEL = "transformers model"
_TOKENIZER = "tokenizer"
_PROCESSOR = "transformers processor"

_CONSTRUCTORS = {
    "sentence_transformers.SentenceTransformer": _SENTENCE,
    "sentence_transformers.SentenceTransformer.SentenceTransformer": _SENTENCE,
    "sentence_transformers.CrossEncoder": _CROSS,
    "sentence_transformers.cross_encoder.CrossEncoder": _CROSS,
    "sentence_transformers.cross_encoder.CrossEncoder.CrossEncoder": _CROSS,
    "transformers.pipeline": _PIPELINE,
    "transformers.pipelines.pipeline": _PIPELINE,
    "spacy.load": _SPACY,
}
_ANNOTATIONS = {
    "sentence_transformers.SentenceTransformer": _SENTENCE,
    "sentence_transformers.SentenceTransformer.SentenceTransformer": _SENTENCE,
    "sentence_transformers.CrossEncoder": _CROSS,
    "sentence_transformers.cross_encoder.CrossEncoder": _CROSS,
    "transformers.Pipeline": _PIPELINE,
    "transformers.pipelines.Pipeline": _PIPELINE,
    "transformers.pipelines.base.Pipeline": _PIPELINE,
    "spacy.Language": _SPACY,
    "spacy.language.Language": _SPACY,
    "transformers.PreTrainedModel": _HF_MODEL,
    "transformers.modeling_utils.PreTrainedModel": _HF_MODEL,
    "transformers.PreTrainedTokenizer": _TOKENIZER,
    "transformers.PreTrainedTokenizerFast": _TOKENIZER,
    "transformers.PreTrainedTokenizerBase": _TOKENIZER,
}

METHODS: dict[str, frozenset[str]] = {
    _SENTENCE: frozenset({"encode", "encode_query", "encode_document", "encode_multi_process"}),
    _CROSS: frozenset({"predict", "rank"}),
    _PIPELINE: frozenset({"__call__"}),
    _SPACY: frozenset({"__call__"}),
    _HF_MODEL: frozenset({"__call__", "generate"}),
    _TOKENIZER: frozenset({"__call__", "encode", "encode_plus", "batch_encode_plus"}),
    _PROCESSOR: frozenset({"__call__"}),
}
"""What runs the model (or the tokenizer) for each kind of object: ``__call__`` is calling the object itself."""

_ALL_METHODS = frozenset(m for methods in METHODS.values() for m in methods if m != "__call__")
_PACKAGES = ("sentence_transformers", "transformers", "spacy")

# Password hashing: key derivations made slow on purpose (bcrypt cost 12 is about 0.2 s of CPU, scrypt and
# PBKDF2 as configured for passwords tens of ms or more). Sources: the bcrypt, hashlib, passlib, argon2-cffi,
# werkzeug.security and django.contrib.auth.hashers documentation.
_PASSWORD_HASH_CALLS = frozenset(
    {
        "bcrypt.checkpw", "bcrypt.hashpw", "bcrypt.kdf", "hashlib.scrypt", "hashlib.pbkdf2_hmac",
        "werkzeug.security.check_password_hash", "werkzeug.security.generate_password_hash",
        "django.contrib.auth.hashers.check_password", "django.contrib.auth.hashers.make_password",
    }
)
_PASSWORD_HASHERS = TypeCatalog(
    constructors={
        "passlib.context.CryptContext": "hasher",
        "passlib.hash.bcrypt.using": "hasher",
        "argon2.PasswordHasher": "hasher",
        "argon2.PasswordHasher.from_parameters": "hasher",
    }
)
_HASHER_METHODS = frozenset({"hash", "verify", "verify_and_update"})
# Functions and methods named for a password hash or check: every implementation worth its name runs
# a slow key derivation (the FastAPI security tutorial's ``verify_password``/``get_password_hash`` wrap bcrypt).
_PASSWORD_FUNCTION_NAMES = frozenset(
    {"verify_password", "hash_password", "check_password", "get_password_hash", "check_password_hash",
     "generate_password_hash", "make_password"}
)
_PASSWORD_WORDS = ("bcrypt", "scrypt", "pbkdf2", "passlib", "argon2", "password")


def _transformers_class_kind(name: str) -> str | None:
    """``AutoTokenizer`` -> tokenizer, ``AutoModelForCausalLM``/``BertModel`` -> model, ``AutoConfig`` -> None."""
    if "Tokenizer" in name:
        return _TOKENIZER
    if "Config" in name:
        return None
    if "Processor" in name or "FeatureExtractor" in name:
        return _PROCESSOR
    if name.startswith("Auto") or "Model" in name or "For" in name:
        return _HF_MODEL
    return None


def constructor_kind(qualified: str | None) -> str | None:
    """The kind of model a call of ``qualified`` builds, or None."""
    if not qualified:
        return None
    kind = _CONSTRUCTORS.get(qualified)
    if kind is not None:
        return kind
    parts = qualified.split(".")
    if len(parts) >= 3 and parts[0] == "transformers" and parts[-1] == "from_pretrained":
        return _transformers_class_kind(parts[-2])
    return None


def annotation_kind(qualified: str) -> str | None:
    """The kind of model an annotation names, or None."""
    kind = _ANNOTATIONS.get(qualified)
    if kind is not None:
        return kind
    parts = qualified.split(".")
    if len(parts) == 2 and parts[0] == "transformers":
        return _transformers_class_kind(parts[1])
    return None



def _family(kind: str) -> FamilyCatalog:
    return FamilyCatalog(
        lambda qualified: constructor_kind(qualified) == kind,
        lambda qualified: annotation_kind(qualified) == kind,
        factories=True,
    )


_CATALOGS = {kind: _family(kind) for kind in METHODS}

class CpuBoundCallInAsync(Rule):
    """
    ## What it does
    Reports model inference run directly in an ``async def``: a
    sentence-transformers model's ``encode``, a ``CrossEncoder``'s
    ``predict``/``rank``, a ``transformers`` model's ``generate`` or call, a
    ``transformers`` ``pipeline(...)`` object called, a tokenizer or processor
    loaded with ``from_pretrained`` called or ``encode``-d, and a spaCy pipeline
    (``spacy.load(...)``) called as ``nlp(text)``.

    Also reported: password hashing and checking, key derivations slow by design
    (bcrypt at cost 12 takes about 0.2 s of CPU): ``bcrypt.checkpw``/``hashpw``,
    ``hashlib.scrypt``/``pbkdf2_hmac``, werkzeug's and Django's
    ``check_password_hash``/``generate_password_hash``/``check_password``/``make_password``,
    ``hash``/``verify`` on a passlib ``CryptContext`` or an argon2 ``PasswordHasher``,
    and any function or method, not awaited, named ``verify_password``,
    ``hash_password``, ``check_password`` or ``get_password_hash`` (the names of the
    helpers that wrap them).

    The receiver must be known to be such an object, resolved as PFL201 does: a
    module-level model, a ``self.x`` the class assigns or annotates as one, a local
    built in the function, a parameter annotated with the class, or the result of a
    cached factory of it. ``str.encode``, ``tiktoken`` encoders and receivers that
    cannot be resolved are never reported. Not reported either: calls handed to a
    thread (``await asyncio.to_thread(model.encode, text)``,
    ``loop.run_in_executor(None, model.encode, text)``, a ``lambda``), calls in a
    sync ``def``, test functions (``test_*``), and ``nlp.pipe(...)`` (lazy: the
    work happens where it is iterated). In a module that imports ``trio``,
    ``anyio`` or ``curio`` the call is reported without a fix.

    ## Why is this bad?
    Inference holds the event loop's only thread for its whole duration (CPU
    inference also holds much of the GIL; GPU inference waits for the device):
    every other request, timer and health check of the service waits. Measured with
    all-MiniLM-L6-v2 on a 2-core CPU (``benchmarks/bench_costs.py``,
    ``docs/costs.md``): an ``encode`` of 64 texts in an ``async def`` stalled a
    5 ms timer on the same loop by about 440 ms; the same call through
    ``asyncio.to_thread`` delayed it by under 5 ms. The asyncio documentation
    recommends running such code in a thread or process pool.

    ## Example
    ```python
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer("all-MiniLM-L6-v2")

    async def embed(request):
        vector = model.encode(request.text)
        return {"embedding": vector.tolist()}
    ```

    ## Use instead
    ```python
    import asyncio

    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer("all-MiniLM-L6-v2")

    async def embed(request):
        vector = await asyncio.to_thread(model.encode, request.text)
        return {"embedding": vector.tolist()}
    ```
    For heavy CPU load, a process pool or a separate model server (batching
    requests) scales further than threads.

    ## Fix safety
    Unsafe. The fix, offered where the call sits directly in the ``async def``
    (not in a comprehension or lambda), becomes ``await asyncio.to_thread(func,
    *args, **kwargs)`` and adds ``import asyncio`` when needed. The call then runs
    in a thread of the default executor, concurrently with other requests'
    calls on the same model: PyTorch models are usually fine, but a ``transformers``
    fast tokenizer shared between threads can raise ``RuntimeError: Already
    borrowed``, and a model with per-call state (a spaCy pipeline adding to its
    vocabulary) is not thread-safe. The executor's thread count caps how many
    calls run at once, and context variables are copied into the thread. The
    ``await`` is a point where other tasks interleave: code that relied on not
    being interrupted there can behave differently.

    No fix while a threading lock is held: inside ``with threading.Lock():``,
    ``with self._lock:`` (a ``threading``/``multiprocessing`` lock, condition or
    semaphore, found by its constructor or by a name like ``*lock``/``*mutex``) or
    between ``lock.acquire()`` and ``lock.release()``. Awaiting there suspends the
    coroutine with the lock held; another task that reaches the lock blocks the
    event loop thread, so the first can never resume to release it: a deadlock.
    Use an ``asyncio.Lock`` (``async with``) around the ``await``; the message
    says so.

    No fix either for a call made once per item of a ``for`` loop whose items look
    independent (the rule of PFL303: the call reads the loop variable or a name the
    body binds, nothing it reads is changed by the body, and the body neither
    awaits, paces itself, returns, yields nor breaks): awaited there it would be an
    ``await`` in a loop, which PFL302 reports. Batch the items in one call
    (``model.encode(texts)``), or move the whole loop into a function run with one
    ``await asyncio.to_thread(...)``; the message says so. A call in a ``while`` or
    ``async for`` loop, or in a loop PFL302 leaves alone, keeps its fix.

    ## References
    - [Python: Developing with asyncio, running blocking code](https://docs.python.org/3/library/asyncio-dev.html#running-blocking-code)
    - [Python: asyncio.to_thread](https://docs.python.org/3/library/asyncio-task.html#asyncio.to_thread)
    - Measured figures: `docs/costs.md`, made by `benchmarks/bench_costs.py`
    """

    code = "PFL304"
    name = "cpu-bound-call-in-async"
    message = "Model inference in `async def` blocks the event loop; run it in a worker thread"
    fix_title = "Run the inference in a worker thread with asyncio.to_thread"
    fix_safety = Applicability.UNSAFE
    triggers = r"async(?<=\basync)\s+def\b"

    @classmethod
    def applies_to(cls, text, module_ctx, settings) -> bool:
        if not super().applies_to(text, module_ctx, settings):
            return False
        if any(package in text for package in _PACKAGES) or any(word in text for word in _PASSWORD_WORDS):
            return True
        return any(root in _PACKAGES for root in module_ctx.import_roots)

    @classmethod
    def wants(cls, summary, settings) -> bool:
        return summary.has_async_def

    def __init__(self, ctx: RuleContext) -> None:
        super().__init__(ctx)
        self._cache: dict[tuple, bool] = {}

    def _resolver(self, kind: str) -> CatalogResolver:
        """The receiver inference for one kind of model; a cached factory of it counts too."""
        return resolver(self.ctx, _CATALOGS[kind])

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not isinstance(func, (cst.Name, cst.Attribute)):
            return
        if isinstance(func, cst.Attribute) and func.attr.value == "pipe":
            return
        enclosing = self.ctx.enclosing_function(node)
        if enclosing is None or enclosing.asynchronous is None or is_test_function(enclosing):
            return
        found = self._kind(node)
        hashing = None if found is not None else self._password_hash(node)
        if found is None and hashing is None:
            return
        if hashing is not None:
            runs = f"`{hashing}` hashes a password (a key derivation slow by design) on the event loop in `async def`"
        else:
            kind, shown = found
            runs = f"`{shown}` runs {_article(kind)} {kind} on the event loop in `async def`"
        message = f"{runs}; run it in a worker thread with asyncio.to_thread"
        fix = None
        other_loop = uses_other_event_loop(self.ctx)  # trio/anyio code cannot await asyncio.to_thread
        lock = None if other_loop else held_thread_lock(node, self.ctx, enclosing)
        if lock is not None:  # awaiting here keeps the lock across a suspension: no fix (see Fix safety)
            message = (
                f"{runs} while threading lock `{short_code(lock)}` is held; an await here would keep the lock "
                "across a suspension and can deadlock: use an asyncio.Lock, then await asyncio.to_thread"
            )
        elif not other_loop:
            fix = to_thread_fix(node, self.ctx)
            if fix is not None and per_item_in_loop(node, enclosing, self.ctx):
                fix = None  # awaited once per item, it would be PFL302's finding: the fix must not create one
                message += _PER_ITEM_HINT
        self.report(node, message=message, fix=fix, detail="In an async handler: blocks every other request for that long.")

    def _password_hash(self, call: cst.Call) -> str | None:
        """What the message shows when ``call`` hashes or checks a password, else None: a call of
        :data:`_PASSWORD_HASH_CALLS`, ``hash``/``verify`` on a passlib ``CryptContext`` or an argon2
        ``PasswordHasher``, or a function or method named ``verify_password``, ``hash_password``... that
        is not awaited (an ``async def`` of that name runs its hash elsewhere)."""
        func = call.func
        qualified = self.ctx.qualified_name(func)
        if qualified in _PASSWORD_HASH_CALLS:
            return f"{qualified}(...)"
        name = func.attr.value if isinstance(func, cst.Attribute) else (func.value if isinstance(func, cst.Name) else "")
        if isinstance(self.ctx.parent(call), cst.Await):
            return None
        if isinstance(func, cst.Attribute) and name in _HASHER_METHODS:
            if resolver(self.ctx, _PASSWORD_HASHERS).is_instance(func.value, call):
                return f"{short_code(self.ctx.code(func.value))}.{name}(...)"
            return None
        if name in _PASSWORD_FUNCTION_NAMES:
            return f"{short_code(self.ctx.code(func))}(...)"
        return None

    def _kind(self, call: cst.Call) -> tuple[str, str] | None:
        """(kind of model, what the message shows) when ``call`` runs a model, else None."""
        func = call.func
        if isinstance(func, cst.Attribute) and func.attr.value in _ALL_METHODS:
            for kind, methods in METHODS.items():
                if func.attr.value in methods and self._resolves(kind, func.value, call):
                    return kind, f"{short_code(self.ctx.code(func.value))}.{func.attr.value}"
        if self.ctx.qualified_name(func) is not None:
            return None  # an imported function or a module's attribute, not a model object
        for kind, methods in METHODS.items():
            if "__call__" in methods and self._resolves(kind, func, call):
                return kind, f"{short_code(self.ctx.code(func))}(...)"
        return None

    def _resolves(self, kind: str, expr: cst.BaseExpression, at: cst.CSTNode) -> bool:
        """``expr`` (a name or ``self.x``) is a model of ``kind``; cached per function and spelling."""
        name = dotted(expr)
        if name is None:
            return self._resolver(kind).is_instance(expr, at)
        key = (id(self.ctx.enclosing_function(at)), id(self._comprehension(at)), name, kind)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = self._resolver(kind).is_instance(expr, at)
        return found

    def _comprehension(self, node: cst.CSTNode) -> cst.CSTNode | None:
        for anc in self.ctx.ancestors(node):
            if isinstance(anc, (*COMPREHENSIONS, cst.Lambda)):
                return anc
            if isinstance(anc, cst.FunctionDef):
                return None
        return None


_PER_ITEM_HINT = (
    "; it runs once per item of this loop: batch the items in one call, or run the whole loop "
    "in one worker thread (await asyncio.to_thread(helper, items))"
)


def _article(kind: str) -> str:
    return "an" if kind[0] in "aeiou" else "a"
