"""The kernel's user-space ABI for BPF and perf, declared once.

Every structure passed to ``bpf()``, ``perf_event_open()`` or shared with the
kernel through ``mmap`` is declared here for cffi (``ffi``), and every
constant and enumeration the runtime needs is a Python ``IntEnum`` or plain
int here.  Nothing else in the project declares kernel structures.

``union bpf_attr`` is declared as one struct per command (``map_create_attr``,
``prog_load_attr`` ...): the kernel accepts any prefix of the union as long as
the rest is zero, so each call passes exactly the command's own struct.

The declarations are one C text, :data:`CDEF`.  Parsing it at import would
cost ~25 ms (pycparser), so ``_uapi_ffi.py`` holds cffi's pre-parsed form of
it (out-of-line ABI mode), used only while the text recorded there is
exactly ``CDEF``: after editing ``CDEF`` run
``python3 -m pybpf_dsl.runtime._gen_uapi``; until then imports parse the
text again (slower, never wrong) and ``tests/runtime/test_uapi_gen.py`` fails.
"""

from __future__ import annotations

import os
from enum import IntEnum, IntFlag
from typing import Any

__all__ = ["CDEF", "ffi", "libc", "Cmd", "MapType", "ProgType", "AttachType", "LinkType",
           "PerfType", "PerfSwConfig", "PerfHwConfig", "PerfRecord"]

