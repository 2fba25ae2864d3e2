"""Checking a project never runs its code.

The project folder below is hostile: every module in it writes a marker file
when it is imported or executed. A package jedi imports instead of parsing
(``gi``, on jedi's ``auto_import_modules``), compiled extension modules (one
top-level, one inside a package; built here with the C compiler), the files
tools run (``conftest.py``, ``setup.py``, ``sitecustomize.py``,
``usercustomize.py``) and a module named after every standard-library module
(``dataclasses.py``, ``difflib.py``...: ``python -m`` puts the current folder
first on ``sys.path``). ``app.py`` has findings that make jedi resolve names
from all of them, and one (``embedder.encode``) that jedi must still confirm
through the project's own pure-Python module ``models.py``.

perf-lsp is started every way a user or an editor starts it, from the project
folder: ``python -m perf_lsp check`` / ``fix``, the ``perf-lsp`` script,
``python -m perf_lsp serve`` with a diagnostics and hover round trip, and with
the project on ``PYTHONPATH``. No marker may appear.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.protocol import default_converter
from pytest_lsp import LanguageClient, client_capabilities

import perf_lsp

REPO = Path(perf_lsp.__file__).resolve().parents[1]
EXT_SUFFIX = sysconfig.get_config_var("EXT_SUFFIX") or ".so"

EXTENSION_C = r"""
#include <Python.h>
#include <stdio.h>

static struct PyModuleDef definition = {PyModuleDef_HEAD_INIT, NAME, NULL, -1, NULL};

PyMODINIT_FUNC INIT(void) {
    FILE *marker = fopen(MARKER, "w");
    if (marker) fclose(marker);
    return PyModule_Create(&definition);
}
"""

APP = """\
import fastext
import gi
from native._core import make

from models import embedder


class Indexer:
    def __init__(self):
        self.model = fastext.load()
        self.other = gi.Model()
        self.third = make()

    def vectors(self, texts):
        return [self.model.encode(t) for t in texts]

    def more(self, texts):
        return [self.other.encode(t) for t in texts]

    def native(self, texts):
        return [self.third.encode(t) for t in texts]

    def embed(self, texts):
        return [embedder.encode(t) for t in texts]
"""
EMBED_LINE = APP.splitlines().index("        return [embedder.encode(t) for t in texts]") + 1

MODELS = """\
from sentence_transformers import SentenceTransformer

embedder = SentenceTransformer("all-MiniLM-L6-v2")
"""

# imported or run by tools, or by Python's own start-up
TOOL_FILES = ("conftest", "setup", "sitecustomize", "usercustomize")


def _marker_code(markers: Path, name: str) -> str:
    return f"open({str(markers / name)!r}, 'w').close()\n"


def _compile(source_dir: Path, module: str, init: str, marker: Path, target: Path) -> None:
    compiler = shutil.which("gcc") or shutil.which("cc")
    include = sysconfig.get_paths()["include"]
    if compiler is None or not (Path(include) / "Python.h").exists():
        pytest.skip("no C compiler or Python headers to build an extension module")
    c_file = source_dir / f"{module.replace('.', '_')}.c"
    defines = (
        f"#define NAME {json.dumps(module)}\n#define INIT {init}\n#define MARKER {json.dumps(str(marker))}\n"
    )
    c_file.write_text(defines + EXTENSION_C, encoding="utf-8")
    subprocess.run(
        [compiler, "-shared", "-fPIC", f"-I{include}", str(c_file), "-o", str(target)],
        check=True,
        capture_output=True,
    )


@pytest.fixture(scope="module")
def extensions(tmp_path_factory) -> tuple[Path, Path]:
    """The two compiled modules (built once) and the folder their markers go to."""
    build = tmp_path_factory.mktemp("build")
    markers = tmp_path_factory.mktemp("markers")
    _compile(build, "fastext", "PyInit_fastext", markers / "fastext", build / f"fastext{EXT_SUFFIX}")
    _compile(build, "native._core", "PyInit__core", markers / "native._core", build / f"_core{EXT_SUFFIX}")
    return build, markers


def make_project(root: Path, build: Path, markers: Path, shadows: bool = True) -> Path:
    """The hostile project in ``root``; its markers go to ``markers`` (emptied first)."""
    for old in markers.iterdir():
        old.unlink()
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'hostile'\ndependencies = []\n", encoding="utf-8")
    (root / "app.py").write_text(APP, encoding="utf-8")
    (root / "models.py").write_text(MODELS, encoding="utf-8")
    (root / "gi").mkdir()
    (root / "gi" / "__init__.py").write_text(
        _marker_code(markers, "gi") + "\n\nclass Model:\n    def encode(self, text):\n        return text\n",
        encoding="utf-8",
    )
    (root / "native").mkdir()
    (root / "native" / "__init__.py").write_text(_marker_code(markers, "native"), encoding="utf-8")
    shutil.copy(build / f"fastext{EXT_SUFFIX}", root / f"fastext{EXT_SUFFIX}")
    shutil.copy(build / f"_core{EXT_SUFFIX}", root / "native" / f"_core{EXT_SUFFIX}")
    for name in TOOL_FILES:
        (root / f"{name}.py").write_text(_marker_code(markers, name), encoding="utf-8")
    if shadows:
        for name in sorted(sys.stdlib_module_names):
            if not name.startswith("_") and not (root / f"{name}.py").exists():
                (root / f"{name}.py").write_text(_marker_code(markers, f"stdlib.{name}"), encoding="utf-8")
    return root


def environment(*front: Path) -> dict[str, str]:
    """This process's environment with ``front`` and the perf_lsp under test first on ``PYTHONPATH``."""
    env = dict(os.environ)
    paths = [str(p) for p in (*front, REPO)]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        command, cwd=cwd, env=env or environment(), capture_output=True, text=True, timeout=300, check=False
    )


