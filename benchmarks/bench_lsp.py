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

Run: ``python benchmarks/bench_lsp.py [--changes 200] [--debounce 75]``. Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
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


async def main(changes: int, debounce: int) -> None:
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


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=200, help="characters to type (default 200)")
    parser.add_argument("--debounce", type=int, default=0, help="debounceMs for the server (default 0)")
    args = parser.parse_args()
    asyncio.run(main(args.changes, args.debounce))
