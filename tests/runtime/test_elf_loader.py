"""ELF loader: C programs compiled at test time, loaded and run in the kernel."""

from __future__ import annotations

import ctypes
import os
import shutil
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pybpf_dsl.errors import AttachTargetNotFound, NotSupported, ObjectFormatError, SyscallError, VerifierError
from pybpf_dsl.runtime.btf import Kind, kernel_btf
from pybpf_dsl.runtime.elf import parse_object
from pybpf_dsl.runtime.loader import load_object
from pybpf_dsl.runtime.mapspec import PinMode
from pybpf_dsl.runtime.program import section_def
from pybpf_dsl.runtime.tracefs import bpffs_root
from pybpf_dsl.runtime.uapi import BPF_F_RDONLY_PROG, BPF_F_SLEEPABLE, AttachType, MapType, ProgType

PRELUDE = r"""
typedef unsigned int __u32; typedef unsigned long long __u64; typedef int __s32;
#define SEC(n) __attribute__((section(n), used))
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name
#define __array(name, val) typeof(val) *name[]
static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *) 1;
static long (*bpf_map_update_elem)(void *map, const void *key, const void *value, __u64 flags) = (void *) 2;
static long (*bpf_probe_read_kernel)(void *dst, __u32 size, const void *unsafe_ptr) = (void *) 113;
static __u64 (*bpf_get_current_task)(void) = (void *) 35;
"""


@pytest.fixture
def cc(bpf_cc):
    """Compile C source (PRELUDE prepended) to a BPF object; returns its path."""
    return lambda source, name="prog": bpf_cc(PRELUDE + source, name)


MAPS_AND_DATA = r"""
struct { __uint(type, 1); __uint(max_entries, 16); __type(key, __u32); __type(value, __u64); } counts SEC(".maps");
struct bpf_map_def { unsigned int type, key_size, value_size, max_entries, map_flags; };
struct bpf_map_def legacy SEC("maps") = { .type = 2, .key_size = 4, .value_size = 8, .max_entries = 4 };
const volatile int ro = 7;
int dat = 3;
int bss;
static __attribute__((noinline)) int twice(int x) { return x * 2; }
static __attribute__((noinline)) int helper(int x) { return twice(x) + ro; }
__attribute__((noinline)) int global_sub(int x) { return x + 100; }
SEC("syscall") int prog1(void *ctx) {
  __u32 k = 0; __u64 one = 1;
  bpf_map_update_elem(&counts, &k, &one, 0);
  bss = helper(dat);
  return bss;
}
SEC("syscall") int prog2(void *ctx) {
  __u32 k = 1; __u64 *v = bpf_map_lookup_elem(&legacy, &k);
  return helper(2) + (v != 0) + global_sub(0);
}
char LICENSE[] SEC("license") = "Dual BSD/GPL";
__u32 _version SEC("version") = 0x060c00;
"""


def test_parse_maps_programs_license(cc):
    spec = parse_object(open(cc(MAPS_AND_DATA), "rb").read(), "maps.o")
    assert spec.license == "Dual BSD/GPL" and spec.kern_version == 0x060C00
    assert set(spec.programs) == {"prog1", "prog2"}  # two programs in one section
    p1, p2 = spec.programs["prog1"], spec.programs["prog2"]
    assert p1.section == p2.section == "syscall"
    assert p1.prog_type == ProgType.SYSCALL and p1.flags & BPF_F_SLEEPABLE
    assert p1.license == "Dual BSD/GPL"
    assert p1.func_info[0].insn == 0 and len(p1.func_info) == 3  # prog1, helper, twice
    assert len(p2.func_info) == 4                                  # + global_sub
    assert all(a.insn < b.insn for a, b in zip(p1.line_info, p1.line_info[1:]))
    counts = spec.maps["counts"]
    assert (counts.type, counts.key_size, counts.value_size, counts.max_entries) == (MapType.HASH, 4, 8, 16)
    btf = spec.btf
    assert btf.type_name(counts.btf_key_type_id) == "__u32"
    assert btf.type_name(counts.btf_value_type_id) == "__u64"
    assert counts.key_type is ctypes.c_uint32 and counts.value_type is ctypes.c_uint64
    assert [f[0] for f in spec.maps[".data"].value_type._fields_] == ["dat"]  # decodes by variable
    legacy = spec.maps["legacy"]
    assert (legacy.type, legacy.key_size, legacy.value_size, legacy.max_entries) == (MapType.ARRAY, 4, 8, 4)
    ro = spec.maps[".rodata"]
    assert ro.data == struct.pack("<i", 7) and ro.freeze and ro.flags & BPF_F_RDONLY_PROG
    assert spec.maps[".data"].data == struct.pack("<i", 3) and not spec.maps[".data"].freeze
    assert spec.maps[".bss"].data == bytes(4)
    assert btf[ro.btf_value_type_id].kind == Kind.DATASEC
    sec = btf[spec.maps[".data"].btf_value_type_id]
    assert sec.size == 4 and sec.vars[0].offset == 0  # sizes filled in from the ELF
    used = {(r.map, r.offset) for r in p1.map_refs}
    assert {("counts", None), (".data", 0), (".bss", 0), (".rodata", 0)} <= used


