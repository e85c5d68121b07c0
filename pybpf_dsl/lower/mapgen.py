"""Code generation for maps: BTF-defined ``.maps`` globals and every map operation.

A map is the global clang emits for libbpf's ``struct { __uint(type, ...);
__type(key, K); ... } name SEC(".maps");``: a zeroed struct of pointers
whose debug type says ``int (*type)[N]`` (a value encoded as an array
length) or ``K *key``, so LLVM writes the definition into .BTF and the
loader reads it back.  Operations are helper calls taking the global's
address (an ``ld_imm64`` the loader patches with the map's fd).
"""

from __future__ import annotations

import ast
from typing import Any

from llvmlite import ir

from .. import types as T
from ..runtime.uapi import BPF_ANY, BPF_NOEXIST, MapType
from .codegen import I64, PTR, is_aggregate, reg_type

__all__ = ["emit_map_def", "gen_map_method", "gen_subscript_load", "gen_subscript_store",
           "gen_subscript_aug", "gen_subscript_delete", "value_align", "HELPER_IDS"]

HELPER_IDS = {
    "map_lookup_elem": 1, "map_update_elem": 2, "map_delete_elem": 3, "tail_call": 12,
    "perf_event_output": 25, "get_stackid": 27, "redirect_map": 51, "map_push_elem": 87,
    "map_pop_elem": 88, "map_peek_elem": 89, "ringbuf_output": 130, "ringbuf_reserve": 131,
    "ringbuf_submit": 132, "ringbuf_discard": 133,
    "perf_event_read": 22, "sk_redirect_map": 52, "sock_map_update": 53, "msg_redirect_map": 60,
    "sock_hash_update": 70, "msg_redirect_hash": 71, "sk_redirect_hash": 72,
}
_LIBBPF_PIN_BY_NAME = 1
_ARRAYS = (MapType.ARRAY, MapType.PERCPU_ARRAY)
_BPF_F_CURRENT_CPU = 0xFFFFFFFF
# Maps whose value pointers the kernel 8-aligns: hash/LRU elements keep the value at
# round_up(key_size, 8) after an __aligned(8) key; array slots are round_up(value_size, 8)
# apart from an __aligned(8) start; per-CPU values come from 8-aligned per-CPU allocations;
# ring-buffer records follow an 8-byte header at 8-aligned positions; local storage
# data is __aligned(8).  Others (an LPM trie's value follows the key's data; devmap and
# cpumap values sit inside their entry structs) get only what their layout implies.
_ALIGNED_VALUES = frozenset({
    MapType.HASH, MapType.ARRAY, MapType.PERCPU_HASH, MapType.PERCPU_ARRAY, MapType.LRU_HASH,
    MapType.LRU_PERCPU_HASH, MapType.RINGBUF, MapType.SK_STORAGE, MapType.INODE_STORAGE,
    MapType.TASK_STORAGE, MapType.CGRP_STORAGE})
_LPM_PREFIXLEN = 4     # the u32 before an LPM trie key's data


def value_align(m: Any, method: str = "lookup") -> int:
    """The alignment the kernel guarantees for the pointer ``m.<method>()`` returns."""
    if method == "lookup_in":
        m = m.inner
    if m.map_type in _ALIGNED_VALUES:
        return 8
    if m.map_type == MapType.LPM_TRIE:    # node data is 8-aligned; the value follows the key's data
        off = m.key_type.size - _LPM_PREFIXLEN
        return 8 if off % 8 == 0 else off & -off
    return 1


# ---------------------------------------------------------------- definitions

