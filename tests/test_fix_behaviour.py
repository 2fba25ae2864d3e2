"""Fixes keep behaviour: programs run before and after ``perf-lsp fix``.

Every rule that has a fix gets at least one program (``PROGRAMS``). Each runs in a fresh
interpreter with the stand-ins of ``tests/standins`` (fake model, SDK, redis, DB-API,
requests packages that count loads, constructions, round trips and log calls), three
times: as written, after the fix with unsafe fixes (``perf-lsp fix --unsafe-fixes``,
every rule selected) and after the safe-only fix. The output and the exception must be
the same; the counters must show the gain (fewer loads, fewer round trips, calls that
overlap instead of one after another, from the call log rather than wall time).

Unsafe fixes get a second kind of test (``test_documented_change_*``): a program where
the change that the rule's "Fix safety" section documents shows, and an assertion that
it is exactly that change and no other.

The last two groups are programs on which a fix once changed behaviour or produced
broken code (a function-local or optional import, arguments a cache cannot key on,
calls that share state, a sleep under a threading lock, where a constant goes, comments
and layout), then programs for failures found by this file itself.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from typing import Callable

import pytest
from fixrun import Run, alt_fixed, diagnostics, fix_offered, fixed, run

from perf_lsp.rules import REGISTRY


@dataclass(frozen=True)
class Program:
    """A program with anti-patterns, the rules whose fixes must change it, and the gain to check.

    ``gain(before, after)`` asserts on the two runs' counters (after = unsafe fixes applied).
    """

    id: str
    codes: tuple[str, ...]
    source: str
    gain: Callable[[Run, Run], None]


def _fewer(counter: str, before_n: int, after_n: int) -> Callable[[Run, Run], None]:
    def check(before: Run, after: Run) -> None:
        assert (before.count(counter), after.count(counter)) == (before_n, after_n), counter

    return check


def _overlap(kind: str) -> Callable[[Run, Run], None]:
    def check(before: Run, after: Run) -> None:
        assert before.overlap.get(kind) == 1, f"{kind} calls already overlapped before the fix: {before.log}"
        assert after.overlap.get(kind, 0) >= 2, f"{kind} calls still one after another: {after.log}"

    return check


def _all(*checks: Callable[[Run, Run], None]) -> Callable[[Run, Run], None]:
    def check(before: Run, after: Run) -> None:
        for c in checks:
            c(before, after)

    return check


PFL101 = """\
from sentence_transformers import SentenceTransformer


def embed(text, name):
    model = SentenceTransformer(name)
    return model.encode(text)


def main():
    for text in ["alpha", "beta", "gamma"]:
        print(text, embed(text, "all-MiniLM-L6-v2").round(4).tolist())
"""

PFL101_LITERAL = """\
from sentence_transformers import CrossEncoder


def rerank(query, passages):
    scorer = CrossEncoder("cross-encoder/ms-marco-MiniLM-L-6-v2", max_length=512)
    scores = scorer.predict([(query, p) for p in passages])
    return sorted(zip(passages, scores.round(4).tolist()), key=lambda pair: pair[1], reverse=True)


def main():
    for q in ["q1", "q2", "q3"]:
        print(rerank(q, ["a", "bb", "ccc"]))
"""

PFL101_PIPELINE = """\
import transformers as tf


def summarize(text, model_name):
    summarizer = tf.pipeline("summarization", model=model_name)
    return summarizer(text)[0]["summary_text"]


def main():
    for text in ["a long text", "another long text"]:
        print(summarize(text, "t5-small"))
"""

PFL102 = """\
from openai import OpenAI


def ask(prompt, key):
    client = OpenAI(api_key=key)
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}])
    return reply.choices[0].message.content


def main():
    for prompt in ["hi", "there", "again"]:
        print(ask(prompt, "sk-test"))
"""

PFL103_REDIS = """\
import json

from redis import Redis


class SessionStore:
    def __init__(self, host):
        self.host = host

    def save(self, session_id, data):
        cache = Redis(host=self.host, port=6379, decode_responses=True)
        cache.set(f"session:{session_id}", json.dumps(data))

    def load(self, session_id):
        cache = Redis(host=self.host, port=6379, decode_responses=True)
        raw = cache.get(f"session:{session_id}")
        return json.loads(raw) if raw else {}


def main():
    store = SessionStore("cache")
    for i in range(3):
        store.save(i, {"n": i})
    for i in range(4):
        print(store.load(i))
"""

PFL103_ENGINE_HTTPX = """\
import httpx
from sqlalchemy import create_engine, text

DATABASE_URL = "postgresql://app@db/app"


def count_documents(collection_id):
    engine = create_engine(DATABASE_URL, pool_pre_ping=True)
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM documents WHERE c = :c"), {"c": collection_id}).scalar_one()


def fetch_status(path):
    client = httpx.Client(base_url="http://svc", timeout=5)
    return client.get(path).json()


def main():
    for i in range(3):
        print(count_documents(i), fetch_status(f"/s/{i}"))
"""

PFL104 = """\
import requests


def fetch_all(base, ids):
    out = []
    for i in ids:
        response = requests.get(f"{base}/item/{i}", timeout=5)
        out.append((response.status_code, response.text))
    return out


def upload(base, docs):
    sent = 0
    while docs:
        doc = docs.pop()
        requests.post(f"{base}/docs", data={"doc": doc}, timeout=5)
        sent += 1
    return sent


