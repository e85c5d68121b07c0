"""PerfBuffer, EventBatch, EventDecoder and EventPoller, with samples written by real BPF programs.

SCHED_CLS producers run through BPF_PROG_TEST_RUN (``repeat=N``: N samples in
one syscall) on the CPU this thread is pinned to; a tracepoint producer checks
the path a real tracing tool takes.  Synthetic rings (plain memory laid out
like the kernel's) check the record parser against a model with hypothesis.
"""

from __future__ import annotations

import ctypes
import os
from array import array
import select
import struct
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from buffer_producers import (close_wakes_a_blocked_read, close_while_reading, counter_map, expected,
                              perf_array, perf_producer, read_payload, run, run_script,
                              tracepoint_producer)
from pybpf_dsl.errors import BPFError
from pybpf_dsl.runtime.closing import ReadGuard
from pybpf_dsl.runtime.event_batch import EventBatch, output_buffer
from pybpf_dsl.runtime.event_decode import decode_event, decoder
from pybpf_dsl.runtime.event_poller import EventPoller
from pybpf_dsl.runtime.perf_buffer import _HEAD_INDEX, PAGE_SIZE, PerfBuffer, _CpuRing
from pybpf_dsl.runtime import record_runs
from pybpf_dsl.runtime.record_runs import equal_run, gather

pytestmark = pytest.mark.usefixtures("root")


class Sample(ctypes.Structure):
    _fields_ = [("seq", ctypes.c_uint64), ("w1", ctypes.c_uint64), ("w2", ctypes.c_uint32)]


@pytest.fixture
def maps():
    events, counter = perf_array(), counter_map()
    yield events, counter
    events.close()
    counter.close()


@pytest.fixture
def pinned():
    """Pin this thread to one CPU so every sample lands in one ring; yields the CPU."""
    old = os.sched_getaffinity(0)
    cpu = min(old)
    os.sched_setaffinity(0, {cpu})
    yield cpu
    os.sched_setaffinity(0, old)


def _producer(maps, size):
    events, counter = maps
    return perf_producer(events.fileno(), counter.fileno(), size)


def _recorder(size):
    got = []

    def callback(cpu, data, raw_size):
        got.append((cpu, raw_size, read_payload(data, size)))
    return got, callback


def _open_fds(kind: str) -> int:
    count = 0
    for name in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{name}").startswith(kind)
        except OSError:
            pass
    return count


def _perf_mappings() -> int:
    with open("/proc/self/maps") as f:
        return sum("[perf_event]" in line for line in f)


# ---------------------------------------------------------------- kernel producers

def test_samples_arrive_in_order_with_bcc_arguments(maps, pinned):
    prog = _producer(maps, 20)
    seen = []

    def callback(cpu, data, size):
        event = ctypes.cast(data, ctypes.POINTER(Sample)).contents  # bcc's idiom must work
        seen.append((cpu, size, event.seq, read_payload(data, 20)))

    with prog, PerfBuffer(maps[0].fileno(), callback) as pb:
        run(prog, 50)
        assert pb.poll(1000) == 50
    assert [s[2] for s in seen] == list(range(1, 51))
    assert all(cpu == pinned and size == 20 and data == expected(seq, 20)
               for cpu, size, seq, data in seen)


def test_size_is_the_raw_size_padded_like_bcc(maps):
    prog = _producer(maps, 16)  # u32 size + 16 bytes, padded to 24: raw size 20
    got, callback = _recorder(16)
    with prog, PerfBuffer(maps[0].fileno(), callback) as pb:
        run(prog, 3)
        pb.consume()
    assert [size for _, size, _ in got] == [20, 20, 20]


@pytest.mark.parametrize("page_cnt", [0, 3, 6, 12])
def test_page_cnt_must_be_a_power_of_two(maps, page_cnt):
    with pytest.raises(ValueError, match="power of two"):
        PerfBuffer(maps[0].fileno(), print, page_cnt=page_cnt)


