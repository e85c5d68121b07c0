"""bcc's histogram output, compared as exact strings.

The expected text follows bcc's table.py format strings (checked line by
line against bcc's own printers on thousands of random inputs while this
module was written); the linear example is the one in the bcc Reference
Guide.  Real-kernel tests print histograms straight from live maps.
"""

from __future__ import annotations

import ctypes as ct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pybpf_dsl.runtime import histogram
from pybpf_dsl.runtime.histogram import json_hist, linear_lines, log2_lines
from pybpf_dsl.runtime.maps import Map
from pybpf_dsl.runtime.mapspec import MapSpec
from pybpf_dsl.runtime.tables import table_for
from pybpf_dsl.runtime.uapi import MapType

BAR0 = "|" + " " * 40 + "|"


def _vals(n: int, **slots: int) -> list[int]:
    vals = [0] * n
    for k, v in slots.items():
        vals[int(k[1:])] = v
    return vals


def test_log2_reference_guide_example():
    vals = _vals(65, s1=3, s3=211, s7=1, s8=800)
    assert log2_lines(vals, "kbytes") == [
        "     kbytes              : count     distribution",
        "         0 -> 1          : 3        " + BAR0,
        "         2 -> 3          : 0        " + BAR0,
        "         4 -> 7          : 211      |**********                              |",
        "         8 -> 15         : 0        " + BAR0,
        "        16 -> 31         : 0        " + BAR0,
        "        32 -> 63         : 0        " + BAR0,
        "        64 -> 127        : 1        " + BAR0,
        "       128 -> 255        : 800      |****************************************|",
    ]


def test_log2_wide_layout_above_slot_32_and_strip_leading_zero():
    vals = _vals(65, s38=10, s40=5)
    assert log2_lines(vals, "usecs", strip_leading_zero=True) == [
        "               usecs                         : count     distribution",
        "        137438953472 -> 274877906943         : 10       |********************|",
        "        274877906944 -> 549755813887         : 0        |                    |",
        "        549755813888 -> 1099511627775        : 5        |**********          |",
    ]


def test_log2_prints_nothing_when_only_slot_zero_is_set():
    assert log2_lines(_vals(65, s0=9)) == []
    assert log2_lines([0] * 65) == []


def test_linear_reference_guide_example():
    vals = _vals(1025, s0=3, s4=19, s8=4, s16=2)
    lines = linear_lines(vals, "kbytes")
    assert lines[:6] == [
        "     kbytes        : count     distribution",
        "        0          : 3        |******                                  |",
        "        1          : 0        " + BAR0,
        "        2          : 0        " + BAR0,
        "        3          : 0        " + BAR0,
        "        4          : 19       |****************************************|",
    ]
    assert lines[9] == "        8          : 4        |********                                |"
    assert lines[-1] == "        16         : 2        |****                                    |"
    assert len(lines) == 18


def test_linear_strip_leading_zero():
    assert linear_lines(_vals(1025, s3=1), "x", True) == [
        "     x             : count     distribution",
        "        3          : 1        |****************************************|",
    ]


def test_json_hist(monkeypatch):
    monkeypatch.setattr(histogram, "strftime", lambda fmt: "2026-11-25 10:00:00")
    assert json_hist(_vals(65, s1=2, s3=5), "usecs", ("pid", 7)) == {
        "ts": "2026-11-25 10:00:00", "val_type": "usecs", "pid": 7,
        "data": [{"interval-start": 0, "interval-end": 1, "count": 2},
                 {"interval-start": 2, "interval-end": 3, "count": 0},
                 {"interval-start": 4, "interval-end": 7, "count": 5}]}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 10 ** 6), min_size=65, max_size=65))
def test_log2_rows_are_well_formed(vals):
    lines = log2_lines(vals)
    top = max((i for i, v in enumerate(vals) if v), default=-1)
    assert len(lines) == (top + 1 if top > 0 else 0)
    width = 40 if top <= 32 else 20
    vmax = max(vals)
    for i, line in enumerate(lines[1:], start=1):
        bar = line[line.index("|") + 1:-1]
        assert len(bar) == width and bar.rstrip(" ") == "*" * bar.count("*")
        assert bar.count("*") == min(width, int(width * vals[i] / vmax))


