"""``python -m perf_lsp``: the same as the ``perf-lsp`` command."""

from perf_lsp.cli import main

raise SystemExit(main())