def main():
    for row in fetch_all("http://svc", [1, 2, 3, 4]):
        print(row)
    print(upload("http://svc", ["a", "b", "c"]))
"""

PFL201 = """\
from sentence_transformers import SentenceTransformer

model = SentenceTransformer("all-MiniLM-L6-v2")


def embed_all(texts):
    vectors = []
    for text in texts:
        vector = model.encode(text)
        vectors.append(vector.round(4).tolist())
    return vectors


def embed_lengths(texts):
    return [len(model.encode(t).tolist()) for t in texts]


def main():
    texts = ["a", "bb", "ccc", "dddd"]
    print(embed_all(texts))
    print(embed_all(t for t in texts if t != "bb"))
    print(embed_lengths(texts))
"""

PFL202 = """\
from openai import OpenAI

client = OpenAI()


def embed_pages(pages):
    vectors = []
    for page in pages:
        vectors.append(client.embeddings.create(input=page, model="text-embedding-3-small").data[0].embedding)
    return vectors


def embed_titles(titles):
    return [client.embeddings.create(input=t, model="text-embedding-3-small").data[0].embedding for t in titles]


def main():
    print(embed_pages(["p1", "p22", "p333"]))
    print(embed_titles(["t1", "t2"]))
"""

PFL203 = """\
import psycopg2


def store_chunks(cursor, rows):
    for row in rows:
        cursor.execute("INSERT INTO chunks (document_id, position, text) VALUES (%s, %s, %s)", row)


def main():
    conn = psycopg2.connect("dbname=app")
    cur = conn.cursor()
    store_chunks(cur, [("d1", 0, "x"), ("d1", 1, "y"), ("d2", 0, "z")])
    print(cur.fetchall())
"""

PFL301 = """\
import asyncio

from openai import AsyncOpenAI

client = AsyncOpenAI()


async def ask(text):
    reply = await client.chat.completions.create(model="m", messages=[{"role": "user", "content": text}])
    return reply.choices[0].message.content


async def compare(a, b):
    first = await ask(a)
    second = await ask(b)
    return first, second


def main():
    print(asyncio.run(compare("x", "y")))
"""

PFL302 = """\
import asyncio

import httpx


async def grade(client, docs):
    return [await client.get(d) for d in docs]


async def fetch_each(client, paths):
    results = []
    for path in paths:
        results.append(await client.get(path))
    return [r.json() for r in results]


async def run():
    async with httpx.AsyncClient() as client:
        print([r.url for r in await grade(client, ["/x", "/y"])])
        print(await fetch_each(client, ["/a", "/b", "/c"]))


def main():
    asyncio.run(run())
"""

PFL303 = """\
import asyncio
import time

import requests

import probe


async def handler(i):
    probe.event(f"start:sleep:{i}")
    time.sleep(0.02)
    probe.event(f"end:sleep:{i}")
    response = requests.get(f"http://svc/{i}", timeout=0.1)
    return response.text


async def run():
    return await asyncio.gather(handler(1), handler(2))


def main():
    print(asyncio.run(run()))
"""

PFL304 = """\
import asyncio

from sentence_transformers import SentenceTransformer

model = SentenceTransformer("all-MiniLM-L6-v2")


async def embed(text):
    vector = model.encode(text, delay=0.1)
    return vector.round(4).tolist()


async def run():
    return await asyncio.gather(embed("a"), embed("b"))


def main():
    print(asyncio.run(run()))
"""

PFL401 = """\
import re


def words(lines):
    out = []
    for line in lines:
        out.append(re.findall(r"[a-z]+", line, flags=re.I))
        out.append(re.sub(r"\\s+", " ", line))
        out.append(re.compile(r"\\d").search(line) is not None)
    return out


def main():
    print(words(["Hello  World", "foo\\tBar 42", "x", "y"]))
"""

PFL402 = """\
def frame(records):
    body = b""
    for record in records:
        body += bytes(record)
    return body


def frame_marked(records):
    body = b"H:"
    for record in records:
        body += b"<" + record + b">"
    return body


def main():
    print(frame([b"a", b"bc"]), frame_marked([b"x", b"y"]))
"""

PFL403 = """\
import re


class Router:
    def post(self, path):
        return lambda handler: handler


app = Router()


@app.post("/clean")
def clean(text):
    text = re.sub(r"\\s+", " ", text)
    return re.findall(r"[a-z]+", text, flags=re.I)


def main():
    for text in ["Hello  World", "foo\\tBar 42", "x", "y"]:
        print(clean(text))
"""


PFL501 = """\
import math

import numpy as np


