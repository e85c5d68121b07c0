"""compat_c's C pipeline against the real kernel: bcc C text -> object -> loaded programs.

The sources are the bcc Reference Guide's examples (the seed), plus programs
that check semantics by running in the kernel: BPF_PROG_TEST_RUN of a
sleepable SYSCALL program (which runs as this process), and tracepoints
attached for a moment and filtered by this test's pid.
"""

from __future__ import annotations

import io
import os
import struct
from contextlib import contextmanager

import pytest

from compat_c import compile_c
from pybpf_dsl.errors import AttachTargetNotFound, CompileError
from pybpf_dsl.runtime.loader import load_object
from pybpf_dsl.runtime.uapi import BPF_F_SLEEPABLE, MapType, ProgType

pytestmark = pytest.mark.kernel


@contextmanager
def loaded(src: str, types: dict[str, ProgType], **kw):
    obj = compile_c(src, **kw)
    with load_object(obj.data, prog_types=types) as coll:
        yield obj, coll


def u64s(m, keys, fmt="<i"):
    return [struct.unpack("<Q", m.get(struct.pack(fmt, k)))[0] for k in keys]


# ---------------------------------------------------------------- seed examples

SEED = {
    "uprobe_parm": ("""
int count(struct pt_regs *ctx) {
    char buf[64];
    bpf_probe_read_user(&buf, sizeof(buf), (void *)PT_REGS_PARM1(ctx));
    bpf_trace_printk("%s %d", buf, PT_REGS_PARM2(ctx));
    return(0);
}""", {"count": ProgType.KPROBE}),
    "uretprobe_hist": ("""
BPF_HISTOGRAM(dist);
int count(struct pt_regs *ctx) {
    dist.increment(PT_REGS_RC(ctx));
    return 0;
}""", {"count": ProgType.KPROBE}),
    "raw_tracepoint": ("""
RAW_TRACEPOINT_PROBE(sched_switch)
{
    // TP_PROTO(bool preempt, struct task_struct *prev, struct task_struct *next)
    struct task_struct *prev = (struct task_struct *)ctx->args[1];
    struct task_struct *next= (struct task_struct *)ctx->args[2];
    s32 prev_tgid, next_tgid;

    bpf_probe_read_kernel(&prev_tgid, sizeof(prev->tgid), &prev->tgid);
    bpf_probe_read_kernel(&next_tgid, sizeof(next->tgid), &next->tgid);
    bpf_trace_printk("%d -> %d\\n", prev_tgid, next_tgid);
    return 0;
}""", {}),
    "syscall_prefix": ("""
int syscall__execve(struct pt_regs *ctx,
    const char __user *filename,
    const char __user *const __user *__argv,
    const char __user *const __user *__envp)
{
    char buf[32];
    bpf_probe_read_user_str(buf, sizeof(buf), filename);
    bpf_trace_printk("%s\\n", buf);
    return 0;
}""", {"syscall__execve": ProgType.KPROBE}),
    "kprobe_args": ("""
#include <net/sock.h>
BPF_HASH(start, struct sock *);
int kprobe__tcp_v4_connect(struct pt_regs *ctx, struct sock *sk) {
    u64 ts = bpf_ktime_get_ns();
    u16 family = sk->__sk_common.skc_family;
    if (family == AF_INET)
        start.update(&sk, &ts);
    return 0;
}""", {}),
    "current_task": ("""
#include <linux/sched.h>
int do_trace(void *ctx) {
    struct task_struct *t = (struct task_struct *)bpf_get_current_task();
    bpf_trace_printk("%d\\n", t->real_parent->tgid);
    return 0;
}""", {"do_trace": ProgType.KPROBE}),
    "perf_output": ("""
#include <linux/sched.h>
struct data_t {
    u32 pid;
    u64 ts;
    char comm[TASK_COMM_LEN];
};
BPF_PERF_OUTPUT(events);

int hello(struct pt_regs *ctx) {
    struct data_t data = {};

    data.pid = bpf_get_current_pid_tgid();
    data.ts = bpf_ktime_get_ns();
    bpf_get_current_comm(&data.comm, sizeof(data.comm));

    events.perf_submit(ctx, &data, sizeof(data));

    return 0;
}""", {"hello": ProgType.KPROBE}),
    "ringbuf": ("""
struct data_t {
    u32 pid;
    u64 ts;
    char comm[TASK_COMM_LEN];
};
BPF_RINGBUF_OUTPUT(events, 8);

int first_api_example(struct pt_regs *ctx) {
    struct data_t data = {};
    data.pid = bpf_get_current_pid_tgid();
    data.ts = bpf_ktime_get_ns();
    bpf_get_current_comm(&data.comm, sizeof(data.comm));
    events.ringbuf_output(&data, sizeof(data), 0 /* flags */);
    return 0;
}

int second_api_example(struct pt_regs *ctx) {
    struct data_t *data = events.ringbuf_reserve(sizeof(struct data_t));
    if (!data) { // Failed to reserve space
        return 1;
    }
    data->pid = bpf_get_current_pid_tgid();
    data->ts = bpf_ktime_get_ns();
    bpf_get_current_comm(&data->comm, sizeof(data->comm));
    events.ringbuf_submit(data, 0 /* flags */);
    return 0;
}""", {"first_api_example": ProgType.KPROBE, "second_api_example": ProgType.KPROBE}),
    "tables": ("""
#include <linux/blkdev.h>
struct key_v6 { u32 prefixlen; u8 data[16]; };
struct event { u32 pid; u64 ts; };
BPF_HASH(start, struct request *);
BPF_ARRAY(counts, u64, 32);
BPF_PERCPU_HASH(pstart, struct request *);
BPF_PERCPU_ARRAY(pcounts, u64, 32);
BPF_LPM_TRIE(trie, struct key_v6);
BPF_STACK_TRACE(stack_traces, 1024);
BPF_TABLE("lru_hash", u32, u64, lru, 128);
BPF_F_TABLE("hash", u32, u64, nopre, 128, BPF_F_NO_PREALLOC);
BPF_QUEUE(queue, struct event, 1024);
BPF_STACK(stack, struct event, 1024);
BPF_PROG_ARRAY(prog_array, 10);
int use(struct pt_regs *ctx) {
    struct request *req = (struct request *)PT_REGS_PARM1(ctx);
    u64 ts = bpf_ktime_get_ns(), zero = 0, *v;
    int i = 3;
    start.update(&req, &ts);
    v = counts.lookup(&i);
    if (v) lock_xadd(v, 1);
    pstart.insert(&req, &ts);
    v = pcounts.lookup_or_try_init(&i, &zero);
    if (v) (*v)++;
    struct key_v6 k = {.prefixlen = 128};
    trie.lookup(&k);
    int id = stack_traces.get_stackid(ctx, BPF_F_USER_STACK);
    u32 key = id;
    lru.atomic_increment(key);
    nopre.increment(key, 5);
    struct event e = {.pid = key, .ts = ts};
    queue.push(&e, BPF_EXIST);
    stack.push(&e, 0);
    if (queue.pop(&e) == 0) stack.peek(&e);
    start.delete(&req);
    prog_array.call(ctx, 2);
    return 0;
}""", {"use": ProgType.KPROBE}),
    "bpf_iter": ("""
BPF_ITER(task)
{
  struct seq_file *seq = ctx->meta->seq;
  struct task_struct *task = ctx->task;
  if (task == (void *)0)
    return 0;
  if (ctx->meta->seq_num == 0)
    bpf_seq_write(seq, "tgid\\n", 5);
  return 0;
}""", {}),
}