def test_load_and_run_with_global_data_and_calls(cc, root):
    obj = cc(MAPS_AND_DATA)
    with load_object(obj) as coll:
        assert set(coll.maps) == {"counts", "legacy", ".rodata", ".data", ".bss"}
        p1, p2 = coll.programs["prog1"], coll.programs["prog2"]
        assert p1.test_run().retval == 3 * 2 + 7
        assert coll.maps[".bss"].get(bytes(4)) == struct.pack("<i", 13)
        assert coll.maps["counts"].get(bytes(4)) == struct.pack("<Q", 1)
        assert p2.test_run().retval == 2 * 2 + 7 + 1 + 100
        coll.maps[".data"].update(bytes(4), struct.pack("<i", 20))  # .data is writable
        assert p1.test_run().retval == 20 * 2 + 7
        with pytest.raises(SyscallError):  # .rodata was frozen
            coll.maps[".rodata"].update(bytes(4), struct.pack("<i", 1))


def test_lazy_program_load_and_type_override(cc, root):
    obj = cc(r"""
SEC("my_custom_section") int func_a(void *ctx) { return 5; }
SEC("socket") int filt(void *skb) { return 0; }
char LICENSE[] SEC("license") = "GPL";
""")
    spec = parse_object(open(obj, "rb").read())
    assert spec.programs["func_a"].prog_type == ProgType.UNSPEC
    with load_object(obj) as coll:
        assert set(coll.programs) == {"filt"}  # func_a waits for a type, like bcc's load_func
        assert coll.programs["filt"].type == ProgType.SOCKET_FILTER
        prog = coll.load_program("func_a", ProgType.SYSCALL, flags=BPF_F_SLEEPABLE, log_level=1)
        assert prog.test_run().retval == 5 and coll.load_program("func_a") is prog
        assert "processed" in prog.log  # the verifier log, kept when asked for
        tp = coll.load_program("func_a", ProgType.TRACING, attach_type=AttachType.TRACE_RAW_TP,
                               attach_to="sched_switch")
        assert tp.attach_btf_id == kernel_btf().find_id("btf_trace_sched_switch", Kind.TYPEDEF)
        with pytest.raises(KeyError, match="no program 'nope'"):
            coll.load_program("nope")
    with load_object(obj, prog_types={"func_a": ProgType.SOCKET_FILTER}) as coll:
        assert coll.programs["func_a"].type == ProgType.SOCKET_FILTER


CORE = r"""
struct task_struct { int pid; int tgid; } __attribute__((preserve_access_index));
struct no_such_struct___v2 { int nope; } __attribute__((preserve_access_index));
static struct task_struct *(*bpf_get_current_task_btf)(void) = (void *) 158;
SEC("syscall") int read_tgid(void *ctx) {
  struct task_struct *t = (void *)bpf_get_current_task(); int tgid = 0;
  bpf_probe_read_kernel(&tgid, sizeof(tgid), &t->tgid);
  return tgid;
}
SEC("syscall") int btf_tgid(void *ctx) { return bpf_get_current_task_btf()->tgid; }
SEC("syscall") int exists(void *ctx) {
  return __builtin_preserve_field_info(((struct task_struct *)0)->tgid, 2) * 10
       + __builtin_preserve_field_info(((struct no_such_struct___v2 *)0)->nope, 2);
}
SEC("syscall") int size_of(void *ctx) {
  return __builtin_preserve_field_info(((struct task_struct *)0)->tgid, 1);
}
SEC("syscall") int missing(void *ctx) {
  struct no_such_struct___v2 *p = (void *)bpf_get_current_task(); int v = 0;
  bpf_probe_read_kernel(&v, sizeof(v), &p->nope);
  return v;
}
char LICENSE[] SEC("license") = "GPL";
"""


def test_core_relocations_against_kernel(cc, root):
    obj = cc(CORE)
    spec = parse_object(open(obj, "rb").read())
    assert spec.programs["read_tgid"].core_relos  # compiled offset 4, the kernel's is far larger
    with load_object(obj, programs=["read_tgid", "btf_tgid", "exists", "size_of"]) as coll:
        assert coll.programs["read_tgid"].test_run().retval == os.getpid()
        assert coll.programs["btf_tgid"].test_run().retval == os.getpid()
        assert coll.programs["exists"].test_run().retval == 10
        assert coll.programs["size_of"].test_run().retval == 4
        with pytest.raises(VerifierError, match="CO-RE relocation") as err:
            coll.load_program("missing")
        assert "no_such_struct" in " ".join(coll.core_notes["missing"])
        assert err.value.loc is not None and err.value.loc.file.endswith("prog.c")


def test_callbacks_and_string_literals(cc, root):
    obj = cc(r"""
static long (*bpf_loop)(__u32 nr, void *callback_fn, void *callback_ctx, __u64 flags) = (void *) 181;
static long (*bpf_snprintf)(char *str, __u32 size, const char *fmt, __u64 *data, __u32 len) = (void *) 165;
static long add_index(__u32 i, void *ctx) { *(int *)ctx += i; return 0; }
char out[16];
SEC("syscall") int loop(void *ctx) { int sum = 0; bpf_loop(5, add_index, &sum, 0); return sum; }
SEC("syscall") int fmt(void *ctx) {
  __u64 args[1] = {42};
  return bpf_snprintf(out, sizeof(out), "v=%d!", args, sizeof(args));
}
char LICENSE[] SEC("license") = "GPL";
""")
    spec = parse_object(open(obj, "rb").read())
    assert ".rodata.str1.1" in spec.maps  # string literals are a read-only data map
    with load_object(obj) as coll:
        assert coll.programs["loop"].test_run().retval == 0 + 1 + 2 + 3 + 4
        assert coll.programs["fmt"].test_run().retval == len("v=42!") + 1
        assert coll.maps[".bss"].get(bytes(4)).rstrip(b"\0") == b"v=42!"


