"""Pass 4: typed IR -> LLVM IR (llvmlite.ir), with debug locations for BTF line info.

Layout rules: integers are ``iN`` (bool is ``i1`` in registers, ``i8`` in
memory); structs and arrays are byte arrays addressed by the offsets the
types module computed, so the layout is C's by construction.  Locals live in
zero-initialised stack slots (mem2reg turns scalars into registers).
Helpers are called through ``inttoptr(helper id)``, the way clang does.
"""

from __future__ import annotations

import ast
from typing import Any

from llvmlite import ir

from .. import types as T
from .debuginfo import DebugInfo
from .lifetimes import Lifetimes, local_lifetimes
from .memfacts import SLOT_ALIGN, MemFacts, gcd_align
from .source import fail
from .typer import TypedFunction

__all__ = ["ModuleGen", "TRIPLE", "DATALAYOUT"]

TRIPLE = "bpfel"
DATALAYOUT = "e-m:e-p:64:64-i64:64-i128:128-n32:64-S128"

I1, I8, I32, I64 = ir.IntType(1), ir.IntType(8), ir.IntType(32), ir.IntType(64)
PTR = ir.PointerType()


def reg_type(t: T.Type) -> ir.Type:
    """The LLVM type of a value of ``t`` held in a register."""
    if t is T.bool:
        return I1
    if isinstance(t, T.IntType):
        return ir.IntType(t.bits)
    if isinstance(t, T.PtrType):
        return PTR
    raise TypeError(t)


def mem_type(t: T.Type) -> ir.Type:
    """The LLVM type of ``t`` in memory."""
    if t is T.bool:
        return I8
    if isinstance(t, (T.IntType, T.PtrType)):
        return reg_type(t)
    return ir.ArrayType(I8, t.size)


def const(t: T.IntType, value: int) -> ir.Constant:
    """An LLVM constant of ``t`` holding ``value`` converted like C."""
    if t is T.bool:
        return I1(1 if value else 0)
    return ir.Constant(reg_type(t), T.IntType(t.bits, True).wrap(value))


class _HelperPtr(ir.CastInstr):
    """``inttoptr(helper id)`` carrying the callee's function type (llvmlite reads it at the call)."""

    function_type = None  # shadows the read-only property: set per call


_PROMOTE_MAX = 64   # aggregates up to this size may live in registers (8 of them)
_CHUNK = 128   # bytes per memset: at most 128 stores even at 1-byte alignment (LLVM's BPF limit)


def _chunks(size: int) -> list[tuple[int, int]]:
    return [(off, min(_CHUNK, size - off)) for off in range(0, size, _CHUNK)]


def is_aggregate(t: Any) -> bool:
    return isinstance(t, (T.StructType, T.ArrayType))


def _map_field(e: ast.expr) -> ast.Subscript | None:
    """``m[k]`` when ``e`` is a field or element inside a map subscript's value, reached
    without a pointer and through indices that call nothing (so skipping them on a
    missing key changes nothing)."""
    cur = e
    while isinstance(cur, (ast.Attribute, ast.Subscript)):
        if getattr(cur, "map", None) is not None:
            return cur
        if isinstance(cur.value.ty, T.PtrType) or getattr(cur, "deref", False) \
                or getattr(cur, "unchecked", False):
            break
        if isinstance(cur, ast.Subscript) and any(isinstance(n, ast.Call) for n in ast.walk(cur.slice)):
            break
        cur = cur.value
    return None


def _copied_into(fn: ast.AST) -> set[str]:
    """Locals some assignment copies a value into (not just a zero-filled ``T()``)."""
    out = set()
    for n in ast.walk(fn):
        if isinstance(n, (ast.Assign, ast.AnnAssign)) and n.value is not None:
            target = n.targets[0] if isinstance(n, ast.Assign) else n.target
            if isinstance(target, ast.Name) and getattr(n.value, "kind", None) != "zero":
                out.add(target.id)
    return out


def _first_definitions(fn: ast.AST) -> dict[str, ast.AST]:
    """Each local's first assignment in ``fn`` (where stack-size errors point)."""
    sites: dict[str, ast.AST] = {}
    for n in ast.walk(fn):
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
            prev = sites.get(n.id)
            if prev is None or (n.lineno, n.col_offset) < (prev.lineno, prev.col_offset):
                sites[n.id] = n
    if isinstance(fn, ast.FunctionDef):
        for a in fn.args.args:
            sites.setdefault(a.arg, a)
    return sites