# Every C declaration of the project.  After editing it, run
#     python3 -m pybpf_dsl.runtime._gen_uapi
# to refresh its pre-parsed copy (_uapi_ffi.py); until then each import parses
# this text with pycparser (~25 ms) and tests/runtime/test_uapi_gen.py fails.
CDEF = r"""
long syscall(long number, ...);
int ioctl(int fd, unsigned long request, ...);
void *mmap(void *addr, size_t length, int prot, int flags, int fd, long offset);
int munmap(void *addr, size_t length);
int close(int fd);
struct timespec { long tv_sec; long tv_nsec; };
struct itimerspec { struct timespec it_interval; struct timespec it_value; };
int timerfd_create(int clockid, int flags);
int timerfd_settime(int fd, int flags, const struct itimerspec *new_value, struct itimerspec *old_value);

/* ---- union bpf_attr, one struct per command ---- */
struct map_create_attr {
    uint32_t map_type, key_size, value_size, max_entries, map_flags, inner_map_fd, numa_node;
    char map_name[16];
    uint32_t map_ifindex, btf_fd, btf_key_type_id, btf_value_type_id, btf_vmlinux_value_type_id;
    uint64_t map_extra;
};
struct map_elem_attr {
    uint32_t map_fd; uint32_t _pad;
    uint64_t key;
    uint64_t value;          /* or next_key */
    uint64_t flags;
};
struct map_batch_attr {
    uint64_t in_batch, out_batch, keys, values;
    uint32_t count, map_fd;
    uint64_t elem_flags, flags;
};
struct prog_load_attr {
    uint32_t prog_type, insn_cnt;
    uint64_t insns, license;
    uint32_t log_level, log_size;
    uint64_t log_buf;
    uint32_t kern_version, prog_flags;
    char prog_name[16];
    uint32_t prog_ifindex, expected_attach_type, prog_btf_fd, func_info_rec_size;
    uint64_t func_info;
    uint32_t func_info_cnt, line_info_rec_size;
    uint64_t line_info;
    uint32_t line_info_cnt, attach_btf_id;
    uint32_t attach_prog_fd;  /* or attach_btf_obj_fd */
    uint32_t core_relo_cnt;
    uint64_t fd_array, core_relos;
    uint32_t core_relo_rec_size, log_true_size;
};
struct obj_pin_attr {
    uint64_t pathname;
    uint32_t bpf_fd, file_flags;
};
struct prog_attach_attr {
    uint32_t target_fd, attach_bpf_fd, attach_type, attach_flags, replace_bpf_fd, relative_fd;
    uint64_t expected_revision;
};
struct test_run_attr {
    uint32_t prog_fd, retval, data_size_in, data_size_out;
    uint64_t data_in, data_out;
    uint32_t repeat, duration, ctx_size_in, ctx_size_out;
    uint64_t ctx_in, ctx_out;
    uint32_t flags, cpu, batch_size, _pad;
};
struct get_id_attr {
    uint32_t start_id;       /* or prog_id / map_id / btf_id / link_id */
    uint32_t next_id, open_flags, _pad;
};
struct info_attr {
    uint32_t bpf_fd, info_len;
    uint64_t info;
};
struct raw_tp_attr {
    uint64_t name;
    uint32_t prog_fd, _pad;
    uint64_t cookie;
};
struct btf_load_attr {
    uint64_t btf, btf_log_buf;
    uint32_t btf_size, btf_log_size, btf_log_level, btf_log_true_size;
};
struct task_fd_query_attr {
    uint32_t pid, fd, flags, buf_len;
    uint64_t buf;
    uint32_t prog_id, fd_type;
    uint64_t probe_offset, probe_addr;
};
struct link_create_attr {
    uint32_t prog_fd;         /* or map_fd for struct_ops */
    uint32_t target_fd;       /* or target_ifindex */
    uint32_t attach_type, flags;
    union {
        uint32_t target_btf_id;
        struct { uint64_t iter_info; uint32_t iter_info_len; } iter;
        struct { uint64_t bpf_cookie; } perf_event;
        struct { uint32_t flags, cnt; uint64_t syms, addrs, cookies; } kprobe_multi;
        struct { uint32_t target_btf_id; uint32_t _pad; uint64_t cookie; } tracing;
        struct { uint32_t relative_fd; uint32_t _pad; uint64_t expected_revision; } tcx;
        struct { uint64_t path, offsets, ref_ctr_offsets, cookies;
                 uint32_t cnt, flags, pid, path_fd; } uprobe_multi;
    };
};
struct link_detach_attr { uint32_t link_fd; };
struct iter_create_attr { uint32_t link_fd, flags; };
struct enable_stats_attr { uint32_t type; };
struct prog_bind_map_attr { uint32_t prog_fd, map_fd, flags; };
struct prog_query_attr {
    uint32_t target_fd, attach_type, query_flags, attach_flags;
    uint64_t prog_ids;
    uint32_t prog_cnt, _pad;
    uint64_t prog_attach_flags, link_ids, link_attach_flags, revision;
};

/* ---- BPF_OBJ_GET_INFO_BY_FD results ---- */
struct bpf_prog_info {
    uint32_t type, id;
    uint8_t tag[8];
    uint32_t jited_prog_len, xlated_prog_len;
    uint64_t jited_prog_insns, xlated_prog_insns, load_time;
    uint32_t created_by_uid, nr_map_ids;
    uint64_t map_ids;
    char name[16];
    uint32_t ifindex, gpl_compatible;
    uint64_t netns_dev, netns_ino;
    uint32_t nr_jited_ksyms, nr_jited_func_lens;
    uint64_t jited_ksyms, jited_func_lens;
    uint32_t btf_id, func_info_rec_size;
    uint64_t func_info;
    uint32_t nr_func_info, nr_line_info;
    uint64_t line_info, jited_line_info;
    uint32_t nr_jited_line_info, line_info_rec_size, jited_line_info_rec_size, nr_prog_tags;
    uint64_t prog_tags, run_time_ns, run_cnt, recursion_misses;
    uint32_t verified_insns, attach_btf_obj_id, attach_btf_id, _pad;
};
struct bpf_map_info {
    uint32_t type, id, key_size, value_size, max_entries, map_flags;
    char name[16];
    uint32_t ifindex, btf_vmlinux_value_type_id;
    uint64_t netns_dev, netns_ino;
    uint32_t btf_id, btf_key_type_id, btf_value_type_id, btf_vmlinux_id;
    uint64_t map_extra;
};
struct bpf_btf_info {
    uint64_t btf;
    uint32_t btf_size, id;
    uint64_t name;
    uint32_t name_len, kernel_btf;
};
struct bpf_link_info {
    uint32_t type, id, prog_id, _pad;
    uint8_t detail[64];
};

/* ---- program instructions and BTF.ext records ---- */
struct bpf_insn { uint8_t code; uint8_t regs; int16_t off; int32_t imm; };
struct bpf_func_info { uint32_t insn_off, type_id; };
struct bpf_line_info { uint32_t insn_off, file_name_off, line_off, line_col; };

/* ---- perf ---- */
struct perf_event_attr {
    uint32_t type, size;
    uint64_t config;
    uint64_t sample_period;  /* or sample_freq when PERF_ATTR_FLAG_FREQ */
    uint64_t sample_type, read_format;
    uint64_t flags;          /* the disabled:1, inherit:1, ... bitfield word */
    uint32_t wakeup_events;  /* or wakeup_watermark */
    uint32_t bp_type;
    uint64_t config1;        /* bp_addr, kprobe_func, uprobe_path */
    uint64_t config2;        /* bp_len, kprobe_addr, probe_offset */
    uint64_t branch_sample_type, sample_regs_user;
    uint32_t sample_stack_user;
    int32_t clockid;
    uint64_t sample_regs_intr;
    uint32_t aux_watermark;
    uint16_t sample_max_stack, _reserved_2;
    uint32_t aux_sample_size, aux_action;
    uint64_t sig_data;
};
struct perf_event_mmap_page {
    uint32_t version, compat_version, lock, index;
    int64_t offset;
    uint64_t time_enabled, time_running, capabilities;
    uint16_t pmc_width, time_shift;
    uint32_t time_mult;
    uint64_t time_offset, time_zero;
    uint32_t size, _reserved_1;
    uint64_t time_cycles, time_mask;
    uint8_t _reserved[928];
    uint64_t data_head, data_tail, data_offset, data_size;
    uint64_t aux_head, aux_tail, aux_offset, aux_size;
};
struct perf_event_header { uint32_t type; uint16_t misc, size; };

/* ---- rtnetlink (XDP and tc attach through netlink) ---- */
struct nlmsghdr { uint32_t nlmsg_len; uint16_t nlmsg_type, nlmsg_flags; uint32_t nlmsg_seq, nlmsg_pid; };
struct nlattr { uint16_t nla_len, nla_type; };
struct ifinfomsg { uint8_t ifi_family, _pad; uint16_t ifi_type; int32_t ifi_index;
                   uint32_t ifi_flags, ifi_change; };
struct tcmsg { uint8_t tcm_family, _pad1; uint16_t _pad2; int32_t tcm_ifindex;
               uint32_t tcm_handle, tcm_parent, tcm_info; };

/* ---- BPF iterator link parameters (BPF_LINK_CREATE iter.iter_info) ---- */
union bpf_iter_link_info {
    struct { uint32_t map_fd; } map;
    struct { uint32_t order, cgroup_fd; uint64_t cgroup_id; } cgroup;
    struct { uint32_t tid, pid, pid_fd; } task;
};
"""


