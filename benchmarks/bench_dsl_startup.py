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
/proc/self/status; MiB resident after each stage):

* user process (21): interpreter and site hooks 13.7; pybpf_dsl imports and
  the declarations 16.4; type-checking and LLVM IR 21.4; loading 21.5.
  (The cache key's hash is BLAKE2b from the interpreter, not hashlib: that
  would load OpenSSL, 3.3 MiB.)
* LLVM worker (32): ``python -I -S`` with pipeline.py 10.7; llvmlite loaded
  30.3, from the lean layout of libllvmlite.so (pybpf_dsl/lower/liblayout.py:
  a copy whose read-only segments are cut where the pages LLVM uses start
  and end, so the kernel's 64 KiB fault-around maps no code nobody runs;
  llvmlite's own file leaves 54.3 at this point); BPF target registered 32.1;
  then the library's pages are let go after each step (19.0) and the
  optimiser (31.6) and the code generator (32.4) each fault in only their own.

Before this (llvmlite's own file, pages kept) the worker peaked at 83 MiB;
with PYBPF_DSL_CACHE=0 there is no lean layout and it peaks at ~55 MiB.
The first compilation on a machine makes the lean layout (~1.5 s, ~150 MiB
of disk per llvmlite install); the cold runs here reuse it, as they reuse
where LLVM's BPF initialisers are.  What was tried and rejected, with the
reason, is in pipeline.py's docstring.

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
        run_once(path, first)           # fills the per-llvmlite-install entries (BPF initialisers, lean layout)
        per_install = glob.glob(os.path.join(first, "pybpf_dsl", "llvm-*"))
        for i in range(runs):
            cache_home = os.path.join(d, f"cache{i}")
            os.makedirs(os.path.join(cache_home, "pybpf_dsl"))
            for entry in per_install:   # warm, like compat_c's per-kernel prelude; no compiled object
                to = os.path.join(cache_home, "pybpf_dsl", os.path.basename(entry))
                if os.path.isdir(entry):
                    shutil.copytree(entry, to, copy_function=os.link)
                else:
                    shutil.copy(entry, to)
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
