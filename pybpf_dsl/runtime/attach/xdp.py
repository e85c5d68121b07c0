"""Attach XDP programs to network devices.

:func:`attach_xdp` creates an XDP BPF link (5.9+): the program runs until
the Link closes or the process exits, unlike a netlink attachment, which
stays on the device after its owner is gone.  ``flags`` chooses the mode:
XDP_FLAGS_SKB_MODE (generic XDP, every device), XDP_FLAGS_DRV_MODE (native,
in the driver; veth, virtio_net, mlx5, i40e...), XDP_FLAGS_HW_MODE
(offloaded), or 0 for native when the driver has it, generic otherwise.

bcc's static ``BPF.attach_xdp(dev, fn, flags)`` / ``BPF.remove_xdp(dev,
flags)`` calls are :func:`bcc_attach_xdp` and :func:`remove_xdp`: attachments
are kept in a per-process registry by (device, mode) so ``remove_xdp``
detaches what this process attached; ``remove_xdp`` of anything else (an
``ip link set dev X xdp obj ...`` program) goes through netlink (IFLA_XDP).

Programs that run from a devmap or cpumap entry are loaded with expected
attach type BPF_XDP_DEVMAP / BPF_XDP_CPUMAP and stored in the map, not
attached here: that is the loader's and the map's business.
"""

from __future__ import annotations

import errno as _errno
from typing import Any

from ...errors import NotSupported, SyscallError, syscall_error
from .. import netlink, syscall
from ..netdev import ifindex, ifname
from ..uapi import (XDP_FLAGS_DRV_MODE, XDP_FLAGS_HW_MODE, XDP_FLAGS_SKB_MODE,
                    XDP_FLAGS_UPDATE_IF_NOEXIST, AttachType, ProgType)
from .link import Link
from .progattach import require_prog_type
from .progfd import prog_fd

__all__ = ["attach_xdp", "bcc_attach_xdp", "remove_xdp", "XDP_FLAGS_SKB_MODE", "XDP_FLAGS_DRV_MODE",
           "XDP_FLAGS_HW_MODE", "XDP_FLAGS_UPDATE_IF_NOEXIST"]

_MODES = XDP_FLAGS_SKB_MODE | XDP_FLAGS_DRV_MODE | XDP_FLAGS_HW_MODE
_MODE_NAMES = {XDP_FLAGS_SKB_MODE: "generic", XDP_FLAGS_DRV_MODE: "native", XDP_FLAGS_HW_MODE: "offload",
               0: "default"}


def _mode(flags: int) -> int:
    mode = flags & _MODES
    if mode not in _MODE_NAMES:
        raise ValueError("XDP flags may name one mode only: SKB_MODE, DRV_MODE or HW_MODE")
    if flags & ~(_MODES | XDP_FLAGS_UPDATE_IF_NOEXIST):
        raise ValueError(f"unsupported XDP flags 0x{flags:x}: use XDP_FLAGS_SKB_MODE, DRV_MODE or HW_MODE")
    return mode


def attach_xdp(prog: Any, dev: str | bytes | int, flags: int = 0) -> Link:
    """Attach an XDP program to ``dev`` (a name or an ifindex) through a BPF link.

    Raises AttachTargetNotFound for a missing device, NotSupported when the
    driver has no native (or offload) XDP, and SyscallError(EBUSY) when the
    device already runs an XDP program in that mode.
    """
    mode = _mode(flags)
    index = ifindex(dev)
    name = ifname(index)
    what = f"attaching {_MODE_NAMES[mode]} XDP program to {name}"
    fd = prog_fd(prog)
    require_prog_type(fd, ProgType.XDP, "BPF_LINK_CREATE", what)
    try:
        link_fd = syscall.link_create(fd, index, AttachType.XDP, mode, what)
    except SyscallError as exc:
        if exc.errno == _errno.EOPNOTSUPP and mode:
            raise NotSupported(f"{_MODE_NAMES[mode]} XDP on {name}",
                               "the driver lacks it; use XDP_FLAGS_SKB_MODE (generic XDP)") from None
        if exc.errno == _errno.EINVAL and mode == XDP_FLAGS_HW_MODE:
            raise syscall_error("BPF_LINK_CREATE", exc.errno, what,
                                f"offload mode needs a program loaded for {name} (load with its ifindex)") from None
        if exc.errno == _errno.EBUSY:
            raise syscall_error("BPF_LINK_CREATE", exc.errno, what,
                                f"{name} already runs an XDP program; remove it first "
                                f"(ip link set dev {name} xdp off)") from None
        raise
    return Link("xdp", name, [link_fd])


# ---------------------------------------------------------------- bcc's API

_registry: dict[tuple[int, int], Link] = {}


def bcc_attach_xdp(dev: str | bytes | int, fn: Any, flags: int = 0) -> None:
    """bcc's ``BPF.attach_xdp(dev, fn, flags)``: attach, replacing a program already there.

    The attachment is remembered for :func:`remove_xdp` and ends when the
    process exits.  A program that something else attached by netlink is
    replaced through netlink, as bcc does (that one then outlives the process).
    With XDP_FLAGS_UPDATE_IF_NOEXIST nothing is replaced: a device already
    running an XDP program in that mode raises SyscallError(EBUSY).
    """
    mode = _mode(flags)
    index = ifindex(dev)
    if flags & XDP_FLAGS_UPDATE_IF_NOEXIST and (index, mode) in _registry:
        name = ifname(index)
        raise syscall_error("BPF_LINK_CREATE", _errno.EBUSY,
                            f"attaching {_MODE_NAMES[mode]} XDP program to {name}",
                            f"{name} already runs an XDP program (XDP_FLAGS_UPDATE_IF_NOEXIST); "
                            "remove it first with remove_xdp") from None
    old = _registry.pop((index, mode), None)
    if old is not None:
        old.close()
    try:
        _registry[(index, mode)] = attach_xdp(fn, index, mode)
    except SyscallError as exc:
        if exc.errno != _errno.EBUSY or flags & XDP_FLAGS_UPDATE_IF_NOEXIST:
            raise
        with netlink.RtNetlink() as nl:
            netlink.set_xdp(nl, index, prog_fd(fn), flags)


def remove_xdp(dev: str | bytes | int, flags: int = 0) -> None:
    """bcc's ``BPF.remove_xdp(dev, flags)``: detach the device's XDP program in that mode.

    Closes this process's attachment when there is one; otherwise asks the
    kernel through netlink to remove whatever program is attached.
    """
    mode = _mode(flags)
    index = ifindex(dev)
    link = _registry.pop((index, mode), None)
    if link is not None:
        link.close()
        return
    with netlink.RtNetlink() as nl:
        netlink.set_xdp(nl, index, -1, flags)
