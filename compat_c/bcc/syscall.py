"""``bcc.syscall``: syscall numbers to names for this machine's architecture.

The table comes from the C library's ``asm/unistd_64.h`` when installed,
else from ``ausyscall --dump``; with neither, names print as bcc prints an
unknown number: ``b"[unknown: N]"``.
"""

from __future__ import annotations

import re
import subprocess

__all__ = ["syscalls", "syscall_name"]

_HEADERS = ("/usr/include/x86_64-linux-gnu/asm/unistd_64.h", "/usr/include/asm/unistd_64.h")
_DEFINE = re.compile(rb"^#define\s+__NR_(\w+)\s+(\d+)\s*$", re.M)


def _from_header() -> dict[int, bytes]:
    for path in _HEADERS:
        try:
            with open(path, "rb") as f:
                return {int(num): name for name, num in _DEFINE.findall(f.read())}
        except OSError:
            continue
    return {}


def _from_ausyscall() -> dict[int, bytes]:
    try:
        out = subprocess.run(["ausyscall", "--dump"], capture_output=True, check=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    table = {}
    for line in out.splitlines()[1:]:
        parts = line.split()
        if len(parts) == 2 and parts[0].isdigit():
            table[int(parts[0])] = parts[1]
    return table


syscalls: dict[int, bytes] = _from_header() or _from_ausyscall()
"""Syscall number -> name (bytes), as bcc's ``syscalls``."""


def syscall_name(syscall_num: int) -> bytes:
    """The name of syscall ``syscall_num`` (bytes), or ``b"[unknown: N]"``."""
    return syscalls.get(syscall_num, b"[unknown: %d]" % syscall_num)
