"""The project index and hotness model (perf_lsp.analysis.hotness), the engine's cold filter, the CLI and
the server's workspace index. Each cold shape has a look-alike that must stay UNKNOWN or HOT."""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path

import pytest

from perf_lsp.analysis.hotness import FileHotness, FileStore, Hotness, ProjectIndex, file_kind, module_name
from perf_lsp.cli import main
from perf_lsp.engine import Engine
from perf_lsp.lsp.hotindex import WorkspaceIndex
from perf_lsp.rules import CODES
from perf_lsp.settings import Settings, from_lsp_options, from_pyproject_table


def project(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return tmp_path


def index_of(root: Path) -> ProjectIndex:
    return ProjectIndex.build(sorted(root.rglob("*.py")), root=root)


def line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in {path}")


def at(index: ProjectIndex, root: Path, name: str, needle: str) -> tuple[Hotness, str]:
    return index.hotness(root / name, line_of(root / name, needle))


API = """\
    from fastapi import FastAPI
    from app.helpers import make_client, shared

    app = FastAPI()

    @app.post("/ask")
    async def ask(q: str):
        client = make_client()
        shared()
        return client.get(q)
    """
HELPERS = """\
    import httpx

    def make_client():
        return httpx.Client().get("u")  # site: make_client

    def shared():
        return httpx.Client().get("u")  # site: shared

    def only_main():
        return httpx.Client().get("u")  # site: only_main

    def main_and_unknown():
        return httpx.Client().get("u")  # site: main_and_unknown

    def caller_of_unknown():
        main_and_unknown()

    if __name__ == "__main__":
        only_main()
        shared()
        main_and_unknown()
        httpx.Client().get("u")  # site: main block
    """


# -- hot ------------------------------------------------------------------------------------------------------------


def test_a_fastapi_route_and_the_helper_it_calls_are_hot_with_the_route_in_the_reason(tmp_path):
    root = project(tmp_path, {"app/api.py": API, "app/helpers.py": HELPERS})
    index = index_of(root)
    route = line_of(root / "app/api.py", '@app.post("/ask")')
    hot, reason = at(index, root, "app/helpers.py", "site: make_client")
    assert hot is Hotness.HOT
    assert reason == f"called per request from POST /ask (app/api.py:{route})"
    hot, reason = at(index, root, "app/api.py", "client = make_client()")
    assert hot is Hotness.HOT and "POST /ask" in reason


def test_a_helper_called_from_a_route_and_the_main_block_is_hot(tmp_path):
    root = project(tmp_path, {"app/api.py": API, "app/helpers.py": HELPERS})
    assert at(index_of(root), root, "app/helpers.py", "site: shared")[0] is Hotness.HOT


def test_hot_spreads_a_bounded_number_of_calls(tmp_path):
    chain = "\n".join(f"def f{i}():\n    f{i + 1}()\n" for i in range(12)) + "def f12():\n    pass\n"
    root = project(
        tmp_path,
        {
            "app/chain.py": chain,
            "app/api.py": "from flask import Flask\nfrom app.chain import f0\napp = Flask(__name__)\n"
            "@app.route('/x', methods=['POST'])\ndef x():\n    f0()\n",
        },
    )
    index = index_of(root)
    assert index.hotness(root / "app/chain.py", line_of(root / "app/chain.py", "def f2")+1)[0] is Hotness.HOT
    assert "POST /x" in index.hotness(root / "app/chain.py", 2)[1]
    assert index.hotness(root / "app/chain.py", line_of(root / "app/chain.py", "def f11") + 1)[0] is Hotness.UNKNOWN


@pytest.mark.parametrize(
    "source, needle, expect",
    [
        ("from fastapi import APIRouter\nr = APIRouter()\n@r.websocket('/ws')\nasync def ws(s):\n    pass  # here\n", "here", "WebSocket /ws"),
        ("from celery import shared_task\n@shared_task\ndef job(x):\n    pass  # here\n", "here", "queue task"),
        ("from celery import Celery\napp = Celery()\n@app.task(bind=True)\ndef job(self):\n    pass  # here\n", "here", "queue task"),
        ("from aiogram import Router\nr = Router()\n@r.message()\nasync def on(m):\n    pass  # here\n", "here", "bot"),
        ("from slack_bolt import App\napp = App()\n@app.command('/ask')\ndef ask(ack):\n    pass  # here\n", "here", "bot"),
        (
            "from telegram.ext import CommandHandler\ndef start(u, c):\n    pass  # here\n"
            "def build(app):\n    app.add_handler(CommandHandler('start', start))\n",
            "here",
            "per message",
        ),
        (
            "from fastapi import FastAPI\napp = FastAPI()\ndef h():\n    pass  # here\n"
            "app.add_api_route('/h', h, methods=['GET'])\n",
            "here",
            "/h",
        ),
        ("from django.views import View\nclass V(View):\n    def post(self, request):\n        pass  # here\n", "here", "POST of V"),
    ],
    ids=["websocket", "shared_task", "celery_task", "aiogram", "slack", "telegram", "add_api_route", "django_view"],
)
def test_entry_points_are_hot(tmp_path, source, needle, expect):
    root = project(tmp_path, {"svc/handlers.py": source})
    hot, reason = at(index_of(root), root, "svc/handlers.py", needle)
    assert hot is Hotness.HOT
    assert expect in reason


def test_an_init_of_a_class_built_per_request_is_hot(tmp_path):
    root = project(
        tmp_path,
        {
            "app/api.py": "from fastapi import FastAPI\nfrom app.svc import Svc\napp = FastAPI()\n"
            "@app.get('/s')\ndef s():\n    return Svc()\n",
            "app/svc.py": "class Svc:\n    def __init__(self):\n        pass  # here\n",
        },
    )
    assert at(index_of(root), root, "app/svc.py", "here")[0] is Hotness.HOT


# -- cold -----------------------------------------------------------------------------------------------------------


def test_the_main_block_and_what_only_it_calls_are_cold(tmp_path):
    root = project(tmp_path, {"app/api.py": API, "app/helpers.py": HELPERS})
    index = index_of(root)
    guard = line_of(root / "app/helpers.py", "__main__")
    assert at(index, root, "app/helpers.py", "site: main block") == (
        Hotness.COLD,
        f"in the __main__ block (app/helpers.py:{guard})",
    )
    assert at(index, root, "app/helpers.py", "site: only_main") == (
        Hotness.COLD,
        f"only called from the __main__ block (app/helpers.py:{guard})",
    )


def test_a_helper_the_main_block_and_a_function_of_unknown_hotness_call_is_unknown(tmp_path):
    root = project(tmp_path, {"app/api.py": API, "app/helpers.py": HELPERS})
    assert at(index_of(root), root, "app/helpers.py", "site: main_and_unknown")[0] is Hotness.UNKNOWN


CLI = """\
    import click
    import httpx

    @click.group()
    def cli():
        pass

    @cli.command()
    def ingest():
        fetch()  # site: command

    def fetch():
        return httpx.Client().get("u")  # site: fetch

    def fetch_too():
        return httpx.Client().get("u")  # site: fetch_too

    @cli.command()
    def other():
        fetch_too()

    def not_a_command():
        fetch_too()
    """


def test_a_click_command_and_the_helper_only_it_calls_are_cold(tmp_path):
    root = project(tmp_path, {"tool/cli.py": CLI})
    index = index_of(root)
    hot, reason = at(index, root, "tool/cli.py", "site: command")
    assert hot is Hotness.COLD and "CLI command (ingest" in reason
    hot, reason = at(index, root, "tool/cli.py", "site: fetch")
    assert hot is Hotness.COLD and reason.startswith("only called from ingest")


def test_a_helper_a_command_and_another_function_call_is_unknown(tmp_path):
    root = project(tmp_path, {"tool/cli.py": CLI})
    assert at(index_of(root), root, "tool/cli.py", "site: fetch_too")[0] is Hotness.UNKNOWN


def test_typer_commands_and_argparse_main_are_cold_a_main_without_argparse_is_not(tmp_path):
    root = project(
        tmp_path,
        {
            "a/t.py": "import typer\napp = typer.Typer()\n@app.command()\ndef go():\n    pass  # here\n",
            "a/p.py": "import argparse\ndef main():\n    pass  # here\n",
            "a/q.py": "def main():\n    pass  # here\n",
        },
    )
    index = index_of(root)
    assert at(index, root, "a/t.py", "here")[0] is Hotness.COLD
    assert at(index, root, "a/p.py", "here")[0] is Hotness.COLD
    assert at(index, root, "a/q.py", "here")[0] is Hotness.UNKNOWN


@pytest.mark.parametrize(
    "name, cold",
    [
        ("tests/helpers.py", True),
        ("pkg/tests/util/net.py", True),
        ("test_api.py", True),
        ("api_test.py", True),
        ("conftest.py", True),
        ("examples/chat.py", True),
        ("demo/app.py", True),
        ("scripts/backfill.py", True),
        ("migrations/0001_initial.py", True),
        ("app/testing_utils.py", False),
        ("app/latest.py", False),
        ("app/migration.py", False),
        ("app/example.py", False),
        ("contest.py", False),
    ],
)
def test_file_kinds(tmp_path, name, cold):
    root = project(tmp_path, {name: "import httpx\ndef helper():\n    return httpx.Client().get(\"u\")  # here\n"})
    hot, reason = at(index_of(root), root, name, "here")
    assert (hot is Hotness.COLD) is cold, reason
    if cold:
        assert name in reason


def test_a_test_file_is_cold_even_when_it_calls_a_route(tmp_path):
    root = project(
        tmp_path,
        {
            "app/api.py": API,
            "app/helpers.py": HELPERS,
            "tests/test_api.py": "from app.api import ask\ndef test_ask():\n    ask('q')  # here\n",
        },
    )
    hot, reason = at(index_of(root), root, "tests/test_api.py", "here")
    assert hot is Hotness.COLD and reason == "test code (tests/test_api.py)"


def test_init_and_setup_methods_are_cold_other_methods_unknown(tmp_path):
    root = project(
        tmp_path,
        {
            "app/svc.py": "import httpx\nclass Svc:\n    def __init__(self):\n        self.c = httpx.Client().get(\"u\")  # init\n"
            "    def run(self):\n        return httpx.Client().get(\"u\")  # run\n"
        },
    )
    index = index_of(root)
    hot, reason = at(index, root, "app/svc.py", "# init")
    assert hot is Hotness.COLD and "Svc.__init__" in reason
    assert at(index, root, "app/svc.py", "# run")[0] is Hotness.UNKNOWN


def test_a_method_called_on_an_unknown_object_is_not_cold_by_its_known_callers(tmp_path):
    root = project(
        tmp_path,
        {
            "app/svc.py": "class Svc:\n    def work(self):\n        pass  # here\n"
            "def other(x):\n    x.work()\n"
            "if __name__ == '__main__':\n    Svc().work()\n"
        },
    )
    assert at(index_of(root), root, "app/svc.py", "here")[0] is Hotness.UNKNOWN


def test_relative_imports_and_module_aliases_resolve(tmp_path):
    root = project(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/api.py": "from flask import Flask\nfrom . import util\nfrom .more import deep as d\napp = Flask(__name__)\n"
            "@app.route('/r')\ndef r():\n    util.one()\n    d()\n",
            "pkg/util.py": "def one():\n    pass  # one\n",
            "pkg/more.py": "def deep():\n    pass  # deep\n",
        },
    )
    index = index_of(root)
    assert at(index, root, "pkg/util.py", "# one")[0] is Hotness.HOT
    assert at(index, root, "pkg/more.py", "# deep")[0] is Hotness.HOT


