"""Reading a whole hash or array map in one kernel pass with ``bpf_for_each_map_elem``.

The kernel's batch lookup copies to user space bucket by bucket: ~170 ns
per entry (almost nothing per empty bucket).  A small SYSCALL program that
walks the map with ``bpf_for_each_map_elem`` and copies every key and value
into one mmapable array value costs ~15 ns per hash bucket, empty or not,
plus ~25 ns per entry and ~0.4 ms to set up (the program and its
destination live for one read); user space then copies the entries found
out of a mapping of that value.  :func:`pays_off` weighs the two with the
entry count the caller expects (a 100,000-entry hash: 5 ms instead of 17;
10 entries in a 1M-slot hash: batch reads, 0.2 ms instead of 20).

Destination layout: ``u64 count``, then ``max_entries`` keys, then
``max_entries`` values, each packed at its own size.  The callback stops
the walk (returns 1) once ``max_entries`` entries are stored.
"""

from __future__ import annotations

import ctypes as ct
import mmap
import struct
from typing import Any

from .. import asm
from ..asm import BPF_ADD, BPF_JEQ, BPF_JGE, BPF_MUL, R0, R1, R2, R3, R4, R6, R7, R9, R10
from ..btf import BTF, BTF_MAGIC, HEADER, Kind
from ..btf_ext import FuncInfo
from ..fd import FD
from ..maps import Map
from ..mapspec import MapSpec
from ..mmap_region import MappedRegion
from ..program import Program, ProgramSpec, load_program
from ..uapi import BPF_F_MMAPABLE, BPF_F_SLEEPABLE, BPF_PSEUDO_FUNC, MapType, ProgType

__all__ = ["dump", "count", "dumpable", "pays_off"]

_TYPES = frozenset({MapType.HASH, MapType.LRU_HASH, MapType.ARRAY})
_MAX_RECORD = 512              # bytes of key + value: longer copies would bloat the program
_MAX_BYTES = 1 << 28           # the verifier's limit on a variable offset into a value is 1 << 29
_HELPER_LOOKUP, _HELPER_FOR_EACH = 1, 164
DATA_START = 8                 # after the u64 count
_PAGE = mmap.PAGESIZE
# The cost model of pays_off(), in ns, measured on a 2-CPU VM (Linux 6.18): only ratios matter.
_BATCH_PER_ENTRY = 170
_WALK_PER_SLOT, _DUMP_PER_ENTRY, _COUNT_PER_ENTRY = 15, 25, 5
_DUMP_SETUP, _COUNT_SETUP, _ALLOC_PER_BYTE = 400_000, 150_000, 0.25


def dumpable(map: Map) -> bool:
    """Whether :func:`dump` and :func:`count` can serve ``map`` at all (its type, and
    records short enough to copy inline)."""
    return (map.type in _TYPES and map.key_size + map.value_size <= _MAX_RECORD
            and DATA_START + map.max_entries * (map.key_size + map.value_size) <= _MAX_BYTES)


def pays_off(map: Map, expected: int, *, copy: bool = True) -> bool:
    """Whether one pass (:func:`dump`, or :func:`count` when not ``copy``) beats batch
    reads of a dumpable ``map`` holding about ``expected`` entries."""
    slots = map.max_entries if map.type == MapType.ARRAY else 1 << max(map.max_entries - 1, 0).bit_length()
    if copy:
        cost = (_DUMP_SETUP + _WALK_PER_SLOT * slots + _DUMP_PER_ENTRY * expected
                + _ALLOC_PER_BYTE * map.max_entries * (map.key_size + map.value_size))
    else:
        cost = _COUNT_SETUP + _WALK_PER_SLOT * slots + _COUNT_PER_ENTRY * expected
    return cost < _BATCH_PER_ENTRY * expected


