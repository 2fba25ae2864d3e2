"""Language-server memory while typing inside a big class.

Starts ``python -m perf_lsp serve``, opens the stdlib's ``_pydecimal.py`` (its
``Decimal`` class is ~3,300 lines: one top-level statement) with a method that
has a finding added at the top of the class, then types one character per change
into a comment inside that class, waiting for each change's diagnostics (so every
change is analysed: the class is parsed again each time). Prints the server's RSS
(``VmRSS`` of ``/proc/<pid>/status``) after 0, 100, 400 and 1,000 keystrokes
(``--checkpoints``), and its peak (``VmHWM``).

Run: ``python benchmarks/bench_lsp_memory.py [--checkpoints 0,100,400,1000]``. Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient
from pytest_lsp import client_capabilities

SERVER_COMMAND = [sys.executable, "-m", "perf_lsp", "serve"]

METHOD = '''
    def _bench_tokens(self, lines):
        # typing here
        return [re.findall(r"\\w+", line) for line in lines]
'''


def big_document() -> str:
    """``_pydecimal.py`` with a method that has a finding (PFL401) at the top of ``class Decimal``."""
    import _pydecimal

    source = Path(_pydecimal.__file__).read_text(encoding="utf-8")
    anchor = source.index("\nclass Decimal(object):")
    anchor = source.index("\n", anchor + 1) + 1
    return "import re\n" + source[:anchor] + METHOD + source[anchor:]


def status_mb(pid: int, field: str) -> float | None:
    """A ``/proc/<pid>/status`` memory field (``VmRSS``, ``VmHWM``) in MB, or None when unreadable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


async def main(checkpoints: list[int]) -> None:
    text = big_document()
    uri = Path("/tmp/perf-lsp-bench/_pydecimal_memory.py").as_uri()
    client = LanguageClient("bench-memory", "0")
    arrived: set[int | None] = set()
    waiters: dict[int | None, asyncio.Future] = {}

    @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def on_publish(params: types.PublishDiagnosticsParams) -> None:
        if params.uri != uri:
            return
        arrived.add(params.version)
        waiter = waiters.pop(params.version, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait_version(version: int) -> None:
        if version in arrived:
            return
        waiters[version] = asyncio.get_running_loop().create_future()
        await asyncio.wait_for(waiters[version], 120)

    await client.start_io(*SERVER_COMMAND)
    pid = client._server.pid
    await client.initialize_async(
        types.InitializeParams(
            capabilities=client_capabilities("visual-studio-code"), initialization_options={"debounceMs": 0}
        )
    )
    client.initialized(types.InitializedParams())
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)
        )
    )
    await wait_version(1)
    lines = text.splitlines()
    row = next(i for i, line in enumerate(lines) if line.strip() == "# typing here")
    column = len(lines[row])
    print(f"document: {len(lines)} lines; typing at line {row + 1}, inside class Decimal")
    started = time.perf_counter()
    typed = 0
    for target in sorted(checkpoints):
        while typed < target:
            version = typed + 2
            position = types.Position(line=row, character=column + typed)
            client.text_document_did_change(
                types.DidChangeTextDocumentParams(
                    text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                    content_changes=[
                        types.TextDocumentContentChangePartial(
                            range=types.Range(start=position, end=position), text="x"
                        )
                    ],
                )
            )
            await wait_version(version)
            typed += 1
        rss = status_mb(pid, "VmRSS")
        print(f"after {typed:5d} keystrokes: RSS {rss:7.1f} MB  ({time.perf_counter() - started:6.1f} s)", flush=True)
    peak = status_mb(pid, "VmHWM")
    print(f"peak RSS: {peak:.1f} MB")
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", default="0,100,400,1000", help="keystroke counts to print RSS at")
    args = parser.parse_args()
    asyncio.run(main([int(c) for c in args.checkpoints.split(",")]))
