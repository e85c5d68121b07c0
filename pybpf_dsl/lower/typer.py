"""Pass 2: name resolution and type inference over a parsed function (the typed IR).

The typed IR is the function's AST with two annotations on each expression:
``node.ty`` (a :mod:`pybpf_dsl.types` type, or None for compile-time-only
values) and ``node.static`` (the Python object a compile-time expression
denotes: a constant, a type, a helper, a map, a BPF function; ``NOSTATIC``
otherwise).  Statements are checked here too; codegen and the reference
interpreter both walk this IR, so they cannot disagree on types.
"""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass, field
from typing import Any

from .. import types as T
from .source import ParsedFunction, fail

__all__ = ["NOSTATIC", "TYPING", "TypedFunction", "type_function", "MapMethod"]


class _NoStatic:
    def __repr__(self) -> str:
        return "NOSTATIC"


NOSTATIC: Any = _NoStatic()

TYPING: list[Any] = []   # the BPF functions being typed, outermost first (finds recursion)

_INT_OPS = (ast.Add, ast.Sub, ast.Mult, ast.FloorDiv, ast.Mod, ast.LShift, ast.RShift,
            ast.BitAnd, ast.BitOr, ast.BitXor)
_OP_NAMES = {ast.Div: ("/", "use // for integer division (it truncates toward zero, like C)"),
             ast.Pow: ("**", "write the multiplication out, or use a shift for powers of two"),
             ast.MatMult: ("@", "there is no matrix product in BPF")}
_CMP_OPS = (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE)
_STR_HINT = ('strings exist only as literals: compare a char array with `== "text"`, '
             'or format text in user space with print(f"...")')

# What to write instead of each Python construct BPF code cannot have.
_UNSUPPORTED = {
    "Try": ("try/except is", "BPF has no exceptions: test return values instead (`if r < 0:`)"),
    "TryStar": ("try/except* is", "BPF has no exceptions: test return values instead (`if r < 0:`)"),
    "Raise": ("raise is", "BPF has no exceptions: return an error code instead"),
    "With": ("with is", "BPF has no context managers: write the calls out"),
    "AsyncWith": ("async with is", "BPF code is synchronous"),
    "AsyncFor": ("async for is", "BPF code is synchronous"),
    "FunctionDef": ("nested def is", "define it at module level and mark it @bpf_function"),
    "AsyncFunctionDef": ("async def is", "define a plain @bpf_function at module level"),
    "ClassDef": ("class definitions are", "define Struct types at module level, outside the probe"),
    "Import": ("import is", "import at module level; BPF code uses the names"),
    "ImportFrom": ("import is", "import at module level; BPF code uses the names"),
    "Global": ("global is", "keep state in a map (e.g. an ArrayMap) instead of a global"),
    "Nonlocal": ("nonlocal is", "keep state in a map instead"),
    "Assert": ("assert is", "test the condition with if and return an error code"),
    "Match": ("match is", "use if/elif/else"),
    "Lambda": ("lambda is", "define a module-level @bpf_function"),
    "GeneratorExp": ("generator expressions are", "write a for-in-range loop"),
    "ListComp": ("list comprehensions are", "fill an Array[T, n] in a for-in-range loop"),
    "SetComp": ("set comprehensions are", "use a map (HashMap) as a set"),
    "DictComp": ("dict comprehensions are", "use a map (HashMap) and fill it in a loop"),
    "List": ("lists are", "use an Array[T, n]"),
    "Tuple": ("tuples are", "use a Struct, or one assignment per value"),
    "Dict": ("dicts are", "declare a HashMap at module level"),
    "Set": ("sets are", "declare a HashMap at module level and use it as a set"),
    "Yield": ("yield is", "BPF programs cannot be generators: output events with a RingBuf or print()"),
    "YieldFrom": ("yield from is", "BPF programs cannot be generators: output events with a RingBuf"),
    "Await": ("await is", "BPF code is synchronous"),
    "JoinedStr": ("f-strings outside print() are", "format in user space: print(f\"...\") or send a Struct"),
    "NamedExpr": ("the := operator is", "assign on its own line first"),
    "Starred": ("*args are", "pass each value"),
    "Slice": ("slices are", "index one element at a time, or copy with a loop"),
}


@dataclass
class MapMethod:
    """``m.lookup`` and friends: a method of a map declaration, resolved statically."""

    map: Any
    name: str


