"""The hooks of ``.pre-commit-hooks.yaml``, run by pre-commit itself on a small git repository.

The hook repository is a git repository made from this checkout's working tree (the package,
``pyproject.toml``, ``README.md`` and the hooks file), named by its path in the project's
``.pre-commit-config.yaml``, as a user names a hook repository by URL. pre-commit installs it
as it installs any ``language: python`` hook: ``pip install .`` into a virtualenv of its own.
No network: the virtualenv sees this interpreter's packages (perf-lsp's dependencies are
installed, since the tests import them), pip looks at no index, and the package is built
with the build backend at hand instead of one fetched for an isolated build.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from perf_lsp import cli

ROOT = Path(__file__).resolve().parents[1]

FINDING = 'import re\n\n\ndef f(xs):\n    return [re.compile("a").match(x) for x in xs]\n'


def fixed_by_cli(tmp_path: Path, source: str) -> str:
    """What ``perf-lsp fix`` run here makes of ``source``."""
    target = tmp_path / "expected" / "svc.py"
    target.parent.mkdir()
    target.write_text(source, encoding="utf-8")
    assert cli.main(["fix", "--no-cache", str(target)]) == 0
    return target.read_text(encoding="utf-8")


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        [
            "git",
            "-c",
            "user.name=perf-lsp tests",
            "-c",
            "user.email=tests@perf-lsp.invalid",
            "-c",
            "commit.gpgsign=false",
            *args,
        ],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


@pytest.fixture(scope="module")
def hooks_repo(tmp_path_factory) -> tuple[Path, str]:
    """(path, commit) of a git repository holding this checkout's installable files."""
    repo = tmp_path_factory.mktemp("hooks-repo")
    shutil.copytree(ROOT / "perf_lsp", repo / "perf_lsp", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml"):
        shutil.copy(ROOT / name, repo / name)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "hooks")
    return repo, git(repo, "rev-parse", "HEAD").strip()


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory) -> Path:
    """pre-commit's cache (the hook virtualenvs), shared by this module's tests: installed once."""
    return tmp_path_factory.mktemp("pre-commit-home")


def project(tmp_path: Path, hooks_repo: tuple[Path, str], hook_ids: list[str], files: dict[str, str]) -> Path:
    """A git repository with ``files`` committed and a ``.pre-commit-config.yaml`` using ``hook_ids``."""
    path, rev = hooks_repo
    proj = tmp_path / "project"
    proj.mkdir()
    for name, text in files.items():
        (proj / name).parent.mkdir(parents=True, exist_ok=True)
        (proj / name).write_text(text, encoding="utf-8")
    config = {"repos": [{"repo": str(path), "rev": rev, "hooks": [{"id": hook} for hook in hook_ids]}]}
    (proj / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    git(proj, "init", "-q")
    git(proj, "add", "-A")
    git(proj, "commit", "-q", "-m", "start")
    return proj


def pre_commit(proj: Path, home: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PRE_COMMIT", "VIRTUAL_ENV")}
    env.update(
        PRE_COMMIT_HOME=str(home),
        VIRTUALENV_SYSTEM_SITE_PACKAGES="1",  # the hook's virtualenv sees the installed dependencies
        VIRTUALENV_SETUPTOOLS="bundle",  # and has the build backend (virtualenv's own copy; not seeded on 3.12+)
        VIRTUALENV_NO_PERIODIC_UPDATE="1",  # virtualenv fetches no newer seed packages
        PIP_NO_INDEX="1",  # ... so pip downloads nothing
        PIP_NO_BUILD_ISOLATION="0",  # pip's spelling of --no-build-isolation in the environment (sic)
        PRE_COMMIT_COLOR="never",
    )
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", "run", "--all-files", "--show-diff-on-failure"],
        cwd=proj,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def hooks_of(result: subprocess.CompletedProcess) -> str:
    return f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"


def test_the_hooks_file_declares_both_hooks():
    hooks = {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))}
    assert set(hooks) == {"perf-lsp", "perf-lsp-fix"}
    for hook in hooks.values():
        assert hook["language"] == "python"
        assert hook["types_or"] == ["python", "jupyter"]  # either kind of file; `types` would ask for both
        assert hook["require_serial"] is False and hook["pass_filenames"] is True
    assert hooks["perf-lsp"]["entry"] == "perf-lsp check --jobs 1"  # pre-commit runs one process per core
    assert hooks["perf-lsp-fix"]["entry"] == "perf-lsp fix --jobs 1"