def test_module_names():
    assert module_name("/p/src/pkg/mod.py", "/p") == "pkg.mod"
    assert module_name("/p/pkg/__init__.py", "/p") == "pkg"
    assert file_kind("/p/tests/x.py", "/p") is not None
    assert file_kind("/p/tests/x.py", "/p/tests") is None  # only what lies under the root counts
    assert file_kind("/p/tests/x.py") is None  # no root: only the name counts


def test_a_file_that_does_not_parse_is_indexed_as_empty(tmp_path):
    root = project(tmp_path, {"app/bad.py": "def (:\n", "app/ok.py": "def f():\n    pass\n"})
    index = index_of(root)
    assert index.hotness(root / "app/bad.py", 1) == (Hotness.UNKNOWN, "")
    assert len(index) == 2


def test_an_update_changes_the_answers(tmp_path):
    root = project(tmp_path, {"app/h.py": "def f():\n    pass  # here\n"})
    index = index_of(root)
    assert at(index, root, "app/h.py", "here")[0] is Hotness.UNKNOWN
    index.add(root / "app/main.py", "from app.h import f\nif __name__ == '__main__':\n    f()\n")
    assert at(index, root, "app/h.py", "here")[0] is Hotness.COLD
    index.remove(root / "app/main.py")
    assert at(index, root, "app/h.py", "here")[0] is Hotness.UNKNOWN


