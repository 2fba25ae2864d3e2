"""The server process over raw stdio: framing, lifecycle, bad requests, documents it must not read.

Each test starts ``python -m perf_lsp serve`` with pipes and writes bytes itself
(pytest-lsp cannot send a badly framed message). A reader thread cuts the server's
output into messages, and every wait has a timeout, so a server that hangs fails
the test instead of blocking it.
"""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

TIMEOUT = 20
HEADER = re.compile(rb"Content-Length: (\d+)\r\n", re.IGNORECASE)
PYTHON = """import re


def tag(lines):
    return [re.findall(r"\\d+", line) for line in lines]
"""


LIMITED = """
import resource, runpy, sys
resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
sys.argv = ["perf_lsp", "serve"]
runpy.run_module("perf_lsp", run_name="__main__")
"""


def frame(message: dict, *, delta: int = 0, header: str = "Content-Length") -> bytes:
    body = json.dumps(message).encode("utf-8")
    return f"{header}: {len(body) + delta}\r\n\r\n".encode("ascii") + body


class RawServer:
    """``perf-lsp serve`` on pipes: write bytes, read whole messages with a timeout."""

    def __init__(self, limit_memory: bool = False) -> None:
        command = [sys.executable, "-m", "perf_lsp", "serve"]
        if limit_memory:  # a runaway read must fail in the server, not take the machine down
            command = [sys.executable, "-c", LIMITED]
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.messages: queue.Queue = queue.Queue()
        self.seen: list[dict] = []
        self.next_id = 100
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        buffer = b""
        out = self.proc.stdout
        while True:
            match = HEADER.search(buffer)
            end = buffer.find(b"\r\n\r\n", match.end() - 2) if match else -1
            if match and end >= 0 and len(buffer) >= end + 4 + int(match.group(1)):
                start = end + 4
                length = int(match.group(1))
                self.messages.put(json.loads(buffer[start : start + length]))
                buffer = buffer[start + length :]
                continue
            chunk = os.read(out.fileno(), 65536)
            if not chunk:
                self.messages.put(None)
                return
            buffer += chunk

    # -- writing ----------------------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def send(self, message: dict, **how) -> None:
        self.write(frame(message, **how))

    def notify(self, method: str, params=None, **how) -> None:
        message = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        self.send(message, **how)

    def request(self, method: str, params=None, **how) -> int:
        self.next_id += 1
        message = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
        if params is not None:
            message["params"] = params
        self.send(message, **how)
        return self.next_id

    # -- reading ----------------------------------------------------------------------------------
    def wait_for(self, predicate, timeout: float = TIMEOUT) -> dict:
        for message in self.seen:
            if predicate(message):
                return message
        while True:
            try:
                message = self.messages.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no answer within {timeout} s; received: {self.seen[-5:]}") from None
            if message is None:
                raise AssertionError(f"the server closed its output; received: {self.seen[-5:]}")
            self.seen.append(message)
            if "id" in message and "method" in message:  # a request from the server: answer it
                self.send({"jsonrpc": "2.0", "id": message["id"], "result": None})
            if predicate(message):
                return message

    def response(self, request_id: int, timeout: float = TIMEOUT) -> dict:
        return self.wait_for(lambda m: m.get("id") == request_id and "method" not in m, timeout)

    def call(self, method: str, params=None, **how) -> dict:
        return self.response(self.request(method, params, **how))

    def initialize(self, **how) -> dict:
        result = self.call("initialize", {"processId": None, "rootUri": None, "capabilities": {}}, **how)
        self.notify("initialized", {})
        return result

    def open(self, uri: str, text: str) -> None:
        self.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}},
        )

    def diagnostics(self, uri: str) -> list:
        message = self.wait_for(
            lambda m: m.get("method") == "textDocument/publishDiagnostics" and m["params"]["uri"] == uri
        )
        return message["params"]["diagnostics"]

    def exit_code(self, timeout: float = TIMEOUT) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("the server did not exit") from None

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass

    def errors_logged(self) -> list[str]:
        return [
            m["params"]["message"]
            for m in self.seen
            if m.get("method") in ("window/logMessage", "window/showMessage") and m["params"]["type"] == 1
        ]


