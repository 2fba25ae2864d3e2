"""Finding, reading and writing the files ``perf-lsp check``/``fix`` work on.

Every test goes through the command line (``cli.main``) unless it tests one function of
:mod:`perf_lsp.files` or :mod:`perf_lsp.settings` on its own.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from perf_lsp import cli, files
from perf_lsp.engine import Engine
from perf_lsp.rules import CODES
from perf_lsp.settings import Settings, from_lsp_options, load_for

REPO = Path(__file__).resolve().parent.parent
BAD = "import re\n\ndef f(xs):\n    return [re.compile('a').match(x) for x in xs]\n"
"""One PFL401 finding (line 4, column 13) with a safe fix."""


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def write(path: Path, text: str = BAD) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def reported(out: str) -> set[str]:
    """The file names (last path component) that have findings in text output."""
    return {Path(line.split(":")[0]).name for line in out.splitlines() if ":" in line}


def make_repo(directory: Path, gitignore: str | None = None) -> Path:
    """A directory git would treat as a repository root (a ``.git`` directory), with a ``.gitignore``."""
    (directory / ".git" / "info").mkdir(parents=True, exist_ok=True)
    if gitignore is not None:
        (directory / ".gitignore").write_text(gitignore, encoding="utf-8")
    return directory


def no_repository_above(path: Path) -> bool:
    return not any((p / ".git").exists() for p in [path, *path.parents])


# -- ignore files --------------------------------------------------------------


def test_gitignore_of_an_enclosing_repository_does_not_reach_into_a_nested_project(tmp_path, capsys):
    # a home directory kept in a dotfiles repository that ignores everything, and a project in
    # its own repository below it: git, Ruff and ripgrep check the project's files
    home = make_repo(tmp_path / "home", "*\n")
    project = make_repo(home / "project")
    write(project / "app" / "svc.py")
    code, out, err = run(capsys, "check", str(project))
    assert reported(out) == {"svc.py"}, err
    assert code == 1


def test_gitignore_outside_any_repository_does_not_apply(tmp_path, capsys):
    if not no_repository_above(tmp_path):
        pytest.skip("the temporary directory is inside a git repository")
    (tmp_path / ".gitignore").write_text("*\n", encoding="utf-8")
    write(tmp_path / "project" / "svc.py")
    (tmp_path / "project" / ".gitignore").write_text("svc.py\n", encoding="utf-8")
    code, out, _ = run(capsys, "check", str(tmp_path / "project"))
    assert reported(out) == {"svc.py"} and code == 1


def test_directory_named_on_the_command_line_is_walked_even_if_ignored(tmp_path, capsys):
    repo = make_repo(tmp_path / "repo", "generated/\n")
    write(repo / "generated" / "out.py")
    write(repo / "app.py")
    code, out, _ = run(capsys, "check", str(repo / "generated"))
    assert reported(out) == {"out.py"} and code == 1
    # from the repository root, the ignored directory is not walked
    _, out, _ = run(capsys, "check", str(repo))
    assert reported(out) == {"app.py"}


def test_file_named_on_the_command_line_is_checked_even_if_ignored(tmp_path, capsys):
    repo = make_repo(tmp_path / "repo", "*.py\n")
    target = write(repo / "svc.py")
    code, out, _ = run(capsys, "check", str(target))
    assert reported(out) == {"svc.py"} and code == 1


def test_ignore_rules_follow_git_precedence(tmp_path, capsys):
    # .git/info/exclude applies; a deeper .gitignore overrides a shallower one ("!" re-includes)
    repo = make_repo(tmp_path / "repo", "*.gen.py\n")
    (repo / ".git" / "info" / "exclude").write_text("secret.py\n", encoding="utf-8")
    write(repo / "secret.py")
    write(repo / "a.gen.py")
    write(repo / "sub" / "keep.gen.py")
    write(repo / "sub" / "drop.gen.py")
    write(repo / "sub" / "plain.py")
    (repo / "sub" / ".gitignore").write_text("!keep.gen.py\n", encoding="utf-8")
    _, out, _ = run(capsys, "check", str(repo))
    assert reported(out) == {"keep.gen.py", "plain.py"}


def test_git_worktree_file_points_to_the_exclude_file(tmp_path, capsys):
    # a worktree or submodule has a `.git` file naming its git directory; info/exclude lives in the common dir
    common = tmp_path / "main.git"
    (common / "info").mkdir(parents=True)
    (common / "info" / "exclude").write_text("local.py\n", encoding="utf-8")
    gitdir = common / "worktrees" / "wt"
    gitdir.mkdir(parents=True)
    (gitdir / "commondir").write_text("../..\n", encoding="utf-8")
    work = tmp_path / "wt"
    work.mkdir()
    (work / ".git").write_text(f"gitdir: {gitdir}\n", encoding="utf-8")
    write(work / "local.py")
    write(work / "svc.py")
    _, out, _ = run(capsys, "check", str(work))
    assert reported(out) == {"svc.py"}


def test_a_nested_repository_starts_its_own_ignore_rules(tmp_path, capsys):
    outer = make_repo(tmp_path / "outer", "svc.py\n")
    write(outer / "svc.py")
    inner = make_repo(outer / "vendor" / "inner")
    write(inner / "svc.py")
    _, out, _ = run(capsys, "check", str(outer))
    assert [line.split(":")[0] for line in out.splitlines()] == [str(inner / "svc.py")]


def test_nothing_found_says_so_instead_of_all_checks_passed(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code, out, err = run(capsys, "check", str(tmp_path / "empty"))
    assert code == 0 and out == ""  # as Ruff: a warning, exit 0
    assert "No Python files found under the given path(s)" in err
    assert "All checks passed!" not in err


def test_nothing_found_because_of_ignore_rules_names_the_ignore_file(tmp_path, capsys):
    # a project without its own repository inside a home directory repository that ignores `*`
    home = make_repo(tmp_path / "home", "*\n")
    write(home / "project" / "svc.py")
    code, out, err = run(capsys, "check", str(home / "project"))
    assert code == 0 and out == ""
    assert "No Python files found under the given path(s)" in err
    assert "1 Python file ignored by" in err and str(home / ".gitignore") in err
    assert "All checks passed!" not in err


def test_settings_exclude_and_extend_exclude(tmp_path, capsys):
    root = tmp_path / "proj"
    (root).mkdir()
    (root / "pyproject.toml").write_text(
        '[tool.perf-lsp]\nextend-exclude = ["legacy/", "gen_*.py", "pkg/skip.py"]\n', encoding="utf-8"
    )
    for rel in ("app.py", "legacy/old.py", "pkg/gen_x.py", "pkg/skip.py", "pkg/keep.py", "venv/lib.py"):
        write(root / rel)
    code, out, err = run(capsys, "check", str(root))
    assert reported(out) == {"app.py", "keep.py"}, err
    assert "unknown key" not in err
    # a file named on the command line is checked even when excluded (as Ruff without force-exclude)
    _, out, _ = run(capsys, "check", str(root / "legacy" / "old.py"))
    assert reported(out) == {"old.py"}
    # `exclude` replaces the default exclusions (venv, node_modules...)
    (root / "pyproject.toml").write_text('[tool.perf-lsp]\nexclude = ["legacy"]\n', encoding="utf-8")
    _, out, err = run(capsys, "check", str(root))
    assert reported(out) == {"app.py", "gen_x.py", "skip.py", "keep.py", "lib.py"}, err


def test_bad_exclude_values_are_reported(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.perf-lsp]\nextend-exclude = [1, 2]\n', encoding="utf-8")
    settings, messages = load_for(tmp_path, codes=CODES)
    assert settings.extend_exclude == ()
    assert any("'extend-exclude' must be a list of" in m for m in messages)


# -- encodings and newer syntax -----------------------------------------------

LATIN1 = '# -*- coding: latin-1 -*-\nimport re\nNAME = "caf\xe9"\n\ndef f(xs):\n    return [re.compile("a").match(x) for x in xs]\n'


def test_coding_cookie_is_honoured_when_reading(tmp_path):
    path = tmp_path / "svc.py"
    path.write_bytes(LATIN1.encode("latin-1"))
    source = files.read_source(path)
    assert source.text == LATIN1 and source.encoding == "iso-8859-1" and not source.bom


def test_latin1_file_is_checked_and_fixed_in_its_encoding(tmp_path, capsys):
    path = tmp_path / "svc.py"
    path.write_bytes(LATIN1.encode("latin-1"))
    code, out, err = run(capsys, "check", str(path))
    assert code == 1 and "PFL401" in out and "not UTF-8" not in err
    code, _, err = run(capsys, "fix", str(path))
    assert code == 0, err
    data = path.read_bytes()
    assert b'NAME = "caf\xe9"' in data  # still latin-1, not UTF-8's b"\xc3\xa9"
    assert "_F_RE = re.compile(\"a\")" in data.decode("latin-1")


def test_fix_refuses_characters_the_encoding_cannot_represent(tmp_path, capsys, monkeypatch):
    path = tmp_path / "svc.py"
    path.write_bytes(LATIN1.encode("latin-1"))
    monkeypatch.setattr(
        Engine, "fix_all", lambda self, source, settings, **kw: _fixed(source.replace("NAME =", "EURO = '\u20ac'\nNAME ="))
    )
    code, _, err = run(capsys, "fix", str(path))
    assert code == 2
    assert "cannot be written in iso-8859-1" in err and "left unchanged" in err
    assert path.read_bytes() == LATIN1.encode("latin-1")


def _fixed(text: str):
    from perf_lsp.engine import FixAllResult

    return FixAllResult(text, 1, 1, [])


def test_bad_coding_cookies_are_reported(tmp_path, capsys):
    (tmp_path / "unknown.py").write_bytes(b"# coding: klingon\nx = 1\n")
    (tmp_path / "bom.py").write_bytes(b"\xef\xbb\xbf# coding: latin-1\nx = 1\n")
    (tmp_path / "nocookie.py").write_bytes(b"x = 'caf\xe9'\n")
    code, _, err = run(capsys, "check", str(tmp_path))
    assert code == 2
    assert "unknown.py: unknown encoding 'klingon' in the coding cookie" in err
    assert "bom.py: a UTF-8 BOM with a 'latin-1' coding cookie" in err
    assert "nocookie.py: not UTF-8 (byte 8: invalid continuation byte) and no coding cookie" in err


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="the running Python parses 3.12 syntax")
@pytest.mark.parametrize(
    "source",
    ['d = {"k": 1}\nx = f"{d["k"]}"\n', "type X = int\n", "def first[T](xs: list[T]) -> T:\n    return xs[0]\n"],
    ids=["pep701-fstring", "type-alias", "type-params"],
)
def test_newer_syntax_is_not_a_parse_error(tmp_path, capsys, source):
    path = write(tmp_path / "new.py", BAD + source)
    code, out, err = run(capsys, "check", str(path))
    assert "cannot parse" not in err
    assert "new.py: needs Python 3.12 syntax (perf-lsp runs on Python 3.11); not checked" in err
    assert "All checks passed!" not in err and "1 file could not be checked" in err
    assert code == 0 and out == ""


def test_plain_syntax_errors_are_still_parse_errors(tmp_path, capsys):
    write(tmp_path / "broken.py", "def f(:\n    pass\n")
    write(tmp_path / "assign.py", "f() = 1\n")
    code, _, err = run(capsys, "check", str(tmp_path))
    assert code == 2
    assert "broken.py: cannot parse: line 1" in err and "assign.py: cannot parse: line 1" in err
    assert "needs Python" not in err


# -- walking the tree, bad pyproject --------------------------------------------


def test_symlink_loop_is_skipped_with_a_warning(tmp_path, capsys):
    (tmp_path / "a.py").symlink_to("b.py")
    (tmp_path / "b.py").symlink_to("a.py")
    (tmp_path / "dangling.py").symlink_to("missing.py")
    write(tmp_path / "good.py")
    code, out, err = run(capsys, "check", str(tmp_path))
    assert reported(out) == {"good.py"} and code == 1
    assert "a.py: too many levels of symbolic links; skipped" in err
    assert "b.py: too many levels of symbolic links; skipped" in err
    assert "dangling.py: broken symbolic link; skipped" in err
    assert "Traceback" not in err


def test_symlink_loop_named_on_the_command_line_is_an_error(tmp_path, capsys):
    (tmp_path / "a.py").symlink_to("b.py")
    (tmp_path / "b.py").symlink_to("a.py")
    code, _, err = run(capsys, "check", str(tmp_path / "a.py"))
    assert code == 2 and "a.py: too many levels of symbolic links" in err


def test_symlinked_directories_are_not_followed_so_a_loop_ends(tmp_path, capsys):
    write(tmp_path / "pkg" / "svc.py")
    (tmp_path / "pkg" / "up").symlink_to("..")  # a loop to an ancestor
    (tmp_path / "alias").symlink_to("pkg")
    code, out, err = run(capsys, "check", str(tmp_path))
    assert [line.split(":")[0] for line in out.splitlines()] == [str(tmp_path / "pkg" / "svc.py")], err
    # named on the command line, a symlinked directory is walked
    _, out, _ = run(capsys, "check", str(tmp_path / "alias"))
    assert reported(out) == {"svc.py"}


def test_unreadable_directory_is_skipped_with_a_warning(tmp_path, capsys, monkeypatch):
    # as root, chmod 000 does not stop reading: simulate the kernel's answer for a non-root user
    write(tmp_path / "good.py")
    db = tmp_path / "db"
    write(db / "x.py")
    real_scandir, real_stat, real_lstat = os.scandir, os.stat, os.lstat

    def denied(path) -> bool:
        return str(os.fspath(path)).startswith(str(db) + os.sep)

    def scandir(path="."):
        if os.fspath(path) == str(db):
            raise PermissionError(13, "Permission denied", str(db))
        return real_scandir(path)

    def guarded(real):
        def call(path, *args, **kwargs):
            if denied(path):
                raise PermissionError(13, "Permission denied", os.fspath(path))
            return real(path, *args, **kwargs)

        return call

    monkeypatch.setattr(os, "scandir", scandir)
    monkeypatch.setattr(os, "stat", guarded(real_stat))
    monkeypatch.setattr(os, "lstat", guarded(real_lstat))
    code, out, err = run(capsys, "check", str(tmp_path))
    assert reported(out) == {"good.py"} and code == 1, err
    assert f"{db}: cannot read directory (permission denied); skipped" in err
    assert "All checks passed!" not in err


def _drop_privileges_script(target: Path, warmup: Path) -> str:
    return f"""