# -- the engine's filter ----------------------------------------------------------------------------------------------

SOURCE = textwrap.dedent(
    """\
    import httpx

    def cold():
        return httpx.Client().get("u")

    def hot():
        return httpx.Client().get("u")

    def unknown():
        return httpx.Client().get("u")
    """
)
FACTS = FileHotness(
    None, (("cold", Hotness.COLD, "set-up code"), ("hot", Hotness.HOT, "called per request from POST /ask (api.py:3)"))
)


def codes_at(analysis) -> dict[int, str]:
    return {d.range.start.line: d.detail for d in analysis.diagnostics}


def test_the_engine_leaves_out_cold_findings_and_explains_hot_ones():
    plain = codes_at(Engine().analyze(SOURCE, Settings()))
    assert sorted(plain) == [4, 7, 10]  # the premise: one finding per function
    found = codes_at(Engine().analyze(SOURCE, Settings(), hotness=FACTS))
    assert sorted(found) == [7, 10]
    assert found[7].endswith("Called per request from POST /ask (api.py:3).")
    assert found[10] == plain[10]


def test_include_cold_shows_cold_findings():
    found = codes_at(Engine().analyze(SOURCE, Settings(include_cold=True), hotness=FACTS))
    assert sorted(found) == [4, 7, 10]


