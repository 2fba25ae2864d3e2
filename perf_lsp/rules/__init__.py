"""The rule registry: every rule, once, in code order.

Codes are stable and never reused. To add a rule: one file ``pflNNN_<name>.py``
with one :class:`~perf_lsp.rules.base.Rule` subclass, then one line here.
"""

from __future__ import annotations

from perf_lsp.rules.base import Rule, RuleOption
from perf_lsp.rules.pfl101_model_constructed_per_call import ModelConstructedPerCall
from perf_lsp.rules.pfl102_client_constructed_per_call import ClientConstructedPerCall
from perf_lsp.rules.pfl103_connection_per_call import ConnectionPerCall
from perf_lsp.rules.pfl104_http_request_in_loop import HttpRequestInLoop
from perf_lsp.rules.pfl201_encode_in_loop import EncodeInLoop
from perf_lsp.rules.pfl202_embedding_api_call_in_loop import EmbeddingApiCallInLoop
from perf_lsp.rules.pfl203_query_in_loop import QueryInLoop
from perf_lsp.rules.pfl204_redis_without_pipeline import RedisWithoutPipeline
from perf_lsp.rules.pfl301_sequential_awaits import SequentialAwaits
from perf_lsp.rules.pfl302_await_in_loop import AwaitInLoop
from perf_lsp.rules.pfl303_blocking_call_in_async import BlockingCallInAsync
from perf_lsp.rules.pfl304_cpu_bound_call_in_async import CpuBoundCallInAsync
from perf_lsp.rules.pfl401_regex_not_precompiled import RegexNotPrecompiled
from perf_lsp.rules.pfl402_string_concat_in_loop import StringConcatInLoop
from perf_lsp.rules.pfl403_regex_compiled_per_call import RegexCompiledPerCall
from perf_lsp.rules.pfl501_python_vector_math import PythonVectorMath
from perf_lsp.rules.pfl502_sort_for_top_k import SortForTopK
from perf_lsp.rules.pfl503_membership_in_list_in_loop import MembershipInListInLoop
from perf_lsp.rules.pfl601_stdlib_json_with_orjson import StdlibJsonWithOrjson
from perf_lsp.rules.pfl602_repeated_hashing import RepeatedHashing
from perf_lsp.rules.pfl701_mutable_default_argument import MutableDefaultArgument

REGISTRY: tuple[type[Rule], ...] = (
    ModelConstructedPerCall,
    ClientConstructedPerCall,
    ConnectionPerCall,
    HttpRequestInLoop,
    EncodeInLoop,
    EmbeddingApiCallInLoop,
    QueryInLoop,
    RedisWithoutPipeline,
    SequentialAwaits,
    AwaitInLoop,
    BlockingCallInAsync,
    CpuBoundCallInAsync,
    RegexNotPrecompiled,
    StringConcatInLoop,
    RegexCompiledPerCall,
    PythonVectorMath,
    SortForTopK,
    MembershipInListInLoop,
    StdlibJsonWithOrjson,
    RepeatedHashing,
    MutableDefaultArgument,
)

CODES: frozenset[str] = frozenset(rule.code for rule in REGISTRY)
"""Every rule's code: what settings may select, ignore or give a severity."""

OPTIONS: tuple[RuleOption, ...] = tuple(option for rule in REGISTRY for option in rule.options)
"""Every option the rules declare: what settings read for them."""


def severity_of(code: str, settings) -> str:
    """The severity ``settings`` give ``code`` (``error|warning|information|hint``): the ``severity``
    setting when it names the code, else the rule's ``default_severity`` (``"warning"`` for an unknown code)."""
    rule = by_code(code)
    return settings.severity_of(code, rule.default_severity if rule is not None else "warning")


def by_code(code: str) -> type[Rule] | None:
    """The rule with ``code`` (case-insensitive), or None."""
    code = code.upper()
    for rule in REGISTRY:
        if rule.code == code:
            return rule
    return None