@pytest.mark.parametrize("name", sorted(SEED))
def test_seed_examples_compile_and_load(root, name):
    src, types = SEED[name]
    with loaded(src, types) as (obj, coll):
        expected = set(types) or {n for n in obj.meta["programs"]}
        assert expected <= set(coll.programs)


def test_tables_metadata(root):
    obj = compile_c(SEED["tables"][0])
    tables = obj.meta["tables"]
    assert tables["start"]["map_type"] == MapType.HASH and tables["start"]["max_entries"] == 10240
    assert tables["start"]["key"]["kind"] == "ptr"
    assert tables["counts"]["map_type"] == MapType.ARRAY and tables["counts"]["max_entries"] == 32
    assert tables["trie"]["map_type"] == MapType.LPM_TRIE and tables["trie"]["flags"] == 1
    assert tables["trie"]["key"]["name"] == "key_v6" and tables["trie"]["key"]["size"] == 20
    assert tables["lru"]["map_type"] == MapType.LRU_HASH
    assert tables["queue"]["key"] is None and tables["queue"]["leaf"]["name"] == "event"
    assert tables["prog_array"]["map_type"] == MapType.PROG_ARRAY
    assert obj.meta["helpers"]["use"][:2] == ["ktime_get_ns", "map_update_elem"]


