"""Issue 2, item 9: every kernel object the runtime creates is gone after close.

Each test records the ids of the programs, maps and links it created (from
the kernel, through BPF_OBJ_GET_INFO_BY_FD), closes its objects, and then
checks through the BPF_*_GET_NEXT_ID commands that none of those ids exists
any more.  Recording our own ids keeps the check exact even when other
processes create and destroy BPF objects at the same time.
"""

from __future__ import annotations

import os
import time

import pytest

from pybpf_dsl.runtime import syscall
from pybpf_dsl.runtime.attach.iterator import attach_iter
from pybpf_dsl.runtime.attach.perf_event import attach_perf_event
from pybpf_dsl.runtime.attach.raw_tracepoint import attach_raw_tracepoint
from pybpf_dsl.runtime.attach.tracepoint import attach_tracepoint
from pybpf_dsl.runtime.loader import load_object
from pybpf_dsl.runtime.perf_buffer import PerfBuffer
from pybpf_dsl.runtime.ring_buffer import RingBuffer
from pybpf_dsl.runtime.uapi import PerfSwConfig, PerfType

SOURCE = r"""
typedef unsigned int __u32; typedef unsigned long long __u64;
#define SEC(n) __attribute__((section(n), used))
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name
static __u64 (*bpf_get_current_pid_tgid)(void) = (void *) 14;
static long (*bpf_map_update_elem)(void *map, const void *key, const void *value, __u64 flags) = (void *) 2;
static long (*bpf_ringbuf_output)(void *rb, void *data, __u64 size, __u64 flags) = (void *) 130;
static long (*bpf_perf_event_output)(void *ctx, void *map, __u64 flags, void *data, __u64 size) = (void *) 25;

struct { __uint(type, 1); __uint(max_entries, 64); __type(key, __u32); __type(value, __u64); } counts SEC(".maps");
struct { __uint(type, 27); __uint(max_entries, 4096); } rb SEC(".maps");
struct { __uint(type, 4); __uint(key_size, 4); __uint(value_size, 4); } pb SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getppid") int on_tp(void *ctx) {
  __u32 pid = bpf_get_current_pid_tgid() >> 32; __u64 one = 1;
  bpf_map_update_elem(&counts, &pid, &one, 0);
  bpf_ringbuf_output(&rb, &pid, sizeof(pid), 0);
  bpf_perf_event_output(ctx, &pb, 0xffffffffULL, &pid, sizeof(pid));
  return 0;
}
SEC("raw_tracepoint/sys_enter") int on_raw(void *ctx) { return 0; }
SEC("perf_event") int on_sample(void *ctx) { return 0; }
SEC("iter/task") int on_task(void *ctx) { return 0; }
char LICENSE[] SEC("license") = "GPL";
"""


def _id(fd, kind: str) -> int:
    return syscall.obj_info(fd.fileno() if hasattr(fd, "fileno") else fd, kind).id


def _assert_gone(ids: dict[str, set[int]], timeout: float = 3.0) -> None:
    """The kernel frees programs and maps after an RCU grace period: poll briefly."""
    deadline = time.monotonic() + timeout
    while True:
        alive = {kind: want & set(syscall.iter_ids(kind)) for kind, want in ids.items()}
        alive = {k: v for k, v in alive.items() if v}
        if not alive or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert not alive, f"kernel objects still alive after close: {alive}"


def test_loaded_attached_and_read_objects_are_all_released(bpf_cc, root):
    obj = bpf_cc(SOURCE)
    ids: dict[str, set[int]] = {"prog": set(), "map": set(), "link": set()}
    coll = load_object(obj)
    with coll:
        ids["prog"] = {_id(p, "prog") for p in coll.programs.values()}
        ids["map"] = {_id(m, "map") for m in coll.maps.values()}
        links = [
            attach_tracepoint(coll.programs["on_tp"], "syscalls", "sys_enter_getppid"),
            attach_raw_tracepoint(coll.programs["on_raw"], "sys_enter"),
            attach_perf_event(coll.programs["on_sample"], PerfType.SOFTWARE, PerfSwConfig.CPU_CLOCK,
                              sample_freq=50),
            attach_iter(coll.programs["on_task"]),
        ]
        for link in links:
            for fd in link.fds:
                if os.readlink(f"/proc/self/fd/{fd.fileno()}").startswith("anon_inode:bpf_link"):
                    ids["link"].add(_id(fd, "link"))
        seen = []
        rings = RingBuffer()
        rings.add(coll.maps["rb"].fileno(), lambda ctx, data, size: seen.append(size))
        perf = PerfBuffer(coll.maps["pb"].fileno(), lambda cpu, data, size: seen.append(size))
        os.getppid()
        rings.poll(1000)
        perf.poll(1000)
        assert seen, "the attached program produced no events"
        rings.close()
        perf.close()
        for link in links:
            link.close()
    assert ids["link"], "expected at least one BPF link among the attachments"
    _assert_gone(ids)


def test_failed_attach_leaves_nothing(bpf_cc, root):
    obj = bpf_cc(SOURCE)
    with load_object(obj) as coll:
        prog_ids = {_id(p, "prog") for p in coll.programs.values()}
        with pytest.raises(LookupError):
            attach_tracepoint(coll.programs["on_tp"], "syscalls", "sys_enter_no_such_call")
    _assert_gone({"prog": prog_ids})
