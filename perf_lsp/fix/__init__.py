"""The codemod layer: the fix context, import and definition placement, shared rewrites.

Built on :mod:`perf_lsp.analysis`; rules use it to offer fixes. Nothing here
imports :mod:`perf_lsp.rules`. Every transform is a libcst transform over the
module (LibCST's ``codemod`` package is the model).
"""
