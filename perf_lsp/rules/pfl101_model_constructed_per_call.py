"""PFL101 model-constructed-per-call, and its codemod."""

from __future__ import annotations

from perf_lsp.rules.base import Rule


class ModelConstructedPerCall(Rule):
    """
    ## What it does
    (to be written)
    """

    code = "PFL101"
    name = "model-constructed-per-call"
    message = "(to be written)"
    triggers = r"(?!x)x"
