"""How often code runs: a project index of functions, call sites and entry points.

:class:`ProjectIndex` reads many files with :mod:`ast` (no libcst) and sorts every
function into one of three kinds (:class:`Hotness`):

- ``HOT``: a request handler (FastAPI/Starlette/Flask/Django/aiohttp routes and
  WebSocket handlers, by decorator or ``add_route``-style registration), a bot or queue
  handler (Celery/Dramatiq tasks, RQ ``enqueue``, Telegram/aiogram/Discord/Slack
  handlers), or a function such a handler calls, directly or up to
  :data:`MAX_DEPTH` calls away.
- ``COLD``: test code (every function of a file under ``tests/`` or named ``test_*.py``,
  ``*_test.py``, ``conftest.py``), examples, demos, scripts and migrations (by
  directory), the ``if __name__ == "__main__":`` block, CLI commands (click/typer
  decorators, an argparse ``main``), set-up methods (``__init__``, ``setUp``, ...), and
  functions whose only callers are cold.
- ``UNKNOWN``: everything else.

A hot reason beats a cold marker on the function itself (a ``__init__`` of a class
built per request is hot); a cold file beats everything. Each answer carries a
reason a user can read ("called per request from POST /ask (api.py:42)").

Call sites are resolved by bare name (a function of the same module or an imported
one), ``self.method``/``cls.method`` (a method of the enclosing class), ``alias.name``
through ``import`` statements, and ``ClassName(...)`` (its ``__init__``). A function
passed by name as an argument counts as called there. A method name called on an
object the index cannot resolve counts as an unknown caller: it keeps the method
from being judged cold by its known callers alone.

:meth:`ProjectIndex.for_file` gives a small picklable :class:`FileHotness` for one
file, which :func:`filter_diagnostics` uses to drop cold findings and explain hot
ones; it maps a line to its function through the document's own :mod:`ast` nodes,
so it stays right while the document is edited.
"""

from __future__ import annotations

import ast
import enum
import os
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePath

from perf_lsp.analysis.blocking import FunctionFacts, read_function_facts
from perf_lsp.model import Diagnostic

MAX_DEPTH = 6
"""How many calls away from an entry point a function is still hot."""


class Hotness(enum.Enum):
    """How often a site runs: per request or event, rarely (set-up, tests, CLI), or not known."""

    HOT = "hot"
    COLD = "cold"
    UNKNOWN = "unknown"


TEST_DIRS = frozenset({"tests", "test", "testing"})
COLD_DIRS = {
    "examples": "example code",
    "example": "example code",
    "demos": "demo code",
    "demo": "demo code",
    "scripts": "a script",
    "migrations": "a migration",
    "alembic": "a migration",
}
SETUP_METHODS = frozenset(
    {"__init__", "__post_init__", "setUp", "setUpClass", "setup", "setup_method", "setup_class", "on_startup", "startup"}
)
HTTP_METHODS = frozenset({"get", "post", "put", "delete", "patch", "head", "options", "trace"})
ROUTE_DECORATORS = HTTP_METHODS | {"route", "api_route", "websocket", "websocket_route", "view"}
ROUTE_REGISTRATIONS = frozenset(
    {"add_route", "add_api_route", "add_websocket_route", "add_api_websocket_route", "add_url_rule", "add_view"}
    | {f"add_{m}" for m in HTTP_METHODS}
)
TASK_DECORATORS = frozenset({"task", "shared_task", "actor", "job", "periodic_task"})
BOT_DECORATORS = frozenset(
    {
        "message",
        "message_handler",
        "callback_query",
        "callback_query_handler",
        "inline_query",
        "edited_message",
        "channel_post",
        "event",
        "command",
        "action",
        "shortcut",
        "listener",
        "on",
        "on_event",
        "on_message",
        "slash_command",
        "hybrid_command",
        "handler",
    }
)
BOT_HANDLER_CLASSES = frozenset(
    {"CommandHandler", "MessageHandler", "CallbackQueryHandler", "InlineQueryHandler", "ConversationHandler"}
)
BOT_LIBRARIES = ("telegram", "aiogram", "discord", "slack_bolt", "slack_sdk", "socketio", "flask_socketio", "telebot", "pyrogram")
CLI_LIBRARIES = ("click", "typer")
WEB_LIBRARIES = ("fastapi", "starlette", "flask", "aiohttp", "django", "quart", "sanic", "litestar", "rest_framework")
DJANGO_VIEW_BASES = ("View", "APIView", "ViewSet", "GenericAPIView", "ModelViewSet", "HTTPEndpoint", "WebSocketEndpoint", "MethodView")


@dataclass
class Function:
    """One ``def`` of the index: ``qualname`` is ``module.Class.method`` (nested defs: ``module.outer.inner``),
    ``local`` the part after the module; ``line``/``end`` 1-based inclusive."""

    qualname: str
    local: str
    path: str
    line: int
    end: int
    is_async: bool
    class_name: str | None
    calls: list[str] = field(default_factory=list)  # resolved qualified names of callees
    refs: list[str] = field(default_factory=list)  # functions it passes on or defines: they may run later, elsewhere
    unresolved_attrs: list[str] = field(default_factory=list)  # method names called on unknown objects
    entry: tuple[Hotness, str] | None = None  # a marker on the function itself
    facts: list | None = None  # what calling it does (FunctionFacts.to_json), when a caller could be reported for it


