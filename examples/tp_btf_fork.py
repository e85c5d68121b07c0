"""tp_btf: BTF-typed tracepoint arguments, read with direct loads (ctx.parent, ctx.child)."""
import os
from pybpf_dsl import load, tp_btf
from pybpf_dsl.maps import ArrayMap
from pybpf_dsl.types import u64

forks = ArrayMap[u64](max_entries=2)

@tp_btf("sched_process_fork")
def on_fork(ctx) -> int:
    if ctx.parent.tgid == forks[0]:
        forks[1] = ctx.child.pid
    return 0

with load(on_fork) as prog:
    prog["forks"][0] = os.getpid()
    child = os.fork()
    if child == 0:
        os._exit(0)
    os.waitpid(child, 0)
    print("forked", prog["forks"][1].value, "expected", child)