def test_records_wrapping_the_ring_end_are_delivered_whole(maps, pinned):
    prog = _producer(maps, 28)  # 40-byte records: 4096 is not a multiple, so records straddle
    got, callback = _recorder(28)
    with prog, PerfBuffer(maps[0].fileno(), callback, page_cnt=1) as pb:
        for _ in range(12):
            run(prog, 90)
            assert pb.consume() == 90
        ring = pb._rings[pb.cpus.index(pinned)]
        assert ring.scratch is not None, "no record wrapped: the test lost its point"
        assert pb.lost == 0
    assert [expected(i, 28) for i in range(1, 1081)] == [data for _, _, data in got]


def test_drain_handles_wrapped_records(maps, pinned):
    prog = _producer(maps, 28)
    seqs = []
    with prog, PerfBuffer(maps[0].fileno(), print, page_cnt=1) as pb:
        for _ in range(12):
            run(prog, 90)
            batch = pb.drain()
            assert all(bytes(p) == expected(int.from_bytes(p[:8], "little"), 28) for p in batch)
            seqs += [e.seq for e in batch.as_array(Sample)]
    assert seqs == list(range(1, 1081))


def test_lost_samples_are_counted_and_passed_to_lost_callback(maps, pinned):
    prog = _producer(maps, 24)
    got, callback = _recorder(24)
    lost = []
    with prog, PerfBuffer(maps[0].fileno(), callback, lost.append, page_cnt=1) as pb:
        run(prog, 500)  # a 4 KiB ring holds 128 of these 32-byte records
        first = pb.consume()
        assert 0 < first < 500
        run(prog, 1)  # the kernel writes the LOST record before the next sample
        pb.consume()
        assert pb.lost == sum(lost) == 500 - first
        assert len(got) == first + 1
        assert got[-1][2] == expected(501, 24)


def test_lost_samples_without_callback_print_bccs_line(maps, pinned, capsys):
    prog = _producer(maps, 24)
    with prog, PerfBuffer(maps[0].fileno(), lambda *a: None, page_cnt=1) as pb:
        run(prog, 300)
        handled = pb.consume()
        run(prog, 1)
        pb.consume()
    assert capsys.readouterr().err == f"Possibly lost {300 - handled} samples\n"


def test_callback_exception_propagates_and_the_rest_stays_readable(maps, pinned):
    prog = _producer(maps, 24)
    seen = []

    def callback(cpu, data, size):
        seq = ctypes.c_uint64.from_address(data).value
        seen.append(seq)
        if seq == 3:
            raise RuntimeError("boom")

    with prog, PerfBuffer(maps[0].fileno(), callback) as pb:
        run(prog, 10)
        with pytest.raises(RuntimeError, match="boom"):
            pb.poll(1000)
        assert pb.consume() == 7
    assert seen == list(range(1, 11))  # sample 3 was consumed once, nothing twice


def test_wakeup_events_delays_readiness(maps, pinned):
    prog = _producer(maps, 8)
    with prog, PerfBuffer(maps[0].fileno(), lambda *a: None, wakeup_events=4) as pb:
        run(prog, 1)
        assert pb.poll(20) == 0
        assert pb.consume() == 1
        run(prog, 4)
        assert pb.poll(1000) == 4
        run(prog, 4)
        assert select.select([pb.fileno()], [], [], 1.0)[0]
        assert pb.consume() == 4


def test_batched_wakeups_deliver_within_max_delay(maps, pinned):
    """Fewer samples than the watermark still arrive, within max_delay_ms: through poll, through
    a select on fileno() and through an EventPoller."""
    prog = _producer(maps, 8)
    got = []
    with PerfBuffer(maps[0].fileno(), lambda *a: got.append(1), max_delay_ms=20) as pb:
        assert pb.max_delay_ms == 20
        run(prog, 1)
        start = time.monotonic()
        assert pb.poll(5000) == 1
        assert time.monotonic() - start < 1.0  # 20 ms, with room for a busy machine
        run(prog, 2)
        assert select.select([pb.fileno()], [], [], 5.0)[0]
        assert pb.consume() == 2
        assert not select.select([pb.fileno()], [], [], 0)[0]  # the tick was taken: no busy loop
    with prog, EventPoller() as poller:
        poller.add_perf_buffer("events", PerfBuffer(maps[0].fileno(), lambda *a: got.append(1),
                                                    max_delay_ms=20))
        run(prog, 1)
        assert poller.perf_buffer_poll(5000) == 1
    assert len(got) == 4