def test_a_test_file_hides_every_finding_and_fix_all_leaves_it_alone():
    facts = FileHotness((Hotness.COLD, "test code (tests/x.py)"))
    assert Engine().analyze(SOURCE, Settings(), hotness=facts).diagnostics == []
    result = Engine().fix_all(SOURCE, Settings(), unsafe=True, hotness=facts)
    assert result.source == SOURCE


def test_the_filter_follows_edits_that_move_lines():
    engine = Engine()
    first = engine.analyze(SOURCE, Settings(), hotness=FACTS)
    moved = "# a comment\n# another\n" + SOURCE
    second = engine.analyze(moved, Settings(), first, hotness=FACTS)
    assert sorted(codes_at(second)) == [9, 12]


def test_include_cold_setting_is_read_from_pyproject_and_client_settings():
    assert from_pyproject_table({"include-cold": True}, "pyproject.toml", codes=CODES)[0].include_cold
    assert from_lsp_options({"includeCold": True}, codes=CODES)[0].include_cold
    settings, messages = from_pyproject_table({"include-cold": "yes"}, "pyproject.toml", codes=CODES)
    assert not settings.include_cold and "include-cold" in messages[0]


# -- the command line -------------------------------------------------------------------------------------------------


def check_json(root: Path, capsys) -> list[dict]:
    main(["check", "--no-cache", "--no-jedi", "--select", "ALL", "--output-format", "json", str(root)])
    return json.loads(capsys.readouterr().out)


def test_the_cli_indexes_every_file_before_checking(tmp_path, capsys):
    root = project(
        tmp_path / "proj",
        {"app/api.py": API, "app/helpers.py": HELPERS, "tests/util.py": "import httpx\ndef c():\n    return httpx.Client().get('u')\n"},
    )
    found = {(Path(d["filename"]).relative_to(root).as_posix(), d["location"]["row"]) for d in check_json(root, capsys)}
    helpers = root / "app/helpers.py"
    assert ("app/helpers.py", line_of(helpers, "site: make_client")) in found
    assert ("app/helpers.py", line_of(helpers, "site: main_and_unknown")) in found
    assert ("app/helpers.py", line_of(helpers, "site: only_main")) not in found
    assert ("app/helpers.py", line_of(helpers, "site: main block")) not in found
    assert not any(name.startswith("tests/") for name, _ in found)
    (root / "pyproject.toml").write_text("[tool.perf-lsp]\ninclude-cold = true\n")
    shown = {(Path(d["filename"]).relative_to(root).as_posix(), d["location"]["row"]) for d in check_json(root, capsys)}
    assert found < shown
    assert ("app/helpers.py", line_of(helpers, "site: only_main")) in shown
    assert any(name.startswith("tests/") for name, _ in shown)


