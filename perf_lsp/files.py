"""Finding the files to check, reading them as Python does and writing fixes back safely.

Walking (:class:`FileWalk`): a path named on the command line is always checked (a
file), or walked (a directory, even one an ignore rule or an exclusion would skip).
What the walk finds below it is filtered as git, Ruff and ripgrep do: the
``.gitignore`` files of the enclosing git repository, from its root down, and its
``.git/info/exclude``; outside any repository no ``.gitignore`` applies; a nested
repository starts its own rules. The global ``core.excludesFile`` is not read. Then
the exclusions (:data:`EXCLUDED_DIRS` or the project's ``exclude``/``extend-exclude``,
through the caller's ``exclude`` callback) and virtualenvs (a ``pyvenv.cfg``).
Symbolic links to directories are not followed (as git, Ruff and ripgrep), so a link
to an ancestor cannot loop; links to files are followed once. A directory that
cannot be read, a symlink loop and a broken link are skipped with a warning.

Reading (:func:`read_source`): the encoding is found as Python finds it (a UTF-8
BOM, else a PEP 263 coding cookie on line 1 or 2, else UTF-8).

Writing (:func:`write_source`): back in the file's encoding, BOM and newlines, after
checking that the file did not change since it was read; read-only files are
refused; symlinks are written through (the link stays a link); hard links are kept.
"""

from __future__ import annotations

import codecs
import functools
import io
import os
import re
import stat
import tempfile
import tokenize
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pathspec

MAX_FILE_BYTES = 5 * 1024 * 1024
"""Files larger than this (5 MiB) are reported and skipped: generated code, not services."""

EXCLUDED_DIRS = frozenset(
    {
        ".bzr", ".direnv", ".eggs", ".git", ".git-rewrite", ".hg", ".mypy_cache", ".nox", ".pants.d",
        ".perf-lsp-cache", ".pytype", ".ruff_cache", ".pytest_cache", ".svn", ".tox", ".venv", "__pypackages__", "__pycache__",
        "_build", "buck-out", "node_modules", "site-packages", "venv",
    }
)
"""Directories never walked into unless named (Ruff's default exclusions, plus caches); the
project's ``exclude`` setting replaces them, ``extend-exclude`` adds to them."""

PYTHON_SUFFIXES = (".py", ".pyi")

CHECKED_SUFFIXES = (*PYTHON_SUFFIXES, ".ipynb")
"""What a directory walk finds: Python files and Jupyter notebooks (the ``notebooks`` setting
excludes the latter, through :meth:`perf_lsp.settings.Settings.excludes`)."""

_COOKIE = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)")


class FileError(Exception):
    """A file that cannot be checked or written. The message names the reason, without the path."""


@dataclass(frozen=True)
class SourceFile:
    """A decoded Python file.

    ``text``: the content, newlines as in the file; ``bom``: it started with a UTF-8 BOM
    (not part of ``text``); ``encoding``: the codec it was decoded with (a Python codec
    name, ``"utf-8"`` unless a coding cookie says otherwise); ``data``: the bytes read,
    which :func:`write_source` compares with the file before replacing it.
    """

    path: Path
    text: str
    bom: bool
    encoding: str = "utf-8"
    data: bytes | None = field(default=None, repr=False, compare=False)


# -- reading ---------------------------------------------------------------------------------


def _cookie(data: bytes) -> str | None:
    for line in data.split(b"\n", 2)[:2]:
        match = _COOKIE.match(line)
        if match:
            return match.group(1).decode("ascii", "replace")
    return None


def decode_source(data: bytes) -> tuple[str, bool, str]:
    """(text, bom, encoding) of Python source bytes, decoded as Python decodes them.

    A UTF-8 BOM, else a PEP 263 coding cookie (``# -*- coding: latin-1 -*-`` on line 1
    or 2), else UTF-8. Raises FileError for an unknown or contradictory cookie, bytes the
    encoding cannot decode, and NUL bytes.
    """
    bom = False
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:
        cookie = _cookie(data.removeprefix(codecs.BOM_UTF8))
        if data.startswith(codecs.BOM_UTF8) and cookie is not None:
            raise FileError(f"a UTF-8 BOM with a '{cookie}' coding cookie") from exc
        try:
            encoding = codecs.lookup(cookie).name if cookie is not None else "utf-8"
        except LookupError:
            raise FileError(f"unknown encoding '{cookie}' in the coding cookie") from exc
        # the first lines are not valid in the encoding they name (or UTF-8): the decoding says where
    else:
        bom = encoding == "utf-8-sig"
        if bom:
            encoding, data = "utf-8", data[len(codecs.BOM_UTF8) :]
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        if encoding == "utf-8" and _cookie(data) is None:
            raise FileError(f"not UTF-8 (byte {exc.start}: {exc.reason}) and no coding cookie") from exc
        raise FileError(f"not {encoding} as its coding cookie says (byte {exc.start}: {exc.reason})") from exc
    except LookupError as exc:  # detect_encoding checked the name; a codec can still refuse
        raise FileError(f"unknown encoding '{encoding}'") from exc
    if "\x00" in text:
        raise FileError("contains a NUL byte (not a text file)")
    return text, bom, encoding


