"""The fix layer of the engine: batching fixes per round, free names, debris the fixes leave.

Rule behaviour lives in the fixtures; these tests pin what the engine does around every
rule's codemod.
"""

from __future__ import annotations

import textwrap

import pytest

from perf_lsp import engine as engine_module
from perf_lsp.engine import Engine, parses, taken_names
from perf_lsp.settings import Settings

ENGINE = Engine()
ALL = Settings(select=("ALL",))


def fix(source: str, settings: Settings = ALL, **kw):
    return ENGINE.fix_all(textwrap.dedent(source), settings, unsafe=True, **kw)


def codes(source: str, settings: Settings = ALL) -> list[str]:
    return [d.code for d in ENGINE.analyze(source, settings).diagnostics]


def many_patterns(n: int) -> str:
    calls = "".join(f"        out.append(re.findall(r'p{i}', s))\n" for i in range(n))
    return f"import re\n\n\ndef scan(items):\n    out = []\n    for s in items:\n{calls}    return out\n"


# -- one round applies every non-overlapping fix of a statement -----------------


def test_thirty_findings_in_one_function_are_fixed_in_one_round():
    result = ENGINE.fix_all(many_patterns(30), ALL, unsafe=True)
    assert result.applied == 30
    assert result.rounds == 2  # one round applies, the next finds nothing left
    assert "PFL401" not in codes(result.source)
    again = ENGINE.fix_all(result.source, ALL, unsafe=True)
    assert again.applied == 0
    assert again.source == result.source
    assert result.source.count("re.compile(") == 30


def test_an_import_several_fixes_of_a_round_need_is_added_once():
    result = fix(
        """\
        from re import findall, sub


        def scan(items):
            for s in items:
                findall(r"a+", s)
                sub(r"b+", "", s)


        def other(items):
            return [findall(r"c+", s) for s in items]
        """
    )
    assert result.source.count("import re\n") == 1
    assert "PFL401" not in codes(result.source)
    assert parses(result.source)


def test_a_batch_that_does_not_parse_falls_back_to_the_fixes_that_do(monkeypatch):
    real = engine_module.parses
    # pretend that the second pattern's constant breaks the document whenever it goes in
    monkeypatch.setattr(
        engine_module, "parses", lambda text, strict=False: "_SCAN_RE_2 =" not in text and real(text, strict)
    )
    result = ENGINE.fix_all(many_patterns(3), ALL, unsafe=True)
    assert result.source.count("re.compile(") == 2
    assert "_SCAN_RE_2" not in result.source
    assert codes(result.source).count("PFL401") == 1


def test_structural_fixes_of_one_statement_wait_for_the_next_round():
    # PFL402 rewrites the loop around both concatenations: the second fix must see the first's result
    result = fix(
        """\
        def render(rows, cols):
            out = ""
            for r in rows:
                out += r
            text = ""
            for c in cols:
                text += c
            return out, text
        """
    )
    assert parses(result.source)
    assert "PFL402" not in codes(result.source)
    assert ENGINE.fix_all(result.source, ALL, unsafe=True).applied == 0


# -- new names clash only with real bindings ------------------------------------


def test_taken_names_are_bindings_reads_and_builtins_not_words():
    taken = taken_names(
        textwrap.dedent(
            """\
            import os.path as osp
            from json import loads as parse
            x = 1
            def f(param, *args, other=2, **kw):
                print("starting session")  # a comment about sockets
                obj.attribute = helper(keyword=3)
                global late
                try:
                    pass
                except Exception as err:
                    pass
                return [y for y in param]
            class C:
                pass
            """
        )
    )
    bound = ("osp", "parse", "x", "f", "param", "args", "other", "kw", "late", "err", "y", "C")
    for name in (*bound, "print", "obj", "helper", "len", "Exception"):
        assert name in taken, name
    for word in ("session", "starting", "comment", "sockets", "attribute", "keyword", "os", "path", "json", "loads"):
        assert word not in taken, word


def test_a_word_in_a_string_does_not_rename_the_session():
    result = fix(
        """\
        import requests


        def upload_all(paths, endpoint):
            print("starting session")
            for path in paths:
                requests.post(endpoint, data={"path": path}, timeout=5)
        """,
        Settings(select=("PFL104",)),
    )
    assert "as session:" in result.source
    assert "session_2" not in result.source


