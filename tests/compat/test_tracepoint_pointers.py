"""Implicit probe reads through pointers a tracepoint hands over, as bcc's rewriter makes them.

bcc turns a dereference of a pointer taken from a tracepoint's ``args`` (and
of anything derived from it, also inside the static functions it is passed
to or returned from) into ``bpf_probe_read``; dereferences of the context,
of map values and of the stack stay plain loads.  On x86_64 bcc's
``bpf_probe_read`` also reads user memory, so ``args->filename[0]`` of
syscalls:sys_enter_openat sees the path the process passed.  The shapes
below are those of tcpdrop (``skb = args->skbaddr; sk = skb->sk;`` handed to
a static function), checked in the IR and, for real, in the kernel.
Everything is filtered by this test's pid: others trace on this machine too.
"""

from __future__ import annotations

import os
import re
import socket

import pytest

from compat_c import BPF
from compat_c.frontend import compile_c

PID = os.getpid()
CFLAGS = [f"-DPID={PID}"]
_PROBE_READ = re.compile(r"call i64 inttoptr \(i64 (?:4|113) to ptr\)")

pytestmark = pytest.mark.kernel

# the shape of tcpdrop: a kernel pointer from args, one derived from it, both handed to a
# static function together with args itself; another static function returns a kernel pointer
SOCK_STATE = r"""
#include <net/sock.h>
struct seen_t { u64 dport; u64 family; u64 type; u64 tp_dport; u64 from_map; };
BPF_HASH(seen, u32, struct seen_t);
BPF_ARRAY(bias, u64, 1);

static __attribute__((noinline)) struct socket *socket_of(struct sock *sk)
{
    return sk->sk_socket;
}

static __attribute__((noinline)) u64 map_plus_one(u64 *value)
{
    return *value + 1;                    /* a map value: a plain load */
}

static __attribute__((noinline)) int record(void *ctx, struct sock *sk, struct socket *so)
{
    struct tracepoint__sock__inet_sock_set_state *a = ctx;
    u32 k = 0;
    int zero = 0;
    struct seen_t s = {};
    s.dport = sk->__sk_common.skc_dport;
    s.family = sk->__sk_common.skc_family;
    s.type = so->type;
    s.tp_dport = a->dport;                /* the context itself: a plain load */
    if (socket_of(sk) != so)
        return 0;
    u64 *b = bias.lookup(&zero);
    if (b)
        s.from_map = map_plus_one(b);
    seen.update(&k, &s);
    return 0;
}

TRACEPOINT_PROBE(sock, inet_sock_set_state) {
    if (bpf_get_current_pid_tgid() >> 32 != PID || args->newstate != 2 /* TCP_SYN_SENT */)
        return 0;
    struct sock *sk = (struct sock *)args->skaddr;
    struct socket *so = sk->sk_socket;
    return record(args, sk, so);
}
"""

OPENAT = r"""
struct name_t { char c[16]; };
BPF_HASH(names, u32, struct name_t);

TRACEPOINT_PROBE(syscalls, sys_enter_openat) {
    if (bpf_get_current_pid_tgid() >> 32 != PID)
        return 0;
    struct name_t n = {};
    const char *p = args->filename;
    #pragma unroll
    for (int i = 0; i < 15; i++)
        n.c[i] = p[i];                    /* a user pointer: bcc's bpf_probe_read reads it */
    if (n.c[1] != 'Z')                    /* only this test's path */
        return 0;
    u32 k = 0;
    names.update(&k, &n);
    return 0;
}
"""


def _functions(ir: str) -> dict[str, str]:
    """Function name -> body text of a rewritten IR listing."""
    out = {}
    for m in re.finditer(r"^define [^@]*@([-\w.$]+)\(.*?^}$", ir, re.M | re.S):
        out[m.group(1)] = m.group(0)
    return out


def _loads(body: str) -> list[str]:
    return [ln for ln in body.splitlines() if " = load " in ln and "@\"llvm." not in ln]


def test_reads_follow_pointers_into_static_functions_but_not_ctx_or_map_values():
    obj = compile_c(SOCK_STATE, CFLAGS, listing=True)
    fns = _functions(obj.ir)
    assert {"socket_of", "record", "map_plus_one"} <= fns.keys(), "the static functions must stay calls"
    probe = fns["tracepoint__sock__inet_sock_set_state"]
    assert len(_PROBE_READ.findall(probe)) == 1          # sk->sk_socket; args->skaddr is a plain load
    assert len(_PROBE_READ.findall(fns["socket_of"])) == 1   # its parameter comes from args
    record = fns["record"]
    assert len(_PROBE_READ.findall(record)) == 3         # skc_dport, skc_family, so->type; not a->dport
    assert not _PROBE_READ.search(fns["map_plus_one"])   # a map value is read directly
    assert _loads(fns["map_plus_one"])
    assert obj.meta["helpers"].keys() == {"tracepoint__sock__inet_sock_set_state"}


def test_static_function_result_is_a_kernel_pointer():
    text = r"""
#include <linux/sched.h>
BPF_HASH(out, u32, u64);
static __attribute__((noinline)) struct task_struct *parent_of(struct task_struct *t) { return t->real_parent; }
TRACEPOINT_PROBE(sched, sched_process_exec) {
    struct task_struct *t = (struct task_struct *)bpf_get_current_task();
    u64 v = parent_of(t)->tgid;
    u32 k = 0;
    out.update(&k, &v);
    return 0;
}
"""
    fns = _functions(compile_c(text, listing=True).ir)
    assert len(_PROBE_READ.findall(fns["parent_of"])) == 1
    assert len(_PROBE_READ.findall(fns["tracepoint__sched__sched_process_exec"])) == 1   # ->tgid


def test_tcpdrop_shape_reads_the_socket_in_the_kernel(root):
    with BPF(text=SOCK_STATE, cflags=CFLAGS) as b:
        b["bias"][0] = b["bias"].Leaf(41)
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen(1)
            port = listener.getsockname()[1]
            with socket.create_connection(("127.0.0.1", port)):
                pass
        seen = b["seen"][0]
    assert seen.dport == socket.htons(port) and seen.tp_dport == port
    assert (seen.family, seen.type, seen.from_map) == (socket.AF_INET, socket.SOCK_STREAM, 42)


def test_user_pointer_of_a_syscall_tracepoint_reads_user_memory(root):
    path = f"/Z{PID}/none".encode()
    with BPF(text=OPENAT, cflags=CFLAGS) as b:
        with pytest.raises(FileNotFoundError):
            os.open(path, os.O_RDONLY)
        name = bytes(b["names"][0].c).rstrip(b"\0")
    assert name == path
