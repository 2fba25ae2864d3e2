"""The language server: the only package that imports pygls and lsprotocol.

- :mod:`perf_lsp.lsp.server`: the pygls server and its handlers (thin: snapshot the
  document, run a feature in the analysis thread, publish or return), debounced
  diagnostics, settings, error containment. ``serve()`` runs it on stdio.
- :mod:`perf_lsp.lsp.features`: what each request computes from a document
  snapshot: diagnostics, hover markdown with the fix's diff, code actions, fix-all.
- :mod:`perf_lsp.lsp.convert`: every conversion between the engine's positions
  (1-based lines, code-point columns) and LSP's (0-based lines, UTF-16 or the
  negotiated encoding), and from engine objects to LSP objects.
"""
