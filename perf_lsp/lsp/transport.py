"""JSON-RPC over stdio for the server, stricter than pygls 2.1's own loop.

pygls 2.1 (``pygls.io_.run_async``) matches the header ``Content-Length: N\\r\\n``
exactly (so ``content-length`` is ignored, though header names are
case-insensitive), trusts ``N`` (a body a few bytes off swallows the next
message's header, and every later message is then glued to the next header: the
server stays alive but deaf, even to ``exit``), and structures a message's params
inside ``json.loads`` (invalid params raise there: the request never gets an
answer). Its ``exit`` handler's ``sys.exit`` is swallowed by ``start_io``, so the
exit code is always 0.

Here:

- :class:`Framer` cuts the byte stream into messages: header names in any
  case, ``\\n`` or ``\\r\\n`` line ends; when the declared length does not hold one
  JSON value (too long, too short) it takes the JSON value that is there, skips
  what cannot be read up to the next ``Content-Length`` header, and counts the
  skipped bytes (reported to the client as a warning).
- :class:`Protocol` answers every request: ``-32002`` before ``initialize``,
  ``-32600`` after ``shutdown`` (or for a second ``initialize``), ``-32602`` when
  the params do not fit the method's type, then pygls' dispatch. ``exit`` ends the
  loop with code 0 after ``shutdown``, 1 otherwise (the LSP specification), as
  does the end of the input.
- :func:`run` reads stdin in a daemon thread, so that nothing waits on a blocked
  read once the loop ends.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import threading
from collections.abc import Iterator
from typing import Any, BinaryIO

from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.io_ import StdoutWriter
from pygls.protocol import LanguageServerProtocol

log = logging.getLogger(__name__)

_CONTENT_LENGTH = re.compile(rb"content-length[ \t]*:[ \t]*(\d+)[ \t]*\r?\n", re.IGNORECASE)
_HEADER_LINE = re.compile(rb"[!-9;-~]+[ \t]*:[^\r\n]*\r?\n")
_KEEP = 64  # bytes kept of unreadable input while no header is found: a header may start in them
_DECODER = json.JSONDecoder()


class Framer:
    """Cuts a JSON-RPC byte stream (``Content-Length`` framing) into decoded messages.

    Feed it what was read (:meth:`feed`), then take the complete messages
    (:meth:`messages`: each a decoded JSON value). ``skipped`` counts the bytes
    thrown away or misdeclared since it was last reset: a framing error happened
    when it is not 0.
    """

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.skipped = 0

    def feed(self, data: bytes) -> None:
        self.buffer += data

    def messages(self) -> Iterator[Any]:
        """Every complete message in the buffer, decoded, in order; what is incomplete stays."""
        while True:
            found = self._next()
            if found is None:
                return
            yield found[0]

    def _skip(self, count: int) -> None:
        junk = bytes(self.buffer[:count])
        del self.buffer[:count]
        if junk.strip():
            self.skipped += len(junk)

    def _next(self) -> tuple[Any] | None:
        while True:
            match = _CONTENT_LENGTH.search(self.buffer)
            if match is None:
                if len(self.buffer) > _KEEP:
                    self._skip(len(self.buffer) - _KEEP)
                return None
            before = bytes(self.buffer[: match.start()])
            if _HEADER_LINE.sub(b"", before).strip():  # not just other headers (Content-Type) before it
                self._skip(match.start())
                continue
            start = self._body_start(match.end())
            if start is None:
                return None
            if start < 0:  # a broken header: drop it, look for the next one
                self._skip(match.end())
                continue
            length = int(match.group(1))
            complete = len(self.buffer) - start >= length
            if complete:
                try:
                    value = json.loads(bytes(self.buffer[start : start + length]))
                except ValueError:
                    pass
                else:
                    del self.buffer[: start + length]
                    return (value,)
            elif not _ends_with_brace(self.buffer, start):
                return None  # the body is still arriving
            # The declared length does not hold one JSON value (too long, too short): take the value there.
            found = _json_value(self.buffer, start)
            if found is not None:
                value, end = found
                del self.buffer[:end]
                self.skipped += max(1, abs(length - (end - start)))
                return (value,)
            if not complete or _CONTENT_LENGTH.search(self.buffer, start) is None:
                return None  # the rest of a body shorter than declared may still be arriving
            self._skip(start)  # not JSON: drop the header; the body is skipped on the way to the next one
            self.skipped += 1

    def _body_start(self, pos: int) -> int | None:
        """Where the body starts after the header line ending at ``pos``; None: need more; -1: broken."""
        buffer = self.buffer
        while True:
            if buffer.startswith(b"\r\n", pos):
                return pos + 2
            if buffer.startswith(b"\n", pos):
                return pos + 1
            newline = buffer.find(b"\n", pos)
            if newline < 0:  # a header line still arriving, unless it is far too long for one
                return None if len(buffer) - pos < 1024 else -1
            line = bytes(buffer[pos : newline + 1])
            if not _HEADER_LINE.fullmatch(line) or _CONTENT_LENGTH.match(line):
                return -1
            pos = newline + 1


def _ends_with_brace(buffer: bytearray, start: int) -> bool:
    """Whether the buffer (after ``start``) ends with "}" and blanks: where a JSON-RPC message can end.

    Checked before trying to decode a body shorter than declared, so that the many
    pieces of a big message are not decoded again and again.
    """
    end = len(buffer)
    while end > start and buffer[end - 1] in b" \t\r\n":
        end -= 1
    return end > start and buffer[end - 1] == ord("}")


def _json_value(buffer: bytearray, start: int) -> tuple[Any, int] | None:
    """The JSON object starting at ``start`` (after blanks) and its end (a buffer index), or None.

    The object ends before the next ``Content-Length`` header, if there is one.
    """
    pos = start
    while pos < len(buffer) and buffer[pos] in b" \t\r\n":
        pos += 1
    if pos >= len(buffer) or buffer[pos] != ord("{"):
        return None
    limit = _CONTENT_LENGTH.search(buffer, pos)
    # surrogateescape: bad UTF-8 bytes decode one to one, so the byte length of the prefix is exact
    text = bytes(buffer[pos : limit.start() if limit else len(buffer)]).decode("utf-8", errors="surrogateescape")
    try:
        value, end = _DECODER.raw_decode(text)
    except ValueError:
        return None
    return value, pos + len(text[:end].encode("utf-8", errors="surrogateescape"))


class Protocol(LanguageServerProtocol):
    """pygls' LSP protocol, with a lifecycle that answers every request (see the module docstring)."""

    def __init__(self, server: Any, converter: Any) -> None:
        super().__init__(server, converter)
        self.initialize_received = False
        self.exit_code: int | None = None

    def receive(self, data: Any) -> None:
        """Handle one decoded message. Never raises, except SystemExit/KeyboardInterrupt."""
        if not isinstance(data, dict) or data.get("jsonrpc") != "2.0":
            msg_id = data.get("id") if isinstance(data, dict) else None
            self._error(msg_id, types.ErrorCodes.InvalidRequest, "not a JSON-RPC 2.0 message")
            return
        method = data.get("method")
        msg_id = data.get("id")
        if "id" in data and not (isinstance(msg_id, (int, str)) and not isinstance(msg_id, bool)):
            self._error(None, types.ErrorCodes.InvalidRequest, "a request id is a number or a string")
            return
        is_request = "id" in data and method is not None
        if method is not None and not isinstance(method, str):
            if is_request:
                self._error(msg_id, types.ErrorCodes.InvalidRequest, "a method is a string")
            return
        if method == types.EXIT:
            self.exit_code = 0 if self._shutdown else 1
            return
        if method is not None:
            if not self.initialize_received:
                if method != types.INITIALIZE:
                    if is_request:
                        self._error(msg_id, types.ErrorCodes.ServerNotInitialized, "the server is not initialized")
                    return  # a notification before initialize is dropped (the specification)
                if not is_request:
                    return
                self.initialize_received = True
            elif method == types.INITIALIZE:
                if is_request:
                    self._error(msg_id, types.ErrorCodes.InvalidRequest, "the server is already initialized")
                return
            if self._shutdown:
                if is_request:
                    self._error(msg_id, types.ErrorCodes.InvalidRequest, "the server is shutting down")
                return
        try:
            message = self.structure_message(data)
        except JsonRpcException as exc:
            if is_request:
                self._send_response(msg_id, error=exc.to_response_error())
            else:
                log.warning("perf-lsp: %s with invalid params was dropped", method)
            return
        except Exception:  # noqa: BLE001 - a message must not take the server down
            if is_request:
                self._error(msg_id, types.ErrorCodes.InvalidParams, "invalid params")
            return
        try:
            self.handle_message(message)
        except (SystemExit, KeyboardInterrupt):
            raise
        except Exception:  # pygls answers the request itself when it can; this is its bug
            log.exception("perf-lsp: handling %s failed", method)

    def _execute_handler(self, msg_id: Any, handler: Any, callback: Any, args: Any = None, kwargs: Any = None) -> None:
        """pygls' handler execution, forgetting each handler's future once it is done.

        pygls 2.1 registers the future of a notification handled by a generator (every
        built-in ``didOpen``/``didChange``/...) or a coroutine, and of a coroutine that a
        generator yields to, and never removes it: one more object per keystroke. The
        future is forgotten on the next turn of the loop, not in its callback: a callback
        may run while pygls iterates over the futures (``shutdown`` cancels them).
        """
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None

        def forget(future: Any) -> None:
            if self._request_futures.get(msg_id) is future:
                del self._request_futures[msg_id]

        def done(future: Any) -> None:
            try:
                callback(future)
            finally:
                if loop is None or loop.is_closed():
                    forget(future)
                else:
                    loop.call_soon_threadsafe(forget, future)

        super()._execute_handler(msg_id, handler, done, args, kwargs)

    def _error(self, msg_id: Any, code: types.ErrorCodes, message: str) -> None:
        if msg_id is None:
            log.warning("perf-lsp: %s", message)
            return
        self._send_response(msg_id, error=types.ResponseError(code=code, message=message))