@dataclass(frozen=True)
class FileHotness:
    """What :func:`filter_diagnostics` needs of one file: ``file`` is the whole file's answer when it has one
    (test code, examples, ...); ``functions`` maps a local name (``Class.method``, ``outer.inner``, ``func``)
    to its answer (only HOT and COLD are stored); ``main_block`` is the reason for sites in the
    ``if __name__ == "__main__":`` block (None: the file has none); ``helpers`` maps each name the file
    imports from another indexed module to what calling that function does (only functions a
    caller could be reported for; :class:`~perf_lsp.analysis.blocking.FunctionFacts`), so the rules
    judge a call of an imported helper one call deep, as they do a call of the module's own."""

    file: tuple[Hotness, str] | None = None
    functions: tuple[tuple[str, Hotness, str], ...] = ()
    main_block: str | None = None
    helpers: tuple[tuple[str, FunctionFacts], ...] = ()

    def of_local(self, local: str | None) -> tuple[Hotness, str]:
        """The answer for a site in the function named ``local`` (None: module level, not in the main block)."""
        if self.file is not None:
            return self.file
        if local is None:
            return Hotness.UNKNOWN, ""
        table = {name: (hot, reason) for name, hot, reason in self.functions}
        parts = local.split(".")
        while parts:  # the innermost function with an answer
            found = table.get(".".join(parts))
            if found is not None:
                return found
            parts.pop()
        return Hotness.UNKNOWN, ""

    def at(self, nodes: Sequence[ast.stmt], line: int, shift: int = 0) -> tuple[Hotness, str]:
        """The answer for document line ``line`` (1-based) of a top-level statement whose :mod:`ast`
        ``nodes`` carry line numbers ``shift`` lines above the document's."""
        if self.file is not None:
            return self.file
        target = line - shift
        for node in nodes:
            if not node.lineno <= target <= (node.end_lineno or node.lineno):
                continue
            if self.main_block is not None and _is_main_guard(node):
                return Hotness.COLD, self.main_block
            local, in_loop = _locate(node, target)
            hot, reason = self.of_local(local)
            if hot is Hotness.COLD and in_loop:
                # a loop in rarely-run code still multiplies its body by its input's size (a batch job's
                # loop over a corpus): only the per-call cost of the function is cold
                return Hotness.UNKNOWN, ""
            return hot, reason
        return Hotness.UNKNOWN, ""


_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def _locate(node: ast.AST, line: int) -> tuple[str | None, bool]:
    """(the local name of the innermost def around ``line`` in ``node``, or None for module or class-body
    code; whether ``line`` is in a loop or comprehension inside that def)."""
    scope: str | None = None
    prefix = ""
    in_loop = False
    current = node
    while True:
        if isinstance(current, (ast.FunctionDef, ast.AsyncFunctionDef)):
            scope = f"{prefix}{current.name}"
            prefix = scope + "."
            in_loop = False
        elif isinstance(current, ast.ClassDef):
            prefix = f"{prefix}{current.name}."
            scope = None  # class-body code runs once, at import; it is not a function
            in_loop = False
        elif isinstance(current, (ast.For, ast.AsyncFor, ast.While)) and current.body and line >= current.body[0].lineno:
            in_loop = True
        following = None
        for child in ast.iter_child_nodes(current):
            if isinstance(child, (ast.stmt, ast.excepthandler)) and child.lineno <= line <= (child.end_lineno or child.lineno):
                following = child
                break
        if following is None:
            break
        current = following
    if scope is not None and not in_loop and not isinstance(current, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        for sub in ast.walk(current):
            if isinstance(sub, _COMPREHENSIONS) and sub.lineno <= line <= (sub.end_lineno or sub.lineno):
                in_loop = True
                break
    return scope, in_loop


def _is_main_guard(node: ast.AST) -> bool:
    if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare):
        return False
    test = node.test
    sides = [test.left, *test.comparators]
    return (
        len(sides) == 2
        and isinstance(test.ops[0], ast.Eq)
        and any(isinstance(s, ast.Name) and s.id == "__name__" for s in sides)
        and any(isinstance(s, ast.Constant) and s.value == "__main__" for s in sides)
    )


def file_kind(path: str | PurePath, root: str | PurePath | None = None) -> tuple[Hotness, str] | None:
    """Whether every line of ``path`` is cold because of what the file is: test code, an example, a demo,
    a script or a migration (by name or by a directory between ``root`` and the file); None otherwise."""
    path = PurePath(path)
    try:
        rel = path.relative_to(root) if root is not None else PurePath(path.name)
    except ValueError:
        rel = PurePath(path.name)
    shown = rel.as_posix()
    name = rel.name
    if name == "conftest.py" or (name.startswith("test_") and name.endswith(".py")) or name.endswith("_test.py"):
        return Hotness.COLD, f"test code ({shown})"
    for part in rel.parts[:-1]:
        if part in TEST_DIRS:
            return Hotness.COLD, f"test code ({shown})"
        if part in COLD_DIRS:
            return Hotness.COLD, f"{COLD_DIRS[part]} ({shown})"
    return None


