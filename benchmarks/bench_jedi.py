"""Time jedi's part of a check: the CLI's resolver per file and the server's refine pass.

    python benchmarks/bench_jedi.py [--repeat 3] [--part cli|refine]

Builds a small workspace in a temporary folder (a service whose findings need
types: a model imported from another module of the project, one returned by a
factory, an ``AsyncSession``, numpy and requests objects), then prints, in a
fresh process, one of (``--part``; each pays jedi's start):

- ``cli``: ``Engine.analyze`` with a new :class:`~perf_lsp.analysis.resolve.TypeResolver`
  per file, as ``perf-lsp check`` runs, for every file in turn: the first file
  pays jedi's start (typeshed, the environment), the rest show the steady cost;
- ``refine``: the server's refining pass (``Documents.refine``) on the service
  module, then again after an edit (a new text: new ``jedi.Script`` objects).

Wall times in milliseconds; the median over ``--repeat`` rounds after the first
(cold) one. Prints figures, asserts nothing. Run it before and after a change to
the resolver.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from perf_lsp.analysis.resolve import TypeResolver  # noqa: E402
from perf_lsp.engine import Engine  # noqa: E402
from perf_lsp.settings import Settings  # noqa: E402

MODELS = """\
from sentence_transformers import SentenceTransformer
from sqlalchemy.ext.asyncio import AsyncSession

embedder = SentenceTransformer("all-MiniLM-L6-v2")


def get_model():
    return SentenceTransformer("all-MiniLM-L6-v2")


def get_store(engine):
    return AsyncSession(engine)
"""

SERVICE = """\
import numpy as np
import requests

from app.models import embedder, get_model, get_store


class Indexer:
    def __init__(self):
        self.model = get_model()
        self.rng = np.random.default_rng(0)
        self.http = requests.Session()

    def vectors(self, texts):
        return [embedder.encode(t) for t in texts]

    def vectors_again(self, texts):
        return [self.model.encode(t) for t in texts]

    def noise(self, texts):
        return [self.rng.encode(t) for t in texts]

    def posts(self, urls):
        return [self.http.encode(u) for u in urls]


async def report(engine, user_id, order_id):
    store = get_store(engine)
    user = await store.get(User, user_id)
    order = await store.get(Order, order_id)
    return user, order
"""


def workspace(root: Path) -> list[Path]:
    app = root / "app"
    app.mkdir()
    (root / "pyproject.toml").write_text("[project]\nname = 'app'\n", encoding="utf-8")
    (app / "__init__.py").write_text("", encoding="utf-8")
    (app / "models.py").write_text(MODELS, encoding="utf-8")
    files = []
    for n in range(4):
        path = app / f"service{n}.py"
        path.write_text(SERVICE.replace("Indexer", f"Indexer{n}"), encoding="utf-8")
        files.append(path)
    return files


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--part", choices=("cli", "refine"), default="cli", help="what to time (each pays jedi's start)")
    args = parser.parse_args()
    settings = Settings(select=("PFL201", "PFL301"))
    with tempfile.TemporaryDirectory() as tmp:
        files = workspace(Path(tmp))
        if args.part == "cli":
            cli(files, settings, args.repeat)
        else:
            refine(files, settings, args.repeat)


def cli(files: list[Path], settings: Settings, repeat: int) -> None:
    engine = Engine()
    rounds: list[list[float]] = []
    for _ in range(repeat + 1):
        times = []
        for path in files:
            text = path.read_text(encoding="utf-8")
            start = time.perf_counter()
            analysis = engine.analyze(text, settings, resolver=TypeResolver(text, path))
            times.append((time.perf_counter() - start) * 1000)
        rounds.append(times)
    found = [(d.code, d.range.start.line) for d in analysis.diagnostics]
    print(f"cli: first file {rounds[0][0]:.0f} ms, next files {statistics.median(rounds[0][1:]):.0f} ms; "
          f"warm rounds median {statistics.median(t for r in rounds[1:] for t in r):.0f} ms per file "
          f"({found} findings in the last file)")


def refine(files: list[Path], settings: Settings, repeat: int) -> None:
    from perf_lsp.lsp.features import Documents, Snapshot

    docs = Documents()
    uri = files[0].as_uri()
    text = files[0].read_text(encoding="utf-8")
    timings = []
    for version in range(repeat + 1):
        snap = Snapshot(uri, version, text, None, settings)
        docs.analysis(snap)
        start = time.perf_counter()
        refined = docs.refine(snap)
        timings.append((time.perf_counter() - start) * 1000)
        text += f"# edit {version}\n"
    print(f"refine: first {timings[0]:.0f} ms, after an edit median {statistics.median(timings[1:]):.0f} ms "
          f"({len(refined.diagnostics) if refined else 0} findings)")


if __name__ == "__main__":
    main()