def _def_members(mg: Any, m: Any) -> list[tuple[str, Any]]:
    """(member name, DI type) of the map definition struct, in libbpf's order."""
    di = mg.di
    int_t = di.basic("int", 4, "DW_ATE_signed")

    def uint(value: int) -> Any:
        return di.pointer(di.array(int_t, value, 4 * value))

    members = [("type", uint(int(m.map_type))), ("max_entries", uint(m.max_entries))]
    if m.btf_kv():
        members += [("key", di.pointer(di.type(m.key_type))), ("value", di.pointer(di.type(m.value_type)))]
    else:
        key_size, value_size = m.sizes()
        if key_size:
            members.append(("key_size", uint(key_size)))
        if value_size:
            members.append(("value_size", uint(value_size)))
    if m.flags:
        members.append(("map_flags", uint(m.flags)))
    if m.map_extra:
        members.append(("map_extra", uint(m.map_extra)))
    if m.pinned:
        members.append(("pinning", uint(_LIBBPF_PIN_BY_NAME)))
    return members


def _def_struct(mg: Any, m: Any) -> tuple[Any, int]:
    members = _def_members(mg, m)
    fixed = [(name, t, 8 * i) for i, (name, t) in enumerate(members)]
    inner = getattr(m, "inner", None)
    if inner is not None:
        inner_t, _ = _def_struct(mg, inner)
        values = mg.di.array(mg.di.pointer(inner_t), -1, 0)
        fixed.append(("values", values, 8 * len(members)))
    return mg.di.struct("", 8 * len(members), fixed), len(members)


def emit_map_def(mg: Any, m: Any) -> ir.GlobalVariable:
    """The ``.maps`` global for declaration ``m`` (with the debug type LLVM turns into BTF)."""
    if not m.name:
        raise ValueError(f"{m!r} has no name: assign it to a module-level variable or pass name=")
    dtype, n = _def_struct(mg, m)
    gty = ir.LiteralStructType([PTR] * n)
    g = ir.GlobalVariable(mg.module, gty, m.name)
    g.initializer = ir.Constant(gty, None)
    g.section = ".maps"
    g.align = 8
    mg.di.global_var(m.name, dtype, 0, g)
    mg.keep(g)
    return g


# ---------------------------------------------------------------- operands

def _helper(g: Any, name: str, ret: ir.Type, args: list[ir.Value]) -> ir.Value:
    return g.call_helper(HELPER_IDS[name], ret, args)


def in_memory(g: Any, e: ast.expr, t: T.Type) -> ir.Value:
    """A pointer to a stack copy of ``e`` converted to ``t`` (what helpers take for keys/values)."""
    if is_aggregate(t) and e.ty is t and g.mem.helper_readable(e):
        return g.gen(e)     # stack or map-value memory: helpers only read it, so no copy
    slot = g.alloca(t, "arg", zero=False)
    if is_aggregate(t):
        src = g.gen(e) if isinstance(e.ty, T.PtrType) else g.addr(e) if isinstance(
            e, (ast.Name, ast.Attribute, ast.Subscript)) and not getattr(e, "map", None) else g.gen(e)
        src_align = g.mem.ptr_align(e) if isinstance(e.ty, T.PtrType) else g.mem.align_of(e)
        g.copy(slot, src, t.size, src_align=src_align)
    else:
        g.store(g.value(e, t), slot, t)
    return slot


def _value_ptr(g: Any, e: ast.expr, t: T.Type) -> ir.Value:
    """A pointer to ``e``'s bytes: aggregates and pointers to them are passed in place."""
    if is_aggregate(t) and isinstance(e.ty, T.PtrType):
        return g.gen(e)
    return in_memory(g, e, t)


def _u64(g: Any, e: ast.expr) -> ir.Value:
    return g.value(e, T.u64)


def _ctx(g: Any, e: ast.Call) -> ir.Value:
    c = e.margs.get("ctx")
    if c is not None:
        return g.gen(c)
    if not g.program:
        raise g.err(e, "inside a helper function the context must be passed explicitly",
                    "pass it on: `m.method(ctx, ...)` with ctx a parameter of your function")
    return g.fn.args[0]


# ---------------------------------------------------------------- operations

def lookup(g: Any, m: Any, key_ptr: ir.Value) -> ir.Value:
    """``bpf_map_lookup_elem``: a value pointer or NULL."""
    return _helper(g, "map_lookup_elem", PTR, [g.mg.map_global(m), key_ptr])


