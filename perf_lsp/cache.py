"""The persistent cache of ``perf-lsp check`` and ``perf-lsp fix``: one small JSON file per checked file.

Layout: ``<root>/.gitignore`` (``*``, so git never sees the cache), ``<root>/CACHEDIR.TAG``
(backup tools skip the directory) and ``<root>/entries/<xx>/<key>.json``. A key
(:meth:`Cache.key`) is the SHA-256 of the file's bytes and of the key material: the
perf-lsp version, a fingerprint of perf-lsp's own source files (so an edited checkout
never reuses what older code found), the Python version, and whatever the caller says
changes the result (the effective settings, ``--no-jedi``). Nothing else is looked at:
the path is not part of the key, so a moved file hits.

Safety: entries are written to a temporary file in the same directory and renamed over
(atomic: a concurrent run reads the old entry, the new one or none, never half of
one); two runs writing the same entry write the same content. An entry that cannot be
read or decoded is ignored (the caller warns and recomputes it); a cache directory that
cannot be created or written turns the cache off for the run. Nothing here raises
``OSError`` or a decoding error to the caller.

Size: :meth:`Cache.prune` keeps at most ``max_entries`` entries and ``max_bytes`` bytes,
dropping the least recently used (an entry's modification time is refreshed on a hit).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

from perf_lsp import __version__

CACHE_DIR_NAME = ".perf-lsp-cache"
ENV_VAR = "PERF_LSP_CACHE_DIR"
FORMAT = 1
"""The entry format; part of every key."""

MAX_ENTRIES = 50_000
MAX_BYTES = 200 * 1024 * 1024

_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by perf-lsp.\n"
    "# For information about cache directory tags see https://bford.info/cachedir/\n"
)


class CorruptEntry(Exception):
    """A cache entry that exists but cannot be used; the message says why (no path)."""


@functools.cache
def code_fingerprint() -> str:
    """A hash of perf-lsp's version, its source and catalog files (name, size, modification time in ns)
    and the running Python's version: what, besides the input, decides what perf-lsp finds."""
    digest = hashlib.sha256()
    digest.update(f"perf-lsp {__version__}\0python {sys.version}\0format {FORMAT}\0".encode())
    package = Path(__file__).resolve().parent
    for directory, subdirs, names in os.walk(package):
        subdirs.sort()
        subdirs[:] = [d for d in subdirs if d != "__pycache__"]
        for name in sorted(names):
            if name.endswith((".py", ".toml")):
                path = os.path.join(directory, name)
                try:
                    info = os.stat(path)
                except OSError:
                    continue
                digest.update(f"{os.path.relpath(path, package)}\0{info.st_size}\0{info.st_mtime_ns}\0".encode())
    return digest.hexdigest()


class Cache:
    """The cache under ``root`` (created on the first write). See the module docstring.

    ``enabled`` becomes False (and ``problem`` says why) when the directory cannot be
    created or written: the run goes on without a cache.
    """

    def __init__(self, root: Path, *, max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES) -> None:
        self.root = Path(root)
        self.entries = self.root / "entries"
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.enabled = True
        self.problem: str | None = None
        self.writes = 0
        self._ready = False

    @staticmethod
    def key(data: bytes, material: str) -> str:
        """The entry name for a file whose bytes are ``data`` under ``material`` (any string
        naming what else changes the result); :func:`code_fingerprint` is always part of it."""
        digest = hashlib.sha256()
        digest.update(code_fingerprint().encode())
        digest.update(b"\0")
        digest.update(material.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
        digest.update(data)
        return digest.hexdigest()

    def _path(self, key: str) -> Path:
        return self.entries / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict | None:
        """The entry stored under ``key``, or None when there is none.

        Raises CorruptEntry when the entry exists but is not a JSON object of this format.
        """
        if not self.enabled:
            return None
        path = self._path(key)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise CorruptEntry(f"cannot read: {exc.strerror or exc}") from exc
        try:
            value = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise CorruptEntry(f"not valid JSON ({exc.__class__.__name__})") from exc
        if not isinstance(value, dict) or value.get("format") != FORMAT or value.get("key") != key:
            raise CorruptEntry("not an entry of this perf-lsp")
        try:
            os.utime(path)  # least recently used goes first when pruning
        except OSError:
            pass
        return value

    def describe(self, key: str) -> str:
        """The entry's path, for messages."""
        return str(self._path(key))

    def put(self, key: str, value: dict) -> None:
        """Store ``value`` (JSON-serialisable) under ``key`` atomically; on failure the cache is
        turned off for the run (``enabled``/``problem``)."""
        if not self.enabled:
            return
        path = self._path(key)
        data = json.dumps({"format": FORMAT, "key": key, **value}, ensure_ascii=False, separators=(",", ":"))
        try:
            self._prepare()
            path.parent.mkdir(exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{key[:16]}.", suffix=".tmp", dir=path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    fh.write(data)
                os.replace(tmp, path)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        except OSError as exc:
            self.enabled = False
            self.problem = f"cannot write the cache in {self.root}: {exc.strerror or exc}; running without it"
            return
        self.writes += 1

    def _prepare(self) -> None:
        if self._ready:
            return
        self.entries.mkdir(parents=True, exist_ok=True)
        for name, text in ((".gitignore", "# Automatically created by perf-lsp.\n*\n"), ("CACHEDIR.TAG", _TAG)):
            path = self.root / name
            if not path.exists():
                fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=self.root)
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    fh.write(text)
                os.replace(tmp, path)
        self._ready = True

    def prune(self) -> int:
        """Drop the least recently used entries beyond ``max_entries``/``max_bytes`` (down to 80%
        of both); returns how many were dropped. Errors are ignored (another run may prune too)."""
        found: list[tuple[float, int, str]] = []
        try:
            shards = list(os.scandir(self.entries))
        except OSError:
            return 0
        for shard in shards:
            try:
                for entry in os.scandir(shard.path):
                    if entry.name.endswith(".json"):
                        info = entry.stat()
                        found.append((info.st_mtime, info.st_size, entry.path))
            except OSError:
                continue
        total = sum(size for _, size, _ in found)
        if len(found) <= self.max_entries and total <= self.max_bytes:
            return 0
        found.sort()
        keep_entries, keep_bytes = int(self.max_entries * 0.8), int(self.max_bytes * 0.8)
        dropped = 0
        count = len(found)
        for _, size, path in found:
            if count <= keep_entries and total <= keep_bytes:
                break
            try:
                os.unlink(path)
            except OSError:
                pass
            count -= 1
            total -= size
            dropped += 1
        return dropped


def cache_root(env: dict[str, str], configured: str | None, project_root: Path) -> Path:
    """Where the cache lives: ``$PERF_LSP_CACHE_DIR``, else the ``cache-dir`` setting (already
    absolute), else ``<project_root>/.perf-lsp-cache``."""
    if env.get(ENV_VAR):
        return Path(env[ENV_VAR]).expanduser()
    if configured:
        return Path(configured)
    return project_root / CACHE_DIR_NAME
