"""A minimal rtnetlink client: XDP by IFLA_XDP, clsact qdiscs and cls_bpf filters.

Only what program attachment needs, for kernels without BPF links for XDP
(before 5.9) or tcx (before 6.6), and to remove programs that something else
attached through netlink (``ip link set dev X xdp ...``, ``tc filter add``).
Every request opens its own socket in the calling thread's network
namespace, waits for the kernel's acknowledgement, and raises a
:class:`~pybpf_dsl.errors.SyscallError` carrying the kernel's extended-ack
message when it refuses.
"""

from __future__ import annotations

import errno as _errno
import socket
import struct

from ..errors import syscall_error
from . import uapi
from .closing import Closing
from .uapi import ffi

__all__ = ["RtNetlink", "set_xdp", "add_clsact", "del_clsact", "add_bpf_filter", "del_filter", "has_filters"]

_NAMES = {uapi.RTM_SETLINK: "RTM_SETLINK", uapi.RTM_NEWQDISC: "RTM_NEWQDISC",
          uapi.RTM_DELQDISC: "RTM_DELQDISC", uapi.RTM_NEWTFILTER: "RTM_NEWTFILTER",
          uapi.RTM_DELTFILTER: "RTM_DELTFILTER", uapi.RTM_GETTFILTER: "RTM_GETTFILTER"}
_HDR = ffi.sizeof("struct nlmsghdr")
_TCMSG = ffi.sizeof("struct tcmsg")
_CLSACT_HANDLE = uapi.TC_H_CLSACT & 0xFFFF0000
_ALL_PROTOCOLS = socket.htons(uapi.ETH_P_ALL)


def _struct(ctype: str, **fields: int) -> bytes:
    obj = ffi.new(f"struct {ctype} *")
    for name, value in fields.items():
        setattr(obj, name, value)
    return bytes(ffi.buffer(obj))


def _attr(kind: int, payload: bytes) -> bytes:
    head = _struct("nlattr", nla_len=4 + len(payload), nla_type=kind)
    return head + payload + b"\0" * (-len(payload) % 4)


def _nested(kind: int, *attrs: bytes) -> bytes:
    return _attr(kind | uapi.NLA_F_NESTED, b"".join(attrs))


def _attrs(data: bytes) -> dict[int, bytes]:
    """The attributes in ``data`` by type (the last one wins)."""
    found, pos = {}, 0
    while pos + 4 <= len(data):
        length, kind = struct.unpack_from("=HH", data, pos)
        if length < 4:
            break
        found[kind & ~uapi.NLA_F_NESTED] = data[pos + 4:pos + length]
        pos += (length + 3) & ~3
    return found


def _extack(payload: bytes, flags: int) -> str | None:
    """The kernel's explanation attached to an NLMSG_ERROR, if any."""
    if not flags & uapi.NLM_F_ACK_TLVS:
        return None
    if flags & uapi.NLM_F_CAPPED:
        start = 4 + _HDR
    else:
        start = 4 + struct.unpack_from("=I", payload, 4)[0]
    text = _attrs(payload[start:]).get(uapi.NLMSGERR_ATTR_MSG)
    return text.rstrip(b"\0").decode(errors="replace") if text else None


class RtNetlink(Closing):
    """An rtnetlink socket, bound to the network namespace it was opened in.

    Keep one to undo an attachment later: requests through it reach the same
    namespace even when the closing thread has moved to another one.
    """

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                                   uapi.NETLINK_ROUTE)
        self._sock.setsockopt(uapi.SOL_NETLINK, uapi.NETLINK_EXT_ACK, 1)
        self._sock.setsockopt(uapi.SOL_NETLINK, uapi.NETLINK_CAP_ACK, 1)
        self._sock.bind((0, 0))
        self._seq = 0

    def close(self) -> None:
        self._sock.close()

    def request(self, msg_type: int, flags: int, body: bytes, what: str) -> list[bytes]:
        """Send one request; return the payloads of the kernel's replies (dump or echo)."""
        self._seq += 1
        header = _struct("nlmsghdr", nlmsg_len=_HDR + len(body), nlmsg_type=msg_type,
                         nlmsg_flags=uapi.NLM_F_REQUEST | flags, nlmsg_seq=self._seq)
        self._sock.sendto(header + body, (0, 0))
        replies: list[bytes] = []
        while True:
            data = self._sock.recv(1 << 16)
            pos = 0
            while pos + _HDR <= len(data):
                length, kind, rflags, seq, _ = struct.unpack_from("=IHHII", data, pos)
                payload = data[pos + _HDR:pos + length]
                pos += (length + 3) & ~3
                if seq != self._seq:
                    continue  # a late answer to an earlier request
                if kind == uapi.NLMSG_DONE:
                    return replies
                if kind == uapi.NLMSG_ERROR:
                    err = -struct.unpack_from("=i", payload)[0]
                    if err:
                        raise syscall_error(_NAMES[msg_type], err, what, _extack(payload, rflags))
                    return replies
                replies.append(payload)

