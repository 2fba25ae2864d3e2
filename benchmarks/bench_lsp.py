"""Language-server latency while typing, side by side with ``ruff server`` in the same run.

    python benchmarks/bench_lsp.py [--changes 40] [--scenarios a,b,c] [--markdown FILE] [--profile N]
                                   [--debounce 0] [--checkout PATH] [--cache DIR] [--baseline 'ruff server']

Three scenarios, each on a fresh pair of servers (``python -m perf_lsp serve`` with the
``perf_lsp`` of ``--checkout``, default this checkout, and the baseline, ``ruff server``):

- ``a``: the middle method (by position among the class's methods) of the largest class
  of the stdlib's ``_pydecimal.py`` (``Decimal``, ~3,300 lines: one top-level statement);
- ``b``: the middle method of the largest class of letta 0.16.8's
  ``letta/services/agent_manager.py``: 3,600 lines, 97% of them one class
  (``AgentManager``, 72 methods of database and agent-state service code: the kind of
  module the rules are written for). One of the projects of ``docs/real-code-review.md``,
  fetched like ``real_fix_run.py`` does (``benchmarks/projects.py``: ``pip download
  --no-deps`` into ``--cache``, then unzipped); ``import re`` is added at the top when the
  module lacks it;
- ``c``: a small top-level function (``_bench_tokens``) of the same document as ``a``:
  ``_pydecimal.py`` with a block of functions that have findings after its imports and
  again at its end. The best case: the unit re-analysed is a few lines.

In each, one statement is inserted in the target function,
``typed = [re.findall(r"\\w+", s) for s in ()]``, a finding for both servers (perf-lsp's
PFL401 at ``re.findall``; Ruff's F841 on ``typed``), and ``--changes`` characters (``x``)
are typed one per ``didChange`` right after ``typed``, so every change is a code change
inside the function (a new name bound), never only a comment. Both servers get the same
open and the same changes, interleaved (a change to ``ruff server``, its diagnostics, the
same change to perf-lsp, its diagnostics), so the machine's load falls on both alike.
Every publish is checked: perf-lsp must report PFL401 at the column the typing moved it to,
Ruff F841 naming the variable as typed so far; the final text is parsed to check the typed
name is inside the target function. A failed check is printed and makes the exit code 1.

Per scenario and server: open -> first diagnostics (``didOpen`` to the first
``publishDiagnostics`` of version 1), p50/p95/max of ``didChange`` -> the first
``publishDiagnostics`` of that version, and the peak RSS of the server process
(``VmHWM``) after the typing, with the ratios perf-lsp/ruff. perf-lsp only: hover and
code-action latency at the finding (p50 of 10), one explicit fix-all (``source.fixAll``),
and its peak RSS after those. perf-lsp publishes a second, jedi-refined set after the first
when findings need types; the figures are the first publish (the refined pass runs after
it and delays the next change when it is still busy). ``debounceMs`` is 0 unless
``--debounce`` is given, so the figures are the server's own cost.

The targets of issue 9 are checked and printed as met or not: typing p95 at most 2x Ruff's
on ``a`` and ``b``, first diagnostics at most 10x Ruff's, peak RSS under 150 MB with
``_pydecimal.py`` open (``a`` and ``c``; the peak over the whole session, fix-all included).
``--markdown FILE`` writes the table. ``--profile N`` runs no server: it profiles the
server's analysis of N changes of each scenario in this process (cProfile, top 25 functions
by cumulative time).
Prints figures; not a test. Latest figures: ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import datetime
import json
import os
import platform
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from projects import DEFAULT_CACHE, fetch, project  # noqa: E402  (benchmarks/projects.py: no perf_lsp import)

ROOT = Path(__file__).resolve().parents[1]

FINDINGS = """

def _bench_tokens(lines):
    # typing here
    return [re.findall(r"\\w+", line) for line in lines]