import os, sys
sys.path.insert(0, {str(REPO)!r})
from perf_lsp import cli
cli.main(["check", "--no-jedi", {str(warmup)!r}])  # imports everything while still allowed to read it
print("----", flush=True)
print("----", file=sys.stderr, flush=True)
os.setgroups([])
os.setgid(65534)
os.setuid(65534)
sys.exit(cli.main(["check", "--no-jedi", {str(target)!r}]))
"""


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_unreadable_directory_for_real_as_a_non_root_user():
    top = Path(tempfile.mkdtemp(prefix="perf-lsp-unreadable-"))
    warmup = top / "none"
    try:
        if not all(p.stat().st_mode & stat.S_IXOTH for p in top.parents):
            pytest.skip("the temporary directory is out of an unprivileged user's reach")
        top.chmod(0o755)
        write(top / "good.py")
        (top / "good.py").chmod(0o644)
        write(top / "db" / "x.py")
        warmup = write(Path(tempfile.mkdtemp(prefix="perf-lsp-warmup-")) / "w.py")
        (top / "db").chmod(0o000)
        if os.geteuid() == 0:
            proc = subprocess.run(
                [sys.executable, "-c", _drop_privileges_script(top, warmup)],
                capture_output=True, text=True, timeout=120, cwd="/",
            )
            if "Operation not permitted" in proc.stderr:
                pytest.skip("cannot switch to an unprivileged user here (no CAP_SETUID)")
            out = proc.stdout.split("----\n", 1)[1]
            err = proc.stderr.split("----\n", 1)[1]
            code = proc.returncode
        else:
            if os.access(top / "db", os.R_OK):
                pytest.skip("this user reads directories without permission (a capability)")
            proc = subprocess.run(
                [sys.executable, "-m", "perf_lsp", "check", "--no-jedi", str(top)],
                capture_output=True, text=True, timeout=120, cwd=str(REPO),
            )
            out, err, code = proc.stdout, proc.stderr, proc.returncode
        assert "Traceback" not in err, err
        assert f"{top / 'db'}: cannot read directory (permission denied); skipped" in err
        assert reported(out) == {"good.py"} and code == 1, (out, err)
    finally:
        if (top / "db").exists():
            (top / "db").chmod(0o755)
        shutil.rmtree(top)
        shutil.rmtree(warmup.parent, ignore_errors=True)


@pytest.mark.parametrize(
    "content, message",
    [
        ('tool = "x"\n', "'tool' must be a table"),
        ("[tool]\nperf-lsp = 3\n", "[tool.perf-lsp] must be a table"),
        ("[tool.perf-lsp\nselect = 1\n", "invalid TOML"),
        ("a = " + "[" * 2000 + "]" * 2000 + "\n", "invalid TOML"),
        ("x = '\udcff'\n", "cannot read"),
    ],
    ids=["tool-string", "table-number", "syntax", "deep", "not-utf8"],
)
def test_malformed_pyproject_gives_a_message_and_the_defaults(tmp_path, capsys, content, message):
    path = tmp_path / "pyproject.toml"
    path.write_bytes(content.encode("utf-8", "surrogateescape"))
    settings, messages = load_for(tmp_path, codes=CODES)
    assert settings.select == Settings().select
    assert len(messages) == 1 and str(path) in messages[0] and message in messages[0], messages
    write(tmp_path / "svc.py")
    code, out, err = run(capsys, "check", str(tmp_path))
    assert code == 1 and "PFL401" in out  # checked with the defaults
    assert str(path) in err and "Traceback" not in err


def test_unreadable_pyproject_gives_a_message_and_the_defaults(tmp_path, monkeypatch):
    path = tmp_path / "pyproject.toml"
    path.write_text("[tool.perf-lsp]\nselect = ['PFL1']\n", encoding="utf-8")
    real = Path.read_text

    def read_text(self, *args, **kwargs):
        if self == path:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", read_text)
    settings, messages = load_for(tmp_path, codes=CODES)
    assert settings.select == Settings().select
    assert messages and str(path) in messages[0] and "cannot read" in messages[0]


# -- how fix writes -------------------------------------------------------------


def test_fix_skips_a_file_edited_while_it_ran(tmp_path, capsys, monkeypatch):
    path = write(tmp_path / "svc.py")
    edited = BAD + "\n# typed by the user while fix ran\n"
    real = Engine.fix_all

    def fix_all(self, source, settings, **kwargs):
        result = real(self, source, settings, **kwargs)
        path.write_text(edited, encoding="utf-8")  # an editor saves the file meanwhile
        return result

    monkeypatch.setattr(Engine, "fix_all", fix_all)
    code, _, err = run(capsys, "fix", str(path))
    assert path.read_text(encoding="utf-8") == edited
    assert "svc.py: changed on disk while perf-lsp was fixing it; left unchanged" in err
    assert code == 2


def test_fix_writes_through_a_symlink(tmp_path, capsys):
    target = write(tmp_path / "real" / "svc.py")
    link = tmp_path / "link.py"
    link.symlink_to(target)
    code, _, err = run(capsys, "fix", str(link))
    assert code == 0, err
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert "_F_RE = re.compile('a')" in target.read_text(encoding="utf-8")


def test_fix_keeps_hard_links(tmp_path, capsys):
    first = write(tmp_path / "a.py")
    second = tmp_path / "b.py"
    os.link(first, second)
    inode = first.stat().st_ino
    code, _, err = run(capsys, "fix", str(first))
    assert code == 0, err
    assert first.stat().st_ino == inode and first.stat().st_nlink == 2
    assert second.read_text(encoding="utf-8") == first.read_text(encoding="utf-8")
    assert "_F_RE = re.compile('a')" in second.read_text(encoding="utf-8")


def test_fix_refuses_read_only_files(tmp_path, capsys):
    path = write(tmp_path / "svc.py")
    path.chmod(0o444)
    code, _, err = run(capsys, "fix", str(path))
    assert code == 2
    assert "svc.py: read-only; left unchanged" in err
    assert "Fixed 0 problems in 0 files; 0 remaining; 1 file could not be fixed (see above)." in err
    assert path.read_text(encoding="utf-8") == BAD
    assert stat.S_IMODE(path.stat().st_mode) == 0o444


@pytest.mark.skipif(not hasattr(os, "chown") or os.geteuid() != 0, reason="needs root to give a file away")
def test_fix_keeps_the_owner(tmp_path, capsys):
    path = write(tmp_path / "svc.py")
    os.chown(path, 65534, 65534)
    code, _, _ = run(capsys, "fix", str(path))
    assert code == 0 and "_F_RE" in path.read_text(encoding="utf-8")
    assert (path.stat().st_uid, path.stat().st_gid) == (65534, 65534)


def test_lsp_select_typo_keeps_the_rest_or_the_default():
    settings, messages = from_lsp_options({"select": ["PFL4O1"]}, codes=CODES)
    assert settings.select == Settings().select
    assert messages == ["client settings: 'select': unknown rule code or prefix 'PFL4O1' (no valid code left; using the default)"]
    settings, messages = from_lsp_options({"select": ["PFL1", "PFL4O1"]}, codes=CODES)
    assert settings.select == ("PFL1",)
    assert messages == ["client settings: 'select': unknown rule code or prefix 'PFL4O1' (ignored)"]