def written(markers: Path) -> list[str]:
    return sorted(p.name for p in markers.iterdir())


# -- the command line ---------------------------------------------------------------------------
def test_check_from_the_project_folder_runs_nothing(tmp_path: Path, extensions):
    build, markers = extensions
    project = make_project(tmp_path / "project", build, markers)
    result = run([sys.executable, "-m", "perf_lsp", "check", "--select", "PFL201", "app.py"], project)
    assert written(markers) == []
    assert "Traceback" not in result.stderr
    # jedi still confirms the model imported from the project's own (parsed) module
    assert f"app.py:{EMBED_LINE}:" in result.stdout, result.stdout + result.stderr
    assert result.returncode == 1, result.stderr


def test_check_of_the_whole_folder_runs_nothing(tmp_path: Path, extensions):
    build, markers = extensions
    project = make_project(tmp_path / "project", build, markers)
    result = run([sys.executable, "-m", "perf_lsp", "check", "--select", "PFL201", "."], project)
    assert written(markers) == []
    assert "Traceback" not in result.stderr
    assert f"app.py:{EMBED_LINE}:" in result.stdout, result.stdout + result.stderr


def test_fix_from_the_project_folder_runs_nothing(tmp_path: Path, extensions):
    build, markers = extensions
    project = make_project(tmp_path / "project", build, markers)
    result = run([sys.executable, "-m", "perf_lsp", "fix", "--unsafe-fixes", "--select", "PFL201", "app.py"], project)
    assert written(markers) == []
    assert "Traceback" not in result.stderr
    assert "list(embedder.encode(list(texts)))" in (project / "app.py").read_text(encoding="utf-8")


def test_console_script_runs_nothing(tmp_path: Path, extensions):
    script = shutil.which("perf-lsp")
    if script is None:
        pytest.skip("the perf-lsp console script is not installed")
    build, markers = extensions
    project = make_project(tmp_path / "project", build, markers)
    result = run([script, "check", "--select", "PFL201", "."], project)
    assert written(markers) == []
    assert f"app.py:{EMBED_LINE}:" in result.stdout, result.stdout + result.stderr


def test_project_on_pythonpath_compiled_modules_still_not_loaded(tmp_path: Path, extensions):
    # An editable install or a PYTHONPATH naming the project puts it on jedi's own sys.path, from
    # which jedi imports compiled modules. (Python's start-up itself then runs the project's
    # sitecustomize.py, and the standard library is shadowed: the user asked for that; not here.)
    build, markers = extensions
    project = make_project(tmp_path / "project", build, markers, shadows=False)
    result = run([sys.executable, "-m", "perf_lsp", "check", "--select", "PFL201", "app.py"], project, environment(project))
    assert [m for m in written(markers) if m not in ("sitecustomize", "usercustomize")] == []
    assert f"app.py:{EMBED_LINE}:" in result.stdout, result.stdout + result.stderr