def _bench_clean(messages):
    out = []
    for message in messages:
        out.append(re.sub(r"\\s+", " ", message))
    return out


def _bench_ids(text):
    pattern = re.compile(r"ID-(\\d+)")
    return pattern.findall(text)
"""

TYPED = 'typed = [re.findall(r"\\w+", s) for s in ()]'
"""The statement typed into: keystrokes go right after ``typed``."""
TYPED_NAME = "typed"
OUR_CODE = "PFL401"
RUFF_CODE = "F841"
WAIT_S = 180.0

SCENARIOS = {
    "a": "middle method of the largest class, _pydecimal.py",
    "b": "middle method of the largest class, letta agent_manager.py",
    "c": "small top-level function, _pydecimal.py (+ findings)",
}

TARGETS = {
    "p95": 2.0,  # typing p95 at most 2x ruff server's, scenarios a and b
    "first": 10.0,  # first diagnostics at most 10x ruff's
    "rss_mb": 150.0,  # peak RSS with _pydecimal.py open (a, c)
}


# -- the documents -----------------------------------------------------------------------
@dataclass
class Scenario:
    """One document and where to type in it: ``row`` 0-based, ``column`` 0-based code points (ASCII here)."""

    key: str
    title: str
    filename: str
    text: str
    row: int
    column: int
    target: tuple[str | None, str]  # (class or None, function) the typing must land in
    where: str


def largest_class(tree: ast.Module) -> ast.ClassDef:
    """The top-level class spanning the most lines."""
    classes = [node for node in tree.body if isinstance(node, ast.ClassDef)]
    return max(classes, key=lambda node: node.end_lineno - node.lineno)


def middle_method(tree: ast.Module) -> tuple[ast.ClassDef, ast.FunctionDef | ast.AsyncFunctionDef, int, int]:
    """(class, method, index, count): the middle one, by position, of the largest class's methods."""
    cls = largest_class(tree)
    methods = [node for node in cls.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]
    index = len(methods) // 2
    return cls, methods[index], index, len(methods)


def find_function(tree: ast.Module, cls: str | None, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef:
    """The top-level function ``name``, or method ``name`` of top-level class ``cls``; ``LookupError`` if none."""
    body = tree.body
    if cls is not None:
        body = next(node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == cls).body
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            return node
    raise LookupError(f"{cls}.{name}" if cls else name)


def insert_typed(text: str, func: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[str, int, int]:
    """``text`` with ``TYPED`` as the first statement of ``func``'s body (after its docstring).

    Returns (new text, row of the statement 0-based, column right after ``typed``).
    """
    body = func.body
    first = body[0]
    docstring = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str)
    if first.lineno == func.lineno:
        raise ValueError(f"{func.name}: body on the def line")
    indent = " " * first.col_offset
    if docstring and len(body) > 1:
        # 1-based line of the statement the new one goes before (its decorators' first)
        before = min([body[1].lineno] + [d.lineno for d in getattr(body[1], "decorator_list", [])])
        indent = " " * body[1].col_offset
    elif docstring:
        before = first.end_lineno + 1
    else:
        before = min([first.lineno] + [d.lineno for d in getattr(first, "decorator_list", [])])
    lines = text.splitlines(keepends=True)
    lines.insert(before - 1, f"{indent}{TYPED}\n")
    return "".join(lines), before - 1, len(indent) + len(TYPED_NAME)


def ensure_import_re(text: str) -> str:
    """``text`` with ``import re`` before its first top-level import, unless it imports ``re`` already."""
    tree = ast.parse(text)
    for node in tree.body:
        if isinstance(node, ast.Import) and any(alias.name == "re" and alias.asname is None for alias in node.names):
            return text
    first = next(
        node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom)) and getattr(node, "module", None) != "__future__"
    )
    lines = text.splitlines(keepends=True)
    lines.insert(first.lineno - 1, "import re\n")
    return "".join(lines)


