"""The server's garbage-collection policy: the analysed trees are frozen out of the collector's scans, and
cyclic garbage is still collected every ``every`` analyses (a full collection over a big document's trees
took 100-200 ms: the long tail of typing into a method of a big class)."""

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


def test_cyclic_garbage_is_collected_within_every_settles():
    collector = Collector(every=5)
    collector.settle()
    ref = _cycle()
    collector.settle()  # the cycle, already garbage, is frozen here: no automatic collection sees it
    gc.collect()
    assert ref() is not None, "frozen cycles are out of the collector's reach until the next full settle"
    for _ in range(5):
        collector.settle()
    assert ref() is None, "a full collection every `every` settles frees it"
