"""bcc's semantics applied to clang's LLVM IR (textual, one instruction a line).

clang has already type-checked the program and folded every table method
(see include/bcc/helpers.h) into helper calls.  What is left is what C alone
cannot say, done here on the IR of each function:

* ``lookup_or_init`` failing returns 0 from the probe (the noreturn marker
  ``__bcc_return_zero`` becomes ``ret 0``);
* extra parameters of a ``struct pt_regs *`` probe are read from the
  registers (x86_64 di, si, dx, cx, r8, r9; syscall__ probes read the inner
  pt_regs of the syscall wrapper, 4th argument in r10);
* implicit kernel memory reads: a load through a pointer that came from the
  kernel (read from the context, from ``bpf_get_current_task()``, from a
  kernel structure, stored in a map, or kept in a local whose address is
  taken; passed to or returned from a static function) becomes
  ``bpf_probe_read`` (``bpf_probe_read_kernel`` where user and kernel
  addresses overlap) into a stack slot, as bcc's rewriter does; a ``memcpy``
  from such memory too.  Address arithmetic (``&p->f``) is left alone;
* ``bpf_usdt_readarg(n, ctx, &v)`` calls the reader ``_bpf_readarg_<fn>_<n>``
  that the USDT context defines for the enclosing probe,
  ``bpf_usdt_readarg_p(n, ctx, buf, len)`` its pointer reader
  ``__bcc_readarg_p_<fn>_<n>``;
* tables are renamed from ``__bcc_map_NAME`` to ``NAME``, programs get a
  section per function, and the metadata Python needs is collected
  (:class:`Metadata`).

Errors (more than six pt_regs parameters, a GPL-only helper under another
license, a bpf_trace_printk format the kernel would refuse, increment() on a
table whose leaf is not a number) raise
:class:`~pybpf_dsl.errors.CompileError` naming the function.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from pybpf_dsl.errors import CompileError, SourceLocation

from .debuginfo import DebugInfo
from .helper_table import HELPERS
from .gpl_helpers import GPL_ONLY_HELPERS

__all__ = ["Metadata", "transform", "program_kind", "printk_format_error", "PT_REGS_ARGS", "SYSCALL_ARGS"]

PT_REGS_ARGS = ("di", "si", "dx", "cx", "r8", "r9")
SYSCALL_ARGS = ("di", "si", "dx", "r10", "r8", "r9")
_HELPER_NAMES = {num: name for num, name, _r, _p in HELPERS}
_GPL_LICENSES = {"GPL", "GPL v2", "GPL and additional rights", "Dual BSD/GPL", "Dual MIT/GPL",
                 "Dual MPL/GPL"}
# Context types of programs whose context pointers are not kernel memory to read.
_DIRECT_CTX = {"__sk_buff", "xdp_md", "bpf_sock_ops", "sk_msg_md", "bpf_sock_addr", "bpf_sock",
               "sk_reuseport_md", "bpf_sysctl", "bpf_sockopt", "bpf_sk_lookup", "bpf_cgroup_dev_ctx",
               "bpf_nf_ctx", "bpf_flow_keys"}
# bcc's implicit reads use bpf_probe_read, which reads user memory too (a tracepoint's user pointer
# argument), where kernel and user addresses cannot overlap; elsewhere bpf_probe_read_kernel.
_IMPLICIT_READ = 4 if os.uname().machine in ("x86_64", "aarch64") else 113
_SIZES = {"i1": 1, "i8": 1, "i16": 2, "i32": 4, "i64": 8, "ptr": 8, "float": 4, "double": 8, "i128": 16}

_VALUE = r"%[-\w.$]+"
_DEF = re.compile(rf"^  ({_VALUE}) = (.*)$")
_OPERAND = re.compile(rf"{_VALUE}(?![-\w.$])")
_STORE = re.compile(rf"^  store (?:volatile )?(?:ptr|i64) ({_VALUE}), ptr ({_VALUE})")
_LOAD = re.compile(rf"^load (volatile )?([^,]+), ptr ({_VALUE})(.*)$")
_HELPER_CALL = re.compile(r"call [^@%]*?inttoptr \(i64 (\d+) to ptr\)\((.*)\)(.*)$")
_MEMCPY = re.compile(rf"^  (?:tail )?call void @llvm\.memcpy\.p0\.p0\.i64\(ptr [^%]*({_VALUE}), ptr [^%]*({_VALUE}), i64 (\d+), i1 false\)(.*)$")
_DEFINE = re.compile(r"^define (.*?)@([-\w.$]+)\((.*)\{$")
_DBG_REF = re.compile(r"!dbg !(\d+)")
_MAP_GLOBAL = re.compile(r"^@__bcc_map_(\w+) = .*!dbg !(\d+)")
_TEMP_NAME = re.compile(r"\W")
_LABEL = re.compile(r"^[-\w.$]+:")
_NUMBERED = re.compile(r"%\d+$")
_NOTE_GLOBAL = re.compile(r'^@__bcc_note_(\w+?)__(\w+) = [^"]*?(?:c"((?:[^"\\]|\\.)*)"|zeroinitializer)')
_PRINTK_FMT = re.compile(r'^@[-\w.$]*__bcc_printk_fmt[-\w.$]* = .*c"((?:[^"\\]|\\.)*)".*!dbg !(\d+)')
_LICENSE = re.compile(r'^@[-\w.$]+ = .*c"((?:[^"\\]|\\.)*)".*section "license"')
_BAD_INCREMENT = re.compile(r"call void @__bcc_bad_increment_(\w+)\(\).*?!dbg !(\d+)")
_CALL = re.compile(r"\bcall\b[^@]*?@([-\w.$]+)\(")
_RET = re.compile(rf"^  ret (?:ptr|i64) ({_VALUE})")
_USDT_CALL = re.compile(r"call i32 @__bcc_usdt_readarg\(i32 (?:noundef )?(-?\d+), (.*)\)")


@dataclass
class Metadata:
    """What the object alone does not tell Python; JSON-ready."""

    license: str = "GPL"
    programs: dict[str, dict[str, Any]] = field(default_factory=dict)
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    helpers: dict[str, list[str]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"license": self.license, "programs": self.programs, "tables": self.tables,
                "events": self.events, "helpers": self.helpers}


# ---------------------------------------------------------------- naming

_PREFIXES = (
    # prefix, program kind, section template ({} is the rest of the name)
    ("kprobe__", "kprobe", "kprobe/{}"),
    ("kretprobe__", "kretprobe", "kretprobe/{}"),
    ("tracepoint__", "tracepoint", "tracepoint/{}"),
    ("raw_tracepoint__", "raw_tracepoint", "raw_tracepoint/{}"),
    ("kfunc__", "kfunc", "fentry/{}"),
    ("kretfunc__", "kretfunc", "fexit/{}"),
    ("kmod_ret__", "kmod_ret", "fmod_ret/{}"),
    ("lsm__", "lsm", "lsm/{}"),
    ("bpf_iter__", "iter", "iter/{}"),
    ("syscall__", "syscall", "bcc/syscall__{}"),
)


def program_kind(name: str) -> tuple[str, str, str]:
    """``(kind, attach target, section)`` bcc infers from a function name."""
    for prefix, kind, section in _PREFIXES:
        if name.startswith(prefix) and len(name) > len(prefix):
            rest = name[len(prefix):]
            if kind == "tracepoint":
                cat, sep, ev = rest.partition("__")
                target = f"{cat}:{ev}" if sep else rest
                return kind, target, section.format(f"{cat}/{ev}" if sep else rest)
            if kind in ("kfunc", "kretfunc"):
                module, sep, fn = rest.partition("__")
                target = fn if sep else rest
                return kind, target, section.format(target)
            return kind, rest, section.format(rest)
    return "", "", f"bcc/{name}"


# ---------------------------------------------------------------- helpers

def _split_args(text: str) -> list[str]:
    """Top-level comma split of an argument list."""
    out, depth, start = [], 0, 0
    for i, c in enumerate(text):
        if c in "([{<":
            depth += 1
        elif c in ")]}>":
            depth -= 1
        elif c == "," and depth == 0:
            out.append(text[start:i].strip())
            start = i + 1
    tail = text[start:].strip()
    if tail:
        out.append(tail)
    return out


def _last_value(arg: str) -> str:
    """The value of a typed operand (``ptr noundef nonnull %5`` -> ``%5``)."""
    return arg.rsplit(" ", 1)[-1]


def _unescape(s: str) -> str:
    return re.sub(r"\\([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), s).rstrip("\0")


class _Func:
    """One ``define ... { ... }`` block."""

    def __init__(self, lines: list[str]) -> None:
        m = _DEFINE.match(lines[0])
        if m is None:
            raise CompileError(f"unexpected function header in clang's IR: {lines[0][:80]}")
        self.pre, self.name = m.group(1), m.group(2)
        rest, depth = m.group(3), 1
        for end, c in enumerate(rest):  # the parameter list ends at its matching parenthesis
            depth += {"(": 1, ")": -1}.get(c, 0)
            if depth == 0:
                break
        self.params_text, self.post = rest[:end], rest[end + 1:]
        self.body = lines[1:-1]
        self.internal = "internal " in self.pre or "private " in self.pre
        self.ret = self.pre.split()[-1] if self.pre.split() else "void"
        self.params = _split_args(self.params_text)
        dbg = _DBG_REF.search(self.post)
        self.subprogram = int(dbg.group(1)) if dbg else None
        self.temps: list[str] = []
        self.entry_label = ""  # set when the entry block must keep the number it had

    def header(self) -> str:
        return f"define {self.pre}@{self.name}({', '.join(self.params)}){self.post}{{"

    def lines(self) -> list[str]:
        label = [f"{self.entry_label}:"] if self.entry_label else []
        return [self.header(), *label, *self.temps, *self.body, "}"]

    def keep_entry_number(self) -> None:
        """Label the entry block with its implicit number before parameters go away.

        An unlabelled entry block is numbered after the numbered parameters;
        branches and phis refer to it by that number, so removing a parameter
        would otherwise leave them pointing at nothing.
        """
        first = next((ln for ln in self.body if ln.strip() and not ln.lstrip().startswith("#dbg")), "")
        if not self.entry_label and not _LABEL.match(first):
            self.entry_label = str(sum(1 for p in self.params if _NUMBERED.search(p)))

    def temp_for(self, ty: str) -> str:
        """The function's one stack slot of type ``ty`` (every use reads it back at once)."""
        name = f"%__bcc_tmp.{_TEMP_NAME.sub('_', ty)}"
        line = f"  {name} = alloca {ty}, align 8"
        if line not in self.temps:
            self.temps.append(line)
        return name


