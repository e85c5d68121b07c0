"""raw_tracepoint: count this process's system calls by number for a moment."""
import os
import time
from pybpf_dsl import bpf, load, raw_tracepoint
from pybpf_dsl.maps import ArrayMap, HashMap
from pybpf_dsl.types import u32, u64

me = ArrayMap[u64](max_entries=1)
calls = HashMap[u32, u64](max_entries=512)

@raw_tracepoint("sys_enter")
def on_sys_enter(ctx) -> int:           # ctx.args: the raw tracepoint's u64 arguments
    if bpf.tgid() == me[0]:
        calls[u32(ctx.args[1])] += 1     # args[1] of sys_enter: the syscall number
    return 0

with load(on_sys_enter) as prog:
    prog["me"][0] = os.getpid()
    for _ in range(5):
        os.getppid()
    time.sleep(0.05)
    top = sorted(prog["calls"].items(), key=lambda kv: -kv[1].value)[:5]
    for nr, n in top:
        print(f"syscall {nr.value:4d}: {n.value}")
