"""What the stand-ins record: counters, live objects and a call log (start/end events)."""

import collections
import threading
import weakref

COUNTS = collections.Counter()
LOG = []
_LIVE = collections.defaultdict(weakref.WeakSet)
_LOCK = threading.Lock()


def count(name, n=1):
    with _LOCK:
        COUNTS[name] += n


def track(kind, obj):
    """Count a construction of ``kind`` and keep a weak reference to ``obj`` to count live ones."""
    count(kind)
    _LIVE[kind].add(obj)


def live(kind):
    import gc

    gc.collect()
    return len(_LIVE[kind])


def event(what):
    with _LOCK:
        LOG.append(what)


def overlaps():
    """For each kind, the most calls in progress at once, from ``start:KIND:...``/``end:KIND:...`` events."""
    depth = {}
    best = {}
    for item in LOG:
        parts = item.split(":")
        if len(parts) < 2 or parts[0] not in ("start", "end"):
            continue
        kind = parts[1]
        depth[kind] = depth.get(kind, 0) + (1 if parts[0] == "start" else -1)
        best[kind] = max(best.get(kind, 0), depth[kind])
    return best


def vector(text, dims=4):
    """A deterministic embedding of ``text`` (same text, same vector)."""
    text = str(text)
    return [float((sum(ord(c) * (i + 1) for c in text) + 7 * k) % 97) / 97.0 for k, i in enumerate(range(dims))]