# -- the language server ------------------------------------------------------------------------
async def stop(client: LanguageClient) -> None:
    """Stop the client; a server still running (a failed test did not shut it down) is killed first."""
    server = getattr(client, "_server", None)  # pygls' process handle: stop() would wait for it forever
    if server is not None and server.returncode is None:
        server.kill()
    await client.stop()


async def test_server_started_in_the_project_folder_runs_nothing(tmp_path: Path, extensions):
    build, markers = extensions
    project = make_project(tmp_path / "project", build, markers)
    client = LanguageClient(converter_factory=default_converter)
    published: list[types.PublishDiagnosticsParams] = []
    arrived = asyncio.Event()

    @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def on_publish(params: types.PublishDiagnosticsParams) -> None:
        published.append(params)
        arrived.set()

    await client.start_io(sys.executable, "-m", "perf_lsp", "serve", cwd=str(project), env=environment())
    try:
        await client.initialize_session(
            types.InitializeParams(
                capabilities=client_capabilities("visual-studio-code"),
                root_uri=project.as_uri(),
                initialization_options={"select": ["PFL201"]},
            )
        )
        uri = (project / "app.py").as_uri()
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1, text=APP)
            )
        )

        async def confirmed(version: int) -> types.Diagnostic | None:
            # the fast pass leaves out what waits for jedi; the refined one (the second) has it
            while True:
                mine = [params for params in published if params.version == version]
                for params in mine:
                    for diag in params.diagnostics:
                        if diag.range.start.line == EMBED_LINE - 1:
                            return diag
                if len(mine) >= 2:
                    return None  # jedi's budget ran out (a slow machine's first query): edit, ask again
                arrived.clear()
                await arrived.wait()

        diag, version, text = None, 1, APP
        while diag is None and version <= 5:
            if version > 1:
                text += f"# edit {version}\n"
                client.text_document_did_change(
                    types.DidChangeTextDocumentParams(
                        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                        content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
                    )
                )
            diag = await asyncio.wait_for(confirmed(version), 60)
            version += 1
        assert diag is not None, "jedi never confirmed the model from models.py"
        hover = await client.text_document_hover_async(
            types.HoverParams(text_document=types.TextDocumentIdentifier(uri=uri), position=diag.range.start)
        )
        assert hover is not None and "PFL201" in str(hover.contents)
        await asyncio.wait_for(client.shutdown_session(), 60)
    finally:
        await stop(client)
    assert written(markers) == []


# -- jedi, in this process ----------------------------------------------------------------------
def test_jedi_imports_nothing_into_this_process():
    # jedi inspects compiled modules by importing them; that happens in its subprocess, so
    # nothing jedi looks at (installed or not) runs here. Modules not imported yet, compiled:
    import importlib.util

    from perf_lsp.analysis.resolve import TypeResolver

    names = []
    for name in ("cmath", "mmap", "resource", "termios", "syslog", "grp", "_lzma", "_bz2"):
        spec = importlib.util.find_spec(name) if name not in sys.modules else None
        if spec is not None and spec.origin and spec.origin.endswith(EXT_SUFFIX):
            names.append(name)
    if not names:
        pytest.skip("every candidate compiled module is already imported")
    source = "".join(f"import {name}\n" for name in names) + "".join(f"{name}\n" for name in names)
    resolver = TypeResolver(source, None)
    for line in range(len(names) + 1, 2 * len(names) + 1):
        resolver.producers(line, 0)
    assert [name for name in names if name in sys.modules] == []


def test_no_jedi_subprocess_means_no_answer(monkeypatch):
    from perf_lsp.analysis import resolve

    monkeypatch.setattr(resolve, "_ENVIRONMENT", False)  # the subprocess could not start
    resolver = resolve.TypeResolver("import cmath\ncmath\n", None)
    assert resolver.producers(2, 0) is None