def _update(g: Any, m: Any, key_ptr: ir.Value, val_ptr: ir.Value, flags: ir.Value) -> ir.Value:
    return _helper(g, "map_update_elem", I64, [g.mg.map_global(m), key_ptr, val_ptr, flags])


def _add_in_place(g: Any, ptr: ir.Value, t: T.IntType, delta: ir.Value) -> None:
    """``*ptr += delta``: an atomic add for 32/64-bit values (BPF has none narrower)."""
    if t.bits >= 32:
        g.b.atomic_rmw("add", ptr, delta, "monotonic")
    else:
        g.store(g.b.add(g.load(ptr, t), delta), ptr, t)


def add_to_key(g: Any, m: Any, key_ptr: ir.Value, delta: ir.Value) -> None:
    """``m[key] += delta`` with a missing key starting at 0.

    Found: an atomic add in place.  Missing (hash maps only: array slots
    always exist): insert ``delta`` itself with BPF_NOEXIST, and only if
    another CPU inserted the key meanwhile, look it up again and add.  The
    common path is one lookup and one add, as bcc's ``increment``.
    """
    p = lookup(g, m, key_ptr)
    found, done = g.new_block("inc.add"), g.new_block("inc.end")
    if m.map_type in _ARRAYS:
        g.b.cbranch(g.nonnull(p), found, done)
        g.b.position_at_end(found)
    else:
        vt = m.value_type
        missing, retry = g.new_block("inc.insert"), g.new_block("inc.retry")
        start = g.b.block
        g.b.cbranch(g.nonnull(p), found, missing)
        g.b.position_at_end(missing)
        first = g.alloca(vt, "inc.first", zero=False)
        g.store(delta, first, vt)
        raced = g.b.icmp_signed("!=", _update(g, m, key_ptr, first, I64(BPF_NOEXIST)), I64(0))
        g.b.cbranch(raced, retry, done)
        g.b.position_at_end(retry)
        again = lookup(g, m, key_ptr)
        g.b.cbranch(g.nonnull(again), found, done)
        g.b.position_at_end(found)
        phi = g.b.phi(PTR)
        phi.add_incoming(p, start)
        phi.add_incoming(again, retry)
        p = phi
    _add_in_place(g, p, m.value_type, delta)
    g.b.branch(done)
    g.b.position_at_end(done)


def gen_subscript_load(g: Any, e: ast.Subscript, m: Any, into: ir.Value | None = None) -> ir.Value:
    """``m[k]``: the value, or zero when the key is missing (an address for aggregates).

    ``into`` (a stack slot, for aggregates): copy the value straight there
    (and zero it on a miss) instead of into a temporary.
    """
    vt = m.value_type
    p = lookup(g, m, in_memory(g, e.slice, m.key_type))
    # a large temporary stays in memory: as SSA values its hit/miss merge spills (see FunctionGen.pin)
    out = into if into is not None else g.alloca(vt, "mapval", zero=not is_aggregate(vt), pin=True)
    hit, miss, done = g.new_block("get.hit"), g.new_block("get.miss"), g.new_block("get.end")
    g.b.cbranch(g.nonnull(p), hit, miss)
    g.b.position_at_end(hit)
    if is_aggregate(vt):
        g.copy(out, p, vt.size, src_align=value_align(m))
    else:
        g.store(g.load(p, vt), out, vt)
    g.b.branch(done)
    g.b.position_at_end(miss)
    if is_aggregate(vt):
        g.zero(out, vt)
    g.b.branch(done)
    g.b.position_at_end(done)
    return out if is_aggregate(vt) else g.load(out, vt)


def gen_field_load(g: Any, e: ast.expr, root: ast.Subscript) -> ir.Value:
    """``m[k].f`` / ``m[k].a[i]`` (``root`` is ``m[k]``): the scalar read through the value
    pointer, without copying the value; zero when the key is missing (and, as for any
    array, when ``i`` is out of range)."""
    m = root.map
    p = lookup(g, m, in_memory(g, root.slice, m.key_type))
    start = g.b.block
    hit, done = g.new_block("field.hit"), g.new_block("field.end")
    g.b.cbranch(g.nonnull(p), hit, done)
    g.b.position_at_end(hit)
    g.map_values[id(root)] = p
    try:
        v = g.load(g.addr(e), e.ty)
    finally:
        del g.map_values[id(root)]
    hit_end = g.b.block
    g.b.branch(done)
    g.b.position_at_end(done)
    phi = g.b.phi(v.type)
    phi.add_incoming(v, hit_end)
    phi.add_incoming(ir.Constant(v.type, 0), start)
    return phi