def test_batched_wakeups_come_at_a_quarter_ring_not_per_sample(maps, pinned):
    prog = _producer(maps, 8)  # 24-byte records; one page: a 1 KiB watermark
    with prog, PerfBuffer(maps[0].fileno(), lambda *a: None, page_cnt=1,
                          max_delay_ms=60_000) as pb:
        run(prog, 1)
        assert not select.select([pb.fileno()], [], [], 0.2)[0]
        run(prog, 50)
        assert select.select([pb.fileno()], [], [], 5.0)[0]
        assert pb.consume() == 51


def test_batched_poll_waits_its_whole_timeout_through_empty_ticks(maps):
    with PerfBuffer(maps[0].fileno(), print, max_delay_ms=5) as pb:
        start = time.monotonic()
        assert pb.poll(60) == 0
        assert time.monotonic() - start > 0.05


def _later(prog, delays):
    """Run ``prog`` once after each of ``delays`` (seconds) in a thread; the thread and the
    list of the times each run began."""
    began: list[float] = []

    def produce():
        for delay in delays:
            time.sleep(delay)
            began.append(time.monotonic())
            run(prog, 1)
    thread = threading.Thread(target=produce)
    thread.start()
    return thread, began


def _stamped():
    arrived: list[float] = []
    return arrived, lambda *a: arrived.append(time.monotonic())


