"""Per-member positions (perf_lsp/rules/positions.py) must equal libcst's whole-chunk positions."""

from __future__ import annotations

import inspect
import textwrap

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, PositionProvider

from perf_lsp.analysis.tree import children
from perf_lsp.rules.positions import ChunkPositions
from perf_lsp.source import split_document

TRICKY = textwrap.dedent(
    '''\
    # a comment before the class
    @decorator(1)
    class Service(Base, metaclass=Meta):
        """Doc."""

        x = 1; y = "é😋"  # two statements on one line

        # a comment before a decorated method
        @staticmethod

        # a comment between decorator and def
        def make(a, b=[
                1, 2]):
            text = """multi
        line""" + "tail"; z = 3
            return a \\
                + b

        @property
        # between decorators
        @cache
        async def f(self):
            async with self.lock:
                await g(\tself)

        class Inner:
            def m(self): return 1

        if TYPE_CHECKING:
            w: int
        # a trailing comment in the body
    '''
)


def _chunk_texts() -> list[str]:
    """Class chunks from the tricky sample, the package's own modules and a few stdlib modules."""
    import argparse
    import dataclasses
    import typing

    import perf_lsp.lsp.server as server
    import perf_lsp.rules.base as base

    sources = [TRICKY, TRICKY.replace("\n", "\r\n")]
    for module in (argparse, dataclasses, typing, base, server):
        sources.append(inspect.getsource(module))
    texts = []
    for source in sources:
        texts += [c.text for c in split_document(source).chunks if c.text.lstrip().startswith(("class", "@"))]
    return texts


def _all_nodes(module: cst.Module, parents: dict) -> list[cst.CSTNode]:
    out, stack = [], [module]
    while stack:
        node = stack.pop()
        out.append(node)
        for child in children(node):
            parents[child] = node
            stack.append(child)
    return out


@pytest.mark.parametrize("text", _chunk_texts())
def test_member_positions_equal_whole_chunk_positions(text):
    module = cst.parse_module(text)
    parents: dict = {}
    nodes = _all_nodes(module, parents)
    expected = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    positions = ChunkPositions(module, text, parents)
    top = module.body[0]
    if isinstance(top, cst.ClassDef) and isinstance(top.body, cst.IndentedBlock):
        assert positions.member_starts(), "a class chunk should be positioned per member"
    # members one by one, in reverse order, so no member is generated because of another
    for node in reversed(nodes):
        if positions._member_of(node) is not None:
            assert positions[node] == expected[node], (type(node).__name__, module.code_for_node(node)[:60])
    assert not positions._whole, "no node inside a member should need the whole chunk"


def test_nodes_outside_members_fall_back_to_the_whole_chunk():
    module = cst.parse_module(TRICKY.split("\n", 1)[1])
    parents: dict = {}
    _all_nodes(module, parents)
    positions = ChunkPositions(module, module.code, parents)
    cls = module.body[0]
    expected = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    assert positions[cls.name] == expected[cls.name]
    assert positions._whole


def test_nodes_asked_before_the_traversal_reached_them_stay_per_member():
    # A rule may ask for a node's range from visit_IndentedBlock, before its parents are recorded.
    module = cst.parse_module(TRICKY.split("\n", 1)[1])
    positions = ChunkPositions(module, module.code, {})
    expected = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    make = module.body[0].body.body[2]
    assign = make.body.body[0].body[0]
    assert positions[assign] == expected[assign]
    assert not positions._whole


# -- function chunks: one statement of a nested block, not the whole function ----------
NESTED = textwrap.dedent(
    '''\
    # a comment before the function
    @decorator(1)

    # between decorator and def
    async def handler(request, *args, b=[
            1, 2]):
        """Doc."""
        x = 1; y = "é😋"  # two statements on one line

        # a comment before the if
        if x:
            for item in request:  # trailing
                # a comment in the loop
                while item:
                    item -= 1
                else:
                    pass
            else:
                z = 2
        # before elif
        elif y:
            with open(x) as f, \\
                    open(y) as g:
                data = f.read()
        elif z: pass
        else:
            try:
                async with lock:
                    await g(\tself)
            except ValueError as exc:
                raise
            # before the second handler
            except (KeyError, TypeError):
                pass
            else:
                done = True
            finally:
                cleanup()

        def inner(a, b=[
                1, 2]):
            text = """multi
        line""" + "tail"; z = 3
            return a \\
                + b

        class Local:
            @property
            # between decorators
            @cache
            def m(self): return 1

            def n(self):
                return [
                    i  # a comment in a list
                    for i in range(3)
                ]

        match command:
            case [x, y]:
                go(x)
            case _:
                # a comment in a case
                stop()
        for i in x: print(i)
        if TYPE_CHECKING: w: int
        return inner
        # a trailing comment in the body
    '''
)

