import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import pytest


@pytest.fixture(autouse=True)
def _private_cli_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own ``perf-lsp`` cache directory: runs in one test never see
    another test's results (nor the checkout's ``.perf-lsp-cache``)."""
    monkeypatch.setenv("PERF_LSP_CACHE_DIR", str(tmp_path_factory.mktemp("perf-lsp-cache")))
