"""The ``perf-lsp`` command: check, fix, rule, rules, serve."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="perf-lsp")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the language server on stdio")
    serve.add_argument("--stdio", action="store_true", help="accepted for editors that pass it; stdio is the only transport")
    args = parser.parse_args(argv)
    if args.command == "serve":
        from perf_lsp.lsp.server import serve as run_server

        run_server()
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
