"""Run one program: ``python runner.py PROGRAM [--block MOD,...]``, or many: ``python runner.py --serve``.

The program is executed as module ``prog`` with this folder first on ``sys.path``; then ``main()``
is called when it exists. Prints one JSON line on the real stdout:
``{"out": <captured stdout>, "error": "Type: message" or null, "counts": {...}, "log": [...],
"overlap": {kind: N}}``. ``--block`` makes importing the named modules raise ImportError.
"""

import contextlib
import importlib.abc
import io
import json
import os
import sys
import types

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


class _Blocker(importlib.abc.MetaPathFinder):
    def __init__(self, names):
        self.names = set(names)

    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] in self.names:
            raise ImportError(f"No module named {fullname!r} (blocked)")
        return None


def _count_compiles(program):
    """Count ``re`` compilations (cache hits included) asked for by the program's own code."""
    import re

    import probe

    original = re._compile

    def counting(*args, **kwargs):
        for depth in (1, 2):
            try:
                if sys._getframe(depth).f_code.co_filename == program:
                    probe.count("re.compile")
                    break
            except ValueError:
                break
        return original(*args, **kwargs)

    re._compile = counting


def execute(program, blocked=()):
    """Run ``program`` in this process and return the result dict (see the module docstring)."""
    if blocked:
        sys.meta_path.insert(0, _Blocker(blocked))
        for name in list(sys.modules):
            if name.split(".")[0] in blocked:
                del sys.modules[name]
    import probe

    _count_compiles(program)
    out = io.StringIO()
    error = None
    module = types.ModuleType("prog")
    module.__file__ = program
    sys.modules["prog"] = module
    with open(program, encoding="utf-8") as handle:
        code = compile(handle.read(), program, "exec")
    with contextlib.redirect_stdout(out):
        try:
            exec(code, module.__dict__)
            probe.event("imported")
            if callable(module.__dict__.get("main")):
                module.main()
        except BaseException as exc:  # noqa: BLE001 - reported, that is the point
            error = f"{type(exc).__name__}: {exc}"
    return {
        "out": out.getvalue(),
        "error": error,
        "counts": dict(probe.COUNTS),
        "log": probe.LOG,
        "overlap": probe.overlaps(),
    }


def serve():
    """Answer ``{"program", "block", "timeout"}`` lines on stdin with result lines, one fork per program.

    The modules the programs share (numpy, asyncio...) are imported once here; each program runs in a
    forked child, so the stand-ins and their counters start fresh every time. A child that does not
    finish in ``timeout`` seconds (a deadlock) is killed and reported as ``{"error": "Timeout"}``.
    """
    import asyncio  # noqa: F401 - imported once for every child
    import concurrent.futures  # noqa: F401
    import select
    import signal
    import time

    import numpy  # noqa: F401

    for line in sys.stdin:
        request = json.loads(line)
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)  # nothing a program leaks may reach the answer stream
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
            try:
                result = execute(request["program"], tuple(request.get("block") or ()))
                data = json.dumps(result, default=repr).encode()
            except BaseException as exc:  # noqa: BLE001
                data = json.dumps({"out": "", "error": f"runner: {type(exc).__name__}: {exc}"}).encode()
            with os.fdopen(write_end, "wb") as handle:
                handle.write(data)
            os._exit(0)
        os.close(write_end)
        chunks = []
        deadline = time.monotonic() + float(request.get("timeout", 20))
        timed_out = False
        with os.fdopen(read_end, "rb") as handle:
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([handle], [], [], left)[0]:
                    timed_out = True
                    break
                chunk = os.read(handle.fileno(), 1 << 16)
                if not chunk:
                    break
                chunks.append(chunk)
        if timed_out:
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        if timed_out:
            answer = {"out": "", "error": "Timeout"}
        else:
            answer = json.loads(b"".join(chunks) or b'{"out": "", "error": "runner: no result"}')
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


def main(argv):
    if argv[1:] == ["--serve"]:
        serve()
        return
    blocked = argv[argv.index("--block") + 1].split(",") if "--block" in argv else ()
    result = execute(argv[1], tuple(blocked))
    sys.__stdout__.write(json.dumps(result, default=repr) + "\n")
    sys.__stdout__.flush()
    os._exit(0)  # threads stuck in a deadlock must not keep the process alive


if __name__ == "__main__":
    main(sys.argv)
