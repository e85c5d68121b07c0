"""compat_c start-up: process start to an attached one-map tracepoint program.

Runs a fresh Python process per sample that compiles a bcc C program
(BPF_HASH + TRACEPOINT_PROBE), loads it and attaches it, and reports the
median wall time and the peak RSS of the process and its compiler.  Three
situations:

* first   - empty cache: the per-kernel prelude and its base PCH are generated;
* cold    - prelude cached, program never seen: clang runs;
* cached  - the same program again: the object comes from the cache.

bcc 0.26 on this machine (measured separately, see kernel-facts.md): 458 ms
median, 422 ms of it in clang, 130 MiB peak; printed as the reference row.

    sudo python3 benchmarks/bench_compat_startup.py [--runs 7] [--quick]

``--quick``: one run of each.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _repo import QUICK_HELP, REPO, child_env  # noqa: E402

CHILD = r"""
import os, resource, sys, time, json
t0 = float(sys.argv[1])
from compat_c.frontend import compile_c
from pybpf_dsl.runtime.loader import load_object
from pybpf_dsl.runtime.attach.tracepoint import attach_tracepoint
src = '''
BPF_HASH(counts, u32, u64);
TRACEPOINT_PROBE(raw_syscalls, sys_enter) {
    u32 pid = bpf_get_current_pid_tgid() >> 32;
    counts.increment(pid);
    return 0;
}
'''
obj = compile_c(src + '// variant ' + sys.argv[2])
t_obj = time.time()
coll = load_object(obj.data)
link = attach_tracepoint(coll.programs["tracepoint__raw_syscalls__sys_enter"], "raw_syscalls", "sys_enter")
t1 = time.time()
link.close(); coll.close()
rss = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
print(json.dumps({"ms": (t1 - t0) * 1000, "obj_ms": (t_obj - t0) * 1000, "cached": obj.cached, "rss_mib": rss / 1024}))
"""


def sample(variant: str, env: dict[str, str]) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(time.time()), variant],
                         capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--quick", action="store_true", help=QUICK_HELP)
    args = ap.parse_args()
    runs = 1 if args.quick else args.runs
    results = {}
    for package in ("compat_c", "pybpf_dsl"):  # as pip installs them, whatever PYTHONDONTWRITEBYTECODE says
        compileall.compile_dir(os.path.join(REPO, package), quiet=1)
    with tempfile.TemporaryDirectory() as tmp:
        env = child_env(PYBPF_CACHE_DIR=tmp)
        results["first"] = [sample("first", env)]
        results["cold"] = [sample(f"cold-{i}-{time.time()}", env) for i in range(runs)]
        sample("cached", env)
        results["cached"] = [sample("cached", env) for _ in range(runs)]
    for name, rows in results.items():
        ms = statistics.median(r["ms"] for r in rows)
        obj_ms = statistics.median(r["obj_ms"] for r in rows)
        rss = max(r["rss_mib"] for r in rows)
        print(f"{name:7s} object ready {obj_ms:7.1f} ms   attached {ms:7.1f} ms   "
              f"peak RSS {rss:6.1f} MiB   (median of {len(rows)})")
    print("bcc 0.26 (recorded in kernel-facts.md, not measured now): attached 458.0 ms, 422 ms of it in clang,"
          " peak RSS 130.0 MiB")


if __name__ == "__main__":
    main()