def test_per_sample_wakeups_deliver_a_slow_stream_at_once(maps):
    """A lone sample, or a slow stream, never lingers: each arrives within a few ms."""
    prog = _producer(maps, 8)
    arrived, callback = _stamped()
    with prog, PerfBuffer(maps[0].fileno(), callback, wakeup_events=1, max_delay_ms=500) as pb:
        thread, began = _later(prog, [0.02] * 8)
        while len(arrived) < 8:
            assert pb.poll(5000)
        thread.join()
    latencies = sorted(a - b for a, b in zip(arrived, began))
    assert latencies[len(latencies) // 2] < 0.005  # a wakeup per sample, no linger (500 ms)
    assert latencies[-1] < 0.2


@pytest.mark.parametrize("via", ["poll", "event_poller"])
def test_per_sample_wakeups_linger_after_a_fast_stream_at_most_max_delay(maps, pinned, via):
    """After more than 64 samples a wait lingers (here the whole max_delay_ms: the stream was
    slow enough for a quarter ring to take longer); a sample written meanwhile arrives at its
    end; then, the stream having slowed, the next sample arrives at once."""
    prog = _producer(maps, 8)
    arrived, callback = _stamped()
    with prog, EventPoller() as poller:
        pb = PerfBuffer(maps[0].fileno(), callback, wakeup_events=1, max_delay_ms=150)
        poller.add_perf_buffer("events", pb)
        wait = pb.poll if via == "poll" else poller.perf_buffer_poll
        run(prog, 1000)
        assert pb.consume() == 1000
        pb._linger._at -= 10.0  # 1000 samples in 10 s: a quarter ring takes seconds
        del arrived[:]
        thread, began = _later(prog, [0.02])
        start = time.monotonic()
        assert wait(5000) == 1
        thread.join()
        assert 0.12 < arrived[0] - start < 1.0  # held for max_delay_ms (150 ms), no longer
        thread, began = _later(prog, [0.02])
        assert wait(5000) == 1
        thread.join()
        assert arrived[1] - began[0] < 0.1  # one sample since the last wait: no linger


def test_per_sample_wakeups_linger_only_as_long_as_a_quarter_ring_takes(maps, pinned):
    prog = _producer(maps, 8)  # 24-byte records
    with prog, PerfBuffer(maps[0].fileno(), lambda *a: None, wakeup_events=1,
                          max_delay_ms=10_000) as pb:
        run(prog, 1000)
        assert pb.consume() == 1000
        pb._linger._at = time.monotonic() - 0.024  # 24 KB in 24 ms: a quarter (8 KiB) in ~8 ms
        assert 0.004 < pb.next_linger() < 0.1
        assert pb.next_linger() == 0  # nothing read since the last wait
    with PerfBuffer(maps[0].fileno(), lambda *a: None) as batched:
        assert batched.next_linger() == 0  # batched wakeups never linger: the timer bounds them


@pytest.mark.parametrize("via", ["poll", "event_poller"])
def test_an_idle_reader_does_not_spin_after_a_fast_stream(maps, pinned, via):
    prog = _producer(maps, 8)
    with prog, EventPoller() as poller:
        pb = PerfBuffer(maps[0].fileno(), lambda *a: None, wakeup_events=1, max_delay_ms=20)
        poller.add_perf_buffer("events", pb)
        wait = pb.poll if via == "poll" else poller.perf_buffer_poll
        run(prog, 1000)
        assert pb.consume() == 1000
        cpu, start = time.process_time(), time.monotonic()
        for _ in range(3):
            assert wait(100) == 0
        assert 0.29 < time.monotonic() - start < 2.0
        assert time.process_time() - cpu < 0.05  # a linger, then asleep on epoll


@pytest.mark.parametrize("kwargs", [{"wakeup_events": 0}, {"max_delay_ms": 0}])
def test_wakeup_settings_are_checked(maps, kwargs):
    with pytest.raises(ValueError, match="wakeup_events|max_delay_ms"):
        PerfBuffer(maps[0].fileno(), print, **kwargs)


def test_poll_times_out(maps):
    with PerfBuffer(maps[0].fileno(), print) as pb:
        start = time.monotonic()
        assert pb.poll(50) == 0
        assert 0.04 < time.monotonic() - start < 1.0


def test_close_releases_mappings_fds_and_is_idempotent(maps):
    fds, mappings = _open_fds("anon_inode:[perf_event]"), _perf_mappings()
    timers = _open_fds("anon_inode:[timerfd]")
    pb = PerfBuffer(maps[0].fileno(), print, page_cnt=4)
    assert _open_fds("anon_inode:[perf_event]") == fds + len(pb.cpus)
    assert _open_fds("anon_inode:[timerfd]") == timers + 1
    assert _perf_mappings() == mappings + len(pb.cpus)
    pb.close()
    pb.close()
    assert (_open_fds("anon_inode:[perf_event]"), _perf_mappings()) == (fds, mappings)
    assert _open_fds("anon_inode:[timerfd]") == timers
    with pytest.raises(BPFError, match="closed"):
        pb.poll(0)
    with pytest.raises(BPFError, match="closed"):
        pb.drain()


def test_close_inside_a_callback_waits_for_the_read_to_end(maps, pinned):
    fds, mappings = _open_fds("anon_inode:[perf_event]"), _perf_mappings()
    prog = _producer(maps, 20)
    seen = []

    def callback(cpu, data, size):
        seen.append(read_payload(data, 20))      # still mapped after close(): no crash
        if len(seen) == 3:
            pb.close()
            assert _perf_mappings() > mappings    # the unmapping waits for poll() to return

    with prog:
        pb = PerfBuffer(maps[0].fileno(), callback)
        run(prog, 10)
        run(prog, 10)
        assert pb.poll(1000) >= 3
        assert pb.closed and (_open_fds("anon_inode:[perf_event]"), _perf_mappings()) == (fds, mappings)
        assert seen == [expected(i, 20) for i in range(1, len(seen) + 1)]
        with pytest.raises(BPFError, match="closed"):
            pb.poll(0)


@pytest.mark.parametrize("read", ["poll", "read_into", "drain"])
def test_close_from_another_thread_during_reads_is_safe(maps, pinned, read):
    mappings = _perf_mappings()
    prog = _producer(maps, 24)
    out = (Sample * 4)()
    with prog:
        for _attempt in range(20):
            pb = PerfBuffer(maps[0].fileno(), lambda cpu, data, size: read_payload(data, 24), page_cnt=64)
            run(prog, 5000)
            read_now = {"poll": lambda: pb.poll(1), "read_into": lambda: pb.read_into(out, 1),
                        "drain": lambda: pb.drain(1)}[read]
            assert close_while_reading(pb, read_now) == []
    assert _perf_mappings() == mappings


@pytest.mark.parametrize("wakeup_events", [None, 1])
def test_close_wakes_a_poll_waiting_forever_on_another_thread(maps, wakeup_events):
    pb = PerfBuffer(maps[0].fileno(), print, wakeup_events=wakeup_events)
    assert close_wakes_a_blocked_read(pb, lambda: pb.poll(-1)) < 1.0


def test_failed_open_cleans_up(maps):
    fds, mappings = _open_fds("anon_inode:"), _perf_mappings()
    with pytest.raises(OSError):
        PerfBuffer(maps[0].fileno(), print, cpus=[0, 4096])  # no such CPU
    assert (_open_fds("anon_inode:"), _perf_mappings()) == (fds, mappings)


def test_drain_decodes_into_a_ctypes_array(maps, pinned):
    prog = _producer(maps, 24)
    with prog, PerfBuffer(maps[0].fileno(), print, page_cnt=64) as pb:
        run(prog, 1000)
        batch = pb.drain()
    assert len(batch) == 1000 and batch.lost == 0
    assert len(batch.runs) == 1  # one run of equal records: no per-event work
    events = batch.as_array(Sample)
    assert [(e.seq, e.w1, e.w2) for e in events] == [(i, i + 1, i + 2) for i in range(1, 1001)]
    assert set(batch.sources()) == {pinned} and set(batch.sizes()) == {28}
    assert bytes(batch[-1]) == expected(1000, 24) + bytes(4)  # raw size counts the padding

    class TooBig(ctypes.Structure):
        _fields_ = [("x", ctypes.c_char * 64)]
    with pytest.raises(ValueError, match="smaller than TooBig"):
        batch.as_array(TooBig)


def test_read_into_fills_a_reused_array_and_leaves_the_rest(maps, pinned):
    prog = _producer(maps, 24)
    out = (Sample * 300)()
    seqs = []
    with prog, PerfBuffer(maps[0].fileno(), print, page_cnt=64) as pb:
        run(prog, 1000)
        while (n := pb.read_into(out)):
            assert n <= 300
            seqs += [(e.seq, e.w1, e.w2) for e in out[:n]]
        assert pb.read_into(out) == 0 and pb.lost == 0
        assert pb.read_into((Sample * 0)()) == 0
    assert seqs == [(i, i + 1, i + 2) for i in range(1, 1001)]


def test_read_into_handles_wrapped_records_and_waits(maps, pinned):
    prog = _producer(maps, 28)  # 40-byte records straddle the end of a one-page ring
    out = (ctypes.c_uint64 * 1000)()
    seqs = []
    with prog, PerfBuffer(maps[0].fileno(), print, page_cnt=1) as pb:
        assert pb.read_into(out, timeout_ms=10) == 0
        for _ in range(12):
            run(prog, 90)
            n = pb.read_into(out, timeout_ms=1000)
            seqs += list(out[:n])
        assert pb._rings[pb.cpus.index(pinned)].scratch is not None
    assert seqs == list(range(1, 1081))


def test_read_into_counts_lost_samples(maps, pinned):
    prog = _producer(maps, 24)
    lost = []
    out = (Sample * 4096)()
    with prog, PerfBuffer(maps[0].fileno(), print, lost.append, page_cnt=1) as pb:
        run(prog, 500)  # a one-page ring holds about 100 of them
        n = pb.read_into(out)
        run(prog, 10)
        n2 = pb.read_into(out)
    assert lost and sum(lost) == pb.lost == 500 - n and n2 == 10
    assert out[9].seq == 510


def test_read_into_stops_before_a_sample_smaller_than_the_items(maps, pinned):
    events, counter = maps
    with perf_producer(events.fileno(), counter.fileno(), 8) as small, \
            _producer(maps, 24) as big, PerfBuffer(events.fileno(), print) as pb:
        run(big, 2)
        run(small, 1)
        run(big, 1)
        out = (Sample * 10)()
        assert pb.read_into(out) == 2
        with pytest.raises(ValueError, match="event of 12 bytes is smaller"):
            pb.read_into(out)
        assert pb.read_into((ctypes.c_uint64 * 10)()) == 2  # the short one was left in place
        assert pb.read_into(out) == 0


@pytest.mark.parametrize("bad", [b"bytes", bytearray(), ctypes.c_uint64(), memoryview(bytearray(8))[::2]])
def test_read_into_rejects_what_is_not_a_writable_array(maps, bad):
    with PerfBuffer(maps[0].fileno(), print) as pb:
        if isinstance(bad, bytearray):
            assert pb.read_into(bad) == 0  # empty: nothing to fill
            return
        with pytest.raises(TypeError, match="read_into needs"):
            pb.read_into(bad)
    with pytest.raises(BPFError, match="closed"):
        pb.read_into((Sample * 1)())


def test_output_buffer_accepts_arrays_of_any_kind():
    arr = (Sample * 3)()
    view, item, capacity = output_buffer(arr)
    assert (view.format, view.nbytes) == ("B", ctypes.sizeof(arr))
    assert (item, capacity) == (ctypes.sizeof(Sample), 3)
    view[item:item + 8] = struct.pack("Q", 42)
    assert arr[1].seq == 42
    words = array("Q", [0] * 5)
    assert output_buffer(words)[1:] == (8, 5)
    assert output_buffer(((ctypes.c_uint8 * 6) * 2)())[1:] == (6, 2)
    assert output_buffer(bytearray(7))[1:] == (1, 7)


def test_tracepoint_producer_filtered_by_pid(maps):
    from pybpf_dsl.runtime.attach.tracepoint import attach_tracepoint

    prog = tracepoint_producer(maps[0].fileno(), os.getpid())
    got = []
    with prog, PerfBuffer(maps[0].fileno(), lambda cpu, data, size: got.append(
            ctypes.c_uint64.from_address(data).value)) as pb:
        with attach_tracepoint(prog, "syscalls", "sys_enter_getppid"):
            for _ in range(5):
                os.getppid()
        while pb.poll(200):
            pass
    assert len(got) == 5 and {v >> 32 for v in got} == {os.getpid()}


@pytest.fixture
def second_maps():
    events, counter = perf_array(), counter_map()
    yield events, counter
    events.close()
    counter.close()


def test_event_poller_polls_every_perf_buffer(maps, second_maps, pinned):
    got = []
    with _producer(maps, 8) as prog_a, _producer(second_maps, 8) as prog_b, \
            EventPoller() as poller:
        for key, (events, _) in (("a", maps), ("b", second_maps)):
            poller.add_perf_buffer(key, PerfBuffer(events.fileno(),
                                                   lambda c, d, s, k=key: got.append(k)))
        run(prog_a, 3)
        run(prog_b, 2)
        handled = 0
        while handled < 5:
            n = poller.perf_buffer_poll(1000)
            assert n
            handled += n
        run(prog_b, 1)
        assert poller.perf_buffer_consume() == 1
        with pytest.raises(BPFError, match="No ring buffers to poll"):
            poller.ring_buffer_poll(0)
        with pytest.raises(BPFError, match="No ring buffers to poll"):
            poller.ring_buffer_consume()
        poller.close_perf_buffer("a")
        assert list(poller.perf_buffers) == ["b"]
    assert sorted(got) == ["a"] * 3 + ["b"] * 3


_NO_LLVM_SCRIPT = """
import ctypes, os, sys
from buffer_producers import counter_map, perf_array, perf_producer, run
from pybpf_dsl.runtime.event_poller import EventPoller
from pybpf_dsl.runtime.perf_buffer import PerfBuffer
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
seen = []
with perf_array() as events, counter_map() as counter, \\
        perf_producer(events.fileno(), counter.fileno(), 28) as prog:
    # 40-byte records in a one-page ring: some wrap its end
    with PerfBuffer(events.fileno(), lambda cpu, data, size: seen.append(size), page_cnt=1) as pb:
        run(prog, 50)
        assert pb.poll(1000) == 50
        run(prog, 70)
        assert pb.consume() == 70
        run(prog, 3)
        assert len(pb.drain()) == 3
    with EventPoller() as poller:  # what the bcc-style front ends call
        poller.add_perf_buffer("events", PerfBuffer(events.fileno(), lambda *a: seen.append(0)))
        run(prog, 5)
        assert poller.perf_buffer_poll(1000) == 5
        run(prog, 2)
        assert poller.perf_buffer_consume() == 2
    assert len(seen) == 127
    with PerfBuffer(events.fileno(), print, page_cnt=1) as pb:
        run(prog, 60)
        assert pb.read_into((ctypes.c_uint64 * 64)()) == 60
        run(prog, 30)
        assert len(pb.drain().as_array(ctypes.c_uint64 * 3)) == 30
    loaded = sorted(m for m in sys.modules if m.startswith("llvmlite"))
    assert not loaded, f"reading events imported {loaded}"
print("ok")
"""


def test_no_read_path_imports_llvmlite():
    """poll/consume, drain and read_into are pure Python: a program started from a cached object
    never loads LLVM (~45 ms, ~65 MiB) by reading events."""
    run_script(_NO_LLVM_SCRIPT)


# ---------------------------------------------------------------- decoding helpers

def test_event_decoder_copies_views_and_pads():
    src = (ctypes.c_uint64 * 3)(7, 8, 9)
    addr = ctypes.addressof(src)
    dec = decoder(Sample)
    assert decoder(Sample) is dec
    copy, view = dec(addr), dec.view(addr)
    src[0] = 70
    assert (copy.seq, view.seq, copy.w2) == (7, 70, 9)
    short = decode_event(Sample, b"\x01" + bytes(7) + b"\x02", 9)
    assert (short.seq, short.w1, short.w2) == (1, 2, 0)
    assert dec(addr, 8).w1 == 0
    assert decode_event(ctypes.c_uint32, memoryview(b"\x05\x00\x00\x00\xff")).value == 5


# ---------------------------------------------------------------- synthetic rings (parser model)

def _record(kind, payload=b"", lost=0):
    if kind == "lost":
        return struct.pack("<IHHQQ", 2, 0, 24, 1, lost)
    body = struct.pack("<I", len(payload)) + payload
    misc = payload[0] & 1 if payload else 0  # varies: runs of equal samples break on it
    return struct.pack("<IHH", 9, misc, 8 + len(body)) + body


class _Dummy:
    def close(self):
        pass


def _synthetic(records, start, page_cnt=1):
    size = page_cnt * PAGE_SIZE
    mem = ctypes.create_string_buffer(PAGE_SIZE + size)
    view = memoryview(mem).cast("B")
    ring = _CpuRing.__new__(_CpuRing)
    ring.cpu, ring.fd, ring.region, ring.scratch = 0, _Dummy(), _Dummy(), None
    ring.meta, ring.data = view[:PAGE_SIZE].cast("Q"), view[PAGE_SIZE:]
    ring.words, ring.halves = ring.data.cast("I"), ring.data.cast("H")
    ring.headers = ring.data.cast("Q")
    ring.base, ring.size, ring.mask, ring.tail = ctypes.addressof(mem) + PAGE_SIZE, size, size - 1, start
    ring.closed = False
    blob = b"".join(records)
    for i, byte in enumerate(blob):
        ring.data[(start + i) % size] = byte
    ring.meta[_HEAD_INDEX] = start + len(blob)
    ring.meta[_HEAD_INDEX + 1] = start
    pb = PerfBuffer.__new__(PerfBuffer)
    pb.lost, pb._rings, pb._map, pb._epoll, pb._timer = 0, [ring], None, select.epoll(), None
    pb._linger, pb._count, pb._guard = None, 0, ReadGuard()
    return pb, ring, mem


_sample = st.integers(0, 40).flatmap(lambda n: st.binary(min_size=8 * n + 4, max_size=8 * n + 4))
_records = st.lists(st.one_of(
    st.tuples(st.just("sample"), _sample).map(lambda r: [r]),
    st.tuples(st.integers(2, 60), st.sampled_from([bytes(12), b"\x01" * 12, bytes(28)]) | _sample)
    .map(lambda r: [("sample", r[1])] * r[0]),  # a run of equal samples
    st.tuples(st.just("lost"), st.integers(1, 10**6)).map(lambda r: [r])),
    max_size=30).map(lambda groups: [record for group in groups for record in group])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_records, st.integers(0, 2**40), st.sampled_from([1, 2, 4, 8, 12, 16, 24]),
       st.integers(1, 80))
