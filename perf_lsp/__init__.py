"""perf-lsp: finds and fixes performance mistakes in Python services that call models,
vector stores, LLM APIs and databases. A language server, a linter CLI and a codemod
engine sharing one analysis engine (:mod:`perf_lsp.engine`)."""

__version__ = "0.1.0"
