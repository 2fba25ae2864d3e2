"""Checking one function costs time linear in its size, not quadratic.

A 6,523-line file whose one function has 2,385 lines took 13 s to check and 44-79 s
to fix: rules asked per call site for facts of the whole loop or function around it
(the names a loop body binds, how a function binds a name, what a function does with
its locals), each time walking the function again. Those facts are now computed once
per loop or function and chunk analysis (``RuleContext.memo``).

The measure here is a count of Python function calls (``sys.setprofile``), not a time:
it does not depend on the machine's load. For each shape, a function with ``n`` call
sites and one with ``2n``: linear work doubles (ratio about 2), quadratic work
quadruples (about 3.7 on the code before the change). None of the sites is a finding:
what is measured is the cost every call site pays.
"""

from __future__ import annotations

import sys

import pytest

from perf_lsp.engine import analyze_chunk
from perf_lsp.rules import REGISTRY
from perf_lsp.settings import Settings
from perf_lsp.source import split_document


def loop_sites(n: int) -> str:
    """One loop with ``n`` groups of database, Redis, HTTP and encode calls (PFL104/201/202/203/204: the
    varying loop, per-iteration names, receiver types through local bindings, pacing, shadowed imports)."""
    body = "".join(
        f"        a{i} = cur.execute('SELECT 1')\n"
        f"        b{i} = other.execute(item)\n"
        f"        c{i} = r.get('key')\n"
        f"        d{i} = model.encode('text')\n"
        f"        e{i} = requests.get('https://example.com/ping', timeout=5)\n"
        for i in range(n)
    )
    return (
        "import redis\nimport requests\nr = redis.Redis()\n\n"
        f"def handler(items, cur, other, model):\n    for item in items:\n{body}        print(item)\n"
    )


def async_sites(n: int) -> str:
    """An ``async def`` with ``n`` local clients, nested helpers and loops (PFL302/303/304: receiver
    kinds through local values, nested helpers, local bindings, loops done on purpose)."""
    body = "".join(
        f"    s{i} = make_client()\n    s{i}.get(url)\n"
        f"    def h{i}():\n        return {i}\n    h{i}()\n"
        f"    for x in xs{i}:\n        total{i} = x\n"
        for i in range(n)
    )
    return f"async def handler(url, xs):\n{body}    return 1\n"


def name_sites(n: int) -> str:
    """``n`` membership tests and string appends in loops (PFL402/PFL503: every use of a name in the function)."""
    body = "".join(
        f"    l{i} = (1, 2)\n    t{i} = ''\n    for i in items:\n        if i in l{i}:\n            t{i} += 'x'\n"
        for i in range(n)
    )
    return f"def handler(items):\n{body}    return 1\n"


def _calls(text: str) -> int:
    """Python function calls made by checking ``text`` with every rule."""
    settings = Settings(select=("ALL",))
    split = split_document(text)
    count = 0

    def count_calls(frame, event, arg) -> None:
        nonlocal count
        if event == "call":
            count += 1

    previous = sys.getprofile()
    sys.setprofile(count_calls)
    try:
        results = [analyze_chunk(chunk.text, split.context, settings, REGISTRY) for chunk in split.chunks]
    finally:
        sys.setprofile(previous)
    assert all(r.error is None for r in results)
    assert not any(r.findings for r in results), "the shapes must have no findings: a finding's fix plan is not measured"
    return count


@pytest.mark.parametrize("shape", [loop_sites, async_sites, name_sites], ids=lambda shape: shape.__name__)
def test_checking_a_function_twice_as_long_costs_about_twice_as_much(shape):
    small, large = _calls(shape(15)), _calls(shape(30))
    assert large / small < 2.5, f"{shape.__name__}: {small} calls for n=15, {large} for n=30 (quadratic is ~4x)"


def test_replace_nodes_rebuilds_only_the_ancestors_of_what_it_replaces():
    # A fix in a 2,000-line function used to rebuild (visit and copy) the whole function per fix.
    import libcst as cst

    from perf_lsp.fix.codemod import replace_nodes

    module = cst.parse_module("def f(xs):\n    a = 1\n    for x in xs:\n        b = x  # keep\n    return a\n")
    body = module.body[0].body.body
    loop_line = body[1].body.body[0]
    new = replace_nodes(module, {loop_line.body[0].value: cst.Name("y"), body[2]: cst.RemoveFromParent()})
    assert new.code == "def f(xs):\n    a = 1\n    for x in xs:\n        b = y  # keep\n"
    assert new.body[0].body.body[0] is body[0], "an untouched statement is shared, not rebuilt"
    # a replaced node the quick search does not reach (whitespace) still gets replaced
    ws = body[0].body[0].targets[0].whitespace_before_equal
    spaced = replace_nodes(module, {ws: cst.SimpleWhitespace("  ")})
    assert spaced.code.splitlines()[1] == "    a  = 1"
