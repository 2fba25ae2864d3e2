"""Language-server latency: one character typed per change into a big file.

Starts ``python -m perf_lsp serve``, opens a ~6,500-line document (the stdlib's
``_pydecimal.py`` with a block of functions that have findings), then types one
character per change ``--changes`` times into a comment inside a flagged
function (so every change re-parses and re-checks that statement), waiting for
each change's diagnostics. Prints the time to the first diagnostics, p50/p95 of
didChange -> publishDiagnostics, hover and code-action latency (a lightbulb
request: fix-all deferred to codeAction/resolve), one explicit fix-all, and the server's
peak RSS. ``debounceMs`` is 0 unless ``--debounce`` is given, so the figures are
the server's own cost (add the debounce for what an editor sees).

With ``ruff`` on PATH, the same typing runs against ``ruff server`` afterwards and
the ratio of the medians is printed (``--baseline ''`` to skip it).

Run: ``python benchmarks/bench_lsp.py [--changes 200] [--debounce 75]``. Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient
from pytest_lsp import client_capabilities

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


SERVER_COMMAND = [sys.executable, "-m", "perf_lsp", "serve"]


def big_document() -> str:
    import _pydecimal

    source = Path(_pydecimal.__file__).read_text(encoding="utf-8")
    # the findings go right after the module's imports, and again at the end
    anchor = source.index("\nimport math as _math")
    anchor = source.index("\n", anchor + 1) + 1
    return source[:anchor] + FINDINGS + source[anchor:] + FINDINGS.replace("_bench_", "_bench2_")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class RawClient:
    """A bare JSON-RPC client over stdio, for baseline servers whose messages lsprotocol
    does not structure (``ruff server``'s initialize result, for one)."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.next_id = 0

    async def send(self, method: str, params: dict, request: bool = False) -> int | None:
        message: dict = {"jsonrpc": "2.0", "method": method, "params": params}
        if request:
            self.next_id += 1
            message["id"] = self.next_id
        body = json.dumps(message).encode("utf-8")
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        await self.proc.stdin.drain()
        return message.get("id")

    async def receive(self) -> dict:
        length = 0
        while True:
            line = await self.proc.stdout.readline()
            if not line:
                raise EOFError("server closed its output")
            if line in (b"\r\n", b"\n"):
                break
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        return json.loads(await self.proc.stdout.readexactly(length))

    async def until(self, predicate) -> dict:
        while True:
            message = await self.receive()
            if "id" in message and "method" in message:  # a request from the server: answer null
                await self._reply(message["id"])
            if predicate(message):
                return message

    async def _reply(self, request_id) -> None:
        body = json.dumps({"jsonrpc": "2.0", "id": request_id, "result": None}).encode("utf-8")
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        await self.proc.stdin.drain()


async def typing_baseline(command: list[str], text: str, changes: int) -> list[float]:
    """The same typing scenario against another server (e.g. ``ruff server``): didChange -> publish latencies."""
    uri = Path("/tmp/perf-lsp-bench/_pydecimal_baseline.py").as_uri()
    proc = await asyncio.create_subprocess_exec(
        *command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
    )
    client = RawClient(proc)
    # no pull-diagnostics capability, so the server pushes them
    request = await client.send("initialize", {"processId": None, "rootUri": None, "capabilities": {}}, request=True)
    await client.until(lambda m: m.get("id") == request and "method" not in m)
    await client.send("initialized", {})
    await client.send(
        "textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}}
    )

    def published(version: int):
        return lambda m: m.get("method") == "textDocument/publishDiagnostics" and m["params"].get("version") == version

    await asyncio.wait_for(client.until(published(1)), 60)
    lines = text.splitlines()
    row = next(i for i, line in enumerate(lines) if line.strip() == "# typing here")
    column = len(lines[row])
    latencies = []
    for i in range(changes):
        version = i + 2
        position = {"line": row, "character": column + i}
        sent = time.perf_counter()
        await client.send(
            "textDocument/didChange",
            {
                "textDocument": {"uri": uri, "version": version},
                "contentChanges": [{"range": {"start": position, "end": position}, "text": "x"}],
            },
        )
        await asyncio.wait_for(client.until(published(version)), 60)
        latencies.append(time.perf_counter() - sent)
    proc.kill()
    await proc.wait()
    return latencies


async def main(changes: int, debounce: int, baseline: list[str] | None = None) -> None:
    text = big_document()
    uri = Path("/tmp/perf-lsp-bench/_pydecimal_bench.py").as_uri()
    client = LanguageClient("bench", "0")
    arrived: dict[int | None, float] = {}
    counts: dict[int | None, int] = {}
    waiters: dict[int | None, asyncio.Future] = {}

    @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def on_publish(params: types.PublishDiagnosticsParams) -> None:
        if params.uri != uri:
            return
        arrived[params.version] = time.perf_counter()
        counts[params.version] = len(params.diagnostics)
        waiter = waiters.pop(params.version, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait_version(version: int) -> None:
        if version in arrived:
            return
        waiters[version] = asyncio.get_running_loop().create_future()
        await asyncio.wait_for(waiters[version], 60)

    started = time.perf_counter()
    await client.start_io(*SERVER_COMMAND)
    await client.initialize_async(
        types.InitializeParams(
            capabilities=client_capabilities("visual-studio-code"),
            initialization_options={"debounceMs": debounce},
        )
    )
    client.initialized(types.InitializedParams())
    ready = time.perf_counter()

    sent = time.perf_counter()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)
        )
    )
    await wait_version(1)
    first = arrived[1] - sent

    lines = text.splitlines()
    row = next(i for i, line in enumerate(lines) if line.strip() == "# typing here")
    column = len(lines[row])
    latencies: list[float] = []
    for i in range(changes):
        version = i + 2
        position = types.Position(line=row, character=column + i)
        sent = time.perf_counter()
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                content_changes=[
                    types.TextDocumentContentChangePartial(range=types.Range(start=position, end=position), text="x")
                ],
            )
        )
        await wait_version(version)
        latencies.append(arrived[version] - sent)

    finding_row = row + 1
    finding_col = lines[finding_row].index("re.findall") + 3
    here = types.Position(line=finding_row, character=finding_col)
    doc = types.TextDocumentIdentifier(uri=uri)
    hovers, actions = [], []
    for _ in range(20):
        t = time.perf_counter()
        hover = await client.text_document_hover_async(types.HoverParams(text_document=doc, position=here))
        hovers.append(time.perf_counter() - t)
        t = time.perf_counter()
        result = await client.text_document_code_action_async(
            types.CodeActionParams(
                text_document=doc,
                range=types.Range(start=here, end=here),
                context=types.CodeActionContext(diagnostics=[]),
            )
        )
        actions.append(time.perf_counter() - t)

    # an explicit fix-all (what codeActionsOnSave asks for): Engine.fix_all, then minimal edits
    t = time.perf_counter()
    fix_all = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=doc,
            range=types.Range(start=here, end=here),
            context=types.CodeActionContext(diagnostics=[], only=[types.CodeActionKind.SourceFixAll]),
        )
    )
    fix_all_time = time.perf_counter() - t
    fix_all_edits = len(fix_all[0].edit.document_changes[0].edits) if fix_all else 0

    rss = peak_rss_mb(client._server.pid) if client._server else None
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()

    ms = 1000
    print(f"document: {len(lines)} lines, {counts[1]} diagnostics; debounceMs={debounce}")
    print(f"server start + initialize: {(ready - started) * ms:.0f} ms")
    print(f"first diagnostics (didOpen -> publish): {first * ms:.0f} ms")
    print(
        f"didChange -> publishDiagnostics over {changes} one-character changes: "
        f"p50 {statistics.median(latencies) * ms:.1f} ms, p95 {percentile(latencies, 0.95) * ms:.1f} ms, "
        f"max {max(latencies) * ms:.1f} ms"
    )
    print(
        f"hover: p50 {statistics.median(hovers) * ms:.1f} ms ({'found' if hover else 'none'}); "
        f"code actions: p50 {statistics.median(actions) * ms:.1f} ms ({len(result or [])} actions)"
    )
    print(f"fix-all (source.fixAll, first request): {fix_all_time * ms:.0f} ms ({fix_all_edits} edits)")
    if rss is not None:
        print(f"server peak RSS: {rss:.0f} MB")
    if baseline:
        base = await typing_baseline(baseline, text, changes)
        ours = statistics.median(latencies)
        print(
            f"baseline `{' '.join(baseline)}`, same typing: p50 {statistics.median(base) * ms:.1f} ms, "
            f"p95 {percentile(base, 0.95) * ms:.1f} ms; perf-lsp p50 is {ours / statistics.median(base):.1f}x the baseline's"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=200, help="characters to type (default 200)")
    parser.add_argument("--debounce", type=int, default=0, help="debounceMs for the server (default 0)")
    parser.add_argument(
        "--baseline",
        default="ruff server",
        help="another server to run the same typing against, side by side ('' for none; default: 'ruff server' when ruff is on PATH)",
    )
    args = parser.parse_args()
    import shlex
    import shutil

    baseline = shlex.split(args.baseline) if args.baseline else None
    if baseline and shutil.which(baseline[0]) is None:
        print(f"(baseline {baseline[0]!r} not found; skipped)")
        baseline = None
    asyncio.run(main(args.changes, args.debounce, baseline))