TRY_STAR = textwrap.dedent(
    """\
    def run():
        try:
            work()
        except* ValueError:
            # handled
            log()
        except* (KeyError, TypeError) as group:
            if group:
                raise
    """
)


def _function_chunk_texts() -> list[str]:
    """Function chunks from the nested sample (also with CRLF and tab indentation) and the package's own modules."""
    import perf_lsp.engine as engine
    import perf_lsp.rules.pfl303_blocking_call_in_async as pfl303

    sources = [NESTED, NESTED.replace("\n", "\r\n"), NESTED.replace("    ", "\t"), TRY_STAR]
    for module in (engine, pfl303):
        sources.append(inspect.getsource(module))
    texts = []
    for source in sources:
        for chunk in split_document(source).chunks:
            head = chunk.text.lstrip()
            if head.startswith(("def", "async def", "@", "class")) and chunk.text.count("\n") > 3:
                texts.append(chunk.text)
    return texts


_FUNCTION_CHUNKS = _function_chunk_texts()


@pytest.mark.parametrize("text", _FUNCTION_CHUNKS, ids=[t.split("(", 1)[0].split()[-1][:30] for t in _FUNCTION_CHUNKS])
def test_statement_positions_in_nested_blocks_equal_whole_chunk_positions(text):
    module = cst.parse_module(text)
    parents: dict = {}
    nodes = _all_nodes(module, parents)
    expected = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    positions = ChunkPositions(module, text, parents)
    located = [node for node in nodes if positions._member_of(node) is not None]
    assert located, "a function or class chunk should be positioned per statement of its body"
    # one by one, innermost statements first, so no statement is generated because of another
    for node in reversed(nodes):
        if positions._member_of(node) is not None:
            assert positions[node] == expected[node], (type(node).__name__, module.code_for_node(node)[:60])
    assert not positions._whole, "no node inside a body statement should need the whole chunk"


def test_a_node_deep_in_a_long_function_generates_only_its_own_statement():
    # streaming_chat_response_handler in open-webui: one 2,385-line function; a finding in it
    # regenerated the whole function to learn one position.
    calls = "".join(f"                value = step_{i}(value)\n" for i in range(300))
    text = (
        "async def handler(items):\n"
        "    for item in items:\n"
        "        try:\n"
        "            if item:\n"
        f"{calls}"
        "                found = re.match('a+', item)\n"
        "        except ValueError:\n"
        "            pass\n"
    )
    module = cst.parse_module(text)
    parents: dict = {}
    nodes = _all_nodes(module, parents)
    expected = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    positions = ChunkPositions(module, text, parents)
    line = module.body[0].body.body[0].body.body[0].body.body[0].body.body[-1]
    call = line.body[0].value
    assert positions[call] == expected[call]
    assert not positions._whole
    assert positions._member_of(call) is line
    assert len(positions._computed) < len(nodes) // 20, "only the call's own statement should be generated"


def test_a_statement_whose_code_is_not_the_text_at_its_start_falls_back_to_the_whole_chunk():
    # The generated code of a statement is checked against the chunk's text where ast says it starts;
    # here the text given differs there, so the whole chunk is generated instead.
    module = cst.parse_module("def f():\n    if a:\n        b = 1\n")
    parents: dict = {}
    _all_nodes(module, parents)
    positions = ChunkPositions(module, "def f():\n    if a:\n        c = 2\n", parents)
    expected = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    assign = module.body[0].body.body[0].body.body[0]
    assert positions._member_of(assign) is assign
    assert positions[assign] == expected[assign]
    assert positions._whole
