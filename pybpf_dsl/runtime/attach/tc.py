"""Attach tc (SCHED_CLS) programs to a device's ingress or egress.

The preferred hook is a tcx link (6.6+): multi-program, owned by the Link,
gone with the process.  Older kernels, or ``mode="netlink"``, get what bcc
and ``tc filter add ... bpf da`` do: a clsact qdisc (created when missing)
and a direct-action cls_bpf filter; closing the Link deletes the filter, and
the qdisc too when this attachment created it and no filter is left on it.
The program's return value is a TC_ACT_* verdict in both cases
(TC_ACT_OK 0, TC_ACT_SHOT 2; tcx also knows TCX_NEXT -1).
"""

from __future__ import annotations

import errno as _errno
from typing import Any

from ...errors import SyscallError
from .. import netlink, syscall, uapi
from ..netdev import ifindex, ifname
from ..uapi import AttachType, ProgType
from .link import Link
from .progattach import require_prog_type
from .progfd import prog_fd

__all__ = ["attach_tc", "TC_MODES"]

TC_MODES = ("auto", "tcx", "netlink")
_HOOKS = {"ingress": (AttachType.TCX_INGRESS, uapi.TC_H_MIN_INGRESS),
          "egress": (AttachType.TCX_EGRESS, uapi.TC_H_MIN_EGRESS)}
_NO_TCX = (_errno.EINVAL, _errno.EOPNOTSUPP, 524)  # what kernels before 6.6 answer
_GONE = (_errno.ENODEV, _errno.ENOENT, _errno.EINVAL)  # the device or filter vanished first


def attach_tc(prog: Any, dev: str | bytes | int, direction: str = "ingress", *,
              mode: str = "auto", priority: int = 0, name: str = "pybpf") -> Link:
    """Run ``prog`` on packets entering (``"ingress"``) or leaving (``"egress"``) ``dev``.

    ``mode``: "tcx" (links only), "netlink" (clsact + cls_bpf only) or
    "auto" (tcx, else netlink).  ``priority`` and ``name`` label the
    cls_bpf filter (priority 0: the kernel picks one).
    """
    if direction not in _HOOKS:
        raise ValueError(f"direction must be 'ingress' or 'egress', got {direction!r}")
    if mode not in TC_MODES:
        raise ValueError(f"mode must be one of {TC_MODES}, got {mode!r}")
    attach_type, hook = _HOOKS[direction]
    index = ifindex(dev)
    label = f"{ifname(index)}:{direction}"
    fd = prog_fd(prog)
    require_prog_type(fd, ProgType.SCHED_CLS, "BPF_LINK_CREATE", f"attaching tc program to {label}")
    if mode != "netlink":
        try:
            link_fd = syscall.link_create(fd, index, attach_type, 0, f"attaching tcx program to {label}",
                                          tcx={"relative_fd": 0})
            return Link("tcx", label, [link_fd])
        except SyscallError as exc:
            if mode == "tcx" or exc.errno not in _NO_TCX:
                raise
    return _attach_cls_bpf(fd, index, hook, label, priority, name)


def _attach_cls_bpf(fd: int, index: int, hook: int, label: str, priority: int, name: str) -> Link:
    nl = netlink.RtNetlink()
    try:
        created = netlink.add_clsact(nl, index)
        try:
            handle, info = netlink.add_bpf_filter(nl, index, hook, fd, name, priority)
        except BaseException:
            if created:
                netlink.del_clsact(nl, index)
            raise
    except BaseException:
        nl.close()
        raise

    def detach() -> None:
        try:
            netlink.del_filter(nl, index, hook, handle, info)
            if created and not any(netlink.has_filters(nl, index, h) for h in
                                   (uapi.TC_H_MIN_INGRESS, uapi.TC_H_MIN_EGRESS)):
                netlink.del_clsact(nl, index)
        except OSError as exc:
            if exc.errno not in _GONE:
                raise
        finally:
            nl.close()

    return Link("tc", label, on_close=detach)
