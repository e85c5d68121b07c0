"""The live-producer measurement of bench_buffers.py, shared by our side and bcc's child process.

A producer process on one CPU calls getppid() at a target rate (paced: bursts
of a few calls, then a spin until the schedule catches up); a tracepoint
program on ``syscalls:sys_enter_getppid``, filtered by the producer's pid,
emits one numbered sample per call and counts it; the reader polls on the
other CPU.  :func:`no_loss_rate` steps the target rate up until the reader
loses samples.  Both sides run this module (bcc's side under the system
Python), so the producer, its pacing, the reader loop and the stepping are
the same code.  Standard library only.
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import sys
from typing import Callable

TRACEPOINT = ("syscalls", "sys_enter_getppid")
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
FIRST_RATE = 50_000.0
RATE_STEP = 2 ** 0.5
LAST_RATE = 8e6
STEP_SECONDS = 0.5
SATURATED = 0.85  # a step reaching less than this share of its target rate: the producer's limit
ATTEMPTS = 5      # attempts a step gets

# one line in per step, "rate seconds" (rate 0: as fast as possible); one line out, the calls made
_PRODUCER = r"""
import os, sys, time
call, clock = os.getppid, time.perf_counter
print("ready", flush=True)
for line in sys.stdin:
    rate, seconds = map(float, line.split())
    burst = max(1, min(64, int(rate / 20000))) if rate else 64
    start = clock()
    end, done = start + seconds, 0
    while True:
        now = clock()
        if now >= end:
            break
        if rate and done > (now - start) * rate:
            continue
        for _ in range(burst):
            call()
        done += burst
    print(done, flush=True)
"""


def quick() -> None:
    """CI mode (``--quick``): steps of 0.1 s, two target rates, two attempts a step."""
    global STEP_SECONDS, LAST_RATE, ATTEMPTS
    STEP_SECONDS, LAST_RATE, ATTEMPTS = 0.1, FIRST_RATE * RATE_STEP, 2


def cpus() -> tuple[int, int]:
    """(producer CPU, reader CPU)."""
    mine = sorted(os.sched_getaffinity(0))
    return mine[0], mine[-1]


class Producer:
    """A process that calls getppid() at a given rate for a given time, step after step."""

    def __init__(self) -> None:
        python = PYTHON if shutil.which(PYTHON) else sys.executable
        self.proc = subprocess.Popen([python, "-c", _PRODUCER], text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "ready"
        os.sched_setaffinity(self.proc.pid, {cpus()[0]})
        self.pid = self.proc.pid

    def start(self, rate: float, seconds: float) -> None:
        """Begin a step: ``rate`` calls/s (0: unlimited) for ``seconds``."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{rate} {seconds}\n")
        self.proc.stdin.flush()

    def finished(self) -> bool:
        """Whether the current step is over (its result can be read without blocking)."""
        assert self.proc.stdout is not None
        return bool(select.select([self.proc.stdout], [], [], 0)[0])

    def result(self) -> int:
        """The number of calls the finished step made."""
        assert self.proc.stdout is not None
        return int(self.proc.stdout.readline())

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def run_step(producer: Producer, rate: float, seconds: float, poll: Callable[[int], object],
             finish: Callable[[], object]) -> None:
    """One step: the producer runs at ``rate`` while this thread, on the reader CPU, calls
    ``poll(10)`` (a 10 ms timeout) until the producer is done, then ``finish()`` once."""
    old = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpus()[1]})
    try:
        producer.start(rate, seconds)
        while not producer.finished():
            poll(10)
        producer.result()
        finish()
    finally:
        os.sched_setaffinity(0, old)


def no_loss_rate(step: Callable[[float, float], tuple[int, int]],
                 seconds: float | None = None, attempts: int | None = None) -> dict:
    """Step a producer's target rate up by RATE_STEP from FIRST_RATE until the reader loses samples.

    ``step(rate, seconds)`` runs one step and returns (samples produced,
    samples delivered); ``seconds`` and ``attempts`` default to STEP_SECONDS
    and ATTEMPTS.  An attempt succeeds when nothing was lost and the
    producer made at least SATURATED of its target; a step gets up to
    ``attempts`` attempts (the machine is shared: a neighbour can slow the
    producer or stall the reader), and fails at its second attempt with
    loss.  Stepping ends at the first failed step, or at LAST_RATE.
    Returns ``best``: the highest delivered/s of any attempt without loss;
    ``stop``: why stepping ended ("loss", else "producer": the producer
    could not reach the next rate, and every sample it made was delivered;
    "top" at LAST_RATE); ``steps``: every attempt as (target, produced/s,
    lost).
    """
    seconds = seconds or STEP_SECONDS
    attempts = attempts or ATTEMPTS
    steps: list[tuple[float, float, int]] = []
    best, rate = 0.0, FIRST_RATE
    while rate <= LAST_RATE:
        losses = 0
        for _attempt in range(attempts):
            produced, delivered = step(rate, seconds)
            lost = produced - delivered
            steps.append((rate, produced / seconds, lost))
            if lost:
                losses += 1
                if losses == 2:
                    break
                continue
            best = max(best, delivered / seconds)
            if produced >= SATURATED * rate * seconds:
                break
        else:
            return {"best": best, "stop": "loss" if losses else "producer", "steps": steps}
        if losses == 2:
            return {"best": best, "stop": "loss", "steps": steps}
        rate *= RATE_STEP
    return {"best": best, "stop": "top", "steps": steps}
