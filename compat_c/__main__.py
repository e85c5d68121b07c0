"""``python3 -m compat_c SCRIPT [ARGS...]``: run a bcc tool, unmodified, on compat_c.

The script runs as ``__main__`` with ``sys.argv = [SCRIPT, ARGS...]`` and its
own directory first on ``sys.path``, exactly as ``python3 SCRIPT`` would,
except that ``import bcc`` resolves to :mod:`compat_c.bcc`.  A compat_c
error (missing kernel feature, tracepoint, binary, compile or verifier
error) ends the run with its one-line message and exit status 1.
"""

from __future__ import annotations

import os
import runpy
import sys

from pybpf_dsl.errors import BPFError

from .alias import install

_USAGE = "usage: python3 -m compat_c SCRIPT [ARGS...]   (run a bcc tool on compat_c)"


def main(argv: list[str] | None = None) -> int:
    """Run ``argv[0]`` as a bcc script; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(_USAGE, file=sys.stderr)
        return 2
    script = args[0]
    if not os.path.isfile(script):
        print(f"compat_c: no such script: {script}", file=sys.stderr)
        return 2
    install()
    sys.argv = args
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    try:
        runpy.run_path(script, run_name="__main__")
    except BPFError as e:
        print(f"{os.path.basename(script)}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
