"""uprobe + uretprobe on libc with typed arguments read from registers."""
import os
from pybpf_dsl import bpf, load, uprobe, uretprobe
from pybpf_dsl.maps import ArrayMap
from pybpf_dsl.types import s64, u64

state = ArrayMap[u64](max_entries=4)

@uprobe("c:kill")
def on_kill(ctx, pid: s64, sig: s64) -> int:      # arguments from di, si
    if bpf.tgid() == state[0]:
        state[1] = sig
    return 0

@uretprobe("c:getpid")
def on_getpid_ret(ctx, ret: s64) -> int:          # the return value from ax
    if bpf.tgid() == state[0]:
        state[2] = ret
        state[3] += 1
    return 0

with load(on_kill, on_getpid_ret) as prog:
    prog["state"][0] = os.getpid()
    os.kill(os.getpid(), 0)
    os.getpid()
    t = prog["state"]
    print("kill signal", t[1].value, "getpid returned", t[2].value, "calls", t[3].value)
