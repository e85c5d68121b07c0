"""iter: a BPF task iterator writing one line per thread of this process."""
import os
from pybpf_dsl import bpf, iter, load
from pybpf_dsl.maps import ArrayMap
from pybpf_dsl.types import Array, char, u64

me = ArrayMap[u64](max_entries=1)

@iter("task")
def threads(ctx) -> int:
    task = ctx.task                               # NULL once the walk is over
    if task:
        if task.tgid == me[0]:
            name = task.comm                      # direct loads through a BTF pointer
            bpf.seq_write(ctx.meta.seq, name)
            nl = Array[char, 1]()
            nl[0] = 10
            bpf.seq_write(ctx.meta.seq, nl)
    return 0

with load(threads) as prog:
    prog["me"][0] = os.getpid()
    print(prog.links["threads"].read().replace(b"\0", b" ").decode(), end="")