def decimal_document() -> tuple[str, tuple[str, str], str]:
    """``_pydecimal.py`` with the findings block after its imports and at its end, ``TYPED`` in
    ``_bench_tokens`` and in the middle method of ``Decimal``: (text, (class, method), description)."""
    import _pydecimal

    source = Path(_pydecimal.__file__).read_text(encoding="utf-8")
    anchor = source.index("\nimport math as _math")
    anchor = source.index("\n", anchor + 1) + 1
    block = FINDINGS.replace("# typing here", TYPED)
    text = source[:anchor] + block + source[anchor:] + block.replace("_bench_", "_bench2_")
    cls, method, index, count = middle_method(ast.parse(text))
    text, _, _ = insert_typed(text, method)
    where = (
        f"`{cls.name}.{method.name}`, method {index + 1} of {count}; class lines {cls.lineno}-{cls.end_lineno} "
        f"({cls.end_lineno - cls.lineno + 1} lines)"
    )
    return text, (cls.name, method.name), where


def typed_row(text: str, cls: str | None, name: str) -> tuple[int, int]:
    """(row 0-based, column after ``typed``) of the ``TYPED`` statement in function ``name``."""
    func = find_function(ast.parse(text), cls, name)
    for node in func.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and node.targets[0].id == TYPED_NAME:
            return node.lineno - 1, node.col_offset + len(TYPED_NAME)
    raise LookupError(f"no typed statement in {name}")


def scenarios(keys: list[str], cache: Path) -> list[Scenario]:
    """The documents of the scenarios ``keys`` (``a``, ``b``, ``c``); ``b`` fetches letta when missing."""
    out = []
    if "a" in keys or "c" in keys:
        text, (cls, method), where = decimal_document()
        if "a" in keys:
            row, column = typed_row(text, cls, method)
            out.append(Scenario("a", SCENARIOS["a"], "_pydecimal_bench.py", text, row, column, (cls, method), where))
        if "c" in keys:
            row, column = typed_row(text, None, "_bench_tokens")
            where = "`_bench_tokens`, 3 lines, a top-level function right after the imports"
            out.append(Scenario("c", SCENARIOS["c"], "_pydecimal_bench.py", text, row, column, (None, "_bench_tokens"), where))
    if "b" in keys:
        folder = fetch(cache, *project("letta"))
        source = (folder / "services" / "agent_manager.py").read_text(encoding="utf-8")
        text = ensure_import_re(source)
        cls, method, index, count = middle_method(ast.parse(text))
        text, _, _ = insert_typed(text, method)
        row, column = typed_row(text, cls.name, method.name)
        where = (
            f"letta 0.16.8 `letta/services/agent_manager.py` ({source.count(chr(10))} lines), "
            f"`{cls.name}.{method.name}`, method {index + 1} of {count}; class lines {cls.lineno}-{cls.end_lineno}"
        )
        out.append(Scenario("b", SCENARIOS["b"], "agent_manager.py", text, row, column, (cls.name, method.name), where))
    return sorted(out, key=lambda s: s.key)


def check_landed(scenario: Scenario, changes: int) -> str | None:
    """None when the final text (after ``changes`` keystrokes) parses and its typed name is in the target function."""
    lines = scenario.text.splitlines(keepends=True)
    line = lines[scenario.row]
    lines[scenario.row] = line[: scenario.column] + "x" * changes + line[scenario.column :]
    try:
        func = find_function(ast.parse("".join(lines)), *scenario.target)
    except (SyntaxError, LookupError, StopIteration) as exc:
        return f"final text: {exc!r}"
    name = TYPED_NAME + "x" * changes
    hits = [n for n in ast.walk(func) if isinstance(n, ast.Name) and n.id == name and n.lineno == scenario.row + 1]
    return None if hits else f"`{name}` not found in {scenario.target} at line {scenario.row + 1}"


