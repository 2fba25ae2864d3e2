"""Type resolution with jedi, for the call sites import-based names cannot decide.

Rules resolve names through imports first (:mod:`perf_lsp.analysis.module`). Where that is
not enough (``self.embedder.encode``, a value returned by a factory, a name
imported from another module of the workspace) a rule attaches a
:class:`TypeQuestion` to its finding, and the engine asks this module: "what
made the value at this position?". The answer is a set of qualified names:
the classes it is an instance of, and the callables that returned it.

jedi is slow on big libraries (measured on a 2-core machine: the first query in a
process 0.8-1.3 s, then 10-60 ms; ``benchmarks/bench_jedi.py`` prints the CLI's and
the server's figures), so only the prefiltered candidates are asked, answers are
cached per document text, and every document gets a time budget.

Packages that are not installed: ``infer`` gives nothing, but ``goto`` on the
imported name gives its full name (``sentence_transformers.SentenceTransformer``),
and a ``goto`` to an assignment (``self.model = get_model()``) is followed to
what its right-hand side calls, one function deep. Canonical names differ from
spellings (``openai._client.OpenAI`` for ``openai.OpenAI``): :func:`canonical`
also gives the spelling without private modules, and rules match either.

Checking never runs the checked project's code: jedi parses the project's
modules, and imports compiled modules only in its own subprocess and only from
outside the project (:func:`_environment`, :func:`_project`).
"""

from __future__ import annotations

import ast
import os
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

_ENVIRONMENT = None
_ENVIRONMENT_LOCK = threading.Lock()
_MAX_DEPTH = 3


@dataclass(frozen=True)
class TypeQuestion:
    """A finding's condition on the type of one expression.

    ``line``/``column`` locate the expression's last name (1-based line, 0-based
    code-point column; chunk-relative inside the engine, document lines once
    asked). The finding stands when the value's producers meet ``accept`` (when
    given) and none is in ``reject``. When jedi cannot tell, ``keep_unresolved``
    decides: True for a finding names already support (jedi can only suppress
    it), False for one that needs jedi's confirmation.
    """

    line: int
    column: int
    accept: frozenset[str] = frozenset()
    reject: frozenset[str] = frozenset()
    keep_unresolved: bool = False

    def decide(self, producers: frozenset[str] | None) -> bool:
        """Whether the finding stands, given the answer (None: jedi could not tell)."""
        if producers is None:
            return self.keep_unresolved
        if producers & self.reject:
            return False
        return bool(producers & self.accept) if self.accept else True


def canonical(full_name: str) -> set[str]:
    """``openai._client.OpenAI`` -> {itself, ``openai.OpenAI``}: the name and its spelling without private modules."""
    parts = full_name.split(".")
    public = [p for i, p in enumerate(parts) if not (p.startswith("_") and 0 < i < len(parts) - 1)]
    return {full_name, ".".join(public)}


def _jedi():
    """jedi, set never to import a module to inspect it (``auto_import_modules``: ``gi`` by default)."""
    import jedi

    jedi.settings.auto_import_modules = []
    return jedi


class JediUnavailable(Exception):
    """jedi's subprocess cannot be started: no type answers."""


def _environment():
    """jedi's environment: this interpreter, run as a subprocess, shared by every resolver.

    Never jedi's ``InterpreterEnvironment``: that one imports compiled modules
    inside our process, and while it looks a module up it swaps ``sys.path``
    for one that starts with the checked project, for every thread (the
    server's other thread could import a project file then). In the subprocess,
    jedi imports only what :class:`_SafeProject` allows: installed compiled
    modules, never the project's. jedi restarts the subprocess if it dies.
    Raises :class:`JediUnavailable` when it cannot start (then not again).
    """
    global _ENVIRONMENT
    with _ENVIRONMENT_LOCK:
        if _ENVIRONMENT is None:
            jedi = _jedi()
            try:
                if not sys.executable:
                    raise OSError("no sys.executable")
                _ENVIRONMENT = jedi.create_environment(sys.executable, safe=False)
            except Exception:  # InvalidPythonEnvironment, OSError: jedi stays off for this process
                _ENVIRONMENT = False
    if _ENVIRONMENT is False:
        raise JediUnavailable
    return _ENVIRONMENT


_PROJECT_CLASS = None