# ---------------------------------------------------------------- the passes

class _Pass:
    def __init__(self, lines: list[str], regs: Callable[[], dict[str, int]]) -> None:
        self.lines = lines
        self.regs = regs
        self.di = DebugInfo([ln for ln in lines if ln.startswith("!")])
        self.meta = Metadata()
        self._defined: set[str] | None = None

    # ---- module level
    def collect_globals(self) -> None:
        out = []
        notes: dict[str, dict[str, str]] = {}
        for line in self.lines:
            m = _NOTE_GLOBAL.match(line)
            if m:
                notes.setdefault(m.group(2), {})[m.group(1)] = _unescape(m.group(3) or "")
                continue
            m = _PRINTK_FMT.match(line)
            if m:
                self.printk_format(_unescape(m.group(1)), int(m.group(2)))
                continue
            m = _LICENSE.match(line)
            if m:
                self.meta.license = _unescape(m.group(1))
            m = _MAP_GLOBAL.match(line)
            if m:
                self.meta.tables[m.group(1)] = self.table(m.group(1), int(m.group(2)))
            out.append(line)
        for i, line in enumerate(out):
            if line.startswith(("@llvm.used", "@llvm.compiler.used")) and "__bcc_" in line:
                items = [x for x in re.findall(r"ptr @[-\w.$]+", line)
                         if "__bcc_note_" not in x and "__bcc_printk_fmt" not in x]
                head = line.split(" = ", 1)[0]
                sec = line[line.index(", section"):] if ", section" in line else ""
                out[i] = (f"{head} = appending global [{len(items)} x ptr] [{', '.join(items)}]{sec}"
                          if items else "")
        for name, facts in notes.items():
            table = self.meta.tables.get(name)
            if table is None:
                continue
            if "pinned" in facts:
                table["pinned"] = facts["pinned"]
            if "inner" in facts:
                table["inner"] = facts["inner"]
            table["public"] = "public" in facts
            table["shared"] = "shared" in facts
        self.lines = out

    def table(self, name: str, gve: int) -> dict[str, Any]:
        var = self.di.field(gve, "var")
        _n, struct_ref = self.di.variable(int(var[1:])) if var else ("", None)
        info: dict[str, Any] = {"map_type": 0, "max_entries": 0, "flags": 0, "key": None, "leaf": None,
                                "pinned": None, "inner": None, "public": False, "shared": False}
        for m in self.di.members(self.di.strip(struct_ref)):
            _k, mf = self.di.record(m)
            member = mf.get("name", "").strip('"')
            base = mf.get("baseType", "")
            pointee = self.di.pointee(int(base[1:])) if base.startswith("!") else None
            if member in ("type", "max_entries", "map_flags"):
                dims = self.di.array_dims(self.di.strip(pointee)) if pointee else [0]
                info[{"type": "map_type", "max_entries": "max_entries", "map_flags": "flags"}[member]] = dims[0]
            elif member == "key":
                info["key"] = self.di.describe(pointee)
            elif member == "value":
                info["leaf"] = self.di.describe(pointee)
        return info

    def printk_format(self, fmt: str, gve: int) -> None:
        """Refuse a bpf_trace_printk format the kernel would refuse at run time (silently)."""
        problem = printk_format_error(fmt, _kernel_version() < (5, 13))
        if problem is None:
            return
        var = self.di.field(gve, "var")
        line = int(self.di.field(int(var[1:]), "line") or 0) if var else 0
        file_ref = self.di.field(int(var[1:]), "file") if var else None
        file = self.di.field(int(file_ref[1:]), "filename") if file_ref else None
        loc = SourceLocation(file.strip('"'), line) if file and line else None
        raise CompileError(f"bpf_trace_printk: {problem} in format {fmt!r}", loc)

    def rename_tables(self) -> None:
        defined = {m.group(1) for m in (re.match(r"^(?:define [^@]*)?@([-\w.$]+)", ln) for ln in self.lines)
                   if m and not m.group(1).startswith("__bcc_map_")}
        for name in self.meta.tables:
            if name in defined:
                raise CompileError(f"table {name!r} has the same name as a function or global",
                                   hint="rename one of them")
        pattern = re.compile(r"__bcc_map_(\w+)")
        self.lines = [pattern.sub(r"\1", ln) if "__bcc_map_" in ln else ln for ln in self.lines]

    # ---- per function
    def functions(self) -> None:
        out: list[object] = []
        fns: list[_Func] = []
        i = 0
        lines = self.lines
        while i < len(lines):
            if lines[i].startswith("define "):
                j = i
                while lines[j] != "}":
                    j += 1
                fn = _Func(lines[i:j + 1])
                fns.append(fn)
                out.append(fn)
                i = j + 1
            else:
                out.append(lines[i])
                i += 1
        probes = [fn for fn in fns if self.function(fn)]
        _KernelReads(probes, [fn for fn in fns if fn.internal]).run()
        for fn in fns:
            if not fn.internal:
                self.usdt(fn)
            self.check_calls(fn)  # a static function's helpers and events count too
        self.lines = [ln for item in out for ln in (item.lines() if isinstance(item, _Func) else [item])]

    def defined_functions(self) -> set[str]:
        """The names of the functions the module defines (computed once)."""
        if self._defined is None:
            self._defined = {m.group(2) for ln in self.lines if ln.startswith("define ")
                             if (m := _DEFINE.match(ln))}
        return self._defined

    def ctx_type(self, fn: _Func) -> str:
        """The name of the struct the first parameter points to ("" if unknown)."""
        if not fn.params:
            return ""
        first = _last_value(fn.params[0])
        pat = re.compile(rf"#dbg_(?:value|declare)\(ptr {re.escape(first)}, !(\d+)")
        for line in fn.body:
            m = pat.search(line)
            if m:
                _n, ty = self.di.variable(int(m.group(1)))
                return self.di.type_name(self.di.strip(self.di.pointee(ty))).split(" ")[-1]
        return ""

    def function(self, fn: _Func) -> bool:
        """Name, section and register parameters of one function; whether its kernel reads are implicit."""
        self.return_zero(fn)
        if fn.internal:
            return False
        kind, target, section = program_kind(fn.name)
        ctx = self.ctx_type(fn)
        self.meta.programs[fn.name] = {"kind": kind, "target": target, "section": section, "ctx": ctx}
        if " section " not in fn.post:
            cut = fn.post.find(" !")
            cut = len(fn.post.rstrip()) if cut < 0 else cut
            fn.post = f'{fn.post[:cut]} section "{section}"{fn.post[cut:]}'
            if not fn.post.endswith(" "):
                fn.post += " "
        if len(fn.params) > 1 and kind not in ("kfunc", "kretfunc", "kmod_ret", "lsm", "iter") \
                and ctx in ("pt_regs", ""):
            self.register_params(fn, kind == "syscall" or fn.name.startswith("kprobe____x64_sys_"))
        return ctx not in _DIRECT_CTX and kind not in ("kfunc", "kretfunc", "kmod_ret", "lsm", "iter")

    def return_zero(self, fn: _Func) -> None:
        body = fn.body
        for i, line in enumerate(body):
            if "call void @__bcc_return_zero()" in line and i + 1 < len(body) and \
                    body[i + 1].lstrip().startswith("unreachable"):
                body[i] = "  ret void" if fn.ret == "void" else f"  ret {fn.ret} {'null' if fn.ret == 'ptr' else 0}"
                body[i + 1] = ""
        fn.body = [ln for ln in body if ln != ""]

    def register_params(self, fn: _Func, syscall: bool) -> None:
        extra = fn.params[1:]
        if len(extra) > 6:
            raise CompileError(f"{fn.name}: too many arguments: a pt_regs probe can read at most 6 "
                               f"(it declares {len(extra)})")
        regs = self.regs()
        ctx = _last_value(fn.params[0])
        names = SYSCALL_ARGS if syscall else PT_REGS_ARGS
        entry = []
        base = ctx
        if syscall:  # the wrapper's only argument is the pointer to the real pt_regs
            entry += [f"  %__bcc_inner.p = getelementptr i8, ptr {ctx}, i64 {regs['di']}",
                      "  %__bcc_inner.v = load i64, ptr %__bcc_inner.p, align 8",
                      "  %__bcc_inner = inttoptr i64 %__bcc_inner.v to ptr"]
            base = "%__bcc_inner"
        renames = {}
        for n, param in enumerate(extra):
            parts = param.split()
            ty, old = parts[0], parts[-1]
            new = f"%__bcc_arg{n + 1}"
            renames[old] = new
            entry += [f"  {new}.p = getelementptr i8, ptr {base}, i64 {regs[names[n]]}",
                      f"  {new}.v = load i64, ptr {new}.p, align 8"]
            if ty == "ptr":
                entry.append(f"  {new} = inttoptr i64 {new}.v to ptr")
            elif ty == "i64":
                entry.append(f"  {new} = add i64 {new}.v, 0")
            elif ty in ("i32", "i16", "i8", "i1"):
                entry.append(f"  {new} = trunc i64 {new}.v to {ty}")
            else:
                raise CompileError(f"{fn.name}: parameter {n + 2} has type {ty}, which a register cannot hold")
        pattern = re.compile("|".join(re.escape(o) + r"(?![-\w.$])" for o in renames))
        fn.body = entry + [pattern.sub(lambda m: renames[m.group(0)], ln) for ln in fn.body]
        fn.keep_entry_number()
        fn.params = fn.params[:1]

    def usdt(self, fn: _Func) -> None:
        def repl(m: re.Match) -> str:
            n = int(m.group(1))  # negative: bpf_usdt_readarg_p
            reader = f"{'__bcc_readarg_p_' if n < 0 else '_bpf_readarg_'}{fn.name}_{abs(n)}"
            if reader not in self.defined_functions():
                call = "bpf_usdt_readarg_p" if n < 0 else "bpf_usdt_readarg"
                raise CompileError(
                    f"{fn.name}: {call}({abs(n)}, ...) has no USDT probe argument {abs(n)} to read",
                    hint=f"pass usdt_contexts=[USDT(path=..., pid=...)] to BPF() after "
                         f"u.enable_probe(probe=..., fn_name=\"{fn.name}\"), for a probe with that argument")
            args = _split_args(m.group(2))
            return f"call i32 @{reader}({args[0]}, {args[1]}, i64 {_last_value(args[2])})"
        fn.body = [_USDT_CALL.sub(repl, ln) if "__bcc_usdt_readarg" in ln else ln for ln in fn.body]

    def check_calls(self, fn: _Func) -> None:
        used: list[str] = []
        gpl = self.meta.license in _GPL_LICENSES
        for line in fn.body:
            m = _HELPER_CALL.search(line)
            if not m:
                if "@__bcc_bad_increment_" in line:
                    self.bad_increment(line)
                continue
            num = int(m.group(1))
            helper = _HELPER_NAMES.get(num, str(num))
            if helper not in used:
                used.append(helper)
            if not gpl and helper in GPL_ONLY_HELPERS:
                raise CompileError(
                    f"{fn.name}: bpf_{helper} is GPL-only, but BPF_LICENSE is {self.meta.license!r}",
                    hint="#define BPF_LICENSE GPL, or do without this helper")
            args = _split_args(m.group(2))
            if num == 6 and len(args) > 5:
                raise CompileError(f"{fn.name}: bpf_trace_printk takes at most 3 arguments after the format"
                                   f" (got {len(args) - 2})")
            if num == 25 and len(args) == 5:
                self.event(fn, _last_value(args[1]), _last_value(args[3]), address=True)
            elif num == 130 and len(args) == 4:
                self.event(fn, _last_value(args[0]), _last_value(args[1]), address=True)
        for line in fn.body:
            d = _DEF.match(line)
            if d and (h := _HELPER_CALL.search(d.group(2))) and int(h.group(1)) == 131:
                args = _split_args(h.group(2))
                self.event(fn, _last_value(args[0]), d.group(1), address=False)
        if not fn.internal:
            self.meta.helpers[fn.name] = used

    def bad_increment(self, line: str) -> None:
        """A surviving increment() marker: the table's leaf is not a number."""
        m = _BAD_INCREMENT.search(line)
        table = m.group(1) if m else "?"
        loc = SourceLocation(*self.di.location(int(m.group(2)))) if m else None
        if loc is not None:
            loc.col = max(loc.col - 1, 0)
        leaf = self.meta.tables.get(table, {}).get("leaf") or {}
        what = leaf.get("name", "")
        if leaf.get("kind") in ("struct", "union"):
            what = f"{leaf['kind']} {what}".strip()
        raise CompileError(f"{table}.increment() needs a numeric leaf, but the leaf of {table} is "
                           f"{what or leaf.get('kind', 'not a number')}", loc,
                           hint="update the value through lookup() instead")

    def event(self, fn: _Func, table: str, value: str, address: bool) -> None:
        """Record the C type of the data a program sends through ``table``."""
        name = table.lstrip("@")
        if name in self.meta.events or name not in self.meta.tables:
            return
        v = re.escape(value)
        patterns = [(re.compile(rf"#dbg_declare\(ptr {v}, !(\d+)"), False),
                    (re.compile(rf"#dbg_assign\(.*?, !(\d+), !DIExpression\([^)]*\), !\d+, ptr {v},"), False),
                    (re.compile(rf"#dbg_value\(ptr {v}, !(\d+)"), True)]
        for line in fn.body:
            if "#dbg_" not in line:
                continue
            for pat, is_pointer in patterns:
                m = pat.search(line)
                if m:
                    _n, ty = self.di.variable(int(m.group(1)))
                    if is_pointer:
                        ty = self.di.pointee(ty)
                    if ty is not None:
                        self.meta.events[name] = self.di.describe(ty)
                        return


