"""The rule registry: every rule, once, in code order.

Codes are stable and never reused. To add a rule: one file ``pflNNN_<name>.py``
with one :class:`~perf_lsp.rules.base.Rule` subclass, then one line here.
"""

from __future__ import annotations

from perf_lsp.rules.base import Rule
from perf_lsp.rules.pfl401_regex_not_precompiled import RegexNotPrecompiled

REGISTRY: tuple[type[Rule], ...] = (
    RegexNotPrecompiled,
)


def by_code(code: str) -> type[Rule] | None:
    """The rule with ``code`` (case-insensitive), or None."""
    code = code.upper()
    for rule in REGISTRY:
        if rule.code == code:
            return rule
    return None
