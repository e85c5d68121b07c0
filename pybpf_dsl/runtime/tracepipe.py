"""Reading bpf_trace_printk() output from trace_pipe, like bcc's trace_* methods.

::

    pipe = TracePipe()
    task, pid, cpu, flags, ts, msg = pipe.fields()

The global trace_pipe is shared by every process on the machine and reading
consumes lines, so another reader may take some.  ``TracePipe(instance=...)``
creates a private tracefs instance with only the ``bpf_trace_printk`` event
enabled and removes it on close: a reader that nobody else drains.
"""

from __future__ import annotations

import errno as _errno
import fcntl
import os
import re
import select
import sys
from typing import IO, NamedTuple

from .closing import ClosedOnCollect
from .tracefs import tracefs_root

__all__ = ["TracePipe", "TraceFields", "parse_trace_line", "trace_open", "trace_readline",
           "trace_fields", "trace_print"]

# "<task>-<pid> [(<tgid>)] [<cpu>] <flags> <ts>: <func>: <msg>"; the flags
# column is absent when the irq-info option is off, the tgid one unless record-tgid is on.
_LINE = re.compile(
    rb"^\s*(?P<task>.*)-(?P<pid>\d+)\s+(?:\(\s*(?:\d+|-+)\)\s+)?\[(?P<cpu>\d+)\]\s+"
    rb"(?:(?P<flags>[^\s\d][^\s]*|\.+)\s+)?(?P<ts>\d+\.\d+):\s+(?P<func>[^:]*):\s?(?P<msg>.*)$",
    re.S)


class TraceFields(NamedTuple):
    """One parsed trace_pipe line (bcc's tuple order)."""
    task: bytes
    pid: int
    cpu: int
    flags: bytes
    ts: float
    msg: bytes


def parse_trace_line(line: bytes) -> TraceFields | None:
    """Split a trace_pipe line; None for lost-event notices and lines of another shape."""
    if line.startswith(b"CPU:"):
        return None
    m = _LINE.match(line.rstrip(b"\n"))
    if m is None:
        return None
    return TraceFields(m["task"].strip(), int(m["pid"]), int(m["cpu"]), m["flags"] or b"",
                       float(m["ts"]), m["msg"])


class TracePipe(ClosedOnCollect):
    """A reader of ``trace_pipe``: the global one, or a private tracefs ``instance``."""

    def __init__(self, instance: str | None = None) -> None:
        self.instance = instance
        self._fd = -1
        self._buf = b""
        self._dir = tracefs_root()
        if instance is not None:
            self._dir = os.path.join(self._dir, "instances", instance)
            os.mkdir(self._dir)
            try:
                self._write("events/bpf_trace/bpf_trace_printk/enable", b"1")
            except OSError:
                os.rmdir(self._dir)
                raise

    def _write(self, rel: str, data: bytes) -> None:
        with open(os.path.join(self._dir, rel), "wb") as f:
            f.write(data)

    def open(self, nonblocking: bool = False) -> int:
        """Open trace_pipe if needed and set its blocking mode; returns the FD."""
        if self._fd < 0:
            self._fd = os.open(os.path.join(self._dir, "trace_pipe"), os.O_RDONLY | os.O_CLOEXEC)
        flags = fcntl.fcntl(self._fd, fcntl.F_GETFL)
        want = flags | os.O_NONBLOCK if nonblocking else flags & ~os.O_NONBLOCK
        if want != flags:
            fcntl.fcntl(self._fd, fcntl.F_SETFL, want)
        return self._fd

    def fileno(self) -> int:
        return self.open()

    def readline(self, nonblocking: bool = False, timeout: float | None = None) -> bytes | None:
        """One line without its newline; None when ``nonblocking`` (or ``timeout``) finds none."""
        fd = self.open(nonblocking or timeout is not None)
        while b"\n" not in self._buf:
            if timeout is not None and not select.select([fd], [], [], timeout)[0]:
                return None
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                return None
            except InterruptedError:
                continue
            if not chunk:
                return None
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return line.rstrip()

    def fields(self, nonblocking: bool = False, timeout: float | None = None) -> TraceFields | tuple:
        """The next parsable line as (task, pid, cpu, flags, ts, msg); ``(None,) * 6`` when none."""
        while True:
            line = self.readline(nonblocking, timeout)
            if line is None:
                return (None,) * 6
            parsed = parse_trace_line(line)
            if parsed is not None:
                return parsed

    def print(self, fmt: str | None = None, file: IO[str] | None = None) -> None:
        """Print lines forever (bytes fields decoded); ``fmt`` is ``str.format``-ed with the fields."""
        out = file or sys.stdout
        while True:
            if fmt:
                f = self.fields()
                line = fmt.format(*(v.decode(errors="replace") if isinstance(v, bytes) else v
                                    for v in f))
            else:
                raw = self.readline()
                if raw is None:
                    continue
                line = raw.decode(errors="replace")
            print(line, file=out, flush=True)

    def close(self) -> None:
        """Close the pipe; a private instance is disabled and removed."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self.instance is not None and os.path.isdir(self._dir):
            try:
                self._write("events/bpf_trace/bpf_trace_printk/enable", b"0")
            except OSError:
                pass
            for _ in range(50):
                try:
                    os.rmdir(self._dir)
                    break
                except OSError as e:
                    if e.errno != _errno.EBUSY:
                        raise
                    select.select([], [], [], 0.02)


_DEFAULT: TracePipe | None = None


def _default() -> TracePipe:
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = TracePipe()
    return _DEFAULT


def trace_open(nonblocking: bool = False) -> TracePipe:
    """bcc's ``trace_open``: the shared reader of the global trace_pipe, opened."""
    pipe = _default()
    pipe.open(nonblocking)
    return pipe


def trace_readline(nonblocking: bool = False) -> bytes | None:
    """bcc's ``trace_readline``: one line of the global trace_pipe."""
    return _default().readline(nonblocking)


def trace_fields(nonblocking: bool = False) -> TraceFields | tuple:
    """bcc's ``trace_fields``: ``(task, pid, cpu, flags, ts, msg)`` of the next line."""
    return _default().fields(nonblocking)


def trace_print(fmt: str | None = None) -> None:
    """bcc's ``trace_print``: print the global trace_pipe forever (text, not bytes reprs)."""
    _default().print(fmt)
