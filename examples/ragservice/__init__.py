"""A small retrieval-augmented answering service, used to show what perf-lsp finds.

``ingest`` chunks and embeds documents, ``search`` retrieves and reranks them, and
``api`` answers questions asynchronously. The code has the classic performance
mistakes of such services next to correct code that looks similar.
"""