@dataclass
class TypedFunction:
    """A typed function: the annotated AST plus its signature and locals."""

    name: str
    node: ast.FunctionDef
    filename: str
    params: list[tuple[str, T.Type]]
    ret: T.Type | None
    locals: dict[str, T.Type]
    maps: list[Any] = field(default_factory=list)
    callees: list[Any] = field(default_factory=list)
    strings: list[bytes] = field(default_factory=list)


def _is_int_type(t: Any) -> bool:
    return isinstance(t, T.IntType)


def _leaves(stmts: list[ast.stmt]) -> bool:
    """True when a loop body can leave its loop: a break of that loop, or a return."""
    for st in stmts:
        if isinstance(st, (ast.Break, ast.Return)):
            return True
        if isinstance(st, (ast.While, ast.For)):
            if any(isinstance(n, ast.Return) for n in ast.walk(st)):
                return True
        elif any(_leaves(getattr(st, f, [])) for f in ("body", "orelse")):
            return True
    return False


class Typer:
    """Walks one function, annotating every expression with ``ty``/``static``."""

    def __init__(self, parsed: ParsedFunction, params: list[tuple[str, T.Type]],
                 ret: T.Type | None, name: str) -> None:
        self.p = parsed
        self.file = parsed.filename
        self.locals: dict[str, T.Type] = dict(params)
        self.tf = TypedFunction(name, parsed.node, self.file, params, ret, self.locals)
        self.loop_depth = 0

    # -- helpers -----------------------------------------------------------------
    def err(self, node: ast.AST, msg: str, hint: str | None = None) -> Exception:
        return fail(msg, node, self.file, hint)

    def lookup_global(self, node: ast.Name) -> Any:
        for scope in (self.p.closure, self.p.globals):
            if node.id in scope:
                return scope[node.id]
        if hasattr(builtins, node.id):
            return getattr(builtins, node.id)
        raise self.err(node, f"name {node.id!r} is not defined",
                       "assign it first, or define it at module level")

    def note_static(self, obj: Any) -> None:
        from ..maps import MapDecl
        from ..decorators import BPFFunction
        if isinstance(obj, MapDecl) and obj not in self.tf.maps:
            self.tf.maps.append(obj)
        elif isinstance(obj, BPFFunction) and obj not in self.tf.callees:
            self.tf.callees.append(obj)

    # -- statements --------------------------------------------------------------
    def run(self) -> TypedFunction:
        fdef = self.p.node
        if fdef.args.vararg or fdef.args.kwarg or fdef.args.kwonlyargs or fdef.args.defaults:
            raise self.err(fdef, "BPF functions take plain positional parameters",
                           "remove *args, **kwargs, keyword-only parameters and defaults")
        self.block(fdef.body)
        return self.tf

    def block(self, stmts: list[ast.stmt]) -> None:
        for s in stmts:
            self.stmt(s)

    def stmt(self, s: ast.stmt) -> None:
        meth = getattr(self, "s_" + type(s).__name__, None)
        if meth is None:
            subject, hint = _UNSUPPORTED.get(type(s).__name__, (
                f"{type(s).__name__} statements are",
                "use assignments, if/while/for-in-range, calls and return"))
            raise self.err(s, f"{subject} not supported in BPF code", hint)
        meth(s)

    def s_Pass(self, s: ast.Pass) -> None:
        pass

    def s_Expr(self, s: ast.Expr) -> None:
        if isinstance(s.value, ast.Constant) and isinstance(s.value.value, str):
            s.docstring = True
            return
        self.expr(s.value)

    def s_Return(self, s: ast.Return) -> None:
        ret = self.tf.ret
        if s.value is None:
            if ret is not None:
                raise self.err(s, f"this function returns {ret}", "write `return <value>`")
            return
        if ret is None:
            raise self.err(s, "this function is declared to return nothing",
                           "annotate the return type, e.g. `-> int`")
        self.expr(s.value)
        self.check_assignable(s.value, ret)

    def s_Assign(self, s: ast.Assign) -> None:
        if len(s.targets) != 1 or isinstance(s.targets[0], (ast.Tuple, ast.List)):
            raise self.err(s, "only single assignments are supported",
                           "write one assignment per line: `a = x` then `b = y`")
        self.assign(s.targets[0], s.value, None, s)

    def s_AnnAssign(self, s: ast.AnnAssign) -> None:
        ty = self.type_expr(s.annotation)
        if not isinstance(s.target, ast.Name):
            raise self.err(s, "annotations are only allowed on local names")
        if s.target.id in self.locals and self.locals[s.target.id] is not ty:
            raise self.err(s, f"{s.target.id!r} already has type {self.locals[s.target.id]}",
                           "use a new name for a value of another type")
        self.locals[s.target.id] = ty
        if s.value is not None:
            self.assign(s.target, s.value, ty, s)
        else:
            s.target.ty = ty

    def assign(self, target: ast.expr, value: ast.expr, declared: T.Type | None, s: ast.stmt) -> None:
        self.expr(value)
        if isinstance(target, ast.Name):
            if target.id not in self.locals:
                vt = value.ty
                if vt is None:
                    self.const_type(value, None)
                    vt = value.ty
                if vt is None:
                    raise self.err(value, "this value cannot be stored in a variable",
                                   "only integers, bools, structs, arrays and pointers can")
                self.locals[target.id] = vt
            target.ty = self.locals[target.id]
            target.static = NOSTATIC
        else:
            self.place(target)
        self.check_assignable(value, target.ty)

    def s_AugAssign(self, s: ast.AugAssign) -> None:
        if isinstance(s.op, tuple(_OP_NAMES)):
            sym, hint = _OP_NAMES[type(s.op)]
            raise self.err(s, f"operator {sym}= is not supported on integers", hint)
        self.expr(s.value)
        if isinstance(s.target, ast.Subscript):
            self.expr(s.target.value)
            from ..maps import MapDecl
            if isinstance(s.target.value.static, MapDecl):
                self.map_aug(s)
                return
        if isinstance(s.target, ast.Name):
            if s.target.id not in self.locals:
                raise self.err(s.target, f"{s.target.id!r} is used before it is assigned",
                               f"initialise it first: `{s.target.id} = 0`")
            s.target.ty = self.locals[s.target.id]
            s.target.static = NOSTATIC
        else:
            self.place(s.target)
        tt = s.target.ty
        if not _is_int_type(tt):
            raise self.err(s, f"cannot apply {type(s.op).__name__} to {tt}")
        s.opty = self.binop_type(s.op, s.target, s.value, tt, s)
        s.kind = "local"

    def map_aug(self, s: ast.AugAssign) -> None:
        m = s.target.value.static
        self.expr(s.target.slice)
        self.check_assignable(s.target.slice, m.key_type)
        if not isinstance(s.op, (ast.Add, ast.Sub)):
            raise self.err(s, "maps support only atomic += and -= in place",
                           "read the value, compute, then assign: `v = m[k]` ... `m[k] = v`")
        if not _is_int_type(m.value_type):
            raise self.err(s, f"{m.name} values are {m.value_type}, not integers")
        self.check_assignable(s.value, m.value_type)
        s.target.ty = m.value_type
        s.kind = "map"

    def s_If(self, s: ast.If) -> None:
        self.cond(s.test)
        self.block(s.body)
        self.block(s.orelse)

    def s_While(self, s: ast.While) -> None:
        if s.orelse:
            raise self.err(s, "while ... else is not supported", "use a flag variable")
        self.cond(s.test)
        if s.test.static not in (NOSTATIC, 0) and not _leaves(s.body):
            raise self.err(s, "this loop never ends: BPF programs must finish",
                           "add a bound: `for i in range(N):` with a break when done")
        self.loop_depth += 1
        self.block(s.body)
        self.loop_depth -= 1

    def s_For(self, s: ast.For) -> None:
        if s.orelse:
            raise self.err(s, "for ... else is not supported", "use a flag variable")
        it = s.iter
        if not (isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id == "range"
                and self.lookup_global(it.func) is range):
            raise self.err(it, "BPF loops iterate over range(...) only",
                           "write `for i in range(n):` with a bound the verifier can see")
        if not 1 <= len(it.args) <= 3 or it.keywords:
            raise self.err(it, "range() takes 1 to 3 positional arguments")
        for a in it.args:
            self.expr(a)
        start, stop = (it.args[0], it.args[1]) if len(it.args) > 1 else (None, it.args[0])
        step = it.args[2] if len(it.args) == 3 else None
        if step is not None:
            if not isinstance(step.static, int) or step.static == 0:
                raise self.err(step, "the range step must be a non-zero constant")
        s.step = step.static if step is not None else 1
        parts = [a for a in (start, stop) if a is not None]
        typed = [a.ty for a in parts if a.static is NOSTATIC]
        for a in parts:
            if a.static is NOSTATIC and not _is_int_type(a.ty):
                raise self.err(a, f"range() needs integers, got {a.ty}")
        if typed:
            cty = typed[0] if len(typed) == 1 else T.common_type(typed[0], typed[1])
            cty = T.promote(cty)
        else:
            cty = T.s64
        for a in parts:
            if a.static is not NOSTATIC:
                self.const_type(a, cty)
        s.start, s.stop, s.cty = start, stop, cty
        if not isinstance(s.target, ast.Name):
            raise self.err(s.target, "the loop variable must be a plain name")
        name = s.target.id
        if name not in self.locals:
            self.locals[name] = cty
        s.target.ty = self.locals[name]
        s.target.static = NOSTATIC
        if not _is_int_type(s.target.ty):
            raise self.err(s.target, f"{name!r} is {s.target.ty}, not an integer")
        self.loop_depth += 1
        self.block(s.body)
        self.loop_depth -= 1

    def s_Break(self, s: ast.Break) -> None:
        if not self.loop_depth:
            raise self.err(s, "break outside a loop")

    s_Continue = s_Break

    def s_Delete(self, s: ast.Delete) -> None:
        from ..maps import MapDecl
        for t in s.targets:
            if not isinstance(t, ast.Subscript):
                raise self.err(t, "only `del map[key]` is supported")
            self.expr(t.value)
            if not isinstance(t.value.static, MapDecl):
                raise self.err(t, "only `del map[key]` is supported")
            self.expr(t.slice)
            self.check_assignable(t.slice, t.value.static.key_type)

    # -- expressions -------------------------------------------------------------
    def expr(self, e: ast.expr) -> None:
        e.ty = None
        e.static = NOSTATIC
        meth = getattr(self, "e_" + type(e).__name__, None)
        if meth is None:
            subject, hint = _UNSUPPORTED.get(type(e).__name__, (
                f"{type(e).__name__} expressions are",
                "use integer arithmetic, comparisons, calls, fields and indexing"))
            raise self.err(e, f"{subject} not supported in BPF code", hint)
        meth(e)

    def cond(self, e: ast.expr) -> None:
        if isinstance(e, ast.BoolOp):
            e.in_cond = True    # only its truth matters: pointers may be operands (`if p and q:`)
        self.expr(e)
        if e.static is not NOSTATIC:
            self.const_type(e, None)
        if not (_is_int_type(e.ty) or isinstance(e.ty, T.PtrType)):
            raise self.err(e, f"a {e.ty} cannot be used as a condition",
                           "compare it explicitly, e.g. `x != 0`")

    def e_Constant(self, e: ast.Constant) -> None:
        v = e.value
        if isinstance(v, builtins.bool):
            e.static = int(v)
            e.ty = T.bool
        elif isinstance(v, int):
            e.static = v
        elif isinstance(v, (str, bytes)):
            e.static = v
        else:
            raise self.err(e, f"{type(v).__name__} constants are not supported",
                           "BPF has integers only; scale floats to integers")

    def e_Name(self, e: ast.Name) -> None:
        if e.id in self.locals:
            e.ty = self.locals[e.id]
            return
        obj = self.lookup_global(e)
        from ..maps import MapDecl
        if isinstance(obj, MapDecl):
            obj.bind_name(e.id)
        self.set_static(e, obj)

    def set_static(self, e: ast.expr, obj: Any) -> None:
        e.static = obj
        if isinstance(obj, builtins.bool):
            e.static, e.ty = int(obj), T.bool
        self.note_static(obj)

    def e_Attribute(self, e: ast.Attribute) -> None:
        from ..maps import MapDecl
        self.expr(e.value)
        base = e.value
        if isinstance(base.static, (str, bytes)):
            raise self.err(e, "string operations are not supported in BPF code", _STR_HINT)
        if base.static is not NOSTATIC:
            if isinstance(base.static, MapDecl):
                if e.attr not in base.static.methods():
                    raise self.err(e, f"maps of kind {type(base.static).__name__} have no method {e.attr!r}",
                                   "methods: " + ", ".join(sorted(base.static.methods())))
                e.static = MapMethod(base.static, e.attr)
                return
            try:
                obj = getattr(base.static, e.attr)
            except AttributeError:
                raise self.err(e, f"{ast.unparse(base)} has no attribute {e.attr!r}",
                               _did_you_mean(e.attr, dir(base.static))) from None
            self.set_static(e, obj)
            return
        st = base.ty
        if isinstance(st, T.PtrType):
            st = st.target
        if isinstance(st, T.StructType):
            f = st.field(e.attr)
            if f is None:
                raise self.err(e, f"struct {st.name} has no field {e.attr!r}",
                               _did_you_mean(e.attr, [x.name for x in st.fields]))
            e.field = f
            ft = f.type
            space = base.ty.space if isinstance(base.ty, T.PtrType) else getattr(base, "space", "direct")
            if space == "user":
                raise self.err(e, f"{ast.unparse(base)} points into user memory, which BPF code cannot "
                               "read directly", "copy it first: `bpf.probe_read_user(buf, ptr)`")
            e.space = space
            if isinstance(ft, T.PtrType) and space in ("kernel", "btf") and ft.space in ("direct", "kernel", "btf"):
                ft = T.PtrType(ft.target, space)
            e.ty = ft
            e.dataloc = getattr(f, "dataloc", False)
            return
        raise self.err(e, f"a {st} has no attribute {e.attr!r}")

    def e_Subscript(self, e: ast.Subscript) -> None:
        from ..maps import MapDecl
        self.expr(e.value)
        base = e.value
        if base.static is not NOSTATIC:
            if isinstance(base.static, MapDecl):
                if not base.static.subscript:
                    raise self.err(e, f"{type(base.static).__name__} maps cannot be indexed",
                                   "methods: " + ", ".join(sorted(base.static.methods())))
                self.expr(e.slice)
                self.check_assignable(e.slice, base.static.key_type)
                e.ty = base.static.value_type
                e.map = base.static
                return
            idx = self.static_value(e.slice)
            try:
                obj = base.static[idx]
            except Exception as exc:
                raise self.err(e, f"cannot evaluate {ast.unparse(e)}: {exc}") from None
            self.set_static(e, obj)
            return
        at = base.ty
        if isinstance(at, T.PtrType):
            at = at.target
            if not isinstance(at, T.ArrayType):
                self.deref(e, base)
                return
        if not isinstance(at, T.ArrayType):
            raise self.err(e, f"a {base.ty} cannot be indexed")
        self.expr(e.slice)
        e.space = base.ty.space if isinstance(base.ty, T.PtrType) else getattr(base, "space", "direct")
        flex = isinstance(at, T.FlexArrayType)
        if e.slice.static is not NOSTATIC:
            i = e.slice.static
            if not isinstance(i, int) or i < 0 or (i >= at.n and not flex):
                raise self.err(e.slice, f"index {i!r} is out of range for {at}",
                               f"use an index from 0 to {at.n - 1}" if not flex else "use an index >= 0")
            e.slice.ty = T.u64
        elif not _is_int_type(e.slice.ty):
            raise self.err(e.slice, f"an index must be an integer, not {e.slice.ty}")
        elif flex and e.space != "kernel":
            raise self.err(e.slice, f"a flexible array in {e.space} memory takes constant indexes only",
                           "the verifier checks each constant offset; read it through a kernel pointer "
                           "(probe reads) to index it with a variable")
        e.unchecked = flex
        e.ty = at.elem

    def deref(self, e: ast.Subscript, base: ast.expr) -> None:
        """``p[0]``: the value a pointer to a scalar or struct points at."""
        self.expr(e.slice)
        if e.slice.static != 0 or e.slice.ty is not None:
            raise self.err(e.slice, "a pointer to a single value is read with p[0]",
                           "declare it as a Ptr[Array[T, n]] to index further")
        if base.ty.space == "user":
            raise self.err(e, "user memory cannot be read directly",
                           "copy it with bpf.probe_read_user(buf, ptr) first")
        e.deref = True
        e.slice.ty = T.u64
        e.space = base.ty.space
        e.ty = base.ty.target

    def static_value(self, e: ast.expr) -> Any:
        if isinstance(e, ast.Tuple):
            return tuple(self.static_value(x) for x in e.elts)
        self.expr(e)
        if e.static is NOSTATIC:
            raise self.err(e, "this must be known at compile time")
        return e.static

    def type_expr(self, e: ast.expr) -> T.Type:
        obj = self.static_value(e)
        t = T.type_of(obj)
        if t is None:
            raise self.err(e, f"{ast.unparse(e)} is not a DSL type",
                           "use u8..u64, s8..s64, bool, char, Array[T, n], a Struct subclass or Ptr[T]")
        return t

    def e_UnaryOp(self, e: ast.UnaryOp) -> None:
        if isinstance(e.op, ast.Not) and isinstance(e.operand, ast.BoolOp):
            e.operand.in_cond = True    # `not (p and q)`: only its truth matters
        self.expr(e.operand)
        o = e.operand
        if isinstance(e.op, ast.Not):
            if o.static is not NOSTATIC:
                self.const_type(o, None)
            self.cond_operand(o)
            e.ty = T.bool
            return
        if o.static is not NOSTATIC and isinstance(o.static, int) and o.ty is None:
            v = o.static
            e.static = -v if isinstance(e.op, ast.USub) else (~v if isinstance(e.op, ast.Invert) else v)
            return
        if not _is_int_type(o.ty):
            raise self.err(e, f"unary operator on {o.ty}")
        e.ty = T.promote(o.ty)

    def cond_operand(self, o: ast.expr) -> None:
        if not (_is_int_type(o.ty) or isinstance(o.ty, T.PtrType)):
            raise self.err(o, f"a {o.ty} has no truth value", "compare it explicitly")

    def e_BinOp(self, e: ast.BinOp) -> None:
        if isinstance(e.op, tuple(_OP_NAMES)):
            sym, hint = _OP_NAMES[type(e.op)]
            raise self.err(e, f"operator {sym} is not supported on integers", hint)
        self.expr(e.left)
        self.expr(e.right)
        l, r = e.left, e.right
        if isinstance(l.static, (str, bytes)) or isinstance(r.static, (str, bytes)):
            raise self.err(e, "string operations are not supported in BPF code", _STR_HINT)
        if self.is_const(l) and self.is_const(r):
            e.static = fold(e.op, l.static, r.static)
            return
        e.opty = self.binop_type(e.op, l, r, None, e)
        e.ty = e.opty

    def is_const(self, e: ast.expr) -> bool:
        return isinstance(e.static, int) and not isinstance(e.static, builtins.bool) and e.ty is None

    def binop_type(self, op: ast.operator, l: ast.expr, r: ast.expr, lt: T.Type | None,
                   at: ast.AST) -> T.IntType:
        lt = lt or l.ty
        if lt is None:
            self.const_type(l, r.ty if _is_int_type(r.ty) else None)
            lt = l.ty
        if not _is_int_type(lt):
            raise self.err(at, f"arithmetic on {lt}", "only integers support arithmetic")
        if r.ty is None and self.is_const(r):
            self.const_type(r, T.promote(lt) if isinstance(op, (ast.LShift, ast.RShift)) else lt)
        if not _is_int_type(r.ty):
            raise self.err(at, f"arithmetic on {r.ty}", "only integers support arithmetic")
        if isinstance(op, (ast.LShift, ast.RShift)):
            return T.promote(lt)
        return T.common_type(lt, r.ty)

    def const_type(self, e: ast.expr, other: T.Type | None) -> None:
        """Give the int literal (or constant expression) ``e`` its type next to ``other``."""
        if e.ty is not None:
            return
        v = e.static
        if isinstance(v, int):
            try:
                e.ty = T.literal_type(v, other if _is_int_type(other) else None)
            except OverflowError:
                raise self.err(e, f"{v} does not fit in 64 bits") from None

    def e_BoolOp(self, e: ast.BoolOp) -> None:
        in_cond = getattr(e, "in_cond", False)
        for v in e.values:
            if in_cond and isinstance(v, ast.BoolOp):
                v.in_cond = True
            self.expr(v)
        typed = [v.ty for v in e.values if v.ty is not None]
        if typed and all(t is T.bool for t in typed) and len(typed) == len(e.values):
            e.ty = T.bool
            return
        if in_cond and any(isinstance(t, T.PtrType) for t in typed):
            for v in e.values:          # a condition: each operand is tested for truth
                self.const_type(v, None)
                self.cond_operand(v)
            e.ty = T.bool
            return
        ct: T.IntType | None = None
        for v in e.values:
            if v.ty is not None:
                if not _is_int_type(v.ty):
                    raise self.err(v, f"`and`/`or` need integers or bools, got {v.ty}",
                                   "test pointers with `if p:` instead")
                ct = T.promote(v.ty) if ct is None else T.common_type(ct, v.ty)
        for v in e.values:
            self.const_type(v, ct)
            ct = T.promote(v.ty) if ct is None else T.common_type(ct, v.ty)
        e.ty = ct

    def e_IfExp(self, e: ast.IfExp) -> None:
        self.cond(e.test)
        self.expr(e.body)
        self.expr(e.orelse)
        b, o = e.body, e.orelse
        if b.ty is None and o.ty is None:
            self.const_type(b, None)
            self.const_type(o, b.ty)
        self.const_type(b, o.ty)
        self.const_type(o, b.ty)
        if b.ty is o.ty:
            e.ty = b.ty
        elif _is_int_type(b.ty) and _is_int_type(o.ty):
            e.ty = T.common_type(b.ty, o.ty)
        else:
            raise self.err(e, f"the branches have different types: {b.ty} and {o.ty}")

    def e_Compare(self, e: ast.Compare) -> None:
        if any(isinstance(op, (ast.In, ast.NotIn)) for op in e.ops):
            self.membership(e)
            return
        self.expr(e.left)
        for op, c in zip(e.ops, e.comparators):
            if isinstance(op, (ast.Is, ast.IsNot)) and isinstance(c, ast.Constant) and c.value is None:
                c.ty, c.static = None, None
            else:
                self.expr(c)
        e.optys = []
        left = e.left
        for op, right in zip(e.ops, e.comparators):
            if isinstance(op, (ast.Is, ast.IsNot)):
                if right.static is not None or not isinstance(left.ty, T.PtrType):
                    raise self.err(e, "`is` only tests a pointer against None",
                                   "write `p is None` / `p is not None`; compare values with ==")
                e.optys.append("none")
                left = right
                continue
            if not isinstance(op, _CMP_OPS):
                raise self.err(e, f"operator {type(op).__name__} is not supported",
                               "use ==, !=, <, <=, >, >=")
            if isinstance(right.static, str) or isinstance(left.static, str):
                self.str_compare(op, left, right, e)
                e.optys.append("str")
            elif self.is_const(left) and self.is_const(right):
                self.const_type(left, None)
                self.const_type(right, left.ty)
                e.optys.append(T.common_type(left.ty, right.ty))
            elif isinstance(left.ty, T.PtrType) or isinstance(right.ty, T.PtrType):
                if not isinstance(op, (ast.Eq, ast.NotEq)):
                    raise self.err(e, "pointers compare only with == and !=")
                for side in (left, right):
                    if self.is_const(side):
                        side.ty = T.u64
                e.optys.append(T.u64)
            else:
                e.optys.append(self.binop_type(op, left, right, None, e))
            left = right
        e.ty = T.bool

    def membership(self, e: ast.Compare) -> None:
        """``x in (a, b, c)`` (any of the values) or ``k in m`` (a key of map ``m``); ``not in`` too."""
        from ..maps import MapDecl
        if len(e.ops) != 1:
            raise self.err(e, "`in` cannot be chained with other comparisons", "split it with `and`")
        self.expr(e.left)
        c = e.comparators[0]
        e.ty = T.bool
        if isinstance(c, (ast.Tuple, ast.List, ast.Set)) and c.elts:
            c.ty, c.static = None, NOSTATIC
            e.optys = []
            for elt in c.elts:
                self.expr(elt)
                if isinstance(elt.static, str) or isinstance(e.left.static, str):
                    raise self.err(elt, "`in` compares integers here", 'compare char arrays one by one: `a == "x" or a == "y"`')
                e.optys.append(self.binop_type(ast.Eq(), e.left, elt, None, e))
            return
        self.expr(c)
        m = c.static
        if isinstance(m, MapDecl) and "lookup" in m.methods() and m.key_type is not None:
            self.check_assignable(e.left, m.key_type)
            e.in_map = m
            return
        raise self.err(c, "`in` tests a value against literal values or a map's keys",
                       "write `x in (1, 2, 3)` or `key in some_map`")

    def str_compare(self, op: ast.cmpop, left: ast.expr, right: ast.expr, e: ast.expr) -> None:
        arr, s = (left, right) if isinstance(right.static, str) else (right, left)
        at = arr.ty.target if isinstance(arr.ty, T.PtrType) else arr.ty
        if not (isinstance(at, T.ArrayType) and at.elem.size == 1 and isinstance(op, (ast.Eq, ast.NotEq))):
            raise self.err(e, "strings compare only with a char array, using == or !=",
                           'e.g. `if bpf.comm() == "bash":`')
        if len(s.static.encode()) > at.n:
            raise self.err(s, f"the string is longer than the {at.n} bytes of {at}")

    def e_Call(self, e: ast.Call) -> None:
        from .calls import type_call
        type_call(self, e)

    def check_assignable(self, value: ast.expr, target: T.Type | None) -> None:
        """Check (and type, for literals) ``value`` stored into a place of type ``target``."""
        if target is None:
            return
        if value.ty is None and isinstance(value.static, int):
            if _is_int_type(target):
                v = value.static
                lo = -(1 << (target.bits - 1))
                if not lo <= v <= target.mask and target is not T.bool:
                    raise self.err(value, f"{v} does not fit in {target}",
                                   f"write {target}({v}) to wrap it explicitly")
                value.ty = target
                return
            if isinstance(target, T.PtrType) and value.static == 0:
                value.ty = target
                return
        vt = value.ty
        if vt is target:
            return
        if _is_int_type(vt) and _is_int_type(target):
            return
        if isinstance(vt, T.PtrType) and isinstance(target, T.PtrType) and vt.target is target.target:
            return
        if isinstance(vt, T.PtrType) and _is_int_type(target) and target.bits == 64:
            return
        if isinstance(target, T.PtrType) and _is_int_type(vt) and vt.bits == 64 and target.space != "direct":
            return
        raise self.err(value, f"cannot store a {vt} where a {target} is expected",
                       _conversion_hint(vt, target))

    def place(self, target: ast.expr) -> None:
        """Type an assignment target that is not a plain name."""
        if not isinstance(target, (ast.Attribute, ast.Subscript)):
            raise self.err(target, f"cannot assign to {ast.unparse(target)}")
        self.expr(target)
        if getattr(target, "map", None) is not None:
            return
        base = target.value
        while isinstance(base, (ast.Attribute, ast.Subscript)) and base.ty is not None \
                and not isinstance(base.ty, T.PtrType):
            m = getattr(base, "map", None)
            if m is not None:
                raise self.err(target, f"{ast.unparse(base)} is a copy of the stored value: this write would be lost",
                               f"change it in place: `v = {ast.unparse(base.value)}.lookup({ast.unparse(base.slice)})` "
                               f"then `if v: v.<field> = ...`, or copy, change and store it back")
            base = base.value
        bt = base.ty
        if isinstance(bt, T.PtrType) and bt.space != "direct":
            raise self.err(target, f"cannot write through a {bt.space} pointer",
                           "copy the data into a local or a map value first")
        if target.ty is None:
            raise self.err(target, f"cannot assign to {ast.unparse(target)}")
        if isinstance(getattr(target, "field", None), T.BitField):
            raise self.err(target, f"cannot assign to the bitfield {ast.unparse(target)}",
                           "bitfields of kernel structs are read-only here")