def test_a_cached_outcome_does_not_outlive_a_change_of_another_file(tmp_path, capsys):
    root = project(tmp_path / "proj", {"app/helpers.py": "import httpx\ndef f():\n    return httpx.Client().get('u')\n"})
    args = ["check", "--no-jedi", "--select", "ALL", "--output-format", "json", str(root)]
    main(args)
    assert len(json.loads(capsys.readouterr().out)) == 1
    (root / "app/run.py").write_text("from app.helpers import f\nif __name__ == '__main__':\n    f()\n")
    main(args)
    assert json.loads(capsys.readouterr().out) == []


# -- the server's workspace index ---------------------------------------------------------------------------------------


def test_the_workspace_index_builds_in_the_background_and_updates(tmp_path):
    root = project(tmp_path, {"app/h.py": "def f():\n    pass\n"})
    changes: list[list[str]] = []
    index = WorkspaceIndex(on_change=changes.append)
    target = root / "app/h.py"
    assert index.for_path(target) is None  # not built yet: nothing is filtered
    index.start([root])
    assert index.ready.wait(30)
    assert index.for_path(target) == FileHotness(None, (), None)
    index.update(root / "app/run.py", "from app.h import f\nif __name__ == '__main__':\n    f()\n")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (index.for_path(target) or FileHotness()).functions:
        time.sleep(0.01)
    assert index.for_path(target).functions == (("f", Hotness.COLD, "only called from the __main__ block (app/run.py:2)"),)
    assert any(str(target.resolve()) in paths for paths in changes)
    index.stop()


def test_a_callback_defined_in_init_and_registered_is_hot_not_cold(tmp_path):
    root = project(
        tmp_path,
        {
            "app/relay.py": "class Relay:\n    def __init__(self, sio):\n        async def handler(sid, data=None):\n"
            "            return await self.handle(sid, data)\n        sio.on('relay:packet', handler)\n"
            "    async def handle(self, sid, data):\n        pass  # here\n"
        },
    )
    hot, reason = at(index_of(root), root, "app/relay.py", "here")
    assert hot is Hotness.HOT and "'relay:packet'" in reason


def test_a_function_passed_on_by_cold_code_is_not_cold(tmp_path):
    root = project(
        tmp_path,
        {"app/w.py": "import threading\ndef work():\n    pass  # here\nclass S:\n    def __init__(self):\n"
         "        threading.Thread(target=work).start()\n"},
    )
    assert at(index_of(root), root, "app/w.py", "here")[0] is Hotness.UNKNOWN


def test_a_mutable_default_is_reported_at_a_cold_site_too():
    source = "class A:\n    def __init__(self, items=[]):\n        self.items = items\n        self.items.append(1)\n"
    facts = FileHotness(None, (("A.__init__", Hotness.COLD, "set-up code"),))
    assert [d.code for d in Engine().analyze(source, Settings(), hotness=facts).diagnostics] == ["PFL701"]


def test_an_init_of_a_class_built_in_a_function_of_unknown_hotness_is_unknown(tmp_path):
    root = project(
        tmp_path,
        {
            "app/svc.py": "class Entry:\n    def __init__(self, x):\n        pass  # entry\n"
            "class Registry:\n    def __init__(self):\n        pass  # registry\n"
            "class App:\n    def __init__(self):\n        self.r = Registry()\n"
            "def parse(items):\n    return [Entry(i) for i in items]\n"
        },
    )
    index = index_of(root)
    assert at(index, root, "app/svc.py", "# entry")[0] is Hotness.UNKNOWN  # built per item, for all we know
    hot, reason = at(index, root, "app/svc.py", "# registry")
    assert hot is Hotness.COLD and "Registry.__init__" in reason  # built only by another set-up method


def test_a_route_with_an_empty_path_on_a_router_is_hot(tmp_path):
    root = project(
        tmp_path,
        {"app/chat.py": "from fastapi import APIRouter\napi_chat = APIRouter()\n@api_chat.post('')\nasync def chat():\n    pass  # here\n"},
    )
    hot, reason = at(index_of(root), root, "app/chat.py", "here")
    assert hot is Hotness.HOT and "POST " in reason


