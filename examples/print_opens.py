"""print() in a probe, like bpftrace's printf: the kernel records the values, user space formats them."""
import os
from pybpf_dsl import bpf, load, tracepoint
from pybpf_dsl.maps import ArrayMap
from pybpf_dsl.types import Array, char, u32

me = ArrayMap[u32](max_entries=1)

@tracepoint("syscalls:sys_enter_openat")
def on_openat(args) -> int:
    if bpf.tgid() == me[0]:                     # only this process: the machine is shared
        name = Array[char, 64]()
        bpf.probe_read_user_str(name, args.filename)
        print(f"{bpf.comm()} ({bpf.tgid()}) opens {name} flags={args.flags:#x}")
    return 0

with load(on_openat) as prog:
    prog["me"][0] = os.getpid()
    open("/etc/hostname").close()
    prog.print_events(timeout=0.5)              # prints: python3 (1234) opens /etc/hostname flags=0x80000