def test_an_attribute_named_like_a_module_does_not_alias_its_import():
    result = fix(
        """\
        import time

        import pytest


        async def retry_job(job_id):
            time.sleep(0.5)
            return job_id


        @pytest.mark.asyncio
        async def test_retry():
            assert await retry_job(1) == 1
        """,
        Settings(select=("PFL303",)),
    )
    assert "import asyncio\n" in result.source
    assert "_asyncio" not in result.source


def test_a_new_module_name_avoids_a_local_variable_of_that_name():
    # ``re`` is a local variable somewhere: a module-level ``import re`` would be shadowed there
    result = fix(
        """\
        from re import findall


        def scan(items):
            for s in items:
                findall(r"a+", s)


        def other(re):
            return re
        """
    )
    assert "import re as _re" in result.source
    assert parses(result.source)


@pytest.mark.parametrize("word", ["session", "results"])
def test_local_names_skip_only_names_of_the_scope(word):
    # a name used in another function does not make this function's new local ``session_2``
    result = fix(
        f"""\
        import requests


        def first(urls):
            {word} = []
            return {word}


        def upload_all(paths, endpoint):
            for path in paths:
                requests.post(endpoint, data={{"path": path}}, timeout=5)
        """,
        Settings(select=("PFL104",)),
    )
    assert "as session:" in result.source


# -- one factory per constructor, one constant per (pattern, flags) ----------------

REDIS_TWICE = """\
def get_user(key):
    import redis

    return redis.Redis(host="cache").get(key)


def load_profile(key):
    import redis

    return redis.Redis(host="cache").get(key)
"""


def test_one_factory_per_constructor():
    result = ENGINE.fix_all(REDIS_TWICE, ALL, unsafe=True)
    assert result.source.count("def _get_redis") == 1
    assert "_get_redis_2" not in result.source
    assert result.source.count("_get_redis(host=") == 2
    assert parses(result.source)
    assert ENGINE.fix_all(result.source, ALL, unsafe=True).applied == 0


def test_an_existing_factory_that_imports_its_callee_is_reused():
    source = textwrap.dedent(
        """\
        import functools


        @functools.cache
        def make_client(*args, **kwargs):
            import redis

            return redis.Redis(*args, **kwargs)


        def load_profile(key):
            import redis

            return redis.Redis(host="cache").get(key)
        """
    )
    result = ENGINE.fix_all(source, ALL, unsafe=True)
    assert "make_client(host=" in result.source
    assert "_get_redis" not in result.source


def test_one_constant_per_pattern_and_flags():
    result = fix(
        """\
        import re


        def scan(items):
            for s in items:
                a = re.findall(r"\\d+", s)
                b = re.findall(r"\\d+", s.lower())
                c = re.findall(r"\\d+", s, re.I)
                d = re.search(r"\\d+", s, flags=re.IGNORECASE)
                yield a, b, c, d
        """
    )
    assert result.source.count("re.compile(") == 2, result.source
    assert 're.compile(r"\\d+")' in result.source
    assert 're.compile(r"\\d+", re.I)' in result.source
    assert "PFL401" not in codes(result.source)


def test_an_existing_constant_for_the_pattern_is_reused():
    result = fix(
        """\
        import re

        DIGITS = re.compile(r"\\d+")
        WORDS = re.compile(r"\\w+", re.I)


        def scan(items):
            for s in items:
                yield re.findall(r"\\d+", s), re.findall(r"\\w+", s)
        """
    )
    assert "DIGITS.findall(s)" in result.source
    assert "WORDS.findall" not in result.source  # other flags: another pattern
    assert result.source.count("re.compile(") == 3


def test_a_constant_defined_after_the_function_is_not_reused():
    result = fix(
        """\
        import re


        def scan(items):
            for s in items:
                yield re.findall(r"\\d+", s)


        DIGITS = re.compile(r"\\d+")
        """
    )
    assert "DIGITS.findall" not in result.source
    assert "_SCAN_RE.findall(s)" in result.source