# -- the client --------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def peak_rss_mb(pid: int) -> float | None:
    """``VmHWM`` of process ``pid`` in MB (None when /proc has no such process)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of process ``pid`` (all its threads) in seconds, from ``/proc/PID/stat``
    (clock ticks, usually 10 ms each); None when /proc has no such process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class RawClient:
    """A bare JSON-RPC client over stdio, the same for both servers (``ruff server``'s messages are not
    all ones lsprotocol structures). Requests from the server get a ``null`` result."""

    def __init__(self, name: str, proc: asyncio.subprocess.Process) -> None:
        self.name = name
        self.proc = proc
        self.next_id = 0
        self.received: list[dict] = []  # publishDiagnostics seen while waiting for something else

    @classmethod
    async def start(cls, name: str, command: list[str], env: dict[str, str], cwd: Path) -> RawClient:
        proc = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            env=env,
            cwd=cwd,
        )
        return cls(name, proc)

    async def send(self, method: str, params: dict | None, request: bool = False) -> int | None:
        message: dict = {"jsonrpc": "2.0", "method": method, "params": params}
        if request:
            self.next_id += 1
            message["id"] = self.next_id
        await self._write(message)
        return message.get("id")

    async def request(self, method: str, params: dict | None) -> dict:
        """Send a request and wait for its response (the whole message: ``result`` or ``error``)."""
        request = await self.send(method, params, request=True)
        return await self.until(lambda m: m.get("id") == request and "method" not in m)

    async def _write(self, message: dict) -> None:
        body = json.dumps(message).encode("utf-8")
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        await self.proc.stdin.drain()

    async def receive(self) -> dict:
        length = 0
        while True:
            line = await self.proc.stdout.readline()
            if not line:
                raise EOFError(f"{self.name} closed its output")
            if line in (b"\r\n", b"\n"):
                break
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        return json.loads(await self.proc.stdout.readexactly(length))

    async def until(self, predicate, timeout: float = WAIT_S) -> dict:
        async def loop() -> dict:
            while True:
                message = await self.receive()
                if "id" in message and "method" in message:
                    await self._write({"jsonrpc": "2.0", "id": message["id"], "result": None})
                if predicate(message):
                    return message

        return await asyncio.wait_for(loop(), timeout)

    async def published(self, uri: str, version: int) -> dict:
        """The next ``publishDiagnostics`` of ``uri`` at ``version`` (its params)."""
        message = await self.until(
            lambda m: m.get("method") == "textDocument/publishDiagnostics"
            and m["params"].get("uri") == uri
            and m["params"].get("version") == version
        )
        return message["params"]

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self.request("shutdown", None), 10)
            await self.send("exit", None)
            await asyncio.wait_for(self.proc.wait(), 10)
        except (asyncio.TimeoutError, EOFError, ConnectionError):
            pass
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


@dataclass
class Figures:
    """One server's figures in one scenario; times in seconds."""

    start: float = 0.0
    first: float = 0.0
    latencies: list[float] = field(default_factory=list)
    rss_mb: float | None = None
    failed_checks: list[str] = field(default_factory=list)
    diagnostics: tuple[int, int] = (0, 0)  # fewest and most diagnostics in a publish while typing
    cpu: float | None = None  # the server's CPU time over all the changes (all threads)

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies)

    @property
    def p95(self) -> float:
        return percentile(self.latencies, 0.95)

    @property
    def max(self) -> float:
        return max(self.latencies)


@dataclass
class Extras:
    """perf-lsp's other requests at the finding, after the typing; seconds."""

    hover: float = 0.0
    hover_found: bool = False
    action: float = 0.0
    actions: int = 0
    fix_all: float = 0.0
    fix_all_edits: int = 0
    rss_mb: float | None = None


def our_check(diagnostics: list[dict], scenario: Scenario, typed: int) -> str | None:
    """None when perf-lsp's publish has PFL401 where the typing moved ``re.findall`` to."""
    column = scenario.column + typed + TYPED.index("re.findall") - len(TYPED_NAME)
    for d in diagnostics:
        start = d["range"]["start"]
        if d.get("code") == OUR_CODE and start["line"] == scenario.row and start["character"] == column:
            return None
    return f"no {OUR_CODE} at {scenario.row + 1}:{column + 1} after {typed} characters"