def test_core_anonymous_members_bitfields_and_flavours(cc, root):
    obj = cc(r"""
struct net_device;
struct sk_buff___mine { unsigned char pkt_type:3; void *dev; unsigned int len; }
  __attribute__((preserve_access_index));
#define INFO(f, k) __builtin_preserve_field_info(((struct sk_buff___mine *)0)->f, k)
SEC("syscall") int dev_off(void *ctx) { return INFO(dev, 0); }
SEC("syscall") int len_off(void *ctx) { return INFO(len, 0); }
SEC("syscall") int pkt_off(void *ctx) { return INFO(pkt_type, 0); }
SEC("syscall") int pkt_size(void *ctx) { return INFO(pkt_type, 1); }
SEC("syscall") int pkt_lshift(void *ctx) { return INFO(pkt_type, 4); }
SEC("syscall") int pkt_rshift(void *ctx) { return INFO(pkt_type, 5); }
char LICENSE[] SEC("license") = "GPL";
""")
    btf = kernel_btf()
    skb = btf.find("sk_buff", Kind.STRUCT)
    found = {}

    def walk(t, base):
        for m in t.members:
            inner = btf.resolve(m.type_id)
            if m.name:
                found.setdefault(m.name, (base + m.bit_offset, m.bitfield_size))
            elif inner.kind in (Kind.STRUCT, Kind.UNION):
                walk(inner, base + m.bit_offset)
    walk(skb, 0)
    pkt_bit, pkt_bits = found["pkt_type"]
    assert pkt_bits == 3
    with load_object(obj) as coll:
        run = {name: p.test_run().retval for name, p in coll.programs.items()}
    assert run["dev_off"] == found["dev"][0] // 8       # 'dev' sits in anonymous unions
    assert run["len_off"] == found["len"][0] // 8
    load_off, load_size = run["pkt_off"], run["pkt_size"]
    assert load_off * 8 <= pkt_bit and pkt_bit + 3 <= (load_off + load_size) * 8
    assert run["pkt_lshift"] == 64 - (pkt_bit + 3 - load_off * 8)
    assert run["pkt_rshift"] == 64 - 3


def test_verifier_error_names_file_and_line(cc, root):
    obj = cc(r"""
struct { __uint(type, 1); __uint(max_entries, 16); __type(key, __u32); __type(value, __u64); } counts SEC(".maps");
SEC("syscall") int bad(void *ctx) {
  __u32 k = 0;
  __u64 *v = bpf_map_lookup_elem(&counts, &k);
  return *v + 1; /* no NULL check */
}
char LICENSE[] SEC("license") = "GPL";
""")
    with pytest.raises(VerifierError) as err:
        load_object(obj)
    e = err.value
    prelude_lines = PRELUDE.count("\n")
    assert e.loc.file.endswith("prog.c") and e.loc.line == prelude_lines + 6
    assert "return *v + 1" in e.source
    assert "map_value_or_null" in e.reason
    assert f"prog.c:{prelude_lines + 6}" in str(e).splitlines()[0]


def test_failed_load_undoes_everything(cc, root):
    obj = cc(r"""
struct { __uint(type, 2); __uint(max_entries, 1); __type(key, __u32); __type(value, __u64); } arr SEC(".maps");
SEC("syscall") int good(void *ctx) { return 1; }
SEC("syscall") int worse(void *ctx) { int *p = 0; return *p; }
char LICENSE[] SEC("license") = "GPL";
""")
    with pytest.raises(VerifierError):
        load_object(obj)
    # the autouse fixture checks that no map, BTF or program FD stayed open


def test_btf_attach_targets(cc, root):
    obj = cc(r"""
SEC("tp_btf/sched_switch") int on_switch(__u64 *ctx) { return 0; }
SEC("iter/task") int dump(void *ctx) { return 0; }
SEC("fentry/do_unlinkat") int fent(__u64 *ctx) { return 0; }
SEC("lsm/file_open") int lsm_open(__u64 *ctx) { return 0; }
SEC("kprobe/do_unlinkat") int kp(void *ctx) { return 0; }
SEC("tp_btf/no_such_tracepoint_xyz") int nope(__u64 *ctx) { return 0; }
char LICENSE[] SEC("license") = "GPL";
""")
    btf = kernel_btf()
    with load_object(obj, programs=["on_switch", "dump", "kp"]) as coll:
        assert coll.programs["on_switch"].attach_btf_id == btf.find_id("btf_trace_sched_switch", Kind.TYPEDEF)
        assert coll.programs["dump"].attach_btf_id == btf.find_id("bpf_iter_task", Kind.FUNC)
        assert coll.programs["kp"].type == ProgType.KPROBE  # loads even without kprobes
        for name, feature in (("fent", "fentry/fexit"), ("lsm_open", "BPF LSM")):
            try:
                coll.load_program(name)
            except NotSupported as e:
                assert feature in str(e)
        with pytest.raises(AttachTargetNotFound, match="btf_trace_no_such_tracepoint_xyz"):
            coll.load_program("nope")