def test_event_types_recorded():
    for name in ("perf_output", "ringbuf"):
        ev = compile_c(SEED[name][0]).meta["events"]["events"]
        assert ev["name"] == "data_t"
        assert [(f["name"], f["offset"]) for f in ev["fields"]] == [("pid", 0), ("ts", 8), ("comm", 16)]
        assert ev["fields"][2]["type"] == {"kind": "array", "name": "", "len": 16, "size": 16,
                                           "type": {"kind": "int", "name": "char", "size": 1, "signed": True}}


def test_program_kinds_and_sections():
    obj = compile_c(SEED["kprobe_args"][0] + SEED["bpf_iter"][0] + """
TRACEPOINT_PROBE(sched, sched_process_exit) { return 0; }
KFUNC_PROBE(do_unlinkat, int dfd, struct filename *name) { return 0; }
LSM_PROBE(bpf, int cmd, union bpf_attr *attr, unsigned int size) { return 0; }
""")
    progs = obj.meta["programs"]
    assert progs["kprobe__tcp_v4_connect"] == {"kind": "kprobe", "target": "tcp_v4_connect",
                                               "section": "kprobe/tcp_v4_connect", "ctx": "pt_regs"}
    assert progs["tracepoint__sched__sched_process_exit"]["target"] == "sched:sched_process_exit"
    assert progs["kfunc__vmlinux__do_unlinkat"]["section"] == "fentry/do_unlinkat"
    assert progs["lsm__bpf"]["section"] == "lsm/bpf"
    assert progs["bpf_iter__task"]["section"] == "iter/task"


# ---------------------------------------------------------------- semantics in the kernel

TASK_PROG = """
#include <linux/sched.h>
BPF_ARRAY(out, u64, 4);
int read_task(void *ctx) {
    struct task_struct *t = (struct task_struct *)bpf_get_current_task();
    int k0 = 0, k1 = 1, k2 = 2, k3 = 3;
    u64 tgid = t->tgid;               // implicit bpf_probe_read_kernel
    u64 ppid = t->real_parent->tgid;  // two levels
    u64 pid = t->pid;
    char comm[TASK_COMM_LEN];
    __builtin_memcpy(comm, t->comm, sizeof(comm));
    u64 c = *(u64 *)comm;
    out.update(&k0, &tgid);
    out.update(&k1, &ppid);
    out.update(&k2, &pid);
    out.update(&k3, &c);
    return 0;
}
"""


def test_task_fields_read_right_on_this_kernel(root):
    with loaded(TASK_PROG, {}) as (_obj, coll):
        prog = coll.load_program("read_task", ProgType.SYSCALL, flags=BPF_F_SLEEPABLE)
        prog.test_run()
        tgid, ppid, pid, comm = u64s(coll.maps["out"], range(4))
    assert tgid == os.getpid()
    assert ppid == os.getppid()
    assert pid == os.getpid()  # the test runs on the main thread
    with open(f"/proc/{os.getpid()}/comm", "rb") as f:
        assert struct.pack("<Q", comm).rstrip(b"\0") == f.read().strip()[:8]


