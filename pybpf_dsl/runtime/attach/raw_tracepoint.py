"""Raw tracepoints and BTF-typed tracepoints (tp_btf).

A RAW_TRACEPOINT program gets the tracepoint's raw arguments (``u64 args[]``)
and is attached by name; a tp_btf program (type TRACING, expected attach type
BPF_TRACE_RAW_TP) was loaded with ``attach_btf_id`` = :func:`tp_btf_id` and
reads typed kernel pointers directly.  Both attach through
BPF_RAW_TRACEPOINT_OPEN, whose BPF link dies with its FD.
"""

from __future__ import annotations

import errno as _errno
import struct
from typing import Any

from ...errors import AttachTargetNotFound, BPFError, NotSupported, SyscallError
from .. import syscall
from ..fd import FD
from .link import Link
from .progfd import prog_fd

__all__ = ["attach_raw_tracepoint", "attach_tp_btf", "tp_btf_id", "attach_target_name", "named_link",
           "tracepoint_arg_count", "max_ctx_arg"]

_TYPEDEF_PREFIX = "btf_trace_"
_INSN = struct.Struct("<BBhi")
_LDX_MEM, _STX_MEM, _CALL, _MOV64_X, _ADD64_K = 0x61, 0x63, 0x85, 0xBF, 0x07
_SIZES = {0x00: 4, 0x08: 2, 0x10: 1, 0x18: 8}


def tp_btf_id(name: str) -> int:
    """The kernel BTF id a tp_btf program on tracepoint ``name`` is loaded with
    (the ``btf_trace_<name>`` typedef)."""
    from ..btf import Kind, kernel_btf
    try:
        return kernel_btf().find_id(_TYPEDEF_PREFIX + name, Kind.TYPEDEF)
    except KeyError:
        raise _not_found(name) from None


def _known_tracepoints() -> list[str]:
    """Raw tracepoint names: tracefs event names (cheap; no BTF walk)."""
    from ..tracepoints import categories, events
    try:
        return sorted({e for c in categories() for e in events(c)})
    except (OSError, NotSupported):
        return []


def _not_found(name: str) -> AttachTargetNotFound:
    import difflib  # only to word an error

    close = difflib.get_close_matches(name, _known_tracepoints(), n=3, cutoff=0.6)
    hint = f" (did you mean {' or '.join(close)}?)" if close else ""
    return AttachTargetNotFound(f"no kernel tracepoint named {name!r}{hint}")


def attach_raw_tracepoint(prog: Any, name: str, cookie: int = 0) -> Link:
    """Run a RAW_TRACEPOINT program each time tracepoint ``name`` (``sched_switch``,
    ``sys_enter``) fires.  ``cookie`` (Linux 6.10+) is bpf_get_attach_cookie()'s value."""
    fd = prog_fd(prog)
    try:
        link = syscall.raw_tracepoint_open(name, fd, cookie)
    except BPFError as e:
        if e.errno == _errno.ENOENT:
            raise _not_found(name) from e
        better = _too_few_args(name, fd) if e.errno == _errno.EINVAL else None
        if better is not None:
            raise better from e
        raise
    return Link("raw_tracepoint", name, [link])


def tracepoint_arg_count(name: str) -> int | None:
    """How many arguments tracepoint ``name`` passes on this kernel (its ``btf_trace_<name>``
    prototype without the leading ``void *``); None when kernel BTF does not describe it."""
    from ..btf import Kind, kernel_btf
    btf = kernel_btf()
    try:
        pointer = btf[btf.find_id(_TYPEDEF_PREFIX + name, Kind.TYPEDEF)]
        proto = btf[btf[pointer.type_id].type_id]
    except (KeyError, IndexError):
        return None
    return len(proto.params) - 1 if proto.kind == Kind.FUNC_PROTO and proto.params else None


def max_ctx_arg(insns: bytes) -> int | None:
    """The largest ``ctx->args[i]`` raw tracepoint program ``insns`` reads (None: no read seen).

    Follows the context pointer from r1 through register moves, constant
    additions, stack spills and calls of subprograms, in instruction order
    (as a hint for a message, not a proof: branches are not merged).
    """
    entries: dict[int, dict[int, int]] = {0: {1: 0}}   # subprogram start -> register -> ctx offset
    regs: dict[int, int] = {}
    slots: dict[int, int] = {}
    best = -1
    for pc in range(len(insns) // _INSN.size):
        code, r, off, imm = _INSN.unpack_from(insns, pc * _INSN.size)
        if pc in entries:
            regs, slots = dict(entries[pc]), {}
        dst, src = r & 0x0F, r >> 4
        if code & 0xE7 == _LDX_MEM:
            if src in regs:
                best = max(best, (regs[src] + off + _SIZES[code & 0x18] - 1) // 8)
            if src == 10 and off in slots:
                regs[dst] = slots[off]
            else:
                regs.pop(dst, None)
        elif code & 0xE7 == _STX_MEM:
            if dst == 10:
                if src in regs and code & 0x18 == 0x18:
                    slots[off] = regs[src]
                else:
                    slots.pop(off, None)
        elif code == _CALL:
            if src == 1:  # a subprogram: its r1-r5 are ours
                entries.setdefault(pc + imm + 1, {}).update({k: v for k, v in regs.items() if 1 <= k <= 5})
            regs = {k: v for k, v in regs.items() if k > 5}
        elif code == _MOV64_X and src in regs:
            regs[dst] = regs[src]
        elif code == _ADD64_K and dst in regs:
            regs[dst] += imm
        elif code & 0x07 in (0x00, 0x04, 0x07):  # any other write of a register
            regs.pop(dst, None)
    return best if best >= 0 else None


def _too_few_args(name: str, fd: int) -> SyscallError | None:
    """Why the kernel refused a raw tracepoint: the program reads past the tracepoint's arguments."""
    count = tracepoint_arg_count(name)
    if count is None:
        return None
    try:
        read = max_ctx_arg(syscall.prog_xlated(fd))
    except BPFError:
        read = None
    if read is not None and read < count:
        return None
    reads = f"the program reads ctx->args[{read}]" if read is not None else "the program reads beyond them"
    have = f"ctx->args[0] to ctx->args[{count - 1}]" if count else "none"
    return SyscallError("BPF_RAW_TRACEPOINT_OPEN", _errno.EINVAL, f"attaching to raw tracepoint {name}",
                        f"tracepoint {name} has {count} argument{'s' if count != 1 else ''} on this kernel "
                        f"({have}), but {reads}: read only the arguments its prototype has here")


def attach_tp_btf(prog: Any, cookie: int = 0) -> Link:
    """Attach a tp_btf program to the tracepoint it was loaded for (its attach_btf_id)."""
    fd = prog_fd(prog)
    link = syscall.raw_tracepoint_open(None, fd, cookie)
    return named_link("tp_btf", fd, link, _TYPEDEF_PREFIX)


def named_link(kind: str, fd: int, link: FD, strip: str = "") -> Link:
    """A Link named after the program's load-time BTF target; closes ``link`` on failure."""
    try:
        return Link(kind, attach_target_name(fd, strip), [link])
    except BaseException:
        link.close()
        raise


def attach_target_name(fd: int, strip: str = "") -> str:
    """The name of the kernel BTF type a program was loaded against ('' if unknown)."""
    from ..btf import kernel_btf
    info = syscall.obj_info(fd, "prog")
    btf = kernel_btf()
    if not 0 < info.attach_btf_id < len(btf):
        return ""  # none, or an id in a module's split BTF
    name = btf[info.attach_btf_id].name
    return name[len(strip):] if strip and name.startswith(strip) else name