def gen_subscript_store(g: Any, target: ast.Subscript, value: ast.expr, m: Any) -> None:
    """``m[k] = v``: BPF_ANY update."""
    _update(g, m, in_memory(g, target.slice, m.key_type), _value_ptr(g, value, m.value_type),
            I64(BPF_ANY))


def gen_subscript_aug(g: Any, s: ast.AugAssign, m: Any) -> None:
    """``m[k] += n`` / ``m[k] -= n`` (atomic)."""
    vt = m.value_type
    delta = g.value(s.value, vt)
    if isinstance(s.op, ast.Sub):
        delta = g.b.sub(ir.Constant(delta.type, 0), delta)
    add_to_key(g, m, in_memory(g, s.target.slice, m.key_type), delta)


def gen_subscript_delete(g: Any, t: ast.Subscript, m: Any) -> None:
    """``del m[k]`` (a missing key is not an error, as in the kernel)."""
    if m.map_type in (MapType.ARRAY, MapType.PERCPU_ARRAY):
        raise g.err(t, "array map entries cannot be deleted", "store zero instead: `m[k] = 0`")
    _helper(g, "map_delete_elem", I64, [g.mg.map_global(m), in_memory(g, t.slice, m.key_type)])


def gen_map_method(g: Any, e: ast.Call, m: Any, name: str) -> Any:
    """Code for ``m.<name>(...)``; returns the result value (None for statements)."""
    a = e.margs
    mp = g.mg.map_global(m)
    if name == "lookup":
        p = lookup(g, m, in_memory(g, a["key"], m.key_type))
        return p if m.value_type is not None else g.nonnull(p)
    if name in ("update", "insert"):
        flags = _u64(g, a["flags"]) if name == "update" else I64(BPF_NOEXIST)
        return _update(g, m, in_memory(g, a["key"], m.key_type), _value_ptr(g, a["value"], m.value_type), flags)
    if name == "delete":
        return _helper(g, "map_delete_elem", I64, [mp, in_memory(g, a["key"], m.key_type)])
    if name == "lookup_or_try_init":
        return _lookup_or_init(g, m, in_memory(g, a["key"], m.key_type), a["init"])
    if name in ("increment", "atomic_increment"):
        add_to_key(g, m, in_memory(g, a["key"], m.key_type), g.value(a["n"], m.value_type))
        return None
    if name == "record":
        slot = _histogram_slot(g, m, a["value"])
        add_to_key(g, m, slot, ir.Constant(reg_type(m.value_type), 1))
        return None
    if name == "reserve":
        return _helper(g, "ringbuf_reserve", PTR, [mp, I64(m.value_type.size), I64(0)])
    if name in ("submit", "discard"):
        _helper(g, "ringbuf_" + name, I64, [g.gen(a["record"]), I64(0)])
        return None
    if name == "output":
        data = _value_ptr(g, a["value"], m.value_type)
        size = I64(m.value_type.size)
        if m.map_type == MapType.RINGBUF:
            return _helper(g, "ringbuf_output", I64, [mp, data, size, I64(0)])
        flags = g.b.or_(g.b.shl(_u64(g, a["packet"]), I64(32)), I64(_BPF_F_CURRENT_CPU))  # + packet bytes
        return _helper(g, "perf_event_output", I64, [_ctx(g, e), mp, flags, data, size])
    if name == "get_stackid":
        return _helper(g, "get_stackid", I64, [_ctx(g, e), mp, _u64(g, a["flags"])])
    if name in ("call", "tail_call"):
        return _helper(g, "tail_call", I64, [_ctx(g, e), mp, _u64(g, a["index"])])
    if name == "redirect":
        return _helper(g, "redirect_map", I64, [mp, _u64(g, a["key"]), _u64(g, a["flags"])])
    if name == "perf_read":
        return _helper(g, "perf_event_read", I64, [mp, _u64(g, a["cpu"])])
    if name in ("msg_redirect_map", "sk_redirect_map"):   # the key by value
        return _helper(g, name, I64, [_ctx(g, e), mp, _u64(g, a["key"]), _u64(g, a["flags"])])
    if name.endswith("_update") or name.endswith("_redirect_hash"):   # the key by address
        return _helper(g, name, I64, [_ctx(g, e), mp, in_memory(g, a["key"], m.key_type), _u64(g, a["flags"])])
    if name == "push":
        return _helper(g, "map_push_elem", I64, [mp, in_memory(g, a["value"], m.value_type), _u64(g, a["flags"])])
    if name in ("pop", "peek"):
        return _helper(g, "map_" + name + "_elem", I64, [mp, g.addr(a["out"])])
    if name == "contains":
        r = _helper(g, "map_peek_elem", I64, [mp, in_memory(g, a["value"], m.value_type)])
        return g.b.icmp_signed("==", r, I64(0))
    if name == "lookup_in":
        inner = lookup(g, m, in_memory(g, a["outer_key"], m.key_type))
        return _lookup_inner(g, m.inner, inner, in_memory(g, a["key"], m.inner.key_type))
    raise g.err(e, f"cannot generate {m.name}.{name}()")