def read_source(path: Path) -> SourceFile:
    """Read and decode ``path`` (see :func:`decode_source`); raises FileError (too large,
    unreadable, not a regular file, undecodable)."""
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise FileError("not a regular file")
        if info.st_size > MAX_FILE_BYTES:
            raise FileError(f"file too large ({info.st_size:,} bytes; the limit is {MAX_FILE_BYTES:,})")
        data = path.read_bytes()
    except OSError as exc:
        raise FileError(f"cannot read: {_reason(exc)}") from exc
    text, bom, encoding = decode_source(data)
    return SourceFile(path, text, bom, encoding, data)


def _reason(exc: OSError) -> str:
    """``[Errno 13] Permission denied: 'x'`` -> ``permission denied``."""
    text = exc.strerror or str(exc)
    return text[:1].lower() + text[1:]


# -- writing ---------------------------------------------------------------------------------


def encode_source(source: SourceFile, text: str) -> bytes:
    """``text`` as bytes in ``source``'s encoding, with its BOM; raises FileError when a
    character cannot be written in that encoding (a fix must not change the file's encoding)."""
    try:
        data = text.encode(source.encoding)
    except UnicodeEncodeError as exc:
        bad = exc.object[exc.start : exc.end]
        raise FileError(f"the fixed text has {bad!r}, which cannot be written in {source.encoding}") from exc
    return (codecs.BOM_UTF8 if source.bom else b"") + data


def write_source(source: SourceFile, text: str) -> None:
    """Write ``text`` to ``source``'s file in its encoding, keeping BOM, newlines (as in
    ``text``), mode, owner and links. Raises FileError with the reason.

    Refused: a read-only file (no write permission bit, or not writable by this user, as
    Ruff refuses it), a file whose bytes changed since :func:`read_source` read them (an
    edit made while fix ran), text the encoding cannot represent.

    How: a symlink is written through to its target (the link stays a link). A file with
    one link is replaced atomically (a temporary file in the same directory, fsynced,
    then renamed over it: readers see the old or the new content, never a mix); a
    hard-linked file (more than one link), or one in a directory where no temporary file
    can be created, is rewritten in place, which keeps the inode and so every link but
    is not atomic (a crash mid-write can leave it truncated). The check for a
    concurrent edit happens right before the rename or the rewrite; an edit in the
    microseconds between the two is not seen.
    """
    data = encode_source(source, text)
    target = Path(os.path.realpath(source.path))
    try:
        info = os.stat(target)
    except OSError as exc:
        raise FileError(f"cannot write: {_reason(exc)}") from exc
    if not info.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) or not os.access(target, os.W_OK):
        raise FileError("read-only")
    if info.st_nlink > 1:
        _write_in_place(target, source.data, data)
        return
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".perf-lsp.tmp", dir=target.parent)
    except OSError:
        _write_in_place(target, source.data, data)
        return
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, stat.S_IMODE(info.st_mode))
        if hasattr(os, "chown") and (info.st_uid, info.st_gid) != (os.geteuid(), os.getegid()):
            try:
                os.chown(tmp, info.st_uid, info.st_gid)
            except OSError:
                pass  # not allowed to give the file away: it becomes ours, as with any editor
        _check_unchanged(target, source.data)
        os.replace(tmp, target)
    except OSError as exc:
        raise FileError(f"cannot write: {_reason(exc)}") from exc
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


write_atomic = write_source
"""The former name of :func:`write_source`."""


def _check_unchanged(target: Path, original: bytes | None) -> None:
    if original is None:
        return
    try:
        current = target.read_bytes()
    except OSError as exc:
        raise FileError(f"cannot read it again before writing: {_reason(exc)}") from exc
    if current != original:
        raise FileError("changed on disk while perf-lsp was fixing it")


def _write_in_place(target: Path, original: bytes | None, data: bytes) -> None:
    try:
        with open(target, "r+b") as fh:
            if original is not None and fh.read() != original:
                raise FileError("changed on disk while perf-lsp was fixing it")
            fh.seek(0)
            fh.write(data)
            fh.truncate()
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise FileError(f"cannot write: {_reason(exc)}") from exc


