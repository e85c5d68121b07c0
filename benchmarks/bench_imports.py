"""Import time of the main entry points, each in a fresh process.

Start-up is most of what a short bcc-style tool costs, so this measures what
``import X`` costs on its own: for every entry point, ``--runs`` fresh
interpreters each time ``import X`` (``time.perf_counter`` around the
statement) and the median is printed, in two situations:

* ``site``    - a normal interpreter: ``site`` runs first and its ``.pth``
  files (the editable-install finder, ...) have already imported ``re``,
  ``pathlib`` and friends, which the import then gets for free;
* ``no-site`` - ``python3 -S`` with the repository and site-packages on
  ``PYTHONPATH``: everything the entry point needs is paid by the import.

The start-up of the bare interpreter (process start to exit of ``pass``) is
printed too, so the figures add up to a process start-to-ready time.  The
children may write bytecode (``PYTHONDONTWRITEBYTECODE`` is dropped) and one
discarded warm-up run precedes each series, as after a ``pip install``, which
compiles every module: without ``.pyc`` files each edited module is compiled
from source at every start.
``--profile`` adds, per entry point, the heaviest modules by self time from
``python3 -X importtime`` (no-site).

    python3 benchmarks/bench_imports.py [--runs 9] [--profile] [--quick] [MODULE ...]

``--quick``: one run of each.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _repo import QUICK_HELP, REPO  # noqa: E402

ENTRY_POINTS = [
    "pybpf_dsl.runtime.uapi",
    "pybpf_dsl.runtime.syscall",
    "pybpf_dsl.runtime.maps",
    "pybpf_dsl.runtime.tables",
    "pybpf_dsl.runtime.loader",
    "pybpf_dsl.runtime.attach.tracepoint",
    "pybpf_dsl",
    "compat_c.frontend",
]
TIMED_IMPORT = ("import time\n_t = time.perf_counter()\nimport {module}\n"
                "print((time.perf_counter() - _t) * 1000)\n")


def _interpreter(no_site: bool) -> tuple[list[str], dict[str, str]]:
    """The command and environment of a child: this checkout first on the path, bytecode allowed."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    paths = [str(REPO)]
    if no_site:
        paths += [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return [sys.executable, "-S"] if no_site else [sys.executable], env


def import_ms(module: str, no_site: bool, runs: int) -> tuple[float, float]:
    """(median, min) in-process time of ``import module`` over ``runs`` fresh interpreters."""
    argv, env = _interpreter(no_site)
    samples = []
    for _ in range(runs + 1):
        out = subprocess.run(argv + ["-c", TIMED_IMPORT.format(module=module)], env=env,
                             capture_output=True, text=True, check=True)
        samples.append(float(out.stdout.split()[-1]))
    return statistics.median(samples[1:]), min(samples[1:])


def interpreter_ms(no_site: bool, runs: int) -> tuple[float, float]:
    """(median, min) wall time of a process running ``pass``."""
    argv, env = _interpreter(no_site)
    samples = []
    for _ in range(runs + 1):
        t0 = time.perf_counter()
        subprocess.run(argv + ["-c", "pass"], env=env, check=True)
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples[1:]), min(samples[1:])


def _fmt(figures: tuple[float, float]) -> str:
    return f"{figures[0]:6.1f} ms (min {figures[1]:5.1f})"


def heaviest(module: str, top: int = 12) -> list[tuple[int, int, str]]:
    """(self us, cumulative us, name) of the ``top`` heaviest imports by self time (no-site)."""
    argv, env = _interpreter(no_site=True)
    out = subprocess.run(argv + ["-X", "importtime", "-c", f"import {module}"], env=env,
                         capture_output=True, text=True, check=True)
    rows = []
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, name = line[len("import time:"):].split("|")
        rows.append((int(self_us), int(cumulative_us), name.strip()))
    return sorted(rows, reverse=True)[:top]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--profile", action="store_true", help="list the heaviest modules of each import")
    ap.add_argument("--quick", action="store_true", help=QUICK_HELP)
    ap.add_argument("modules", nargs="*", default=ENTRY_POINTS)
    args = ap.parse_args()
    if args.quick:
        args.runs = 1
    print(f"medians of {args.runs} fresh processes (min in parentheses)")
    print(f"{'interpreter start-up (-c pass)':36s} site {_fmt(interpreter_ms(False, args.runs))}   "
          f"no-site {_fmt(interpreter_ms(True, args.runs))}")
    for module in args.modules:
        print(f"{'import ' + module:36s} site {_fmt(import_ms(module, False, args.runs))}   "
              f"no-site {_fmt(import_ms(module, True, args.runs))}", flush=True)
        if args.profile:
            for self_us, cumulative_us, name in heaviest(module):
                print(f"    {self_us / 1000:6.1f} ms self {cumulative_us / 1000:6.1f} ms total  {name}")


if __name__ == "__main__":
    main()
