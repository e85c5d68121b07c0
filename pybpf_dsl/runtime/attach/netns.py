"""Attach flow dissector and sk_lookup programs to a network namespace (netns links, 5.8+)."""

from __future__ import annotations

import os
from typing import Any

from ...errors import AttachTargetNotFound
from ..uapi import AttachType
from .link import Link
from .progattach import attach_prog, attach_type_of

__all__ = ["attach_netns", "NETNS_ATTACH_TYPES"]

NETNS_ATTACH_TYPES = frozenset({AttachType.FLOW_DISSECTOR, AttachType.SK_LOOKUP})


def _open_netns(netns: str | None) -> tuple[int, str]:
    if netns is None:
        path = "/proc/thread-self/ns/net"
    elif os.sep in netns:
        path = netns
    else:
        path = os.path.join("/run/netns", netns)  # a name given to `ip netns add`
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC), path
    except FileNotFoundError:
        raise AttachTargetNotFound(f"no network namespace {netns!r} ({path} does not exist)") from None


def attach_netns(prog: Any, attach_type: int | str, netns: str | int | Any | None = None) -> Link:
    """Attach a flow dissector or sk_lookup program to a network namespace.

    ``netns``: None for the calling thread's namespace, a name from
    ``ip netns add``, a path such as ``/proc/PID/ns/net``, or an open FD.
    The attachment is a BPF link, so it ends with the Link (no fallback to
    BPF_PROG_ATTACH, which only reaches the current namespace).
    """
    atype = attach_type_of(attach_type)
    if atype not in NETNS_ATTACH_TYPES:
        raise ValueError(f"{atype.name.lower()} is not a netns attach type; use flow_dissector or sk_lookup")
    if netns is None or isinstance(netns, str):
        fd, path = _open_netns(netns)
        try:
            return attach_prog(prog, fd, atype, mode="link", kind="netns", target=path)
        finally:
            os.close(fd)
    fd = netns if isinstance(netns, int) else netns.fileno()
    return attach_prog(prog, fd, atype, mode="link", kind="netns", target=f"netns fd {fd}")