def _tcmsg(ifindex: int, parent: int, handle: int = 0, info: int = 0) -> bytes:
    return _struct("tcmsg", tcm_family=socket.AF_UNSPEC, tcm_ifindex=ifindex,
                   tcm_handle=handle, tcm_parent=parent, tcm_info=info)


def _kind(name: str) -> bytes:
    return _attr(uapi.TCA_KIND, name.encode() + b"\0")


# ---------------------------------------------------------------- XDP

def set_xdp(nl: RtNetlink, ifindex: int, prog_fd: int, flags: int = 0) -> None:
    """Attach ``prog_fd`` as the device's XDP program, or detach with ``prog_fd=-1``.

    ``flags`` are XDP_FLAGS_* (mode and UPDATE_IF_NOEXIST).
    """
    link = _struct("ifinfomsg", ifi_family=socket.AF_UNSPEC, ifi_index=ifindex)
    xdp = [_attr(uapi.IFLA_XDP_FD, struct.pack("=i", prog_fd))]
    if flags:
        xdp.append(_attr(uapi.IFLA_XDP_FLAGS, struct.pack("=I", flags)))
    what = "removing XDP program" if prog_fd < 0 else "attaching XDP program"
    nl.request(uapi.RTM_SETLINK, uapi.NLM_F_ACK, link + _nested(uapi.IFLA_XDP, *xdp),
               f"{what} on ifindex {ifindex}")


# ---------------------------------------------------------------- tc

def _clsact(ifindex: int) -> bytes:
    return _tcmsg(ifindex, uapi.TC_H_CLSACT, _CLSACT_HANDLE) + _kind("clsact")


def add_clsact(nl: RtNetlink, ifindex: int) -> bool:
    """Create the device's clsact qdisc; False when it already had one."""
    try:
        nl.request(uapi.RTM_NEWQDISC, uapi.NLM_F_ACK | uapi.NLM_F_CREATE | uapi.NLM_F_EXCL,
                   _clsact(ifindex), f"adding clsact qdisc on ifindex {ifindex}")
    except OSError as exc:
        if exc.errno == _errno.EEXIST:
            return False
        raise
    return True


def del_clsact(nl: RtNetlink, ifindex: int) -> None:
    """Delete the device's clsact qdisc (and every filter on it)."""
    nl.request(uapi.RTM_DELQDISC, uapi.NLM_F_ACK, _clsact(ifindex),
               f"deleting clsact qdisc on ifindex {ifindex}")


def _parent(hook: int) -> int:
    return _CLSACT_HANDLE | hook


def add_bpf_filter(nl: RtNetlink, ifindex: int, hook: int, prog_fd: int, name: str,
                   priority: int = 0) -> tuple[int, int]:
    """Add a direct-action cls_bpf filter running ``prog_fd`` at ``hook``.

    ``hook`` is TC_H_MIN_INGRESS or TC_H_MIN_EGRESS; ``priority`` 0 lets the
    kernel choose.  Returns ``(handle, info)``, what :func:`del_filter` needs.
    """
    options = _nested(uapi.TCA_OPTIONS,
                      _attr(uapi.TCA_BPF_FD, struct.pack("=I", prog_fd)),
                      _attr(uapi.TCA_BPF_NAME, name.encode() + b"\0"),
                      _attr(uapi.TCA_BPF_FLAGS, struct.pack("=I", uapi.TCA_BPF_FLAG_ACT_DIRECT)))
    body = _tcmsg(ifindex, _parent(hook), 0, (priority << 16) | _ALL_PROTOCOLS) + _kind("bpf") + options
    replies = nl.request(uapi.RTM_NEWTFILTER,
                         uapi.NLM_F_ACK | uapi.NLM_F_CREATE | uapi.NLM_F_EXCL | uapi.NLM_F_ECHO, body,
                         f"adding cls_bpf filter on ifindex {ifindex}")
    for payload in replies:
        tc = ffi.from_buffer("struct tcmsg *", payload[:_TCMSG])
        if tc.tcm_ifindex == ifindex and tc.tcm_handle:
            return tc.tcm_handle, tc.tcm_info
    raise syscall_error("RTM_NEWTFILTER", _errno.EIO, "adding cls_bpf filter",
                        "the kernel did not echo the new filter's handle")


def del_filter(nl: RtNetlink, ifindex: int, hook: int, handle: int, info: int) -> None:
    """Delete the cls_bpf filter that :func:`add_bpf_filter` returned."""
    nl.request(uapi.RTM_DELTFILTER, uapi.NLM_F_ACK,
               _tcmsg(ifindex, _parent(hook), handle, info) + _kind("bpf"),
               f"deleting tc filter on ifindex {ifindex}")


def has_filters(nl: RtNetlink, ifindex: int, hook: int) -> bool:
    """Whether any tc filter remains at the clsact ``hook`` of the device."""
    return bool(nl.request(uapi.RTM_GETTFILTER, uapi.NLM_F_DUMP, _tcmsg(ifindex, _parent(hook)),
                           f"listing tc filters on ifindex {ifindex}"))