class ModuleGen:
    """One LLVM module: programs, inlined BPF functions, maps and the license."""

    def __init__(self, name: str, filename: str) -> None:
        self.module = ir.Module(name)
        self.module.triple = TRIPLE
        self.module.data_layout = DATALAYOUT
        self.di = DebugInfo(self.module, filename)
        self.functions: dict[Any, ir.Function] = {}
        self.map_globals: dict[Any, ir.GlobalVariable] = {}
        self.print_sites: list[Any] = []
        self._memset = self._memcpy = None
        self.slot_sites: dict[str, tuple[str, ast.AST, str]] = {}   # alloca name -> (file, node, what)

    # -- module-level objects ----------------------------------------------------
    def license(self, text: str) -> None:
        data = bytearray(text.encode() + b"\0")
        g = ir.GlobalVariable(self.module, ir.ArrayType(I8, len(data)), "_license")
        g.initializer = ir.Constant(g.value_type, data)
        g.section = "license"
        self.keep(g)

    def keep(self, g: ir.GlobalValue) -> None:
        """Keep ``g`` through optimisation (llvm.compiler.used)."""
        self._kept = getattr(self, "_kept", [])
        self._kept.append(g)

    def finish(self) -> None:
        kept = getattr(self, "_kept", [])
        if kept:
            arr = ir.ArrayType(PTR, len(kept))
            g = ir.GlobalVariable(self.module, arr, "llvm.compiler.used")
            g.linkage = "appending"
            g.section = "llvm.metadata"
            g.initializer = ir.Constant(arr, kept)
        self.di.finish()

    def map_global(self, decl: Any) -> ir.GlobalVariable:
        g = self.map_globals.get(decl)
        if g is None:
            g = decl.emit_global(self)
            self.map_globals[decl] = g
        return g

    def print_site(self, site: Any) -> int:
        """The id of a ``print`` call site (its index in :attr:`print_sites`)."""
        self.print_sites.append(site)
        return len(self.print_sites) - 1

    def intrinsic(self, name: str) -> ir.Function:
        fn = self.module.globals.get(name)
        if fn is None:
            if name.startswith("llvm.memset"):
                fty = ir.FunctionType(ir.VoidType(), [PTR, I8, I64, I1])
            elif name.startswith("llvm.lifetime"):
                fty = ir.FunctionType(ir.VoidType(), [PTR])
            else:
                fty = ir.FunctionType(ir.VoidType(), [PTR, PTR, I64, I1])
            fn = ir.Function(self.module, fty, name)
        return fn

    def function(self, bfn: Any, program: bool) -> ir.Function:
        """The LLVM function for ``bfn`` (generated on first use)."""
        fn = self.functions.get(bfn)
        if fn is not None:
            return fn
        tf: TypedFunction = bfn.typed()
        if program:
            fty = ir.FunctionType(I32, [PTR])
        else:
            params = [PTR if is_aggregate(t) else reg_type(t) for _, t in tf.params]
            if is_aggregate(tf.ret):    # returned through a hidden pointer to the caller's slot
                fty = ir.FunctionType(ir.VoidType(), [PTR] + params)
            else:
                fty = ir.FunctionType(ir.VoidType() if tf.ret is None else reg_type(tf.ret), params)
        fn = ir.Function(self.module, fty, bfn.name if program else f"{bfn.name}")
        self.functions[bfn] = fn
        if program:
            fn.section = bfn.section
        else:
            fn.linkage = "internal"
            fn.attributes.add("alwaysinline" if bfn.inline else "noinline")
        gen = FunctionGen(self, tf, fn, program)
        gen.prologue = getattr(bfn, "gen_prologue", None) if program else None
        gen.program_def = bfn if program else None
        gen.emit()
        return fn


