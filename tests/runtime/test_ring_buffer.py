"""RingBuffer with samples from real BPF programs (bpf_ringbuf_output / reserve / submit / discard).

Producers are SCHED_CLS programs run through BPF_PROG_TEST_RUN.  A reservation
still in flight (the BUSY bit) cannot be held open by a finished program, so
the BUSY path is checked on synthetic rings laid out like the kernel's,
against a model, with hypothesis.
"""

from __future__ import annotations

import ctypes
import os
import select
import struct
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from buffer_producers import (close_wakes_a_blocked_read, close_while_reading, counter_map, expected,
                              read_payload, ringbuf, ringbuf_producer, run, run_script,
                              tracepoint_seq_producer)
from pybpf_dsl.errors import BPFError
from pybpf_dsl.runtime import syscall
from pybpf_dsl.runtime.event_poller import EventPoller
from pybpf_dsl.runtime.ring_buffer import PAGE_SIZE, RingBuffer, _index_ring, _process, _Ring
from pybpf_dsl.runtime.uapi import MapType

pytestmark = pytest.mark.usefixtures("root")


@pytest.fixture
def rb_maps():
    """A 64 KiB ring buffer and a sequence counter."""
    rb, counter = ringbuf(1 << 16), counter_map()
    yield rb, counter
    rb.close()
    counter.close()


@pytest.fixture
def small_rb_maps():
    """A one-page ring buffer and a sequence counter."""
    rb, counter = ringbuf(PAGE_SIZE), counter_map()
    yield rb, counter
    rb.close()
    counter.close()


def _mappings() -> int:
    with open("/proc/self/maps") as f:
        return sum("bpf-map" in line for line in f)


def _collect(size):
    got = []

    def callback(ctx, data, n):
        got.append((ctx, n, read_payload(data, n)))
    return got, callback


@pytest.mark.parametrize("mode,size", [("output", 20), ("output", 8), ("reserve", 24)])
def test_samples_arrive_in_order_with_exact_sizes(rb_maps, mode, size):
    rb, counter = rb_maps
    got, callback = _collect(size)
    with ringbuf_producer(rb.fileno(), counter.fileno(), size, mode) as prog, RingBuffer() as r:
        assert r.add(rb.fileno(), callback, ctx="ctx") == 0
        run(prog, 100)
        assert r.poll(1000) == 100
    assert got == [("ctx", size, expected(i, size)) for i in range(1, 101)]


def test_discarded_samples_are_skipped(rb_maps):
    rb, counter = rb_maps
    got, callback = _collect(16)
    with ringbuf_producer(rb.fileno(), counter.fileno(), 16, "discard_odd") as prog, \
            RingBuffer() as r:
        r.add(rb.fileno(), callback)
        run(prog, 40)
        assert r.consume() == 20
        run(prog, 40)
        batch = r.drain()
    assert [d for _, _, d in got] == [expected(i, 16) for i in range(2, 41, 2)]
    assert [bytes(p) for p in batch] == [expected(i, 16) for i in range(42, 81, 2)]


def test_several_rings_in_one_manager(rb_maps, small_rb_maps):
    rb_a, counter_a = rb_maps
    rb_b, counter_b = small_rb_maps
    got = []
    with ringbuf_producer(rb_a.fileno(), counter_a.fileno(), 8) as prog_a, \
            ringbuf_producer(rb_b.fileno(), counter_b.fileno(), 16) as prog_b, RingBuffer() as r:
        assert r.add(rb_a.fileno(), lambda ctx, d, n: got.append((ctx, n)), "a") == 0
        assert r.add(rb_b.fileno(), lambda ctx, d, n: got.append((ctx, n)), "b") == 1
        assert len(r) == 2
        run(prog_a, 3)
        run(prog_b, 2)
        handled = 0
        while handled < 5:
            handled += r.poll(1000)
        run(prog_a, 4)
        run(prog_b, 5)
        batch = r.drain(1000)
    assert sorted(got) == [("a", 8)] * 3 + [("b", 16)] * 2
    assert sorted(batch.sources()) == [0] * 4 + [1] * 5


def test_negative_return_stops_like_libbpf_and_bcc(rb_maps):
    rb, counter = rb_maps
    seen = []

    def callback(ctx, data, size):
        seq = ctypes.c_uint64.from_address(data).value
        seen.append(seq)
        return {3: -7, 4: 5, 5: "not a number", 6: None}.get(seq, 0)

    with ringbuf_producer(rb.fileno(), counter.fileno(), 8) as prog, RingBuffer() as r:
        r.add(rb.fileno(), callback)
        run(prog, 10)
        assert r.consume() == -7
        assert r.consume() == 7  # positive, non-int and None returns do not stop
    assert seen == list(range(1, 11))