def test_lookup_or_init_returns_zero_when_full(root):
    src = """
BPF_HASH(h, u32, u64, 1);
BPF_ARRAY(out, u64, 2);
int run(void *ctx) {
    u32 k1 = 1, k2 = 2; int o = 0;
    u64 zero = 0, *v = h.lookup_or_init(&k1, &zero);
    (*v) += 7;
    u64 seven = *v;
    out.update(&o, &seven);
    v = h.lookup_or_init(&k2, &zero);   /* map full: the probe returns 0 here */
    o = 1;
    out.update(&o, &seven);
    return 42;
}
"""
    with loaded(src, {}) as (_obj, coll):
        prog = coll.load_program("run", ProgType.SYSCALL, flags=BPF_F_SLEEPABLE)
        assert prog.test_run().retval == 0
        assert u64s(coll.maps["out"], range(2)) == [7, 0]


def test_tracepoint_probe_runs(root):
    from pybpf_dsl.runtime.attach.tracepoint import attach_tracepoint
    src = """
BPF_HASH(seen, u32, u64);
TRACEPOINT_PROBE(syscalls, sys_enter_getpgid) {
    u32 tgid = bpf_get_current_pid_tgid() >> 32;
    if (tgid != FILTER_PID) return 0;
    u64 arg = args->pid;
    seen.update(&tgid, &arg);
    return 0;
}
"""
    with loaded(src, {}, cflags=[f"-DFILTER_PID={os.getpid()}"]) as (_obj, coll):
        prog = coll.programs["tracepoint__syscalls__sys_enter_getpgid"]
        with attach_tracepoint(prog, "syscalls", "sys_enter_getpgid"):
            os.getpgid(os.getpid())
        got = coll.maps["seen"].get(struct.pack("<I", os.getpid()))
    assert got is not None and struct.unpack("<Q", got)[0] == os.getpid()


def test_raw_tracepoint_reads_kernel_memory(root):
    from pybpf_dsl.runtime.attach.raw_tracepoint import attach_raw_tracepoint
    src = """
#include <linux/sched.h>
BPF_ARRAY(out, u64, 3);
RAW_TRACEPOINT_PROBE(sys_enter) {
    struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
    struct task_struct *t = (struct task_struct *)bpf_get_current_task();
    if (t->tgid != FILTER_PID || ctx->args[1] != 121 /* getpgid */) return 0;
    int k0 = 0, k1 = 1, k2 = 2;
    u64 arg = regs->di;        /* implicit read through a pointer taken from ctx */
    u64 tgid = t->tgid, ppid = t->real_parent->tgid;
    out.update(&k0, &arg);
    out.update(&k1, &tgid);
    out.update(&k2, &ppid);
    return 0;
}
"""
    with loaded(src, {}, cflags=[f"-DFILTER_PID={os.getpid()}"]) as (_obj, coll):
        with attach_raw_tracepoint(coll.programs["raw_tracepoint__sys_enter"], "sys_enter"):
            os.getpgid(os.getpid())
        assert u64s(coll.maps["out"], range(3)) == [os.getpid(), os.getpid(), os.getppid()]


def test_kernel_pointer_kept_in_an_address_taken_local_is_read_implicitly(root):
    """tcplife's pattern: ``struct sock *sk`` from the context, ``&sk`` used as a key, then ``sk->f``."""
    from pybpf_dsl.runtime.attach.raw_tracepoint import attach_raw_tracepoint
    src = """
#include <linux/sched.h>
BPF_HASH(seen, struct task_struct *, u64);
BPF_ARRAY(out, u64, 1);
RAW_TRACEPOINT_PROBE(sys_enter) {
    struct task_struct *t = (struct task_struct *)bpf_get_current_task();
    u64 one = 1;
    seen.update(&t, &one);           /* t's address is taken: it lives on the stack */
    if (t->tgid != FILTER_PID || ctx->args[1] != 121 /* getpgid */) return 0;
    int k = 0;
    u64 ppid = t->real_parent->tgid;
    out.update(&k, &ppid);
    return 0;
}
"""
    with loaded(src, {}, cflags=[f"-DFILTER_PID={os.getpid()}"]) as (_obj, coll):
        with attach_raw_tracepoint(coll.programs["raw_tracepoint__sys_enter"], "sys_enter"):
            os.getpgid(os.getpid())
        assert u64s(coll.maps["out"], [0]) == [os.getppid()]