def test_check_hook_fails_on_a_finding_and_passes_a_clean_repo(tmp_path, hooks_repo, pre_commit_home):
    proj = project(
        tmp_path, hooks_repo, ["perf-lsp"], {"svc.py": FINDING, "pkg/ok.py": "x = 1\n", "notes.txt": "re.compile\n"}
    )
    result = pre_commit(proj, pre_commit_home)
    assert result.returncode == 1, hooks_of(result)
    assert "perf-lsp....." in result.stdout and "Failed" in result.stdout, hooks_of(result)
    assert "svc.py:5:13: PFL401" in result.stdout, hooks_of(result)
    assert (proj / "svc.py").read_text(encoding="utf-8") == FINDING  # the check hook writes nothing

    (proj / "svc.py").write_text("import re\n\nPATTERN = re.compile('a')\n", encoding="utf-8")
    git(proj, "add", "-A")
    result = pre_commit(proj, pre_commit_home)
    assert result.returncode == 0, hooks_of(result)
    assert "Passed" in result.stdout, hooks_of(result)


def test_fix_hook_rewrites_the_file_and_fails_then_passes(tmp_path, hooks_repo, pre_commit_home):
    fixed = fixed_by_cli(tmp_path, FINDING)
    assert fixed != FINDING
    proj = project(tmp_path, hooks_repo, ["perf-lsp-fix", "perf-lsp"], {"app/svc.py": FINDING})
    result = pre_commit(proj, pre_commit_home)
    assert result.returncode == 1, hooks_of(result)
    assert "files were modified by this hook" in result.stdout, hooks_of(result)
    assert (proj / "app" / "svc.py").read_text(encoding="utf-8") == fixed
    # the check hook ran after the fix (pre-commit runs hooks in order) and found nothing left
    assert result.stdout.count("Passed") == 1, hooks_of(result)

    git(proj, "add", "-A")
    result = pre_commit(proj, pre_commit_home)
    assert result.returncode == 0, hooks_of(result)
    assert (proj / "app" / "svc.py").read_text(encoding="utf-8") == fixed


def readme_yaml_blocks() -> list:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", text, flags=re.DOTALL)]


def test_readme_pre_commit_snippets_match_the_hooks():
    hooks = {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))}
    configs = [b for b in readme_yaml_blocks() if isinstance(b, dict) and "repos" in b]
    remote = [r for c in configs for r in c["repos"] if r["repo"] != "local"]
    local = [r for c in configs for r in c["repos"] if r["repo"] == "local"]
    assert remote and local
    assert {h["id"] for r in remote for h in r["hooks"]} <= set(hooks)
    for hook in (h for r in local for h in r["hooks"]):
        assert hook["entry"] == hooks[hook["id"]]["entry"]
        assert hook["types_or"] == hooks[hook["id"]]["types_or"]


def test_readme_workflow_runs_the_ci_formats():
    (workflow,) = [b for b in readme_yaml_blocks() if isinstance(b, dict) and "jobs" in b]
    steps = [step for job in workflow["jobs"].values() for step in job["steps"]]
    runs = [step.get("run", "") for step in steps]
    assert any("perf-lsp check --output-format github" in run for run in runs)
    sarif = next(run for run in runs if "--output-format sarif" in run)
    upload = next(step for step in steps if step.get("uses", "").startswith("github/codeql-action/upload-sarif@"))
    assert sarif.endswith("> " + upload["with"]["sarif_file"])