def _conversion_hint(have: Any, want: Any) -> str:
    if isinstance(have, T.PtrType) and have.target is want:
        return "read the value it points to: `p[0]` (or its fields)"
    if isinstance(want, T.IntType):
        return f"pass an integer (convert explicitly with {want}(x))"
    if isinstance(want, T.PtrType):
        return f"pass a pointer to {want.target}"
    return f"pass a {want}"


def _did_you_mean(name: str, candidates: list[str]) -> str:
    import difflib
    public = [c for c in candidates if not c.startswith("__") or name.startswith("__")]
    close = difflib.get_close_matches(name, public, n=3, cutoff=0.5)
    if close:
        return "did you mean " + " or ".join(repr(c) for c in close) + "?"
    return "it has: " + ", ".join(public[:12]) + (", ..." if len(public) > 12 else "")


def fold(op: ast.operator, a: int, b: int) -> int:
    """Fold an operation on two int literals (exact Python ints; typed when used)."""
    ty = T.common_type(T.literal_type(a), T.literal_type(b))
    from .semantics import binop
    return binop(op, ty, ty.wrap(a), ty.wrap(b))


def type_function(parsed: ParsedFunction, params: list[tuple[str, T.Type]], ret: T.Type | None,
                  name: str) -> TypedFunction:
    """Run the typing pass, then the NULL-test check, over ``parsed``."""
    from .nullcheck import check_null_tests
    tf = Typer(parsed, params, ret, name).run()
    check_null_tests(tf)
    return tf
