"""BPF iterators: a TRACING program (expected attach type BPF_TRACE_ITER) that
walks kernel objects (tasks, maps, map elements, cgroups...) and writes text
or bytes with bpf_seq_printf / bpf_seq_write.

The program is loaded with ``attach_btf_id`` = :func:`iter_target_btf_id`
(``"task"`` -> ``bpf_iter_task``).  :func:`attach_iter` creates the link;
each :meth:`IterLink.read` runs one full walk::

    with attach_iter(prog) as it:
        for line in it.lines():
            print(line)
"""

from __future__ import annotations

import os
from typing import Any, Iterator

from ...errors import AttachTargetNotFound
from .. import syscall, uapi
from ..fd import FD
from ..uapi import AttachType, ffi
from .link import Link
from .progfd import prog_fd
from .raw_tracepoint import attach_target_name

__all__ = ["IterLink", "attach_iter", "iter_target_btf_id"]

_CHUNK = 1 << 16


def iter_target_btf_id(target: str) -> int:
    """The ``attach_btf_id`` of an iterator over ``target`` (``task``, ``bpf_map_elem``, ...)."""
    from ..btf import Kind, kernel_btf
    name = target if target.startswith("bpf_iter_") else "bpf_iter_" + target
    try:
        return kernel_btf().find_id(name, Kind.FUNC)
    except KeyError:
        raise AttachTargetNotFound(f"no BPF iterator target {target!r} in kernel BTF "
                                   f"(no function {name}; try task, task_file, bpf_map, bpf_map_elem)") from None


class IterLink(Link):
    """An attached iterator.  Every :meth:`read` or :meth:`lines` call runs a new walk."""

    def open(self) -> FD:
        """A fresh readable FD running the iterator (BPF_ITER_CREATE); the caller closes it."""
        if not self.fds:
            raise ValueError(f"iterator {self.target!r} is closed")
        return syscall.iter_create(self.fds[0].fileno())

    def read(self) -> bytes:
        """Run the iterator to the end and return everything it wrote."""
        with self.open() as fd:
            chunks = []
            while True:
                chunk = os.read(fd.fileno(), _CHUNK)
                if not chunk:
                    return b"".join(chunks)
                chunks.append(chunk)

    def lines(self, encoding: str = "utf-8") -> Iterator[str]:
        """The iterator's output as text lines (without newlines), read as produced."""
        pending = b""
        with self.open() as fd:
            while True:
                chunk = os.read(fd.fileno(), _CHUNK)
                if not chunk:
                    break
                *done, pending = (pending + chunk).split(b"\n")
                for line in done:
                    yield line.decode(encoding, errors="replace")
        if pending:
            yield pending.decode(encoding, errors="replace")


def attach_iter(prog: Any, map_fd: Any = None, *, cgroup_fd: Any = None, cgroup_id: int = 0,
                order: int = uapi.BPF_CGROUP_ITER_ORDER_UNSPEC, tid: int = 0, pid: int = 0,
                pid_fd: int = 0) -> IterLink:
    """Attach an iterator program; the optional parameters narrow what it walks.

    ``map_fd`` for map-element iterators (``bpf_map_elem``, ``bpf_sk_storage_map``);
    ``cgroup_fd`` or ``cgroup_id`` with ``order`` (a BPF_CGROUP_ITER_* value)
    for cgroup iterators; ``tid``, ``pid`` or ``pid_fd`` to walk one thread or
    process with task iterators.
    """
    fd = prog_fd(prog)
    info = ffi.new("union bpf_iter_link_info *")
    target = "iter"
    if map_fd is not None:
        info.map.map_fd = prog_fd(map_fd)
        target = f"iter map fd {info.map.map_fd}"
    elif cgroup_fd is not None or cgroup_id:
        info.cgroup.order = order
        info.cgroup.cgroup_fd = prog_fd(cgroup_fd) if cgroup_fd is not None else 0
        info.cgroup.cgroup_id = cgroup_id
        target = "iter cgroup"
    elif tid or pid or pid_fd:
        info.task.tid, info.task.pid, info.task.pid_fd = tid, pid, pid_fd
        target = f"iter task tid={tid} pid={pid} pid_fd={pid_fd}"
    has_info = target != "iter"
    link = syscall.link_create(
        fd, 0, AttachType.TRACE_ITER, what="attaching iterator",
        iter={"iter_info": int(ffi.cast("uintptr_t", info)) if has_info else 0,
              "iter_info_len": ffi.sizeof(info[0]) if has_info else 0})
    try:
        name = attach_target_name(fd, "bpf_iter_") or target
    except BaseException:
        link.close()
        raise
    return IterLink("iter", name if not has_info else f"{name} ({target})", [link])