def _lookup_or_init(g: Any, m: Any, key_ptr: ir.Value, init: ast.expr) -> ir.Value:
    """bcc's ``lookup_or_try_init``: the value pointer; a missing key is first inserted as
    ``init`` with BPF_NOEXIST (``init`` is evaluated only then).  NULL when the insert
    failed (map full) and no other CPU inserted the key meanwhile."""
    p = lookup(g, m, key_ptr)
    start = g.b.block
    missing, done = g.new_block("init.insert"), g.new_block("init.end")
    g.b.cbranch(g.nonnull(p), done, missing)
    g.b.position_at_end(missing)
    _update(g, m, key_ptr, _value_ptr(g, init, m.value_type), I64(BPF_NOEXIST))
    again = lookup(g, m, key_ptr)
    missing_end = g.b.block
    g.b.branch(done)
    g.b.position_at_end(done)
    phi = g.b.phi(PTR)
    phi.add_incoming(p, start)
    phi.add_incoming(again, missing_end)
    return phi


def _lookup_inner(g: Any, inner_decl: Any, inner: ir.Value, key_ptr: ir.Value) -> ir.Value:
    start = g.b.block
    hit, done = g.new_block("inner.hit"), g.new_block("inner.end")
    g.b.cbranch(g.nonnull(inner), hit, done)
    g.b.position_at_end(hit)
    v = _helper(g, "map_lookup_elem", PTR, [inner, key_ptr])
    hit_end = g.b.block
    g.b.branch(done)
    g.b.position_at_end(done)
    phi = g.b.phi(PTR)
    phi.add_incoming(ir.Constant(PTR, None), start)
    phi.add_incoming(v, hit_end)
    return phi


def _histogram_slot(g: Any, m: Any, value: ast.expr) -> ir.Value:
    """A stack key holding the slot ``value`` falls in (log2l, or clamped linear)."""
    v = g.value(value, T.u64)
    if m.linear:
        top = I64(m.max_entries - 1)
        slot = g.b.select(g.b.icmp_unsigned(">", v, top), top, v)
    else:
        from ..helpers.derived import log2l
        slot = g.b.zext(g.b.call(g.mg.function(log2l, program=False), [v]), I64)
    return _store_key(g, m.key_type, slot)


def _store_key(g: Any, kt: T.IntType, v: ir.Value) -> ir.Value:
    slot = g.alloca(kt, "hkey", zero=False)
    g.store(g.b.trunc(v, reg_type(kt)) if kt.bits < 64 else v, slot, kt)
    return slot