def test_pinned_map_is_reused(cc, root):
    pin_root = os.path.join(bpffs_root(), f"pybpf_elf_{os.getpid()}")
    os.makedirs(pin_root)
    obj = cc(r"""
struct { __uint(type, 2); __uint(max_entries, 1); __type(key, __u32); __type(value, __u64);
         __uint(pinning, 1); } shared SEC(".maps");
SEC("syscall") int bump(void *ctx) {
  __u32 k = 0; __u64 *v = bpf_map_lookup_elem(&shared, &k);
  if (v) { *v += 1; return *v; }
  return 0;
}
char LICENSE[] SEC("license") = "GPL";
""")
    try:
        assert parse_object(open(obj, "rb").read()).maps["shared"].pinning == PinMode.BY_NAME
        with load_object(obj, maps_pin_root=pin_root) as first:
            assert first.programs["bump"].test_run().retval == 1
            assert os.path.exists(os.path.join(pin_root, "shared"))
        with load_object(obj, maps_pin_root=pin_root) as second:
            assert second.programs["bump"].test_run().retval == 2
    finally:
        shutil.rmtree(pin_root, ignore_errors=True)


def test_map_in_map_and_overrides(cc, root):
    obj = cc(r"""
struct inner { __uint(type, 2); __uint(max_entries, 4); __type(key, __u32); __type(value, __u32); };
struct { __uint(type, 12); __uint(max_entries, 2); __type(key, __u32); __array(values, struct inner); }
  outer SEC(".maps");
struct { __uint(type, 2); __uint(max_entries, 1); __type(key, __u32); __type(value, __u64); } plain SEC(".maps");
SEC("syscall") int use(void *ctx) {
  __u32 k = 0; void *in = bpf_map_lookup_elem(&outer, &k); __u64 *v = bpf_map_lookup_elem(&plain, &k);
  return (in != 0) + (v ? *v : 0);
}
char LICENSE[] SEC("license") = "GPL";
""")
    spec = parse_object(open(obj, "rb").read())
    outer = spec.maps["outer"]
    assert outer.type == MapType.ARRAY_OF_MAPS and outer.inner is not None
    assert (outer.inner.type, outer.inner.max_entries, outer.inner.value_size) == (MapType.ARRAY, 4, 4)
    from pybpf_dsl.runtime.maps import Map
    with Map.create(spec.maps["plain"]) as mine:
        mine.update(bytes(4), struct.pack("<Q", 41))
        with load_object(obj, map_overrides={"plain": mine}) as coll:
            assert coll.maps["plain"] is mine
            assert coll.programs["use"].test_run().retval == 41
        assert not mine.closed  # the caller's map is left open


@pytest.mark.parametrize("section, ptype, attach, target", [
    ("tracepoint/syscalls/sys_enter_openat", ProgType.TRACEPOINT, None, "syscalls/sys_enter_openat"),
    ("tp/sched/sched_switch", ProgType.TRACEPOINT, None, "sched/sched_switch"),
    ("raw_tp/sys_enter", ProgType.RAW_TRACEPOINT, None, "sys_enter"),
    ("raw_tracepoint.w/x", ProgType.RAW_TRACEPOINT_WRITABLE, None, "x"),
    ("tp_btf/sched_switch", ProgType.TRACING, AttachType.TRACE_RAW_TP, "sched_switch"),
    ("kprobe/do_sys_open", ProgType.KPROBE, None, "do_sys_open"),
    ("kretprobe/do_sys_open", ProgType.KPROBE, None, "do_sys_open"),
    ("uprobe//bin/bash:readline", ProgType.KPROBE, None, "/bin/bash:readline"),
    ("usdt", ProgType.KPROBE, None, ""),
    ("fentry/do_unlinkat", ProgType.TRACING, AttachType.TRACE_FENTRY, "do_unlinkat"),
    ("fexit/do_unlinkat", ProgType.TRACING, AttachType.TRACE_FEXIT, "do_unlinkat"),
    ("lsm/file_open", ProgType.LSM, AttachType.LSM_MAC, "file_open"),
    ("iter/task", ProgType.TRACING, AttachType.TRACE_ITER, "task"),
    ("xdp", ProgType.XDP, AttachType.XDP, ""),
    ("xdp.frags", ProgType.XDP, AttachType.XDP, ""),
    ("tc", ProgType.SCHED_CLS, None, ""),
    ("tcx/ingress", ProgType.SCHED_CLS, AttachType.TCX_INGRESS, ""),
    ("classifier", ProgType.SCHED_CLS, None, ""),
    ("socket", ProgType.SOCKET_FILTER, None, ""),
    ("cgroup_skb/egress", ProgType.CGROUP_SKB, AttachType.CGROUP_INET_EGRESS, ""),
    ("cgroup/connect4", ProgType.CGROUP_SOCK_ADDR, AttachType.CGROUP_INET4_CONNECT, ""),
    ("cgroup/sock_create", ProgType.CGROUP_SOCK, AttachType.CGROUP_INET_SOCK_CREATE, ""),
    ("perf_event", ProgType.PERF_EVENT, None, ""),
    ("syscall", ProgType.SYSCALL, None, ""),
    ("sk_msg", ProgType.SK_MSG, AttachType.SK_MSG_VERDICT, ""),
    ("sk_skb/stream_verdict", ProgType.SK_SKB, AttachType.SK_SKB_STREAM_VERDICT, ""),
    ("flow_dissector", ProgType.FLOW_DISSECTOR, AttachType.FLOW_DISSECTOR, ""),
    ("struct_ops/init", ProgType.STRUCT_OPS, None, "init"),
])
def test_section_names(section, ptype, attach, target):
    d, got_target = section_def(section)
    assert (d.prog_type, d.attach_type, got_target) == (ptype, attach, target)