def test_parser_matches_model(records, start, item, capacity):
    start = start // 8 * 8
    blobs, used = [], 0
    for kind, x in records:  # as many records as the ring holds
        blob = _record("lost", lost=x) if kind == "lost" else _record("sample", x)
        if used + len(blob) > PAGE_SIZE:
            break
        blobs.append(blob)
        used += len(blob)
    records = records[:len(blobs)]
    want = [x for k, x in records if k == "sample"]
    want_lost = [x for k, x in records if k == "lost"]
    # the callback path
    pb, ring, mem = _synthetic(blobs, start)
    got, lost = [], []
    pb._callback, pb._lost_callback = (lambda cpu, d, s: got.append(ctypes.string_at(d, s))), lost.append
    assert pb.consume() == len(want)
    assert got == want and lost == want_lost and pb.lost == sum(want_lost)
    assert ring.meta[_HEAD_INDEX + 1] == ring.tail == start + sum(map(len, blobs))
    pb.close()
    # the bulk path over the same records
    pb, ring, mem = _synthetic(blobs, start)
    pb._lost_callback = lambda n: None
    batch = pb.drain()
    assert [bytes(p) for p in batch] == want and batch.lost == sum(want_lost)
    assert list(batch.sizes()) == [len(p) for p in want]
    assert [bytes(batch[i]) for i in range(len(want))] == want
    pb.close()
    # read_into over the same records, ``capacity`` items of ``item`` bytes at a time: it stops
    # before the first sample shorter than an item
    pb, ring, mem = _synthetic(blobs, start)
    lost.clear()
    pb._lost_callback = lost.append
    out, copied = ((ctypes.c_uint8 * item) * capacity)(), []
    try:
        while (n := pb.read_into(out)):
            copied += [bytes(out[i]) for i in range(n)]
    except ValueError:
        pass
    short = next((i for i, (k, x) in enumerate(records) if k == "sample" and len(x) < item),
                 len(records))
    assert copied == [x[:item] for k, x in records[:short] if k == "sample"]
    assert lost == [x for k, x in records[:short] if k == "lost"]
    if short == len(records):
        assert ring.meta[_HEAD_INDEX + 1] == ring.tail == start + sum(map(len, blobs))
    pb.close()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(1, 70)), min_size=1, max_size=5),
       st.integers(0, 5), st.integers(1, 4), st.sampled_from("QIH"), st.data())
