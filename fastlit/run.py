"""``python -m fastlit.run script.py [args]`` (or ``-m module [args]``): run a program with fastlit standing in
for Lightning.

The script runs as ``python script.py [args]`` would (as ``__main__``, ``sys.argv`` = ``[script.py, args...]``,
its directory first on ``sys.path``), after ``fastlit.as_lightning()``: every ``import pytorch_lightning``,
``import lightning.pytorch`` or ``import lightning`` in it, or in the libraries it uses, gets fastlit. See
``fastlit/_lightning_alias.py`` for the rules.
"""
from __future__ import annotations

import os
import runpy
import sys
from typing import Optional

USAGE = "usage: python -m fastlit.run script.py [args ...]\n       python -m fastlit.run -m module [args ...]\n"


def main(argv: Optional[list[str]] = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help") or (args[0] == "-m" and len(args) < 2):
        sys.stderr.write(USAGE + "Runs the program with `pytorch_lightning`, `lightning.pytorch` and `lightning` "
                         "resolving to fastlit.\n")
        sys.exit(0 if args and args[0] in ("-h", "--help") else 2)
    import fastlit

    fastlit.as_lightning()
    if args[0] == "-m":
        # like `python -m module`: sys.path[0] stays the working directory; runpy sets sys.argv[0] to its file
        sys.argv = [args[1]] + args[2:]
        runpy.run_module(args[1], run_name="__main__", alter_sys=True)
        return
    script = args[0]
    if not os.path.exists(script):
        sys.stderr.write(f"python -m fastlit.run: can't open file {script!r}: no such file\n")
        sys.exit(2)
    sys.argv = args
    # `python script.py` puts the script's directory first on sys.path (here it would be the working directory)
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
