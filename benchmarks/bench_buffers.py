"""Event delivery rates of the perf buffer and ring buffer readers, next to bcc's.

Run as root: ``python3 benchmarks/bench_buffers.py``.

Producers are SCHED_CLS programs run with BPF_PROG_TEST_RUN (``repeat=N``
writes N 24-byte samples in one syscall), the same program shape on both
sides.  Two measurements:

* capacity, no loss: a burst that fits the buffer is written, then the
  reader delivers all of it; the time of the delivery alone gives events/s
  (every sample checked to arrive, none lost).  Through the callback API
  (``callback(cpu, data, size)``, a trivial callback and one that decodes the
  struct) and through the bulk path (``drain().as_array(Event)``).
* streaming: a producer thread on one CPU writes bursts while the reader
  polls on the other; delivered events/s and lost samples.

bcc runs in a child process under the system Python when it is installed
(benchmarks/_bcc.py); otherwise bcc's figures from issue 2 are printed as the
labelled reference.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "runtime"))

import _bcc  # noqa: E402
from buffer_producers import counter_map, perf_array, perf_producer, ringbuf, ringbuf_producer, run  # noqa: E402

from pybpf_dsl.runtime.event_decode import decoder  # noqa: E402
from pybpf_dsl.runtime.perf_buffer import PerfBuffer  # noqa: E402
from pybpf_dsl.runtime.ring_buffer import RingBuffer  # noqa: E402

SIZE = 24
PERF_BURST, PERF_ROUNDS, PERF_PAGES = 20_000, 10, 256      # 640 KiB of records per burst
RING_BURST, RING_ROUNDS, RING_BYTES = 100_000, 5, 1 << 22  # 3.2 MiB per burst
REFERENCE = {"perf_callback": 266_000, "ring_callback": 330_000}  # issue 2, bcc 0.26


class Event(ctypes.Structure):
    _fields_ = [("seq", ctypes.c_uint64), ("a", ctypes.c_uint64), ("b", ctypes.c_uint64)]


def _rate(events: int, seconds: float) -> float:
    return events / seconds if seconds > 0 else float("inf")


# ---------------------------------------------------------------- ours

def _perf_capacity(events_fd, prog, callback) -> tuple[float, int]:
    with PerfBuffer(events_fd, callback, page_cnt=PERF_PAGES) as pb:
        total, spent = 0, 0.0
        for _ in range(PERF_ROUNDS):
            run(prog, PERF_BURST)
            start = time.perf_counter()
            total += pb.consume()
            spent += time.perf_counter() - start
        assert total == PERF_BURST * PERF_ROUNDS, f"perf buffer delivered {total}"
        return _rate(total, spent), pb.lost


def _perf_bulk(events_fd, prog) -> tuple[float, int]:
    with PerfBuffer(events_fd, print, page_cnt=PERF_PAGES) as pb:
        total, spent, last = 0, 0.0, None
        for _ in range(PERF_ROUNDS):
            run(prog, PERF_BURST)
            start = time.perf_counter()
            events = pb.drain().as_array(Event)
            spent += time.perf_counter() - start
            total += len(events)
            assert last is None or events[0].seq == last + 1, "a sample went missing"
            last = events[-1].seq
        assert total == PERF_BURST * PERF_ROUNDS
        return _rate(total, spent), pb.lost


def _ring_capacity(rb_fd, prog, callback) -> float:
    with RingBuffer() as rb:
        rb.add(rb_fd, callback)
        total, spent = 0, 0.0
        for _ in range(RING_ROUNDS):
            run(prog, RING_BURST)
            start = time.perf_counter()
            total += rb.consume()
            spent += time.perf_counter() - start
        assert total == RING_BURST * RING_ROUNDS, f"ring buffer delivered {total}"
        return _rate(total, spent)


def _ring_bulk(rb_fd, prog) -> float:
    with RingBuffer() as rb:
        rb.add(rb_fd, print)
        total, spent = 0, 0.0
        for _ in range(RING_ROUNDS):
            run(prog, RING_BURST)
            start = time.perf_counter()
            total += len(rb.drain().as_array(Event))
            spent += time.perf_counter() - start
        assert total == RING_BURST * RING_ROUNDS
        return _rate(total, spent)


def _stream(reader_poll, finish, prog, seconds: float, burst: int) -> tuple[int, float]:
    """Producer thread on the first CPU, reader here on the second; (produced, elapsed)."""
    cpus = sorted(os.sched_getaffinity(0))
    produced = [0]
    done = threading.Event()

    def producer():
        os.sched_setaffinity(0, {cpus[0]})
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            run(prog, burst)
            produced[0] += burst
        done.set()

    os.sched_setaffinity(0, {cpus[-1]})
    thread = threading.Thread(target=producer)
    start = time.perf_counter()
    thread.start()
    while not done.is_set():
        reader_poll(100)
    thread.join()
    finish()
    elapsed = time.perf_counter() - start
    os.sched_setaffinity(0, set(cpus))
    return produced[0], elapsed


def ours() -> dict:
    cpus = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cpus)})  # bursts land in one CPU's ring
    results: dict = {}
    count = [0]

    def trivial(_a, _b, _c):
        count[0] += 1

    decode = decoder(Event)
    seqs = []

    def decoding(_cpu, data, size):
        seqs.append(decode(data).seq)

    events, counter = perf_array(), counter_map()
    prog = perf_producer(events.fileno(), counter.fileno(), SIZE)
    try:
        results["perf_callback"], lost = _perf_capacity(events.fileno(), prog, trivial)
        results["perf_decode"], _ = _perf_capacity(events.fileno(), prog, decoding)
        results["perf_bulk"], _ = _perf_bulk(events.fileno(), prog)
        os.sched_setaffinity(0, cpus)
        for wakeup in (1, 32):
            count[0] = 0
            with PerfBuffer(events.fileno(), trivial, page_cnt=PERF_PAGES,
                            wakeup_events=wakeup) as pb:
                produced, elapsed = _stream(pb.poll, pb.consume, prog, 1.0, 2000)
                results[f"perf_stream_w{wakeup}"] = (_rate(count[0], elapsed), pb.lost, produced)
    finally:
        os.sched_setaffinity(0, cpus)
        prog.close()
        events.close()
        counter.close()

    os.sched_setaffinity(0, {min(cpus)})
    rb_map, counter = ringbuf(RING_BYTES), counter_map()
    prog = ringbuf_producer(rb_map.fileno(), counter.fileno(), SIZE, "reserve")
    try:
        results["ring_callback"] = _ring_capacity(rb_map.fileno(), prog, trivial)
        results["ring_decode"] = _ring_capacity(rb_map.fileno(), prog,
                                                lambda c, d, s: seqs.append(decode(d).seq))
        results["ring_bulk"] = _ring_bulk(rb_map.fileno(), prog)
        os.sched_setaffinity(0, cpus)
        count[0] = 0
        with RingBuffer() as rb:
            rb.add(rb_map.fileno(), trivial)
            produced, elapsed = _stream(rb.poll, rb.consume, prog, 1.0, 20_000)
            results["ring_stream"] = (_rate(count[0], elapsed), produced - count[0], produced)
    finally:
        os.sched_setaffinity(0, cpus)
        prog.close()
        rb_map.close()
        counter.close()
    return results


# ---------------------------------------------------------------- bcc

_BCC_SNIPPET = r'''
import ctypes as ct, json, os, time
from bcc import BPF
text = """
struct ev { u64 seq, a, b; };
BPF_PERF_OUTPUT(events);
BPF_RINGBUF_OUTPUT(rb, %(ring_pages)d);
BPF_ARRAY(counter, u64, 1);
static __always_inline int fill(struct ev *e) {
    int k = 0;
    u64 *s = counter.lookup(&k);
    if (!s) return 0;
    *s += 1;
    e->seq = *s; e->a = *s + 1; e->b = *s + 2;
    return 1;
}
int perf_prod(struct __sk_buff *skb) {
    struct ev e = {};
    if (fill(&e)) events.perf_submit(skb, &e, sizeof(e));
    return 0;
}
int ring_prod(struct __sk_buff *skb) {
    struct ev e = {};
    if (fill(&e)) rb.ringbuf_output(&e, sizeof(e), 0);
    return 0;
}
"""
class TestRun(ct.Structure):
    _fields_ = [("prog_fd", ct.c_uint32), ("retval", ct.c_uint32), ("size_in", ct.c_uint32),
                ("size_out", ct.c_uint32), ("data_in", ct.c_uint64), ("data_out", ct.c_uint64),
                ("repeat", ct.c_uint32), ("duration", ct.c_uint32), ("pad", ct.c_uint64 * 6)]
libc = ct.CDLL(None, use_errno=True)
packet = ct.create_string_buffer(64)
def run(fd, n):
    attr = TestRun(prog_fd=fd, size_in=64, data_in=ct.addressof(packet), repeat=n)
    if libc.syscall(321, 10, ct.byref(attr), ct.sizeof(attr)) < 0:
        raise OSError(ct.get_errno(), "BPF_PROG_TEST_RUN")
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
b = BPF(text=text)
perf, ring = b.load_func("perf_prod", BPF.SCHED_CLS), b.load_func("ring_prod", BPF.SCHED_CLS)
out = {}
count = [0]
def trivial(*a):
    count[0] += 1
def decoding_perf(cpu, data, size):
    count[0] += b["events"].event(data).seq > 0
def decoding_ring(ctx, data, size):
    count[0] += b["rb"].event(data).seq > 0
handler = [trivial]
b["events"].open_perf_buffer(lambda *a: handler[0](*a), page_cnt=%(perf_pages)d)
b["rb"].open_ring_buffer(lambda *a: handler[0](*a))
def measure(fd, consume, rounds, burst):
    count[0], spent = 0, 0.0
    for _ in range(rounds):
        run(fd, burst)
        t = time.perf_counter(); consume(); spent += time.perf_counter() - t
    return count[0] / spent, count[0]
for name, h in (("perf_callback", trivial), ("perf_decode", decoding_perf)):
    handler[0] = h
    out[name], out[name + "_delivered"] = measure(perf.fd, b.perf_buffer_consume,
                                                  %(perf_rounds)d, %(perf_burst)d)
for name, h in (("ring_callback", trivial), ("ring_decode", decoding_ring)):
    handler[0] = h
    out[name], out[name + "_delivered"] = measure(ring.fd, b.ring_buffer_consume,
                                                  %(ring_rounds)d, %(ring_burst)d)
print(json.dumps(out))
'''


def bcc() -> dict | None:
    if not _bcc.available():
        return None
    snippet = _BCC_SNIPPET % {"ring_pages": RING_BYTES // 4096, "perf_pages": PERF_PAGES,
                              "perf_rounds": PERF_ROUNDS, "perf_burst": PERF_BURST,
                              "ring_rounds": RING_ROUNDS, "ring_burst": RING_BURST}
    try:
        return _bcc.run(snippet)
    except Exception as exc:  # report, keep our figures
        print(f"bcc comparison failed: {exc}")
        return None


# ---------------------------------------------------------------- report

def main() -> None:
    mine = ours()
    theirs = bcc()
    label = "bcc (same run)" if theirs else "bcc 0.26 reference (issue 2)"
    ref = theirs or REFERENCE

    def line(title, key, ref_key=None):
        value = mine[key]
        ref_value = ref.get(ref_key or key)
        versus = f"   {label}: {ref_value:>12,.0f}/s   x{value / ref_value:.1f}" if ref_value else ""
        print(f"{title:<44} {value:>12,.0f}/s{versus}")

    print(f"events of {SIZE} bytes, no loss (capacity: deliver a burst that fits the buffer)")
    line("perf buffer, callback(cpu, data, size)", "perf_callback")
    line("perf buffer, callback + decode struct", "perf_decode", "perf_decode" if theirs else "perf_callback")
    line("perf buffer, bulk drain().as_array(Event)", "perf_bulk", "perf_callback")
    line("ring buffer, callback(ctx, data, size)", "ring_callback")
    line("ring buffer, callback + decode struct", "ring_decode", "ring_decode" if theirs else "ring_callback")
    line("ring buffer, bulk drain().as_array(Event)", "ring_bulk", "ring_callback")
    print("streaming: producer thread on one CPU, reader polling on the other, 1 s")
    for key, title in (("perf_stream_w1", "perf buffer, wakeup_events=1"),
                       ("perf_stream_w32", "perf buffer, wakeup_events=32"),
                       ("ring_stream", "ring buffer")):
        rate, lost, produced = mine[key]
        print(f"{title:<44} {rate:>12,.0f}/s delivered, {lost} of {produced:,} lost")


if __name__ == "__main__":
    main()
