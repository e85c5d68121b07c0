"""Start-up of the issue-3 example: process start -> probes attached, cold and cached, and peak RSS.

Run as root: ``python3 benchmarks/bench_dsl_startup.py [runs] [--quick]`` (``--quick``: one run).

Each run is a fresh interpreter executing the example's declarations and
``load(on_openat, on_read)``; the child prints the wall-clock time when
``load()`` returns and the parent subtracts the time it spawned the child
(so interpreter start-up and imports count, as in bcc's figure).  "cold"
runs with an empty object cache (LLVM compiles; only the per-llvmlite-install
entry saying where LLVM's BPF initialisers are is kept from a first run),
"cached" with the cache the previous run filled (no LLVM at all).  The bcc figure is the reference from
the issue, measured on this machine type.

Peak RSS is the child's ``ru_maxrss`` from wait4(): the largest resident set
of any process of the tree doing the work, the child and every descendant
it waited for.  The DSL compiles in an LLVM worker process
(pybpf_dsl/lower/pipeline.py, started by backend.py), which the child waits
for at exit, so the worker's peak is in that figure; the columns "user" and
"llvm" split it (the child's own peak; its children's, after
``backend.shutdown()``).  Both processes are alive while LLVM runs, so the
target is judged on their sum, an upper bound of the machine-wide peak.

Where a cold start's memory goes (python3.11, llvmlite 0.50, measured with
/proc/self/smaps_rollup; MiB resident after each stage):

* user process (38): interpreter 13; pybpf_dsl imports and the
  declarations 19; type-checking 37, of which 13.4 MiB are Python objects of
  the kernel BTF parsed by runtime/btf.py (127k objects); codegen 38.
* LLVM worker (83): ``python -I -S`` 8.5; pipeline.py and typing 10.6;
  ``import llvmlite.binding`` 54.3 (36 MiB of libllvmlite.so pages faulted
  in by ld.so's relocations and ~700 static initialisers, each fault mapping
  64 KiB around it; 5 MiB of llvmlite's Python layer); registering only the
  BPF target 57.6 (all targets: 66.3, and 90.2 at the end); parse + verify
  + O2 72.9; emitting the object 83.0.

So 60 MiB cannot be met with llvmlite: a process that has only imported
llvmlite.binding is already at 54 MiB, and LLVM's optimiser and BPF code
generator fault in 25 MiB more of its code.  Before the worker (everything
in the user's process, emission in a forked child) the peak was ~105 MiB.
What was tried and rejected, with the reason, is in pipeline.py's docstring.

Time: the worker costs ~35 ms more CPU than compiling in the user's process
(a second interpreter, finding BPF's initialisers), spent while the user's
process type-checks.  With a spare CPU that overlap hides it; on a busy
machine (load 3-4 on 2 CPUs, other test suites running) the cold start was
300-340 ms against 220-290 ms in-process, so compare the CPU column there.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(HERE, "..", "examples", "opensnoop_ringbuf.py")
TARGETS = {"cold": (150, 60), "cached": (60, 60)}      # ms, MiB
REFERENCE = {"bcc 0.26": (458, 130), "bpftrace 0.17": (49, 89)}
sys.path.insert(0, HERE)
from _repo import QUICK_HELP, child_env  # noqa: E402

_CHILD_TAIL = '''
import time as _t, json as _j, resource as _r, sys as _s
_prog = load(on_openat, on_read)
_done = _t.time()
_prog.close()
_user = _r.getrusage(_r.RUSAGE_SELF).ru_maxrss
if "pybpf_dsl.lower.backend" in _s.modules:
    _s.modules["pybpf_dsl.lower.backend"].shutdown()
print(_j.dumps({"attached": _done, "user": _user, "llvm": _r.getrusage(_r.RUSAGE_CHILDREN).ru_maxrss}))
'''


def program_file(directory: str) -> str:
    """The example's declarations followed by a timed load() (its own file: the cache keys on it)."""
    with open(EXAMPLE) as f:
        text = f.read()
    head = text[: text.index("with load(")]
    path = os.path.join(directory, "startup_prog.py")
    with open(path, "w") as f:
        f.write(head + _CHILD_TAIL)
    return path


def run_once(path: str, cache_home: str) -> tuple[float, float, float, float, float]:
    """(ms from spawn to attached, peak RSS of the tree, of the user process, of the LLVM worker (MiB),
    CPU ms of the tree: less noisy than wall time on a shared machine)."""
    env = child_env(XDG_CACHE_HOME=cache_home, PYBPF_DSL_CACHE="1")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    start = time.time()
    p = subprocess.Popen([sys.executable, path], stdout=subprocess.PIPE, env=env)
    out = p.stdout.read()
    _pid, status, usage = os.wait4(p.pid, 0)
    if status != 0:
        raise RuntimeError(f"child failed with status {status}")
    res = json.loads(out.decode().strip().splitlines()[-1])
    cpu = (usage.ru_utime + usage.ru_stime) * 1000
    return (res["attached"] - start) * 1000, usage.ru_maxrss / 1024, res["user"] / 1024, res["llvm"] / 1024, cpu


def measure(runs: int) -> dict[str, tuple[float, float, float, float, float]]:
    """Median start-up (ms), the largest peak RSS (MiB: tree, user process, LLVM worker) and
    median CPU ms, cold and cached."""
    results: dict[str, list[tuple[float, float, float, float, float]]] = {"cold": [], "cached": []}
    with tempfile.TemporaryDirectory(prefix="pybpf_bench_") as d:
        path = program_file(d)
        first = os.path.join(d, "first")
        run_once(path, first)           # fills the per-llvmlite-install entries (where LLVM's BPF initialisers are)
        per_install = glob.glob(os.path.join(first, "pybpf_dsl", "llvm-bpf-init-*"))
        for i in range(runs):
            cache_home = os.path.join(d, f"cache{i}")
            os.makedirs(os.path.join(cache_home, "pybpf_dsl"))
            for f in per_install:       # warm, like compat_c's per-kernel prelude; no compiled object
                shutil.copy(f, os.path.join(cache_home, "pybpf_dsl"))
            results["cold"].append(run_once(path, cache_home))
            results["cached"].append(run_once(path, cache_home))
    return {k: (statistics.median(r[0] for r in v), *(max(r[i] for r in v) for i in (1, 2, 3)),
                statistics.median(r[4] for r in v)) for k, v in results.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="?", type=int, default=5, help="fresh processes per situation")
    ap.add_argument("--quick", action="store_true", help=QUICK_HELP)
    args = ap.parse_args()
    runs = 1 if args.quick else args.runs
    if os.geteuid() != 0:
        sys.exit("run as root")
    res = measure(runs)
    print(f"issue-3 example, process start -> attached (median of {runs}), peak RSS (max; shared machine: noisy):")
    for kind, (ms, mib, user, llvm, cpu) in res.items():
        t_ms, t_mib = TARGETS[kind]
        both = user + llvm                   # alive at the same time while LLVM runs
        ok = "ok" if ms <= t_ms and both <= t_mib else "MISSES TARGET"
        print(f"  pybpf_dsl {kind:7s} {ms:7.1f} ms {mib:7.1f} MiB   (user {user:5.1f} + llvm {llvm:5.1f}"
              f" = {both:5.1f} MiB; CPU {cpu:5.1f} ms; target {t_ms} ms, {t_mib} MiB: {ok})")
    for name, (ms, mib) in REFERENCE.items():
        print(f"  {name:17s} {ms:7.1f} ms {mib:7.1f} MiB   (measured on this machine type, issue 3)")


if __name__ == "__main__":
    main()