def test_increment_is_only_instantiated_where_used(root):
    src = """
struct pair { u64 a, b; };
BPF_HASH(pairs, u32, struct pair);
BPF_HASH(ptrs, u32, struct task_struct *);
BPF_HASH(counts, u32);
BPF_ARRAY(out, u64, 1);
int run(void *ctx) {
    u32 k = 3; struct pair zero = {}, *p = pairs.lookup_or_try_init(&k, &zero);
    if (p) p->b += 5;
    counts.increment(k); counts.increment(k, 4); counts.atomic_increment(k);
    int o = 0; u64 *c = counts.lookup(&k);
    if (c && p) { u64 v = *c * 100 + p->b; out.update(&o, &v); }
    return 0;
}
"""
    with loaded(src, {}) as (_obj, coll):
        coll.load_program("run", ProgType.SYSCALL, flags=BPF_F_SLEEPABLE).test_run()
        assert u64s(coll.maps["out"], [0]) == [605]


def test_increment_of_a_struct_leaf_fails_at_the_call():
    src = "struct v { u64 a; };\nBPF_HASH(h, u32, struct v);\nint f(void *ctx) {\n  u32 k = 0;\n  h.increment(k);\n  return 0;\n}\n"
    with pytest.raises(CompileError, match=r"h\.increment\(\) needs a numeric leaf.*struct v") as e:
        compile_c(src, filename="inc.c")
    assert (e.value.loc.file, e.value.loc.line, e.value.loc.col) == ("inc.c", 5, 2)
    assert "h.increment(k);" in str(e.value)


def test_kernel_config_and_page_offset_are_defined():
    from compat_c.kdefs import kconfig_text
    if "CONFIG_X86_64=y" not in kconfig_text():
        pytest.skip("this kernel exposes no x86_64 .config (/proc/config.gz)")
    compile_c("#if !defined(CONFIG_X86_64) || CONFIG_HZ != HZ\n#error kconfig\n#endif\n"
              "_Static_assert(PAGE_OFFSET == 0xffff888000000000UL, \"x86_64 direct map\");\n"
              "int f(void *c) { return 0; }\n")



def test_errno_and_kernel_version_macros_have_the_kernels_values(root):
    import errno
    src = """
#include <linux/errno.h>
#include <uapi/asm-generic/errno-base.h>
#include <linux/version.h>
BPF_ARRAY(out, u64, 6);
#define PUT(i, x) { int k = i; u64 v = x; out.update(&k, &v); }
int run(void *ctx) {
    PUT(0, -EPERM) PUT(1, -ENOMEM) PUT(2, EFAULT) PUT(3, ENOTSUPP)
    PUT(4, LINUX_VERSION_CODE) PUT(5, KERNEL_VERSION(4, 9, 300))
    return 0;
}
"""
    with loaded(src, {}) as (_obj, coll):
        coll.load_program("run", ProgType.SYSCALL, flags=BPF_F_SLEEPABLE).test_run()
        got = u64s(coll.maps["out"], range(6))
    a, b, c = (int(x) for x in os.uname().release.split("-")[0].split(".")[:3])
    assert got == [2**64 - errno.EPERM, 2**64 - errno.ENOMEM, errno.EFAULT, 524,
                   (a << 16) + (b << 8) + min(c, 255), (4 << 16) + (9 << 8) + 255]


