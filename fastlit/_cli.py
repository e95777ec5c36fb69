"""The ``fastlit`` command line (the console script): ``fastlit bench`` (see ``fastlit bench --help``).

It lives here, not in ``fastlit.cli``, because ``fastlit.cli`` is Lightning's path for ``LightningCLI``.
Run it without installing the script as ``python -m fastlit._cli bench ...``.
"""
from __future__ import annotations

import argparse
import sys
from typing import Optional


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="fastlit", description="fastlit: a Lightning-compatible, faster trainer")
    sub = parser.add_subparsers(dest="command")
    from fastlit.bench import cli as bench_cli

    bench = sub.add_parser("bench", help="measure fastlit's per-step cost against plain PyTorch (and Lightning)")
    bench_cli.add_arguments(bench)
    args = parser.parse_args(argv)
    if args.command == "bench":
        return bench_cli.run(args)
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