# ---------------------------------------------------------------- implicit kernel reads

_CLASSES = ("kernel", "ctx", "mapval", "slots")


@dataclass
class _Taint:
    """What the values of one function point to, as far as implicit reads care."""

    kernel: set[str] = field(default_factory=set)   # kernel memory: loads through it become probe reads
    ctx: set[str] = field(default_factory=set)      # the context: pointers loaded from it are kernel pointers
    mapval: set[str] = field(default_factory=set)   # map values: pointers stored in them are kernel pointers
    slots: set[str] = field(default_factory=set)    # stack slots a kernel pointer was stored in
    defs: list[tuple[int, str, str]] = field(default_factory=list)  # (line index, value, definition)

    def classes(self, value: str) -> set[str]:
        return {c for c in _CLASSES if value in getattr(self, c)}


class _KernelReads:
    """Loads through kernel pointers become ``bpf_probe_read`` calls, across static functions.

    Like bcc's rewriter, a pointer is external when it comes from the
    context (a tracepoint's ``args->skbaddr``, a pt_regs parameter), from
    ``bpf_get_current_task()``, from kernel memory, from a map value or from a
    local holding one; a static function called with such a pointer treats
    that parameter as external, and a call of a static function that returns
    one gives an external pointer.  Dereferences of the stack, of map values
    and of the context itself stay plain loads.  The facts about static
    functions (external parameters, what they return) are iterated to a fixed
    point; then the probes and the static functions they reach are rewritten.
    """

    def __init__(self, probes: list[_Func], internals: list[_Func]) -> None:
        self.probes = probes
        self.internals = {fn.name: fn for fn in internals}
        self.params: dict[str, dict[int, set[str]]] = {}   # static function -> parameter -> classes
        self.returns: dict[str, set[str]] = {}             # static function -> classes of its result
        self.reached: set[str] = set()                     # static functions the probes call

    def run(self) -> None:
        if not self.probes:
            return
        while True:
            before = self.size()
            states = {fn.name: self.analyse(fn, {_last_value(fn.params[0]): {"ctx"}} if fn.params else {}, True)
                      for fn in self.probes}
            for name, fn in self.internals.items():
                seeds = {_last_value(fn.params[i]): cls for i, cls in self.params.get(name, {}).items()
                         if i < len(fn.params)}
                states[name] = self.analyse(fn, seeds, name in self.reached)
            if self.size() == before:  # the facts only grow
                break
        for fn in [*self.probes, *(self.internals[n] for n in sorted(self.reached))]:
            self.rewrite(fn, states[fn.name])

    def size(self) -> int:
        return (sum(len(c) for p in self.params.values() for c in p.values())
                + sum(len(c) for c in self.returns.values()) + len(self.reached))

    def analyse(self, fn: _Func, seeds: dict[str, set[str]], reached: bool) -> _Taint:
        """The taint of ``fn``'s values; records what it passes to and returns from static functions."""
        t = _Taint()
        for value, classes in seeds.items():
            for c in classes:
                getattr(t, c).add(value)
        stores: list[tuple[str, str]] = []
        allocas: set[str] = set()
        for i, line in enumerate(fn.body):
            m = _DEF.match(line)
            if m:
                t.defs.append((i, m.group(1), m.group(2)))
                if m.group(2).startswith("alloca "):
                    allocas.add(m.group(1))
            elif line.startswith("  store "):
                sm = _STORE.match(line)
                if sm and sm.group(2) in allocas:
                    stores.append((sm.group(1), sm.group(2)))
        changed = True
        while changed:
            changed = False
            for value, slot in stores:
                if value in t.kernel and slot not in t.slots:
                    t.slots.add(slot)
                    changed = True
            for _i, name, rhs in t.defs:
                if name not in t.kernel:
                    changed |= self.propagate(t, name, rhs)
        for line in fn.body:
            call = _CALL.search(line) if "call" in line else None
            if call and call.group(1) in self.internals:
                self.called(call.group(1), line[call.end():], t, reached)
            elif fn.internal and (r := _RET.match(line)) and (got := t.classes(r.group(1))):
                known = self.returns.setdefault(fn.name, set())
                known |= got
        return t

    def propagate(self, t: _Taint, name: str, rhs: str) -> bool:
        """Classify the value ``name`` defined by ``rhs``; whether anything changed."""
        op = rhs.split(" ", 1)[0]
        if op == "tail":
            op = rhs.split(" ", 2)[1]
        taint = False
        grew = False
        groups: tuple[set[str], ...] = ()
        if op == "load":
            lm = _LOAD.match(rhs)
            if lm and lm.group(2).strip() in ("ptr", "i64"):
                src = lm.group(3)
                taint = src in t.kernel or src in t.ctx or src in t.mapval or src in t.slots
        elif op == "call":
            hm = _HELPER_CALL.search(rhs)
            call = None if hm else _CALL.search(rhs)
            if hm and int(hm.group(1)) == 35:
                taint = True
            elif hm and int(hm.group(1)) in (1, 131):
                groups = (t.mapval,)
            elif "@llvm.bpf.passthrough" in rhs:
                ops = set(_OPERAND.findall(rhs))
                taint = bool(ops & t.kernel)
                groups = tuple(g for g in (t.ctx, t.mapval) if ops & g)
            elif call and call.group(1) in self.returns:
                classes = self.returns[call.group(1)]
                taint = "kernel" in classes
                groups = tuple(getattr(t, c) for c in classes if c != "kernel")
        elif op in ("getelementptr", "inttoptr", "ptrtoint", "bitcast", "phi", "select", "add",
                    "sub", "or", "and", "xor", "zext", "sext", "trunc", "freeze"):
            ops = set(_OPERAND.findall(rhs))
            taint = bool(ops & t.kernel)
            if op in ("getelementptr", "bitcast", "phi", "select"):
                groups = tuple(g for g in (t.ctx, t.mapval) if ops & g)
        for group in groups:
            if name not in group:
                group.add(name)
                grew = True
        if taint:
            t.kernel.add(name)
        return taint or grew

    def called(self, callee: str, rest: str, t: _Taint, reached: bool) -> None:
        """Record the classes of the arguments a call of static function ``callee`` passes."""
        depth, end = 1, 0
        for end, c in enumerate(rest):
            depth += {"(": 1, ")": -1}.get(c, 0)
            if depth == 0:
                break
        params = self.params.setdefault(callee, {})
        for n, arg in enumerate(_split_args(rest[:end])):
            got = t.classes(_last_value(arg))
            if got:
                params.setdefault(n, set()).update(got)
        if reached:
            self.reached.add(callee)

    @staticmethod
    def rewrite(fn: _Func, t: _Taint) -> None:
        """Replace ``fn``'s loads and copies from kernel memory by probe reads into a stack slot."""
        if not t.kernel:
            return
        body = fn.body
        for i, name, rhs in t.defs:
            lm = _LOAD.match(rhs)
            if not lm or lm.group(3) not in t.kernel:
                continue
            ty = lm.group(2).strip()
            size = _SIZES.get(ty)
            if size is None:
                continue
            tmp = fn.temp_for(ty)
            body[i] = (f"  %__bcc_rd{i} = call i64 inttoptr (i64 {_IMPLICIT_READ} to ptr)(ptr {tmp}, i32 {size}, "
                       f"ptr {lm.group(3)}){_location(lm.group(4))}\n"
                       f"  {name} = load {ty}, ptr {tmp}, align {min(size, 8)}")
        for i, line in enumerate(body):
            m = _MEMCPY.match(line)
            if m and m.group(2) in t.kernel:
                body[i] = (f"  %__bcc_cp{i} = call i64 inttoptr (i64 {_IMPLICIT_READ} to ptr)(ptr {m.group(1)}, "
                           f"i32 {m.group(3)}, ptr {m.group(2)}){_location(m.group(4))}")
        fn.body = "\n".join(body).split("\n")