class FunctionGen:
    """Emits one function body."""

    def __init__(self, mg: ModuleGen, tf: TypedFunction, fn: ir.Function, program: bool) -> None:
        self.mg, self.tf, self.fn, self.program = mg, tf, fn, program
        self.file = tf.filename
        entry = fn.append_basic_block("entry")
        self.entry_builder = ir.IRBuilder(entry)
        body = fn.append_basic_block("body")
        self.b = ir.IRBuilder(body)
        self.slots: dict[str, ir.Value] = {}
        self.loops: list[tuple[ir.Block, ir.Block]] = []
        self.prologue: Any = None
        self.program_def: Any = None
        self.mem = MemFacts(tf)
        self.lifetimes = Lifetimes()
        self.stmt_temps: list[ir.Value] | None = None    # temporaries of the statement being emitted
        self.map_values: dict[int, ir.Value] = {}     # id(m[k] node) -> its value pointer, while reading through it
        self.ret_slot: ir.Value | None = fn.args[0] if not program and is_aggregate(tf.ret) else None
        self.node: ast.AST = tf.node
        self.local_sites = _first_definitions(tf.node)
        self.sp = mg.di.subprogram(tf, program)
        fn.set_metadata("dbg", self.sp)

    def err(self, node: ast.AST, msg: str, hint: str | None = None) -> Exception:
        return fail(msg, node, self.file, hint)

    def at(self, node: ast.AST) -> None:
        loc = self.mg.di.location(node, self.sp)
        self.node = node
        self.b.debug_metadata = loc
        self.entry_builder.debug_metadata = loc

    # -- stack slots -------------------------------------------------------------
    def alloca(self, t: T.Type, name: str = "", zero: bool = True, pin: bool = False) -> ir.Value:
        """A stack slot for a value of ``t``, zeroed on entry unless ``zero`` is False.

        Pass False only for slots every use writes completely first (the
        verifier refuses reads of stack bytes never written).  Such a
        temporary lives until the end of the current statement (lifetime
        markers let LLVM reuse its bytes afterwards).  ``pin``: keep it in
        memory if it is large (see :meth:`pin`).
        """
        slot = self.entry_builder.alloca(mem_type(t), name=name)
        # 8-byte aligned aggregates let LLVM expand memset/memcpy with 8-byte stores
        slot.align = SLOT_ALIGN if is_aggregate(t) else max(t.align, 1)
        what = f"local {name!r}" if name in self.tf.locals else "a temporary copy"
        self.mg.slot_sites.setdefault(slot.name, (self.file, self.local_sites.get(name, self.node),
                                                  f"{what} ({t.name}, {t.size} bytes)"))
        if zero:
            self.zero(slot, t, self.entry_builder)
        elif self.stmt_temps is not None and name not in self.tf.locals:
            self.b.call(self.mg.intrinsic("llvm.lifetime.start.p0"), [slot])   # dead after the statement
            self.stmt_temps.append(slot)
        if pin:
            self.pin(slot, t, self.entry_builder if zero or self.stmt_temps is None else self.b)
        return slot

    def pin(self, slot: ir.Value, t: T.Type, b: ir.IRBuilder | None = None) -> None:
        """Keep a large local in memory: its address goes to an empty asm.

        Otherwise SROA turns a struct copied whole from memory into one SSA
        value per 8 bytes, all live at once, and the BPF backend spills them
        past the 512-byte stack (C code rarely meets this: such structs
        usually have their address taken).  Only locals copied into from
        memory are pinned: small ones still become registers, zero-filled
        ones fold into constant stores, temporaries stay free to fold away.
        """
        if is_aggregate(t) and t.size > _PROMOTE_MAX:
            (b or self.b).asm(ir.FunctionType(ir.VoidType(), [PTR]), "", "r", [slot], True)

    def zero(self, ptr: ir.Value, t: T.Type, b: ir.IRBuilder | None = None, align: int = 1) -> None:
        b = b or self.b
        if is_aggregate(t):
            align = SLOT_ALIGN if isinstance(ptr, ir.AllocaInstr) else max(align, t.align)
            for off, n in _chunks(t.size):
                dst = ptr if off == 0 else b.gep(ptr, [I64(off)], source_etype=I8)
                call = b.call(self.mg.intrinsic("llvm.memset.p0.i64"), [dst, I8(0), I64(n), I1(0)],
                              arg_attrs={0: ()})
                call.arg_attributes[0].align = gcd_align(align, off)
        else:
            st = ir.instructions.StoreInstr(b.block, ir.Constant(mem_type(t), None), ptr)
            st.align = t.align
            b._insert(st)

    def copy(self, dst: ir.Value, src: ir.Value, size: int, dst_align: int = 1, src_align: int = 1) -> None:
        """Copy ``size`` bytes with explicit loads/stores as wide as both alignments allow.

        Not llvm.memcpy: the BPF backend turns a long one into a libcall it
        cannot lower (a fatal error) or loads everything before storing (spills).
        """
        b = self.b
        align = min(SLOT_ALIGN if isinstance(dst, ir.AllocaInstr) else max(dst_align, 1),
                    SLOT_ALIGN if isinstance(src, ir.AllocaInstr) else max(src_align, 1))
        off = 0
        while off < size:
            w = min(align, gcd_align(8, off) if off else 8)
            while w > size - off:
                w //= 2
            ty = ir.IntType(w * 8)
            s = src if off == 0 else b.gep(src, [I64(off)], source_etype=I8)
            d = dst if off == 0 else b.gep(dst, [I64(off)], source_etype=I8)
            v = b.load(s, typ=ty)
            v.align = w
            st = ir.instructions.StoreInstr(b.block, v, d)
            st.align = w
            b._insert(st)
            off += w

    def load(self, ptr: ir.Value, t: T.Type) -> ir.Value:
        v = self.b.load(ptr, typ=mem_type(t))
        v.align = t.align
        return self.b.trunc(v, I1) if t is T.bool else v

    def store(self, v: ir.Value, ptr: ir.Value, t: T.Type) -> None:
        if t is T.bool:
            v = self.b.zext(v, I8)
        st = ir.instructions.StoreInstr(self.b.block, v, ptr)  # LLVM's pointers are opaque: no
        st.align = t.align                                      # pointee check (llvmlite's is typed)
        self.b._insert(st)

    # -- function body -----------------------------------------------------------
    def emit(self) -> None:
        tf = self.tf
        self.at(tf.node)
        self.lifetimes = local_lifetimes(tf, is_aggregate)
        scoped = self.lifetimes.scoped()
        self.copied_into = _copied_into(tf.node) if any(map(is_aggregate, tf.locals.values())) else set()
        for name, t in tf.locals.items():   # a scoped local is assigned whole before any use
            if name not in self.lifetimes.aliases:
                self.slots[name] = self.alloca(t, name, zero=name not in scoped,
                                               pin=name not in scoped and name in self.copied_into)
        for name, other in self.lifetimes.aliases.items():
            self.slots[name] = self.slots[other]
        args = self.fn.args[1:] if self.ret_slot is not None else self.fn.args
        for arg, (name, t) in zip(args, tf.params):
            arg.name = name + ".arg"
            if is_aggregate(t):     # by value, like C: the callee works on its own copy
                self.copy(self.slots[name], arg, t.size, src_align=t.align)
            else:
                self.store(arg, self.slots[name], t)
        if self.prologue is not None:
            self.prologue(self)
        self.block(tf.node.body)
        if not self.b.block.is_terminated:
            if self.program:
                self.b.ret(I32(0))
            elif self.ret_slot is not None:    # fell off the end: the zero value, like a scalar
                self.zero(self.ret_slot, tf.ret, align=SLOT_ALIGN)
                self.b.ret_void()
            elif tf.ret is None:
                self.b.ret_void()
            else:
                self.b.ret(ir.Constant(reg_type(tf.ret), 0))
        self.entry_builder.branch(self.fn.basic_blocks[1])

    def block(self, stmts: list[ast.stmt]) -> None:
        for s in stmts:
            if self.b.block.is_terminated:
                return  # code after return/break/continue is unreachable
            self.at(s)
            outer, self.stmt_temps = self.stmt_temps, []
            for name in self.lifetimes.starts.get(id(s), ()):
                self.b.call(self.mg.intrinsic("llvm.lifetime.start.p0"), [self.slots[name]])
                if name in self.copied_into or name in self.lifetimes.aliases.values():
                    self.pin(self.slots[name], self.tf.locals[name])
            getattr(self, "s_" + type(s).__name__)(s)
            ended = [self.slots[name] for name in self.lifetimes.ends.get(id(s), ())] + self.stmt_temps
            self.stmt_temps = outer
            if not self.b.block.is_terminated:
                for slot in ended:
                    self.b.call(self.mg.intrinsic("llvm.lifetime.end.p0"), [slot])

    def new_block(self, name: str) -> ir.Block:
        return self.fn.append_basic_block(name)

    def s_Pass(self, s: ast.Pass) -> None:
        pass

    def s_Expr(self, s: ast.Expr) -> None:
        if not getattr(s, "docstring", False):
            self.gen(s.value)

    def s_Return(self, s: ast.Return) -> None:
        if s.value is None:
            self.b.ret_void()
            return
        if self.ret_slot is not None:
            vm = getattr(s.value, "map", None)
            if vm is not None:          # straight from the map into the caller's slot
                vm.gen_load(self, s.value, into=self.ret_slot)
            else:
                self.copy(self.ret_slot, self.gen(s.value), self.tf.ret.size, SLOT_ALIGN,
                          self.mem.align_of(s.value))
            self.b.ret_void()
            return
        v = self.value(s.value, self.tf.ret)
        if self.program:
            v = self.b.trunc(v, I32) if v.type.width > 32 else v
        self.b.ret(v)

    def s_Assign(self, s: ast.Assign) -> None:
        self.assign(s.targets[0], s.value)

    def s_AnnAssign(self, s: ast.AnnAssign) -> None:
        if s.value is not None:
            self.assign(s.target, s.value)

    def assign(self, target: ast.expr, value: ast.expr) -> None:
        m = getattr(target, "map", None)
        if m is not None:
            m.gen_store(self, target, value)
            return
        tt = target.ty
        vm = getattr(value, "map", None)
        if is_aggregate(tt) and isinstance(target, ast.Name):   # straight into the local: no temporary
            if vm is not None:
                vm.gen_load(self, value, into=self.slots[target.id])
                return
            if getattr(value, "kind", None) == "zero":
                self.zero(self.slots[target.id], tt)
                return
            if getattr(value, "kind", None) == "bpfcall":
                self.call_bpf(value, into=self.slots[target.id])
                return
            if isinstance(value, ast.Name) and self.slots[value.id] is self.slots[target.id]:
                return      # `c = b` where c took over b's slot
        if is_aggregate(tt):
            src = self.gen(value)
            dst = self.addr(target)
            self.copy(dst, src, tt.size, self.mem.align_of(target), self.mem.align_of(value))
            return
        v = self.value(value, tt)
        self.store(v, self.addr(target), tt)

    def s_AugAssign(self, s: ast.AugAssign) -> None:
        if s.kind == "map":
            s.target.value.static.gen_aug(self, s)
            return
        tt = s.target.ty
        ptr = self.addr(s.target)
        cur = self.convert(self.load(ptr, tt), tt, s.opty)
        rhs = self.value(s.value, s.opty)
        res = self.binop(s.op, s.opty, cur, rhs)
        self.store(self.convert(res, s.opty, tt), ptr, tt)

    def s_If(self, s: ast.If) -> None:
        then, els, done = self.new_block("if.then"), self.new_block("if.else"), self.new_block("if.end")
        self.b.cbranch(self.truth(s.test), then, els)
        for blk, body in ((then, s.body), (els, s.orelse)):
            self.b.position_at_end(blk)
            self.block(body)
            if not self.b.block.is_terminated:
                self.b.branch(done)
        self.b.position_at_end(done)

    def s_While(self, s: ast.While) -> None:
        head, body, done = self.new_block("while.cond"), self.new_block("while.body"), self.new_block("while.end")
        self.b.branch(head)
        self.b.position_at_end(head)
        self.at(s)
        self.b.cbranch(self.truth(s.test), body, done)
        self.b.position_at_end(body)
        self.loops.append((head, done))
        self.block(s.body)
        self.loops.pop()
        if not self.b.block.is_terminated:
            self.b.branch(head)
        self.b.position_at_end(done)

    def s_For(self, s: ast.For) -> None:
        cty = s.cty
        counter = self.alloca(cty, "range.i", zero=False)
        start = self.value(s.start, cty) if s.start is not None else ir.Constant(reg_type(cty), 0)
        stop_v = self.value(s.stop, cty)
        stop = self.alloca(cty, "range.stop", zero=False)
        self.store(start, counter, cty)
        self.store(stop_v, stop, cty)
        head, body, step, done = (self.new_block("for.cond"), self.new_block("for.body"),
                                  self.new_block("for.step"), self.new_block("for.end"))
        self.b.branch(head)
        self.b.position_at_end(head)
        i = self.load(counter, cty)
        cmp = ("<" if s.step > 0 else ">")
        op = self.b.icmp_signed if cty.signed else self.b.icmp_unsigned
        self.b.cbranch(op(cmp, i, self.load(stop, cty)), body, done)
        self.b.position_at_end(body)
        self.store(self.convert(i, cty, s.target.ty), self.slots[s.target.id], s.target.ty)
        self.loops.append((step, done))
        self.block(s.body)
        self.loops.pop()
        if not self.b.block.is_terminated:
            self.b.branch(step)
        self.b.position_at_end(step)
        self.at(s)
        nxt = self.b.add(self.load(counter, cty), ir.Constant(reg_type(cty), s.step))
        self.store(nxt, counter, cty)
        self.b.branch(head)
        self.b.position_at_end(done)

    def s_Break(self, s: ast.Break) -> None:
        self.b.branch(self.loops[-1][1])

    def s_Continue(self, s: ast.Continue) -> None:
        self.b.branch(self.loops[-1][0])

    def s_Delete(self, s: ast.Delete) -> None:
        for t in s.targets:
            t.value.static.gen_delete(self, t)

    # -- values ------------------------------------------------------------------
    def value(self, e: ast.expr, want: T.Type) -> ir.Value:
        """``e`` evaluated and converted to ``want`` (a scalar type)."""
        if isinstance(e.static, int) and isinstance(want, T.IntType):
            return const(want, e.static)
        return self.convert(self.gen(e), e.ty, want)

    def convert(self, v: ir.Value, frm: T.Type, to: T.Type) -> ir.Value:
        if frm is to:
            return v
        if isinstance(to, T.PtrType):
            if isinstance(frm, T.PtrType):
                return v
            return self.b.inttoptr(self.convert(v, frm, T.u64), PTR)
        if isinstance(frm, T.PtrType):
            if to is T.bool:
                return self.nonnull(v)
            v = self.b.ptrtoint(v, I64)
            frm = T.u64
        if to is T.bool:
            return self.b.icmp_unsigned("!=", v, ir.Constant(v.type, 0))
        tw, fw = to.bits, (1 if frm is T.bool else frm.bits)
        if tw == fw:
            return v
        if tw < fw:
            return self.b.trunc(v, reg_type(to))
        if frm.signed:
            return self.b.sext(v, reg_type(to))
        return self.b.zext(v, reg_type(to))

    def truth(self, e: ast.expr) -> ir.Value:
        if isinstance(e.static, int):
            return I1(1 if e.static else 0)
        v = self.gen(e)
        if isinstance(e.ty, T.PtrType):
            return self.nonnull(v)
        if e.ty is T.bool:
            return v
        return self.b.icmp_unsigned("!=", v, ir.Constant(v.type, 0))

    def opaque(self, bit: ir.Value) -> ir.Value:
        """``bit`` through an empty asm: the backend cannot merge ``(a != 0) | (b != 0)``
        on two pointers into ``(a | b) != 0``, an OR of pointers the verifier refuses."""
        v = self.b.asm(ir.FunctionType(I64, [I64]), "", "=r,0", [self.b.zext(bit, I64)], False)
        return self.b.trunc(v, I1)

    def nonnull(self, p: ir.Value) -> ir.Value:
        """``p != NULL``."""
        return self.b.icmp_unsigned("!=", p, ir.Constant(PTR, None))

    def gen(self, e: ast.expr) -> ir.Value:
        """Evaluate ``e``: a register value for scalars, an address for aggregates."""
        if isinstance(e.static, int):
            return const(e.ty or T.s64, e.static)
        meth = getattr(self, "e_" + type(e).__name__, None)
        if meth is None:
            raise self.err(e, f"cannot generate code for {type(e).__name__}")
        return meth(e)

    def e_Constant(self, e: ast.Constant) -> ir.Value:
        return self.value(e, e.ty or T.s64)

    def e_Name(self, e: ast.Name) -> ir.Value:
        if is_aggregate(e.ty):
            return self.slots[e.id]
        return self.load(self.slots[e.id], e.ty)

    def e_Attribute(self, e: ast.Attribute) -> ir.Value:
        return self.read(e)

    def e_Subscript(self, e: ast.Subscript) -> ir.Value:
        m = getattr(e, "map", None)
        if m is not None:
            return m.gen_load(self, e)
        return self.read(e)

    def read(self, e: ast.expr) -> ir.Value:
        """Read a field or element (probe-reading it from kernel memory when needed)."""
        if getattr(e, "dataloc", False):
            return self.dataloc(e)
        if isinstance(getattr(e, "field", None), T.BitField):
            return self.bitfield(e)
        root = _map_field(e)
        if root is not None and not is_aggregate(e.ty):    # m[k].f, m[k].a[i]: one load from the value, no copy
            from .mapgen import gen_field_load
            return gen_field_load(self, e, root)
        ptr = self.addr(e)
        if getattr(e, "space", "direct") == "kernel":
            tmp = self.alloca(e.ty, "kread", zero=False)
            self.probe_read(tmp, e.ty.size, ptr, "kernel")
            ptr = tmp
        if is_aggregate(e.ty):
            return ptr
        return self.load(ptr, e.ty)

    def bitfield(self, e: ast.Attribute) -> ir.Value:
        """A bitfield: its unit loaded (probe-read in kernel memory), shifted, masked or sign-extended."""
        f = e.field
        unit = T.IntType(8 * f.window, False)
        ptr = self.addr(e)
        if getattr(e, "space", "direct") == "kernel":
            tmp = self.alloca(unit, "kbits", zero=False)
            self.probe_read(tmp, f.window, ptr, "kernel")
            ptr = tmp
        v = self.convert(self.load(ptr, unit), unit, T.u64)
        if f.type.signed:
            v = self.b.ashr(self.b.shl(v, I64(64 - f.bit_offset - f.bit_size)), I64(64 - f.bit_size))
            return self.convert(v, T.s64, f.type)
        v = self.b.and_(self.b.lshr(v, I64(f.bit_offset)), I64((1 << f.bit_size) - 1))
        return self.convert(v, T.u64, f.type)

    def dataloc(self, e: ast.Attribute) -> ir.Value:
        """A tracepoint's ``__data_loc``/``__rel_loc`` field: the address of its data."""
        base = self.base_ptr(e.value)
        loc = self.b.load(self.b.gep(base, [I64(e.field.offset)], source_etype=I8), typ=I32)
        off = self.b.zext(self.b.and_(loc, I32(0xFFFF)), I64)
        if e.field.dataloc == "rel":
            off = self.b.add(off, I64(e.field.offset + 4))
        return self.b.gep(base, [off], source_etype=I8)

    def probe_read(self, dst: ir.Value, size: int, src: ir.Value, space: str) -> ir.Value:
        from ..helpers.registry import helper_by_name
        h = helper_by_name("probe_read_kernel" if space == "kernel" else "probe_read_user")
        return self.call_helper(h.id, I64, [dst, I32(size), src])

    def call_helper(self, helper_id: int, ret: ir.Type, args: list[ir.Value]) -> ir.Value:
        fty = ir.FunctionType(ret, [a.type for a in args])
        fp = self.b.inttoptr(I64(helper_id), PTR)
        fp.__class__ = _HelperPtr
        fp.function_type = fty
        return self.b.call(fp, args)

    # -- addresses ---------------------------------------------------------------
    def addr(self, e: ast.expr) -> ir.Value:
        """The address of a place: a local, a field or an element."""
        if isinstance(e, ast.Name):
            return self.slots[e.id]
        if isinstance(e, ast.Attribute):
            base = self.base_ptr(e.value)
            return self.b.gep(base, [I64(e.field.offset)], source_etype=I8)
        if isinstance(e, ast.Subscript):
            if getattr(e, "map", None) is not None:     # m[k]: the value pointer being read through, or a copy
                return self.map_values.get(id(e)) or self.gen(e)
            return self.element(e)
        if is_aggregate(e.ty):
            return self.gen(e)
        raise self.err(e, f"{ast.unparse(e)} is not a place in memory")

    def base_ptr(self, base: ast.expr) -> ir.Value:
        if isinstance(base.ty, T.PtrType):
            return self.gen(base)
        if getattr(base, "space", "direct") == "kernel" and isinstance(base, (ast.Attribute, ast.Subscript)):
            return self.addr(base)  # address arithmetic only; the final read probes
        return self.addr(base) if isinstance(base, (ast.Name, ast.Attribute, ast.Subscript)) else self.gen(base)

    def element(self, e: ast.Subscript) -> ir.Value:
        if getattr(e, "deref", False):
            return self.gen(e.value)
        base_ty = e.value.ty.target if isinstance(e.value.ty, T.PtrType) else e.value.ty
        base = self.base_ptr(e.value)
        esize = base_ty.elem.size
        if isinstance(e.slice.static, int):
            return self.b.gep(base, [I64(e.slice.static * esize)], source_etype=I8)
        if getattr(e, "unchecked", False):   # a flexible array in kernel memory: the read probes
            idx = self.convert(self.gen(e.slice), e.slice.ty, T.u64)
            return self.b.gep(base, [self.b.mul(idx, I64(esize))], source_etype=I8)
        idx = self.convert(self.gen(e.slice), e.slice.ty, T.u64)
        # An empty asm hides the index's origin from LLVM, so the bounds test stays a
        # 64-bit test on the very register the address is computed from (what the
        # verifier needs to see the bound).
        idx = self.b.asm(ir.FunctionType(I64, [I64]), "", "=r,0", [idx], False)
        ok = self.b.icmp_unsigned("<", idx, I64(base_ty.n))
        inb, oob, done = self.new_block("idx.ok"), self.new_block("idx.out"), self.new_block("idx.end")
        scratch = self.alloca(base_ty.elem, "idx.scratch", zero=False)
        self.b.cbranch(ok, inb, oob)
        self.b.position_at_end(inb)
        # A second one keeps the address computation below the test: hoisted above it (and
        # turned into a select), the address would be computed from the unbounded index.
        idx = self.b.asm(ir.FunctionType(I64, [I64]), "", "=r,0", [idx], False)
        p_in = self.b.gep(base, [self.b.mul(idx, I64(esize))], source_etype=I8)
        self.b.branch(done)
        self.b.position_at_end(oob)
        self.zero(scratch, base_ty.elem)
        self.b.branch(done)
        self.b.position_at_end(done)
        phi = self.b.phi(PTR)
        phi.add_incoming(p_in, inb)
        phi.add_incoming(scratch, oob)
        return phi

    # -- operators ---------------------------------------------------------------
    def e_BinOp(self, e: ast.BinOp) -> ir.Value:
        l = self.value(e.left, e.opty)
        r = self.value(e.right, e.opty)
        return self.binop(e.op, e.opty, l, r)

    def binop(self, op: ast.operator, t: T.IntType, l: ir.Value, r: ir.Value) -> ir.Value:
        b = self.b
        if isinstance(op, ast.Add):
            return b.add(l, r)
        if isinstance(op, ast.Sub):
            return b.sub(l, r)
        if isinstance(op, ast.Mult):
            return b.mul(l, r)
        if isinstance(op, ast.BitAnd):
            return b.and_(l, r)
        if isinstance(op, ast.BitOr):
            return b.or_(l, r)
        if isinstance(op, ast.BitXor):
            return b.xor(l, r)
        if isinstance(op, (ast.LShift, ast.RShift)):
            cnt = b.and_(r, ir.Constant(r.type, t.bits - 1))
            if isinstance(op, ast.LShift):
                return b.shl(l, cnt)
            return b.ashr(l, cnt) if t.signed else b.lshr(l, cnt)
        return self.divmod(isinstance(op, ast.FloorDiv), t, l, r)

    def divmod(self, is_div: bool, t: T.IntType, l: ir.Value, r: ir.Value) -> ir.Value:
        """C division/modulo with BPF's answers for x/0 (0) and x%0 (x).

        Signed operations are built from unsigned ones on magnitudes: the BPF
        backend rejects sdiv/srem before cpu v4 (with a fatal error), and this
        form also makes INT_MIN / -1 wrap instead of being undefined.
        """
        b, ty = self.b, l.type
        zero, one = ir.Constant(ty, 0), ir.Constant(ty, 1)
        is_zero = b.icmp_unsigned("==", r, zero)
        safe = b.select(is_zero, one, r)
        if not t.signed:
            res = b.udiv(l, safe) if is_div else b.urem(l, safe)
            return b.select(is_zero, zero if is_div else l, res)
        l_neg = b.icmp_signed("<", l, zero)
        r_neg = b.icmp_signed("<", safe, zero)
        ul = b.select(l_neg, b.sub(zero, l), l)
        ur = b.select(r_neg, b.sub(zero, safe), safe)
        if is_div:
            q = b.udiv(ul, ur)
            res = b.select(b.xor(l_neg, r_neg), b.sub(zero, q), q)
            return b.select(is_zero, zero, res)
        m = b.urem(ul, ur)
        res = b.select(l_neg, b.sub(zero, m), m)
        return b.select(is_zero, l, res)

    def e_UnaryOp(self, e: ast.UnaryOp) -> ir.Value:
        if isinstance(e.op, ast.Not):
            return self.b.xor(self.truth(e.operand), I1(1))
        v = self.value(e.operand, e.ty)
        if isinstance(e.op, ast.USub):
            return self.b.sub(ir.Constant(v.type, 0), v)
        if isinstance(e.op, ast.Invert):
            return self.b.xor(v, ir.Constant(v.type, -1))
        return v

    def e_BoolOp(self, e: ast.BoolOp) -> ir.Value:
        is_and = isinstance(e.op, ast.And)
        done = self.new_block("bool.end")
        incoming = []
        for i, v in enumerate(e.values):
            val = self.value(v, e.ty)
            if not is_and and isinstance(v.ty, T.PtrType):
                val = self.opaque(val)
            if i == len(e.values) - 1:
                incoming.append((val, self.b.block))
                self.b.branch(done)
                break
            t = val if e.ty is T.bool else self.b.icmp_unsigned("!=", val, ir.Constant(val.type, 0))
            nxt = self.new_block("bool.next")
            incoming.append((val, self.b.block))
            if is_and:
                self.b.cbranch(t, nxt, done)
            else:
                self.b.cbranch(t, done, nxt)
            self.b.position_at_end(nxt)
        self.b.position_at_end(done)
        phi = self.b.phi(reg_type(e.ty))
        for val, blk in incoming:
            phi.add_incoming(val, blk)
        return phi

    def e_IfExp(self, e: ast.IfExp) -> ir.Value:
        then, els, done = self.new_block("ifx.then"), self.new_block("ifx.else"), self.new_block("ifx.end")
        self.b.cbranch(self.truth(e.test), then, els)
        out = []
        for blk, sub in ((then, e.body), (els, e.orelse)):
            self.b.position_at_end(blk)
            v = self.gen(sub) if is_aggregate(e.ty) else self.value(sub, e.ty)
            out.append((v, self.b.block))
            self.b.branch(done)
        self.b.position_at_end(done)
        phi = self.b.phi(out[0][0].type)
        for v, blk in out:
            phi.add_incoming(v, blk)
        return phi

    def e_Compare(self, e: ast.Compare) -> ir.Value:
        if isinstance(e.ops[0], (ast.In, ast.NotIn)):
            found = self.membership(e)
            return self.b.xor(found, I1(1)) if isinstance(e.ops[0], ast.NotIn) else found
        raw: dict[int, ir.Value] = {}

        def operand(x: ast.expr, oty: T.Type) -> ir.Value:
            if isinstance(x.static, int):
                return self.value(x, oty)
            if id(x) not in raw:
                raw[id(x)] = self.gen(x)
            return self.convert(raw[id(x)], x.ty, oty)

        done = self.new_block("cmp.end") if len(e.ops) > 1 else None
        incoming = []
        left = e.left
        for k, (op, right, oty) in enumerate(zip(e.ops, e.comparators, e.optys)):
            if oty == "str":
                res = self.str_compare(op, left, right)
            elif oty == "none":
                res = self.nonnull(self.gen(left))
                res = self.b.xor(res, I1(1)) if isinstance(op, ast.Is) else res
            else:
                lv, rv = operand(left, oty), operand(right, oty)
                sym = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">",
                       ast.GtE: ">="}[type(op)]
                if isinstance(oty, T.IntType) and oty.signed:
                    res = self.b.icmp_signed(sym, lv, rv)
                else:
                    res = self.b.icmp_unsigned(sym, lv, rv)
            if done is None:
                return res
            incoming.append((res, self.b.block))
            if k == len(e.ops) - 1:
                self.b.branch(done)
            else:
                nxt = self.new_block("cmp.next")
                self.b.cbranch(res, nxt, done)
                self.b.position_at_end(nxt)
            left = right
        self.b.position_at_end(done)
        phi = self.b.phi(I1)
        for v, blk in incoming:
            phi.add_incoming(v, blk)
        return phi

    def membership(self, e: ast.Compare) -> ir.Value:
        """``x in (a, b, ...)`` (every value evaluated, as Python builds the tuple) or ``k in m``."""
        m = getattr(e, "in_map", None)
        if m is not None:
            from .mapgen import in_memory, lookup
            p = lookup(self, m, in_memory(self, e.left, m.key_type))
            return self.nonnull(p)
        left = None if isinstance(e.left.static, int) else self.gen(e.left)
        pairs = [(oty, self.value(elt, oty)) for elt, oty in zip(e.comparators[0].elts, e.optys)]
        found = I1(0)
        for oty, v in pairs:
            lv = const(oty, e.left.static) if left is None else self.convert(left, e.left.ty, oty)
            found = self.b.or_(found, self.b.icmp_unsigned("==", lv, v))
        return found

    def str_compare(self, op: ast.cmpop, left: ast.expr, right: ast.expr) -> ir.Value:
        arr, s = (left, right) if isinstance(right.static, str) else (right, left)
        data = s.static.encode()
        n = arr.ty.target.n if isinstance(arr.ty, T.PtrType) else arr.ty.n
        if len(data) < n:
            data += b"\0"
        ptr = self.gen(arr)
        eq = I1(1)
        for i, byte in enumerate(data):
            p = self.b.gep(ptr, [I64(i)], source_etype=I8)
            c = self.b.load(p, typ=I8)
            eq = self.b.and_(eq, self.b.icmp_unsigned("==", c, I8(byte)))
        return eq if isinstance(op, ast.Eq) else self.b.xor(eq, I1(1))

    # -- calls -------------------------------------------------------------------
    def call_bpf(self, e: ast.Call, into: ir.Value | None = None) -> ir.Value:
        """A call of a BPF function; a struct/array result goes to ``into`` or a temporary slot."""
        fn = e.callee
        callee = self.mg.function(fn, program=False)
        params, _ = fn.signature()
        args = [self.gen(a) if getattr(a, "byref", False) or is_aggregate(pt) else self.value(a, pt)
                for a, (_, pt) in zip(e.args, params)]
        if is_aggregate(e.ty):     # the callee writes every byte of the result, only when it returns
            out = into if into is not None else self.alloca(e.ty, "ret", zero=False)
            self.b.call(callee, [out] + args)
            return out
        return self.b.call(callee, args)

    def e_Call(self, e: ast.Call) -> ir.Value:
        from ..helpers.registry import Helper
        from .typer import MapMethod
        fn = e.callee
        if isinstance(fn, Helper):
            return fn.gen_call(self, e)
        if isinstance(fn, MapMethod):
            return fn.map.gen_method(self, e, fn.name)
        kind = getattr(e, "kind", None)
        if kind == "cast":
            return self.convert(self.gen(e.args[0]), e.args[0].ty, e.ty)
        if kind == "zero":
            return self.alloca(e.ty, "tmp")
        if kind == "print":
            from .printgen import gen_print
            return gen_print(self, e)
        if kind == "bpfcall":
            return self.call_bpf(e)
        if kind in ("min", "max"):
            a, c = (self.value(x, e.ty) for x in e.args)
            sym = "<" if kind == "min" else ">"
            cmp = (self.b.icmp_signed if e.ty.signed else self.b.icmp_unsigned)(sym, a, c)
            return self.b.select(cmp, a, c)
        if kind == "abs":
            a = self.value(e.args[0], e.ty)
            if not e.ty.signed:
                return a
            neg = self.b.icmp_signed("<", a, ir.Constant(a.type, 0))
            return self.b.select(neg, self.b.sub(ir.Constant(a.type, 0), a), a)
        raise self.err(e, "cannot generate this call")