@pytest.fixture
def server():
    raw = RawServer()
    yield raw
    raw.close()


def hover_params(uri: str, line: int = 4, character: int = 16) -> dict:
    return {"textDocument": {"uri": uri}, "position": {"line": line, "character": character}}


def doc_uri(name: str) -> str:
    return Path(f"/nonexistent-perf-lsp-protocol/{name}.py").as_uri()


def works(server: RawServer, name: str) -> None:
    """The server still reads, checks and answers: a document's diagnostics, then a hover on them."""
    uri = doc_uri(name)
    server.open(uri, PYTHON)
    assert [d["code"] for d in server.diagnostics(uri)] == ["PFL401"]
    hover = server.call("textDocument/hover", hover_params(uri))
    assert "PFL401" in hover["result"]["contents"]["value"]


# -- framing --------------------------------------------------------------------
FIRST = {"jsonrpc": "2.0", "id": 1, "method": "textDocument/hover", "params": {"text": "} {"}}
SECOND = {"jsonrpc": "2.0", "method": "initialized", "params": {}}


@pytest.mark.parametrize("delta", [0, 1, 3, 40, -1, -3, -40, 10**9])
@pytest.mark.parametrize("piece", [None, 1, 7])
def test_framer_reads_both_messages_whatever_the_first_content_length(delta, piece):
    from perf_lsp.lsp.transport import Framer

    data = frame(FIRST, delta=delta) + frame(SECOND)
    framer = Framer()
    got = []
    for i in range(0, len(data), piece or len(data)):
        framer.feed(data[i : i + (piece or len(data))])
        got.extend(framer.messages())
    assert got == [FIRST, SECOND]
    assert (framer.skipped > 0) == (delta != 0)
    assert not framer.buffer


def test_framer_skips_what_is_not_a_message():
    from perf_lsp.lsp.transport import Framer

    framer = Framer()
    framer.feed(b"hello\r\n\r\n" + frame(FIRST, header="content-length") + b"Content-Length: 5\r\n\r\n{bad}")
    framer.feed(b"CONTENT-LENGTH:2\n\n{}" + frame(SECOND) + b"Content-Length: x\r\n\r\n")
    assert list(framer.messages()) == [FIRST, {}, SECOND]
    assert framer.skipped > 0


def test_framer_waits_for_a_body_still_arriving():
    from perf_lsp.lsp.transport import Framer

    data = frame({"jsonrpc": "2.0", "method": "x", "params": {"text": "}" * 1000}})
    framer = Framer()
    framer.feed(data[:-1])
    assert list(framer.messages()) == []
    framer.feed(data[-1:])
    assert len(list(framer.messages())) == 1
    assert framer.skipped == 0


def test_header_names_are_case_insensitive(server):
    result = server.initialize(header="content-length")
    assert "capabilities" in result["result"]
    works(server, "lowercase")


@pytest.mark.parametrize("delta", [3, -3, 40, -40])
def test_a_wrong_content_length_does_not_leave_the_server_deaf(server, delta):
    server.initialize()
    uri = doc_uri("before")
    server.open(uri, PYTHON)
    server.diagnostics(uri)
    # one badly framed request, then well framed messages
    server.request("textDocument/hover", hover_params(uri), delta=delta)
    works(server, f"after-{delta}")
    assert any("badly framed" in m["params"]["message"] for m in server.seen if m.get("method") == "window/logMessage")
    server.call("shutdown")
    server.notify("exit")
    assert server.exit_code() == 0


def test_garbage_between_messages_is_skipped(server):
    server.initialize()
    server.write(b"hello\r\n\r\n{not json}\r\n")
    server.write(b"Content-Length: 5\r\n\r\n{bad}")  # framed, but not JSON
    works(server, "after-garbage")


