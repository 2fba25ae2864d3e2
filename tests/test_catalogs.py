"""The catalogs as data (perf_lsp/catalogs/*.toml): every file loads and every entry has a source, and the
rules agree with the catalogs (a catalogued name, used in a generated snippet, gets the rule's finding)."""

from __future__ import annotations

from pathlib import Path

import pytest

from perf_lsp.analysis import catalogs
from perf_lsp.engine import Engine
from perf_lsp.settings import Settings

ENGINE = Engine()


def _codes(source: str) -> list[str]:
    return [d.code for d in ENGINE.analyze(source, Settings()).diagnostics]


def _use(qualified: str) -> tuple[str, str]:
    """(import line, expression) naming ``qualified`` through an import of its top-level package."""
    if "." not in qualified:
        return "", qualified
    return f"import {qualified.split('.', 1)[0]}\n", qualified


def _sample(names: list[str] | tuple[str, ...], k: int = 12) -> list[str]:
    """Up to ``k`` names spread evenly over ``names`` (always the first and the last)."""
    names = list(names)
    if len(names) <= k:
        return names
    step = (len(names) - 1) / (k - 1)
    return list(dict.fromkeys(names[round(i * step)] for i in range(k)))


# -- the files ------------------------------------------------------------------------------
def test_catalog_directory_holds_exactly_the_catalog_files():
    folder = Path(catalogs.__file__).resolve().parent.parent / "catalogs"
    assert sorted(p.stem for p in folder.glob("*.toml")) == sorted(catalogs.FILES)


@pytest.mark.parametrize("name", catalogs.FILES)
def test_every_catalog_loads_and_every_entry_has_a_source(name):
    document = catalogs.load(name)
    assert document, f"{name}.toml is empty"
    assert catalogs.problems(name) == []


def test_problems_names_an_entry_without_source(monkeypatch):
    monkeypatch.setattr(catalogs, "load", lambda name: {"heavy": [{"name": "acme.Model"}, {"source": "https://x.y"}]})
    assert catalogs.problems("models") == [
        "models.toml [[heavy]] #1: no source",
        "models.toml [[heavy]] #2: names nothing",
    ]


def test_a_missing_catalog_is_a_clear_error():
    with pytest.raises(catalogs.CatalogError, match="nope.toml"):
        catalogs.load("nope")


def test_names_and_field_map_read_name_and_names():
    names = catalogs.names("clients", "http")
    assert "httpx.Client" in names and "requests.sessions.Session" in names
    kinds = catalogs.field_map("clients", "http", "kind")
    assert kinds["aiohttp.ClientSession"] == "HTTP session"
    assert "httpx.AsyncClient" not in catalogs.field_map("clients", "http", "factory")


# -- the rules agree with the catalogs --------------------------------------------------------
_CONSTRUCTED = [
    # (catalog, table, how many to sample, code, a use of the constructor ``{expr}``: one source per entry)
    ("models", "heavy", 12, "PFL101", "\n\ndef answer(question):\n    model = {expr}('some-model')\n    return model(question)\n"),
    ("models", "embedding_model", 12, "PFL201", "\nMODEL = {expr}('some-model')\n\n\ndef index(texts):\n    return [MODEL.encode(t) for t in texts]\n"),
    ("clients", "sdk", 20, "PFL102", "\n\ndef answer(question):\n    client = {expr}('x')\n    return client.ask(question)\n"),
    ("clients", "http", 12, "PFL103", "\n\ndef fetch(url):\n    client = {expr}()\n    return client.get(url)\n"),
    ("databases", "connection", 20, "PFL103", "\n\ndef lookup(key):\n    handle = {expr}('dsn')\n    return handle.get(key)\n"),
]


@pytest.mark.parametrize(
    ("qualified", "code", "use"),
    [
        pytest.param(qualified, code, use, id=f"{catalog}.{table}:{qualified}")
        for catalog, table, count, code, use in _CONSTRUCTED
        for qualified in _sample(catalogs.names(catalog, table), count)
    ],
)
def test_a_catalogued_constructor_is_reported_where_its_rule_says(qualified, code, use):
    imp, expr = _use(qualified)
    assert code in _codes(imp + use.format(expr=expr))


def _embedding_clients() -> list[tuple[str, str]]:
    out = [(qn, e["tag"]) for e in catalogs.entries("embeddings", "client") for qn in catalogs.entry_names(e)]
    for e in catalogs.entries("embeddings", "family"):
        out += [(f"{p}.{c}", e["tag"]) for p in e["packages"][:2] for c in e["classes"][:3]]
    return _sample(out, 20)