def test_callback_exception_propagates_and_the_rest_stays_readable(rb_maps):
    rb, counter = rb_maps
    seen = []

    def callback(ctx, data, size):
        seen.append(ctypes.c_uint64.from_address(data).value)
        if seen[-1] == 4:
            raise KeyError("boom")

    with ringbuf_producer(rb.fileno(), counter.fileno(), 8) as prog, RingBuffer() as r:
        r.add(rb.fileno(), callback)
        run(prog, 10)
        with pytest.raises(KeyError):
            r.poll(1000)
        assert r.poll(1000) == 6
    assert seen == list(range(1, 11))


def test_records_crossing_the_ring_end_stay_contiguous(small_rb_maps):
    rb, counter = small_rb_maps  # 48-byte records do not divide 4096
    got, callback = _collect(40)
    seqs = []
    with ringbuf_producer(rb.fileno(), counter.fileno(), 40) as prog, RingBuffer() as r:
        r.add(rb.fileno(), callback)
        for _ in range(10):
            run(prog, 60)
            assert r.consume() == 60
            run(prog, 60)
            seqs += [e[0] for e in r.drain().as_array(ctypes.c_uint64 * 5)]
    assert [d for _, _, d in got] == [expected(i, 40) for i in range(1, 1201) if (i - 1) // 60 % 2 == 0]
    assert seqs == [i for i in range(1, 1201) if (i - 1) // 60 % 2 == 1]


def test_a_full_ring_drops_new_samples_only(small_rb_maps):
    rb, counter = small_rb_maps
    got, callback = _collect(8)
    with ringbuf_producer(rb.fileno(), counter.fileno(), 8) as prog, RingBuffer() as r:
        r.add(rb.fileno(), callback)
        run(prog, 1000)  # 16-byte records: 256 fit
        assert r.consume() == PAGE_SIZE // 16 - 1  # the kernel keeps used space below the size
        run(prog, 1)
        r.consume()
    assert [d for _, _, d in got][:255] == [expected(i, 8) for i in range(1, 256)]
    assert got[-1][2] == expected(1001, 8)


class Event(ctypes.Structure):
    _fields_ = [("seq", ctypes.c_uint64), ("w1", ctypes.c_uint64), ("w2", ctypes.c_uint64)]


def test_read_into_fills_a_reused_array_ring_after_ring(rb_maps, small_rb_maps):
    rb_a, counter_a = rb_maps
    rb_b, counter_b = small_rb_maps
    out = (Event * 64)()
    got = []
    with ringbuf_producer(rb_a.fileno(), counter_a.fileno(), 24, "discard_odd") as prog_a, \
            ringbuf_producer(rb_b.fileno(), counter_b.fileno(), 32) as prog_b, RingBuffer() as r:
        r.add(rb_a.fileno(), print)
        r.add(rb_b.fileno(), print)
        assert r.read_into(out, timeout_ms=10) == 0
        run(prog_a, 200)
        run(prog_b, 30)
        while (n := r.read_into(out, timeout_ms=100)):
            got += [(e.seq, e.w1, e.w2) for e in out[:n]]
    assert got == [(i, i + 1, i + 2) for i in range(2, 201, 2)] + [(i, i + 1, i + 2)
                                                                   for i in range(1, 31)]


def test_read_into_stops_before_a_sample_smaller_than_the_items(rb_maps):
    rb, counter = rb_maps
    out = (Event * 8)()
    with ringbuf_producer(rb.fileno(), counter.fileno(), 24) as big, \
            ringbuf_producer(rb.fileno(), counter.fileno(), 16) as small, RingBuffer() as r:
        r.add(rb.fileno(), print)
        run(big, 3)
        run(small, 1)
        assert r.read_into(out) == 3
        with pytest.raises(ValueError, match="event of 16 bytes is smaller"):
            r.read_into(out)
        assert r.consume() == 1  # left in place for the callback path
        with pytest.raises(TypeError, match="read_into needs"):
            r.read_into(b"not writable")
    with pytest.raises(BPFError, match="closed"):
        r.read_into(out)


def test_tracepoint_seq_producer_streams_from_a_live_event(rb_maps):
    from pybpf_dsl.runtime.attach.tracepoint import attach_tracepoint

    rb, counter = rb_maps
    out = (Event * 16)()
    with tracepoint_seq_producer(rb.fileno(), counter.fileno(), os.getpid(), 24, ring=True) as prog, \
            RingBuffer() as r:
        r.add(rb.fileno(), print)
        with attach_tracepoint(prog, "syscalls", "sys_enter_getppid"):
            for _ in range(5):
                os.getppid()
        n = r.read_into(out, timeout_ms=1000)
    assert [(e.seq, e.w1, e.w2) for e in out[:n]] == [(i, i + 1, i + 2) for i in range(1, 6)]


def test_poll_timeout_and_level_triggered_fileno(rb_maps):
    rb, counter = rb_maps
    with ringbuf_producer(rb.fileno(), counter.fileno(), 8) as prog, RingBuffer() as r:
        r.add(rb.fileno(), lambda *a: None)
        start = time.monotonic()
        assert r.poll(50) == 0
        assert 0.04 < time.monotonic() - start < 1.0
        run(prog, 2)
        assert select.select([r.fileno()], [], [], 1.0)[0]
        assert r.poll(0) == 2


def _busy_reader(r: RingBuffer, prog, seconds_ago: float) -> None:
    """Make ``r``'s next wait linger: 1000 samples read since a wait ``seconds_ago``."""
    r._linger._at = time.monotonic() - seconds_ago
    run(prog, 1000)
    assert r.consume() == 1000


def test_a_wait_after_a_busy_read_lingers_at_most_max_delay(rb_maps):
    rb, counter = rb_maps
    with ringbuf_producer(rb.fileno(), counter.fileno(), 8) as prog, \
            RingBuffer(max_delay_ms=200) as r:
        r.add(rb.fileno(), lambda *a: None)
        _busy_reader(r, prog, 10.0)  # 1.6 KB/s: a quarter ring (16 KiB) takes 10 s, so 200 ms
        run(prog, 1)
        start = time.monotonic()
        assert r.poll(5000) == 1
        assert 0.15 < time.monotonic() - start < 2.0
        _busy_reader(r, prog, 10.0)
        start = time.monotonic()
        assert r.poll(0) == 0  # never sleeps without a timeout
        assert time.monotonic() - start < 0.1
        start = time.monotonic()
        assert r.poll(500) == 0  # nothing came while lingering: the rest of the timeout on epoll
        assert 0.45 < time.monotonic() - start < 2.0


def test_linger_shrinks_with_the_rate_to_protect_small_rings(rb_maps):
    rb, counter = rb_maps
    with ringbuf_producer(rb.fileno(), counter.fileno(), 8) as prog:
        with RingBuffer(max_delay_ms=200) as r:
            r.add(rb.fileno(), lambda *a: None)
            _busy_reader(r, prog, 0.01)  # 16 bytes x 1000 in 10 ms: a quarter ring in ~10 ms
            assert 0.005 < r._next_linger() < 0.1  # not max_delay_ms
            assert r._next_linger() == 0  # nothing read since the last wait: no linger
        with RingBuffer(max_delay_ms=0) as never:
            never.add(rb.fileno(), lambda *a: None)
            _busy_reader(never, prog, 10.0)
            assert never._next_linger() == 0
    with pytest.raises(ValueError, match="max_delay_ms"):
        RingBuffer(max_delay_ms=-1)


def test_add_rejects_other_maps_and_closed_manager():
    with syscall.map_create(MapType.HASH, 4, 4, 4, name="h") as h:
        r = RingBuffer()
        with pytest.raises(ValueError, match="HASH map, not a RINGBUF"):
            r.add(h.fileno(), print)
        r.close()
        with pytest.raises(BPFError, match="closed"):
            r.add(h.fileno(), print)
        with pytest.raises(BPFError, match="closed"):
            r.consume()


def test_close_releases_mappings_and_fds(rb_maps):
    rb, _ = rb_maps
    before = _mappings()
    r = RingBuffer()
    r.add(rb.fileno(), print)
    r.add(rb.fileno(), print)
    assert _mappings() > before
    r.close()
    r.close()
    assert _mappings() == before


def test_close_inside_a_callback_waits_for_the_read_to_end(rb_maps, small_rb_maps):
    (rb, counter), (small, small_counter) = rb_maps, small_rb_maps
    before = _mappings()
    seen = []

    def callback(ctx, data, size):
        seen.append((ctx, read_payload(data, size)))   # still mapped after close(): no crash
        if len(seen) == 3:
            r.close()
            assert _mappings() > before            # the unmapping waits for poll() to return

    with ringbuf_producer(rb.fileno(), counter.fileno(), 16) as one, \
            ringbuf_producer(small.fileno(), small_counter.fileno(), 16) as two:
        r = RingBuffer()
        r.add(rb.fileno(), callback, "first")
        r.add(small.fileno(), callback, "second")
        run(one, 10)
        run(two, 10)
        assert r.poll(1000) == 10                   # the run being delivered ends; the next ring is not read
        assert r.closed and _mappings() == before
        assert seen == [("first", expected(i, 16)) for i in range(1, 11)]
        with pytest.raises(BPFError, match="closed"):
            r.poll(0)


@pytest.mark.parametrize("read", ["poll", "read_into", "drain"])
def test_close_from_another_thread_during_reads_is_safe(rb_maps, read):
    rb, counter = rb_maps
    before = _mappings()
    out = (ctypes.c_uint64 * 2 * 4)()
    with ringbuf_producer(rb.fileno(), counter.fileno(), 16) as prog:
        for _attempt in range(20):
            r = RingBuffer()
            r.add(rb.fileno(), lambda ctx, data, size: read_payload(data, size))
            run(prog, 2000)
            read_now = {"poll": lambda: r.poll(1), "read_into": lambda: r.read_into(out, 1),
                        "drain": lambda: r.drain(1)}[read]
            assert close_while_reading(r, read_now) == []
    assert _mappings() == before


def test_close_wakes_a_poll_waiting_forever_on_another_thread(rb_maps):
    r = RingBuffer()
    r.add(rb_maps[0].fileno(), print)
    assert close_wakes_a_blocked_read(r, lambda: r.poll(-1)) < 1.0


def test_event_poller_ring_buffer(rb_maps):
    rb, counter = rb_maps
    got = []
    with ringbuf_producer(rb.fileno(), counter.fileno(), 8) as prog, EventPoller() as poller:
        poller.ring_buffer().add(rb.fileno(), lambda ctx, d, n: got.append(n))
        run(prog, 3)
        assert poller.ring_buffer_poll(1000) == 3
        run(prog, 2)
        assert poller.ring_buffer_consume() == 2
    assert got == [8] * 5


_NO_LLVM_SCRIPT = """
import ctypes, sys
from buffer_producers import counter_map, ringbuf, ringbuf_producer, run
from pybpf_dsl.runtime.event_poller import EventPoller
from pybpf_dsl.runtime.ring_buffer import RingBuffer
seen = []
with ringbuf(4096) as rb, counter_map() as counter, \\
        ringbuf_producer(rb.fileno(), counter.fileno(), 40) as prog, \\
        ringbuf_producer(rb.fileno(), counter.fileno(), 40, "discard_odd") as odd:
    # 48-byte records in a one-page ring: some cross its end
    with RingBuffer() as r:
        r.add(rb.fileno(), lambda ctx, data, size: seen.append(size))
        run(prog, 50)
        assert r.poll(1000) == 50
        run(prog, 70)
        assert r.consume() == 70
        run(odd, 6)
        assert len(r.drain()) == 3
    with EventPoller() as poller:  # what the bcc-style front ends call
        poller.ring_buffer().add(rb.fileno(), lambda *a: seen.append(0))
        run(prog, 10)
        assert poller.ring_buffer_poll(1000) == 10
        run(odd, 4)
        assert poller.ring_buffer_consume() == 2
    assert len(seen) == 132
    with RingBuffer() as r:
        r.add(rb.fileno(), print)
        run(prog, 40)
        assert r.read_into((ctypes.c_uint64 * 64)()) == 40
        run(prog, 30)
        assert len(r.drain().as_array(ctypes.c_uint64 * 5)) == 30
    loaded = sorted(m for m in sys.modules if m.startswith("llvmlite"))
    assert not loaded, f"reading events imported {loaded}"
print("ok")
"""


def test_no_read_path_imports_llvmlite():
    """poll/consume, drain and read_into are pure Python: a program started from a cached object
    never loads LLVM (~45 ms, ~65 MiB) by reading events."""
    run_script(_NO_LLVM_SCRIPT)


# ---------------------------------------------------------------- synthetic rings (parser model)

class _Dummy:
    def close(self):
        pass


def _synthetic(records, start, size=PAGE_SIZE):
    """A ring laid out like the kernel's: records = [(state, payload)], state committed/discarded/busy."""
    data = ctypes.create_string_buffer(2 * size)
    pages = ctypes.create_string_buffer(16)
    view = memoryview(data).cast("B")
    blob = b""
    for state, payload in records:
        flags = {"committed": 0, "discarded": 1 << 30, "busy": 1 << 31}[state]
        rec = struct.pack("<II", len(payload) | flags, 0) + payload
        blob += rec + bytes(-len(rec) % 8)
    for i, byte in enumerate(blob):
        view[(start + i) % size] = byte
    view[size:] = view[:size]  # the kernel maps the data pages twice
    ring = _Ring.__new__(_Ring)
    ring.index, ring.fd, ring.cons_region, ring.prod_region = 3, _Dummy(), _Dummy(), _Dummy()
    ring.callback, ring.ctx = None, "ctx"
    ring.consumer = memoryview(pages).cast("B")[:8].cast("Q")
    ring.producer = memoryview(pages).cast("B")[8:].cast("Q")
    ring.data, ring.words = view, view.cast("I")
    ring.base, ring.size, ring.mask, ring.chunk = ctypes.addressof(data), size, size - 1, size // 4
    ring.pos = ring.consumer[0] = start
    ring.producer[0] = start + len(blob)
    ring.closed = False
    return ring, (data, pages)


_state = st.sampled_from(["committed", "committed", "committed", "discarded", "busy"])
_ring_records = st.lists(st.one_of(
    st.tuples(_state, st.one_of(st.just(b"\x01" * 16), st.binary(min_size=0, max_size=60)))
    .map(lambda r: [r]),
    st.tuples(st.integers(2, 60), st.sampled_from([bytes(12), b"\x02" * 24, bytes(3)])
              | st.binary(min_size=0, max_size=60))
    .map(lambda r: [("committed", r[1])] * r[0])),  # a run of equal samples
    max_size=25).map(lambda groups: [record for group in groups for record in group])


@settings(max_examples=150, deadline=None)
@given(_ring_records, st.integers(0, 2**40), st.sampled_from([1, 2, 4, 8, 12, 16, 24]),
       st.integers(1, 80))
def test_parser_matches_model(records, start, item, capacity):
    start = start // 8 * 8
    kept, used = [], 0
    for state, payload in records:  # as many records as the ring holds
        used += (len(payload) + 15) // 8 * 8
        if used > PAGE_SIZE:
            break
        kept.append((state, payload))
    want, end = [], start
    for state, payload in kept:
        if state == "busy":
            break
        end += (len(payload) + 15) // 8 * 8
        if state == "committed":
            want.append(payload)
    ring, keep = _synthetic(kept, start)
    got = []
    ring.callback = lambda ctx, d, n: got.append((ctx, ctypes.string_at(d, n)))
    assert _process(ring) == len(want)
    assert got == [("ctx", p) for p in want]
    assert ring.consumer[0] == ring.pos == end
    # read_into, ``capacity`` items of ``item`` bytes at a time: stops before the first shorter
    # sample
    ring, keep = _synthetic(kept, start)
    r = RingBuffer()
    r._rings = [ring]
    out, copied = ((ctypes.c_uint8 * item) * capacity)(), []
    try:
        while (n := r.read_into(out)):
            copied += [bytes(out[i]) for i in range(n)]
    except ValueError:
        pass
    fits = []
    for payload in want:
        if len(payload) < item:
            break
        fits.append(payload[:item])
    assert copied == fits
    if len(fits) == len(want):
        assert ring.consumer[0] == ring.pos == end
    r.close()
    ring, keep = _synthetic(kept, start)
    runs, stop = _index_ring(ring, start, ring.producer[0])
    assert stop == end
    flat = [(pos + k * stride, size) for pos, stride, count, size in runs for k in range(count)]
    assert [bytes(ring.data[(p & (PAGE_SIZE - 1)) + 8:][:n]) for p, n in flat] == want


@pytest.mark.parametrize("becomes", ["committed", "discarded"])
def test_read_into_stops_at_a_busy_sample_and_resumes_there(becomes):
    payloads = [struct.pack("<3Q", seq, 0, 0) for seq in (1, 2, 3)]
    ring, keep = _synthetic([("committed", payloads[0]), ("busy", payloads[1]),
                             ("committed", payloads[2])], 0)
    r = RingBuffer()
    r._rings = [ring]
    out = (Event * 4)()
    assert r.read_into(out) == 1 and out[0].seq == 1
    assert r.read_into(out) == 0  # still busy: nothing consumed past it
    assert ring.consumer[0] == ring.pos == 32
    ring.words[32 >> 2] = 24 | (1 << 30 if becomes == "discarded" else 0)  # the producer finishes
    n = r.read_into(out)
    assert [e.seq for e in out[:n]] == ([2, 3] if becomes == "committed" else [3])
    assert ring.consumer[0] == ring.pos == ring.producer[0]
    r.close()