def _project(root: Path):
    """A ``jedi.Project`` for ``root`` that never loads a compiled module or package from the project.

    jedi parses the project's Python files (that is how its own modules resolve)
    and imports compiled modules (extensions, and packages it cannot parse) only
    from its *base* ``sys.path`` (``load_unsafe_extensions=False``). That base is
    the environment's ``sys.path``, which holds the project when ``PYTHONPATH``
    or an editable install names it: :class:`_SafeProject` takes out every entry
    at or below ``root`` (and relative ones, which depend on the working directory).
    """
    global _PROJECT_CLASS
    if _PROJECT_CLASS is None:
        jedi = _jedi()

        class _SafeProject(jedi.Project):
            def _get_base_sys_path(self, inference_state):
                return [p for p in super()._get_base_sys_path(inference_state) if not _inside(p, self.path)]

        _PROJECT_CLASS = _SafeProject
    return _PROJECT_CLASS(root, load_unsafe_extensions=False)


def _inside(entry: str, root: Path) -> bool:
    """Whether the ``sys.path`` entry ``entry`` is ``root`` or below it (True for relative entries)."""
    if not entry or not os.path.isabs(entry):
        return True
    try:
        resolved = Path(entry).resolve()
        root = root.resolve()
    except (OSError, RuntimeError):
        return True
    return resolved == root or root in resolved.parents


def project_root(path: Path | None) -> Path | None:
    """The nearest directory above ``path`` with ``pyproject.toml``, ``setup.py``, ``setup.cfg`` or ``.git``;
    failing that, the directory above the outermost package (``__init__.py``) holding ``path``."""
    if path is None:
        return None
    for parent in path.resolve().parents:
        if any((parent / marker).exists() for marker in ("pyproject.toml", "setup.py", "setup.cfg", ".git")):
            return parent
    top = path.resolve().parent
    while (top / "__init__.py").exists() and top.parent != top:
        top = top.parent
    return top


class BudgetExceeded(Exception):
    """The resolver's time budget ran out."""


