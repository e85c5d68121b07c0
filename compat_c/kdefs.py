"""The macros kernel headers define and BTF cannot carry, as a C header.

The kernel's configuration (``CONFIG_*``, what the kernel headers' autoconf.h
holds) comes from /proc/config.gz or /boot/config-RELEASE when either exists
(:func:`render_kconfig`).

BTF holds types and enumerators but no ``#define``: TASK_COMM_LEN, the
x86_64 PT_REGS_* accessors, AF_INET, ETH_P_IP, the task states, BPF flag
words... bcc programs take these from kernel headers, which these machines do
not have.  :func:`render` writes them, skipping any name the kernel already
declares as an enumerator (a macro of the same name would break that enum).

Some of what kernel headers define depends on the kernel's types:
:func:`render_kernel` derives those from BTF (DNAME_INLINE_LEN, the socket
field aliases such as ``sk_state`` for ``__sk_common.skc_state``, the
``tcp_sk``/``inet_sk`` casts) and adds the headers' small inline helpers
(scatterlist, skb header pointers) as macros.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pybpf_dsl.runtime.btf import BTF, BtfType

import errno as _errno
import os
import re

__all__ = ["render", "render_kernel", "dname_inline_len", "render_kconfig", "kconfig_text", "linux_version_code"]

# name -> replacement text; the values are the kernel's (x86_64, 64-bit).
MACROS: dict[str, str] = {
    # sizes
    "TASK_COMM_LEN": "16", "NAME_MAX": "255", "PATH_MAX": "4096", "IFNAMSIZ": "16",
    "PAGE_SHIFT": "12", "PAGE_SIZE": "4096", "MINORBITS": "20", "MINORMASK": "((1U << 20) - 1)",
    "NSEC_PER_SEC": "1000000000ULL", "NSEC_PER_MSEC": "1000000ULL", "NSEC_PER_USEC": "1000ULL",
    "USEC_PER_SEC": "1000000ULL", "USEC_PER_MSEC": "1000ULL", "MSEC_PER_SEC": "1000ULL",
    "ETH_ALEN": "6", "ETH_HLEN": "14", "INET_ADDRSTRLEN": "16", "INET6_ADDRSTRLEN": "48",
    "MAX_ERRNO": "4095", "HZ": "CONFIG_HZ",
    # x86_64 memory layout: the direct map starts at the 4-level base (KASLR moves it up only)
    "__PAGE_OFFSET_BASE_L4": "0xffff888000000000UL", "__PAGE_OFFSET_BASE_L5": "0xff11000000000000UL",
    "PAGE_OFFSET": "__PAGE_OFFSET_BASE_L4", "__START_KERNEL_map": "0xffffffff80000000UL",
    # task state and flags
    "TASK_RUNNING": "0x00000000", "TASK_INTERRUPTIBLE": "0x00000001",
    "TASK_UNINTERRUPTIBLE": "0x00000002", "__TASK_STOPPED": "0x00000004",
    "__TASK_TRACED": "0x00000008", "EXIT_DEAD": "0x00000010", "EXIT_ZOMBIE": "0x00000020",
    "EXIT_TRACE": "(EXIT_ZOMBIE | EXIT_DEAD)", "TASK_PARKED": "0x00000040",
    "TASK_DEAD": "0x00000080", "TASK_WAKEKILL": "0x00000100", "TASK_WAKING": "0x00000200",
    "TASK_NOLOAD": "0x00000400", "TASK_NEW": "0x00000800",
    "TASK_KILLABLE": "(TASK_WAKEKILL | TASK_UNINTERRUPTIBLE)",
    "TASK_STOPPED": "(TASK_WAKEKILL | __TASK_STOPPED)", "TASK_TRACED": "__TASK_TRACED",
    "TASK_IDLE": "(TASK_UNINTERRUPTIBLE | TASK_NOLOAD)", "TASK_REPORT_MAX": "0x100",
    "PF_EXITING": "0x00000004", "PF_KTHREAD": "0x00200000", "PF_WQ_WORKER": "0x00000020",
    # sockets and protocols
    "AF_UNSPEC": "0", "AF_UNIX": "1", "AF_LOCAL": "1", "AF_INET": "2", "AF_INET6": "10",
    "AF_NETLINK": "16", "AF_PACKET": "17", "AF_XDP": "44",
    "PF_UNSPEC": "0", "PF_UNIX": "1", "PF_INET": "2", "PF_INET6": "10", "PF_PACKET": "17",
    "SOCK_STREAM": "1", "SOCK_DGRAM": "2", "SOCK_RAW": "3", "SOCK_SEQPACKET": "5",
    "ETH_P_ALL": "0x0003", "ETH_P_IP": "0x0800", "ETH_P_ARP": "0x0806", "ETH_P_8021Q": "0x8100",
    "ETH_P_IPV6": "0x86DD", "ETH_P_8021AD": "0x88A8", "ETH_P_MPLS_UC": "0x8847",
    "IPPROTO_IP": "0", "IPPROTO_ICMP": "1", "IPPROTO_TCP": "6", "IPPROTO_UDP": "17",
    "IPPROTO_IPV6": "41", "IPPROTO_ICMPV6": "58", "IPPROTO_RAW": "255",
    "TC_ACT_UNSPEC": "(-1)", "TC_ACT_OK": "0", "TC_ACT_RECLASSIFY": "1", "TC_ACT_SHOT": "2",
    "TC_ACT_PIPE": "3", "TC_ACT_STOLEN": "4", "TC_ACT_REDIRECT": "7",
    "SCM_RIGHTS": "0x01", "SCM_CREDENTIALS": "0x02", "SCM_SECURITY": "0x03", "SCM_PIDFD": "0x04",
    # linux/scatterlist.h: the low bits of page_link
    "SG_CHAIN": "0x01UL", "SG_END": "0x02UL", "SG_PAGE_LINK_MASK": "(SG_CHAIN | SG_END)",
    # files
    "O_RDONLY": "00000000", "O_WRONLY": "00000001", "O_RDWR": "00000002", "O_ACCMODE": "00000003",
    "O_CREAT": "00000100", "O_EXCL": "00000200", "O_TRUNC": "00001000", "O_APPEND": "00002000",
    "O_NONBLOCK": "00004000", "O_DSYNC": "00010000", "O_DIRECT": "00040000",
    "O_DIRECTORY": "00200000", "O_CLOEXEC": "02000000",
    "FMODE_READ": "0x1", "FMODE_WRITE": "0x2", "FMODE_LSEEK": "0x4", "FMODE_PREAD": "0x8",
    "FMODE_PWRITE": "0x10", "FMODE_EXEC": "0x20", "FMODE_PATH": "0x4000",
    "FMODE_ATOMIC_POS": "0x8000", "FMODE_WRITER": "0x10000", "FMODE_CAN_READ": "0x20000",
    "FMODE_CAN_WRITE": "0x40000", "FMODE_OPENED": "0x80000", "FMODE_CREATED": "0x100000",
    "FMODE_STREAM": "0x200000",
    "S_IFMT": "00170000", "S_IFSOCK": "0140000", "S_IFLNK": "0120000", "S_IFREG": "0100000",
    "S_IFBLK": "0060000", "S_IFDIR": "0040000", "S_IFCHR": "0020000", "S_IFIFO": "0010000",
    "S_ISLNK(m)": "(((m) & S_IFMT) == S_IFLNK)", "S_ISREG(m)": "(((m) & S_IFMT) == S_IFREG)",
    "S_ISDIR(m)": "(((m) & S_IFMT) == S_IFDIR)", "S_ISCHR(m)": "(((m) & S_IFMT) == S_IFCHR)",
    "S_ISBLK(m)": "(((m) & S_IFMT) == S_IFBLK)", "S_ISFIFO(m)": "(((m) & S_IFMT) == S_IFIFO)",
    "S_ISSOCK(m)": "(((m) & S_IFMT) == S_IFSOCK)",
    "MAJOR(dev)": "((unsigned int)((dev) >> MINORBITS))",
    "MINOR(dev)": "((unsigned int)((dev) & MINORMASK))",
    "MKDEV(ma, mi)": "(((ma) << MINORBITS) | (mi))",
    # block requests
    "REQ_OP_BITS": "8", "REQ_OP_MASK": "((1 << REQ_OP_BITS) - 1)",
    "REQ_FAILFAST_DEV": "(1ULL << __REQ_FAILFAST_DEV)", "REQ_SYNC": "(1ULL << __REQ_SYNC)",
    "REQ_META": "(1ULL << __REQ_META)", "REQ_PRIO": "(1ULL << __REQ_PRIO)",
    "REQ_NOMERGE": "(1ULL << __REQ_NOMERGE)", "REQ_IDLE": "(1ULL << __REQ_IDLE)",
    "REQ_FUA": "(1ULL << __REQ_FUA)", "REQ_PREFLUSH": "(1ULL << __REQ_PREFLUSH)",
    "REQ_RAHEAD": "(1ULL << __REQ_RAHEAD)", "REQ_BACKGROUND": "(1ULL << __REQ_BACKGROUND)",
    "DISK_NAME_LEN": "32",
    # I/O direction (linux/fs.h)
    "READ": "0", "WRITE": "1",
    # BPF flags (the uapi enums usually carry these; the macro is the fallback)
    "BPF_ANY": "0", "BPF_NOEXIST": "1", "BPF_EXIST": "2", "BPF_F_LOCK": "4",
    "BPF_F_NO_PREALLOC": "(1U << 0)", "BPF_F_NO_COMMON_LRU": "(1U << 1)",
    "BPF_F_NUMA_NODE": "(1U << 2)", "BPF_F_RDONLY_PROG": "(1U << 7)",
    "BPF_F_WRONLY_PROG": "(1U << 8)", "BPF_F_STACK_BUILD_ID": "(1U << 5)",
    "BPF_F_INDEX_MASK": "0xffffffffULL", "BPF_F_CURRENT_CPU": "0xffffffffULL",
    "BPF_F_CTXLEN_MASK": "(0xfffffULL << 32)", "BPF_F_SKIP_FIELD_MASK": "0xffULL",
    "BPF_F_USER_STACK": "(1ULL << 8)", "BPF_F_FAST_STACK_CMP": "(1ULL << 9)",
    "BPF_F_REUSE_STACKID": "(1ULL << 10)", "BPF_F_USER_BUILD_ID": "(1ULL << 11)",
    "BPF_RB_NO_WAKEUP": "(1ULL << 0)", "BPF_RB_FORCE_WAKEUP": "(1ULL << 1)",
    "BPF_RB_AVAIL_DATA": "0", "BPF_RB_RING_SIZE": "1", "BPF_RB_CONS_POS": "2",
    "BPF_RB_PROD_POS": "3",
    # x86_64 pt_regs accessors
    "PT_REGS_PARM1(x)": "((x)->di)", "PT_REGS_PARM2(x)": "((x)->si)",
    "PT_REGS_PARM3(x)": "((x)->dx)", "PT_REGS_PARM4(x)": "((x)->cx)",
    "PT_REGS_PARM5(x)": "((x)->r8)", "PT_REGS_PARM6(x)": "((x)->r9)",
    "PT_REGS_PARM4_SYSCALL(x)": "((x)->r10)", "PT_REGS_RET(x)": "((x)->sp)",
    "PT_REGS_FP(x)": "((x)->bp)", "PT_REGS_RC(x)": "((x)->ax)", "PT_REGS_SP(x)": "((x)->sp)",
    "PT_REGS_IP(x)": "((x)->ip)",
    "PT_REGS_SYSCALL_REGS(x)": "((struct pt_regs *)PT_REGS_PARM1(x))",
    # C and kernel idioms
    "NULL": "((void *)0)", "true": "1", "false": "0",
    "offsetof(t, m)": "__builtin_offsetof(t, m)",
    "container_of(p, t, m)": "((t *)((char *)(p) - __builtin_offsetof(t, m)))",
    "likely(x)": "__builtin_expect(!!(x), 1)", "unlikely(x)": "__builtin_expect(!!(x), 0)",
    "barrier()": "__asm__ __volatile__(\"\" ::: \"memory\")",
    "READ_ONCE(x)": "(*(volatile __typeof__(x) *)&(x))",
    "WRITE_ONCE(x, v)": "(*(volatile __typeof__(x) *)&(x) = (v))",
    "ARRAY_SIZE(a)": "(sizeof(a) / sizeof((a)[0]))",
    # linux/minmax.h and linux/math64.h.  Each operand is evaluated once, into a
    # variable named by __COUNTER__ (so min(min(a, b), c) nests); a program that
    # #defines its own min/max replaces these with a redefinition warning at most.
    "__kd_paste2(a, b)": "a##b", "__kd_paste(a, b)": "__kd_paste2(a, b)",
    "__kd_cmp(op, x, y)": "__kd_cmp_once(op, x, y, __kd_paste(__kd_x, __COUNTER__), "
                          "__kd_paste(__kd_y, __COUNTER__))",
    "__kd_cmp_once(op, x, y, ux, uy)": "({ __typeof__(x) ux = (x); __typeof__(y) uy = (y); ux op uy ? ux : uy; })",
    "min(x, y)": "__kd_cmp(<, x, y)", "max(x, y)": "__kd_cmp(>, x, y)",
    "min3(x, y, z)": "min(min(x, y), z)", "max3(x, y, z)": "max(max(x, y), z)",
    "clamp(v, lo, hi)": "min(max(v, lo), hi)",
    "min_t(t, x, y)": "({ t __mt_x = (x); t __mt_y = (y); __mt_x < __mt_y ? __mt_x : __mt_y; })",
    "max_t(t, x, y)": "({ t __mt_x = (x); t __mt_y = (y); __mt_x > __mt_y ? __mt_x : __mt_y; })",
    "clamp_t(t, v, lo, hi)": "min_t(t, max_t(t, v, lo), hi)",
    "div_u64(a, b)": "((__u64)(a) / (__u32)(b))", "div64_u64(a, b)": "((__u64)(a) / (__u64)(b))",
    "div_s64(a, b)": "((__s64)(a) / (__s32)(b))",
    # byte order (x86_64 is little-endian): the libc names and the kernel's
    "htons(x)": "((__u16)__builtin_bswap16((__u16)(x)))", "ntohs(x)": "htons(x)",
    "htonl(x)": "((__u32)__builtin_bswap32((__u32)(x)))", "ntohl(x)": "htonl(x)",
    "cpu_to_be16(x)": "htons(x)", "be16_to_cpu(x)": "htons(x)",
    "cpu_to_be32(x)": "htonl(x)", "be32_to_cpu(x)": "htonl(x)",
    "cpu_to_be64(x)": "((__u64)__builtin_bswap64((__u64)(x)))", "be64_to_cpu(x)": "cpu_to_be64(x)",
    "__constant_htons(x)": "htons(x)", "__constant_htonl(x)": "htonl(x)",
    "__constant_ntohs(x)": "htons(x)", "__constant_ntohl(x)": "htonl(x)",
    "__user": "", "__kernel": "", "__force": "", "__rcu": "", "__percpu": "", "__iomem": "",
    "__bitwise": "", "__must_check": "", "__packed": "__attribute__((packed))",
    "__aligned(x)": "__attribute__((aligned(x)))", "__maybe_unused": "__attribute__((unused))",
    "__always_inline": "inline __attribute__((always_inline))",
    "SEC(name)": "__attribute__((section(name), used))",
    # versions: LINUX_VERSION_CODE itself is per compile (linux_version_code)
    "KERNEL_VERSION(a, b, c)": "(((a) << 16) + ((b) << 8) + ((c) > 255 ? 255 : (c)))",
    # kernel-internal error numbers (include/linux/errno.h); the uapi ones follow
    "ERESTARTSYS": "512", "ERESTARTNOINTR": "513", "ERESTARTNOHAND": "514", "ENOIOCTLCMD": "515",
    "ERESTART_RESTARTBLOCK": "516", "EPROBE_DEFER": "517", "EOPENSTALE": "518", "ENOPARAM": "519",
    "EBADHANDLE": "521", "ENOTSYNC": "522", "EBADCOOKIE": "523", "ENOTSUPP": "524",
    "ETOOSMALL": "525", "ESERVERFAULT": "526", "EBADTYPE": "527", "EJUKEBOX": "528",
    "EIOCBQUEUED": "529", "ERECALLCONFLICT": "530", "ENOGRACE": "531",
}
# The uapi error numbers (asm-generic/errno*.h): Python's errno module holds
# this platform's, which are the kernel's on Linux.
MACROS.update({name: str(getattr(_errno, name)) for name in dir(_errno)
               if name.startswith("E") and isinstance(getattr(_errno, name), int)})

# Field aliases of the kernel's socket headers (net/sock.h, net/inet_sock.h,
# net/inet_timewait_sock.h, net/request_sock.h): alias -> (struct, member path).
# Each is defined only where this kernel's BTF has the path.
_SKC = {"node": "skc_node", "nulls_node": "skc_nulls_node", "refcnt": "skc_refcnt",
        "tx_queue_mapping": "skc_tx_queue_mapping", "rx_queue_mapping": "skc_rx_queue_mapping",
        "dontcopy_begin": "skc_dontcopy_begin", "dontcopy_end": "skc_dontcopy_end",
        "hash": "skc_hash", "portpair": "skc_portpair", "num": "skc_num", "dport": "skc_dport",
        "addrpair": "skc_addrpair", "daddr": "skc_daddr", "rcv_saddr": "skc_rcv_saddr",
        "family": "skc_family", "state": "skc_state", "reuse": "skc_reuse",
        "reuseport": "skc_reuseport", "ipv6only": "skc_ipv6only", "net_refcnt": "skc_net_refcnt",
        "bound_dev_if": "skc_bound_dev_if", "bind_node": "skc_bind_node", "prot": "skc_prot",
        "net": "skc_net", "v6_daddr": "skc_v6_daddr", "v6_rcv_saddr": "skc_v6_rcv_saddr",
        "cookie": "skc_cookie", "incoming_cpu": "skc_incoming_cpu", "flags": "skc_flags",
        "rxhash": "skc_rxhash", "window_clamp": "skc_window_clamp"}
FIELD_ALIASES: dict[str, tuple[str, str]] = {
    **{f"sk_{k}": ("sock", f"__sk_common.{v}") for k, v in _SKC.items()},
    "sk_rmem_alloc": ("sock", "sk_backlog.rmem_alloc"),
    "inet_daddr": ("inet_sock", "sk.__sk_common.skc_daddr"),
    "inet_rcv_saddr": ("inet_sock", "sk.__sk_common.skc_rcv_saddr"),
    "inet_dport": ("inet_sock", "sk.__sk_common.skc_dport"),
    "inet_num": ("inet_sock", "sk.__sk_common.skc_num"),
    **{f"tw_{k}": ("inet_timewait_sock", f"__tw_common.skc_{k}")
       for k in ("family", "state", "reuse", "reuseport", "ipv6only", "bound_dev_if", "bind_node",
                 "refcnt", "hash", "prot", "net", "daddr", "v6_daddr", "rcv_saddr", "v6_rcv_saddr",
                 "dport", "num", "cookie")},
    "tw_node": ("inet_timewait_sock", "__tw_common.skc_nulls_node"),
    "tw_dr": ("inet_timewait_sock", "__tw_common.skc_tw_dr"),
    **{f"rsk_{k}": ("request_sock", f"__req_common.skc_{k}")
       for k in ("refcnt", "hash", "listener", "window_clamp", "rcv_wnd")},
    "ir_loc_addr": ("inet_request_sock", "req.__req_common.skc_rcv_saddr"),
    "ir_rmt_addr": ("inet_request_sock", "req.__req_common.skc_daddr"),
    "ir_num": ("inet_request_sock", "req.__req_common.skc_num"),
    "ir_rmt_port": ("inet_request_sock", "req.__req_common.skc_dport"),
    "ir_v6_rmt_addr": ("inet_request_sock", "req.__req_common.skc_v6_daddr"),
    "ir_v6_loc_addr": ("inet_request_sock", "req.__req_common.skc_v6_rcv_saddr"),
    "ir_iif": ("inet_request_sock", "req.__req_common.skc_bound_dev_if"),
    "ir_cookie": ("inet_request_sock", "req.__req_common.skc_cookie"),
    "ireq_net": ("inet_request_sock", "req.__req_common.skc_net"),
    "ireq_state": ("inet_request_sock", "req.__req_common.skc_state"),
    "ireq_family": ("inet_request_sock", "req.__req_common.skc_family"),
}

# The kernel's socket casts (static inline functions in its headers):
# name -> (struct, path of the embedded socket it is cast from).  The
# embedded socket sits at offset 0, which the kernel relies on too.
SOCK_CASTS: dict[str, tuple[str, str]] = {
    "inet_sk": ("inet_sock", "sk"), "inet_csk": ("inet_connection_sock", "icsk_inet.sk"),
    "tcp_sk": ("tcp_sock", "inet_conn.icsk_inet.sk"), "udp_sk": ("udp_sock", "inet.sk"),
    "raw_sk": ("raw_sock", "inet.sk"), "unix_sk": ("unix_sock", "sk"),
    "inet_twsk": ("inet_timewait_sock", "__tw_common"),
    "tcp_twsk": ("tcp_timewait_sock", "tw_sk.__tw_common"),
    "inet_rsk": ("inet_request_sock", "req"), "tcp_rsk": ("tcp_request_sock", "req.req"),
}

# Inline helpers of the kernel's headers that need nothing from BTF beyond
# the types they name (these stay out of every program's type selection).
INLINES: dict[str, str] = {
    # linux/scatterlist.h
    "sg_is_chain(sg)": "((sg)->page_link & SG_CHAIN)",
    "sg_is_last(sg)": "((sg)->page_link & SG_END)",
    "sg_chain_ptr(sg)": "((struct scatterlist *)((sg)->page_link & ~SG_PAGE_LINK_MASK))",
    "sg_next(sg)": "({ struct scatterlist *__kd_sg = (sg); sg_is_last(__kd_sg) ? (struct scatterlist *)0 : "
                   "sg_is_chain(__kd_sg + 1) ? sg_chain_ptr(__kd_sg + 1) : __kd_sg + 1; })",
    # linux/skbuff.h, linux/ip.h, linux/ipv6.h, linux/tcp.h, linux/udp.h
    "skb_network_header(skb)": "((skb)->head + (skb)->network_header)",
    "skb_transport_header(skb)": "((skb)->head + (skb)->transport_header)",
    "skb_mac_header(skb)": "((skb)->head + (skb)->mac_header)",
    "ip_hdr(skb)": "((struct iphdr *)skb_network_header(skb))",
    "ipv6_hdr(skb)": "((struct ipv6hdr *)skb_network_header(skb))",
    "tcp_hdr(skb)": "((struct tcphdr *)skb_transport_header(skb))",
    "udp_hdr(skb)": "((struct udphdr *)skb_transport_header(skb))",
}


def _define(name: str, value: str) -> str:
    return f"#ifndef {name.split('(', 1)[0]}\n#define {name} {value}\n#endif"


def _member_at(btf: BTF, type_id: int, path: str) -> tuple[int, int] | None:
    """``(byte offset, type id)`` of the member ``path`` (``a.b.c``) of a struct, or None.

    Anonymous struct and union members are looked through, as C does.
    """
    offset = 0
    for name in path.split("."):
        found = _find_member(btf, btf.resolve(type_id), name)
        if found is None:
            return None
        bits, type_id = found
        offset += bits // 8
    return offset, type_id


def _find_member(btf: BTF, t: BtfType, name: str) -> tuple[int, int] | None:
    from pybpf_dsl.runtime.btf import Kind

    if t.kind not in (Kind.STRUCT, Kind.UNION):
        return None
    for m in t.members:
        if m.name == name:
            return m.bit_offset, m.type_id
        if not m.name:
            inner = _find_member(btf, btf.resolve(m.type_id), name)
            if inner is not None:
                return m.bit_offset + inner[0], inner[1]
    return None


def _struct_id(btf: BTF, name: str) -> int | None:
    from pybpf_dsl.runtime.btf import Kind

    try:
        return btf.find_id(name, Kind.STRUCT)
    except KeyError:
        return None


def dname_inline_len(btf: BTF) -> int | None:
    """DNAME_INLINE_LEN: the length of ``struct dentry``'s inline name (``d_iname``, from 6.14
    ``d_shortname.string``); None if the kernel has neither."""
    dentry = _struct_id(btf, "dentry")
    if dentry is None:
        return None
    for path in ("d_shortname.string", "d_iname"):
        found = _member_at(btf, dentry, path)
        if found is not None:
            return btf.resolve(found[1]).array[2]
    return None


def render_kernel(btf: BTF, taken: set[str], called: set[str]) -> str:
    """``#define`` lines for what kernel headers define from their types: DNAME_INLINE_LEN, the
    socket field aliases and casts, and :data:`INLINES`.

    ``taken`` is every word of the kernel types header and ``called`` every
    word followed by ``(`` there: an object-like macro named in ``taken``
    (a real member, type or enumerator name) or a function-like one in
    ``called`` would rewrite the kernel's own declarations, so it is left out.
    """
    lines = []
    size = dname_inline_len(btf)
    if size is not None:
        lines.append(_define("DNAME_INLINE_LEN", str(size)))
    for alias, (struct, path) in FIELD_ALIASES.items():
        sid = _struct_id(btf, struct)
        if alias not in taken and sid is not None and _member_at(btf, sid, path) is not None:
            lines.append(_define(alias, path))
    for name, (struct, path) in SOCK_CASTS.items():
        sid = _struct_id(btf, struct)
        embedded = _member_at(btf, sid, path) if sid is not None else None
        if name not in called and embedded is not None and embedded[0] == 0:
            lines.append(_define(f"{name}(sk)", f"((struct {struct} *)(sk))"))
    for name, value in INLINES.items():
        if name.split("(", 1)[0] not in called:
            lines.append(_define(name, value))
    return "\n".join(lines) + "\n"


def render(enumerators: Iterable[str]) -> str:
    """``#define`` lines for every macro whose name is not a kernel enumerator."""
    taken = set(enumerators)
    lines = [_define(name, value) for name, value in MACROS.items() if name.split("(", 1)[0] not in taken]
    return "\n".join(lines) + "\n"


def linux_version_code() -> int:
    """LINUX_VERSION_CODE: $BCC_LINUX_VERSION_CODE as bcc reads it, else the running kernel's.

    The kernel's encoding is ``(VERSION << 16) + (PATCHLEVEL << 8) + SUBLEVEL``
    with the sublevel capped at 255.
    """
    given = os.environ.get("BCC_LINUX_VERSION_CODE")
    if given:
        try:
            return int(given, 0)
        except ValueError:
            raise ValueError(f"BCC_LINUX_VERSION_CODE={given!r} is not a number: set it to "
                             "VERSION * 65536 + PATCHLEVEL * 256 + SUBLEVEL (4.9.10 is 264458)") from None
    m = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", os.uname().release)
    a, b, c = (int(g or 0) for g in m.groups()) if m else (0, 0, 0)
    return (a << 16) + (b << 8) + min(c, 255)


def kconfig_text() -> str:
    """The running kernel's .config (/proc/config.gz, else /boot/config-RELEASE; "" if neither)."""
    import gzip

    try:
        with gzip.open("/proc/config.gz", "rt") as f:
            return f.read()
    except OSError:
        pass
    try:
        with open(f"/boot/config-{os.uname().release}") as f:
            return f.read()
    except OSError:
        return ""


def render_kconfig(config: str) -> str:
    """``#define`` lines for a .config, as the kernel's generated autoconf.h spells them.

    ``CONFIG_X=y`` -> ``CONFIG_X 1``; ``=m`` -> ``CONFIG_X_MODULE 1``; numbers
    and strings keep their value; ``=n`` and comments define nothing.
    """
    lines = []
    for line in config.splitlines():
        name, sep, value = line.partition("=")
        if not sep or not name.startswith("CONFIG_") or not name.isidentifier():
            continue
        if value == "y":
            lines.append(f"#define {name} 1")
        elif value == "m":
            lines.append(f"#define {name}_MODULE 1")
        elif value and value != "n":
            lines.append(f"#define {name} {value}")
    return "".join(f"{line}\n" for line in lines)
