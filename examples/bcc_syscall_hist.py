#!/usr/bin/env python3
"""Syscalls per second by name plus a log2 histogram of read sizes, bcc style (run as root).

    python3 examples/bcc_syscall_hist.py [seconds]
"""

import sys
import time

from compat_c import BPF
from compat_c.bcc.syscall import syscall_name

PROGRAM = r"""
BPF_HASH(counts, u32, u64);
BPF_HISTOGRAM(read_bytes);
TRACEPOINT_PROBE(raw_syscalls, sys_enter) {
    u32 nr = args->id;
    counts.increment(nr);
    return 0;
}
TRACEPOINT_PROBE(syscalls, sys_exit_read) {
    if (args->ret > 0)
        read_bytes.increment(bpf_log2l(args->ret));
    return 0;
}
"""

seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 2
with BPF(text=PROGRAM) as b:
    time.sleep(seconds)
    top = sorted(b["counts"].items(), key=lambda kv: -kv[1].value)[:10]
    print("%-22s %10s" % ("SYSCALL", "PER SEC"))
    for k, v in top:
        print("%-22s %10.0f" % (syscall_name(k.value).decode(), v.value / seconds))
    print()
    b["read_bytes"].print_log2_hist("bytes")
