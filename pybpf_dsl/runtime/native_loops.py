"""Native inner loops of the buffer readers' bulk paths, JIT-compiled with llvmlite.

Copying millions of small records out of a ring costs about 3 ns per 8-byte
word with strided memoryview assignments and several times that per record
in Python, while the same loop in machine code runs at memory speed.  The
loops are a few lines of LLVM IR compiled once per process, on first use,
for the host.  That first use loads LLVM (about 45 ms and 65 MiB of RSS), so
only the explicit bulk paths call these loops (``read_into`` and
``EventBatch.as_array``); the callback paths (``poll``/``consume``) and
``drain`` itself are pure Python and never import llvmlite, keeping a
program started from a cached compiled object small and fast to start.
The loops are called through ``ctypes.PYFUNCTYPE``, which keeps the GIL
held, so a reader cannot be closed (its rings unmapped) by another thread
mid-copy.

* :func:`gather` copies ``count`` chunks found every ``stride`` bytes.
* :func:`perf_scan` / :func:`ring_scan` walk perf records / ring buffer
  records from a read position, copying each sample's first ``item`` bytes
  into a destination array, and stop at the first record they leave to
  Python (lost-sample, wrapped, short or busy records), at the producer
  position, or when the destination is full.

Memory ordering: the caller reads the producer position before a scan and
publishes the consumer position after it returns; ring buffer headers are
read with acquire loads (their BUSY bit guards the sample behind them).
"""

from __future__ import annotations

import ctypes
from functools import lru_cache
from typing import Any, Callable

__all__ = ["gather", "perf_scan", "ring_scan", "address_of"]

_IR = r"""
declare void @llvm.memcpy.p0.p0.i64(ptr, ptr, i64, i1)

define void @gather(ptr %dst, ptr %src, i64 %stride, i64 %count, i64 %size) {
entry:
  %empty = icmp eq i64 %count, 0
  br i1 %empty, label %done, label %loop
loop:
  %i = phi i64 [ 0, %entry ], [ %next, %loop ]
  %so = mul i64 %i, %stride
  %do = mul i64 %i, %size
  %s = getelementptr i8, ptr %src, i64 %so
  %d = getelementptr i8, ptr %dst, i64 %do
  call void @llvm.memcpy.p0.p0.i64(ptr %d, ptr %s, i64 %size, i1 false)
  %next = add i64 %i, 1
  %more = icmp ult i64 %next, %count
  br i1 %more, label %loop, label %done
done:
  ret void
}

define i64 @perf_scan(ptr %data, i64 %mask, i64 %tail0, i64 %head, ptr %dst, i64 %item,
                      i64 %cap, ptr %nout) {
entry:
  %ringsize = add i64 %mask, 1
  %need = add i64 %item, 12
  br label %check
check:
  %tail = phi i64 [ %tail0, %entry ], [ %tail.next, %copy ]
  %n = phi i64 [ 0, %entry ], [ %n.next, %copy ]
  %pending = icmp ult i64 %tail, %head
  %room = icmp ult i64 %n, %cap
  %go = and i1 %pending, %room
  br i1 %go, label %header, label %stop
header:
  %off = and i64 %tail, %mask
  %hp = getelementptr i8, ptr %data, i64 %off
  %hdr = load i64, ptr %hp, align 8
  %type = and i64 %hdr, 4294967295
  %rsize = lshr i64 %hdr, 48
  %is_sample = icmp eq i64 %type, 9
  %end = add i64 %off, %rsize
  %whole = icmp ule i64 %end, %ringsize
  %room_item = icmp uge i64 %rsize, %need
  %ok1 = and i1 %is_sample, %whole
  %ok = and i1 %ok1, %room_item
  br i1 %ok, label %raw, label %stop
raw:
  %rp = getelementptr i8, ptr %hp, i64 8
  %raw32 = load i32, ptr %rp, align 4
  %rawsize = zext i32 %raw32 to i64
  %long = icmp uge i64 %rawsize, %item
  br i1 %long, label %copy, label %stop
copy:
  %src = getelementptr i8, ptr %hp, i64 12
  %doff = mul i64 %n, %item
  %d = getelementptr i8, ptr %dst, i64 %doff
  call void @llvm.memcpy.p0.p0.i64(ptr %d, ptr %src, i64 %item, i1 false)
  %tail.next = add i64 %tail, %rsize
  %n.next = add i64 %n, 1
  br label %check
stop:
  store i64 %n, ptr %nout, align 8
  ret i64 %tail
}

define i64 @ring_scan(ptr %data, i64 %mask, i64 %pos0, i64 %prod, ptr %dst, i64 %item,
                      i64 %cap, ptr %nout) {
entry:
  br label %check
check:
  %pos = phi i64 [ %pos0, %entry ], [ %pos.copied, %copy ], [ %pos.skipped, %discard ]
  %n = phi i64 [ 0, %entry ], [ %n.next, %copy ], [ %n, %discard ]
  %pending = icmp ult i64 %pos, %prod
  %room = icmp ult i64 %n, %cap
  %go = and i1 %pending, %room
  br i1 %go, label %header, label %stop
header:
  %off = and i64 %pos, %mask
  %hp = getelementptr i8, ptr %data, i64 %off
  %hdr = load atomic i32, ptr %hp acquire, align 4
  %busy = icmp slt i32 %hdr, 0
  br i1 %busy, label %stop, label %committed
committed:
  %len32 = and i32 %hdr, 1073741823
  %len = zext i32 %len32 to i64
  %padded = add i64 %len, 15
  %stride = and i64 %padded, -8
  %flag = and i32 %hdr, 1073741824
  %discarded = icmp ne i32 %flag, 0
  br i1 %discarded, label %discard, label %sample
discard:
  %pos.skipped = add i64 %pos, %stride
  br label %check
sample:
  %long = icmp uge i64 %len, %item
  br i1 %long, label %copy, label %stop
copy:
  %src = getelementptr i8, ptr %hp, i64 8
  %doff = mul i64 %n, %item
  %d = getelementptr i8, ptr %dst, i64 %doff
  call void @llvm.memcpy.p0.p0.i64(ptr %d, ptr %src, i64 %item, i1 false)
  %pos.copied = add i64 %pos, %stride
  %n.next = add i64 %n, 1
  br label %check
stop:
  store i64 %n, ptr %nout, align 8
  ret i64 %pos
}
"""