def ruff_check(diagnostics: list[dict], scenario: Scenario, typed: int) -> str | None:
    """None when Ruff's publish has F841 on the typed line naming the variable as typed so far."""
    name = f"`{TYPED_NAME}{'x' * typed}`"
    for d in diagnostics:
        if d.get("code") == RUFF_CODE and d["range"]["start"]["line"] == scenario.row and name in d.get("message", ""):
            return None
    return f"no {RUFF_CODE} naming {name} on line {scenario.row + 1}"


async def run_scenario(
    scenario: Scenario, changes: int, debounce: int, ours_cmd: list[str], ruff_cmd: list[str], env: dict[str, str]
) -> tuple[Figures, Figures, Extras]:
    """Both servers through one scenario: (perf-lsp's figures, ruff's figures, perf-lsp's other requests)."""
    from lsprotocol.converters import get_converter
    from pytest_lsp import client_capabilities

    work = Path(tempfile.mkdtemp(prefix="perf-lsp-bench-"))
    uri = (work / scenario.filename).as_uri()
    ours, theirs = Figures(), Figures()
    vscode = get_converter().unstructure(client_capabilities("visual-studio-code"))
    t = time.perf_counter()
    us = await RawClient.start("perf-lsp", ours_cmd, env, work)
    await us.request(
        "initialize",
        {"processId": os.getpid(), "rootUri": work.as_uri(), "capabilities": vscode, "initializationOptions": {"debounceMs": debounce}},
    )
    await us.send("initialized", {})
    ours.start = time.perf_counter() - t
    t = time.perf_counter()
    # no pull-diagnostics capability, so ruff pushes them
    ruff = await RawClient.start("ruff server", ruff_cmd, env, work)
    await ruff.request("initialize", {"processId": os.getpid(), "rootUri": work.as_uri(), "capabilities": {}})
    await ruff.send("initialized", {})
    theirs.start = time.perf_counter() - t
    try:
        sides = ((ruff, theirs, ruff_check), (us, ours, our_check))
        for client, figures, check in sides:
            item = {"uri": uri, "languageId": "python", "version": 1, "text": scenario.text}
            sent = time.perf_counter()
            await client.send("textDocument/didOpen", {"textDocument": item})
            params = await client.published(uri, 1)
            figures.first = time.perf_counter() - sent
            problem = check(params["diagnostics"], scenario, 0)
            if problem:
                figures.failed_checks.append(f"open: {problem}")
            figures.diagnostics = (len(params["diagnostics"]), len(params["diagnostics"]))
        cpu_before = {id(figures): cpu_seconds(client.proc.pid) for client, figures, _ in sides}
        for i in range(changes):
            version = i + 2
            position = {"line": scenario.row, "character": scenario.column + i}
            change = {
                "textDocument": {"uri": uri, "version": version},
                "contentChanges": [{"range": {"start": position, "end": position}, "text": "x"}],
            }
            for client, figures, check in sides:
                sent = time.perf_counter()
                await client.send("textDocument/didChange", change)
                params = await client.published(uri, version)
                figures.latencies.append(time.perf_counter() - sent)
                problem = check(params["diagnostics"], scenario, i + 1)
                if problem:
                    figures.failed_checks.append(f"version {version}: {problem}")
                n = len(params["diagnostics"])
                figures.diagnostics = (min(figures.diagnostics[0], n), max(figures.diagnostics[1], n))
        for client, figures, _ in sides:
            before, after = cpu_before[id(figures)], cpu_seconds(client.proc.pid)
            figures.cpu = after - before if before is not None and after is not None else None
        ours.rss_mb = peak_rss_mb(us.proc.pid)
        theirs.rss_mb = peak_rss_mb(ruff.proc.pid)
        extras = await other_requests(us, uri, scenario, changes)
        extras.rss_mb = peak_rss_mb(us.proc.pid)
    finally:
        await us.close()
        await ruff.close()
        shutil.rmtree(work, ignore_errors=True)
    return ours, theirs, extras


