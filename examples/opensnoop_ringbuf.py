"""The program of issue 3, as written: count openat() per process, trace it to a ring buffer,
and keep a log2 histogram of read() sizes.  Run as root."""
import os
from pybpf_dsl import tracepoint, load, bpf
from pybpf_dsl.types import u32, u64, char, Array, Struct
from pybpf_dsl.maps import HashMap, Histogram, RingBuf

class OpenEvent(Struct):
    pid: u32
    ppid: u32
    comm: Array[char, 16]
    filename: Array[char, 256]

opens = HashMap[u32, u64](max_entries=10240)
read_sizes = Histogram()                 # log2 buckets, like BPF_HISTOGRAM
events = RingBuf[OpenEvent](pages=64)

@tracepoint("syscalls:sys_enter_openat")
def on_openat(args) -> int:              # args typed from the tracepoint's format
    pid = bpf.tgid()
    opens[pid] += 1                      # atomic; a missing key starts at 0
    ev = events.reserve()
    if ev:
        ev.pid = pid
        ev.ppid = bpf.current_task().real_parent.tgid   # kernel struct read, offsets from BTF
        bpf.get_current_comm(ev.comm)
        bpf.probe_read_user_str(ev.filename, args.filename)
        events.submit(ev)
    return 0

@tracepoint("syscalls:sys_exit_read")
def on_read(args) -> int:
    if args.ret > 0:
        read_sizes.increment(bpf.log2l(args.ret))
    return 0

with load(on_openat, on_read) as prog:
    with open("/etc/hostname") as f:
        f.read()
    for ev in prog.poll(events, timeout=1.0):       # decoded OpenEvent values
        print(ev.pid, ev.ppid, ev.comm.decode(), ev.filename.decode())
    prog["read_sizes"].print_log2_hist("bytes")     # bcc's table API, shared runtime
    print(prog["opens"][os.getpid()])               # plain ints work as keys
