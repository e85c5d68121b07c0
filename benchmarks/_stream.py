"""The streaming measurement of bench_buffers.py, shared by our side and bcc's child process.

A producer process on one CPU calls getppid() in a loop for a fixed time; a
tracepoint program on ``syscalls:sys_enter_getppid``, filtered by the
producer's pid, emits one numbered sample per call; the reader polls on the
other CPU.  Both sides run this module (bcc's side under the system Python),
so the producer, its timing and the reader loop are the same code.
Standard library only.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from typing import Callable

TRACEPOINT = ("syscalls", "sys_enter_getppid")
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable

_PRODUCER = r"""
import os, sys, time
print("ready", flush=True)
sys.stdin.readline()
call, done, end = os.getppid, 0, time.perf_counter() + float(sys.argv[1])
while time.perf_counter() < end:
    for _ in range(256):
        call()
    done += 256
print(done, flush=True)
"""


def cpus() -> tuple[int, int]:
    """(producer CPU, reader CPU)."""
    mine = sorted(os.sched_getaffinity(0))
    return mine[0], mine[-1]


class Producer:
    """A process that calls getppid() for ``seconds`` once :meth:`go` is called."""

    def __init__(self, seconds: float) -> None:
        python = PYTHON if shutil.which(PYTHON) else sys.executable
        self.proc = subprocess.Popen([python, "-c", _PRODUCER, str(seconds)], text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "ready"
        os.sched_setaffinity(self.proc.pid, {cpus()[0]})
        self.pid = self.proc.pid

    def go(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def running(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> int:
        """Wait for the producer; the number of calls it made."""
        out, _ = self.proc.communicate(timeout=60)
        return int(out.strip() or 0)


def stream(producer: Producer, poll: Callable[[int], object], finish: Callable[[], object]) -> float:
    """Start ``producer``, call ``poll(timeout_ms)`` until it exits, then ``finish()``; seconds."""
    old = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpus()[1]})
    try:
        start = time.perf_counter()
        producer.go()
        while producer.running():
            poll(10)
        finish()
        return time.perf_counter() - start
    finally:
        os.sched_setaffinity(0, old)
