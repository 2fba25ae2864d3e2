"""Helpers for the tests that run programs before and after ``perf-lsp fix``.

A program is Python source with an optional ``main()``. :func:`run` writes it to a
file and executes it in a fresh interpreter through ``tests/standins/runner.py``, with
``tests/standins`` first on ``sys.path`` (fake ``sentence_transformers``, ``openai``,
``httpx``, ``redis``, ``sqlalchemy``, ``psycopg2``, ``requests``, ``transformers`` that
count loads, constructions and round trips in ``probe``). The result is a :class:`Run`:
the program's stdout, the exception it ended with, the probe's counters and call log.
"""

from __future__ import annotations

import atexit
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from perf_lsp.engine import Engine
from perf_lsp.settings import Settings
from perf_lsp.textedit import apply_edits

STANDINS = Path(__file__).parent / "standins"
RUNNER = STANDINS / "runner.py"
ALL = Settings(select=("ALL",))
ENGINE = Engine()
LONG = os.environ.get("PERF_LSP_LONG_TESTS") == "1"


@dataclass
class Run:
    """What one execution of a program did.

    ``out``: captured stdout; ``error``: ``"Type: message"`` of the exception that ended
    it (None when it finished); ``counts``: the probe's counters (``model.load``,
    ``requests.session``, ``db.roundtrip``, ...); ``log``: the probe's events in order;
    ``overlap``: per kind of call (``chat``, ``encode``, ``http``...), the most in progress at once according to ``log``.
    """

    out: str
    error: str | None
    counts: dict = field(default_factory=dict)
    log: list = field(default_factory=list)
    overlap: dict = field(default_factory=dict)

    def count(self, name: str) -> int:
        return self.counts.get(name, 0)


_CACHE: dict[tuple, Run] = {}


class _Server:
    """One ``runner.py --serve`` process for the session: it forks a child per program."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None

    def ask(self, request: dict) -> dict:
        if self.proc is None or self.proc.poll() is not None:
            env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
            env["PYTHONPATH"] = str(STANDINS)
            env["NO_PROXY"] = "*"
            self.proc = subprocess.Popen(
                [sys.executable, str(RUNNER), "--serve"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env=env,
                cwd=str(STANDINS),
            )
            atexit.register(self.close)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError("the program runner died")
        return json.loads(line)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=10)


_SERVER = _Server()


def run(source: str, tmp_path: Path, *, block: tuple[str, ...] = (), timeout: float = 20.0) -> Run:
    """Execute ``source`` in a fresh process with the stand-ins; never raises for the program's errors.

    ``block``: top-level module names whose import must fail (ImportError). A program
    that does not finish in ``timeout`` seconds (a deadlock) gives ``error="Timeout"``.
    Results are cached by (source, block) for the session.
    """
    key = (source, block)
    if key in _CACHE:
        return _CACHE[key]
    path = tmp_path / f"prog_{len(list(tmp_path.glob('prog_*.py')))}.py"
    path.write_text(source, encoding="utf-8")
    data = _SERVER.ask({"program": str(path), "block": list(block), "timeout": timeout})
    result = Run(data["out"], data["error"], data.get("counts", {}), data.get("log", []), data.get("overlap", {}))
    _CACHE[key] = result
    return result


def fixed(source: str, *, unsafe: bool = True, settings: Settings = ALL) -> str:
    """``source`` after ``perf-lsp fix`` (``--unsafe-fixes`` when ``unsafe``), every rule selected."""
    return ENGINE.fix_all(source, settings, unsafe=unsafe).source


def alt_fixed(source: str, code: str, settings: Settings = ALL) -> str:
    """``source`` after the alternative fix of the first ``code`` diagnostic that has one."""
    analysis = ENGINE.analyze(source, settings)
    for diag in analysis.diagnostics:
        if diag.code == code and len(diag.fixes) > 1:
            fix = analysis.fix(diag, which=1)
            assert fix is not None, f"{code}: the alternative fix declined"
            return apply_edits(source, fix.edits)
    raise AssertionError(f"no {code} diagnostic with an alternative fix")


def diagnostics(source: str, settings: Settings = ALL) -> list[tuple[str, int]]:
    """(code, line) of every diagnostic, lines 1-based."""
    return [(d.code, d.range.start.line) for d in ENGINE.analyze(source, settings).diagnostics]


def fix_offered(source: str, code: str, line: int | None = None, settings: Settings = ALL) -> bool:
    """Whether a ``code`` diagnostic (on ``line``, when given) offers a fix that builds."""
    analysis = ENGINE.analyze(source, settings)
    for diag in analysis.diagnostics:
        if diag.code == code and (line is None or diag.range.start.line == line) and diag.fixes:
            if analysis.fix(diag) is not None:
                return True
    return False


def finding_keys(source: str, settings: Settings = ALL) -> list[tuple[str, str]]:
    """(code, text of the reported line) of each finding: stable across edits elsewhere in the file."""
    lines = source.splitlines()
    return sorted((d.code, lines[d.range.start.line - 1].strip()) for d in ENGINE.analyze(source, settings).diagnostics)


def new_findings(before: list, after: list) -> list:
    """The keys of ``after`` that ``before`` does not have (as a multiset): findings a fix created."""
    remaining = list(before)
    new = []
    for key in after:
        if key in remaining:
            remaining.remove(key)
        else:
            new.append(key)
    return new
