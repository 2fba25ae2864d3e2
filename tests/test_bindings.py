"""The one notion of bound names (perf_lsp.analysis.bindings) the rules share."""

from __future__ import annotations

import textwrap

import libcst as cst

from perf_lsp.analysis.bindings import binding_counts, bound_names, changed_names


def body(source: str) -> cst.CSTNode:
    return cst.parse_module(textwrap.dedent(source).lstrip("\n")).body[0].body


def test_binding_counts_count_each_binding_in_the_blocks_own_scope():
    block = body(
        """
        for item in items:
            x = item
            x += 1
            a, (b, *c) = pair
            with open(p) as fh:
                pass
            def helper():
                y = 1
            squares = [z * z for z in item]
        """
    )
    counts = binding_counts(block)
    assert counts == {"x": 2, "a": 1, "b": 1, "c": 1, "fh": 1, "helper": 1, "squares": 1}
    assert "y" not in bound_names(block) and "z" not in bound_names(block)


def test_bound_names_include_a_walrus_in_a_comprehension():
    block = body(
        """
        if True:
            found = [m for line in lines if (m := match(line))]
        """
    )
    assert bound_names(block) == {"found", "m"}


def test_changed_names_include_the_names_an_attribute_or_item_store_mentions():
    stmts = [s.body[0] if isinstance(s, cst.SimpleStatementLine) else s for s in cst.parse_module("a.x = 1\nd[k] = v\nglobal g\nn = 2\n").body]
    assert [changed_names(s) for s in stmts] == [{"a", "x"}, {"d", "k"}, {"g"}, {"n"}]


def test_function_summary_facts_of_the_functions_own_code():
    import ast

    from perf_lsp.analysis.module import build_module_context
    from perf_lsp.analysis.semantic import SemanticModel
    from perf_lsp.analysis.summaries import function_summary

    text = textwrap.dedent(
        """
        import aiohttp

        async def fetch(urls, client: aiohttp.ClientSession):
            global SEEN
            a, b = 1, 2
            async with aiohttp.ClientSession() as session:
                for url in urls:
                    await session.get(url)

            def inner():
                yield 1
                c = 3

        def gen():
            yield 1
        """
    ).lstrip("\n")
    ctx = SemanticModel(cst.parse_module(text), build_module_context([(s, 1) for s in ast.parse(text).body]), text)
    fetch, gen = ctx.module.body[1], ctx.module.body[2]
    summary = function_summary(ctx, fetch)
    assert summary is function_summary(ctx, fetch)  # one per function and analysis
    assert (summary.awaits, summary.loops, summary.yields) == (True, True, False)
    assert summary.declared == {"SEEN"} and summary.assigned == {"a", "b"}
    assert summary.http_clients == {"client", "session"}
    assert function_summary(ctx, gen).yields and not function_summary(ctx, gen).awaits


def test_function_summary_escapes_follow_locals_to_returns_and_stores():
    import ast

    from perf_lsp.analysis.module import build_module_context
    from perf_lsp.analysis.semantic import SemanticModel
    from perf_lsp.analysis.summaries import function_summary

    text = textwrap.dedent(
        """
        def build(self, key):
            client = make(key)
            wrapped = Wrapper(client)
            self.cache[key] = wrapped
            used = make(key)
            used.ping()
            kept = make(key)
            return kept
        """
    ).lstrip("\n")
    ctx = SemanticModel(cst.parse_module(text), build_module_context([(s, 1) for s in ast.parse(text).body]), text)
    summary = function_summary(ctx, ctx.module.body[0])
    assert [summary.escapes(n) for n in ("client", "wrapped", "used", "kept")] == [True, True, False, True]