# -- walking ---------------------------------------------------------------------------------


class Patterns:
    """``.gitignore``-syntax patterns (pathspec compiles them) matched as git matches them.

    pathspec answers whether a path is ignored *or lies below an ignored directory*;
    git (and Ruff, ripgrep) decide each entry of a walk by its own path, and simply do
    not walk into an ignored directory. The difference shows when a user names an
    ignored directory: git-style, its files are still found. So a pattern counts here
    only when it matches the entry itself, not just one of its directories (pathspec
    marks such a match with its ``ps_d`` group).
    """

    def __init__(self, lines: Iterable[str]) -> None:
        spec = pathspec.GitIgnoreSpec.from_lines(list(lines))
        self._patterns = [
            (p.regex, bool(p.include), p.regex.groupindex.get("ps_d"))
            for p in spec.patterns
            if p.include is not None and p.regex is not None
        ]

    def decide(self, rel: str, is_dir: bool) -> bool | None:
        """True when the last pattern that matches ``rel`` itself ignores it, False when it
        re-includes it (``!``), None when none matches. ``rel``: posix path relative to the
        patterns' base, without a trailing slash."""
        path = rel + "/" if is_dir else rel
        for regex, include, mark in reversed(self._patterns):
            match = regex.match(path)
            if match is None:
                continue
            if mark is not None and match.start(mark) != -1 and match.start(mark) < len(rel):
                continue  # matched a directory above the entry, not the entry
            return include


@dataclass(frozen=True)
class _IgnoreFile:
    base: Path  # the directory its patterns are relative to
    source: Path  # the file, for messages
    patterns: Patterns


def find_repository(directory: Path) -> Path | None:
    """The root of the git repository holding ``directory`` (an absolute, resolved path):
    the nearest directory at or above it with a ``.git`` directory or file; None outside any."""
    for candidate in [directory, *directory.parents]:
        try:
            os.lstat(candidate / ".git")
        except OSError:
            continue
        return candidate
    return None


def _git_dir(repository: Path) -> Path | None:
    """The directory holding ``info/exclude`` for ``repository``: ``.git``, or for a worktree
    or submodule (a ``.git`` file: ``gitdir: ...``) the common directory of its git dir."""
    dot_git = repository / ".git"
    try:
        if dot_git.is_dir():
            return dot_git
        line = dot_git.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None
    if not line.startswith("gitdir:"):
        return None
    gitdir = Path(line[len("gitdir:") :].strip())
    if not gitdir.is_absolute():
        gitdir = repository / gitdir
    try:
        common = (gitdir / "commondir").read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return gitdir
    return Path(common) if Path(common).is_absolute() else gitdir / common


@functools.lru_cache(maxsize=256)
def _compiled(patterns: tuple[str, ...]) -> Patterns:
    return Patterns(patterns)


def matches(patterns: tuple[str, ...], path: Path, is_dir: bool, base: Path | None) -> bool:
    """Whether ``path`` itself matches ``patterns`` (``.gitignore`` syntax, ``!`` negations
    included; see :class:`Patterns`).

    Patterns with a ``/`` are relative to ``base`` (the directory of the file that
    declared them); a pattern without one matches a name at any depth. With ``base``
    None, or ``path`` outside it, only the name is matched.
    """
    rel = path.name
    if base is not None:
        try:
            rel = path.relative_to(base).as_posix()
        except ValueError:
            pass
    return bool(_compiled(patterns).decide(rel, is_dir))


