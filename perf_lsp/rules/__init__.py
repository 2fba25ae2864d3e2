"""The rule registry: every rule, once, in code order.

Codes are stable and never reused. To add a rule: one file ``pflNNN_<name>.py``
with one :class:`~perf_lsp.rules.base.Rule` subclass, then one line here.
"""

from __future__ import annotations

from perf_lsp.rules.base import Rule
from perf_lsp.rules.pfl101_model_constructed_per_call import ModelConstructedPerCall
from perf_lsp.rules.pfl201_encode_in_loop import EncodeInLoop
from perf_lsp.rules.pfl301_sequential_awaits import SequentialAwaits
from perf_lsp.rules.pfl401_regex_not_precompiled import RegexNotPrecompiled

REGISTRY: tuple[type[Rule], ...] = (
    ModelConstructedPerCall,
    EncodeInLoop,
    SequentialAwaits,
    RegexNotPrecompiled,
)


def by_code(code: str) -> type[Rule] | None:
    """The rule with ``code`` (case-insensitive), or None."""
    code = code.upper()
    for rule in REGISTRY:
        if rule.code == code:
            return rule
    return None