async def other_requests(client: RawClient, uri: str, scenario: Scenario, typed: int) -> Extras:
    """Hover and code actions at the finding on the typed line (p50 of 10), then one fix-all."""
    extras = Extras()
    column = scenario.column + typed + TYPED.index("re.findall") - len(TYPED_NAME) + 3
    here = {"line": scenario.row, "character": column}
    doc = {"uri": uri}
    hovers, actions = [], []
    for _ in range(10):
        t = time.perf_counter()
        hover = await client.request("textDocument/hover", {"textDocument": doc, "position": here})
        hovers.append(time.perf_counter() - t)
        t = time.perf_counter()
        action = await client.request(
            "textDocument/codeAction",
            {"textDocument": doc, "range": {"start": here, "end": here}, "context": {"diagnostics": []}},
        )
        actions.append(time.perf_counter() - t)
    extras.hover, extras.hover_found = statistics.median(hovers), bool(hover.get("result"))
    extras.action, extras.actions = statistics.median(actions), len(action.get("result") or [])
    t = time.perf_counter()
    fix_all = await client.request(
        "textDocument/codeAction",
        {
            "textDocument": doc,
            "range": {"start": here, "end": here},
            "context": {"diagnostics": [], "only": ["source.fixAll"]},
        },
    )
    extras.fix_all = time.perf_counter() - t
    result = fix_all.get("result") or []
    if result and result[0].get("edit"):
        extras.fix_all_edits = sum(len(change.get("edits", [])) for change in result[0]["edit"].get("documentChanges", []))
    return extras


# -- the report --------------------------------------------------------------------------
def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f}" if seconds < 0.1 else f"{seconds * 1000:,.0f}"


def cpu_ms(figures: Figures, changes: int) -> str:
    """The server's mean CPU time per change in ms ('-' when /proc could not tell)."""
    return "-" if figures.cpu is None or not changes else f"{figures.cpu * 1000 / changes:,.1f} ms"


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.1f}x" if a and b else "-"


def verdicts(results: dict[str, tuple[Scenario, Figures, Figures, Extras]]) -> list[tuple[str, str, str]]:
    """(target, measured, met or not) for each of issue 9's targets the scenarios run could check."""
    out = []
    for key in ("a", "b"):
        if key in results:
            _, ours, theirs, _ = results[key]
            r = ours.p95 / theirs.p95
            out.append((f"({key}) typing p95 <= {TARGETS['p95']:g}x ruff's", f"{r:.1f}x", "met" if r <= TARGETS["p95"] else "NOT met"))
    for key in ("a", "b", "c"):
        if key in results:
            _, ours, theirs, _ = results[key]
            r = ours.first / theirs.first
            out.append((f"({key}) first diagnostics <= {TARGETS['first']:g}x ruff's", f"{r:.1f}x", "met" if r <= TARGETS["first"] else "NOT met"))
    for key in ("a", "c"):
        if key in results and results[key][3].rss_mb is not None:
            rss = results[key][3].rss_mb  # the peak over the whole session: typing, hover, code actions, fix-all
            met = "met" if rss < TARGETS["rss_mb"] else "NOT met"
            out.append((f"({key}) peak RSS < {TARGETS['rss_mb']:g} MB, _pydecimal.py open", f"{rss:.0f} MB", met))
    return out