# ---------------------------------------------------------------- from live maps

class _Fake:
    """Anything with Key and items() prints: here a struct-keyed histogram."""

    class Key(ct.Structure):
        _fields_ = [("comm", ct.c_char * 8), ("slot", ct.c_ulonglong)]

    def __init__(self, entries):
        self._entries = entries

    def items(self):
        return [(self.Key(c, s), ct.c_ulonglong(v)) for c, s, v in self._entries]


def test_sections_for_struct_keys(capsys):
    fake = _Fake([(b"bash", 1, 4), (b"sshd", 2, 1), (b"bash", 2, 2)])
    histogram.print_log2_hist(fake, "usecs", "comm")
    assert capsys.readouterr().out.splitlines() == [
        "",
        "comm = b'bash'",
        "     usecs               : count     distribution",
        "         0 -> 1          : 4        |****************************************|",
        "         2 -> 3          : 2        |********************                    |",
        "",
        "comm = b'sshd'",
        "     usecs               : count     distribution",
        "         0 -> 1          : 0        " + BAR0,
        "         2 -> 3          : 1        |****************************************|",
    ]
    histogram.print_linear_hist(fake, "n", "comm", section_print_fn=lambda b: b.decode(),
                                bucket_sort_fn=lambda bs: sorted(bs, reverse=True))
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == ["", "comm = sshd"] and out[6:8] == ["", "comm = bash"]


def test_bucket_fn_merges_sections(capsys):
    fake = _Fake([(b"a1", 1, 1), (b"a2", 1, 3)])
    histogram.print_log2_hist(fake, bucket_fn=lambda b: b[:1])
    out = capsys.readouterr().out.splitlines()
    assert out[1] == "Bucket ptr = b'a'"
    assert out[3].startswith("         0 -> 1          : 3 ")   # the later entry wins, as in bcc


def test_linear_index_limit():
    class T:
        Key = ct.c_uint

        def items(self):
            return [(ct.c_uint(2000), ct.c_ulonglong(1))]
    with pytest.raises(IndexError, match="exceeds max of 1025"):
        histogram.print_linear_hist(T())


def test_log2_hist_from_a_live_array(root, capsys):
    with Map.create(MapSpec("dist", MapType.ARRAY, 4, 8, 64)) as m:
        t = table_for(m)
        t[1], t[3], t[8] = 3, 211, 800
        t.print_log2_hist("kbytes")
        out = capsys.readouterr().out.splitlines()
        assert out[0] == "     kbytes              : count     distribution"
        assert out[-1] == "       128 -> 255        : 800      |****************************************|"
        t.print_json_hist()
        assert "'interval-end': 255, 'count': 800" in capsys.readouterr().out


def test_linear_hist_from_a_live_percpu_array(root, capsys):
    with Map.create(MapSpec("lin", MapType.PERCPU_ARRAY, 4, 8, 8)) as m:
        t = table_for(m)
        t[2] = 5                       # every CPU's slot: the histogram sums them
        t.print_linear_hist("x", strip_leading_zero=True)
        ncpu = t.total_cpu
        assert capsys.readouterr().out.splitlines() == [
            "     x             : count     distribution",
            "        2          : %-8d |****************************************|" % (5 * ncpu),
        ]


def test_struct_key_hist_from_a_live_hash(root, capsys):
    class Key(ct.Structure):
        _fields_ = [("pid", ct.c_uint), ("slot", ct.c_uint)]
    with Map.create(MapSpec("h", MapType.HASH, 8, 8, 16)) as m:
        t = table_for(m, Key, ct.c_ulonglong)
        t[Key(7, 2)] = 4
        t.print_log2_hist("usecs", "pid")
        assert capsys.readouterr().out.splitlines() == [
            "", "pid = 7",
            "     usecs               : count     distribution",
            "         0 -> 1          : 0        " + BAR0,
            "         2 -> 3          : 4        |****************************************|",
        ]
