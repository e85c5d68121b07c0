"""The linger decision shared by the perf buffer and ring buffer readers, against a model."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pybpf_dsl.runtime.linger import Linger, sleep_first


@settings(max_examples=300, deadline=None)
@given(st.integers(1 << 10, 1 << 30), st.integers(-10, 1 << 30), st.integers(0, 10**6),
       st.floats(1e-6, 100.0), st.one_of(st.just(0.0), st.floats(0.001, 50.0)),
       st.sampled_from([0, 1, 64]))
def test_linger_never_lets_a_quarter_of_the_smallest_ring_fill(quarter, consumed, samples, elapsed,
                                                               delay, threshold):
    """Model: a linger comes only after more than ``threshold`` samples; at the rate seen since
    the wait that began the count, it fills at most a quarter ring; it never exceeds
    max_delay_ms, and is zero when nothing was read."""
    linger = Linger(delay, threshold)
    began = time.monotonic() - elapsed
    linger._at = began
    count = consumed if threshold == 0 else samples
    got = linger.next(consumed, quarter, None if threshold == 0 else samples)
    elapsed = time.monotonic() - began  # at least what next() saw
    assert 0 <= got <= delay / 1000
    if consumed <= 0 or not delay or count <= threshold:
        assert got == 0
    else:
        assert got > 0
        assert got * consumed / elapsed <= quarter * (1 + 1e-9)  # at most the rate next() saw


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 20), min_size=1, max_size=40))
def test_a_slow_stream_never_lingers_and_the_count_resets_after_max_delay(batches):
    """Samples arriving over waits that began more than max_delay_ms apart never add up to a
    fast stream; within max_delay_ms they do."""
    linger = Linger(5, 64)
    pos = count = 0
    for n in batches:  # each wait began > 5 ms after the previous one
        linger._at -= 0.006
        count += n
        pos += 40 * n
        assert linger.next(pos, 1 << 20, count) == 0
    quick = Linger(1000, 64)
    total = 0
    for n in batches:
        total += n
        got = quick.next(40 * total, 1 << 20, total)
        if got:
            break
    assert bool(got) == (total > 64)


def test_threshold_counts_samples_over_several_quick_waits():
    linger = Linger(1000, 64)
    for count in range(0, 65, 8):  # 8 samples a wait: not yet more than 64
        assert linger.next(count * 40, 1 << 16, count) == 0
    assert linger.next(65 * 40, 1 << 16, 65) > 0
    assert linger.next(65 * 40, 1 << 16, 65) == 0  # nothing since: no linger


def test_negative_max_delay_is_refused():
    with pytest.raises(ValueError, match="max_delay_ms"):
        Linger(-1)


def test_sleep_first_spends_the_rest_of_the_timeout_on_epoll():
    calls = []
    assert sleep_first(0.0, 100, calls.append) == 100  # no linger: no sleep, no check
    assert sleep_first(0.5, 0, calls.append) == 0  # a zero timeout never sleeps
    assert calls == []
    start = time.monotonic()
    assert sleep_first(0.02, -1, lambda: True) is None  # data came: read now
    rest = sleep_first(0.02, 50, lambda: False)
    assert rest is not None and 25 <= rest <= 30
    assert sleep_first(0.02, -1, lambda: False) == -1
    assert sleep_first(1.0, 10, lambda: False) == 0  # the sleep never outlasts the timeout
    assert 0.065 < time.monotonic() - start < 0.5