_PER_ITEM = {
    "openai": "CLIENT.embeddings.create(input=t, model='m').data[0].embedding",
    "cohere": "CLIENT.embed(texts=[t], model='m')",
    "lc_embeddings": "CLIENT.embed_query(t)",
    "lc_symmetric": "CLIENT.embed_query(t)",
}


@pytest.mark.parametrize(("qualified", "tag"), _embedding_clients())
def test_embeddings_client_per_item_request_is_reported(qualified, tag):
    imp, expr = _use(qualified)
    source = f"{imp}\nCLIENT = {expr}()\n\n\ndef index(texts):\n    return [{_PER_ITEM[tag]} for t in texts]\n"
    assert "PFL202" in _codes(source)


def _driver_constructors() -> list[tuple[str, str]]:
    round_trips = {k["name"]: k["round_trips"][0] for k in catalogs.entries("databases", "kind") if k["round_trips"]}
    out = []
    for entry in catalogs.entries("databases", "driver"):
        for qn, kind in entry.get("constructors", {}).items():
            if kind in round_trips:
                out.append((qn, round_trips[kind]))
    return _sample(out, 20)


@pytest.mark.parametrize(("qualified", "method"), _driver_constructors())
def test_databases_driver_round_trip_per_item_is_reported(qualified, method):
    imp, expr = _use(qualified)
    if method in {"execute", "fetch", "fetchrow", "fetchval", "scalar", "scalars"}:
        call = f"DB.{method}('SELECT name FROM users WHERE id = %s', (i,))"
    else:
        call = f"DB.{method}(ids=[i])"
    source = f"{imp}\nDB = {expr}('dsn')\n\n\ndef names(ids):\n    out = []\n    for i in ids:\n        out.append({call})\n    return out\n"
    assert "PFL203" in _codes(source)


@pytest.mark.parametrize("qualified", _sample(catalogs.names("databases", "redis_client")))
def test_databases_redis_client_commands_in_loop_are_reported(qualified):
    imp, expr = _use(qualified)
    source = f"{imp}\nR = {expr}('redis://')\n\n\ndef load(keys):\n    return [R.get(k) for k in keys]\n"
    assert "PFL204" in _codes(source)


@pytest.mark.parametrize("qualified", _sample(catalogs.names("blocking", "call"), 20))
def test_blocking_call_in_async_def_is_reported(qualified):
    imp, expr = _use(qualified)
    source = f"{imp}\n\nasync def handler(arg):\n    return {expr}(arg)\n"
    assert "PFL303" in _codes(source)


def _in_process_constructors() -> list[str]:
    kinds = {k["name"] for k in catalogs.entries("databases", "kind") if k.get("in_process")}
    return [qn for e in catalogs.entries("databases", "driver") for qn, kind in e.get("constructors", {}).items() if kind in kinds]


@pytest.mark.parametrize("qualified", _in_process_constructors())
def test_databases_in_process_driver_query_per_item_is_not_reported(qualified):
    imp, expr = _use(qualified)
    source = (
        f"{imp}\nDB = {expr}('app.db')\n\n\ndef names(ids):\n    out = []\n    for i in ids:\n"
        "        out.append(DB.execute('SELECT name FROM users WHERE id = ?', (i,)))\n    return out\n"
    )
    assert "PFL203" not in _codes(source)


def _embedding_methods() -> list[tuple[str, str, bool]]:
    """(annotation naming a receiver of the method's tags, method, one_item) per ``[[method]]`` entry."""
    annotations = {e["tag"]: catalogs.entry_names(e)[0] for e in catalogs.entries("embeddings", "annotation")}
    out = []
    for entry in catalogs.entries("embeddings", "method"):
        tag = next(t for t in entry["tags"] if t in annotations)
        out.append((annotations[tag], entry["name"], bool(entry.get("one_item"))))
    return out


@pytest.mark.parametrize(("annotation", "method", "one_item"), _embedding_methods())
def test_embeddings_method_per_item_is_reported(annotation, method, one_item):
    module, _, cls = annotation.rpartition(".")
    arg = "[t]" if one_item else "t"
    source = f"from {module} import {cls}\n\n\ndef index(texts, model: {cls}):\n    return [model.{method}({arg}) for t in texts]\n"
    assert "PFL202" in _codes(source)
