"""PFL201 encode-in-loop, and its codemod."""

from __future__ import annotations

from perf_lsp.rules.base import Rule


class EncodeInLoop(Rule):
    """
    ## What it does
    (to be written)
    """

    code = "PFL201"
    name = "encode-in-loop"
    message = "(to be written)"
    triggers = r"(?!x)x"
