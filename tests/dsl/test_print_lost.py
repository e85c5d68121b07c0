"""print() records the ring has no room for are counted in the kernel and reported like bcc."""

import struct

from pybpf_dsl import load
from pybpf_dsl.decorators import bpf_function
from pybpf_dsl.types import Array, Struct, u32, u64

from .harness import entry_program


class Big(Struct):
    data: Array[u64, 32]


@bpf_function
def flood(n: u64) -> u32:
    b = Big()
    for j in range(32):
        b.data[j] = n * j
    for i in range(8):
        if i < n:
            print(b.data[0], b, b, b, b)   # ~1 KiB a record
    return 0


def test_dropped_prints_are_counted_and_reported(root, capsys):
    with load(entry_program(flood), cache=False) as prog:
        for _ in range(40):              # 320 records: more than the 256 KiB ring holds
            prog.programs["entry"].test_run(ctx_in=struct.pack("<2Q", 8, 0))
        printed = len(list(prog.printed(timeout=0)))
        lost = prog._prints.lost
        assert printed + lost == 320 and lost > 0
        assert capsys.readouterr().err == f"Possibly lost {lost} samples\n"
        prog.programs["entry"].test_run(ctx_in=struct.pack("<2Q", 1, 0))
        assert len(list(prog.printed(timeout=0))) == 1
        assert prog._prints.lost == lost and capsys.readouterr().err == ""
