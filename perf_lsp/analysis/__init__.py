"""The semantic model under the rules: rule-agnostic facts about a document.

Trees and scopes, bindings, imports and module facts, receiver types, function
summaries, loops, blocking and concurrency facts, chunking and positions. Nothing
here imports :mod:`perf_lsp.rules` or :mod:`perf_lsp.fix`; the layering is checked
by the import-linter contracts in ``pyproject.toml``.
"""
