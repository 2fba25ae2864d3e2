"""``python -m perf_lsp``: the same as the ``perf-lsp`` command.

``python -m`` puts the current directory first on ``sys.path``, and both editor
set-ups start the server from the project folder: every module imported from
then on would be looked up in the checked project first (a project's own
``dataclasses.py`` or ``difflib.py`` would run inside perf-lsp, and jedi would
see the project's compiled modules as importable). So the directory goes before
anything else is imported; the project is read and parsed, never imported.
"""

import os
import sys


def _drop_cwd_from_path() -> None:
    """Remove the entry ``python -m`` added for the current directory (``sys.path[0]``).

    Nothing to do with ``python -P`` / ``PYTHONSAFEPATH`` (3.11+), which do not add it.
    An entry the user put on ``PYTHONPATH`` stays.
    """
    if getattr(sys.flags, "safe_path", False) or not sys.path:
        return
    first = sys.path[0]
    if first in ("", "."):
        del sys.path[0]
        return
    try:
        if os.path.realpath(first) == os.path.realpath(os.getcwd()):
            del sys.path[0]
    except OSError:  # the directory was removed: nothing can be imported from it either
        pass


_drop_cwd_from_path()

from perf_lsp.cli import main  # noqa: E402 - only now, with the project off sys.path

raise SystemExit(main())
