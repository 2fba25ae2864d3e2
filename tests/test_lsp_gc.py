"""The server's garbage-collection policy: the analysed trees are frozen out of the collector's scans, and
cyclic garbage is still collected, at the first pause in the typing after ``every`` analyses (a full
collection over a big document's trees takes 0.3-0.6 s: the long tail of typing into a method of a big
class), or after ``at_most`` analyses without a pause."""

from __future__ import annotations

import gc
import weakref

import pytest

from perf_lsp.lsp.server import Collector


class _Node:
    pass


@pytest.fixture(autouse=True)
def _thawed():
    yield
    gc.unfreeze()


def _cycle() -> weakref.ref:
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    return weakref.ref(a)


def test_settle_freezes_what_is_alive():
    collector = Collector(every=100)
    kept = [_Node() for _ in range(10)]
    collector.settle()
    assert gc.get_freeze_count() >= len(kept)


def test_cyclic_garbage_is_collected_at_the_first_pause_after_every_settles():
    collector = Collector(every=5, at_most=1000)
    collector.settle()
    ref = _cycle()
    collector.settle()  # the cycle, already garbage, is frozen here: no automatic collection sees it
    gc.collect()
    assert ref() is not None, "frozen cycles are out of the collector's reach until the next full collection"
    collector.idle()
    assert ref() is not None, "a pause before `every` settles does not collect"
    for _ in range(5):
        collector.settle()
    assert ref() is not None, "typing never waits for a full collection (they took 0.3-0.6 s on a big document)"
    collector.idle()
    assert ref() is None, "the first pause after `every` settles collects it"


def test_cyclic_garbage_is_collected_without_a_pause_after_at_most_settles():
    collector = Collector(every=5, at_most=20)
    collector.settle()
    ref = _cycle()
    for _ in range(18):
        collector.settle()
    assert ref() is not None  # 19 settles
    collector.settle()  # the 20th
    assert ref() is None, "typing that never pauses still gets a full collection every `at_most` settles"


def test_typing_in_a_body_does_not_index_the_document_again(monkeypatch):
    """Without a project index the engine judges hot-only rules (PFL403) by indexing the document alone, a
    whole-document read (~85 ms on 6,500 lines): done again only when the first line of a top-level statement
    changes, not per keystroke inside a body."""
    import perf_lsp.engine as engine_module
    from perf_lsp.lsp.features import Documents, Snapshot
    from perf_lsp.settings import Settings

    calls = []
    real = engine_module.document_hotness

    def counted(text):
        calls.append(text)
        return real(text)

    monkeypatch.setattr(engine_module, "document_hotness", counted)
    text = (
        "import re\nfrom fastapi import FastAPI\napp = FastAPI()\n\n@app.get('/a')\n"
        "def a(q):\n    n = 1\n    return re.search(r'[a-z]+', q)\n"
    )
    docs = Documents()
    analysis = docs.analysis(Snapshot("file:///doc.py", 1, text, None, Settings()))
    assert "PFL403" in {d.code for d in analysis.diagnostics} and len(calls) == 1
    for version in range(2, 7):
        text = text.replace("    n = 1", "    n = 1" + "1", 1)
        analysis = docs.analysis(Snapshot("file:///doc.py", version, text, None, Settings()))
        assert "PFL403" in {d.code for d in analysis.diagnostics}
    assert len(calls) == 1
    text += "\n\ndef b():\n    return 2\n"
    docs.analysis(Snapshot("file:///doc.py", 7, text, None, Settings()))
    assert len(calls) == 2
