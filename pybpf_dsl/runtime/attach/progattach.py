"""Attach a program to an FD target (cgroup, sockmap, ...) by BPF link or BPF_PROG_ATTACH.

A BPF link (BPF_LINK_CREATE) is preferred: the kernel detaches it when the
last FD closes, so nothing outlives the process.  Kernels without links for
the attach type (cgroup links: 5.7, sockmap links: 6.10) answer EINVAL, and
the attachment falls back to BPF_PROG_ATTACH, detached again with
BPF_PROG_DETACH when the :class:`Link` closes.  This is also bcc's
``attach_func``/``detach_func``: ``attach_prog(fn, fd, type, flags=f, mode="prog_attach")``.
"""

from __future__ import annotations

import errno as _errno
import os
from typing import Any

from ...errors import SyscallError, syscall_error
from .. import syscall
from ..fd import FD
from ..uapi import AttachType, ProgType
from .link import Link
from .progfd import prog_fd

__all__ = ["attach_prog", "attach_type_of", "require_prog_type", "MODES"]

MODES = ("auto", "link", "prog_attach")
_NO_LINK = (_errno.EINVAL, _errno.EOPNOTSUPP, 524)  # 524: ENOTSUPP
_OCCUPIED = "that hook takes one program and already has one; detach it first"
_HINTS = {_errno.E2BIG: _OCCUPIED, _errno.EEXIST: _OCCUPIED, _errno.EBUSY: _OCCUPIED,
          _errno.EINVAL: "the program type does not match the attach type, or the target is not one"}


def attach_type_of(value: int | str) -> AttachType:
    """An ``AttachType`` from an int or a name such as ``"cgroup_inet_ingress"``."""
    if isinstance(value, str):
        try:
            return AttachType[value.upper()]
        except KeyError:
            raise ValueError(f"unknown attach type {value!r}; expected a bpf_attach_type name "
                             f"such as 'cgroup_inet_ingress'") from None
    return AttachType(value)


def require_prog_type(fd: int, allowed: ProgType, call: str, what: str) -> None:
    """Refuse, before the kernel does with a bare EINVAL, a program of the wrong type."""
    found = syscall.obj_info(fd, "prog").type
    if found != allowed:
        try:
            name = ProgType(found).name.lower()
        except ValueError:
            name = f"type {found}"
        raise syscall_error(call, _errno.EINVAL, what,
                            f"this is a {name} program; the hook runs {allowed.name.lower()} programs")


def attach_prog(prog: Any, target_fd: int, attach_type: int | str, *, flags: int = 0,
                mode: str = "auto", kind: str = "prog_attach", target: str = "") -> Link:
    """Attach ``prog`` to the kernel object behind ``target_fd``.

    ``mode``: "link" (BPF_LINK_CREATE only), "prog_attach" (BPF_PROG_ATTACH
    only, with ``flags`` such as BPF_F_ALLOW_MULTI) or "auto" (a link, else
    BPF_PROG_ATTACH).  The returned Link keeps a duplicate of ``target_fd``
    when it must detach with BPF_PROG_DETACH, so the caller may close its own.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    fd = prog_fd(prog)
    atype = attach_type_of(attach_type)
    label = target or f"fd {target_fd}"
    what = f"attaching {atype.name.lower()} program to {label}"
    if mode != "prog_attach":
        try:
            link_fd = syscall.link_create(fd, target_fd, atype, 0, what)
            return Link(kind, label, [link_fd])
        except SyscallError as exc:
            if mode == "link" or exc.errno not in _NO_LINK:
                raise syscall_error("BPF_LINK_CREATE", exc.errno, what, _HINTS.get(exc.errno)) from None
    try:
        syscall.prog_attach(fd, target_fd, atype, flags)
    except SyscallError as exc:
        raise syscall_error("BPF_PROG_ATTACH", exc.errno, what, _HINTS.get(exc.errno)) from None
    owned = [FD(os.dup(fd), "prog"), FD(os.dup(target_fd), kind)]

    def detach() -> None:
        syscall.prog_detach(owned[0].fileno(), owned[1].fileno(), atype)

    return Link(kind, label, owned, on_close=detach)