# -- an import the fix made unused goes, and only that one --------------------------

HANDLER = """\
def handle_message(raw: bytes) -> dict:
    event = json.loads(raw)
    event["received"] = True
    return event


def publish(redis, channel, event):
    redis.publish(channel, orjson.dumps(event))
"""


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("import json\nimport orjson\n", "import orjson\n"),
        ("import json, os\nimport orjson\n", "import os\nimport orjson\n"),
        ("from json import loads as _x, dumps\nimport orjson\n", "from json import loads as _x\nimport orjson\n"),
    ],
)
def test_a_module_import_every_use_of_which_was_rewritten_goes(header, expected):
    source = header + "\n\n" + HANDLER.replace("json.loads", "json.loads" if "import json" in header else "dumps")
    result = ENGINE.fix_all(source, Settings(select=("PFL601",)), unsafe=True)
    assert result.applied == 1
    assert result.source.startswith(expected + "\n\n")
    assert parses(result.source)


@pytest.mark.parametrize(
    "header",
    [
        'import json\nimport orjson\n\n__all__ = ["json", "handle_message"]\n',  # a re-export
        "try:\n    import json\nexcept ImportError:\n    json = None\nimport orjson\n",  # optional
        "import json\nimport orjson\n\nSCHEMA = json.dumps({})\n",  # still used elsewhere
        'import json\nimport orjson\n\n\ndef schema() -> "json.JSONEncoder":\n    ...\n',  # a string annotation
    ],
)
def test_a_module_import_still_needed_stays(header):
    result = ENGINE.fix_all(header + "\n\n" + HANDLER, Settings(select=("PFL601",)), unsafe=True)
    assert result.applied == 1
    assert "import json" in result.source


def test_an_import_that_was_already_unused_stays():
    source = "import os\nimport json\nimport orjson\n\n\n" + HANDLER.replace("json.loads(raw)", "orjson.loads(raw)") + (
        "\n\ndef scan(items):\n    for s in items:\n        re.findall(r'a', s)\n\n\nimport re\n"
    )
    result = ENGINE.fix_all(source, ALL, unsafe=True)
    assert result.applied == 1
    assert result.source.startswith("import os\nimport json\nimport orjson\n")


def test_an_emptied_block_gets_pass():
    source = "import sys\n\nif sys.version_info >= (3, 8):\n    import json\nimport orjson\n\n\n" + HANDLER
    result = ENGINE.fix_all(source, Settings(select=("PFL601",)), unsafe=True)
    assert "if sys.version_info >= (3, 8):\n    pass\n" in result.source
    assert parses(result.source)


def test_a_function_import_made_unused_goes():
    result = fix(
        """\
        def tokens(lines):
            import re

            return [re.findall(r"\\w+", line) for line in lines]


        async def handler(job):
            import time

            time.sleep(1)
            return job
        """
    )
    assert "await asyncio.sleep(1)" in result.source
    assert "import time" not in result.source
    assert "    import re\n" not in result.source
    assert "import re\n" in result.source  # the module-level import the constant needs
    assert parses(result.source)


def test_a_function_import_still_read_stays():
    result = fix(
        """\
        def tokens(lines):
            import re

            flags = re.IGNORECASE
            return [re.findall(r"\\w+", line, flags) for line in lines]


        def nested(lines):
            import re

            def inner(line):
                return re.escape(line)

            return [re.findall(r"\\d+", inner(line)) for line in lines]
        """
    )
    assert result.source.count("    import re\n") == 2


LOCAL_ANNOTATION = """\
from __future__ import annotations

from typing import TYPE_CHECKING

{header}

def embed(texts, name):
    from sentence_transformers import SentenceTransformer

    model: SentenceTransformer = SentenceTransformer(name)
    return model.encode(texts)
"""


def test_a_local_annotation_does_not_keep_an_import_the_module_binds_for_type_checkers():
    """A local variable's annotation is never evaluated (PEP 526): with ``if TYPE_CHECKING:`` binding the name at
    module level, the function's import is unused once the call moved into the factory (ruff: F401)."""
    source = LOCAL_ANNOTATION.format(header="if TYPE_CHECKING:\n    from sentence_transformers import SentenceTransformer\n")
    result = ENGINE.fix_all(source, ALL, unsafe=True)
    assert "    model: SentenceTransformer = _get_sentence_transformer(name)\n" in result.source
    assert result.source.count("    from sentence_transformers import SentenceTransformer\n") == 2  # module guard, factory


