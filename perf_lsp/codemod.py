"""Small libcst helpers shared by the rules' codemods."""

from __future__ import annotations

from collections.abc import Mapping

import libcst as cst


class _Replace(cst.CSTTransformer):
    def __init__(self, replacements: Mapping[cst.CSTNode, cst.CSTNode | cst.RemovalSentinel | cst.FlattenSentinel]) -> None:
        super().__init__()
        self.replacements = replacements

    def on_leave(self, original_node, updated_node):
        replacement = self.replacements.get(original_node)
        if replacement is not None:
            return replacement
        return updated_node


def replace_nodes(
    module: cst.Module,
    replacements: Mapping[cst.CSTNode, cst.CSTNode | cst.RemovalSentinel | cst.FlattenSentinel],
) -> cst.Module:
    """A copy of ``module`` with each key node (matched by identity) replaced by its value.

    A value may be ``cst.RemoveFromParent()`` or a ``cst.FlattenSentinel`` of statements.
    Replacements are taken as given: a replaced node's children are not visited again.
    """
    return module.visit(_Replace(replacements))


def replace_node(module: cst.Module, target: cst.CSTNode, replacement: cst.CSTNode) -> cst.Module:
    """A copy of ``module`` with the node ``target`` (by identity) replaced by ``replacement``."""
    return replace_nodes(module, {target: replacement})
