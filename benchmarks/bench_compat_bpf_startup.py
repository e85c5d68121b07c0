"""bcc's API start-up: process start to an attached one-map tracepoint program, compat_c vs bcc.

Each sample is a fresh Python process running what a bcc tool runs::

    from compat_c import BPF            # (bcc: from bcc import BPF)
    b = BPF(text=SRC)                   # compile, load, autoload-attach TRACEPOINT_PROBE

and reporting the time from just before the process was started to the
attached program, and the peak RSS of the process and of its compiler
(children).  compat_c runs cold (object never compiled; per-kernel prelude
cached) and cached (same text again); bcc runs in the same invocation when
benchmarks/_bcc.py finds it (it always compiles).  Python bytecode is
compiled first for both (pip and Debian install it that way), so a
PYTHONDONTWRITEBYTECODE environment does not make every sample recompile.
compat_c's cache is a temporary directory (the user's stays untouched), so
its per-kernel prelude is built once, untimed, before the samples.

    sudo python3 benchmarks/bench_compat_bpf_startup.py [--runs 7] [--quick]

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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _bcc  # noqa: E402
from _repo import QUICK_HELP, REPO, child_env  # noqa: E402

# bcc 0.26 on this machine type (kernel-facts.md), printed when bcc is not measured
REFERENCE = {"ms": 458.0, "rss_mib": 130.0}
SRC = r"""
BPF_HASH(counts, u32, u64);
TRACEPOINT_PROBE(raw_syscalls, sys_enter) {
    u32 pid = bpf_get_current_pid_tgid() >> 32;
    counts.increment(pid);
    return 0;
}
"""
CHILD = r"""
import json, resource, sys, time
t0 = float(sys.argv[1])
from {module} import BPF
b = BPF(text=sys.argv[2])
t1 = time.time()
assert b.num_open_tracepoints() == 1
b.cleanup()
rss = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
print(json.dumps({{"ms": (t1 - t0) * 1000, "rss_mib": rss / 1024}}))
"""


def _compat(text: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD.format(module="compat_c"), str(time.time()), text],
                         capture_output=True, text=True, env=child_env(), check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _bcc_sample(text: str) -> dict:
    code = CHILD.format(module="bcc").replace("float(sys.argv[1])", repr(time.time())) \
        .replace("sys.argv[2]", repr(text))
    return _bcc.run(code)


def _report(name: str, rows: list[dict]) -> dict:
    ms = statistics.median(r["ms"] for r in rows)
    rss = max(r["rss_mib"] for r in rows)
    print(f"{name:16s} attached {ms:7.1f} ms   peak RSS {rss:6.1f} MiB   (median of {len(rows)})")
    return {"ms": ms, "rss_mib": rss}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--quick", action="store_true", help=QUICK_HELP)
    args = ap.parse_args()
    if args.quick:
        args.runs = 1
    with tempfile.TemporaryDirectory(prefix="pybpf_bench_") as cache:
        os.environ["PYBPF_CACHE_DIR"] = cache  # compat_c's children inherit it
        measure(args.runs)


def measure(runs: int) -> None:
    """Print compat_c's cold and cached start-up, and bcc's when available, over ``runs`` samples."""
    for package in ("compat_c", "pybpf_dsl"):
        compileall.compile_dir(os.path.join(REPO, package), quiet=1)
    _compat(SRC + "// warm the per-kernel prelude\n")
    print("warm: per-kernel prelude (types, index, base PCH), Python bytecode; cold: object cache empty")
    cold = _report("compat_c cold", [_compat(f"{SRC}// variant {i} {time.time()}\n") for i in range(runs)])
    _compat(SRC)
    cached = _report("compat_c cached", [_compat(SRC) for _ in range(runs)])
    if _bcc.available():
        bcc = _report("bcc", [_bcc_sample(f"{SRC}// variant {i}\n") for i in range(runs)])
    else:
        bcc = REFERENCE
        print(f"{'bcc 0.26':16s} attached {bcc['ms']:7.1f} ms   peak RSS {bcc['rss_mib']:6.1f} MiB"
              "   (recorded in kernel-facts.md, not measured now)")
    print(f"cold vs bcc: {cold['ms'] / bcc['ms']:.2f}x time, {cold['rss_mib'] / bcc['rss_mib']:.2f}x memory;"
          f" cached: {cached['ms']:.0f} ms (target < 100 ms)")


if __name__ == "__main__":
    main()
