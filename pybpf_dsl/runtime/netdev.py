"""Network interface names and indexes, in the calling thread's network namespace."""

from __future__ import annotations

import socket

from ..errors import AttachTargetNotFound

__all__ = ["ifindex", "ifname", "device_names"]

_LIST_AT_MOST = 12


def device_names() -> list[str]:
    """The names of every network device visible here, in index order."""
    return [name for _, name in sorted(socket.if_nameindex())]


def _missing(what: str) -> AttachTargetNotFound:
    names = device_names()
    listed = ", ".join(names) if len(names) <= _LIST_AT_MOST else f"{len(names)} devices, see `ip link`"
    return AttachTargetNotFound(f"no network device {what} in this network namespace (have: {listed})")


def ifindex(dev: str | bytes | int) -> int:
    """The ifindex of ``dev`` (a name, or an index checked to exist).

    Raises AttachTargetNotFound, listing the devices that do exist.
    """
    if isinstance(dev, bytes):
        dev = dev.decode()
    if isinstance(dev, int):
        ifname(dev)
        return dev
    try:
        return socket.if_nametoindex(dev)
    except OSError:
        raise _missing(repr(dev)) from None


def ifname(index: int) -> str:
    """The name of the device with ifindex ``index``; AttachTargetNotFound if none."""
    try:
        return socket.if_indextoname(index)
    except OSError:
        raise _missing(f"with index {index}") from None