def _location(attachments: str) -> str:
    """The ``!dbg`` location of a rewritten instruction's metadata, and nothing else: clang's
    ``!DIAssignID`` (assignment tracking, clang 17+) is valid only on stores and memory
    intrinsics, and LLVM drops a module's debug info, BTF included, when it sits on a call."""
    dbg = _DBG_REF.search(attachments)
    return f", !dbg !{dbg.group(1)}" if dbg else ""


def _kernel_version() -> tuple[int, int]:
    major, _dot, rest = os.uname().release.partition(".")
    minor = re.match(r"\d*", rest).group(0)  # type: ignore[union-attr]
    return int(major or 0), int(minor or 0)


def printk_format_error(fmt: str, one_string: bool) -> str | None:
    """What the kernel's bpf_trace_printk would refuse in ``fmt`` (None: nothing).

    Conversions are ``%d %i %u %x %X`` with ``l``/``ll``, ``%c``, ``%s``,
    ``%p`` (with the kernel's ``K x B i4 I4 i6 I6 ks us`` suffixes) and
    ``%%``, after optional ``0 + - space`` flags and a width; at most three;
    kernels before 5.13 take one ``%s``.  Every character must be printable.
    """
    count = strings = 0
    i = 0
    while i < len(fmt):
        c = fmt[i]
        if not (c.isprintable() or c.isspace()):
            return f"non-printable character {c!r}"
        i += 1
        if c != "%":
            continue
        if fmt[i:i + 1] == "%":
            i += 1
            continue
        while fmt[i:i + 1] in ("0", "+", "-", " ") and i < len(fmt):
            i += 1
        while fmt[i:i + 1].isdigit():
            i += 1
        count += 1
        conv = fmt[i:i + 1]
        if conv == "s":
            strings += 1
        elif conv == "p":
            for suffix in ("ks", "us", "i4", "I4", "i6", "I6", "K", "x", "B"):
                if fmt.startswith(suffix, i + 1):
                    i += len(suffix)
                    break
        elif conv != "c":
            if fmt.startswith("ll", i):
                i += 2
            elif conv == "l":
                i += 1
            if fmt[i:i + 1] not in ("d", "i", "u", "x", "X"):
                return f"unsupported conversion %{fmt[i:i + 1] or '(end)'}"
        i += 1
    if count > 3:
        return f"{count} conversions, but it takes at most 3 arguments after the format"
    if one_string and strings > 1:
        return "more than one %s (this kernel is older than 5.13)"
    return None


def transform(ir: str, regs: Callable[[], dict[str, int]]) -> tuple[str, Metadata]:
    """Apply bcc's semantics to clang's IR; ``regs()`` gives pt_regs offsets by register name."""
    p = _Pass(ir.split("\n"), regs)
    p.collect_globals()
    p.rename_tables()
    p.functions()
    return "\n".join(ln for ln in p.lines), p.meta
