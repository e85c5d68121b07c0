"""Start-up cost of kernel BTF: cold kernel_btf() + find by name, in fresh processes.

Also: building a ctypes type for task_struct, and parsing + loading a small
compiled BPF object (when the ziglang compiler is installed).

    python3 benchmarks/bench_btf.py [--quick]

``--quick``: one run of each.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _repo import QUICK_HELP, child_env  # noqa: E402

COLD = r"""
import json, time
t0 = time.perf_counter()
from pybpf_dsl.runtime.btf import Kind, kernel_btf
t1 = time.perf_counter()
btf = kernel_btf()
t2 = time.perf_counter()
task = btf.find("task_struct", Kind.STRUCT)
task.member("tgid")
t3 = time.perf_counter()
btf.find_all("sched_switch")  # absent as a type: a full search
btf.find_id("btf_trace_sched_switch", Kind.TYPEDEF)
t4 = time.perf_counter()
from pybpf_dsl.ctypes_bridge import ctype_for
ctype_for(btf, task.id)
t5 = time.perf_counter()
print(json.dumps({"import_ms": (t1 - t0) * 1e3, "kernel_btf_ms": (t2 - t1) * 1e3,
                  "find_ms": (t3 - t2) * 1e3, "second_find_ms": (t4 - t3) * 1e3,
                  "ctype_task_struct_ms": (t5 - t4) * 1e3, "types": len(btf)}))
"""

OBJECT = r"""
typedef unsigned int __u32; typedef unsigned long long __u64;
#define SEC(n) __attribute__((section(n), used))
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name
struct { __uint(type, 1); __uint(max_entries, 1024); __type(key, __u32); __type(value, __u64); } counts SEC(".maps");
struct task_struct { int tgid; } __attribute__((preserve_access_index));
static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *) 1;
static struct task_struct *(*bpf_get_current_task_btf)(void) = (void *) 158;
int hits;
SEC("syscall") int count(void *ctx) {
  __u32 k = bpf_get_current_task_btf()->tgid; __u64 *v = bpf_map_lookup_elem(&counts, &k);
  if (v) *v += 1; hits++; return 0;
}
char LICENSE[] SEC("license") = "GPL";
"""

LOAD = r"""
import json, sys, time
t0 = time.perf_counter()
from pybpf_dsl.runtime.elf import parse_object
from pybpf_dsl.runtime.loader import load_object
t1 = time.perf_counter()
data = open(sys.argv[1], "rb").read()
parse_object(data)
t2 = time.perf_counter()
with load_object(data) as coll:
    t3 = time.perf_counter()
print(json.dumps({"import_ms": (t1 - t0) * 1e3, "parse_ms": (t2 - t1) * 1e3,
                  "load_ms": (t3 - t2) * 1e3}))
"""


def _runs(code: str, n: int, *args: str) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for _ in range(n):
        res = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True,
                             env=child_env())
        for k, v in json.loads(res.stdout.splitlines()[-1]).items():
            out.setdefault(k, []).append(v)
    return out


def _show(title: str, figures: dict[str, list[float]]) -> None:
    print(title)
    for k, vals in figures.items():
        if k == "types":
            print(f"  {k:24s} {int(vals[0])}")
        else:
            print(f"  {k:24s} median {statistics.median(vals):7.1f} ms   min {min(vals):7.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help=QUICK_HELP)
    cold_runs, load_runs = (1, 1) if ap.parse_args().quick else (7, 5)
    figures = _runs(COLD, cold_runs)
    _show(f"cold start, fresh process each run ({cold_runs} runs):", figures)
    total = [a + b for a, b in zip(figures["kernel_btf_ms"], figures["find_ms"])]
    print(f"  kernel_btf() + find('task_struct'): median {statistics.median(total):.1f} ms"
          f" (target: well under 50 ms)")
    try:
        import ziglang  # noqa: F401
    except ImportError:
        print("object load: skipped (pip install ziglang to compile the test program)")
        return
    if os.geteuid() != 0:
        print("object load: skipped (needs root)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        src, obj = os.path.join(tmp, "b.c"), os.path.join(tmp, "b.o")
        with open(src, "w") as f:
            f.write(OBJECT)
        subprocess.run([sys.executable, "-m", "ziglang", "cc", "-target", "bpfel-freestanding-none",
                        "-O2", "-g", "-c", src, "-o", obj], check=True,
                       env=child_env(ZIG_GLOBAL_CACHE_DIR=tmp, ZIG_LOCAL_CACHE_DIR=tmp))  # not ~/.cache/zig
        _show(f"parse + load a one-map CO-RE program ({load_runs} runs):", _runs(LOAD, load_runs, obj))


if __name__ == "__main__":
    main()