def test_lsm_and_override_return_take_errno_names():
    obj = compile_c("""
#include <linux/errno.h>
LSM_PROBE(bpf, int cmd, union bpf_attr *attr, unsigned int size) { return -EPERM; }
int kprobe__should_fail(struct pt_regs *ctx) { bpf_override_return(ctx, -ENOMEM); return 0; }
""")
    assert {"lsm__bpf", "kprobe__should_fail"} <= set(obj.meta["programs"])


def test_bcc_linux_version_code_overrides_the_running_kernel(monkeypatch):
    monkeypatch.setenv("BCC_LINUX_VERSION_CODE", "264458")
    compile_c('_Static_assert(LINUX_VERSION_CODE == KERNEL_VERSION(4, 9, 10), "override");\n'
              "int f(void *c) { return 0; }\n")
    monkeypatch.setenv("BCC_LINUX_VERSION_CODE", "4.9.10")
    with pytest.raises(ValueError, match="BCC_LINUX_VERSION_CODE='4.9.10' is not a number"):
        compile_c("int f(void *c) { return 0; }\n")



def test_a_struct_the_program_defines_wins_over_the_kernels(root):
    # as mountsnoop: struct mnt_namespace is private to fs/, so bcc programs define its head
    src = """
struct mnt_namespace {
#if LINUX_VERSION_CODE < KERNEL_VERSION(5, 11, 0)
    atomic_t count;
#endif
    struct ns_common ns;
};
struct big { char pad[464]; u32 inum; };  /* leaves little stack for the reads */
BPF_ARRAY(out, struct big, 1);
int run(void *ctx) {
    struct big b = {};
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    struct nsproxy *nsproxy = task->nsproxy;
    struct mnt_namespace *mnt_ns = nsproxy->mnt_ns;
    b.inum = mnt_ns->ns.inum;
    b.pad[0] = task->real_parent->tgid == task->tgid;
    b.pad[1] = nsproxy->uts_ns != 0;
    int k = 0;
    out.update(&k, &b);
    return 0;
}
"""
    with loaded(src, {}) as (_obj, coll):
        coll.load_program("run", ProgType.SYSCALL, flags=BPF_F_SLEEPABLE).test_run()
        inum = struct.unpack_from("<I", coll.maps["out"].get(struct.pack("<i", 0)), 464)[0]
    assert inum == os.stat("/proc/self/ns/mnt").st_ino


# ---------------------------------------------------------------- errors

def test_c_error_has_the_users_line():
    with pytest.raises(CompileError) as e:
        compile_c("int ok(void *ctx) { return 0; }\n\nint bad(void *ctx) {\n  return nope;\n}\n",
                  filename="mytool.c")
    assert e.value.loc.file == "mytool.c" and e.value.loc.line == 4
    assert "nope" in str(e.value) and "return nope;" in str(e.value)


def test_invalid_table_operation():
    with pytest.raises(CompileError, match="invalid bpf_table operation frobnicate on table t"):
        compile_c("BPF_HASH(t);\nint f(void *ctx) { u64 k = 0; t.frobnicate(&k); return 0; }\n")


def test_gpl_only_helper_under_other_license():
    src = ("#define BPF_LICENSE Proprietary\n"
           "int f(void *ctx) { bpf_trace_printk(\"x\\n\"); return 0; }\n")
    with pytest.raises(CompileError, match="bpf_trace_printk is GPL-only.*'Proprietary'"):
        compile_c(src)
    ok = compile_c(src.replace("bpf_trace_printk(\"x\\n\")", "bpf_ktime_get_ns()"))
    assert ok.meta["license"] == "Proprietary"


def test_license_through_cflags_is_refused():
    with pytest.raises(CompileError, match="BPF_LICENSE cannot be set through cflags"):
        compile_c("int f(void *c) { return 0; }", cflags=["-DBPF_LICENSE=GPL"])


def test_missing_tracepoint_names_it():
    with pytest.raises(AttachTargetNotFound, match="urandom_read"):
        compile_c("TRACEPOINT_PROBE(random, urandom_read) { return 0; }")


