"""tracepoint + PerfBuf: report every exec of a child of this process (execsnoop-style)."""
import os
import subprocess
from pybpf_dsl import bpf, load, tracepoint
from pybpf_dsl.maps import ArrayMap, PerfBuf
from pybpf_dsl.types import Array, Struct, char, u32, u64

class Exec(Struct):
    pid: u32
    comm: Array[char, 16]
    filename: Array[char, 64]

parent = ArrayMap[u64](max_entries=1)
execs = PerfBuf[Exec]()

@tracepoint("sched:sched_process_exec")
def on_exec(args) -> int:
    if bpf.current_task().real_parent.tgid == parent[0]:
        ev = Exec()
        ev.pid = bpf.tgid()
        bpf.get_current_comm(ev.comm)
        bpf.probe_read_kernel_str(ev.filename, args.filename)   # a __data_loc string
        execs.output(ev)
    return 0

with load(on_exec) as prog:
    prog["parent"][0] = os.getpid()
    subprocess.run(["/bin/true"])
    for ev in prog.poll(execs, timeout=0.5):
        print("exec", ev.pid, ev.comm.decode(), ev.filename.decode())
