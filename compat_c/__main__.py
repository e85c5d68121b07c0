"""``python3 -m compat_c SCRIPT [ARGS...]``: run a bcc tool, unmodified, on compat_c.

The script runs as ``__main__`` with ``sys.argv = [SCRIPT, ARGS...]`` and its
own directory first on ``sys.path``, exactly as ``python3 SCRIPT`` would,
except that ``import bcc`` resolves to :mod:`compat_c.bcc`.  A compat_c
error (missing kernel feature, tracepoint, binary, compile or verifier
error) ends the run with its one-line message and exit status 1.

bcc's per-language tools (javacalls, rubyflow, pythongc...) are shell
wrappers that run a Python tool next to them (``$lib/ucalls -l java "$@"``):
that tool runs here instead, with the wrapper's arguments.  Any other script
that is not Python is refused in one line.
"""

from __future__ import annotations

import os
import re
import runpy
import shlex
import sys

from pybpf_dsl.errors import BPFError

from .alias import install

_USAGE = "usage: python3 -m compat_c SCRIPT [ARGS...]   (run a bcc tool on compat_c)"
_WRAPPER_CALL = re.compile(r'\$lib/([\w.+-]+)((?:\s+[\w.=+-]+)*)\s+"\$@"')


def _interpreter(script: str) -> str:
    """The program the script's ``#!`` line names ("" without one: Python, as ``python3 SCRIPT``)."""
    with open(script, "rb") as f:
        first = f.readline(256)
    if not first.startswith(b"#!"):
        return ""
    words = first[2:].decode(errors="replace").split()
    if words and os.path.basename(words[0]) == "env" and len(words) > 1:
        words = words[1:]
    return os.path.basename(words[0]) if words else ""


def _wrapped(script: str) -> list[str] | None:
    """For bcc's language wrappers (``lib=$(dirname $0)`` then ``$lib/TOOL ARGS "$@"``), the
    tool and its arguments; None for any other script."""
    with open(script, errors="replace") as f:
        lines = [ln.strip() for ln in f.read(4096).splitlines()[1:]]
    body = [ln for ln in lines if ln and not ln.startswith("#")]
    if len(body) != 2 or body[0] != "lib=$(dirname $0)":
        return None
    call = _WRAPPER_CALL.fullmatch(body[1])
    if call is None:
        return None
    return [os.path.join(os.path.dirname(os.path.abspath(script)), call.group(1)), *shlex.split(call.group(2))]


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
    interpreter = _interpreter(script)
    if interpreter and "python" not in interpreter:
        tool = _wrapped(script)
        if tool is None or not os.path.isfile(tool[0]):
            print(f"compat_c: {script} is a {interpreter} script, not a bcc Python tool: run it directly",
                  file=sys.stderr)
            return 2
        args = tool + args[1:]
        script = args[0]
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
