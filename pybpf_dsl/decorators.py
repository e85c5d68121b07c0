"""Decorators that mark Python functions as BPF code.

::

    @bpf_function
    def clamp(x: u32, hi: u32) -> u32:
        return x if x < hi else hi

    @tracepoint("syscalls:sys_enter_openat")
    def on_openat(args) -> int:
        ...

A decorated function stays callable in CPython, where it runs with the same
fixed-width semantics as in the kernel (see :mod:`pybpf_dsl.types`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable

from . import types as T
from .errors import CompileError, SourceLocation
from .runtime.uapi import AttachType, ProgType

__all__ = [
    "BPFFunction", "ProgramDef", "bpf_function",
    "tracepoint", "raw_tracepoint", "tp_btf", "kprobe", "kretprobe", "uprobe", "uretprobe", "usdt",
    "syscall", "kfunc", "fentry", "kretfunc", "fexit", "lsm", "iter", "perf_event", "xdp",
    "socket_filter", "tc", "cgroup_skb", "cgroup_sock", "sock_ops", "sk_msg", "sk_skb", "syscall_prog",
]


class BPFFunction:
    """A Python function compiled to BPF; calling it in CPython runs the reference interpreter.

    ``inline`` (the default) compiles its body into each caller; otherwise it
    is one BPF subprogram reached by BPF-to-BPF calls.
    """

    def __init__(self, fn: Callable[..., Any], inline: bool = True) -> None:
        functools.update_wrapper(self, fn)
        self.py_func = fn
        self.name = fn.__name__
        self.inline = inline
        self._typed: Any = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"

    def _loc(self) -> SourceLocation:
        code = self.py_func.__code__
        return SourceLocation(code.co_filename, code.co_firstlineno, 0)

    def _annotation(self, name: str) -> Any:
        ann = self.py_func.__annotations__.get(name)
        if isinstance(ann, str):
            try:
                ann = eval(ann, self.py_func.__globals__, self._closure())  # noqa: S307 - the user's own annotation
            except Exception as exc:
                raise CompileError(f"cannot evaluate the annotation {ann!r} of {self.name}: {exc}",
                                   self._loc(), "annotations must name module-level types (or drop `from __future__ import annotations`)") from None
        return ann

    def _closure(self) -> dict[str, Any]:
        code, cells = self.py_func.__code__, self.py_func.__closure__ or ()
        return {n: c.cell_contents for n, c in zip(code.co_freevars, cells)}

    def _param_names(self) -> list[str]:
        code = self.py_func.__code__
        return list(code.co_varnames[: code.co_argcount])

    def signature(self) -> tuple[list[tuple[str, T.Type]], T.Type | None]:
        """Parameter names and types, and the return type (None: returns nothing)."""
        params = []
        for name in self._param_names():
            t = T.type_of(self._annotation(name))
            if t is None:
                raise CompileError(f"parameter {name!r} of {self.name} needs a DSL type annotation",
                                   self._loc(), f"write `{name}: u32` (or s64, Ptr[T], ...)")
            params.append((name, t))
        return params, self._return_type()

    def _return_type(self) -> T.Type | None:
        ret = self._annotation("return")
        if ret is None:
            return None
        t = T.type_of(ret)
        if t is None:
            raise CompileError(f"the return annotation of {self.name} is not a DSL type",
                               self._loc(), "use `-> int`, `-> u32`, ... or leave it out")
        return t

    def typed(self) -> Any:
        """The typed IR of this function (cached); the functions it calls are typed first."""
        if self._typed is None:
            from .lower.source import parse_function
            from .lower.typer import TYPING, type_function
            params, ret = self.signature()
            TYPING.append(self)
            try:
                self._typed = type_function(parse_function(self.py_func), params, ret, self.name)
            finally:
                TYPING.pop()
        return self._typed

    def __call__(self, *args: Any) -> Any:
        from .lower.interp import run
        return run(self, args)


@dataclass(frozen=True)
class ProgramKind:
    """How one decorator maps to the kernel: program type, ELF section, attach type."""

    name: str
    prog_type: ProgType
    section: str
    attach_type: int = 0
    flags: int = 0


class ProgramDef(BPFFunction):
    """A BPF program: an entry point with a context argument and an attach target."""

    def __init__(self, fn: Callable[..., Any], kind: ProgramKind, target: str = "",
                 **options: Any) -> None:
        super().__init__(fn)
        self.kind = kind
        self.target = target
        self.options = options

    @property
    def section(self) -> str:
        """The ELF section name libbpf would use."""
        return self.kind.section + (f"/{self.target.replace(':', '/')}" if self.target else "")

    def signature(self) -> tuple[list[tuple[str, T.Type]], T.Type | None]:
        names = self._param_names()
        if not names:
            raise CompileError(f"program {self.name} must take the context as its first parameter",
                               self._loc(), f"write `def {self.name}(ctx) -> int:`")
        ann = self._annotation(names[0])
        ctx = T.type_of(ann) if ann is not None else self.context_type()
        if ctx is None:
            raise CompileError(f"the context annotation of {self.name} is not a DSL type", self._loc())
        params = [(names[0], ctx)]
        extra = names[1:]
        kind = self.kind.name
        if extra and kind not in _REG_ARGS:
            raise CompileError(f"{kind} programs take only the context (got {extra[0]!r})", self._loc(),
                               "read event data through the context: `ctx.field`")
        if kind in ("kretprobe", "uretprobe") and len(extra) > 1:
            raise CompileError(f"{kind} programs take the context and the return value only",
                               self._loc(), f"write `def {self.name}(ctx, ret: s64)`")
        if len(extra) > 6:
            raise CompileError("at most 6 arguments are passed in registers", self._loc())
        space = "user" if kind in ("uprobe", "uretprobe") else "kernel"
        for name in extra:
            t = T.type_of(self._annotation(name))
            if t is None:
                raise CompileError(f"argument {name!r} of {self.name} needs a type annotation",
                                   self._loc(), f"write `{name}: u64` or `{name}: Ptr[sock]`")
            if isinstance(t, T.PtrType) and t.space == "direct":
                t = T.PtrType(t.target, space)
            if t.size > 8 or not isinstance(t, (T.IntType, T.PtrType)):
                raise CompileError(f"argument {name!r}: registers hold integers and pointers, not {t}",
                                   self._loc(), f"take a pointer: `{name}: Ptr[{t.name}]`")
            params.append((name, t))
        return params, T.s64

    def context_type(self) -> T.Type:
        """The context's type when the first parameter is not annotated (see :mod:`.contexts`)."""
        from .contexts import context_type
        try:
            return context_type(self.kind.name, self.target)
        except CompileError as exc:
            raise CompileError(exc.message, self._loc(), exc.hint) from None

    def gen_prologue(self, g: Any) -> None:
        """Load typed register arguments (kprobe/uprobe/syscall) into their locals."""
        from .lower.probeargs import load_register_args
        load_register_args(g, self)