def table(results: dict[str, tuple[Scenario, Figures, Figures, Extras]], changes: int) -> str:
    """The figures as a Markdown table: one row per scenario and measure, perf-lsp | ruff server | ratio."""
    head = "| scenario | measure | perf-lsp | ruff server | perf-lsp / ruff |\n|---|---|---|---|---|"
    rows = [head]
    for key, (scenario, ours, theirs, extras) in sorted(results.items()):
        label = f"({key}) {scenario.title}"
        rows += [
            f"| {label} | open -> first diagnostics | {ms(ours.first)} ms | {ms(theirs.first)} ms | {ratio(ours.first, theirs.first)} |",
            f"| | change -> diagnostics p50 ({changes} changes) | {ms(ours.p50)} ms | {ms(theirs.p50)} ms | {ratio(ours.p50, theirs.p50)} |",
            f"| | change -> diagnostics p95 | {ms(ours.p95)} ms | {ms(theirs.p95)} ms | {ratio(ours.p95, theirs.p95)} |",
            f"| | change -> diagnostics max | {ms(ours.max)} ms | {ms(theirs.max)} ms | {ratio(ours.max, theirs.max)} |",
            f"| | server CPU per change (mean, all threads) | {cpu_ms(ours, changes)} | {cpu_ms(theirs, changes)} | |",
            f"| | peak RSS after typing | {ours.rss_mb or 0:.0f} MB | {theirs.rss_mb or 0:.0f} MB | {ratio(ours.rss_mb, theirs.rss_mb)} |",
            f"| | hover / code action p50, fix-all | {ms(extras.hover)} / {ms(extras.action)} ms, {ms(extras.fix_all)} ms "
            f"({extras.fix_all_edits} edits); peak RSS then {extras.rss_mb or 0:.0f} MB | | |",
        ]
    return "\n".join(rows)


def report(results: dict[str, tuple[Scenario, Figures, Figures, Extras]], changes: int, debounce: int) -> str:
    lines = [table(results, changes), "", "| target (issue 9) | measured | |", "|---|---|---|"]
    lines += [f"| {target} | {measured} | {met} |" for target, measured, met in verdicts(results)]
    lines.append("")
    for key, (scenario, ours, theirs, _) in sorted(results.items()):
        lines.append(
            f"- ({key}) typed into {scenario.where} (line {scenario.row + 1}); diagnostics per publish while typing: "
            f"perf-lsp {ours.diagnostics[0]}-{ours.diagnostics[1]}, ruff {theirs.diagnostics[0]}-{theirs.diagnostics[1]}; "
            f"checks failed: perf-lsp {len(ours.failed_checks)}, ruff {len(theirs.failed_checks)}; "
            f"server start + initialize: perf-lsp {ms(ours.start)} ms, ruff {ms(theirs.start)} ms"
        )
    lines.append(f"- debounceMs {debounce}; {changes} one-character changes per scenario")
    return "\n".join(lines)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, {platform.system()}"


def profile_keystrokes(scenario: Scenario, checkout: Path, keystrokes: int, top: int = 25) -> None:
    """cProfile of the server's analysis path, in this process, for ``keystrokes`` one-character changes.

    Uses ``perf_lsp`` of ``checkout``: ``Documents.analysis`` (the engine's ``analyze`` with
    ``previous``, as the server runs it on each change) after the open and two unprofiled
    changes; prints the wall time per change and the ``top`` functions by cumulative time.
    """
    import cProfile
    import pstats

    sys.path.insert(0, str(checkout))
    from perf_lsp.lsp.features import Documents, Snapshot
    from perf_lsp.settings import Settings

    uri = "file:///bench/" + scenario.filename
    docs = Documents()
    settings = Settings()
    codec = None

    def snapshot(version: int, typed: int) -> Snapshot:
        lines = scenario.text.splitlines(keepends=True)
        line = lines[scenario.row]
        lines[scenario.row] = line[: scenario.column] + "x" * typed + line[scenario.column :]
        return Snapshot(uri, version, "".join(lines), codec, settings)

    t = time.perf_counter()
    docs.analysis(snapshot(1, 0))
    print(f"open (analysis of version 1): {ms(time.perf_counter() - t)} ms")
    for typed in (1, 2):
        docs.analysis(snapshot(typed + 1, typed))
    profiler = cProfile.Profile()
    took = []
    for typed in range(3, 3 + keystrokes):
        snap = snapshot(typed + 1, typed)
        t = time.perf_counter()
        profiler.enable()
        analysis = docs.analysis(snap)
        profiler.disable()
        took.append(time.perf_counter() - t)
    print(
        f"({scenario.key}) {keystrokes} changes profiled: {', '.join(ms(x) for x in took)} ms each "
        f"(with the profiler); {len(analysis.diagnostics)} diagnostics"
    )
    pstats.Stats(profiler, stream=sys.stdout).sort_stats("cumulative").print_stats(top)