def test_a_message_split_across_writes_is_read_whole(server):
    data = frame({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": {}}})
    for i in range(0, len(data), 7):
        server.write(data[i : i + 7])
    assert "capabilities" in server.response(1)["result"]


# -- every request gets an answer ------------------------------------------------
@pytest.mark.parametrize(
    "method, params",
    [
        ("textDocument/hover", {"textDocument": {"uri": "file:///x.py"}, "position": {"line": -1, "character": 0}}),
        ("textDocument/hover", {"textDocument": {"uri": "file:///x.py"}}),
        ("textDocument/hover", {"position": {"line": 0, "character": 0}}),
        ("textDocument/codeAction", {"textDocument": {"uri": "file:///x.py"}}),
        ("textDocument/hover", "not an object"),
    ],
)
def test_invalid_params_get_an_invalid_params_error(server, method, params):
    server.initialize()
    response = server.call(method, params)
    assert response["error"]["code"] == -32602
    works(server, "after-invalid")


def test_a_notification_with_invalid_params_changes_nothing(server):
    server.initialize()
    uri = doc_uri("invalid-change")
    server.open(uri, PYTHON)
    server.diagnostics(uri)
    server.notify(
        "textDocument/didChange",
        {
            "textDocument": {"uri": uri, "version": 2},
            "contentChanges": [{"range": {"start": {"line": -4}}, "text": "x"}],
        },
    )
    hover = server.call("textDocument/hover", hover_params(uri))
    assert "PFL401" in hover["result"]["contents"]["value"]


# -- documents the server must not read ---------------------------------------------
def test_requests_on_unopened_documents_read_nothing(tmp_path):
    fifo = tmp_path / "pipe.py"
    os.mkfifo(fifo)
    regular = tmp_path / "on_disk.py"
    regular.write_text(PYTHON, encoding="utf-8")
    raw = RawServer(limit_memory=True)
    try:
        raw.initialize()
        for uri in ("file:///dev/zero", fifo.as_uri(), regular.as_uri(), "file:///nonexistent/never.py"):
            assert raw.call("textDocument/hover", hover_params(uri))["result"] is None
            code_actions = raw.call(
                "textDocument/codeAction",
                {
                    "textDocument": {"uri": uri},
                    "range": {"start": {"line": 0, "character": 0}, "end": {"line": 9, "character": 0}},
                    "context": {"diagnostics": []},
                },
            )
            assert not code_actions["result"]
        assert raw.errors_logged() == []
        works(raw, "after-unopened")
    finally:
        raw.close()


def test_documents_over_the_size_limit_are_not_analysed_by_hover_or_code_actions(server):
    from perf_lsp.files import MAX_FILE_BYTES

    server.initialize()
    uri = doc_uri("huge")
    server.open(uri, PYTHON + "x = 1\n" * (MAX_FILE_BYTES // 6 + 10))
    assert server.diagnostics(uri) == []
    assert server.call("textDocument/hover", hover_params(uri))["result"] is None
    actions = server.call(
        "textDocument/codeAction",
        {
            "textDocument": {"uri": uri},
            "range": {"start": {"line": 4, "character": 0}, "end": {"line": 5, "character": 0}},
            "context": {"diagnostics": []},
        },
    )
    assert not actions["result"]


def test_a_document_uri_with_escapes_is_checked(server):
    server.initialize()
    uri = "file:///nonexistent-perf-lsp-protocol/with%20space/doc.py"
    server.open(uri, PYTHON)
    assert [d["code"] for d in server.diagnostics(uri)] == ["PFL401"]
    assert "PFL401" in server.call("textDocument/hover", hover_params(uri))["result"]["contents"]["value"]


# -- lifecycle -------------------------------------------------------------------------
def test_a_request_before_initialize_gets_server_not_initialized(server):
    response = server.call("textDocument/hover", hover_params("file:///x.py"))
    assert response["error"]["code"] == -32002
    server.notify(
        "textDocument/didOpen",
        {"textDocument": {"uri": "file:///x.py", "languageId": "python", "version": 1, "text": PYTHON}},
    )
    server.initialize()
    works(server, "after-early-request")


def test_exit_without_shutdown_exits_with_1(server):
    server.initialize()
    server.notify("exit")
    assert server.exit_code() == 1


def test_exit_before_initialize_exits_with_1(server):
    server.notify("exit")
    assert server.exit_code() == 1


def test_exit_after_shutdown_exits_with_0_and_requests_in_between_get_an_error(server):
    server.initialize()
    assert server.call("shutdown")["result"] is None
    assert server.call("textDocument/hover", hover_params("file:///x.py"))["error"]["code"] == -32600
    server.notify("exit")
    assert server.exit_code() == 0


def test_end_of_input_ends_the_server(server):
    server.initialize()
    server.proc.stdin.close()
    assert server.exit_code() == 1


# -- no request takes the server down --------------------------------------------------------------------------
def test_a_failing_handler_is_logged_and_answered_empty():
    import asyncio

    from perf_lsp.lsp.server import guarded

    class Server:
        def __init__(self) -> None:
            self.logged: list[str] = []

        def log_error(self, what: str) -> None:
            self.logged.append(what)

    @guarded([])
    def sync_handler(ls, params):
        raise ValueError("a bug")

    @guarded()
    async def async_handler(ls, params):
        raise KeyError("a bug")

    ls = Server()
    assert sync_handler(ls, None) == []
    assert asyncio.run(async_handler(ls, None)) is None
    assert ls.logged == ["sync_handler", "async_handler"]


def test_every_handler_is_guarded():
    """Every function registered with the server (a feature or a command) is wrapped by ``guarded``."""
    import ast

    import perf_lsp.lsp.server as server_module

    tree = ast.parse(Path(server_module.__file__).read_text(encoding="utf-8"))
    registered = 0
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        names = [ast.unparse(d.func if isinstance(d, ast.Call) else d) for d in node.decorator_list]
        if any(name in ("SERVER.feature", "SERVER.command") for name in names):
            registered += 1
            assert "guarded" in names, f"{node.name} is not under @guarded"
    assert registered == len({**server_module.SERVER.protocol.fm.features, **server_module.SERVER.protocol.fm.commands})


# -- nothing kept per message -------------------------------------------------------------
def test_notifications_leave_nothing_behind_in_the_protocol():
    """pygls 2.1 registers a future for each notification handled by a generator or a coroutine (didOpen,
    didChange, ...) and never removes it: one more object per keystroke."""
    import asyncio
    import io

    from lsprotocol import types
    from pygls.lsp.server import LanguageServer

    from perf_lsp.lsp.transport import Protocol

    ls = LanguageServer("test", "0", protocol_cls=Protocol)
    changes = []

    @ls.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls, params):
        changes.append(params.text_document.version)

    @ls.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(ls, params):
        await asyncio.sleep(0)

    async def main():
        protocol = ls.protocol
        protocol.set_writer(io.BytesIO())
        protocol.receive({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": {}}})
        uri = "file:///doc.py"
        protocol.receive(
            {
                "jsonrpc": "2.0",
                "method": "textDocument/didOpen",
                "params": {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": "x = 1\n"}},
            }
        )
        for version in range(2, 202):
            protocol.receive(
                {
                    "jsonrpc": "2.0",
                    "method": "textDocument/didChange",
                    "params": {
                        "textDocument": {"uri": uri, "version": version},
                        "contentChanges": [
                            {
                                "range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}},
                                "text": "#",
                            }
                        ],
                    },
                }
            )
            protocol.receive(
                {"jsonrpc": "2.0", "method": "workspace/didChangeConfiguration", "params": {"settings": {}}}
            )
        for _ in range(5):
            await asyncio.sleep(0)
        return len(protocol._request_futures)

    assert asyncio.run(main()) < 5
    assert len(changes) == 200
