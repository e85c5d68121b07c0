"""Attach cgroup programs (cgroup_skb, cgroup/sock, sock_ops, sock_addr, sysctl, ...).

Attachments are cgroup BPF links; on kernels before 5.7 they fall back to
BPF_PROG_ATTACH (``flags`` default to BPF_F_ALLOW_MULTI so other programs on
the same cgroup keep running) and BPF_PROG_DETACH on close::

    with attach_cgroup(prog, "/sys/fs/cgroup/unified/app", "cgroup_inet_egress"):
        ...
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

from ...errors import AttachTargetNotFound, NotSupported
from ..uapi import BPF_F_ALLOW_MULTI
from .link import Link
from .progattach import attach_prog

__all__ = ["attach_cgroup", "cgroup2_root", "current_cgroup"]


@lru_cache(maxsize=None)
def cgroup2_root() -> str:
    """Where the cgroup v2 hierarchy is mounted, from /proc/self/mountinfo."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            if fields[sep + 1] == "cgroup2":
                return fields[4].replace("\\040", " ")
    raise NotSupported("cgroup v2", "no cgroup2 filesystem is mounted (mount -t cgroup2 none /sys/fs/cgroup)")


def current_cgroup(pid: int | str = "self") -> str:
    """The absolute path of the cgroup v2 group that ``pid`` belongs to."""
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            if line.startswith("0::"):
                return os.path.join(cgroup2_root(), line[3:].strip().lstrip("/")).rstrip("/")
    raise NotSupported("cgroup v2", f"process {pid} is in no cgroup v2 group")


def _open_cgroup(path: str) -> int:
    full = path if os.path.isabs(path) else os.path.join(cgroup2_root(), path)
    try:
        return os.open(full, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise AttachTargetNotFound(f"no cgroup {full} (cgroup v2 is mounted at {cgroup2_root()})") from None


def attach_cgroup(prog: Any, cgroup: str | int | Any, attach_type: int | str, *,
                  flags: int = BPF_F_ALLOW_MULTI, mode: str = "auto") -> Link:
    """Attach a cgroup program to ``cgroup``.

    ``cgroup`` is a directory path (absolute, or relative to the cgroup v2
    root), an open directory FD, or an object with ``fileno()``.
    ``attach_type`` is an :class:`AttachType` or its name
    (``"cgroup_inet_ingress"``, ``"cgroup_inet_sock_create"``, ``"cgroup_sock_ops"`` ...).
    ``flags`` apply to the BPF_PROG_ATTACH fallback; ``mode`` is "auto",
    "link" or "prog_attach".
    """
    if isinstance(cgroup, (str, bytes, os.PathLike)):
        path = os.fsdecode(cgroup)
        fd = _open_cgroup(path)
        try:
            return attach_prog(prog, fd, attach_type, flags=flags, mode=mode, kind="cgroup",
                               target=path)
        finally:
            os.close(fd)
    fd = cgroup if isinstance(cgroup, int) else cgroup.fileno()
    return attach_prog(prog, fd, attach_type, flags=flags, mode=mode, kind="cgroup",
                       target=f"cgroup fd {fd}")

