#!/usr/bin/env python3
"""Process exits through a perf buffer, bcc style, on compat_c (run as root).

    python3 examples/bcc_exitsnoop.py        # Ctrl-C to stop

The same text runs under bcc; here kernel types come from BTF, so
task->tgid and friends are read at this kernel's offsets.
"""

from compat_c import BPF

PROGRAM = r"""
#include <linux/sched.h>
struct data_t { u32 pid; u32 ppid; int exit_code; char comm[TASK_COMM_LEN]; };
BPF_PERF_OUTPUT(events);
TRACEPOINT_PROBE(sched, sched_process_exit) {
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    if (task->pid != task->tgid) return 0;          /* whole processes only */
    struct data_t d = {};
    d.pid = task->tgid;
    d.ppid = task->real_parent->tgid;
    d.exit_code = task->exit_code >> 8;
    bpf_get_current_comm(&d.comm, sizeof(d.comm));
    events.perf_submit(args, &d, sizeof(d));
    return 0;
}
"""

b = BPF(text=PROGRAM)
print("%-16s %-7s %-7s %s" % ("COMM", "PID", "PPID", "EXIT"))


def show(cpu, data, size):
    e = b["events"].event(data)
    print("%-16s %-7d %-7d %d" % (e.comm.decode(errors="replace"), e.pid, e.ppid, e.exit_code))


b["events"].open_perf_buffer(show)
try:
    while True:
        b.perf_buffer_poll()
except KeyboardInterrupt:
    pass
