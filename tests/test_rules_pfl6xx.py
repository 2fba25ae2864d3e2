"""PFL601 with project facts (non-default settings), the project-facts reader, and the
meaning of PFL601's and PFL701's fixes, checked by running the code before and after."""

from __future__ import annotations

import textwrap

import pytest

from perf_lsp.engine import Engine, parses
from perf_lsp.project import declared_packages, normalise, project_declares
from perf_lsp.settings import Settings


def with_packages(*names: str) -> Settings:
    """Settings whose project declares ``names`` (``Settings.project_packages``), PFL601 (opt-in) selected."""
    return Settings(select=("PFL", "PFL601"), project_packages=names)


HANDLER = textwrap.dedent(
    '''\
    """Webhook handler."""

    import json


    def handle(raw: bytes) -> str:
        message = json.loads(raw)
        return json.dumps({"id": message["id"], "ok": True})


    CONFIG = json.loads('{"debug": false}')
    '''
)


def codes(source: str, settings: Settings) -> list[tuple[str, int]]:
    return [(d.code, d.range.start.line) for d in Engine().analyze(source, settings).diagnostics]


def test_pfl601_needs_a_declared_dependency_or_an_import():
    assert codes(HANDLER, with_packages()) == []
    assert codes(HANDLER, with_packages("fastapi", "ujson")) == []
    assert codes(HANDLER, Settings(project_packages=("orjson",))) == []  # opt-in: not selected


def test_pfl601_reports_calls_in_functions_when_the_project_declares_orjson():
    assert codes(HANDLER, with_packages("fastapi", "orjson")) == [("PFL601", 7), ("PFL601", 8)]
    diag = Engine().analyze(HANDLER, with_packages("orjson")).diagnostics[0]
    assert "declared" in diag.detail


def test_pfl601_fix_adds_the_import_and_keeps_a_str_result():
    settings = with_packages("orjson")
    result = Engine().fix_all(HANDLER, settings, unsafe=True)
    assert result.applied == 2
    assert parses(result.source)
    assert "import orjson\n" in result.source
    assert "message = orjson.loads(raw)" in result.source
    assert 'return orjson.dumps({"id": message["id"], "ok": True}).decode()' in result.source
    assert "CONFIG = json.loads(" in result.source  # module level: runs once, not reported
    pytest.importorskip("orjson")
    before, after = {}, {}
    exec(HANDLER, before)  # noqa: S102 - our own fixture code
    exec(result.source, after)  # noqa: S102
    raw = b'{"id": 7, "text": "caf\\u00e9"}'
    out_before, out_after = before["handle"](raw), after["handle"](raw)
    assert isinstance(out_after, str)
    assert __import__("json").loads(out_before) == __import__("json").loads(out_after)


def test_pfl601_respects_optional_fallbacks_under_project_settings():
    source = textwrap.dedent(
        """\
        import json

        try:
            import orjson
        except ImportError:
            orjson = None


        def dumps(obj):
            if orjson is None:
                return json.dumps(obj)
            return orjson.dumps(obj).decode()


        def pretty(obj):
            return json.dumps(obj, indent=4)
        """
    )
    assert codes(source, with_packages("orjson")) == []


def test_project_reader_finds_dependencies_in_every_manifest(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        textwrap.dedent(
            """\
            [project]
            dependencies = ["httpx[http2]>=0.27; python_version >= '3.9'", "Py_YAML"]
            [project.optional-dependencies]
            fast = ["orjson>=3"]
            [tool.poetry.group.dev.dependencies]
            pytest = "*"
            """
        )
    )
    (tmp_path / "requirements.txt").write_text("fastapi==0.110  # web\n-r requirements-ml.txt\n-e .\nhttps://x.test/pkg.whl\n")
    (tmp_path / "requirements-ml.txt").write_text("sentence-transformers\n")
    (tmp_path / "setup.cfg").write_text("[options]\ninstall_requires =\n    redis>=5\n[options.extras_require]\nai = openai\n")
    module = tmp_path / "app" / "handlers" / "webhook.py"
    module.parent.mkdir(parents=True)
    module.write_text("")
    assert declared_packages(module) == (
        "fastapi", "httpx", "openai", "orjson", "py-yaml", "redis", "sentence-transformers",
    )  # pytest: only in a dev group
    assert project_declares("ORJSON", module)
    assert project_declares("py.yaml", module)
    assert not project_declares("ujson", module)


def test_project_reader_uses_the_nearest_project_and_tolerates_bad_files(tmp_path):
    (tmp_path / "requirements.txt").write_text("orjson\n")
    inner = tmp_path / "services" / "worker"
    inner.mkdir(parents=True)
    (inner / "pyproject.toml").write_text("this is [not toml")
    assert declared_packages(inner / "main.py") == ()
    assert declared_packages(tmp_path / "main.py") == ("orjson",)
    assert normalise("Sentence_Transformers") == "sentence-transformers"