def ruff_command() -> list[str] | None:
    try:
        from ruff import find_ruff_bin

        return [find_ruff_bin(), "server"]
    except (ImportError, FileNotFoundError):
        found = shutil.which("ruff")
        return [found, "server"] if found else None


async def main(args: argparse.Namespace) -> int:
    keys = [k.strip() for k in args.scenarios.split(",") if k.strip()]
    baseline = shlex.split(args.baseline) if args.baseline else ruff_command()
    if not baseline:
        print("ruff not found: pip install ruff (it is in the test extra)", file=sys.stderr)
        return 2
    checkout = Path(args.checkout).resolve()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(checkout), env.get("PYTHONPATH", "")) if p)
    ours_cmd = [sys.executable, "-m", "perf_lsp", "serve"]
    print(f"perf-lsp from {checkout}; baseline {' '.join(baseline)}; {machine()}", flush=True)
    if args.profile:
        for scenario in scenarios(keys, Path(args.cache)):
            profile_keystrokes(scenario, checkout, args.profile)
        return 0
    results = {}
    failed = False
    for scenario in scenarios(keys, Path(args.cache)):
        print(f"\n({scenario.key}) {scenario.title}: {scenario.text.count(chr(10))} lines; typing into {scenario.where}", flush=True)
        ours, theirs, extras = await run_scenario(scenario, args.changes, args.debounce, ours_cmd, baseline, env)
        landed = check_landed(scenario, args.changes)
        for name, figures in (("perf-lsp", ours), ("ruff", theirs)):
            for problem in figures.failed_checks[:5]:
                print(f"  CHECK FAILED ({name}): {problem}")
            failed |= bool(figures.failed_checks)
        if landed:
            print(f"  CHECK FAILED (typing): {landed}")
            failed = True
        results[scenario.key] = (scenario, ours, theirs, extras)
        print(table({scenario.key: results[scenario.key]}, args.changes).split("\n", 2)[2], flush=True)
    text = report(results, args.changes, args.debounce)
    print()
    print(text)
    if args.markdown:
        stamp = datetime.date.today().isoformat()
        Path(args.markdown).write_text(
            f"Measured {stamp} on {machine()}: `python benchmarks/bench_lsp.py --changes {args.changes}`\n\n{text}\n",
            encoding="utf-8",
        )
    return 1 if failed else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=40, help="characters typed per scenario (default 40)")
    parser.add_argument("--scenarios", default="a,b,c", help="which of a, b, c (default all)")
    parser.add_argument("--debounce", type=int, default=0, help="perf-lsp's debounceMs (default 0)")
    parser.add_argument("--checkout", default=str(ROOT), help="the checkout whose perf_lsp serves (default: this one)")
    parser.add_argument("--cache", default=str(DEFAULT_CACHE), help="where the real projects' wheels are kept")
    parser.add_argument("--baseline", default="", help="the baseline server's command (default: ruff's binary + 'server')")
    parser.add_argument("--markdown", help="also write the table to this Markdown file")
    parser.add_argument(
        "--profile", type=int, default=0, metavar="N",
        help="instead: cProfile N changes of each scenario in this process (no servers), top 25 by cumulative time",
    )
    sys.exit(asyncio.run(main(parser.parse_args())))
