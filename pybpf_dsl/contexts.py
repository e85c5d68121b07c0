"""The context each probe kind receives, as a DSL type, and typed probe arguments.

* tracepoint: a struct built from the event's tracefs ``format`` file
  (``args.filename``, ``args.ret``); ``__data_loc`` fields read as kernel
  pointers to their data (``bpf.probe_read_kernel_str(buf, args.name)``);
  pointers of ``syscalls:*`` events are user pointers, others kernel pointers;
* tp_btf / fentry / fexit / lsm: a struct of the traced function's (or
  tracepoint's) parameters from kernel BTF, one 8-byte slot each, whose
  pointers are BTF pointers read with direct loads; fexit adds ``ret``;
* iter: the kernel's ``struct bpf_iter__<target>``;
* kprobe / uprobe / usdt / syscall: ``struct pt_regs``; extra annotated
  parameters (``def f(ctx, sk: Ptr[sock], len: u64)``) are read from the
  argument registers, and kretprobe/uretprobe's one extra parameter from
  the return register;
* raw_tracepoint: ``args: Array[u64, 12]``; perf_event: ``regs``,
  ``sample_period``, ``addr``; xdp: ``xdp_md``; socket_filter, tc,
  cgroup_skb: ``__sk_buff``; cgroup_sock: ``bpf_sock``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from . import types as T
from .errors import AttachTargetNotFound, CompileError

__all__ = ["context_type", "DataLocField", "ARG_REGS", "SYSCALL_ARG_REGS", "RET_REG", "pt_regs"]

ARG_REGS = ("di", "si", "dx", "cx", "r8", "r9")
SYSCALL_ARG_REGS = ("di", "si", "dx", "r10", "r8", "r9")
RET_REG = "ax"


class DataLocField(T.Field):
    """A ``__data_loc``/``__rel_loc`` field: reading it gives the address of its data."""

    __slots__ = ("dataloc",)

    def __init__(self, name: str, type: T.Type, offset: int, dataloc: str) -> None:
        super().__init__(name, type, offset)
        self.dataloc = dataloc


@lru_cache(maxsize=None)
def pt_regs() -> T.StructType:
    """x86_64 ``struct pt_regs`` (every register a u64)."""
    from .runtime.usdt import PT_REGS_OFFSETS
    return T.StructType.layout("pt_regs", [(n, T.u64) for n, _ in sorted(PT_REGS_OFFSETS.items(),
                                                                         key=lambda kv: kv[1])])


def _int(size: int, signed: bool) -> T.Type:
    bits = {1: 8, 2: 16, 4: 32, 8: 64}.get(size)
    return T.IntType(bits, signed) if bits else T.ArrayType(T.u8, size)


def _tp_field(f: Any, user_ptrs: bool) -> T.Field:
    if f.data_loc or f.rel_loc:
        elem = T.char if "char" in f.type else T.u8
        return DataLocField(f.name, T.PtrType(elem, "kernel"), f.offset, "rel" if f.rel_loc else "abs")
    if f.is_pointer and f.size == 8:
        elem = T.char if f.type.replace("const ", "").startswith("char") else T.u8
        return T.Field(f.name, T.PtrType(elem, "user" if user_ptrs else "kernel"), f.offset)
    if f.is_array and f.array_len:
        esz = f.elem_size
        elem = T.char if f.type == "char" else _int(esz, f.signed)
        return T.Field(f.name, T.ArrayType(elem, f.array_len), f.offset)
    return T.Field(f.name, _int(f.size, f.signed), f.offset)


@lru_cache(maxsize=None)
def tracepoint_struct(category: str, event: str) -> T.StructType:
    """The record of tracepoint ``category:event`` as a struct."""
    from .runtime.tracepoints import tracepoint_format
    fmt = tracepoint_format(category, event)
    fields = [_tp_field(f, category == "syscalls") for f in fmt.fields]
    size = -(-fmt.size // 8) * 8
    return T.StructType(f"tp_{category}_{event}", fields, size, 8)


def _btf_args_struct(name: str, proto: Any, skip: int, ret: bool) -> T.StructType:
    from .kernel import dsl_type
    from .runtime.btf import kernel_btf
    btf = kernel_btf()
    fields = []
    params = proto.params[skip:]
    for i, p in enumerate(params):
        t = dsl_type(btf, p.type_id, "btf") if p.type_id else None
        fields.append(T.Field(p.name or f"arg{i}", t if t is not None and t.size <= 8 else T.u64, 8 * i))
    if ret:
        t = dsl_type(btf, proto.type_id, "btf") if proto.type_id else None
        fields.append(T.Field("ret", t if t is not None and t.size <= 8 else T.u64, 8 * len(params)))
    return T.StructType(name, fields, 8 * max(len(fields), 1), 8)


def _func_proto(name: str, what: str) -> Any:
    from .runtime.btf import Kind, kernel_btf
    btf = kernel_btf()
    try:
        f = btf.find(name, Kind.TYPEDEF if what == "tp_btf" else Kind.FUNC)
    except KeyError:
        raise AttachTargetNotFound(f"no {what} target {name!r} in the running kernel's BTF") from None
    t = btf.resolve(f.type_id)
    if t.kind == Kind.PTR:
        t = btf.resolve(t.type_id)
    return t


def _kernel_struct_ptr(name: str, space: str = "direct") -> T.PtrType:
    from .kernel import struct_by_name
    return T.PtrType(struct_by_name(name), space)


def context_type(kind: str, target: str) -> T.Type:
    """The type of the context parameter of a ``kind`` program attached to ``target``."""
    if kind == "tracepoint":
        from .runtime.tracepoints import split_tracepoint
        cat, ev = split_tracepoint(target)
        return T.PtrType(tracepoint_struct(cat, ev), "direct")
    if kind == "tp_btf":
        try:   # the tracepoint's BPF glue function has the parameter names; the typedef has none
            proto = _func_proto("__bpf_trace_" + target, "tp_btf glue")
        except AttachTargetNotFound:
            proto = _func_proto("btf_trace_" + target, "tp_btf")
        return T.PtrType(_btf_args_struct(f"tp_btf_{target}", proto, 1, False), "direct")
    if kind in ("fentry", "fexit"):
        return T.PtrType(_btf_args_struct(f"{kind}_{target}", _func_proto(target, kind), 0,
                                          kind == "fexit"), "direct")
    if kind == "lsm":
        return T.PtrType(_btf_args_struct(f"lsm_{target}", _func_proto("bpf_lsm_" + target, "lsm"), 0,
                                          False), "direct")
    if kind == "iter":
        st = _kernel_struct_ptr("bpf_iter__" + target).target
        fields = [T.Field(f.name, T.PtrType(f.type.target, "btf") if isinstance(f.type, T.PtrType) else f.type,
                          f.offset) for f in st.fields]
        return T.PtrType(T.StructType(st.name, fields, st.size, 8), "direct")
    if kind in ("kprobe", "kretprobe", "uprobe", "uretprobe", "usdt", "syscall"):
        return T.PtrType(pt_regs(), "direct")
    if kind == "raw_tracepoint":
        return T.PtrType(T.StructType.layout("bpf_raw_tracepoint_args", [("args", T.ArrayType(T.u64, 12))]),
                         "direct")
    if kind == "perf_event":
        return T.PtrType(T.StructType.layout("bpf_perf_event_data", [
            ("regs", pt_regs()), ("sample_period", T.u64), ("addr", T.u64)]), "direct")
    if kind == "xdp":
        return T.PtrType(T.StructType.layout("xdp_md", [(n, T.u32) for n in (
            "data", "data_end", "data_meta", "ingress_ifindex", "rx_queue_index", "egress_ifindex")]), "direct")
    if kind in ("socket_filter", "tc", "cgroup_skb"):
        return _kernel_struct_ptr("__sk_buff")
    if kind == "cgroup_sock":
        return _kernel_struct_ptr("bpf_sock")
    if kind == "sk_skb":
        return _kernel_struct_ptr("__sk_buff")
    if kind == "sk_msg":
        return _kernel_struct_ptr("sk_msg_md")
    if kind == "sock_ops":
        return _kernel_struct_ptr("bpf_sock_ops")
    raise CompileError(f"{kind} programs have no default context type",
                       hint="annotate the context parameter: `def f(ctx: Ptr[MyCtx])`")