def test_a_local_annotation_keeps_the_only_binding_of_its_name():
    source = LOCAL_ANNOTATION.format(header="")
    result = ENGINE.fix_all(source, ALL, unsafe=True)
    assert "_get_sentence_transformer(name)" in result.source
    embed = result.source[result.source.index("def embed"):]
    assert "    from sentence_transformers import SentenceTransformer\n" in embed


def test_local_imports_of_a_rewritten_constructor_go():
    result = ENGINE.fix_all(REDIS_TWICE, ALL, unsafe=True)
    assert result.source.count("import redis") == 1  # inside the factory
    assert "def get_user(key):\n    return _get_redis" in result.source


def test_an_import_inside_a_function_try_stays():
    result = fix(
        """\
        def tokens(lines):
            try:
                import re
            except ImportError:
                return []
            return [re.findall(r"\\w+", line) for line in lines]
        """
    )
    assert "        import re\n" in result.source


# -- where the constant goes --------------------------------------------------------


def test_no_constant_when_code_could_run_before_its_import():
    source = textwrap.dedent(
        """\
        def tokens(lines):
            return [re.findall(r"\\w+", line) for line in lines]


        print(tokens(["a b"]))

        import re
        """
    )
    analysis = ENGINE.analyze(source, ALL)
    [diag] = [d for d in analysis.diagnostics if d.code == "PFL401"]
    assert analysis.fix(diag) is None
    assert ENGINE.fix_all(source, ALL, unsafe=True).source == source


def test_the_constant_goes_after_a_rebinding_of_its_module():
    result = fix(
        """\
        import re


        def tokens(lines):
            return [re.findall(r"\\w+", line) for line in lines]


        import regex as re
        """
    )
    assert result.source.endswith('import regex as re\n\n_TOKENS_RE = re.compile(r"\\w+")\n')


def test_a_word_in_a_docstring_does_not_keep_an_import_but_a_string_annotation_does():
    result = fix(
        '''\
        def tokens(lines):
            """Split with re, word by word."""
            import re

            return [re.findall(r"\\w+", line) for line in lines]


        def typed(lines):
            import re

            found: "list[re.Match]" = [re.match(r"\\d+", line) for line in lines]
            return found
        '''
    )
    assert result.source.count("    import re\n") == 1
    assert 'found: "list[re.Match]"' in result.source


# -- removing arguments keeps the call's layout and comments -------------------------


@pytest.mark.parametrize(
    ("source", "keep", "expected", "moved"),
    [
        ("f(p, s, re.I)", True, "f(s)", []),
        ("f(p,\n  s, t)", True, "f(s, t)", []),  # the next argument takes the removed one's place
        ("f(\n    p,  # pat\n    s,\n)", True, "f(\n    # pat\n    s,\n)", []),
        ("f(\n    p,  # pat\n    s,\n)", False, "f(\n    s,\n)", ["# pat"]),
        ("f(p,  # pat\n  s)", True, "f(  # pat\n  s)", []),
        ("f(\n    p,\n    s,\n    re.I  # flags\n)", True, "f(\n    s\n    # flags\n)", []),
        ("f(\n    p,\n    s,\n    re.I,  # flags\n)", False, "f(\n    s,\n)", ["# flags"]),
        ("f(\n    p,\n    # about s\n    s,\n)", True, "f(\n    # about s\n    s,\n)", []),
    ],
)
def test_remove_args_keeps_layout_and_comments(source, keep, expected, moved):
    import libcst as cst

    from perf_lsp.fix.codemod import remove_args

    module = cst.parse_module(source + "\n")
    call = module.body[0].body[0].value
    drop = [a for a in call.args if not (isinstance(a.value, cst.Name) and a.value.value in ("s", "t"))]
    new, comments = remove_args(call, drop, keep_comments=keep)
    assert module.code_for_node(new) == expected
    assert [c.value for c in comments] == moved