def test_pfl701_fix_stops_sharing_the_default_between_calls():
    source = textwrap.dedent(
        '''\
        def tag(item, tags: list[str] = [], *, seen={}):
            """Tag one item."""
            tags.append(item)
            seen[item] = True
            return tags, seen
        '''
    )
    engine = Engine()
    assert [d.code for d in engine.analyze(source, Settings()).diagnostics] == ["PFL701", "PFL701"]
    fixed = engine.fix_all(source, Settings(), unsafe=True).source
    assert fixed == textwrap.dedent(  # nothing says Python 3.10+: Optional, not ``list[str] | None``
        '''\
        from typing import Optional


        def tag(item, tags: Optional[list[str]] = None, *, seen=None):
            """Tag one item."""
            if tags is None:
                tags = []
            if seen is None:
                seen = {}
            tags.append(item)
            seen[item] = True
            return tags, seen
        '''
    )
    before, after = {}, {}
    exec(source, before)  # noqa: S102 - our own fixture code
    exec(fixed, after)  # noqa: S102
    before["tag"]("a")
    assert before["tag"]("b") == (["a", "b"], {"a": True, "b": True})  # the bug
    after["tag"]("a")
    assert after["tag"]("b") == (["b"], {"b": True})
    assert after["tag"]("c", ["x"]) == (["x", "c"], {"c": True})


def test_dependencies_only_for_tests_or_development_do_not_count(tmp_path):
    # The service does not run with them: `import orjson` in its code would fail in production.
    (tmp_path / "pyproject.toml").write_text(
        textwrap.dedent(
            """\
            [project]
            dependencies = ["fastapi"]
            [project.optional-dependencies]
            test = ["orjson", "pytest"]
            Docs = ["mkdocs"]
            fast = ["ujson"]
            [dependency-groups]
            lint = ["ruff"]
            [tool.uv]
            dev-dependencies = ["numpy"]
            [tool.poetry.group.typing.dependencies]
            mypy = "*"
            [tool.poetry.group.ml.dependencies]
            torch = "*"
            """
        )
    )
    (tmp_path / "requirements-dev.txt").write_text("black\n")
    (tmp_path / "Pipfile").write_text('[packages]\nredis = "*"\n[dev-packages]\nhypothesis = "*"\n')
    module = tmp_path / "app.py"
    module.write_text("")
    assert declared_packages(module) == ("fastapi", "redis", "torch", "ujson")


# -- PFL601: layout, unused results, options and codecs

def _fixes(source: str) -> list[tuple[int, bool]]:
    return [(d.range.start.line, bool(d.fixes)) for d in Engine().analyze(source, with_packages("orjson")).diagnostics]


def test_pfl601_declines_options_and_codecs_whose_meaning_orjson_would_change():
    source = textwrap.dedent(
        """\
        import json


        def save(obj, fh):
            json.dump(obj, fh)
            return json.dumps(obj, indent=4)


        def variants(x):
            a = json.dumps(x, indent=2)
            b = json.dumps(x, sort_keys=True)
            c = json.dumps(x, default=str)
            d = json.dumps(x, ensure_ascii=False)
            e = json.dumps(x, separators=(",", ":"))
            f = json.dumps(x).encode("ascii")
            g = json.dumps(x).encode(encoding="utf-8")
            return a, b, c, d, e, f, g
        """
    )
    # json.dump (file API), indent=4 and separators= are not reported; keywords orjson spells
    # differently and a non-UTF-8 encode are reported without a fix; encode(encoding="utf-8") is fixed
    assert _fixes(source) == [(10, False), (11, False), (12, False), (13, False), (15, False), (16, True)]
    fixed = Engine().fix_all(source, with_packages("orjson"), unsafe=True).source
    assert "    g = orjson.dumps(x)\n" in fixed and 'f = json.dumps(x).encode("ascii")' in fixed
    orjson = pytest.importorskip("orjson")
    with pytest.raises(UnicodeEncodeError):  # what the fix would have done to ``.encode("ascii")``
        orjson.dumps({"city": "Zürich"}).decode().encode("ascii")
    assert __import__("json").dumps({"city": "Zürich"}).encode("ascii") == b'{"city": "Z\\u00fcrich"}'


def test_pfl601_fix_keeps_layout_and_returns_bytes_where_no_str_is_needed(monkeypatch):
    import json
    import sys
    import types
    from pathlib import Path

    orjson = pytest.importorskip("orjson")
    case = Path(__file__).parent / "fixtures" / "pfl601" / "dumps_layout_and_unused_result"
    source = case.with_suffix(".py").read_text(encoding="utf-8")
    fixed = Engine().fix_all(source, Settings(select=("ALL",)), unsafe=True).source
    assert fixed == Path(f"{case}.fixed.py").read_text(encoding="utf-8")

    class Response:  # starlette.responses.Response.render: bytes as they are, str encoded with charset utf-8
        def __init__(self, content, media_type=None):
            self.body = content if isinstance(content, bytes) else content.encode("utf-8")

    stub = types.ModuleType("starlette.responses")
    stub.Response = Response
    monkeypatch.setitem(sys.modules, "starlette", types.ModuleType("starlette"))
    monkeypatch.setitem(sys.modules, "starlette.responses", stub)
    before, after = {}, {}
    exec(source, before)  # noqa: S102 - our own fixture code
    exec(fixed, after)  # noqa: S102
    items = [1, "café"]
    assert isinstance(after["build_event"]("ann", items), str)
    assert json.loads(before["build_event"]("ann", items)) == json.loads(after["build_event"]("ann", items))
    for module in (before, after):
        assert module["validate"]({"ok": 1}) == {"ok": 1}
        with pytest.raises(TypeError):  # orjson.JSONEncodeError is a TypeError too
            module["validate"]({"bad": {1, 2}})
    assert json.loads(before["render"]({"v": "é"}).body) == json.loads(after["render"]({"v": "é"}).body)
    assert after["render"]({"v": "é"}).body == orjson.dumps({"v": "é"})