def test_bare_and_unknown_sections():
    assert section_def("kprobe") == (section_def("kprobe/x")[0], "")
    assert section_def("my_section") is None
    assert section_def("kprobe_extra") is None  # a prefix only counts when followed by '/'


_VALID_OBJ: dict[str, bytes] = {}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                    HealthCheck.function_scoped_fixture])
@given(st.data())
def test_malformed_objects_raise_object_format_error(cc, data):
    if "obj" not in _VALID_OBJ:
        _VALID_OBJ["obj"] = open(cc(MAPS_AND_DATA), "rb").read()
    blob = bytearray(_VALID_OBJ["obj"])
    if data.draw(st.booleans()):
        blob = blob[:data.draw(st.integers(0, len(blob) - 1))]
    else:
        for _ in range(data.draw(st.integers(1, 16))):
            blob[data.draw(st.integers(0, len(blob) - 1))] = data.draw(st.integers(0, 255))
    try:
        parse_object(bytes(blob))
    except ObjectFormatError:
        pass


def test_btf_rejection_carries_the_kernel_reason(root):
    from pybpf_dsl.runtime.loader import load_btf
    strings = b"\0x\0"
    types = struct.pack("<IIII", 1, 1 << 24, 4, 64)  # INT "x": 64 bits in a 4-byte type
    blob = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types), len(strings))
    with pytest.raises(SyscallError, match="BPF_BTF_LOAD") as err:
        load_btf(blob + types + strings)
    assert "loading program BTF" in str(err.value)


def test_failing_instruction_maps_to_line_info():
    from pybpf_dsl.runtime.program import ProgramSpec, failing_insn, source_location
    log = "0: (b7) r0 = 0\n; x @ a.c:3\n5: (61) r1 = *(u32 *)(r0 +0)\nR0 invalid mem access 'scalar'\n"
    assert failing_insn(log) == 5
    assert failing_insn("no instructions here") is None
    spec = ProgramSpec("p", "syscall", ProgType.SYSCALL, b"", btf=None)
    assert source_location(spec, 5) == (None, None)


EXTERNS = r"""
typedef _Bool bool; typedef int __s32;
#define __kconfig __attribute__((section(".kconfig")))
#define __ksym __attribute__((section(".ksyms")))
#define __weak __attribute__((weak))
extern int LINUX_KERNEL_VERSION __kconfig;
extern bool CONFIG_BPF_SYSCALL __kconfig;
extern int CONFIG_HZ __kconfig __weak;
extern bool CONFIG_PYBPF_NO_SUCH_OPTION __kconfig __weak;
extern char CONFIG_DEFAULT_HOSTNAME[8] __kconfig __weak;
extern const void schedule __ksym;
extern const void pybpf_no_such_symbol __ksym __weak;
struct task_struct { int pid; } __attribute__((preserve_access_index));
extern struct task_struct *bpf_task_from_pid(__s32 pid) __ksym;
extern void bpf_task_release(struct task_struct *p) __ksym;
static __u64 (*bpf_get_current_pid_tgid)(void) = (void *) 14;
__u64 out[6];
SEC("syscall") int externs(void *ctx) {
  out[0] = LINUX_KERNEL_VERSION; out[1] = CONFIG_BPF_SYSCALL; out[2] = CONFIG_HZ;
  out[3] = CONFIG_PYBPF_NO_SUCH_OPTION + CONFIG_DEFAULT_HOSTNAME[1];
  out[4] = (__u64)&schedule; out[5] = (__u64)&pybpf_no_such_symbol;
  struct task_struct *t = bpf_task_from_pid(bpf_get_current_pid_tgid() >> 32);
  if (!t) return -1;
  int pid = t->pid;
  bpf_task_release(t);
  return pid;
}
char LICENSE[] SEC("license") = "GPL";
"""


def _kallsyms(name):
    with open("/proc/kallsyms") as f:
        return next((int(line.split()[0], 16) for line in f if line.split()[2] == name), None)


def test_kconfig_and_ksym_externs(cc, root):
    obj = cc(EXTERNS)
    spec = parse_object(open(obj, "rb").read())
    kconfig = spec.maps[".kconfig"]
    assert kconfig.freeze and kconfig.flags & BPF_F_RDONLY_PROG
    layout = {e.name: (e.offset, e.size, e.weak, e.string) for e in kconfig.extra["externs"]}
    assert layout["LINUX_KERNEL_VERSION"] == (0, 4, False, False)
    assert layout["CONFIG_DEFAULT_HOSTNAME"][1:] == (8, True, True)
    assert kconfig.value_size == max(o + s for o, s, _w, _s in layout.values())
    refs = {r.name: (r.kind, r.weak) for r in spec.programs["externs"].ksym_refs}
    assert refs == {"schedule": ("addr", False), "pybpf_no_such_symbol": ("addr", True),
                    "bpf_task_from_pid": ("func", False), "bpf_task_release": ("func", False)}
    from pybpf_dsl.runtime.loader import kernel_config, kernel_version_code
    with load_object(obj) as coll:
        assert coll.programs["externs"].test_run().retval == os.getpid()  # the kfuncs ran
        out = struct.unpack("<6Q", coll.maps[".bss"].get(bytes(4)))
    hz = int(kernel_config().get("CONFIG_HZ", 0))
    host = kernel_config().get("CONFIG_DEFAULT_HOSTNAME", '"\0\0"').strip('"').encode() + b"\0\0"
    assert out[:4] == (kernel_version_code(), 1, hz, host[1])
    assert out[4] == _kallsyms("schedule") and out[5] == 0


