"""Per-event kernel cost: DSL code against bcc's C (clang -O2 through compat_c) for the same logic.

Run as root: ``python3 benchmarks/bench_dsl_codegen.py [syscalls] [--quick]`` (``--quick``:
2,000 calls).  Caches (compat_c's objects, the LLVM worker's) go to a temporary directory, not
the user's.

Two probes of the issue's kind, each written in the DSL and in bcc C:

* ``count``: a hash-count tracepoint (``counts[tgid] += 1``, bcc's
  ``counts.increment(pid)``) on ``syscalls:sys_enter_getppid``;
* ``hist``: a log2 histogram of a syscall's return value
  (``dist.increment(bpf_log2l(args->ret))``) on ``syscalls:sys_exit_getppid``.

For each: the instructions after the verifier's rewrite (``xlated_prog_len``
/ 8) and the JITed size from BPF_OBJ_GET_INFO_BY_FD, and the mean run time
per event measured by the kernel itself (BPF_ENABLE_STATS: ``run_time_ns`` /
``run_cnt``) while this process makes N getppid() calls.  Both versions of a
probe are attached at the same time, so they see the same events.

What differs: the DSL's ``+= 1`` on a hash map takes the same fast path as
bcc's ``increment`` (one lookup, one add: atomic in the DSL, a plain
read-modify-write in bcc's C), and carries a slow path bcc lacks: when
another CPU inserts the key between the lookup and the insert, it looks the
key up again and adds, where bcc loses that increment.  Those instructions
run only on that race.  ``bpf.log2l`` is a mostly branch-free binary search.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _repo import QUICK_HELP  # noqa: E402  (first: this checkout on sys.path)

from pybpf_dsl import bpf, load, tracepoint  # noqa: E402
from pybpf_dsl.maps import HashMap, Histogram  # noqa: E402
from pybpf_dsl.runtime import syscall  # noqa: E402
from pybpf_dsl.types import u32, u64  # noqa: E402

counts = HashMap[u32, u64](max_entries=10240)
dist = Histogram()


@tracepoint("syscalls:sys_enter_getppid")
def count(args) -> int:
    counts[bpf.tgid()] += 1
    return 0


@tracepoint("syscalls:sys_exit_getppid")
def hist(args) -> int:
    dist.increment(bpf.log2l(args.ret))
    return 0


BCC_TEXT = r"""
BPF_HASH(counts, u32, u64, 10240);
BPF_HISTOGRAM(dist);

TRACEPOINT_PROBE(syscalls, sys_enter_getppid) {
    u32 pid = bpf_get_current_pid_tgid() >> 32;
    counts.increment(pid);
    return 0;
}

TRACEPOINT_PROBE(syscalls, sys_exit_getppid) {
    dist.increment(bpf_log2l(args->ret));
    return 0;
}
"""
BCC_NAMES = {"count": "tracepoint__syscalls__sys_enter_getppid", "hist": "tracepoint__syscalls__sys_exit_getppid"}


def prog_figures(fd: int) -> tuple[int, int, int, int]:
    """(xlated instructions, JITed bytes, run_time_ns, run_cnt) of the program ``fd``."""
    info = syscall.obj_info(fd, "prog")
    return info.xlated_prog_len // 8, info.jited_prog_len, info.run_time_ns, info.run_cnt


def measure(n: int) -> dict[str, dict[str, tuple[int, int, float]]]:
    """{probe: {"dsl"|"bcc C": (instructions, jited bytes, ns per event)}}."""
    from compat_c import BPF
    stats = syscall.enable_stats()
    results: dict[str, dict[str, tuple[int, int, float]]] = {}
    try:
        with load(count, hist, cache=False) as prog, BPF(text=BCC_TEXT) as b:
            fds = {("dsl", k): prog.programs[k].fileno() for k in BCC_NAMES}
            fds.update({("bcc C", k): b.load_func(v, 0).fd for k, v in BCC_NAMES.items()})
            before = {key: prog_figures(fd) for key, fd in fds.items()}
            for _ in range(n):
                os.getppid()
            for (who, probe), fd in fds.items():
                insns, jited, t1, c1 = prog_figures(fd)
                _, _, t0, c0 = before[(who, probe)]
                per_event = (t1 - t0) / (c1 - c0) if c1 > c0 else float("nan")
                results.setdefault(probe, {})[who] = (insns, jited, per_event)
    finally:
        stats.close()
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("syscalls", nargs="?", type=int, default=200_000, help="getppid() calls to make")
    ap.add_argument("--quick", action="store_true", help=QUICK_HELP)
    args = ap.parse_args()
    n = 2_000 if args.quick else args.syscalls
    if os.geteuid() != 0:
        sys.exit("run as root")
    with tempfile.TemporaryDirectory(prefix="pybpf_bench_") as cache:
        os.environ.update(PYBPF_CACHE_DIR=cache, XDG_CACHE_HOME=cache)
        res = measure(n)
    print(f"per-event kernel cost, {n} getppid() calls (BPF_ENABLE_STATS run_time_ns / run_cnt):")
    print(f"  {'probe':<6} {'code':<6} {'insns':>6} {'jited B':>8} {'ns/event':>9}")
    for probe, rows in res.items():
        for who, (insns, jited, ns) in rows.items():
            print(f"  {probe:<6} {who:<6} {insns:>6} {jited:>8} {ns:>9.1f}")


if __name__ == "__main__":
    main()