def _ffi_for(cdef: str) -> Any:
    """The cffi FFI declaring ``cdef``: the pre-parsed one when it was generated from this exact text."""
    try:
        from . import _uapi_ffi
    except ImportError:  # absent, or written for another cffi version
        pass
    else:
        if _uapi_ffi.CDEF == cdef:
            return _uapi_ffi.ffi
    import cffi

    parsed = cffi.FFI()
    parsed.cdef(cdef)
    return parsed


ffi = _ffi_for(CDEF)
libc = ffi.dlopen(None)

# ---- syscall numbers (x86_64; aarch64 in the second column) ----
_MACHINE = os.uname().machine
if _MACHINE in ("aarch64", "arm64"):
    SYS_bpf, SYS_perf_event_open, SYS_pidfd_open = 280, 241, 434
else:
    SYS_bpf, SYS_perf_event_open, SYS_pidfd_open = 321, 298, 434

BPF_OBJ_NAME_LEN = 16
BPF_TAG_SIZE = 8


class Cmd(IntEnum):
    """``enum bpf_cmd``."""
    MAP_CREATE = 0
    MAP_LOOKUP_ELEM = 1
    MAP_UPDATE_ELEM = 2
    MAP_DELETE_ELEM = 3
    MAP_GET_NEXT_KEY = 4
    PROG_LOAD = 5
    OBJ_PIN = 6
    OBJ_GET = 7
    PROG_ATTACH = 8
    PROG_DETACH = 9
    PROG_TEST_RUN = 10
    PROG_GET_NEXT_ID = 11
    MAP_GET_NEXT_ID = 12
    PROG_GET_FD_BY_ID = 13
    MAP_GET_FD_BY_ID = 14
    OBJ_GET_INFO_BY_FD = 15
    PROG_QUERY = 16
    RAW_TRACEPOINT_OPEN = 17
    BTF_LOAD = 18
    BTF_GET_FD_BY_ID = 19
    TASK_FD_QUERY = 20
    MAP_LOOKUP_AND_DELETE_ELEM = 21
    MAP_FREEZE = 22
    BTF_GET_NEXT_ID = 23
    MAP_LOOKUP_BATCH = 24
    MAP_LOOKUP_AND_DELETE_BATCH = 25
    MAP_UPDATE_BATCH = 26
    MAP_DELETE_BATCH = 27
    LINK_CREATE = 28
    LINK_UPDATE = 29
    LINK_GET_FD_BY_ID = 30
    LINK_GET_NEXT_ID = 31
    ENABLE_STATS = 32
    ITER_CREATE = 33
    LINK_DETACH = 34
    PROG_BIND_MAP = 35