_REG_ARGS = frozenset({"kprobe", "kretprobe", "uprobe", "uretprobe", "syscall"})


def bpf_function(fn: Callable[..., Any] | None = None, *, inline: bool = True) -> Any:
    """Mark ``fn`` as callable from BPF programs.

    By default its code is inlined at each call, as clang does with bcc's
    static functions: no call overhead, and the verifier sees the caller's
    facts (bounds, NULL tests) inside it.  ``@bpf_function(inline=False)``
    makes it one BPF subprogram called with BPF-to-BPF calls (smaller code
    when a large function is called from many places; at most 5 arguments).

    Struct and array parameters are passed by value, as C passes structs:
    the callee works on its own copy and the caller never sees its writes
    (a subprogram receives a pointer to the caller's object and copies it
    on entry).  Declare the parameter ``Ptr[T]`` to pass the caller's
    object itself: ``def bump(p: Ptr[Pair])`` called as ``bump(pair)`` (a
    local, a field of one, or memory behind a pointer such as a map value)
    writes into ``pair``.  The interpreter does the same.

    A function may return a Struct or an Array by value (``-> Pair``): the
    caller passes a hidden pointer to its own slot (the local it assigns,
    or a temporary), which the callee fills when it returns; falling off
    the end returns the zero value.  A subprogram's hidden pointer takes
    one of its 5 argument registers.
    """
    if fn is None:
        return lambda f: BPFFunction(f, inline)
    return BPFFunction(fn, inline)


def _kind(name: str, prog_type: ProgType, section: str, attach_type: int = 0, flags: int = 0) -> ProgramKind:
    return ProgramKind(name, prog_type, section, attach_type, flags)


def _with_target(kind: ProgramKind, doc: str) -> Callable[..., Callable[[Callable[..., Any]], ProgramDef]]:
    def decorator(target: str, **options: Any) -> Callable[[Callable[..., Any]], ProgramDef]:
        def wrap(fn: Callable[..., Any]) -> ProgramDef:
            return ProgramDef(fn, kind, target, **options)
        return wrap
    decorator.__name__ = kind.name
    decorator.__doc__ = doc
    return decorator


def _bare(kind: ProgramKind, doc: str) -> Callable[..., Any]:
    def decorator(fn: Callable[..., Any] | None = None, **options: Any) -> Any:
        if fn is None:
            return lambda f: ProgramDef(f, kind, "", **options)
        return ProgramDef(fn, kind, "")
    decorator.__name__ = kind.name
    decorator.__doc__ = doc
    return decorator