def run(protocol: Protocol, stdin: BinaryIO, stdout: BinaryIO, on_skipped=None) -> int:
    """Serve ``protocol`` on ``stdin``/``stdout`` until ``exit`` or the end of the input; the exit code.

    ``on_skipped(count)`` is called (on the event loop) when bad framing made the
    reader skip ``count`` bytes.
    """
    protocol.set_writer(StdoutWriter(stdout))

    async def main() -> None:
        loop = asyncio.get_running_loop()
        chunks: asyncio.Queue[bytes] = asyncio.Queue()

        def read() -> None:
            fd = stdin.fileno()
            while True:
                try:
                    data = os.read(fd, 1 << 16)
                except OSError:
                    data = b""
                try:
                    loop.call_soon_threadsafe(chunks.put_nowait, data)
                except RuntimeError:  # the loop has ended (exit)
                    return
                if not data:
                    return

        threading.Thread(target=read, name="perf-lsp-stdin", daemon=True).start()
        framer = Framer()
        while protocol.exit_code is None:
            data = await chunks.get()
            if not data:
                break
            framer.feed(data)
            for message in framer.messages():
                protocol.receive(message)
                if protocol.exit_code is not None:
                    return
            if framer.skipped:
                skipped, framer.skipped = framer.skipped, 0
                if on_skipped is not None:
                    on_skipped(skipped)

    try:
        asyncio.run(main())
    except BrokenPipeError:
        log.error("perf-lsp: the client closed the connection")
    except (KeyboardInterrupt, SystemExit):
        pass
    if protocol.exit_code is None:
        protocol.exit_code = 0 if protocol._shutdown else 1
    return protocol.exit_code