class MapType(IntEnum):
    """``enum bpf_map_type``."""
    UNSPEC = 0
    HASH = 1
    ARRAY = 2
    PROG_ARRAY = 3
    PERF_EVENT_ARRAY = 4
    PERCPU_HASH = 5
    PERCPU_ARRAY = 6
    STACK_TRACE = 7
    CGROUP_ARRAY = 8
    LRU_HASH = 9
    LRU_PERCPU_HASH = 10
    LPM_TRIE = 11
    ARRAY_OF_MAPS = 12
    HASH_OF_MAPS = 13
    DEVMAP = 14
    SOCKMAP = 15
    CPUMAP = 16
    XSKMAP = 17
    SOCKHASH = 18
    CGROUP_STORAGE = 19
    REUSEPORT_SOCKARRAY = 20
    PERCPU_CGROUP_STORAGE = 21
    QUEUE = 22
    STACK = 23
    SK_STORAGE = 24
    DEVMAP_HASH = 25
    STRUCT_OPS = 26
    RINGBUF = 27
    INODE_STORAGE = 28
    TASK_STORAGE = 29
    BLOOM_FILTER = 30
    USER_RINGBUF = 31
    CGRP_STORAGE = 32
    ARENA = 33


class ProgType(IntEnum):
    """``enum bpf_prog_type``."""
    UNSPEC = 0
    SOCKET_FILTER = 1
    KPROBE = 2
    SCHED_CLS = 3
    SCHED_ACT = 4
    TRACEPOINT = 5
    XDP = 6
    PERF_EVENT = 7
    CGROUP_SKB = 8
    CGROUP_SOCK = 9
    LWT_IN = 10
    LWT_OUT = 11
    LWT_XMIT = 12
    SOCK_OPS = 13
    SK_SKB = 14
    CGROUP_DEVICE = 15
    SK_MSG = 16
    RAW_TRACEPOINT = 17
    CGROUP_SOCK_ADDR = 18
    LWT_SEG6LOCAL = 19
    LIRC_MODE2 = 20
    SK_REUSEPORT = 21
    FLOW_DISSECTOR = 22
    CGROUP_SYSCTL = 23
    RAW_TRACEPOINT_WRITABLE = 24
    CGROUP_SOCKOPT = 25
    TRACING = 26
    STRUCT_OPS = 27
    EXT = 28
    LSM = 29
    SK_LOOKUP = 30
    SYSCALL = 31
    NETFILTER = 32