def test_facts_kept_between_runs_give_the_same_answers(tmp_path):
    root = project(tmp_path, {"app/api.py": API, "app/helpers.py": HELPERS, "tool/cli.py": CLI, "tests/t.py": "x = 1\n"})
    kept: dict = {}

    class Store(FileStore):
        def load(self, data, material):
            return json.loads(kept[(data, material)]) if (data, material) in kept else None

        def save(self, data, material, facts):
            kept[(data, material)] = json.dumps(facts)

    files = sorted(root.rglob("*.py"))
    first = ProjectIndex.build(files, root=root, store=Store())
    assert len(kept) == len(files)

    class Warm(Store):
        def save(self, data, material, facts):
            raise AssertionError("a file was read again")

    second = ProjectIndex.build(files, root=root, store=Warm())
    assert all(first.for_file(f) == second.for_file(f) for f in files)
    assert any(first.for_file(f).functions for f in files)


def test_a_super_init_call_does_not_make_every_init_unknown(tmp_path):
    root = project(
        tmp_path,
        {"app/m.py": "class Base:\n    def __init__(self):\n        pass  # base\n"
         "class Child(Base):\n    def __init__(self):\n        super().__init__()\n"},
    )
    assert at(index_of(root), root, "app/m.py", "# base")[0] is Hotness.COLD


def test_a_loop_in_a_cold_function_is_not_cold_but_a_loop_in_a_test_file_is(tmp_path):
    body = (
        "import argparse\nimport httpx\ndef main():\n    c = httpx.Client().get('u')  # once\n"
        "    for u in open('x'):\n        httpx.Client().get(u)  # per line\n"
        "    return [httpx.Client().get(u) for u in open('y')]  # per item\n"
    )
    root = project(tmp_path, {"app/job.py": body, "tests/job.py": body})
    index = index_of(root)
    assert at(index, root, "app/job.py", "# once")[0] is Hotness.COLD
    assert at(index, root, "app/job.py", "# per line")[0] is Hotness.UNKNOWN
    assert at(index, root, "app/job.py", "# per item")[0] is Hotness.UNKNOWN
    assert at(index, root, "tests/job.py", "# per line")[0] is Hotness.COLD


def test_the_else_of_the_main_guard_is_import_time_code_not_the_main_block(tmp_path):
    root = project(
        tmp_path,
        {"app/main.py": "def run():\n    pass  # here\nif __name__ == '__main__':\n    run()\nelse:\n    run()\n"},
    )
    assert at(index_of(root), root, "app/main.py", "# here")[0] is Hotness.UNKNOWN


def test_a_class_a_package_re_exports_is_resolved_through_its_init(tmp_path):
    root = project(
        tmp_path,
        {
            "lib/__init__.py": "",
            "lib/search/__init__.py": "from .terms import Terms\n",
            "lib/search/terms.py": "class Terms:\n    def __init__(self, e):\n        pass  # here\n",
            "lib/other.py": "class Terms:\n    def __init__(self):\n        pass\n",  # the name alone is ambiguous
            "lib/api.py": "from flask import Flask\nfrom .search import Terms\napp = Flask(__name__)\n"
            "@app.route('/t')\ndef t():\n    return Terms(1)\n",
        },
    )
    assert at(index_of(root), root, "lib/search/terms.py", "here")[0] is Hotness.HOT


def test_module_names_start_at_the_top_package_when_every_file_is_inside_it(tmp_path):
    root = project(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "from pkg.b import B\ndef make():\n    return B()\n",
            "pkg/b.py": "class B:\n    def __init__(self):\n        pass  # here\n",
        },
    )
    index = ProjectIndex.build(sorted((root / "pkg").rglob("*.py")))  # no root given: the common directory is pkg/
    assert index.functions()["pkg.b.B.__init__"].line == 2
    assert index.hotness(root / "pkg/b.py", 3)[0] is Hotness.UNKNOWN  # built in make(): not only set-up


def test_a_file_named_alone_is_not_judged_by_its_callers(tmp_path, capsys):
    root = project(
        tmp_path / "proj",
        {"app/svc.py": "import httpx\ndef process(u):\n    return httpx.Client().get(u)\n"
         "if __name__ == '__main__':\n    process('u')\n    httpx.Client().get('v')\n"},
    )
    target = root / "app/svc.py"
    whole = [d["location"]["row"] for d in check_json(root, capsys)]
    assert whole == []  # the project: process() is only called from the __main__ block
    main(["check", "--no-cache", "--no-jedi", "--select", "ALL", "--output-format", "json", str(target)])
    alone = [d["location"]["row"] for d in json.loads(capsys.readouterr().out)]
    assert alone == [3]  # the file alone: other files may call process(); the main block itself stays cold