class FileWalk:
    """Finds the Python files and notebooks (:data:`CHECKED_SUFFIXES`) under the paths a user named; see the module docstring.

    ``warn(message)`` receives one line per path skipped against the user's intent (an
    unreadable directory, a symlink loop, a broken link, an unreadable ignore file);
    ``exclude(path, is_dir)`` (a resolved path) says whether the project's settings
    exclude an entry found by the walk (default: its name is in :data:`EXCLUDED_DIRS`).
    After :meth:`discover`: ``ignored`` counts the Python files that ignore rules hid, and
    ``ignored_by`` names the ignore files that did, and ``skipped`` counts the warnings.
    """

    def __init__(
        self,
        warn: Callable[[str], None] | None = None,
        exclude: Callable[[Path, bool], bool] | None = None,
    ) -> None:
        self._warn = warn or (lambda message: None)
        self._exclude = exclude or (lambda path, is_dir: is_dir and path.name in EXCLUDED_DIRS)
        self.ignored = 0
        self.ignored_by: list[Path] = []
        self.skipped = 0
        self._seen: set[str] = set()

    def warn(self, message: str) -> None:
        self.skipped += 1
        self._warn(message)

    def discover(self, paths: Iterable[Path]) -> Iterator[Path]:
        """The Python files under ``paths``, in the order given, sorted by name within a
        directory, each real file once. A path named explicitly is yielded (a regular file
        of any name) or walked (a directory); a path that does not exist is skipped
        silently (the caller reports it); anything else is skipped with a warning."""
        for root in paths:
            try:
                info = os.stat(root)
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode):
                if self._first_time(root):
                    yield root
            elif stat.S_ISDIR(info.st_mode):
                real = Path(os.path.realpath(root))
                yield from self._walk(root, real, self._rules_above(real), True)
            else:
                self.warn(f"{root}: not a regular file or directory; skipped")

    def _first_time(self, path: Path, resolved: bool = False) -> bool:
        key = str(path) if resolved else os.path.realpath(path)
        if key in self._seen:
            return False
        self._seen.add(key)
        return True

    def _read_ignore(self, path: Path, base: Path) -> _IgnoreFile | None:
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except FileNotFoundError:
            return None
        except OSError as exc:
            self.warn(f"{path}: cannot read ignore file ({_reason(exc)}); its rules are not applied")
            return None
        return _IgnoreFile(base, path, Patterns(lines))

    def _repository_rules(self, repository: Path) -> list[_IgnoreFile]:
        git_dir = _git_dir(repository)
        if git_dir is None:
            return []
        rules = self._read_ignore(git_dir / "info" / "exclude", repository)
        return [rules] if rules is not None else []

    def _rules_above(self, real: Path) -> list[_IgnoreFile] | None:
        """The ignore rules that apply below ``real`` from its ancestors: None outside a repository."""
        repository = find_repository(real)
        if repository is None:
            return None
        rules = self._repository_rules(repository)
        for directory in reversed(real.parents):
            if directory == repository or repository in directory.parents:
                found = self._read_ignore(directory / ".gitignore", directory)
                if found is not None:
                    rules.append(found)
        return rules

    def _ignored(self, real: Path, is_dir: bool, rules: list[_IgnoreFile] | None) -> _IgnoreFile | None:
        """The ignore file whose rule decides that ``real`` is ignored, or None (deeper files win, as in git)."""
        for rules_file in reversed(rules or ()):
            try:
                rel = real.relative_to(rules_file.base).as_posix()
            except ValueError:
                continue
            decision = rules_file.patterns.decide(rel, is_dir)
            if decision is not None:
                return rules_file if decision else None
        return None

    def _walk(self, shown: Path, real: Path, rules: list[_IgnoreFile] | None, named: bool) -> Iterator[Path]:
        try:
            with os.scandir(real) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError as exc:
            self.warn(f"{shown}: cannot read directory ({_reason(exc)}); skipped")
            return
        names = {entry.name for entry in entries}
        if not named and "pyvenv.cfg" in names:
            return  # a virtualenv
        if ".git" in names and not named:  # a named root's repository was found by _rules_above
            rules = self._repository_rules(real)  # a repository (or a nested one) starts its own rules
        if rules is not None and ".gitignore" in names:
            found = self._read_ignore(real / ".gitignore", real)
            if found is not None:
                rules = [*rules, found]
        for entry in entries:
            path, entry_real = shown / entry.name, real / entry.name
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                is_dir = False
            if is_dir:
                if self._exclude(entry_real, True) or self._ignored(entry_real, True, rules):
                    continue
                yield from self._walk(path, entry_real, rules, False)
                continue
            if not entry.name.endswith(CHECKED_SUFFIXES):
                continue
            try:
                is_file = entry.is_file()  # follows a symlink
            except OSError as exc:
                self.warn(f"{path}: {_reason(exc)}; skipped")
                continue
            if not is_file:
                if entry.is_symlink() and not os.path.exists(entry_real):
                    self.warn(f"{path}: broken symbolic link; skipped")
                continue  # a directory (or a link to one) with a .py name, a socket...
            if self._exclude(entry_real, False):
                continue
            ignored_by = self._ignored(entry_real, False, rules)
            if ignored_by is not None:
                self.ignored += 1
                if ignored_by.source not in self.ignored_by:
                    self.ignored_by.append(ignored_by.source)
                continue
            if self._first_time(entry_real, resolved=not entry.is_symlink()):
                yield path


def discover(paths: list[Path]) -> Iterator[Path]:
    """The Python files under ``paths`` (see :class:`FileWalk`), with warnings dropped."""
    return FileWalk().discover(paths)