def test_missing_strong_externs_name_the_symbol(cc, root):
    obj = cc(r"""
#define __ksym __attribute__((section(".ksyms")))
extern const void pybpf_no_such_symbol __ksym;
SEC("syscall") int f(void *ctx) { return (long)&pybpf_no_such_symbol; }
char LICENSE[] SEC("license") = "GPL";
""")
    with pytest.raises(NotSupported, match="'pybpf_no_such_symbol'.*__weak"):
        load_object(obj)
    obj = cc(r"""
extern int CONFIG_PYBPF_NO_SUCH_OPTION __attribute__((section(".kconfig")));
SEC("syscall") int f(void *ctx) { return CONFIG_PYBPF_NO_SUCH_OPTION; }
char LICENSE[] SEC("license") = "GPL";
""", "kc")
    with pytest.raises(NotSupported, match="CONFIG_PYBPF_NO_SUCH_OPTION"):
        load_object(obj)


def test_typed_ksym_is_a_btf_id(cc, root):
    obj = cc(r"""
extern const int bpf_prog_active __attribute__((section(".ksyms")));
static void *(*bpf_this_cpu_ptr)(const void *p) = (void *) 154;
SEC("syscall") int f(void *ctx) { const int *p = bpf_this_cpu_ptr(&bpf_prog_active); return *p >= 0; }
char LICENSE[] SEC("license") = "GPL";
""")
    spec = parse_object(open(obj, "rb").read()).programs["f"]
    from pybpf_dsl.runtime.loader import link_program
    from pybpf_dsl.runtime.uapi import BPF_PSEUDO_BTF_ID
    code, _ = link_program(spec, {})
    ref = spec.ksym_refs[0]
    _op, regs, _off, imm = struct.unpack_from("<BBhi", code, ref.insn * 8)
    assert ref.kind == "var" and regs >> 4 == BPF_PSEUDO_BTF_ID
    assert imm == kernel_btf().find_id("bpf_prog_active", Kind.VAR)
    if _kallsyms("bpf_prog_active") is None:  # the verifier finds the address through kallsyms
        with pytest.raises(NotSupported, match="typed __ksym 'bpf_prog_active'.*CONFIG_KALLSYMS_ALL") as err:
            load_object(obj)
        assert "\n" not in str(err.value)
        pytest.skip("this kernel has no CONFIG_KALLSYMS_ALL: the verifier's kallsyms_lookup_name() finds no data"
                    " symbol ('ldimm64 failed to find the address for kernel symbol'), so typed __ksym"
                    " variables cannot load")
    with load_object(obj) as coll:
        assert coll.programs["f"].test_run().retval == 1


@given(values=st.dictionaries(st.sampled_from(["CONFIG_A", "CONFIG_B", "CONFIG_C"]),
                              st.one_of(st.sampled_from(["y", "m", "n"]), st.integers(-2**31, 2**31 - 1))))
def test_kconfig_values_round_trip(values):
    from pybpf_dsl.runtime.elf import Extern
    from pybpf_dsl.runtime.loader import kconfig_data
    externs = [Extern(name, "kconfig", True, 4 * i, 4) for i, name in enumerate(["CONFIG_A", "CONFIG_B", "CONFIG_C"])]
    data = kconfig_data(externs, 12, {k: str(v) for k, v in values.items()})
    got = struct.unpack("<3i", data)
    for i, name in enumerate(["CONFIG_A", "CONFIG_B", "CONFIG_C"]):
        v = values.get(name, 0)
        assert got[i] == {"y": 1, "m": 2, "n": 0}.get(v, v) if isinstance(v, str) else got[i] == v


def test_kernel_version_code():
    from pybpf_dsl.runtime.loader import kernel_version_code
    assert kernel_version_code("6.18.3-fc-v657") == 0x061203
    assert kernel_version_code("5.4.300") == 0x0504FF  # the patch level saturates, as the kernel's
    assert kernel_version_code("6.1") == 0x060100


def test_initial_values_of_map_in_map_and_prog_array(cc, root):
    obj = cc(r"""
static long (*bpf_tail_call)(void *ctx, void *map, __u32 index) = (void *) 12;
struct inner { __uint(type, 2); __uint(max_entries, 1); __type(key, __u32); __type(value, __u32); };
struct inner in_a SEC(".maps"), in_b SEC(".maps");
struct { __uint(type, 12); __uint(max_entries, 3); __type(key, __u32); __array(values, struct inner); }
  outer SEC(".maps") = { .values = { [0] = &in_a, [2] = &in_b } };
SEC("tc") int tail1(void *ctx) { return 42; }
SEC("tc") int tail3(void *ctx) { return 43; }
struct { __uint(type, 3); __uint(max_entries, 4); __type(key, __u32); __array(values, int (void *)); }
  jumps SEC(".maps") = { .values = { [1] = (void *)&tail1, [3] = (void *)&tail3 } };
SEC("syscall") int mim(void *ctx) {
  __u32 z = 0; int r = 0;
  for (__u32 k = 0; k < 3; k++) {
    void *in = bpf_map_lookup_elem(&outer, &k);
    __u32 *v = in ? bpf_map_lookup_elem(in, &z) : 0;
    r = r * 100 + (in ? 1 + (v ? *v : 0) : 0);
  }
  return r;
}
SEC("tc") int jump1(void *ctx) { bpf_tail_call(ctx, &jumps, 1); return 7; }
SEC("tc") int jump2(void *ctx) { bpf_tail_call(ctx, &jumps, 2); return 7; }
SEC("tc") int jump3(void *ctx) { bpf_tail_call(ctx, &jumps, 3); return 7; }
char LICENSE[] SEC("license") = "GPL";
""")
    spec = parse_object(open(obj, "rb").read())
    assert spec.maps["outer"].extra["slots"] == {0: ("map", "in_a"), 2: ("map", "in_b")}
    assert spec.maps["jumps"].extra["slots"] == {1: ("prog", "tail1"), 3: ("prog", "tail3")}
    assert spec.maps["jumps"].value_size == 4
    with load_object(obj, programs=["mim", "jump1", "jump2", "jump3", "tail1"]) as coll:
        coll.maps["in_a"].update(bytes(4), struct.pack("<I", 7))
        coll.maps["in_b"].update(bytes(4), struct.pack("<I", 5))
        assert coll.programs["mim"].test_run().retval == 8_00_06
        packet = bytes(64)
        assert [coll.programs[f"jump{i}"].test_run(packet).retval for i in (1, 2, 3)] == [42, 7, 7]
        coll.load_program("tail3")  # a program loaded later fills its slot then
        assert coll.programs["jump3"].test_run(packet).retval == 43