def dump(map: Map) -> tuple[Any, int]:
    """``(buffer, n)``: the ``n`` entries of ``map`` read in one pass, as a ctypes char
    array holding ``n`` keys and then ``n`` values.

    Raises whatever loading the walker raises (an old kernel, a value with
    fields a program may not read such as a spin lock): callers fall back
    to batch reads then.
    """
    ks, vs, slots = map.key_size, map.value_size, map.max_entries
    size = DATA_START + slots * (ks + vs)
    with Map.create(MapSpec("pybpf_dump", MapType.ARRAY, 4, size, 1, flags=BPF_F_MMAPABLE)) as dest, \
            _load_btf() as btf_fd:
        with _load(_dump_program(map.fileno(), dest.fileno(), slots, ks, vs), btf_fd) as prog:
            prog.test_run()
        # Read through a mapping: only the entries found are copied, and no kernel bounce buffer.
        region = MappedRegion(dest.fileno(), -(-size // _PAGE) * _PAGE, what="mapping the map dump")
        try:
            n = ct.c_uint64.from_address(region.addr).value
            buf = (ct.c_char * (n * (ks + vs)))()
            ct.memmove(buf, region.addr + DATA_START, n * ks)
            ct.memmove(ct.addressof(buf) + n * ks, region.addr + DATA_START + slots * ks, n * vs)
        finally:
            region.close()
    return buf, n


def count(map: Map) -> int:
    """The number of entries of ``map``, counted in one kernel pass (raises as :func:`dump`)."""
    code = _for_each_call(map.fileno()) + asm.mov64_imm(R0, 0) + asm.exit_()
    with _load_btf() as btf_fd, _load(code, btf_fd) as prog:
        return prog.test_run().retval


def _load(code: bytes, btf_fd: FD) -> Program:
    """Load a walker: ``main`` then its callback, ``_MAIN_LEN`` instructions in."""
    spec = ProgramSpec("pybpf_dump", "syscall", ProgType.SYSCALL, code, flags=BPF_F_SLEEPABLE,
                       btf=_BTF, func_info=[FuncInfo(0, _MAIN_ID), FuncInfo(_MAIN_LEN, _CALLBACK_ID)])
    return load_program(spec, btf_fd=btf_fd.fileno())


# ---------------------------------------------------------------- the programs

_MAIN_LEN = 8


def _for_each_call(src_fd: int) -> bytes:
    """``main``: return ``bpf_for_each_map_elem(src, callback, NULL, 0)``, the number of
    entries visited; the callback follows it."""
    return b"".join([asm.ld_map_fd(R1, src_fd),                          # 0, 1
                     asm.ld_imm64(R2, _MAIN_LEN - 3, src=BPF_PSEUDO_FUNC),  # 2, 3: relative to 3
                     asm.mov64_imm(R3, 0), asm.mov64_imm(R4, 0),          # 4, 5
                     asm.call(_HELPER_FOR_EACH), asm.exit_()])            # 6, 7


def _lookup_dest(dest_fd: int) -> bytes:
    """r0 = the destination map's value (or NULL)."""
    return b"".join([asm.st_imm(4, R10, -4, 0), asm.ld_map_fd(R1, dest_fd), asm.mov64_reg(R2, R10),
                     asm.alu64_imm(BPF_ADD, R2, -4), asm.call(_HELPER_LOOKUP)])


def _copy(dst: int, src: int, size: int) -> bytes:
    """Copy ``size`` bytes from ``*src`` to ``*dst`` in the widest loads that fit (via r1)."""
    out, off = [], 0
    for width in (8, 4, 2, 1):
        while size - off >= width:
            out += [asm.ldx(width, R1, src, off), asm.stx(width, dst, R1, off)]
            off += width
    return b"".join(out)


def _store_at(base_off: int, size: int, src: int) -> bytes:
    """Copy ``size`` bytes from ``*src`` to r0 + base_off + r9 * size (r2 as the pointer)."""
    return b"".join([asm.mov64_reg(R1, R9), asm.alu64_imm(BPF_MUL, R1, size), asm.mov64_reg(R2, R0),
                     asm.alu64_imm(BPF_ADD, R2, base_off), asm.alu64_reg(BPF_ADD, R2, R1), _copy(R2, src, size)])


def _dump_program(src_fd: int, dest_fd: int, slots: int, key_size: int, value_size: int) -> bytes:
    """The walker whose ``callback(map, key, value)`` appends the entry to the destination
    value (whose count starts at 0: the map is new) and stops the walk once it is full."""
    head = asm.mov64_reg(R6, R2) + asm.mov64_reg(R7, R3) + _lookup_dest(dest_fd)
    load_count = asm.ldx(8, R9, R0, 0)
    store = b"".join([asm.mov64_reg(R1, R9), asm.alu64_imm(BPF_ADD, R1, 1), asm.stx(8, R0, R1, 0),
                      _store_at(DATA_START, key_size, R6), _store_at(DATA_START + slots * key_size, value_size, R7),
                      asm.mov64_imm(R0, 0), asm.exit_()])
    stop = asm.mov64_imm(R0, 1) + asm.exit_()
    # head; if !r0 goto stop; r9 = count; if r9 >= slots goto stop; store...; stop
    n_load, n_store = len(load_count) // 8, len(store) // 8
    return b"".join([_for_each_call(src_fd), head, asm.jmp_imm(BPF_JEQ, R0, 0, n_load + 1 + n_store),
                     load_count, asm.jmp_imm(BPF_JGE, R9, slots, n_store), store, stop])


def _btf() -> bytes:
    """Program BTF naming the two functions (the verifier wants func_info for callbacks)."""
    strings = b"\0int\0pybpf_dump\0pybpf_dump_cb\0"
    types = b"".join([
        struct.pack("<IIII", 1, Kind.INT << 24, 4, 32),          # [1] int
        struct.pack("<III", 0, Kind.FUNC_PROTO << 24, 1),        # [2] int (void)
        struct.pack("<III", 5, Kind.FUNC << 24, 2),              # [3] pybpf_dump, static
        struct.pack("<III", 16, Kind.FUNC << 24, 2)])            # [4] pybpf_dump_cb, static
    return HEADER.pack(BTF_MAGIC, 1, 0, HEADER.size, 0, len(types), len(types), len(strings)) + types + strings


_BTF_DATA = _btf()
_BTF = BTF.parse(_BTF_DATA)
_MAIN_ID, _CALLBACK_ID = 3, 4


def _load_btf() -> FD:
    from ..loader import load_btf   # the loader imports the table machinery lazily; so do we
    return load_btf(_BTF_DATA)
