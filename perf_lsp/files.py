"""Finding the files to check, reading them safely and writing fixes atomically."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pathspec

MAX_FILE_BYTES = 5 * 1024 * 1024
"""Files larger than this (5 MiB) are reported and skipped: generated code, not services."""

EXCLUDED_DIRS = frozenset(
    {
        ".bzr", ".direnv", ".eggs", ".git", ".git-rewrite", ".hg", ".mypy_cache", ".nox", ".pants.d",
        ".pytype", ".ruff_cache", ".pytest_cache", ".svn", ".tox", ".venv", "__pypackages__", "__pycache__",
        "_build", "buck-out", "node_modules", "site-packages", "venv",
    }
)
"""Directories never walked into (Ruff's default exclusions, plus caches)."""


class FileError(Exception):
    """A file that cannot be checked: unreadable, not UTF-8, or too large. The message names the reason."""


@dataclass(frozen=True)
class SourceFile:
    """A decoded Python file: its text (newlines as in the file) and whether it had a UTF-8 BOM."""

    path: Path
    text: str
    bom: bool


def _is_virtualenv(directory: Path) -> bool:
    return (directory / "pyvenv.cfg").is_file()


def _gitignore(directory: Path) -> pathspec.PathSpec | None:
    path = directory / ".gitignore"
    if not path.is_file():
        return None
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    return pathspec.GitIgnoreSpec.from_lines(lines)


def discover(paths: list[Path]) -> Iterator[Path]:
    """The Python files under ``paths``, sorted per directory.

    A file named explicitly is always yielded. Directories are walked for
    ``*.py``/``*.pyi``, skipping :data:`EXCLUDED_DIRS`, virtualenvs (a
    ``pyvenv.cfg``) and whatever the ``.gitignore`` files met on the way ignore.
    """
    seen: set[Path] = set()
    for root in paths:
        if root.is_file():
            if root.resolve() not in seen:
                seen.add(root.resolve())
                yield root
            continue
        if not root.is_dir():
            continue
        specs: list[tuple[Path, pathspec.PathSpec]] = []
        for parent in reversed([root.resolve(), *root.resolve().parents]):
            spec = _gitignore(parent)
            if spec is not None:
                specs.append((parent, spec))
        yield from _walk(root, specs, seen)


def _ignored(path: Path, is_dir: bool, specs: list[tuple[Path, pathspec.PathSpec]]) -> bool:
    resolved = path.resolve()
    for base, spec in specs:
        try:
            rel = resolved.relative_to(base).as_posix()
        except ValueError:
            continue
        if spec.match_file(rel + ("/" if is_dir else "")):
            return True
    return False


def _walk(directory: Path, specs: list[tuple[Path, pathspec.PathSpec]], seen: set[Path]) -> Iterator[Path]:
    own = _gitignore(directory)
    if own is not None and all(base != directory.resolve() for base, _ in specs):
        specs = [*specs, (directory.resolve(), own)]
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        path = Path(entry.path)
        if entry.is_dir(follow_symlinks=False):
            if entry.name in EXCLUDED_DIRS or _is_virtualenv(path) or _ignored(path, True, specs):
                continue
            yield from _walk(path, specs, seen)
        elif entry.name.endswith((".py", ".pyi")) and entry.is_file():
            if _ignored(path, False, specs):
                continue
            resolved = path.resolve()
            if resolved not in seen:
                seen.add(resolved)
                yield path


def read_source(path: Path) -> SourceFile:
    """Read and decode ``path``; raises FileError (too large, unreadable, not UTF-8)."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise FileError(f"file too large ({size:,} bytes; the limit is {MAX_FILE_BYTES:,})")
        data = path.read_bytes()
    except OSError as exc:
        raise FileError(f"cannot read: {exc.strerror or exc}") from exc
    bom = data.startswith(b"\xef\xbb\xbf")
    try:
        text = data[3:].decode("utf-8") if bom else data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileError(f"not UTF-8 (byte {exc.start}: {exc.reason})") from exc
    if "\x00" in text:
        raise FileError("contains a NUL byte (not a text file)")
    return SourceFile(path, text, bom)


def write_atomic(source: SourceFile, text: str) -> None:
    """Replace the file's content with ``text`` atomically (temp file + rename), keeping its BOM and mode."""
    data = (b"\xef\xbb\xbf" if source.bom else b"") + text.encode("utf-8")
    path = source.path
    mode = path.stat().st_mode
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".perf-lsp.tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