WEAK_KFUNCS = r"""
#define __ksym __attribute__((section(".ksyms")))
#define __weak __attribute__((weak))
#define bpf_ksym_exists(sym) (!!(sym))
static __u64 (*bpf_get_current_pid_tgid)(void) = (void *) 14;
struct task_struct { int pid; } __attribute__((preserve_access_index));
extern struct task_struct *bpf_task_from_pid(__s32 pid) __ksym __weak;
extern void bpf_task_release(struct task_struct *p) __ksym __weak;
extern int pybpf_no_such_kfunc(int x) __ksym __weak;
extern const int pybpf_no_such_var __ksym __weak;
__u64 out[4];
SEC("syscall") int weak(void *ctx) {
  int r;
  out[0] = bpf_ksym_exists(pybpf_no_such_kfunc);
  out[1] = bpf_ksym_exists(bpf_task_from_pid);
  out[2] = (__u64)&pybpf_no_such_var;
  if (bpf_ksym_exists(pybpf_no_such_kfunc))
    r = pybpf_no_such_kfunc(1);
  else
    r = 1000;
  if (bpf_ksym_exists(bpf_task_from_pid)) {
    struct task_struct *t = bpf_task_from_pid(bpf_get_current_pid_tgid() >> 32);
    if (t) { out[3] = t->pid; bpf_task_release(t); }
  }
  return r;
}
char LICENSE[] SEC("license") = "GPL";
"""


class _FakeMap:
    """Stands in for a map when only instruction patching is checked."""
    def fileno(self):
        return 99


def _insn(code, index):
    op, regs, off, imm = struct.unpack_from("<BBhi", code, index * 8)
    return op, regs >> 4, off, imm


def test_weak_kfuncs_absent_ones_are_dead_code(cc, root):
    from pybpf_dsl.runtime.loader import link_program
    from pybpf_dsl.runtime.uapi import BPF_PSEUDO_BTF_ID, BPF_PSEUDO_KFUNC_CALL
    obj = cc(WEAK_KFUNCS)
    spec = parse_object(open(obj, "rb").read()).programs["weak"]
    code, _ = link_program(spec, {".bss": _FakeMap()})
    task_from_pid = kernel_btf().find_id("bpf_task_from_pid", Kind.FUNC)
    for ref in spec.ksym_refs:
        op, src, off, imm = _insn(code, ref.insn)
        absent = ref.name.startswith("pybpf_no_such")
        if op == 0x85:  # a call: the absent kfunc keeps BTF id 0, for the verifier to drop as dead code
            assert (src, off, imm) == (BPF_PSEUDO_KFUNC_CALL, 0, 0 if absent else
                                       kernel_btf().find_id(ref.name, Kind.FUNC))
        else:  # bpf_ksym_exists() / &var: 0 when absent, else the BTF id (vmlinux: no BTF fd)
            hi = _insn(code, ref.insn + 1)[3]
            assert (src, imm, hi) == ((0, 0, 0) if absent else (BPF_PSEUDO_BTF_ID, task_from_pid, 0))
    with load_object(obj) as coll:
        assert coll.programs["weak"].test_run().retval == 1000  # the fallback branch ran
        out = struct.unpack("<4Q", coll.maps[".bss"].get(bytes(4)))
    assert out == (0, 1, 0, os.getpid())  # the present weak kfuncs were called


def test_unguarded_call_of_absent_weak_kfunc_is_one_line(cc, root):
    obj = cc(r"""
extern int pybpf_no_such_kfunc(int x) __attribute__((section(".ksyms"), weak));
SEC("syscall") int unguarded(void *ctx) { return pybpf_no_such_kfunc(1); }
char LICENSE[] SEC("license") = "GPL";
""")
    with pytest.raises(NotSupported, match="kfunc 'pybpf_no_such_kfunc'.*'unguarded'.*bpf_ksym_exists"):
        load_object(obj)