class AttachType(IntEnum):
    """``enum bpf_attach_type``."""
    CGROUP_INET_INGRESS = 0
    CGROUP_INET_EGRESS = 1
    CGROUP_INET_SOCK_CREATE = 2
    CGROUP_SOCK_OPS = 3
    SK_SKB_STREAM_PARSER = 4
    SK_SKB_STREAM_VERDICT = 5
    CGROUP_DEVICE = 6
    SK_MSG_VERDICT = 7
    CGROUP_INET4_BIND = 8
    CGROUP_INET6_BIND = 9
    CGROUP_INET4_CONNECT = 10
    CGROUP_INET6_CONNECT = 11
    CGROUP_INET4_POST_BIND = 12
    CGROUP_INET6_POST_BIND = 13
    CGROUP_UDP4_SENDMSG = 14
    CGROUP_UDP6_SENDMSG = 15
    LIRC_MODE2 = 16
    FLOW_DISSECTOR = 17
    CGROUP_SYSCTL = 18
    CGROUP_UDP4_RECVMSG = 19
    CGROUP_UDP6_RECVMSG = 20
    CGROUP_GETSOCKOPT = 21
    CGROUP_SETSOCKOPT = 22
    TRACE_RAW_TP = 23
    TRACE_FENTRY = 24
    TRACE_FEXIT = 25
    MODIFY_RETURN = 26
    LSM_MAC = 27
    TRACE_ITER = 28
    CGROUP_INET4_GETPEERNAME = 29
    CGROUP_INET6_GETPEERNAME = 30
    CGROUP_INET4_GETSOCKNAME = 31
    CGROUP_INET6_GETSOCKNAME = 32
    XDP_DEVMAP = 33
    CGROUP_INET_SOCK_RELEASE = 34
    XDP_CPUMAP = 35
    SK_LOOKUP = 36
    XDP = 37
    SK_SKB_VERDICT = 38
    SK_REUSEPORT_SELECT = 39
    SK_REUSEPORT_SELECT_OR_MIGRATE = 40
    PERF_EVENT = 41
    TRACE_KPROBE_MULTI = 42
    LSM_CGROUP = 43
    STRUCT_OPS = 44
    NETFILTER = 45
    TCX_INGRESS = 46
    TCX_EGRESS = 47
    TRACE_UPROBE_MULTI = 48
    CGROUP_UNIX_CONNECT = 49
    CGROUP_UNIX_SENDMSG = 50
    CGROUP_UNIX_RECVMSG = 51
    CGROUP_UNIX_GETPEERNAME = 52
    CGROUP_UNIX_GETSOCKNAME = 53
    NETKIT_PRIMARY = 54
    NETKIT_PEER = 55
    TRACE_KPROBE_SESSION = 56


class LinkType(IntEnum):
    """``enum bpf_link_type``."""
    UNSPEC = 0
    RAW_TRACEPOINT = 1
    TRACING = 2
    CGROUP = 3
    ITER = 4
    NETNS = 5
    XDP = 6
    PERF_EVENT = 7
    KPROBE_MULTI = 8
    STRUCT_OPS = 9
    NETFILTER = 10
    TCX = 11
    UPROBE_MULTI = 12
    NETKIT = 13
    SOCKMAP = 14