def module_name(path: str | PurePath, root: str | PurePath | None = None) -> str:
    """The dotted module name of ``path`` relative to ``root`` (``pkg/mod.py`` -> ``pkg.mod``;
    ``pkg/__init__.py`` -> ``pkg``; a leading ``src`` directory is dropped)."""
    path = PurePath(path)
    try:
        rel = path.relative_to(root) if root is not None else PurePath(path.name)
    except ValueError:
        rel = PurePath(path.name)
    parts = list(rel.with_suffix("").parts)
    if parts and parts[0] == "src" and len(parts) > 1:
        parts = parts[1:]
    if parts and parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts) or rel.stem


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    if isinstance(node, ast.Call):
        return _dotted(node.func)
    return None


def _first_string(call: ast.Call) -> str | None:
    for arg in call.args[:1]:
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            return arg.value
    for kw in call.keywords:
        if kw.arg in ("path", "rule", "url") and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
            return kw.value.value
    return None


def _methods_of(call: ast.Call, attr: str) -> str:
    if attr in HTTP_METHODS:
        return attr.upper()
    if attr in ("websocket", "websocket_route"):
        return "WebSocket"
    for kw in call.keywords:
        if kw.arg == "methods" and isinstance(kw.value, (ast.List, ast.Tuple)):
            names = [e.value for e in kw.value.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
            if names:
                return "/".join(n.upper() for n in names)
    return "GET" if attr == "route" else "ANY"


@dataclass
class _Module:
    name: str
    path: str
    shown: str
    imports: dict[str, str]  # local name -> qualified name
    libraries: set[str]
    functions: dict[str, Function]  # local name -> function
    classes: dict[str, list[str]]  # class local name -> base names
    main_line: int | None
    kind: tuple[Hotness, str] | None
    main_calls: list[str] = field(default_factory=list)
    module_calls: list[str] = field(default_factory=list)  # called from module-level code (outside main)
    registrations: list[tuple[str, Hotness, str]] = field(default_factory=list)  # qualname, hotness, reason


def _module_to_json(m: _Module) -> dict:
    data = {k: v for k, v in vars(m).items() if k != "functions"}
    data["libraries"] = sorted(m.libraries)
    data["kind"] = [m.kind[0].value, m.kind[1]] if m.kind else None
    data["registrations"] = [[t, h.value, r] for t, h, r in m.registrations]
    data["functions"] = [
        {**vars(fn), "entry": [fn.entry[0].value, fn.entry[1]] if fn.entry else None} for fn in m.functions.values()
    ]
    return data


def _module_from_json(data: dict) -> _Module:
    functions = {}
    for raw in data["functions"]:
        raw = dict(raw)  # the caller's facts stay as they are (they may be saved next)
        entry = raw.pop("entry")
        fn = Function(**raw, entry=(Hotness(entry[0]), entry[1]) if entry else None)
        functions[fn.local] = fn
    kind = data["kind"]
    return _Module(
        name=data["name"],
        path=data["path"],
        shown=data["shown"],
        imports=dict(data["imports"]),
        libraries=set(data["libraries"]),
        functions=functions,
        classes={k: list(v) for k, v in data["classes"].items()},
        main_line=data["main_line"],
        kind=(Hotness(kind[0]), kind[1]) if kind else None,
        main_calls=list(data["main_calls"]),
        module_calls=list(data["module_calls"]),
        registrations=[(t, Hotness(h), r) for t, h, r in data["registrations"]],
    )


class _Reader:
    """Collects one module's functions, their call sites and entry points."""

    def __init__(self, module: _Module, tree: ast.Module) -> None:
        self.m = module
        self.tree = tree

    def read(self) -> None:
        m = self.m
        package = m.name.rsplit(".", 1)[0] if "." in m.name and not m.path.endswith("__init__.py") else m.name
        if not m.path.endswith("__init__.py") and "." not in m.name:
            package = ""
        for node in _statements(self.tree.body):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        m.imports[alias.asname] = alias.name
                    else:
                        m.imports[alias.name.split(".")[0]] = alias.name.split(".")[0]
                    m.libraries.add(alias.name.split(".")[0])
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".") if package else []
                    parts = parts[: len(parts) - (node.level - 1)] if node.level > 1 else parts
                    base = ".".join([*parts, *([base] if base else [])])
                else:
                    m.libraries.add(base.split(".")[0])
                for alias in node.names:
                    m.imports[alias.asname or alias.name] = f"{base}.{alias.name}" if base else alias.name
        self._body(self.tree.body, prefix="", cls=None, owner=None)

    def _body(self, body: list[ast.stmt], prefix: str, cls: str | None, owner: Function | None) -> None:
        for stmt in body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self._def(stmt, prefix, cls)
            elif isinstance(stmt, ast.ClassDef):
                local = f"{prefix}{stmt.name}"
                self.m.classes[local] = [b for b in (_dotted(base) for base in stmt.bases) if b]
                self._calls_in(stmt.decorator_list, owner, cls)
                self._body(stmt.body, prefix=local + ".", cls=local, owner=owner)
            elif owner is None and cls is None and _is_main_guard(stmt):
                self.m.main_line = stmt.lineno
                self._calls_in(stmt.body, "main", None)
                self._calls_in(stmt.orelse, None, None)  # `else:` of the guard: module-level code on import
                self._body([s for s in stmt.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))], prefix, cls, owner)
            else:
                self._calls_in([stmt], owner, cls)

    def _def(self, node: ast.FunctionDef | ast.AsyncFunctionDef, prefix: str, cls: str | None) -> None:
        m = self.m
        local = f"{prefix}{node.name}"
        fn = Function(
            qualname=f"{m.name}.{local}",
            local=local,
            path=m.path,
            line=node.lineno,
            end=node.end_lineno or node.lineno,
            is_async=isinstance(node, ast.AsyncFunctionDef),
            class_name=cls,
        )
        m.functions[local] = fn
        fn.entry = self._marker(node, fn)
        if cls is None and not prefix:  # a module-level function another module may import and call
            facts = read_function_facts(node, m.imports)
            if facts.interesting:
                fn.facts = facts.to_json()
        # decorators run where the def is: their calls belong to the enclosing scope
        self._calls_in([*node.decorator_list], None, cls)
        for inner in _direct_defs(node.body):
            self._def(inner, local + ".", cls)
            fn.refs.append(f"{m.name}.{local}.{inner.name}")  # an inner def may run with its outer, or escape
        self._calls_in(node.body, fn, cls)

    def _marker(self, node: ast.FunctionDef | ast.AsyncFunctionDef, fn: Function) -> tuple[Hotness, str] | None:
        m = self.m
        where = f"{m.shown}:{node.lineno}"
        for deco in node.decorator_list:
            where = f"{m.shown}:{deco.lineno}"  # the decorator names the route: point at it
            call = deco if isinstance(deco, ast.Call) else None
            dotted = _dotted(deco) or ""
            attr = dotted.rsplit(".", 1)[-1]
            qualified = self._qualify(dotted) or dotted
            top = qualified.split(".")[0]
            if attr in TASK_DECORATORS and (top in ("celery", "dramatiq", "rq", "huey", "arq") or "." in dotted or attr == "shared_task"):
                if attr != "job" or top == "rq":
                    return Hotness.HOT, f"a queue task handler ({fn.local}, {where})"
            if attr in ROUTE_DECORATORS and "." in dotted and call is not None:
                path = _first_string(call)
                web = bool(m.libraries & set(WEB_LIBRARIES))
                if (path is not None and (path.startswith("/") or web)) or (path is None and web and attr != "view"):
                    if not (attr == "get" and path is None):
                        label = f"{_methods_of(call, attr)} {path or fn.local}" if path is not None else fn.local
                        return Hotness.HOT, f"a request handler: {label} ({where})"
            if attr in BOT_DECORATORS and "." in dotted:
                path = _first_string(call) if call is not None else None
                if m.libraries & set(BOT_LIBRARIES) and not (attr == "command" and m.libraries & set(CLI_LIBRARIES)):
                    return Hotness.HOT, f"a bot/message handler ({fn.local}, {where})"
                if attr == "on" and path is not None:
                    return Hotness.HOT, f"an event handler: {path} ({where})"
            if top in CLI_LIBRARIES or (
                attr in ("command", "group", "callback") and m.libraries & set(CLI_LIBRARIES)
            ):
                return Hotness.COLD, f"a CLI command ({fn.local}, {where})"
        where = f"{m.shown}:{node.lineno}"
        if fn.class_name is not None:
            bases = m.classes.get(fn.class_name, [])
            if node.name in HTTP_METHODS | {"websocket_connect", "receive", "on_receive", "dispatch"} and any(
                b.rsplit(".", 1)[-1].endswith(DJANGO_VIEW_BASES) for b in bases
            ):
                return Hotness.HOT, f"a request handler: {node.name.upper()} of {fn.class_name} ({where})"
        if fn.class_name is None and "." not in fn.local:
            args = node.args.posonlyargs + node.args.args
            if PurePath(m.path).name == "views.py" and args and args[0].arg == "request":
                return Hotness.HOT, f"a request handler: {fn.local} ({where})"
            if node.name == "main" and "argparse" in m.libraries:
                return Hotness.COLD, f"a command-line main ({where})"
        if node.name in SETUP_METHODS and fn.class_name is not None:
            return Hotness.COLD, f"set-up code: {fn.local} ({where})"
        return None

    def _qualify(self, dotted: str) -> str | None:
        head, _, rest = dotted.partition(".")
        target = self.m.imports.get(head)
        if target is None:
            return None
        return f"{target}.{rest}" if rest else target

    def _resolve(self, func: ast.AST, cls: str | None, owner: Function | None) -> tuple[str | None, str | None]:
        """(qualified callee or None, method name called on an unknown object or None)."""
        m = self.m
        if isinstance(func, ast.Name):
            name = func.id
            if owner is not None:  # a def nested in the caller
                nested = f"{owner.local}.{name}"
                if nested in m.functions:
                    return f"{m.name}.{nested}", None
            if name in m.classes:
                return f"{m.name}.{name}.__init__", None
            if name in m.imports:
                return m.imports[name], None
            return f"{m.name}.{name}", None
        if isinstance(func, ast.Attribute):
            value = func.value
            if isinstance(value, ast.Name) and value.id in ("self", "cls") and cls is not None:
                return f"{m.name}.{cls}.{func.attr}", None
            if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "super":
                # a parent's method: runs when this one does; a parent's set-up is not called from elsewhere
                return None, None if func.attr in SETUP_METHODS else func.attr
            dotted = _dotted(func)
            if dotted is not None and isinstance(value, (ast.Name, ast.Attribute)):
                head = dotted.split(".")[0]
                if head in m.classes:
                    return f"{m.name}.{dotted}", None
                qualified = self._qualify(dotted)
                if qualified is not None:
                    return qualified, None
            return None, func.attr
        return None, None

    def _calls_in(self, nodes: Iterable[ast.AST], owner: Function | str | None, cls: str | None) -> None:
        fn = owner if isinstance(owner, Function) else None
        stack = list(nodes)
        while stack:
            node = stack.pop()
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)) and fn is not None:
                if isinstance(node, ast.Lambda):
                    stack.append(node.body)
                continue  # a nested def is its own function
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            if isinstance(node, ast.Call):
                targets = [node.func, *node.args, *(kw.value for kw in node.keywords)]
                callee, attr = self._resolve(node.func, cls, fn)
                self._add(owner, callee, attr)
                for arg in targets[1:]:  # a function passed by name may run there or later (callbacks, Depends, submit)
                    if isinstance(arg, (ast.Name, ast.Attribute)):
                        ref, ref_attr = self._resolve(arg, cls, fn)
                        self._add(owner, ref, ref_attr if isinstance(arg, ast.Attribute) else None, ref=True)
                self._registration(node, cls, fn)
            stack.extend(ast.iter_child_nodes(node))

    def _add(self, owner: Function | str | None, callee: str | None, attr: str | None, ref: bool = False) -> None:
        if ref and callee:  # passed on: the caller may hand it to anything; it is never cold through this caller
            if isinstance(owner, Function):
                owner.refs.append(callee)
            else:
                self.m.module_calls.append(callee)
            callee = None
        if isinstance(owner, Function):
            if callee:
                owner.calls.append(callee)
            if attr:
                owner.unresolved_attrs.append(attr)
        elif owner == "main":
            if callee:
                self.m.main_calls.append(callee)
        else:
            if callee:
                self.m.module_calls.append(callee)
            if attr:
                self.m.module_calls.append("?." + attr)

    def _registration(self, call: ast.Call, cls: str | None, fn: Function | None) -> None:
        m = self.m
        dotted = _dotted(call.func) or ""
        attr = dotted.rsplit(".", 1)[-1]
        where = f"{m.shown}:{call.lineno}"
        handler = None
        reason = None
        if attr in ROUTE_REGISTRATIONS:
            for arg in [*call.args[1:2], *(kw.value for kw in call.keywords if kw.arg in ("endpoint", "view_func", "handler", "view"))]:
                handler = arg
            path = _first_string(call)
            method = attr[4:].upper() if attr[4:] in HTTP_METHODS else "ANY"
            reason = f"called per request from {method} {path} ({where})" if path else f"called per request ({where})"
        elif attr in ("path", "re_path", "url") and len(call.args) >= 2 and "django" in m.libraries:
            handler = call.args[1]
            path = _first_string(call)
            reason = f"called per request from {path} ({where})"
        elif attr in BOT_HANDLER_CLASSES or attr in ("add_handler", "register_message_handler", "register_callback_query_handler"):
            handler = next((a for a in reversed(call.args) if isinstance(a, (ast.Name, ast.Attribute))), None)
            reason = f"called per message from a bot handler ({where})"
        elif attr in ("on", "on_event", "add_event_handler", "register_handler") and len(call.args) >= 2:
            handler = call.args[1]
            name = _first_string(call)
            reason = f"called per event from {name!r} ({where})" if name else f"called per event ({where})"
        elif attr in ("enqueue", "enqueue_call", "enqueue_at", "enqueue_in", "delay", "apply_async", "send") and call.args:
            if attr in ("enqueue", "enqueue_call", "enqueue_at", "enqueue_in"):
                handler = call.args[0] if attr == "enqueue" or attr == "enqueue_call" else (call.args[1] if len(call.args) > 1 else None)
                reason = f"called per job from a queue ({where})"
        if handler is None or reason is None or not isinstance(handler, (ast.Name, ast.Attribute)):
            return
        if isinstance(handler, ast.Attribute) and isinstance(handler.value, ast.Name) and handler.value.id == "views":
            target = self._qualify(_dotted(handler) or "")
        else:
            target, _attr = self._resolve(handler, cls, fn)
        if target:
            m.registrations.append((target, Hotness.HOT, reason))