def cosine(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def main():
    print(round(cosine([1.0, 2.0, 3.0], [0.5, 1.0, -1.0]), 12), np.__name__)
"""

PFL502 = """\
import probe


class Score:
    def __init__(self, name, value):
        self.name, self.value = name, value

    def __lt__(self, other):
        probe.count("compare")
        return self.value < other.value

    def __eq__(self, other):
        return self.value == other.value

    def __repr__(self):
        return f"{self.name}={self.value}"


def top(all_scores):
    return sorted(all_scores, reverse=True)[:3]


def bottom(all_scores):
    return sorted(all_scores)[:2]


def main():
    scores = [Score(f"s{i}", (i * 37) % 101) for i in range(200)] + [Score("tie", 99)]
    print(top(scores), bottom(scores))
"""

PFL503 = """\
import probe


class Model:
    def __init__(self, name):
        self.name = name

    def __eq__(self, other):
        probe.count("eq")
        return isinstance(other, Model) and other.name == self.name

    def __hash__(self):
        return hash(self.name)


def route(requests, allowed_models):
    allowed = list(allowed_models)
    accepted = []
    for request in requests:
        if request in allowed:
            accepted.append(request.name)
    return accepted


def main():
    allowed = [Model(f"m{i}") for i in range(50)]
    print(route([Model("m49"), Model("x"), Model("m3"), Model("m49")], allowed))
"""

PFL601 = """\
import json

import orjson


def roundtrip(items):
    out = []
    for item in items:
        out.append(json.loads(json.dumps(item).encode()))
    return out


def main():
    print(roundtrip([{"a": 1, "b": [1, 2]}, "s"]), orjson.__name__)
"""

PFL701 = """\
def tag(item, tags=[]):
    tags.append(item)
    return tags


def main():
    print(tag("a", ["x"]), tag("b", []))
"""


PROGRAMS = [
    Program("pfl101_factory", ("PFL101",), PFL101, _fewer("model.load", 3, 1)),
    Program("pfl101_literal_args", ("PFL101",), PFL101_LITERAL, _fewer("model.load", 3, 1)),
    Program("pfl101_pipeline_alias", ("PFL101",), PFL101_PIPELINE, _fewer("model.load", 2, 1)),
    Program("pfl102_client", ("PFL102",), PFL102, _fewer("openai.client", 3, 1)),
    Program("pfl103_redis", ("PFL103",), PFL103_REDIS, _fewer("redis.connection", 7, 1)),
    Program(
        "pfl103_engine_httpx",
        ("PFL103",),
        PFL103_ENGINE_HTTPX,
        _all(_fewer("sqlalchemy.engine", 3, 1), _fewer("httpx.Client", 3, 1), _fewer("db.roundtrip", 3, 3)),
    ),
    Program("pfl104_session", ("PFL104",), PFL104, _all(_fewer("requests.session", 7, 2), _fewer("requests.request", 7, 7))),
    Program("pfl201_batch", ("PFL201",), PFL201, _all(_fewer("model.encode", 11, 3), _fewer("model.encoded_items", 11, 11))),
    Program("pfl202_batch", ("PFL202",), PFL202, _all(_fewer("openai.request", 5, 2), _fewer("openai.items", 5, 5))),
    Program("pfl203_executemany", ("PFL203",), PFL203, _fewer("db.roundtrip", 3, 1)),
    Program("pfl301_gather", ("PFL301",), PFL301, _overlap("chat")),
    Program("pfl302_gather", ("PFL302",), PFL302, _overlap("get")),
    Program("pfl303_sleep_and_thread", ("PFL303",), PFL303, _all(_overlap("sleep"), _overlap("http"))),
    Program("pfl304_thread", ("PFL304",), PFL304, _overlap("encode")),
    Program("pfl401_precompile", ("PFL401",), PFL401, _fewer("re.compile", 12, 3)),
    Program("pfl403_precompile", ("PFL403",), PFL403, _fewer("re.compile", 8, 2)),
    Program("pfl402_join", ("PFL402",), PFL402, lambda before, after: None),
    Program("pfl501_numpy", ("PFL501",), PFL501, lambda before, after: None),
    Program("pfl502_heapq", ("PFL502",), PFL502, lambda b, a: (a.count("compare") < b.count("compare") / 2) or pytest.fail(f"compares {b.count('compare')} -> {a.count('compare')}")),
    Program("pfl503_set", ("PFL503",), PFL503, lambda b, a: (a.count("eq") <= 4 < b.count("eq")) or pytest.fail(f"__eq__ calls {b.count('eq')} -> {a.count('eq')}")),
    Program("pfl601_orjson", ("PFL601",), PFL601, lambda before, after: None),
    Program("pfl701_none_default", ("PFL701",), PFL701, lambda before, after: None),
]


def test_every_rule_with_a_fix_has_a_program():
    with_fix = {rule.code for rule in REGISTRY if rule.fix_safety is not None}
    assert with_fix, "no rule with a fix: the registry changed shape"
    covered = {code for p in PROGRAMS for code in p.codes}
    assert with_fix - covered == set()


@pytest.mark.parametrize("program", PROGRAMS, ids=lambda p: p.id)
def test_fix_keeps_output_and_shows_the_gain(program, tmp_path):
    found = {code for code, _ in diagnostics(program.source)}
    assert set(program.codes) <= found, f"the program no longer triggers {program.codes}: {found}"
    unsafe = fixed(program.source, unsafe=True)
    assert unsafe != program.source, "the fix did not change the program"
    compile(unsafe, program.id, "exec")
    before = run(program.source, tmp_path)
    assert before.error is None, before.error
    after = run(unsafe, tmp_path)
    assert (after.out, after.error) == (before.out, before.error)
    program.gain(before, after)
    safe = fixed(program.source, unsafe=False)
    if safe != program.source:
        after_safe = run(safe, tmp_path)
        assert (after_safe.out, after_safe.error) == (before.out, before.error)
    if set(program.codes) <= {"PFL203", "PFL401"}:  # rules whose only fix is safe
        assert safe == unsafe, "a safe rule's fix needed --unsafe-fixes"


# -- documented behaviour changes of the unsafe fixes --------------------------------------

SHARED_MODEL = """\
from sentence_transformers import SentenceTransformer


def embed(text, name, max_len=None):
    model = SentenceTransformer(name)
    if max_len:
        model.max_seq_length = max_len
    print(text, getattr(model, "max_seq_length", "default"))
    return model.encode(text)


def main():
    embed("a", "m", max_len=8)
    embed("b", "m")
    embed("c", "other")
"""


def test_documented_change_pfl101_one_shared_instance_per_arguments(tmp_path):
    before = run(SHARED_MODEL, tmp_path)
    after = run(fixed(SHARED_MODEL), tmp_path)
    assert before.out == "a 8\nb default\nc default\n"
    # the same arguments now give the same instance: what one caller set, the next one sees
    assert after.out == "a 8\nb 8\nc default\n"


LOAD_AT_IMPORT = """\
import probe
from sentence_transformers import CrossEncoder


def rerank(query, passages):
    scorer = CrossEncoder("cross-encoder/ms-marco-MiniLM-L-6-v2", max_length=512)
    return scorer.predict([(query, p) for p in passages]).round(4).tolist()


def main():
    print("loaded before the first call:", probe.COUNTS["model.load"])
    print(rerank("q", ["a", "b"]), rerank("r", ["c"]))
"""


def test_documented_change_pfl101_alternative_loads_at_import(tmp_path):
    before = run(LOAD_AT_IMPORT, tmp_path)
    after = run(alt_fixed(LOAD_AT_IMPORT, "PFL101"), tmp_path)
    assert before.out.splitlines()[0] == "loaded before the first call: 0"
    assert after.out.splitlines()[0] == "loaded before the first call: 1"
    assert after.out.splitlines()[1:] == before.out.splitlines()[1:]
    assert (before.count("model.load"), after.count("model.load")) == (2, 1)


ENV_KEY = """\
import os

from openai import OpenAI


def key_in_use():
    client = OpenAI()
    return client.api_key


def main():
    os.environ["OPENAI_API_KEY"] = "k1"
    first = key_in_use()
    os.environ["OPENAI_API_KEY"] = "k2"
    print(first, key_in_use())
"""


def test_documented_change_pfl102_environment_read_once(tmp_path):
    before = run(ENV_KEY, tmp_path)
    after = run(fixed(ENV_KEY), tmp_path)
    assert before.out == "k1 k2\n"
    assert after.out == "k1 k1\n"


SESSION_CLOSED = """\
import requests


def fetch(ids):
    out = []
    for i in ids:
        out.append(requests.get(f"http://svc/{i}", timeout=5).text)
    return out


def main():
    import probe
    print(fetch([1, 2]))
    print(sorted(set(e for e in probe.LOG if e.startswith("send:"))))
"""


def test_documented_change_pfl104_one_session_for_the_loop(tmp_path):
    before = run(SESSION_CLOSED, tmp_path)
    after = run(fixed(SESSION_CLOSED), tmp_path)
    assert before.out.splitlines()[0] == after.out.splitlines()[0]
    assert before.out.splitlines()[1] == "['send:1', 'send:2']"  # one throwaway session per request
    assert after.out.splitlines()[1] == "['send:1']"  # one session shared by the iterations
    assert after.count("requests.session") == 1


EARLY_BREAK = """\
import probe
from sentence_transformers import SentenceTransformer

model = SentenceTransformer("m")


def until_long(texts):
    found = []
    for text in texts:
        vector = model.encode(text)
        probe.event("visit:" + text)
        found.append(vector.round(3).tolist())
        if len(text) > 1:
            break
    return found


def main():
    print(until_long(iter(["a", "bb", "ccc"])))
"""


def test_documented_change_pfl201_encodes_every_item_before_the_loop_body(tmp_path):
    before = run(EARLY_BREAK, tmp_path)
    after = run(fixed(EARLY_BREAK), tmp_path)
    assert before.out == after.out  # same rows in the same order (the iterator is copied into a list)
    order = lambda r: [e.split(":")[0] + ":" + e.split(":")[1] if e.startswith(("start", "end")) else e for e in r.log if e != "imported"]
    assert order(before) == ["start:encode", "end:encode", "visit:a", "start:encode", "end:encode", "visit:bb"]
    assert order(after) == ["start:encode", "end:encode", "visit:a", "visit:bb"]
    # items after the early break are encoded too
    assert (before.count("model.encoded_items"), after.count("model.encoded_items")) == (2, 3)


EMPTY_INPUT = """\
from openai import OpenAI

client = OpenAI()


def embed(texts):
    return [client.embeddings.create(input=t, model="m").data[0].embedding for t in texts]


def main():
    import probe
    print(embed([]), probe.COUNTS["openai.request"])
"""


def test_documented_change_pfl202_empty_list_is_one_request(tmp_path):
    before = run(EMPTY_INPUT, tmp_path)
    after = run(fixed(EMPTY_INPUT), tmp_path)
    assert before.out == "[] 0\n"
    assert after.out == "[] 1\n"  # the stand-in answers; OpenAI rejects an empty input list (documented)


FAILING_SECOND = """\
import asyncio

from openai import AsyncOpenAI

client = AsyncOpenAI()
DONE = []


async def step(text):
    reply = await client.chat.completions.create(model="m", messages=[{"role": "user", "content": text}])
    if text == "bad":
        raise ValueError(text)
    DONE.append(text)
    return reply.choices[0].message.content


async def flow():
    first = None
    try:
        first = await step("good")
        second = await step("bad")
    except ValueError as exc:
        return f"failed {exc}, first={first}"
    return first, second


def main():
    print(asyncio.run(flow()), DONE)
"""


def test_documented_change_pfl301_no_target_assigned_on_failure(tmp_path):
    before = run(FAILING_SECOND, tmp_path)
    after = run(fixed(FAILING_SECOND), tmp_path)
    assert before.out == "failed bad, first=answer to good ['good']\n"
    assert after.out == "failed bad, first=None ['good']\n"


RESULTS_ON_FAILURE = """\
import asyncio

DONE = []


async def work(i):
    await asyncio.sleep(0.001 * (3 - i))
    if i == 1:
        raise ValueError(i)
    DONE.append(i)
    return i


async def flow(items, fetch):  # a function passed in: PFL302 cannot see that it only sleeps
    for i in items:
        await fetch(i)


async def supervise():
    try:
        await flow([0, 1, 2], work)
    except ValueError as exc:
        failure = f"failed {exc}"
    await asyncio.sleep(0.02)
    return failure, sorted(DONE)


def main():
    print(asyncio.run(supervise()))
"""


def test_documented_change_pfl302_other_calls_keep_running(tmp_path):
    before = run(RESULTS_ON_FAILURE, tmp_path)
    after = run(fixed(RESULTS_ON_FAILURE), tmp_path)
    assert before.out == "('failed 1', [0])\n"  # item 2 never started
    assert after.out == "('failed 1', [0, 2])\n"  # gather raised at once, and items 0 and 2 ran on


MAIN_THREAD = """\
import asyncio
import threading

import requests

_real_get = requests.get


def traced_get(*args, **kwargs):
    print("on the event loop's thread:", threading.current_thread() is threading.main_thread())
    return _real_get(*args, **kwargs)


requests.get = traced_get


async def handler():
    response = requests.get("http://svc/x", timeout=5)
    return response.text


def main():
    print(asyncio.run(handler()))
"""


def test_documented_change_pfl303_call_runs_in_a_worker_thread(tmp_path):
    before = run(MAIN_THREAD, tmp_path)
    after = run(fixed(MAIN_THREAD), tmp_path)
    assert fixed(MAIN_THREAD, unsafe=False) == MAIN_THREAD  # to_thread is an unsafe fix
    assert before.out.splitlines() == ["on the event loop's thread: True", "GET http://svc/x None"]
    assert after.out.splitlines() == ["on the event loop's thread: False", "GET http://svc/x None"]


THREAD_ONLY_OBJECT = """\
import asyncio
import threading

from sentence_transformers import SentenceTransformer

model = SentenceTransformer("m")
OWNER = threading.get_ident()
_plain = model.encode


def encode_on_owner_thread(text, **kwargs):
    if threading.get_ident() != OWNER:
        raise RuntimeError("Already borrowed")
    return _plain(text, **kwargs)


model.encode = encode_on_owner_thread


async def embed(text):
    vector = model.encode(text)
    return vector.round(3).tolist()


def main():
    try:
        print(asyncio.run(embed("a")))
    except RuntimeError as exc:
        print("RuntimeError", exc)
"""


def test_documented_change_pfl304_call_runs_in_a_worker_thread(tmp_path):
    before = run(THREAD_ONLY_OBJECT, tmp_path)
    after = run(fixed(THREAD_ONLY_OBJECT), tmp_path)
    assert before.out.startswith("[")
    assert after.out == "RuntimeError Already borrowed\n"  # a model that is not thread-safe now fails


LATE_TYPE_ERROR = """\
def frame_any(chunks):
    body = b"H:"
    for chunk in chunks:
        print("adding", chunk)
        body += chunk
    return body


def main():
    print(frame_any([b"x", b"y"]))
    try:
        frame_any([b"ok", "not bytes", b"late"])
    except TypeError as exc:
        print("TypeError")
"""


def test_documented_change_pfl402_type_error_at_the_join(tmp_path):
    assert fixed(LATE_TYPE_ERROR, unsafe=False) == LATE_TYPE_ERROR  # pieces not proven bytes: unsafe only
    before = run(LATE_TYPE_ERROR, tmp_path)
    after = run(fixed(LATE_TYPE_ERROR), tmp_path)
    lines = before.out.splitlines()
    assert lines[-2:] == ["adding not bytes", "TypeError"]
    # the rest of the loop now runs before the join raises: one more line, nothing else differs
    assert after.out.splitlines() == [*lines[:-1], "adding b'late'", "TypeError"]


NUMPY_EDGES = """\
import numpy as np


def embedding_dot(a, b):
    return sum(x * y for x, y in zip(a, b))


def main():
    dot = embedding_dot
    print(dot([1.0, 2.0], [3.0, 4.0]) == 11.0, type(dot([1.0, 2.0], [3.0, 4.0])).__name__)
    print(dot([], []))
    try:
        print(dot([1.0, 2.0, 3.0], [1.0, 1.0]))
    except ValueError:
        print("ValueError")
"""


def test_documented_change_pfl501_numpy_types_and_edges(tmp_path):
    before = run(NUMPY_EDGES, tmp_path)
    after = run(fixed(NUMPY_EDGES), tmp_path)
    assert before.out == "True float\n0\n3.0\n"
    assert after.out == "True float64\n0.0\nValueError\n"


NEGATIVE_K = """\
def smallest(all_values, k):
    return sorted(all_values)[:k]


def main():
    print(smallest([5, 1, 4], 2), smallest([5, 1, 4], -1))
"""


def test_documented_change_pfl502_negative_k(tmp_path):
    assert fixed(NEGATIVE_K, unsafe=False) == NEGATIVE_K
    before = run(NEGATIVE_K, tmp_path)
    after = run(fixed(NEGATIVE_K), tmp_path)
    assert before.out == "[1, 4] [1, 4]\n"
    assert after.out == "[1, 4] []\n"


UNHASHABLE = """\
def keep(items, allowed_values):
    allowed = list(allowed_values)
    out = []
    for item in items:
        if item in allowed:
            out.append(item)
    return out


def main():
    print(keep(["a", "b"], ["a", "c"]))
    try:
        print(keep(["a"], ["a", ["nested"]]))
    except TypeError:
        print("TypeError")
"""


def test_documented_change_pfl503_unhashable_items_raise(tmp_path):
    before = run(UNHASHABLE, tmp_path)
    after = run(fixed(UNHASHABLE), tmp_path)
    assert before.out == "['a']\n['a']\n"
    assert after.out == "['a']\nTypeError\n"


COMPACT_JSON = """\
import json

import orjson


def encode(items):
    out = []
    for item in items:
        out.append(json.dumps(item))
    return out


def main():
    for text in encode([{"a": 1, "b": [1, 2]}, "é"]):
        print(text)
    print(orjson.__name__)
"""


def test_documented_change_pfl601_compact_utf8_text(tmp_path):
    before = run(COMPACT_JSON, tmp_path)
    after = run(fixed(COMPACT_JSON), tmp_path)
    assert before.out == '{"a": 1, "b": [1, 2]}\n"\\u00e9"\norjson\n'
    assert after.out == '{"a":1,"b":[1,2]}\n"é"\norjson\n'
    assert [json.loads(x) for x in before.out.splitlines()[:2]] == [json.loads(x) for x in after.out.splitlines()[:2]]


SHARED_DEFAULT = """\
def remember(item, seen=[]):
    seen.append(item)
    return list(seen)


def main():
    print(remember("a"), remember("b"))
    try:
        print(remember("c", None))
    except AttributeError:
        print("AttributeError")
"""


def test_documented_change_pfl701_state_no_longer_shared(tmp_path):
    before = run(SHARED_DEFAULT, tmp_path)
    after = run(fixed(SHARED_DEFAULT), tmp_path)
    assert before.out == "['a'] ['a', 'b']\nAttributeError\n"
    assert after.out == "['a'] ['b']\n['c']\n"  # fresh list per call; an explicit None gets the default


# -- programs on which a fix once changed behaviour or broke the code ------------------------

LOCAL_IMPORT = """\
def upload_all(paths, endpoint):
    sent = 0
    for path in paths:
        import requests
        requests.post(endpoint, data={"path": path}, timeout=5)
        sent += 1
    return sent


def main():
    print(upload_all(["a", "b"], "http://svc/up"))
"""


def test_pfl104_function_local_import(tmp_path):
    before = run(LOCAL_IMPORT, tmp_path)
    after = run(fixed(LOCAL_IMPORT), tmp_path)
    assert before.out == "2\n" and before.error is None
    assert (after.out, after.error) == (before.out, before.error)
    assert after.count("requests.session") <= before.count("requests.session")


OPTIONAL_IMPORT = """\
def upload_all(paths, endpoint):
    try:
        import requests
    except ImportError:
        return -1
    sent = 0
    for path in paths:
        requests.post(endpoint, data={"path": path}, timeout=5)
        sent += 1
    return sent


def main():
    print(upload_all(["a", "b"], "http://svc/up"))
"""


def test_pfl104_optional_import(tmp_path):
    after_source = fixed(OPTIONAL_IMPORT)
    with_requests = (run(OPTIONAL_IMPORT, tmp_path), run(after_source, tmp_path))
    assert with_requests[0].out == with_requests[1].out == "2\n"
    without = (run(OPTIONAL_IMPORT, tmp_path, block=("requests",)), run(after_source, tmp_path, block=("requests",)))
    assert without[0].out == "-1\n"
    assert (without[1].out, without[1].error) == ("-1\n", None)


BOUND_DICT = """\
import httpx
from sentence_transformers import SentenceTransformer


def fetch(path, token):
    headers = {"Authorization": token}
    client = httpx.Client(headers=headers)
    return client.get(path).json()


def embed(text, name):
    options = {"device": "cpu"}
    model = SentenceTransformer(name, model_kwargs=options)
    return model.encode(text).round(4).tolist()


def main():
    print(fetch("/a", "t1"), fetch("/b", "t1"))
    print(embed("x", "m"), embed("y", "m"))
"""


def test_cached_factory_with_a_bound_dict_argument(tmp_path):
    before = run(BOUND_DICT, tmp_path)
    after = run(fixed(BOUND_DICT), tmp_path)
    assert before.error is None
    assert (after.out, after.error) == (before.out, before.error)


CALL_ARGUMENT = """\
import httpx
from openai import OpenAI


def ask(prompt):
    client = OpenAI(http_client=httpx.Client())
    reply = client.chat.completions.create(model="m", messages=[{"role": "user", "content": prompt}])
    return reply.choices[0].message.content


def main():
    import probe
    for p in ["a", "b", "c"]:
        print(ask(p))
    print("live clients", probe.live("openai.client"), probe.live("httpx.Client"))
"""


def test_cached_factory_with_a_call_argument_keeps_clients_alive(tmp_path):
    before = run(CALL_ARGUMENT, tmp_path)
    after = run(fixed(CALL_ARGUMENT), tmp_path)
    assert before.out.splitlines()[-1] == "live clients 0 0"
    assert after.out == before.out
    assert after.count("openai.client") <= 1 or after.count("openai.client") == before.count("openai.client")


RELOAD_THEN_PUBLISH = """\
import asyncio

PUBLISHED = []


async def publish(config):
    await asyncio.sleep(0.01)
    PUBLISHED.append(dict(config))
    return config["version"]


class Service:
    def __init__(self):
        self.config = {"version": 1}

    async def reload(self):
        await asyncio.sleep(0.01)
        self.config = {"version": self.config["version"] + 1}
        return True

    async def refresh(self):
        reloaded = await self.reload()
        version = await publish(self.config)
        return reloaded, version


def main():
    print(asyncio.run(Service().refresh()), PUBLISHED)
"""


def test_pfl301_reads_state_the_first_call_changes(tmp_path):
    before = run(RELOAD_THEN_PUBLISH, tmp_path)
    after = run(fixed(RELOAD_THEN_PUBLISH), tmp_path)
    assert before.out == "(True, 2) [{'version': 2}]\n"
    assert after.out == before.out


SHARED_ARGUMENT = """\
import asyncio


async def step(log, x, delay):
    await asyncio.sleep(delay)
    log.append(x)
    return len(log)


async def flow():
    log = []
    a = await step(log, "first", 0.002)
    b = await step(log, "second", 0)
    return a, b, log


def main():
    print(asyncio.run(flow()))
"""


def test_pfl301_calls_sharing_a_mutable_argument(tmp_path):
    before = run(SHARED_ARGUMENT, tmp_path)
    after = run(fixed(SHARED_ARGUMENT), tmp_path)
    assert before.out == "(1, 2, ['first', 'second'])\n"
    assert after.out == before.out


SLEEP_UNDER_LOCK = """\
import asyncio
import threading
import time

LOCK = threading.Lock()


async def write(i, out):
    with LOCK:
        time.sleep(0.01)
        out.append(i)


async def run():
    out = []
    await asyncio.gather(write(1, out), write(2, out))
    return out


def main():
    print(asyncio.run(run()))
"""


def test_pfl303_sleep_under_threading_lock(tmp_path):
    safe = fixed(SLEEP_UNDER_LOCK, unsafe=False)
    before = run(SLEEP_UNDER_LOCK, tmp_path)
    after = run(safe, tmp_path, timeout=3)
    assert before.out == "[1, 2]\n"
    assert (after.out, after.error) == (before.out, before.error)


LATER_IMPORT = """\
def tokens(lines):
    return [re.findall(r"\\w+", line) for line in lines]


import re


def main():
    print(tokens(["a b", "c"]))
"""

INVALID_PATTERN = """\
import re


def parse(lines, strict):
    if not strict:
        return [line.split() for line in lines]
    return [re.findall(r"(unclosed", line) for line in lines]


def main():
    print(parse(["a b"], strict=False))
"""


def test_pfl401_constant_above_later_import(tmp_path):
    before = run(LATER_IMPORT, tmp_path)
    after = run(fixed(LATER_IMPORT, unsafe=False), tmp_path)
    assert before.out == "[['a', 'b'], ['c']]\n"
    assert (after.out, after.error) == (before.out, before.error)


def test_pfl401_invalid_pattern(tmp_path):
    before = run(INVALID_PATTERN, tmp_path)
    after = run(fixed(INVALID_PATTERN, unsafe=False), tmp_path)
    assert before.out == "[['a', 'b']]\n"
    assert (after.out, after.error) == (before.out, before.error)


COMMENTED_REGEX = """\
import re


def clean(lines):
    out = []
    for line in lines:
        out.append(
            re.sub(
                r"\\s+",  # runs of whitespace
                " ",
                line,
            )
        )
    return out


def main():
    print(clean(["a  b", "c\\td"]))
"""

COMMENTED_SORT = """\
def best(all_scores):
    return sorted(
        all_scores,  # (name, score) pairs
        key=lambda s: s[1],
        reverse=True,
    )[:2]


def main():
    print(best([("a", 1), ("b", 3), ("c", 2)]))
"""


def _comments(source: str) -> list[str]:
    return [line.split("#", 1)[1].strip() for line in source.splitlines() if "#" in line]


def test_pfl401_keeps_comments(tmp_path):
    after_source = fixed(COMMENTED_REGEX, unsafe=False)
    assert after_source != COMMENTED_REGEX
    assert run(after_source, tmp_path).out == run(COMMENTED_REGEX, tmp_path).out
    assert _comments(after_source) == _comments(COMMENTED_REGEX)


def test_pfl502_keeps_comments_and_layout(tmp_path):
    after_source = fixed(COMMENTED_SORT, unsafe=True)  # PFL502 is unsafe (ties), see its Fix safety
    assert after_source != COMMENTED_SORT
    assert run(after_source, tmp_path).out == run(COMMENTED_SORT, tmp_path).out
    assert _comments(after_source) == _comments(COMMENTED_SORT)
    assert "        key=lambda s: s[1],\n" in after_source  # one argument per line, as written


NESTED_LOOPS = """\
import requests


def crawl(sites, pages):
    out = []
    for site in sites:
        for page in pages:
            out.append(requests.get(f"http://{site}/{page}", timeout=5).text)
    return out


def main():
    print(crawl(["s1", "s2", "s3"], ["p1", "p2"]))
"""


def test_pfl104_nested_loops_one_session(tmp_path):
    before = run(NESTED_LOOPS, tmp_path)
    after_source = fixed(NESTED_LOOPS)
    after = run(after_source, tmp_path)
    assert after.out == before.out
    assert (before.count("requests.session"), after.count("requests.session")) == (6, 1)


URLOPEN_READ = """\
import urllib.request


async def fetch(url):
    resp = urllib.request.urlopen(url, timeout=5)
    body = resp.read()
    return body
"""


def test_pfl303_no_fix_for_urlopen_whose_response_is_read():
    assert ("PFL303", 5) in diagnostics(URLOPEN_READ)
    assert not fix_offered(URLOPEN_READ, "PFL303", 5)


JSON_DUMPS_LAYOUT = """\
import json

import orjson


def emit(handle, item):
    json.dumps(
        {"id": item, "ok": True}
    )
    handle.append(json.dumps(
        {"id": item}
    ))


def main():
    out = []
    emit(out, 1)
    print(out, orjson.__name__)
"""


def test_pfl601_layout_and_discarded_result(tmp_path):
    after_source = fixed(JSON_DUMPS_LAYOUT)
    assert run(after_source, tmp_path).out == '[\'{"id":1}\'] orjson\n'
    for node in ast.walk(ast.parse(after_source)):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            func = node.value.func
            assert not (isinstance(func, ast.Attribute) and func.attr == "decode"), "a discarded result is decoded"
    assert '        {"id": item, "ok": True}\n' in after_source
    assert '        {"id": item}\n' in after_source


def test_regression_programs_trigger_their_rules():
    """Each reproducer still triggers its rule, so its behaviour test cannot pass because detection vanished.

    RELOAD_THEN_PUBLISH and SHARED_ARGUMENT are the exceptions: the second call reads what the first changes
    (the reloaded config; the list both append to), so the right answer is no PFL301 finding at all (their
    behaviour tests then check that nothing was gathered).
    """
    assert "PFL301" not in {c for c, _ in diagnostics(RELOAD_THEN_PUBLISH)}
    assert "PFL301" not in {c for c, _ in diagnostics(SHARED_ARGUMENT)}
    expected = {
        "LOCAL_IMPORT": (LOCAL_IMPORT, "PFL104"),
        "OPTIONAL_IMPORT": (OPTIONAL_IMPORT, "PFL104"),
        "BOUND_DICT": (BOUND_DICT, "PFL103"),
        "CALL_ARGUMENT": (CALL_ARGUMENT, "PFL102"),
        "SLEEP_UNDER_LOCK": (SLEEP_UNDER_LOCK, "PFL303"),
        "LATER_IMPORT": (LATER_IMPORT, "PFL401"),
        "INVALID_PATTERN": (INVALID_PATTERN, "PFL401"),
        "COMMENTED_REGEX": (COMMENTED_REGEX, "PFL401"),
        "COMMENTED_SORT": (COMMENTED_SORT, "PFL502"),
        "NESTED_LOOPS": (NESTED_LOOPS, "PFL104"),
        "URLOPEN_READ": (URLOPEN_READ, "PFL303"),
        "JSON_DUMPS_LAYOUT": (JSON_DUMPS_LAYOUT, "PFL601"),
    }
    missing = [name for name, (source, code) in expected.items() if code not in {c for c, _ in diagnostics(source)}]
    assert missing == []


# -- failures this file found ----------------------------------------------------------------

ORDER_WITHOUT_EQ = """\
class Score:
    def __init__(self, name, value):
        self.name, self.value = name, value

    def __lt__(self, other):
        return self.value < other.value

    def __repr__(self):
        return self.name


def top(all_scores):
    return sorted(all_scores, reverse=True)[:4]


def main():
    values = [3, 1, 0, 3, 0, 3]
    print(top([Score(name, value) for name, value in zip("abcdef", values)]))
"""


def test_pfl502_safe_fix_leaves_ties_of_items_without_eq_alone(tmp_path):
    """Found by this file: heapq breaks ties through tuple comparison, which asks == first. The fix is unsafe now."""
    after_source = fixed(ORDER_WITHOUT_EQ, unsafe=False)
    assert after_source == ORDER_WITHOUT_EQ
    before = run(ORDER_WITHOUT_EQ, tmp_path)
    assert before.out == "[a, d, f, b]\n"  # sorted() is stable: ties in input order


def test_pfl502_unsafe_fix_changes_only_the_order_of_ties(tmp_path):
    """The documented change: equal items (by <) without __eq__ come out in another order; the same items."""
    after_source = fixed(ORDER_WITHOUT_EQ, unsafe=True)
    assert "heapq.nlargest(4, all_scores)" in after_source
    after = run(after_source, tmp_path).out
    assert after != "[a, d, f, b]\n"
    assert sorted(after.strip("[]\n").split(", ")) == ["a", "b", "d", "f"]