class TypeResolver:
    """Answers type questions about one document with jedi, within a time budget.

    ``path``: the document's file (None for unsaved text; then only installed
    packages and the document itself are seen). ``budget``: seconds for all the
    questions asked of this resolver (None: no limit, as the CLI runs).
    """

    def __init__(self, source: str, path: Path | None = None, budget: float | None = None) -> None:
        self.source = source
        self.path = path
        self.deadline = None if budget is None else time.monotonic() + budget
        self.exhausted = False
        self._scripts: dict[Path | None, object] = {}
        self._codes: dict[Path | None, str] = {}
        self._trees: dict[Path | None, ast.Module | None] = {}
        self._answers: dict[tuple[int, int], frozenset[str] | None] = {}

    # -- public ----------------------------------------------------------------------
    def producers(self, line: int, column: int) -> frozenset[str] | None:
        """Qualified names of what made the value of the name at (``line``, ``column``).

        Classes it is an instance of and callables that returned it, each also in
        its :func:`canonical` spelling. None when jedi cannot tell or the budget ran out.
        """
        key = (line, column)
        if key not in self._answers:
            try:
                found = self._value_producers(None, line, column, _MAX_DEPTH)
            except BudgetExceeded:
                self.exhausted = True
                return None
            except Exception:  # jedi on odd code: never take the caller down
                found = set()
            names: set[str] = set()
            for name in found:
                names |= canonical(name)
            self._answers[key] = frozenset(names) or None
        return self._answers[key]

    # -- jedi ------------------------------------------------------------------------
    def _check_budget(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise BudgetExceeded

    def _script(self, path: Path | None):
        if path not in self._scripts:
            jedi = _jedi()

            self._check_budget()
            environment = _environment()
            root = project_root(path if path is not None else self.path)
            project = _project(root if root is not None else Path.cwd())
            if path is None:
                code = self.source
                script_path = self.path
            else:
                try:
                    code = path.read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError):
                    code = ""
                script_path = path
            self._codes[path] = code
            self._scripts[path] = jedi.Script(code, path=script_path, project=project, environment=environment)
        return self._scripts[path]

    def _tree(self, path: Path | None) -> ast.Module | None:
        if path not in self._trees:
            self._script(path)
            code = self._codes[path]
            try:
                self._trees[path] = ast.parse(code)
            except (SyntaxError, ValueError, RecursionError, MemoryError):  # RecursionError: too deeply nested
                self._trees[path] = None
        return self._trees[path]

    def _module_key(self, module_path) -> Path | None:
        if module_path is None:
            return None
        module_path = Path(module_path)
        if self.path is not None and module_path.resolve() == self.path.resolve():
            return None
        return module_path

    def _value_producers(self, where: Path | None, line: int, column: int, depth: int) -> set[str]:
        """What made the value of the name at a position: inference first, then assignments followed."""
        self._check_budget()
        script = self._script(where)
        found: set[str] = set()
        for definition in script.infer(line, column):
            if definition.type == "instance" and definition.full_name:
                found.add(definition.full_name)
        if found or depth <= 0:
            return found
        self._check_budget()
        for definition in script.goto(line, column, follow_imports=True):
            module = self._module_key(definition.module_path)
            if definition.type == "statement" and definition.line is not None:
                found |= self._assigned_value(module, definition.line, definition.name, depth - 1)
            elif definition.type == "param" and definition.line is not None:
                found |= self._annotation(module, definition.line, definition.name, depth - 1)
        return found

    def _callable_names(self, where: Path | None, line: int, column: int, depth: int) -> set[str]:
        """What calling the callee at a position makes: the class, or the function and what it returns."""
        self._check_budget()
        script = self._script(where)
        definitions = script.goto(line, column, follow_imports=True)
        if not definitions:
            # a package that is not installed: the import's own name is all there is
            return {d.full_name for d in script.goto(line, column) if d.type == "module" and d.full_name}
        found: set[str] = set()
        for definition in definitions:
            if not definition.full_name:
                continue
            if definition.type == "class":
                found.add(definition.full_name)
            elif definition.type == "function":
                found.add(definition.full_name)
                if depth > 0 and definition.line is not None:
                    found |= self._returned(self._module_key(definition.module_path), definition.line, depth - 1)
        return found

    # -- following the syntax --------------------------------------------------------
    def _assigned_value(self, where: Path | None, line: int, name: str, depth: int) -> set[str]:
        tree = self._tree(where)
        if tree is None:
            return set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.lineno == line and node.value is not None:
                return self._expression(where, node.value, depth)
            if isinstance(node, (ast.With, ast.AsyncWith)):
                for item in node.items:
                    if item.optional_vars is not None and item.optional_vars.lineno == line:
                        return self._expression(where, item.context_expr, depth)
        return set()

    def _expression(self, where: Path | None, value: ast.expr, depth: int) -> set[str]:
        if isinstance(value, ast.Await):
            value = value.value
        if isinstance(value, ast.Call):
            position = self._position(where, value.func)
            if position is not None:
                return self._callable_names(where, *position, depth)
        elif isinstance(value, (ast.Name, ast.Attribute)):
            position = self._position(where, value)
            if position is not None:
                return self._value_producers(where, *position, depth)
        return set()

    def _position(self, where: Path | None, expr: ast.expr) -> tuple[int, int] | None:
        """(line, column) of the last name of ``a.b.c`` / ``f``; ast's byte columns turned into code points."""
        found = _last_name_position(expr)
        if found is None:
            return None
        line, byte_column = found
        lines = self._codes.get(where, "").split("\n")
        if 0 < line <= len(lines):
            return line, len(lines[line - 1].encode("utf-8")[:byte_column].decode("utf-8", "replace"))
        return found

    def _returned(self, where: Path | None, line: int, depth: int) -> set[str]:
        tree = self._tree(where)
        if tree is None:
            return set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.lineno <= line <= (node.body[0].lineno if node.body else node.lineno):
                found: set[str] = set()
                for inner in _own_returns(node):
                    if inner.value is not None:
                        found |= self._expression(where, inner.value, depth)
                return found
        return set()

    def _annotation(self, where: Path | None, line: int, name: str, depth: int) -> set[str]:
        tree = self._tree(where)
        if tree is None:
            return set()
        for node in ast.walk(tree):
            if isinstance(node, ast.arg) and node.lineno == line and node.annotation is not None and node.arg == name:
                position = self._position(where, node.annotation)
                if position is not None:
                    return {n for n in self._callable_names(where, *position, depth) if n}
        return set()


def _last_name_position(expr: ast.expr) -> tuple[int, int] | None:
    """(line, byte column) of the last name of ``a.b.c`` / ``f``, as :mod:`ast` counts."""
    if isinstance(expr, ast.Name):
        return expr.lineno, expr.col_offset
    if isinstance(expr, ast.Attribute) and expr.end_col_offset is not None and expr.end_lineno is not None:
        return expr.end_lineno, expr.end_col_offset - len(expr.attr)
    return None


def _own_returns(func: ast.AST) -> Iterable[ast.Return]:
    stack = list(ast.iter_child_nodes(func))
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Return):
            yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            stack.extend(ast.iter_child_nodes(node))