def _statements(body: list[ast.stmt]):
    """Every statement in ``body``, nested ones included (expressions are not visited: cheaper than ast.walk)."""
    stack = list(reversed(body))
    while stack:
        node = stack.pop()
        yield node
        for name in ("handlers", "cases", "finalbody", "orelse", "body"):
            inner = getattr(node, name, None)
            if isinstance(inner, list):
                stack.extend(reversed(inner))


def _direct_defs(body: list[ast.stmt]) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    """The defs of ``body`` and of its compound statements, not of defs or classes inside it."""
    found = []
    stack = list(reversed(body))
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found.append(node)
        elif not isinstance(node, ast.ClassDef):
            stack.extend(reversed([c for c in ast.iter_child_nodes(node) if isinstance(c, ast.stmt) or isinstance(c, ast.excepthandler)]))
    return found


def _read_module(key: str, text: str, root: Path | None) -> _Module:
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        tree = ast.Module(body=[], type_ignores=[])
    name = module_name(key, root)
    try:
        shown = Path(key).relative_to(root).as_posix() if root is not None else Path(key).name
    except ValueError:
        shown = Path(key).name
    module = _Module(name, key, shown, {}, set(), {}, {}, None, file_kind(key, root))
    try:
        _Reader(module, tree).read()
    except RecursionError:
        module.functions.clear()
    return module