# ---- map flags (BPF_MAP_CREATE) ----
BPF_F_NO_PREALLOC = 1 << 0
BPF_F_NO_COMMON_LRU = 1 << 1
BPF_F_NUMA_NODE = 1 << 2
BPF_F_RDONLY = 1 << 3
BPF_F_WRONLY = 1 << 4
BPF_F_ZERO_SEED = 1 << 6
BPF_F_RDONLY_PROG = 1 << 7
BPF_F_WRONLY_PROG = 1 << 8
BPF_F_MMAPABLE = 1 << 10

# ---- element update flags ----
BPF_ANY = 0
BPF_NOEXIST = 1
BPF_EXIST = 2
BPF_F_LOCK = 4

# ---- program load flags ----
BPF_F_STRICT_ALIGNMENT = 1 << 0
BPF_F_ANY_ALIGNMENT = 1 << 1
BPF_F_SLEEPABLE = 1 << 4
BPF_F_XDP_HAS_FRAGS = 1 << 5

# ---- prog attach flags (BPF_PROG_ATTACH) ----
BPF_F_ALLOW_OVERRIDE = 1 << 0
BPF_F_ALLOW_MULTI = 1 << 1
BPF_F_REPLACE = 1 << 2

# ---- helper flags used from user space and in generated code ----
BPF_F_INDEX_MASK = 0xFFFFFFFF
BPF_F_CURRENT_CPU = BPF_F_INDEX_MASK
BPF_F_USER_STACK = 1 << 8
BPF_F_FAST_STACK_CMP = 1 << 9
BPF_F_REUSE_STACKID = 1 << 10
BPF_F_TEST_RUN_ON_CPU = 1 << 0
BPF_F_UPROBE_MULTI_RETURN = 1 << 0

# ---- XDP attach flags ----
XDP_FLAGS_UPDATE_IF_NOEXIST = 1 << 0
XDP_FLAGS_SKB_MODE = 1 << 1
XDP_FLAGS_DRV_MODE = 1 << 2
XDP_FLAGS_HW_MODE = 1 << 3
XDP_FLAGS_REPLACE = 1 << 4

# ---- ring buffer record header ----
BPF_RINGBUF_BUSY_BIT = 1 << 31
BPF_RINGBUF_DISCARD_BIT = 1 << 30
BPF_RINGBUF_HDR_SZ = 8

# ---- BPF instruction encoding used by the loader ----
BPF_LD_IMM64 = 0x18
BPF_CALL = 0x85
BPF_PSEUDO_MAP_FD = 1
BPF_PSEUDO_MAP_VALUE = 2
BPF_PSEUDO_BTF_ID = 3
BPF_PSEUDO_MAP_IDX = 5
BPF_PSEUDO_MAP_IDX_VALUE = 6
BPF_PSEUDO_CALL = 1
BPF_PSEUDO_KFUNC_CALL = 2
BPF_PSEUDO_FUNC = 4

# ---- perf ----


class PerfType(IntEnum):
    """``enum perf_type_id``."""
    HARDWARE = 0
    SOFTWARE = 1
    TRACEPOINT = 2
    HW_CACHE = 3
    RAW = 4
    BREAKPOINT = 5


class PerfHwConfig(IntEnum):
    """``enum perf_hw_id``."""
    CPU_CYCLES = 0
    INSTRUCTIONS = 1
    CACHE_REFERENCES = 2
    CACHE_MISSES = 3
    BRANCH_INSTRUCTIONS = 4
    BRANCH_MISSES = 5
    BUS_CYCLES = 6
    STALLED_CYCLES_FRONTEND = 7
    STALLED_CYCLES_BACKEND = 8
    REF_CPU_CYCLES = 9


class PerfSwConfig(IntEnum):
    """``enum perf_sw_ids``."""
    CPU_CLOCK = 0
    TASK_CLOCK = 1
    PAGE_FAULTS = 2
    CONTEXT_SWITCHES = 3
    CPU_MIGRATIONS = 4
    PAGE_FAULTS_MIN = 5
    PAGE_FAULTS_MAJ = 6
    ALIGNMENT_FAULTS = 7
    EMULATION_FAULTS = 8
    DUMMY = 9
    BPF_OUTPUT = 10