def _split_btf(base, funcs=(), typedefs=()):
    """A module-like split BTF on ``base``: global FUNCs (int (void)) and int TYPEDEFs."""
    from pybpf_dsl.runtime.btf import BTF_MAGIC, HEADER
    int_id = base.find_id("int", Kind.INT)
    strings, types, next_id = bytearray(b"\0"), bytearray(), len(base)
    for name in funcs:
        name_off = base.str_end + len(strings)
        strings += name.encode() + b"\0"
        types += struct.pack("<III", 0, Kind.FUNC_PROTO << 24, int_id)
        types += struct.pack("<III", name_off, Kind.FUNC << 24 | 1, next_id)
        next_id += 2
    for name in typedefs:
        types += struct.pack("<III", base.str_end + len(strings), Kind.TYPEDEF << 24, int_id)
        strings += name.encode() + b"\0"
    return HEADER.pack(BTF_MAGIC, 1, 0, HEADER.size, 0, len(types), len(types), len(strings)) + types + strings


@pytest.fixture
def fake_module(tmp_path, monkeypatch):
    """A directory standing in for /sys/kernel/btf with one module whose BTF has a kfunc
    and a BTF tracepoint (this kernel has CONFIG_MODULES off: no real module BTF exists)."""
    from pybpf_dsl.runtime import btf as btf_mod
    module, btf_dir = f"pybpf_mod_{os.getpid()}", tmp_path / "btf"
    btf_dir.mkdir()
    (btf_dir / module).write_bytes(_split_btf(kernel_btf(), ["pybpf_mod_kfunc", "pybpf_mod_func"],
                                              ["btf_trace_pybpf_mod_tp"]))
    (btf_dir / "vmlinux").write_bytes(b"")
    monkeypatch.setattr(btf_mod, "_BTF_DIR", str(btf_dir))
    btf_mod.module_btf.cache_clear()
    yield module
    btf_mod.module_btf.cache_clear()


def test_kfuncs_and_attach_targets_resolve_in_module_btf(cc, fake_module):
    from pybpf_dsl.runtime.btf import find_in_kernel, kernel_modules_with_btf, module_btf
    from pybpf_dsl.runtime.fd import FD
    from pybpf_dsl.runtime.loader import link_program
    from pybpf_dsl.runtime.program import ModuleBtfFds, attach_target
    from pybpf_dsl.runtime.uapi import BPF_PSEUDO_BTF_ID, BPF_PSEUDO_KFUNC_CALL
    assert kernel_modules_with_btf() == [fake_module]
    mod = module_btf(fake_module)
    kfunc_id = mod.find_id("pybpf_mod_kfunc", Kind.FUNC)
    assert kfunc_id >= len(kernel_btf())  # split BTF ids continue after vmlinux's
    assert find_in_kernel("pybpf_mod_kfunc", Kind.FUNC) == (fake_module, mod[kfunc_id])
    assert find_in_kernel("bpf_task_release", Kind.FUNC)[0] is None  # vmlinux first
    assert find_in_kernel("pybpf_mod_kfunc", Kind.FUNC, []) is None
    assert find_in_kernel("pybpf_nowhere", Kind.FUNC) is None

    obj = cc(r"""
extern int pybpf_mod_kfunc(void) __attribute__((section(".ksyms")));
SEC("syscall") int f(void *ctx) { return pybpf_mod_kfunc() + (long)&pybpf_mod_kfunc; }
char LICENSE[] SEC("license") = "GPL";
""")
    spec = parse_object(open(obj, "rb").read()).programs["f"]
    with pytest.raises(NotSupported, match="'pybpf_mod_kfunc'.*kernel BTF"):
        link_program(spec, {})  # without a module fd holder only vmlinux is searched
    opened = []

    def open_fd(module):  # stands in for the BTF object fd of the module
        opened.append(module)
        return FD(os.open(os.devnull, os.O_RDONLY), "btf")

    with ModuleBtfFds(open_fd) as modules:
        code, _ = link_program(spec, {}, modules=modules)
        fd_array = modules.fd_array()
        assert opened == [fake_module] and len(fd_array) == 2 and fd_array[0] == 0
        for ref in spec.ksym_refs:
            op, src, off, imm = _insn(code, ref.insn)
            if op == 0x85:  # off: the module's fd_array slot
                assert (src, off, imm) == (BPF_PSEUDO_KFUNC_CALL, 1, kfunc_id)
            else:  # ld_imm64: the module BTF fd in the second half
                assert (src, imm, _insn(code, ref.insn + 1)[3]) == (BPF_PSEUDO_BTF_ID, kfunc_id, fd_array[1])
    from pybpf_dsl.runtime.program import ProgramSpec
    for section, name in (("fentry/pybpf_mod_func", "pybpf_mod_func"), ("tp_btf/pybpf_mod_tp", "btf_trace_pybpf_mod_tp")):
        d, target = section_def(section)
        ps = ProgramSpec("p", section, d.prog_type, b"", attach_to=target, btf_target=d.btf_target)
        assert attach_target(ps) == (mod.find_id(name), fake_module)
    ps = ProgramSpec("p", "fentry/pybpf_nowhere", ProgType.TRACING, b"", attach_to="pybpf_nowhere", btf_target="func")
    with pytest.raises(AttachTargetNotFound, match="loaded modules"):
        attach_target(ps)


def test_module_btf_fd_walks_kernel_btf_objects(root):
    from pybpf_dsl.runtime.program import module_btf_fd
    from pybpf_dsl.runtime.syscall import btf_object_name
    with module_btf_fd("vmlinux") as fd:  # the walk finds vmlinux like any module
        assert btf_object_name(fd.fileno()) == ("vmlinux", True)
    with pytest.raises(AttachTargetNotFound, match="pybpf_no_such_module"):
        module_btf_fd("pybpf_no_such_module")