def test_too_many_register_arguments():
    args = ", ".join(f"long a{i}" for i in range(7))
    with pytest.raises(CompileError, match="at most 6"):
        compile_c(f"int kprobe__f(struct pt_regs *ctx, {args}) {{ return 0; }}")


def test_trace_printk_argument_limit():
    with pytest.raises(CompileError, match="at most 3 arguments"):
        compile_c('int f(void *c) { bpf_trace_printk("%d %d %d %d", 1, 2, 3, 4); return 0; }')


def test_cache_hit_is_same_object():
    src = "BPF_HASH(c, u32);\nint f(void *ctx) { u32 k = 1; c.increment(k); return 0; }\n"
    first = compile_c(src)
    again = compile_c(src)
    assert again.cached and again.data == first.data and again.meta == first.meta
    assert not compile_c(src, cflags=["-DX=1"]).key == first.key


def test_kernel_struct_offsets_match_btf(root):
    """The generated header lays out kernel structs exactly as BTF says."""
    from pybpf_dsl.runtime.btf import kernel_btf
    btf = kernel_btf()
    checks = []
    for name, fields in {"task_struct": ("pid", "tgid", "real_parent", "comm", "mm"),
                         "sock_common": ("skc_family", "skc_state"), "request": ("q", "__sector"),
                         "pt_regs": ("di", "si", "ip"), "file": ("f_mode", "f_inode")}.items():
        t = btf.find(name)
        checks.append(f"_Static_assert(sizeof(struct {name}) == {t.size}, \"{name}\");")
        for f in fields:
            checks.append(f"_Static_assert(__builtin_offsetof(struct {name}, {f}) == "
                          f"{t.member(f).bit_offset // 8}, \"{name}.{f}\");")
    compile_c("\n".join(checks) + "\nint f(void *c) { return 0; }\n")


def test_gpl_only_helpers_are_what_this_kernel_enforces(root):
    """The shipped table is what the verifier of the running kernel says (compat_c.gen_gpl_helpers)."""
    from compat_c.gen_gpl_helpers import derive, probe
    from compat_c.gpl_helpers import GPL_ONLY_HELPERS
    tracing = [int(ProgType.TRACEPOINT), int(ProgType.KPROBE)]
    assert (probe(6, tracing), probe(113, tracing), probe(5, tracing), probe(1, tracing)) == \
        (True, True, False, False)       # trace_printk, probe_read_kernel; ktime_get_ns, map_lookup_elem
    assert derive(GPL_ONLY_HELPERS) == GPL_ONLY_HELPERS


PRINTK_FORMATS = ["plain\\n", "%d %i %u\\n", "%x %X %lx\\n", "%lld %llu %llx\\n", "%-5d|%05u|% d|%+d\\n",
                  "%c%c\\n", "%s\\n", "%s %s\\n", "%p %pK %px\\n", "100%%\\n", "%n\\n", "%f\\n", "%5.2d\\n",
                  "%hd\\n", "%d %d %d %d\\n", "%lu %q\\n"]


def test_printk_formats_are_judged_as_the_kernel_judges_them(root):
    """Each format through the raw helper: the kernel's verdict must be compat_c's compile-time one."""
    from compat_c.irpass import _kernel_version, printk_format_error
    calls = "".join(f'{{ char f[] = "{fmt}"; s64 r = __bcc_trace_printk(f, sizeof(f), s, s, s); '
                    f"int k = {i}; out.update(&k, &r); }}\n" for i, fmt in enumerate(PRINTK_FORMATS))
    src = f"BPF_ARRAY(out, s64, {len(PRINTK_FORMATS)});\nint run(void *ctx) {{\n char s[] = \"str\";\n{calls} return 0; }}"
    with loaded(src, {}) as (_obj, coll):
        coll.load_program("run", ProgType.SYSCALL, flags=BPF_F_SLEEPABLE).test_run()
        kernel = [struct.unpack("<q", coll.maps["out"].get(struct.pack("<i", i)))[0]
                  for i in range(len(PRINTK_FORMATS))]
    old = _kernel_version() < (5, 13)
    ours = [printk_format_error(fmt.replace("\\n", "\n"), old) for fmt in PRINTK_FORMATS]
    assert [r < 0 for r in kernel] == [p is not None for p in ours], list(zip(PRINTK_FORMATS, kernel, ours))


