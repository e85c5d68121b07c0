"""perf_event: sample this process's user stacks at 199 Hz (get_stackid + StackTrace)."""
import os
import time
from pybpf_dsl import bpf, load, perf_event
from pybpf_dsl.maps import ArrayMap, HashMap, StackTrace
from pybpf_dsl.runtime.uapi import BPF_F_USER_STACK
from pybpf_dsl.types import u32, u64

me = ArrayMap[u64](max_entries=1)
stacks = StackTrace(max_entries=256)
counts = HashMap[u32, u64](max_entries=256)

@perf_event(sample_freq=199)
def on_sample(ctx) -> int:
    if bpf.tgid() == me[0]:
        sid = stacks.get_stackid(BPF_F_USER_STACK)
        if sid >= 0:
            counts[u32(sid)] += 1
    return 0

with load(on_sample) as prog:
    prog["me"][0] = os.getpid()
    end = time.monotonic() + 0.3
    while time.monotonic() < end:
        pass
    for sid, n in sorted(prog["counts"].items(), key=lambda kv: -kv[1].value)[:3]:
        frames = list(prog["stacks"].walk(sid.value))
        print(f"{n.value:4d} samples, {len(frames)} frames, top {frames[0]:#x}")
