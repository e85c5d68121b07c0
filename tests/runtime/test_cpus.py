"""CPU list parsing against a model, and the machine's own lists."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pybpf_dsl.runtime.cpus import num_possible_cpus, online_cpus, parse_cpu_list, possible_cpus


def _render(cpus: set[int]) -> str:
    """The kernel's compact form: runs of consecutive CPUs as ranges."""
    parts, ordered = [], sorted(cpus)
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(parts) + "\n"


@given(st.sets(st.integers(0, 4096), max_size=64))
def test_parse_matches_model(cpus):
    assert parse_cpu_list(_render(cpus)) == sorted(cpus)


def test_examples_and_errors():
    assert parse_cpu_list("0-3,8,10-11\n") == [0, 1, 2, 3, 8, 10, 11]
    assert parse_cpu_list("\n") == []
    for bad in ("3-1", "a", "1-", "-1"):
        with pytest.raises(ValueError):
            parse_cpu_list(bad)


def test_this_machine():
    online = online_cpus()
    assert online and set(online) <= set(possible_cpus())
    assert num_possible_cpus() == possible_cpus()[-1] + 1
    assert set(os.sched_getaffinity(0)) <= set(online)
    possible_cpus().append(999)  # callers get their own copy
    assert 999 not in possible_cpus()
