"""Notebooks: the code cells as one module, positions per cell, fixes written back into the JSON."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from perf_lsp import cli
from perf_lsp.engine import Engine
from perf_lsp.model import Position, Range
from perf_lsp.notebook import NotebookError, build_module, read_notebook, render_notebook
from perf_lsp.settings import Settings

NOTEBOOKS = Path(__file__).parent / "notebooks"
MEMORY_AGENT = NOTEBOOKS / "memory_agent.ipynb"


def notebook_json(*cells: tuple[str, str], indent: int | None = 1, as_list: bool = True, **extra) -> str:
    """A notebook's JSON text as Jupyter writes it (sorted keys, non-ASCII kept, a final newline)."""
    data = {
        "cells": [
            {
                "cell_type": kind,
                "id": f"id{i}",
                "metadata": {"tags": ["t"]},
                **({"execution_count": i, "outputs": [{"output_type": "stream", "name": "stdout", "text": [f"out {i}\n"]}]} if kind == "code" else {}),
                "source": source.splitlines(keepends=True) if as_list else source,
            }
            for i, (kind, source) in enumerate(cells)
        ],
        "metadata": {"kernelspec": {"language": "python", "name": "python3", "display_name": "Python 3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
        **extra,
    }
    return json.dumps(data, indent=indent, sort_keys=True, ensure_ascii=False) + "\n"


def module_of(*sources: str):
    return build_module(read_notebook(notebook_json(*[("code", s) for s in sources])))


# -- reading ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "not a notebook"),
        ('{"nbformat": 3, "worksheets": []}', "not an nbformat 4 notebook"),
        ('{"nbformat": 4, "cells": {}}', "'cells' is not a list"),
        ('{"nbformat": 4, "cells": [{"cell_type": "code", "source": 3}]}', "cell 1: 'source'"),
        ('{"nbformat": 4, "cells": [], "metadata": {"kernelspec": {"language": "R"}}}', "not a Python notebook (language: R)"),
    ],
)
def test_bad_notebooks_raise_with_the_reason(text, reason):
    with pytest.raises(NotebookError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        read_notebook(text)


def test_code_cells_make_one_module_and_keep_their_lines():
    module = build_module(
        read_notebook(notebook_json(("markdown", "# title"), ("code", "import re\nx = 1"), ("code", "def f():\n    return x\n")))
    )
    assert module.text == "import re\nx = 1\ndef f():\n    return x\n"
    assert [(c.index, c.first_line) for c in module.cells] == [(1, 1), (2, 3)]
    assert module.locate(Position(4, 4)) == (2, Position(2, 4))
    assert module.to_module(2, Position(2, 4)) == Position(4, 4)
    assert module.locate_range(Range(Position(2, 0), Position(3, 3))) == (1, Range(Position(2, 0), Position(2, 5)))


def test_ipython_syntax_is_masked_line_for_line():
    module = module_of(
        "%pip install x\n!ls -la\nfiles = !ls\nt = %timeit -o f()\nobj?\n??obj.attr\nfor i in range(3):\n    %time g(i)\n!echo a \\\n  b\ny = 1"
    )
    assert module.text.splitlines() == [
        "pass",
        "pass",
        "files = None",
        "t = None",
        "pass",
        "pass",
        "for i in range(3):",
        "    pass",
        "pass",
        "",
        "y = 1",
    ]
    assert module.cells[0].masked == {0, 1, 2, 3, 4, 5, 7, 8, 9}
    # the cell keeps its own text; only the module sees the masks
    assert "".join(module.cells[0].lines).startswith("%pip install x\n")


def test_cell_magics_python_ones_masked_others_left_out():
    module = module_of("%%time\nx = 1", "%%bash\nls | wc -l", "%%writefile a.py\nimport os", "y = (")
    assert module.text == "pass\nx = 1\n"
    assert [index for index, _ in module.skipped] == [1, 2, 3]
    assert module.skipped[0][1] == "%%bash cell (not Python)"
    assert module.skipped[2][1].startswith("not valid Python (line 1)")


# -- writing back ------------------------------------------------------------------------------


def test_render_without_changes_is_the_same_text():
    for text in (
        notebook_json(("code", "x = 1\n"), ("markdown", "é ✓")),
        notebook_json(("code", "x = 1\n"), indent=2),
        notebook_json(("code", "x = 1\n"), indent=None),
        notebook_json(("code", "x = 1\n"), as_list=False),
    ):
        assert render_notebook(read_notebook(text), {}) == text


def test_render_replaces_only_the_source_values_in_the_files_own_style():
    for indent in (1, 2, 4, None):
        for as_list in (True, False):
            text = notebook_json(("markdown", "é"), ("code", "a = 1\nb = 2"), indent=indent, as_list=as_list)
            notebook = read_notebook(text)
            new = render_notebook(notebook, {1: "a = 1\nc = 'ü'\nb = 2"})
            before, after = json.loads(text), json.loads(new)
            assert after["cells"][1]["source"] == (["a = 1\n", "c = 'ü'\n", "b = 2"] if as_list else "a = 1\nc = 'ü'\nb = 2")
            after["cells"][1]["source"] = before["cells"][1]["source"]
            assert after == before
            # the text around the value is the original's, byte for byte
            start, end = notebook.cells[1].span
            assert new.startswith(text[:start]) and new.endswith(text[end:])
            if indent is not None and as_list:  # the new list is laid out as Jupyter does it
                resaved = json.dumps(json.loads(new), indent=indent, sort_keys=True, ensure_ascii=False) + "\n"
                assert new == resaved


def test_render_keeps_an_unsorted_key_order_and_escaped_text():
    text = '{"nbformat": 4, "nbformat_minor": 4, "cells": [{"source": ["x = 1\\n", "y = \\"\\u00e9\\""], "cell_type": "code", "outputs": [], "metadata": {}, "execution_count": null}], "metadata": {}}'
    notebook = read_notebook(text)
    new = render_notebook(notebook, {0: 'x = 2\ny = "é"'})
    assert new == text.replace("x = 1", "x = 2")


def test_render_new_cell_at_the_top_looks_like_the_others():
    text = notebook_json(("code", "x = 1\n"))
    new = render_notebook(read_notebook(text), {}, "import functools")
    data = json.loads(new)
    assert [c["source"] for c in data["cells"]] == [["import functools"], ["x = 1\n"]]
    first = data["cells"][0]
    assert first["cell_type"] == "code" and first["outputs"] == [] and first["execution_count"] is None
    assert len(first["id"]) == 8
    resaved = json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    assert new == resaved


def test_an_empty_source_list_gets_items_one_a_line():
    text = notebook_json(("code", ""), ("code", "x = 1"))
    new = render_notebook(read_notebook(text), {0: "import os\nimport re"})
    assert new == json.dumps(
        {**json.loads(text), "cells": [{**json.loads(text)["cells"][0], "source": ["import os\n", "import re"]}, json.loads(text)["cells"][1]]},
        indent=1, sort_keys=True, ensure_ascii=False,
    ) + "\n"


@pytest.mark.parametrize(
    ("fixed", "cells", "top"),
    [
        # inside a cell
        ("import re\nz = 0\nx = 1\ndef f():\n    return x\n", {1: "import re\nz = 0\nx = 1"}, None),
        ("import re\nx = 1\ndef f():\n    return x + 1\n", {2: "def f():\n    return x + 1\n"}, None),
        # imports between two cells go to the end of the cell before
        ("import re\nx = 1\nimport os\ndef f():\n    return x\n", {1: "import re\nx = 1\nimport os"}, None),
        # a definition between two cells goes to the start of the cell after, before the code that needs it
        ("import re\nx = 1\n_P = re.compile('a')\n\n\ndef f():\n    return x\n", {2: "_P = re.compile('a')\n\n\ndef f():\n    return x\n"}, None),
        # both at once: split where the imports end
        ("import re\nx = 1\nimport os\n\n_P = 1\ndef f():\n    return x\n", {1: "import re\nx = 1\nimport os", 2: "_P = 1\ndef f():\n    return x\n"}, None),
        # imports before the first cell: a new cell
        ("import os\nimport re\nx = 1\ndef f():\n    return x\n", {}, "import os"),
    ],
)
def test_fixed_module_goes_back_to_the_right_cells(fixed, cells, top):
    module = build_module(read_notebook(notebook_json(("markdown", "m"), ("code", "import re\nx = 1"), ("code", "def f():\n    return x\n"))))
    assert module.cell_sources(fixed) == (cells, top)


def test_without_new_cells_top_imports_go_into_the_first_cell():
    module = module_of("import re\nx = 1", "def f():\n    return x\n")
    assert module.cell_sources("import os\nimport re\nx = 1\ndef f():\n    return x\n", new_cell=False) == (
        {0: "import os\nimport re\nx = 1"},
        None,
    )


def test_a_fix_touching_ipython_syntax_is_refused():
    module = module_of("!ls\nx = 1")
    with pytest.raises(NotebookError, match="IPython syntax in cell 1"):
        module.cell_sources("print()\nx = 1\n")
    assert module.cell_sources("pass\nx = 2\n") == ({0: "!ls\nx = 2"}, None)


# -- the audit notebook, through the command line ------------------------------------------------


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


AUDIT_FINDINGS = [
    "memory_agent.ipynb:cell 5:4:13: PFL101",  # the model loaded per call of generate_embedding
    "memory_agent.ipynb:cell 6:7:66: PFL701",  # the mutable default of ingest_artifact
    "memory_agent.ipynb:cell 6:13:23: PFL602",  # the same content hashed twice
    "memory_agent.ipynb:cell 6:21:28: PFL201",  # documents encoded one at a time
    "memory_agent.ipynb:cell 10:13:37: PFL401",  # the refine loop's regex
]


def test_audit_notebook_findings_at_their_cells(tmp_path, capsys, monkeypatch):
    target = tmp_path / MEMORY_AGENT.name
    target.write_bytes(MEMORY_AGENT.read_bytes())
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "check", ".")
    assert code == 1, err
    assert [re.match(r".*?: PFL\d+", line).group(0) for line in out.splitlines()] == AUDIT_FINDINGS
    assert "Found 5 problems." in err
    assert "warning" not in err  # the %%bash cell is not Python: left out, not a problem


