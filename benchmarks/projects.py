"""The five real projects of ``docs/real-code-review.md``, fetched from PyPI on first use.

Shared by the scripts in ``benchmarks/`` that run on real code (``real_fix_run.py``,
``bench_lsp.py``, ``compare_findings.py``). Imports nothing from ``perf_lsp``, so a script
can fetch the projects and then run any checkout's code on them.

The cache (``DEFAULT_CACHE``, ``$TMPDIR/perf-lsp-real-code``) holds the wheels
(``wheels/``, from ``pip download --no-deps``) and their unzipped contents
(``src/<dist>-<version>/``).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PROJECTS = [
    ("letta", "0.16.8", "letta"),
    ("khoj", "1.42.10", "khoj"),
    ("txtai", "9.14.0", "txtai"),
    ("open-webui", "0.12.4", "open_webui"),
    ("langchain-community", "0.4.2", "langchain_community"),
]
"""(distribution, version, import package inside the wheel), as in ``docs/real-code-review.md``."""

DEFAULT_CACHE = Path(tempfile.gettempdir()) / "perf-lsp-real-code"


def fetch(cache: Path, dist: str, version: str, package: str) -> Path:
    """The unzipped package folder of ``dist==version``; downloads and unzips the wheel when missing.

    Raises ``subprocess.CalledProcessError`` when pip cannot download it.
    """
    target = cache / "src" / f"{dist}-{version}"
    if not (target / package).is_dir():
        wheels = cache / "wheels"
        wheels.mkdir(parents=True, exist_ok=True)
        found = list(wheels.glob(f"{dist.replace('-', '_')}-{version}-*.whl"))
        if not found:
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "--no-deps", "-q", f"{dist}=={version}", "-d", str(wheels)],
                check=True,
            )
            found = list(wheels.glob(f"{dist.replace('-', '_')}-{version}-*.whl"))
        target.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(found[0]) as wheel:
            wheel.extractall(target)
    return target / package


def project(dist: str) -> tuple[str, str, str]:
    """The ``PROJECTS`` entry of distribution ``dist``; ``KeyError`` when it is not one of them."""
    for entry in PROJECTS:
        if entry[0] == dist:
            return entry
    raise KeyError(dist)