_u64, _ptr = ctypes.c_uint64, ctypes.c_void_p
_SIGNATURES = {
    "gather": ctypes.PYFUNCTYPE(None, _ptr, _ptr, _u64, _u64, _u64),
    "perf_scan": ctypes.PYFUNCTYPE(_u64, _ptr, _u64, _u64, _u64, _ptr, _u64, _u64, _ptr),
    "ring_scan": ctypes.PYFUNCTYPE(_u64, _ptr, _u64, _u64, _u64, _ptr, _u64, _u64, _ptr),
}


@lru_cache(maxsize=1)
def _compiled() -> tuple[Any, dict[str, Callable[..., Any]]]:
    """(execution engine, functions): the engine must outlive every call, so it is kept here."""
    import llvmlite.binding as llvm
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    module = llvm.parse_assembly(_IR)
    module.verify()
    machine = llvm.Target.from_default_triple().create_target_machine(opt=2)
    engine = llvm.create_mcjit_compiler(module, machine)
    engine.finalize_object()
    return engine, {name: proto(engine.get_function_address(name))
                    for name, proto in _SIGNATURES.items()}


def _fn(name: str) -> Callable[..., Any]:
    return _compiled()[1][name]


def address_of(buffer: Any) -> int:
    """The address of a writable buffer's first byte (bytearray, ctypes object, memoryview...)."""
    return ctypes.addressof(ctypes.c_char.from_buffer(buffer))


def gather(dst: int, src: int, stride: int, count: int, size: int) -> None:
    """Copy ``count`` chunks of ``size`` bytes, found every ``stride`` bytes from address ``src``,
    back to back to address ``dst``."""
    _fn("gather")(dst, src, stride, count, size)


def _scan(name: str, data: int, mask: int, pos: int, end: int, dst: int, item: int,
          cap: int) -> tuple[int, int]:
    count = ctypes.c_uint64()
    pos = _fn(name)(data, mask, pos, end, dst, item, cap, ctypes.addressof(count))
    return pos, count.value


def perf_scan(data: int, mask: int, tail: int, head: int, dst: int, item: int,
              cap: int) -> tuple[int, int]:
    """Copy whole SAMPLE records of at least ``item`` raw bytes from a perf ring at ``data``
    (``mask`` + 1 bytes); returns (new tail, samples copied)."""
    return _scan("perf_scan", data, mask, tail, head, dst, item, cap)


def ring_scan(data: int, mask: int, pos: int, prod: int, dst: int, item: int,
              cap: int) -> tuple[int, int]:
    """Copy committed samples of at least ``item`` bytes from a BPF ring buffer at ``data``,
    skipping discarded ones; returns (new position, samples copied)."""
    return _scan("ring_scan", data, mask, pos, prod, dst, item, cap)