def read_facts(job: tuple[str, bytes, str | None]) -> dict:
    """The JSON-serialisable facts of one file: ``job`` is (resolved path, its bytes, the index root or
    None). A module-level function, so a process pool can run it."""
    key, data, root = job
    return _module_to_json(_read_module(key, data.decode("utf-8", errors="replace"), Path(root) if root else None))


class FileStore:
    """Where :meth:`ProjectIndex.build` keeps each file's facts between runs: ``load(data, material)`` returns
    the JSON-serialisable dict saved for a file whose bytes are ``data`` under ``material`` (a string), or
    None; ``save(data, material, facts)`` keeps one. This base class keeps nothing."""

    def load(self, data: bytes, material: str) -> dict | None:
        return None

    def save(self, data: bytes, material: str, facts: dict) -> None:
        return None


class ProjectIndex:
    """Functions, call sites and entry points of many files, and the hotness of each function.

    ``root``: the directory paths are shown and module names computed relative to (None: the
    files' common directory). Add files with :meth:`add` (path and text; a file that does not
    parse is indexed as empty), then ask :meth:`hotness` or :meth:`for_file` (``closed``: see
    :meth:`build`); answers are
    recomputed lazily after a change. Not thread-safe: one thread builds and asks.
    """

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = Path(root) if root is not None else None
        self._modules: dict[str, _Module] = {}
        self._answers: dict[str, tuple[Hotness, str]] | None = None
        self._functions: dict[str, Function] = {}
        self._find: Callable[[str], str | None] | None = None
        self.closed = True

    def __len__(self) -> int:
        return len(self._modules)

    @classmethod
    def build(
        cls,
        paths: Iterable[str | os.PathLike],
        root: str | os.PathLike | None = None,
        store: FileStore | None = None,
        closed: bool = True,
        mapper: Callable[..., Iterable[dict]] | None = None,
    ) -> ProjectIndex:
        """An index of ``paths`` (Python files; one that cannot be read or parsed is indexed as empty).

        ``store``: where each file's facts are kept between runs, keyed by the file's bytes and the
        root (see :class:`FileStore`); None: every file is read again. ``closed``: whether ``paths``
        hold every caller there is (a whole project); when False (a few files named on the command
        line), no function is judged cold by its callers, as callers elsewhere are not seen.
        ``mapper``: a ``map`` to read the files with (``ProcessPoolExecutor.map``: in parallel); it
        gets :func:`read_facts` and its arguments."""
        paths = [Path(p) for p in paths]
        if root is None and paths:
            try:
                root = Path(os.path.commonpath([str(p.resolve().parent) for p in paths]))
            except ValueError:
                root = None
        while root is not None and (Path(root) / "__init__.py").is_file() and Path(root).parent != Path(root):
            root = Path(root).parent  # module names start at the top package
        index = cls(root)
        index.closed = closed
        missing: list[tuple[Path, bytes, str]] = []
        for path in paths:
            try:
                data = path.read_bytes()
            except OSError:
                data = b""
            material = repr(("hotness", 2, str(index.root), index._key(path)))
            if store is not None:
                facts = store.load(data, material)
                if facts is not None:
                    try:
                        index._modules[index._key(path)] = _module_from_json(facts)
                        continue
                    except (KeyError, TypeError, ValueError, AttributeError):
                        pass  # not facts of this version: read the file again
            missing.append((path, data, material))
        jobs = [(index._key(path), data, str(index.root) if index.root is not None else None) for path, data, _ in missing]
        found = list(mapper(read_facts, jobs)) if mapper is not None and len(jobs) > 1 else [read_facts(j) for j in jobs]
        for (path, data, material), facts in zip(missing, found):
            index._modules[index._key(path)] = _module_from_json(facts)
            if store is not None:
                store.save(data, material, facts)
        return index

    def _key(self, path: str | os.PathLike) -> str:
        return str(Path(path).resolve())

    def add(self, path: str | os.PathLike, text: str) -> None:
        """Index (or re-index) the file ``path`` with contents ``text``."""
        key = self._key(path)
        self._modules[key] = _read_module(key, text, self.root)
        self._answers = None

    def remove(self, path: str | os.PathLike) -> None:
        """Forget the file ``path`` (no error when it is not indexed)."""
        if self._modules.pop(self._key(path), None) is not None:
            self._answers = None

    def functions(self) -> dict[str, Function]:
        """Every indexed function by qualified name."""
        return {fn.qualname: fn for m in self._modules.values() for fn in m.functions.values()}

    def _solve(self) -> dict[str, tuple[Hotness, str]]:
        if self._answers is not None:
            return self._answers
        functions = self.functions()
        self._functions = functions
        by_tail: dict[str, list[str]] = {}
        for q in functions:
            parts = q.split(".")
            for k in range(1, min(len(parts), 3) + 1):
                by_tail.setdefault(".".join(parts[-k:]), []).append(q)

        by_name = {m.name: m for m in self._modules.values()}

        def find(target: str, depth: int = 0) -> str | None:
            candidates = (target, f"{target}.__init__")  # a class called: its __init__ runs
            for candidate in candidates:
                if candidate in functions:
                    return candidate
            parts = target.split(".")
            for i in range(len(parts) - 1, 0, -1):  # a name a package re-exports (`from .terms import Terms`)
                module = by_name.get(".".join(parts[:i]))
                if module is not None:
                    imported = module.imports.get(parts[i])
                    if imported is not None and depth < 4 and imported != ".".join(parts[: i + 1]):
                        return find(".".join([imported, *parts[i + 1 :]]), depth + 1)
                    break
            for candidate in candidates:  # a module path the index names differently (src layouts, roots): the tail
                pieces = candidate.split(".")
                for k in (3, 2):
                    if len(pieces) >= k:
                        hits = by_tail.get(".".join(pieces[-k:]), [])
                        if len(hits) == 1:
                            return hits[0]
            return None

        self._find = find
        callees: dict[str, set[str]] = {}
        callers: dict[str, set[str]] = {q: set() for q in functions}
        unknown_callers: set[str] = set()
        method_names: dict[str, list[str]] = {}
        for q, fn in functions.items():
            if fn.class_name is not None:
                method_names.setdefault(q.rsplit(".", 1)[-1], []).append(q)
        for q, fn in functions.items():
            targets = {t for t in (find(c) for c in fn.calls) if t is not None and t != q}
            for t in targets:
                callers[t].add(q)
            passed = {t for t in (find(c) for c in fn.refs) if t is not None and t != q}
            unknown_callers.update(passed)
            callees[q] = targets | passed
            for attr in fn.unresolved_attrs:
                unknown_callers.update(method_names.get(attr, ()))
        main_callers: dict[str, str] = {}
        for m in self._modules.values():
            for c in m.main_calls:
                t = find(c)
                if t is not None:
                    main_callers.setdefault(t, f"{m.shown}:{m.main_line}")
            for c in m.module_calls:
                if c.startswith("?."):
                    unknown_callers.update(method_names.get(c[2:], ()))
                else:
                    t = find(c)
                    if t is not None:
                        unknown_callers.add(t)

        answers: dict[str, tuple[Hotness, str]] = {}
        cold_file = {q: self._modules[fn.path].kind for q, fn in functions.items() if self._modules[fn.path].kind}
        # hot: breadth-first from the entry points, a bounded number of calls deep
        queue: deque[tuple[str, int, str]] = deque()
        for q, fn in functions.items():
            if fn.entry is not None and fn.entry[0] is Hotness.HOT and q not in cold_file:
                answers[q] = fn.entry
                queue.append((q, 0, fn.entry[1].split(": ", 1)[-1] if ": " in fn.entry[1] else fn.entry[1]))
        for m in self._modules.values():
            if m.kind:
                continue
            for target, _hot, reason in m.registrations:
                t = find(target)
                if t is not None and t not in answers and t not in cold_file:
                    answers[t] = (Hotness.HOT, reason)
                    queue.append((t, 0, reason))
        while queue:
            q, depth, origin = queue.popleft()
            if depth >= MAX_DEPTH:
                continue
            for t in sorted(callees.get(q, ())):
                if t in answers or t in cold_file:
                    continue
                answers[t] = (Hotness.HOT, _per_request(origin))
                queue.append((t, depth + 1, origin))
        # cold: markers on the function, then what only cold code calls
        setup: set[str] = set()  # set-up methods whose class is built somewhere the index sees: judged by those places
        for q, fn in functions.items():
            if q in answers:
                continue
            if q in cold_file:
                answers[q] = cold_file[q]
            elif fn.entry is not None and fn.entry[0] is Hotness.COLD:
                if fn.entry[1].startswith("set-up code") and (callers[q] or q in main_callers or q in unknown_callers):
                    setup.add(q)
                else:
                    answers[q] = fn.entry
        changed = self.closed
        while changed:
            changed = False
            for q, fn in functions.items():
                if q in answers or q in unknown_callers or (fn.entry is not None and q not in setup):
                    continue
                known = callers[q]
                main = main_callers.get(q)
                if not known and main is None:
                    continue
                if all(answers.get(c, (Hotness.UNKNOWN,))[0] is Hotness.COLD for c in known):
                    if q in setup and fn.entry is not None:
                        reason = fn.entry[1]
                    elif main is not None:
                        reason = f"only called from the __main__ block ({main})"
                    else:
                        first = sorted(known)[0]
                        reason = _only_from(answers[first][1], functions[first])
                    answers[q] = (Hotness.COLD, reason)
                    changed = True
        self._answers = answers
        return answers

    def hotness(self, path: str | os.PathLike, line: int) -> tuple[Hotness, str]:
        """The hotness of line ``line`` (1-based) of the indexed file ``path`` and its reason
        (empty for UNKNOWN); a file not indexed gives only what its path says."""
        key = self._key(path)
        module = self._modules.get(key)
        if module is None:
            kind = file_kind(key, self.root)
            return kind if kind else (Hotness.UNKNOWN, "")
        facts = self.for_file(path)
        try:
            text = Path(key).read_text(encoding="utf-8", errors="replace")
            tree = ast.parse(text)
        except (OSError, SyntaxError, ValueError, RecursionError):
            return facts.file or (Hotness.UNKNOWN, "")
        return facts.at(tree.body, line)

    def for_file(self, path: str | os.PathLike) -> FileHotness:
        """The answers :func:`filter_diagnostics` needs for the file ``path`` (a file not indexed: only its path's)."""
        key = self._key(path)
        module = self._modules.get(key)
        if module is None:
            return FileHotness(file_kind(key, self.root))
        if module.kind is not None:
            return FileHotness(module.kind)
        answers = self._solve()
        rows = []
        for local, fn in module.functions.items():
            found = answers.get(fn.qualname)
            if found is not None:
                rows.append((local, found[0], found[1]))
        main = f"in the __main__ block ({module.shown}:{module.main_line})" if module.main_line else None
        return FileHotness(None, tuple(sorted(rows)), main, self._helpers(module))

    def _helpers(self, module: _Module) -> tuple[tuple[str, FunctionFacts], ...]:
        """(local name, facts) for the functions of other indexed modules that ``module`` imports by name."""
        self._solve()
        functions, find = self._functions, self._find
        out = []
        for local, qualified in module.imports.items():
            target = find(qualified) if find is not None else None
            fn = functions.get(target) if target is not None else None
            if fn is None or fn.facts is None or fn.path == module.path or fn.class_name is not None or target.endswith(".__init__"):
                continue
            try:
                out.append((local, FunctionFacts.from_json(fn.facts)))
            except (TypeError, ValueError):
                continue  # facts of another version
        return tuple(sorted(out))