_SLEEPABLE = 1 << 4  # BPF_F_SLEEPABLE

tracepoint = _with_target(_kind("tracepoint", ProgType.TRACEPOINT, "tracepoint"),
                          'Attach to a tracepoint: ``@tracepoint("syscalls:sys_enter_openat")``.')
raw_tracepoint = _with_target(_kind("raw_tracepoint", ProgType.RAW_TRACEPOINT, "raw_tracepoint"),
                              'A raw tracepoint: ``@raw_tracepoint("sched_switch")``.')
tp_btf = _with_target(_kind("tp_btf", ProgType.TRACING, "tp_btf", AttachType.TRACE_RAW_TP),
                      'A BTF-typed raw tracepoint: ``@tp_btf("sched_switch")``.')
kprobe = _with_target(_kind("kprobe", ProgType.KPROBE, "kprobe"), 'A kprobe: ``@kprobe("do_sys_openat2")``.')
kretprobe = _with_target(_kind("kretprobe", ProgType.KPROBE, "kretprobe"), "A kretprobe on a kernel function.")
uprobe = _with_target(_kind("uprobe", ProgType.KPROBE, "uprobe"), 'A uprobe: ``@uprobe("c:malloc")``.')
uretprobe = _with_target(_kind("uretprobe", ProgType.KPROBE, "uretprobe"), "A uretprobe on a user function.")
usdt = _with_target(_kind("usdt", ProgType.KPROBE, "usdt"), 'A USDT probe: ``@usdt("/usr/bin/python3:python:gc__start")``.')
syscall = _with_target(_kind("syscall", ProgType.KPROBE, "ksyscall"),
                       'A kprobe on a syscall by its name: ``@syscall("openat")`` (bcc\'s syscall__ prefix).')
kfunc = fentry = _with_target(_kind("fentry", ProgType.TRACING, "fentry", AttachType.TRACE_FENTRY),
                              "An fentry (kfunc) program on a kernel function.")
kretfunc = fexit = _with_target(_kind("fexit", ProgType.TRACING, "fexit", AttachType.TRACE_FEXIT),
                                "An fexit (kretfunc) program on a kernel function.")
lsm = _with_target(_kind("lsm", ProgType.LSM, "lsm", AttachType.LSM_MAC), 'An LSM hook: ``@lsm("file_open")``.')
iter = _with_target(_kind("iter", ProgType.TRACING, "iter", AttachType.TRACE_ITER),  # noqa: A001
                    'A BPF iterator: ``@iter("task")``.')
perf_event = _bare(_kind("perf_event", ProgType.PERF_EVENT, "perf_event"), "A perf-event (sampling) program.")
xdp = _bare(_kind("xdp", ProgType.XDP, "xdp", AttachType.XDP), "An XDP program.")
socket_filter = _bare(_kind("socket_filter", ProgType.SOCKET_FILTER, "socket"), "A socket filter program.")
tc = _bare(_kind("tc", ProgType.SCHED_CLS, "tc"), "A tc (cls_bpf, direct-action) program.")
cgroup_skb = _with_target(_kind("cgroup_skb", ProgType.CGROUP_SKB, "cgroup_skb"),
                          'A cgroup skb program: ``@cgroup_skb("ingress")``.')
cgroup_sock = _with_target(_kind("cgroup_sock", ProgType.CGROUP_SOCK, "cgroup/sock"),
                           "A cgroup socket-creation program.")
sock_ops = _bare(_kind("sock_ops", ProgType.SOCK_OPS, "sockops", AttachType.CGROUP_SOCK_OPS),
                 "A sock_ops program (``@sock_ops(cgroup=path)``): TCP events of a cgroup's sockets; "
                 "adds them to sockmaps.")
sk_msg = _bare(_kind("sk_msg", ProgType.SK_MSG, "sk_msg", AttachType.SK_MSG_VERDICT),
               "An sk_msg verdict program run on sendmsg of a sockmap's sockets (``@sk_msg(map=m)``).")
sk_skb = _with_target(_kind("sk_skb", ProgType.SK_SKB, "sk_skb"),
                      'An sk_skb program on a sockmap\'s received data: ``@sk_skb("stream_verdict")``, '
                      '``"stream_parser"`` or ``"verdict"`` (attach with ``map=``).')
syscall_prog = _bare(_kind("syscall_prog", ProgType.SYSCALL, "syscall", flags=_SLEEPABLE),
                     "A BPF_PROG_TYPE_SYSCALL program (run with BPF_PROG_TEST_RUN; context is a Ptr[Struct]).")