class PerfRecord(IntEnum):
    """``enum perf_event_type`` (records in the mmap ring)."""
    LOST = 2
    SAMPLE = 9


class PerfAttrFlag(IntFlag):
    """Bits of ``perf_event_attr.flags`` (the C bitfield word)."""
    DISABLED = 1 << 0
    INHERIT = 1 << 1
    PINNED = 1 << 2
    EXCLUSIVE = 1 << 3
    EXCLUDE_USER = 1 << 4
    EXCLUDE_KERNEL = 1 << 5
    EXCLUDE_HV = 1 << 6
    EXCLUDE_IDLE = 1 << 7
    MMAP = 1 << 8
    COMM = 1 << 9
    FREQ = 1 << 10
    WATERMARK = 1 << 14


PERF_SAMPLE_RAW = 1 << 10
PERF_FLAG_FD_CLOEXEC = 1 << 3
PERF_ATTR_SIZE = ffi.sizeof("struct perf_event_attr")

# ioctl requests: _IO('$', n) and _IOW('$', n, u32)
PERF_EVENT_IOC_ENABLE = 0x2400
PERF_EVENT_IOC_DISABLE = 0x2401
PERF_EVENT_IOC_SET_BPF = 0x40042408
PERF_EVENT_IOC_SET_FILTER = 0x40082406  # _IOW('$', 6, char *): a tracepoint event's filter

# mmap
PROT_READ = 0x1
PROT_WRITE = 0x2
MAP_SHARED = 0x01
MAP_FAILED = ffi.cast("void *", -1)

# timerfd (the perf buffer's delivery timer)
CLOCK_MONOTONIC = 1
TFD_NONBLOCK = 0o4000
TFD_CLOEXEC = 0o2000000

# ---- rtnetlink (XDP and tc attach through netlink) and socket options ----
NETLINK_ROUTE = 0
SOL_NETLINK = 270
NETLINK_CAP_ACK = 10
NETLINK_EXT_ACK = 11
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_ACK, NLM_F_ECHO = 0x1, 0x4, 0x8
NLM_F_EXCL, NLM_F_CREATE, NLM_F_DUMP = 0x200, 0x400, 0x300
NLM_F_CAPPED, NLM_F_ACK_TLVS = 0x100, 0x200   # flags of an NLMSG_ERROR reply
NLMSGERR_ATTR_MSG = 1
NLA_F_NESTED = 1 << 15
RTM_SETLINK = 19
RTM_NEWQDISC, RTM_DELQDISC = 36, 37
RTM_NEWTFILTER, RTM_DELTFILTER, RTM_GETTFILTER = 44, 45, 46
IFLA_XDP = 43
IFLA_XDP_FD, IFLA_XDP_FLAGS = 1, 3
TCA_KIND, TCA_OPTIONS = 1, 2
TCA_BPF_FD, TCA_BPF_NAME, TCA_BPF_FLAGS = 6, 7, 8
TCA_BPF_FLAG_ACT_DIRECT = 1 << 0
TC_H_CLSACT = 0xFFFFFFF1
TC_H_MIN_INGRESS, TC_H_MIN_EGRESS = 0xFFF2, 0xFFF3
ETH_P_ALL = 0x0003
SO_ATTACH_BPF, SO_DETACH_BPF = 50, 27

# ---- BPF iterator link parameters (BPF_LINK_CREATE iter.iter_info) ----
BPF_CGROUP_ITER_ORDER_UNSPEC, BPF_CGROUP_ITER_SELF_ONLY = 0, 1
BPF_CGROUP_ITER_DESCENDANTS_PRE, BPF_CGROUP_ITER_DESCENDANTS_POST, BPF_CGROUP_ITER_ANCESTORS_UP = 2, 3, 4
