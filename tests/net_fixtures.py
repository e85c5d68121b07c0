"""Network and cgroup fixtures for kernel tests (import the fixtures you use).

* ``veth``: two fresh network namespaces joined by a veth pair, IPv4
  addresses and static neighbour entries on both ends (no ARP traffic),
  IPv6 off (no router solicitations): only the packets a test sends cross
  the wire.  Names contain the pid; both namespaces (and so the devices) are
  deleted whatever happens.
* ``netns``: one fresh, empty namespace (for scripts that make their own
  devices), deleted afterwards with everything in it.
* ``child_cgroup``: a child cgroup of the cgroup v2 root with this process
  moved in, moved back out and removed afterwards.

Code runs inside a namespace with ``ns.entered()`` (the calling thread only;
sockets keep the namespace they were created in) or ``ns.run(fn)``.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import os
import socket
import subprocess
import threading
import time
from typing import Any, Callable, Iterator

import pytest

from pybpf_dsl.runtime.attach.cgroup import cgroup2_root, current_cgroup

__all__ = ["Netns", "VethPair", "Cgroup", "netns", "veth", "child_cgroup", "received"]

_CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
_counter = itertools.count()


def _setns(fd: int) -> None:
    if _libc.setns(fd, _CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


def _ip(*args: str) -> str:
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


class Netns:
    """A named network namespace (``ip netns add``)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.path = f"/run/netns/{name}"

    def ip(self, *args: str) -> str:
        """Run ``ip -n NAME ARGS...`` and return its output."""
        return _ip("-n", self.name, *args)

    @contextlib.contextmanager
    def entered(self) -> Iterator["Netns"]:
        """Move the calling thread into this namespace for the ``with`` block."""
        back = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        target = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            _setns(target)
            try:
                yield self
            finally:
                _setns(back)
        finally:
            os.close(target)
            os.close(back)

    def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Call ``fn(*args)`` in a thread inside this namespace; return or raise its result."""
        result: dict[str, Any] = {}

        def body() -> None:
            try:
                with self.entered():
                    result["value"] = fn(*args)
            except BaseException as exc:  # handed to the caller
                result["error"] = exc

        thread = threading.Thread(target=body)
        thread.start()
        thread.join()
        if "error" in result:
            raise result["error"]
        return result["value"]

    def socket(self, family: int = socket.AF_INET, kind: int = socket.SOCK_DGRAM, proto: int = 0) -> socket.socket:
        """A socket created inside this namespace."""
        with self.entered():
            return socket.socket(family, kind, proto)


class VethPair:
    """``dev`` (address ``addr``) in namespace ``ns``, wired to ``peer_dev`` (``peer_addr``) in ``peer``."""

    def __init__(self, tag: str) -> None:
        self.ns = Netns(f"pybpf{tag}a")
        self.peer = Netns(f"pybpf{tag}b")
        self.dev, self.peer_dev = f"pv{tag}a", f"pv{tag}b"
        self.addr, self.peer_addr = "10.11.0.1", "10.11.0.2"  # private to the two namespaces
        self.mac, self.peer_mac = "02:00:00:00:00:01", "02:00:00:00:00:02"

    def create(self) -> None:
        for ns in (self.ns, self.peer):
            _ip("netns", "add", ns.name)
            ns.ip("link", "set", "lo", "up")
            with ns.entered():
                for conf in ("all", "default"):
                    with open(f"/proc/sys/net/ipv6/conf/{conf}/disable_ipv6", "w") as f:
                        f.write("1")
        self.ns.ip("link", "add", self.dev, "address", self.mac, "type", "veth",
                   "peer", "name", self.peer_dev, "address", self.peer_mac, "netns", self.peer.name)
        for ns, dev, addr, other, other_mac in ((self.ns, self.dev, self.addr, self.peer_addr, self.peer_mac),
                                                (self.peer, self.peer_dev, self.peer_addr, self.addr, self.mac)):
            ns.ip("addr", "add", f"{addr}/24", "dev", dev)
            ns.ip("link", "set", dev, "up")
            ns.ip("neigh", "replace", other, "lladdr", other_mac, "dev", dev, "nud", "permanent")

    def destroy(self) -> None:
        for ns in (self.ns, self.peer):
            if os.path.exists(ns.path):
                _ip("netns", "del", ns.name)

    def udp_pair(self, port: int) -> tuple[socket.socket, socket.socket]:
        """(receiver bound to ``addr:port`` in ``ns``, sender in ``peer``), both non-blocking-with-timeout."""
        rx = self.ns.socket()
        rx.bind((self.addr, port))
        rx.settimeout(0.5)
        tx = self.peer.socket()
        return rx, tx

    def __repr__(self) -> str:
        return f"<VethPair {self.ns.name}/{self.dev} <-> {self.peer.name}/{self.peer_dev}>"


def received(sock: socket.socket, limit: float = 0.1) -> list[bytes]:
    """Every datagram waiting on ``sock`` (waits up to ``limit`` seconds for stragglers)."""
    out = []
    deadline = time.monotonic() + limit
    while True:
        sock.settimeout(max(0.0, deadline - time.monotonic()) or 0.001)
        try:
            out.append(sock.recv(65536))
        except (TimeoutError, BlockingIOError, socket.timeout):
            return out


@pytest.fixture
def netns(root) -> Iterator[Netns]:
    """A fresh, empty network namespace (loopback up, IPv6 on without duplicate address
    detection, so link-local addresses work at once); deleted afterwards with all it holds."""
    ns = Netns(f"pybpf{os.getpid()}_{next(_counter)}n")
    _ip("netns", "add", ns.name)
    try:
        ns.ip("link", "set", "lo", "up")
        with ns.entered():
            for conf in ("all", "default"):
                with open(f"/proc/sys/net/ipv6/conf/{conf}/accept_dad", "w") as f:
                    f.write("0")
        yield ns
    finally:
        _ip("netns", "del", ns.name)


@pytest.fixture
def veth(root) -> Iterator[VethPair]:
    """Two fresh namespaces joined by a veth pair; removed afterwards."""
    pair = VethPair(f"{os.getpid()}_{next(_counter)}")
    try:
        pair.create()
        yield pair
    finally:
        pair.destroy()


class Cgroup:
    """A cgroup v2 directory: ``path``, and ``fd`` for attaching."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)

    def fileno(self) -> int:
        return self.fd

    def close(self) -> None:
        os.close(self.fd)


def _move(pid: int, cgroup: str) -> None:
    with open(os.path.join(cgroup, "cgroup.procs"), "w") as f:
        f.write(str(pid))


@pytest.fixture
def child_cgroup(root) -> Iterator[Cgroup]:
    """A new child of the cgroup v2 root holding this process for the test."""
    origin = current_cgroup()
    path = os.path.join(cgroup2_root(), f"pybpf_test_{os.getpid()}_{next(_counter)}")
    os.mkdir(path)
    group = Cgroup(path)
    try:
        _move(os.getpid(), path)
        try:
            yield group
        finally:
            _move(os.getpid(), origin)
    finally:
        group.close()
        for _ in range(50):  # the kernel may take a moment to release the emptied group
            try:
                os.rmdir(path)
                break
            except OSError:
                time.sleep(0.02)