def test_audit_notebook_json_and_sarif_carry_the_cell(capsys):
    _, out, _ = run(capsys, "check", "--output-format", "json", str(MEMORY_AGENT))
    entries = json.loads(out)
    assert [(e["code"], e["cell"], e["location"]["row"]) for e in entries] == [
        ("PFL101", 5, 4), ("PFL701", 6, 7), ("PFL602", 6, 13), ("PFL201", 6, 21), ("PFL401", 10, 13)
    ]
    pfl101 = entries[0]["fix"]["edits"]
    # the factory's import goes after the imports of cell 3, the factory before generate_embedding in cell 5
    assert [(e["cell"], e["location"]["row"]) for e in pfl101] == [(3, 10), (5, 1), (5, 4)]
    _, out, _ = run(capsys, "check", "--output-format", "sarif", str(MEMORY_AGENT))
    results = json.loads(out)["runs"][0]["results"]
    assert [(r["ruleId"], r["locations"][0]["properties"]["cell"], r["locations"][0]["physicalLocation"]["region"]["startLine"]) for r in results] == [
        ("PFL101", 5, 4), ("PFL701", 6, 7), ("PFL602", 6, 13), ("PFL201", 6, 21), ("PFL401", 10, 13)
    ]


def test_fix_repairs_the_audit_notebook_cell_by_cell_outputs_untouched(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    target = tmp_path / MEMORY_AGENT.name
    before_text = MEMORY_AGENT.read_text(encoding="utf-8")
    target.write_text(before_text, encoding="utf-8")
    code, out, err = run(capsys, "fix", "--unsafe-fixes", str(target))
    after_text = target.read_text(encoding="utf-8")
    assert "Fixed 4 problems in 1 file; 1 remaining." in err
    assert out.strip().startswith("memory_agent.ipynb:cell 6:15:23: PFL602")  # no fix for it: reported where it now is
    assert code == 1
    before, after = json.loads(before_text), json.loads(after_text)
    changed = [i for i, (a, b) in enumerate(zip(before["cells"], after["cells"])) if a != b]
    assert changed == [2, 4, 5, 9]  # cells 3, 5, 6 and 10
    for i in changed:  # only their source differs: outputs, ids, metadata, counts as they were
        assert {k: v for k, v in after["cells"][i].items() if k != "source"} == {
            k: v for k, v in before["cells"][i].items() if k != "source"
        }
    assert {k: v for k, v in after.items() if k != "cells"} == {k: v for k, v in before.items() if k != "cells"}
    # byte for byte outside the changed sources: the JSON text around them is the original's
    original = read_notebook(before_text)
    fixed = read_notebook(after_text)
    cursor_a = cursor_b = 0
    for i in changed:
        a, b = original.cells[i].span, fixed.cells[i].span
        assert before_text[cursor_a : a[0]] == after_text[cursor_b : b[0]]
        cursor_a, cursor_b = a[1], b[1]
    assert before_text[cursor_a:] == after_text[cursor_b:]
    sources = ["".join(c["source"]) for c in after["cells"]]
    assert "import functools\n\nclient = OpenAI()" in sources[2]
    assert sources[4].startswith("@functools.cache\ndef _get_sentence_transformer(")
    assert "model = _get_sentence_transformer(model_name)" in sources[4]
    assert "thematic_tags=None):\n        if thematic_tags is None:\n            thematic_tags = []" in sources[5]
    assert "embeddings = self.embedder.encode(contents_list)" in sources[5]
    assert '_ITERATIVE_REFINE_RE = re.compile(r"(\\d)/5")' in sources[9]
    assert sources[1] == "%pip install -q sentence-transformers chromadb scikit-learn openai"  # masked: untouched
    # and the fixed notebook checks clean but for the finding without a fix
    code, out, _ = run(capsys, "check", "--unsafe-fixes", str(target))
    assert [re.match(r".*?: (PFL\d+)", line).group(1) for line in out.splitlines()] == ["PFL602"]


def test_fix_diff_shows_cells_and_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    target = tmp_path / MEMORY_AGENT.name
    target.write_bytes(MEMORY_AGENT.read_bytes())
    code, out, err = run(capsys, "fix", "--unsafe-fixes", "--diff", str(target))
    assert target.read_bytes() == MEMORY_AGENT.read_bytes()
    assert code == 1
    assert "--- a/memory_agent.ipynb:cell 5\n+++ b/memory_agent.ipynb:cell 5\n" in out
    assert "-    model = SentenceTransformer(model_name)\n+    model = _get_sentence_transformer(model_name)\n" in out
    assert "Would fix 4 problems in 1 file" in err


def test_fix_adds_a_cell_at_the_top_for_imports_when_there_is_none(tmp_path, capsys):
    target = tmp_path / "nb.ipynb"
    handler = "async def handle(agent_a, agent_b, query):\n    first = await agent_a.process(query)\n    second = await agent_b.process(query)\n    return first, second"
    target.write_text(notebook_json(("markdown", "# no imports"), ("code", handler)), encoding="utf-8")
    code, _, err = run(capsys, "fix", "--unsafe-fixes", str(target))
    assert "Fixed 1 problem in 1 file; 0 remaining." in err, err
    data = json.loads(target.read_text(encoding="utf-8"))
    assert [c["cell_type"] for c in data["cells"]] == ["code", "markdown", "code"]
    assert data["cells"][0]["source"] == ["import asyncio"]
    assert data["cells"][0]["outputs"] == [] and data["cells"][0]["execution_count"] is None
    assert "".join(data["cells"][2]["source"]).startswith("async def handle(agent_a, agent_b, query):\n    first, second = await asyncio.gather(")
    assert data["cells"][2]["outputs"] == [{"output_type": "stream", "name": "stdout", "text": ["out 1\n"]}]


def test_bad_notebooks_are_reported_and_the_run_goes_on(tmp_path, capsys, monkeypatch):
    (tmp_path / "broken.ipynb").write_text("{ not json", encoding="utf-8")
    (tmp_path / "old.ipynb").write_text('{"nbformat": 3, "worksheets": []}', encoding="utf-8")
    (tmp_path / "svc.py").write_text("import re\nfor x in y:\n    re.match('a', x)\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "check", ".")
    assert code == 2
    assert "broken.ipynb: not valid JSON" in err
    assert "old.ipynb: not an nbformat 4 notebook" in err
    assert "svc.py:3:5: PFL401" in out


def test_notebooks_setting_turns_the_walk_off(tmp_path, capsys, monkeypatch):
    (tmp_path / "nb.ipynb").write_bytes(MEMORY_AGENT.read_bytes())
    (tmp_path / "pyproject.toml").write_text("[tool.perf-lsp]\nnotebooks = false\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "check", ".")
    assert code == 0 and out == ""
    code, out, _ = run(capsys, "check", "nb.ipynb")  # named: checked all the same
    assert code == 1 and "nb.ipynb:cell 5:4:13: PFL101" in out


def test_the_cache_keeps_the_cells(tmp_path, capsys):
    cache = tmp_path / "cache"
    first = run(capsys, "check", "--output-format", "json", "--cache-dir", str(cache), str(MEMORY_AGENT))
    second = run(capsys, "check", "--output-format", "json", "--cache-dir", str(cache), str(MEMORY_AGENT))
    assert first == second
    assert json.loads(second[1])[0]["cell"] == 5


def test_engine_analyses_the_module_as_a_file():
    """The module is what the engine sees: the same findings as the same code in a .py file."""
    module = build_module(read_notebook(MEMORY_AGENT.read_text(encoding="utf-8")))
    codes = [d.code for d in Engine().analyze(module.text, Settings()).diagnostics]
    assert codes == ["PFL101", "PFL701", "PFL602", "PFL201", "PFL401"]


def test_a_cell_that_is_not_python_is_named_and_the_rest_checked(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "nb.ipynb").write_text(
        notebook_json(
            ("code", "import re"),
            ("code", "def broken(:\n    pass"),
            ("code", "def f(rows):\n    return [re.match('a+', r) for r in rows]"),
        ),
        encoding="utf-8",
    )
    code, out, err = run(capsys, "check", "nb.ipynb")
    assert code == 1
    assert out.startswith("nb.ipynb:cell 3:2:13: PFL401")
    assert "nb.ipynb:cell 2: not checked: not valid Python (line 1)" in err
    assert "checked only in part" in err


def test_crlf_notebooks_keep_their_line_endings():
    text = notebook_json(("code", ""), ("code", "x = 1")).replace("\n", "\r\n")
    notebook = read_notebook(text)
    assert render_notebook(notebook, {}) == text
    new = render_notebook(notebook, {0: "import os\nimport re", 1: "x = 2"}, "import sys")
    assert "\n" not in new.replace("\r\n", "")
    lf = render_notebook(read_notebook(text.replace("\r\n", "\n")), {0: "import os\nimport re", 1: "x = 2"}, "import sys")
    assert json.loads(new)["cells"][1:] == json.loads(lf)["cells"][1:]
    assert new.replace("\r\n", "\n").split('"id"')[0] == lf.split('"id"')[0]


def test_fix_around_an_ipython_line_keeps_it(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "nb.ipynb"
    target.write_text(
        notebook_json(("code", "import re\nfor row in rows:\n    %time re.match('a+', row)\n    re.match('b+', row)")),
        encoding="utf-8",
    )
    code, _, err = run(capsys, "fix", "nb.ipynb")
    assert code == 0, err
    assert json.loads(target.read_text(encoding="utf-8"))["cells"][0]["source"] == [
        "import re\n",
        "\n",
        "_PATTERN = re.compile('b+')\n",
        "for row in rows:\n",
        "    %time re.match('a+', row)\n",
        "    _PATTERN.match(row)",
    ]


def test_fix_that_would_change_an_ipython_line_leaves_the_notebook(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "nb.ipynb"
    target.write_text(notebook_json(("code", "import re\n!ls\nfor row in rows:\n    re.match('b+', row)")), encoding="utf-8")
    before = target.read_bytes()
    fix_all = Engine.fix_all

    def rewriting_the_masked_line(self, source, *args, **kwargs):
        result = fix_all(self, source, *args, **kwargs)
        result.source = result.source.replace("pass\n", "print()\n", 1)  # a fix that rewrote `!ls`'s stand-in
        return result

    monkeypatch.setattr(Engine, "fix_all", rewriting_the_masked_line)
    code, _, err = run(capsys, "fix", "--jobs", "1", "nb.ipynb")
    assert code == 2
    assert "nb.ipynb: a fix would change IPython syntax in cell 1; not written" in err
    assert target.read_bytes() == before


def test_json_cell_is_null_in_a_python_file_as_in_ruff(tmp_path, capsys):
    target = tmp_path / "svc.py"
    target.write_text("import re\nfor x in y:\n    re.match('a', x)\n", encoding="utf-8")
    _, out, _ = run(capsys, "check", "--output-format", "json", str(target))
    entry = json.loads(out)[0]
    assert entry["cell"] is None and entry["location"] == {"row": 3, "column": 5}
    assert all("cell" not in edit for edit in entry["fix"]["edits"])