def test_equal_run_matches_model(runs, index, step, fmt, data):
    values = [value for value, count in runs for _ in range(count)]
    limit = data.draw(st.integers(1, len(values)))
    items = [7] * (index + len(values) * step)  # items between the records must not matter
    for k, value in enumerate(values):
        items[index + k * step] = value
    view = memoryview(array(fmt, items))
    want = 1
    while want < limit and values[want] == values[0]:
        want += 1
    assert equal_run(view, index, step, limit) == want


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 48), st.integers(0, 120), st.integers(0, 300), st.integers(0, 9),
       st.integers(0, 9), st.integers(1, 600))
def test_gather_equals_slicing(size, extra, count, src_off, dst_off, chunk_bytes):
    """Every strategy (record by record, compacting chunks, word columns) against slicing."""
    stride = size + extra
    src = bytearray(os.urandom(src_off + max(count - 1, 0) * stride + size))
    dst = bytearray(b"\xa5" * (dst_off + count * size + 3))  # bytes around must stay untouched
    saved, record_runs.CHUNK_BYTES = record_runs.CHUNK_BYTES, chunk_bytes
    try:
        gather(memoryview(dst), dst_off, memoryview(src), src_off, stride, count, size)
    finally:
        record_runs.CHUNK_BYTES = saved
    want = b"".join(src[src_off + k * stride:src_off + k * stride + size] for k in range(count))
    assert dst == b"\xa5" * dst_off + want + b"\xa5" * 3


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 5), st.integers(0, 60), st.integers(1, 4)), max_size=8))
def test_batch_indexing_matches_runs(spec):
    data, runs, want = bytearray(), [], []
    for source, count, words in spec:
        size = 4 * words
        start = len(data)
        for k in range(count):
            payload = os.urandom(size)
            want.append((payload, source))
            data += payload + b"\xee" * 4
        runs.append((start, size + 4, count, size, source))
    batch = EventBatch(data, runs)
    assert len(batch) == len(want)
    assert [bytes(p) for p in batch] == [p for p, _ in want]
    assert list(batch.sources()) == [s for _, s in want]
    assert [batch.source(i) for i in range(len(want))] == [s for _, s in want]
    if want:
        assert bytes(batch[-1]) == want[-1][0]
        with pytest.raises(IndexError):
            batch[len(want)]
        arr = batch.as_array(ctypes.c_uint32)
        assert list(arr) == [int.from_bytes(p[:4], "little") for p, _ in want]