def document_hotness(text: str) -> FileHotness:
    """The answers for a document indexed alone (no project: its own handlers and what they call are
    hot; nothing is cold by its callers, since callers elsewhere are not seen)."""
    index = ProjectIndex()
    index.closed = False
    path = PurePath("document.py")
    index.add(path, text)
    return index.for_file(path)


def _per_request(origin: str) -> str:
    if origin.startswith("called per "):
        return origin
    if " ".join(origin.split()[:1]) in {m.upper() for m in HTTP_METHODS} | {"ANY", "WebSocket"}:
        return f"called per request from {origin}"
    return f"called per event from {origin}"


def _only_from(reason: str, caller: Function) -> str:
    if reason.startswith("only called from"):
        return reason
    return f"only called from {caller.local}: {reason}"


def filter_diagnostics(
    diagnostics: Sequence[Diagnostic],
    chunks: Sequence,
    facts: FileHotness,
    include_cold: bool = False,
    exempt: frozenset[str] = frozenset(),
    hot_only: frozenset[str] = frozenset(),
) -> list[Diagnostic]:
    """``diagnostics`` without those at cold sites (unless ``include_cold``, or their code is in ``exempt``),
    and without those whose code is in ``hot_only`` at sites that are not hot (unknown ones too; cold ones
    stay with ``include_cold``), with the reason appended to the ``detail`` of those at hot sites.
    ``chunks``: the document's :class:`~perf_lsp.source.Chunk` s (sorted, with their :mod:`ast` nodes)
    the diagnostics' lines fall in."""
    kept: list[Diagnostic] = []
    starts = [c.start for c in chunks]
    import bisect

    for diag in diagnostics:
        line = diag.range.start.line
        i = bisect.bisect_right(starts, line) - 1
        if i >= 0 and chunks[i].start <= line <= chunks[i].end:
            hot, reason = facts.at(chunks[i].nodes, line, chunks[i].shift)
        else:
            hot, reason = facts.file or (Hotness.UNKNOWN, "")
        if hot is Hotness.COLD and not include_cold and diag.code not in exempt:
            continue
        if hot is Hotness.UNKNOWN and diag.code in hot_only:
            continue
        if hot is Hotness.HOT and reason:
            sentence = reason[0].upper() + reason[1:] + "."
            diag = replace(diag, detail=f"{diag.detail} {sentence}".strip() if diag.detail else sentence)
        kept.append(diag)
    return kept
