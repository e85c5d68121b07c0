"""Socket filters: SO_ATTACH_BPF on a socket, and bcc's raw packet socket on a device.

A socket filter's return value is how many bytes of the packet to keep
(0 drops it).  The filter belongs to the socket, so it also goes away when
the socket closes.
"""

from __future__ import annotations

import errno as _errno
import os
import socket as _socket
from typing import Any

from ...errors import syscall_error
from ..netdev import ifindex, ifname
from ..uapi import ETH_P_ALL, SO_ATTACH_BPF, SO_DETACH_BPF, ProgType
from .link import Link
from .progattach import require_prog_type
from .progfd import prog_fd

__all__ = ["attach_socket_filter", "attach_raw_socket"]


def _set_filter(sock: _socket.socket, fd: int, what: str) -> None:
    require_prog_type(fd, ProgType.SOCKET_FILTER, "setsockopt(SO_ATTACH_BPF)", what)
    try:
        sock.setsockopt(_socket.SOL_SOCKET, SO_ATTACH_BPF, fd)
    except OSError as exc:
        raise syscall_error("setsockopt(SO_ATTACH_BPF)", exc.errno, what) from None


def attach_socket_filter(prog: Any, sock: _socket.socket | int) -> Link:
    """Attach a SOCKET_FILTER program to ``sock`` (a socket object or an int FD).

    Closing the Link detaches the filter (SO_DETACH_BPF) if the socket is
    still open.  Given an int FD, the Link holds a duplicate of it, keeping
    the socket open until the Link closes.
    """
    if isinstance(sock, int):
        sock = _socket.socket(fileno=os.dup(sock))
        owned = True
    else:
        owned = False
    _set_filter(sock, prog_fd(prog), "attaching socket filter")

    def detach() -> None:
        try:
            if sock.fileno() >= 0:
                sock.setsockopt(_socket.SOL_SOCKET, SO_DETACH_BPF, 0)
        except OSError as exc:
            if exc.errno != _errno.ENOENT:  # already detached
                raise
        finally:
            if owned:
                sock.close()

    return Link("socket_filter", f"socket fd {sock.fileno()}", on_close=detach)


def attach_raw_socket(prog: Any, dev: str | bytes | int) -> _socket.socket:
    """bcc's ``attach_raw_socket(fn, dev)``: a raw AF_PACKET socket on ``dev`` running ``prog``.

    The socket sees every protocol (ETH_P_ALL), is non-blocking and
    close-on-exec, and has the filter attached before it is bound, so no
    unfiltered packet is ever queued.  Keep the returned socket: its
    ``fileno()`` is what bcc stores in ``fn.sock``; closing it ends the filter.
    """
    name = ifname(ifindex(dev))
    sock = _socket.socket(_socket.AF_PACKET,
                          _socket.SOCK_RAW | _socket.SOCK_NONBLOCK | _socket.SOCK_CLOEXEC, 0)
    try:
        _set_filter(sock, prog_fd(prog), f"attaching socket filter to raw socket on {name}")
        sock.bind((name, ETH_P_ALL))
    except BaseException:
        sock.close()
        raise
    return sock
