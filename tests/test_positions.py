"""Per-member positions (perf_lsp/rules/positions.py) must equal libcst's whole-chunk positions."""

from __future__ import annotations

import inspect
import textwrap

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, PositionProvider

from perf_lsp.rules.base import children
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

    import perf_lsp.rules.base as base
    import perf_lsp.lsp.server as server

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
