"""Table throughput on a 100,000-entry hash (u32 -> u64), next to bcc's.

Run as root: ``python3 benchmarks/bench_maps.py [--python PATH] [--quick]``
(``--quick``: 2,000 entries, one round).  ``--python``
measures our side under another interpreter (it must import pybpf_dsl and
cffi), e.g. the system Python bcc runs under: per-entry figures depend on
the interpreter's build (PGO/LTO) as much as on the library.

Both sides run the same statements: items(), clear() and len() of the full
map, update one by one (``t[t.Key(i)] = t.Leaf(i)``), batch update
(items_update_batch), lookups one by one (``t[t.Key(i)]``); two more rows
time our int shorthand (``t[i] = i``, ``t[i]``), which bcc does not accept.
Figures are CPU time (user + sys, all threads) and wall time, each the best
of a few rounds; the time to free the returned list counts, on both sides.
This map is dense, so our items() and len() take the one-pass kernel walk
(pybpf_dsl/runtime/tables/dump.py); the machine is
shared, so compare the medians of several runs.
bcc runs in a child process under the system Python when it is installed
(benchmarks/_bcc.py); otherwise bcc 0.26's figures from issue 2 and
kernel-facts are printed as the labelled reference.
"""

from __future__ import annotations

import argparse
import ctypes as ct
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import _bcc  # noqa: E402
from _repo import QUICK_HELP, child_env  # noqa: E402

from pybpf_dsl.runtime.maps import Map  # noqa: E402
from pybpf_dsl.runtime.mapspec import MapSpec  # noqa: E402
from pybpf_dsl.runtime.tables import table_for  # noqa: E402
from pybpf_dsl.runtime.uapi import MapType  # noqa: E402

N, ROUNDS = 100_000, 7
QUICK_N, QUICK_ROUNDS = 2_000, 1
# bcc 0.26 on these machines (issue 2, kernel-facts), CPU time; other rows were not measured there.
REFERENCE = {"items": 679.0, "clear": 8500.0, "update": 3.0}

# The measuring code, shared by both sides: ``t`` is the table, N and ROUNDS are set.
_MEASURE = r"""
import time
def best(fn, before=None):
    cpu, wall = [], []
    for _ in range(ROUNDS):
        if before: before()
        w0, t0 = time.perf_counter(), time.process_time()
        fn()
        cpu.append(time.process_time() - t0); wall.append(time.perf_counter() - w0)
    return min(cpu), min(wall)
keys = (t.Key * N)(*range(N)); vals = (t.Leaf * N)(*range(N))
def fill(): t.items_update_batch(keys, vals)
def update():
    for i in range(N): t[t.Key(i)] = t.Leaf(i)
def lookup():
    for i in range(N): t[t.Key(i)]
r = {}
for name, fn, before, scale in (("items", t.items, fill, 1e3), ("clear", t.clear, fill, 1e3),
                                ("len", lambda: len(t), fill, 1e3),
                                ("update", update, t.clear, 1e6 / N),
                                ("batch_update", fill, t.clear, 1e3), ("lookup", lookup, fill, 1e6 / N)):
    cpu, wall = best(fn, before)
    r[name] = cpu * scale; r[name + "_wall"] = wall * scale
"""



def _bcc_snippet(n: int, rounds: int) -> str:
    return ("import json\nfrom bcc import BPF\nN, ROUNDS = %d, %d\n"
            "b = BPF(text='BPF_HASH(h, u32, u64, %d);')\nt = b['h']\n" % (n, rounds, n)
            + _MEASURE + "print(json.dumps(r))\n")


def ours(n: int, rounds: int) -> dict:
    with Map.create(MapSpec("bench", MapType.HASH, 4, 8, n)) as m:
        t = table_for(m, ct.c_uint, ct.c_ulonglong)
        scope = {"t": t, "N": n, "ROUNDS": rounds}
        exec(_MEASURE, scope)
        r = scope["r"]
        best = scope["best"]

        def update_int() -> None:
            for i in range(n):
                t[i] = i

        def lookup_int() -> None:
            for i in range(n):
                t[i]
        r["update_int"] = best(update_int, t.clear)[0] * 1e6 / n
        r["lookup_int"] = best(lookup_int, scope["fill"])[0] * 1e6 / n
        return r


def bcc(n: int, rounds: int) -> tuple[dict, str]:
    if _bcc.available():
        try:
            return _bcc.run(_bcc_snippet(n, rounds)), "bcc (measured now)"
        except Exception as e:  # report and fall back to the recorded figures
            print(f"bcc run failed ({e}); using the recorded figures", file=sys.stderr)
    if n != N:  # the ms rows were recorded for N entries: only the per-entry row compares
        return {"update": REFERENCE["update"]}, "bcc 0.26 (recorded in issue 2, not measured now)"
    return REFERENCE, "bcc 0.26 (recorded in issue 2, not measured now)"


def ours_under(python: str, quick: bool) -> dict:
    """Our figures measured by ``python`` running this file with ``--json``."""
    out = subprocess.run([python, os.path.abspath(__file__), "--json"] + ["--quick"] * quick,
                         capture_output=True, text=True, check=True, env=child_env())
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--python", help="measure our side under this interpreter")
    ap.add_argument("--json", action="store_true", help="print our figures as JSON only")
    ap.add_argument("--quick", action="store_true", help=QUICK_HELP)
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root")
    n, rounds = (QUICK_N, QUICK_ROUNDS) if args.quick else (N, ROUNDS)
    if args.json:
        print(json.dumps(ours(n, rounds)))
        return
    mine = ours_under(args.python, args.quick) if args.python else ours(n, rounds)
    theirs, label = bcc(n, rounds)
    rows = [("items()", "items", "ms"), ("items() wall", "items_wall", "ms"),
            ("clear()", "clear", "ms"), ("clear() wall", "clear_wall", "ms"),
            ("len()", "len", "ms"),
            ("update one by one", "update", "us/entry"),
            ("  ... t[i] = i", "update_int", "us/entry"),
            ("items_update_batch()", "batch_update", "ms"),
            ("lookup one by one", "lookup", "us/entry"),
            ("  ... t[i]", "lookup_int", "us/entry")]
    print(f"{n:,}-entry hash, u32 -> u64, CPU time (user+sys) unless 'wall', best of {rounds}; "
          f"ours under {args.python or sys.executable}")
    print(f"{'':22} {'pybpf_dsl':>18} {label:>50}   speed-up")
    for name, key, unit in rows:
        a = mine[key]
        b = theirs.get(key, theirs.get(key.replace("_int", "")))
        if b is None:
            print(f"{name:22} {a:>9,.2f} {unit:<8}")
            continue
        print(f"{name:22} {a:>9,.2f} {unit:<8} {b:>41,.2f} {unit:<8} {b / a:6.1f}x")


if __name__ == "__main__":
    main()
