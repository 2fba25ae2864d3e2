"""PFL301 sequential-awaits, and its codemod."""

from __future__ import annotations

from perf_lsp.rules.base import Rule


class SequentialAwaits(Rule):
    """
    ## What it does
    (to be written)
    """

    code = "PFL301"
    name = "sequential-awaits"
    message = "(to be written)"
    triggers = r"(?!x)x"
