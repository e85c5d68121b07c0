"""Raw tracepoints and BTF-typed tracepoints (tp_btf).

A RAW_TRACEPOINT program gets the tracepoint's raw arguments (``u64 args[]``)
and is attached by name; a tp_btf program (type TRACING, expected attach type
BPF_TRACE_RAW_TP) was loaded with ``attach_btf_id`` = :func:`tp_btf_id` and
reads typed kernel pointers directly.  Both attach through
BPF_RAW_TRACEPOINT_OPEN, whose BPF link dies with its FD.
"""

from __future__ import annotations

import errno as _errno
from typing import Any

from ...errors import AttachTargetNotFound, BPFError, NotSupported
from .. import syscall
from ..fd import FD
from .link import Link
from .progfd import prog_fd

__all__ = ["attach_raw_tracepoint", "attach_tp_btf", "tp_btf_id", "attach_target_name", "named_link"]

_TYPEDEF_PREFIX = "btf_trace_"


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
        raise
    return Link("raw_tracepoint", name, [link])


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
