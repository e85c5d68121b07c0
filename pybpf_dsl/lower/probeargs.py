"""Probe arguments read from ``struct pt_regs``: typed kprobe/uprobe/syscall parameters and USDT args.

A kprobe's ``def f(ctx, sk: Ptr[sock], size: u64)`` loads ``sk`` from
``ctx->di`` and ``size`` from ``ctx->si``; a kretprobe's extra parameter is
``ctx->ax``.  A syscall probe sits on the kernel's ``__x64_sys_*`` wrapper,
whose only argument is the user's ``pt_regs``: its arguments are
probe-read from there (``di, si, dx, r10, r8, r9``), as bcc's ``syscall__``
functions do.  ``bpf.usdt_arg(ctx, n)`` reads argument ``n`` (1-based) from
the location the attach cookie names, using each location's spec in the
binary's ``.note.stapsdt``.
"""

from __future__ import annotations

import ast
from typing import Any

from llvmlite import ir

from .. import types as T
from ..contexts import ARG_REGS, RET_REG, SYSCALL_ARG_REGS
from ..runtime.usdt import PT_REGS_OFFSETS
from .codegen import I8, I64, PTR

__all__ = ["load_register_args", "gen_usdt_arg", "usdt_locations"]

_GET_ATTACH_COOKIE = 174


def _reg(g: Any, base: ir.Value, reg: str, width: int = 8) -> ir.Value:
    p = g.b.gep(base, [I64(PT_REGS_OFFSETS[reg])], source_etype=I8)
    return g.b.load(p, typ=ir.IntType(8 * width))


def _convert_reg(g: Any, v: ir.Value, t: T.Type) -> ir.Value:
    return g.convert(v, T.u64, t)


def load_register_args(g: Any, prog: Any) -> None:
    """Store each extra parameter of a probe function into its local."""
    params = g.tf.params[1:]
    if not params:
        return
    ctx = g.fn.args[0]
    kind = prog.kind.name
    if kind == "syscall":
        inner_slot = g.alloca(T.u64, "sys.regs", zero=False)
        g.probe_read(inner_slot, 8, g.b.gep(ctx, [I64(PT_REGS_OFFSETS["di"])], source_etype=I8), "kernel")
        inner = g.b.inttoptr(g.load(inner_slot, T.u64), PTR)
        for (name, t), reg in zip(params, SYSCALL_ARG_REGS):
            tmp = g.alloca(T.u64, "sys.arg", zero=False)
            g.probe_read(tmp, 8, g.b.gep(inner, [I64(PT_REGS_OFFSETS[reg])], source_etype=I8), "kernel")
            g.store(_convert_reg(g, g.load(tmp, T.u64), t), g.slots[name], t)
        return
    regs = (RET_REG,) if kind in ("kretprobe", "uretprobe") else ARG_REGS
    for (name, t), reg in zip(params, regs):
        g.store(_convert_reg(g, _reg(g, ctx, reg), t), g.slots[name], t)


def usdt_locations(target: str, options: dict) -> list[Any]:
    """Every location of the USDT probe ``binary:provider:name`` (in attach-cookie order)."""
    from ..runtime.attach.usdt import USDTException, _probes_for
    from ..runtime.usdt import find_probe
    binary, provider, name = target.rsplit(":", 2)
    probes, _pid = _probes_for(binary, options.get("pid", -1))
    found = find_probe(probes, f"{provider}:{name}")
    if not found:
        raise USDTException(f"no USDT probe {provider}:{name} in {binary}")
    return [loc for p in found for loc in p.locations]


def _arg_value(g: Any, ctx: ir.Value, arg: Any) -> ir.Value:
    """One location's argument as an i64, converted to its size and sign."""
    t = T.IntType(arg.size * 8, arg.signed)
    if arg.kind == "const":
        return ir.Constant(I64, arg.value)
    if arg.kind == "reg":
        v = _reg(g, ctx, arg.reg, arg.reg_size) if arg.reg_offset == PT_REGS_OFFSETS[arg.reg] else \
            g.b.load(g.b.gep(ctx, [I64(arg.reg_offset)], source_etype=I8), typ=ir.IntType(8 * arg.reg_size))
        return g.convert(g.convert(v, T.IntType(8 * arg.reg_size, False), t), t, T.s64)
    if arg.symbol is not None:
        raise ValueError(f"USDT argument {arg.text!r}: symbol {arg.symbol!r} is not in the binary")
    addr = g.b.add(_reg(g, ctx, arg.reg), I64(arg.offset))
    if arg.index_reg is not None:
        addr = g.b.add(addr, g.b.mul(_reg(g, ctx, arg.index_reg), I64(arg.scale)))
    tmp = g.alloca(t, "usdt.mem", zero=False)
    g.probe_read(tmp, t.size, g.b.inttoptr(addr, PTR), "user")
    return g.convert(g.load(tmp, t), t, T.s64)


def gen_usdt_arg(g: Any, e: ast.Call, index: int) -> ir.Value:
    """``bpf.usdt_arg(ctx, n)``: a switch on the attach cookie over the probe's locations."""
    prog = g.program_def
    if prog is None or prog.kind.name != "usdt":
        raise g.err(e, "bpf.usdt_arg() works only in @usdt programs")
    locs = usdt_locations(prog.target, prog.options)
    ctx = g.gen(e.args[0])
    cookie = g.call_helper(_GET_ATTACH_COOKIE, I64, [ctx])
    out = g.alloca(T.s64, "usdt.arg")
    done = g.new_block("usdt.end")
    sw = g.b.switch(cookie, done)
    for i, loc in enumerate(locs):
        if index > len(loc.args):
            continue
        blk = g.new_block(f"usdt.loc{i}")
        sw.add_case(I64(i), blk)
        g.b.position_at_end(blk)
        g.store(_arg_value(g, ctx, loc.args[index - 1]), out, T.s64)
        g.b.branch(done)
    g.b.position_at_end(done)
    return g.load(out, T.s64)

