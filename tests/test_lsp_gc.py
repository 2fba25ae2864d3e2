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