def test_printk_format_refused_at_the_users_line():
    src = "int f(void *ctx) {\n  u64 x = 1;\n  bpf_trace_printk(\"value %n\\n\", x);\n  return 0;\n}\n"
    with pytest.raises(CompileError, match=r"bpf_trace_printk: unsupported conversion %n") as e:
        compile_c(src, filename="printk.c")
    assert (e.value.loc.file, e.value.loc.line) == ("printk.c", 3)


def test_types_reached_only_through_macros_fall_back_to_the_full_prelude(root):
    """The program names task_struct only through a -D macro: the selection misses it, the PCH has it."""
    src = """
BPF_ARRAY(out, u64, 1);
int run(void *ctx) {
    struct TASK *t = (struct TASK *)bpf_get_current_task();
    int k = 0; u64 tgid = t->tgid;
    out.update(&k, &tgid);
    return 0;
}"""
    with loaded(src, {}, cflags=["-DTASK=task_struct"], use_cache=False) as (_obj, coll):
        coll.load_program("run", ProgType.SYSCALL, flags=BPF_F_SLEEPABLE).test_run()
        assert u64s(coll.maps["out"], [0]) == [os.getpid()]


def test_type_selection_keeps_by_value_needs_and_declares_the_rest():
    from compat_c.frontend import find_compiler
    from compat_c.prelude import prelude_for
    from compat_c.typeselect import wanted_names
    keys = wanted_names("struct task_struct *t; u32 x = TCP_CLOSE; int file = 0;")
    assert "@task_struct" in keys and "@file" not in keys and "file" in keys
    with prelude_for(find_compiler()) as prelude:
        text = prelude.types_for(keys)
    assert "struct task_struct {" in text and "struct sched_entity {" in text      # by value
    assert "struct mm_struct {" not in text and "\nstruct mm_struct;\n" in text  # pointer only
    assert "struct file {" not in text                                          # a variable's name
    assert "TCP_CLOSE = " in text and "typedef __u32 u32;" in text


def _code_sections(data: bytes) -> dict[str, bytes]:
    from elftools.elf.elffile import ELFFile
    elf = ELFFile(io.BytesIO(data))
    return {s.name: s.data() for s in elf.iter_sections()
            if not s.name.startswith((".debug", ".rel.debug", ".BTF", ".rel.BTF", ".symtab", ".strtab"))}


def test_the_precompiled_base_layer_changes_nothing_in_the_code():
    src = """
BPF_HASH(counts, u32, u64);
TRACEPOINT_PROBE(raw_syscalls, sys_enter) {
    struct task_struct *t = (struct task_struct *)bpf_get_current_task();
    u32 pid = t->tgid;
    counts.increment(pid);
    return 0;
}"""
    pch = compile_c(src, use_cache=False)
    text = compile_c(src, ["-fno-color-diagnostics"], use_cache=False)   # a flag that rules the base PCH out
    assert _code_sections(pch.data) == _code_sections(text.data) and pch.meta == text.meta


def test_a_program_may_define_a_type_of_the_base_layer_itself():
    """bpf_raw_tracepoint_args is in the precompiled base: defining it again selects the text base instead."""
    obj = compile_c("struct bpf_raw_tracepoint_args { __u64 args[0]; };\n"
                    "int raw_tracepoint__sys_enter(struct bpf_raw_tracepoint_args *ctx) {\n"
                    "    return ctx->args[1] != 0;\n}\n", use_cache=False)
    assert "raw_tracepoint__sys_enter" in obj.meta["programs"]
