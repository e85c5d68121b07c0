"""Programs that used to make LLVM's BPF backend exit the process (run by test_stack_safety in a child).

``python3 _stack_cases.py NAME`` compiles NAME and prints ``OK <insns>`` or
``CompileError <file:line:col> <message>``.
"""

import sys

from pybpf_dsl import bpf, tracepoint
from pybpf_dsl.errors import CompileError
from pybpf_dsl.lower import compile_programs
from pybpf_dsl.maps import HashMap
from pybpf_dsl.types import Array, Struct, u8, u32


class Big(Struct):
    data: Array[u8, 400]


class Huge(Struct):
    data: Array[u8, 600]


class Record(Struct):
    data: Array[u8, 2000]


big = HashMap[u32, Big](max_entries=4)
huge_map = HashMap[u32, Huge](max_entries=4)
records = HashMap[u32, Record](max_entries=4)


@tracepoint("syscalls:sys_enter_getppid")
def zero_fill(ctx) -> int:
    b = Big()
    big[1] = b
    return 0


@tracepoint("syscalls:sys_enter_getppid")
def copy_three(ctx) -> int:
    b = big[1]
    c = b
    c.data[2] = 5
    big[2] = c
    return 0


@tracepoint("syscalls:sys_enter_getppid")
def print_zero(ctx) -> int:
    b = Big()
    print(b)
    return 0


@tracepoint("syscalls:sys_enter_getppid")
def print_map_value(ctx) -> int:
    b = big[1]
    print(b)
    return 0


@tracepoint("syscalls:sys_enter_getppid")
def huge_local(ctx) -> int:
    h = Huge()
    huge_map[1] = h
    return 0


@tracepoint("syscalls:sys_enter_getppid")
def huge_unused_copy(ctx) -> int:
    h = Huge()
    h.data[7] = 1
    g = h
    huge_map[1] = g
    return 0


@tracepoint("syscalls:sys_enter_getppid")
def record_copy(ctx) -> int:
    p = records.lookup(1)
    if p:
        q = records.lookup(2)
        if q:
            q[0] = p[0]
    return 0


class Mid(Struct):
    data: Array[u8, 300]


mids = HashMap[u32, Mid](max_entries=4)


@tracepoint("syscalls:sys_enter_getppid")
def branch_locals(ctx) -> int:
    if bpf.pid() & 1:           # 300 + 300 bytes, never alive together: one slot
        a = Mid()
        a.data[3] = 1
        mids[1] = a
    else:
        b = Mid()
        b.data[5] = 2
        mids[2] = b
    return 0


@tracepoint("syscalls:sys_enter_getppid")
def sequential_locals(ctx) -> int:
    a = mids[1]                 # a's last use is before b's first
    a.data[0] = 7
    mids[2] = a
    b = mids[3]
    b.data[1] = 8
    mids[4] = b
    return 0


@tracepoint("syscalls:sys_enter_getppid")
def get_modify_put(ctx) -> int:
    v = mids[1]                 # straight from the map into v: no 300-byte temporary
    v.data[2] = 5
    mids[2] = v                 # v handed to the helper in place: no copy
    return 0


@tracepoint("syscalls:sys_enter_getppid")
def overlapping_locals(ctx) -> int:
    a = mids[1]
    b = mids[2]                 # a and b alive together: 600 bytes
    b.data[0] = a.data[0]
    mids[3] = a
    mids[4] = b
    return 0


if __name__ == "__main__":
    try:
        obj = compile_programs(globals()[sys.argv[1]])
    except CompileError as exc:
        loc = exc.loc
        print("CompileError", f"{loc.file}:{loc.line}:{loc.col}" if loc else "-", str(exc).splitlines()[0])
    else:
        text = obj.assembly(False)
        print("OK", sum(1 for ln in text.splitlines() if ln.startswith("\t") and not ln.startswith("\t.")))
