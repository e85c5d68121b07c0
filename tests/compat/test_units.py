"""compat_c's pieces without the kernel: compiler discovery, generators, parsers."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys

import pytest
from hypothesis import given, settings, strategies as st

from compat_c import debuginfo, gen_helper_table, kdefs, toolchain, tpstruct, vmlinux
from pybpf_dsl.errors import NotSupported
from pybpf_dsl.runtime.tracepoints import parse_format


def test_missing_compiler_is_one_clear_line(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("BCC_CLANG", raising=False)
    monkeypatch.setattr(toolchain, "_zig", lambda: None)
    toolchain.find_compiler.cache_clear()
    try:
        with pytest.raises(NotSupported) as e:
            toolchain.find_compiler()
    finally:
        toolchain.find_compiler.cache_clear()
    assert "pip install ziglang" in str(e.value) and "\n" not in str(e.value)


def test_explicit_compiler_that_does_not_run(monkeypatch, tmp_path):
    fake = tmp_path / "clang"
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("BCC_CLANG", str(fake))
    monkeypatch.setenv("PYBPF_CACHE_DIR", str(tmp_path / "cache"))
    toolchain.find_compiler.cache_clear()
    try:
        with pytest.raises(NotSupported, match="BCC_CLANG"):
            toolchain.find_compiler()
    finally:
        toolchain.find_compiler.cache_clear()


def test_kdefs_skip_kernel_enumerators():
    text = kdefs.render(["BPF_ANY", "IPPROTO_TCP"])
    assert "#define TASK_COMM_LEN 16" in text
    assert "#define PT_REGS_PARM1(x) ((x)->di)" in text
    assert "BPF_ANY" not in text and "IPPROTO_TCP " not in text


def test_helper_table_generator():
    header = """
 * void *bpf_map_lookup_elem(struct bpf_map *map, const void *key)
 * 	Description
 * long bpf_probe_read_kernel(void *dst, u32 size, const void *unsafe_ptr)
#define ___BPF_FUNC_MAPPER(FN, ctx...)			\\
	FN(unspec, 0, ##ctx)				\\
	FN(map_lookup_elem, 1, ##ctx)			\\
	FN(probe_read_kernel, 113, ##ctx)		\\
	FN(brand_new, 300, ##ctx)			\\
"""
    rows = gen_helper_table.parse(header)
    assert rows == [(1, "map_lookup_elem", "void *", "void *map, const void *key"),
                    (113, "probe_read_kernel", "long", "void *dst, u32 size, const void *unsafe_ptr"),
                    (300, "brand_new", "long", "...")]
    namespace: dict = {}
    exec(gen_helper_table.render(rows), namespace)
    assert namespace["HELPERS"] == tuple(rows)


FORMAT = """name: sys_enter_openat
ID: 700
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;
\tfield:int dfd;\toffset:16;\tsize:8;\tsigned:0;
\tfield:const char * filename;\toffset:24;\tsize:8;\tsigned:0;
\tfield:char comm[16];\toffset:32;\tsize:16;\tsigned:0;
\tfield:__data_loc char[] name;\toffset:48;\tsize:4;\tsigned:0;

print fmt: "x"
"""


def test_tracepoint_struct_layout():
    text = tpstruct.render(parse_format(FORMAT, "syscalls", "sys_enter_openat"))
    assert text == ("struct tracepoint__syscalls__sys_enter_openat {\n  u64 __do_not_use__;\n"
                    "  s32 __syscall_nr;\n  char __pad_0[4];\n  u64 dfd;\n  const char *filename;\n"
                    "  char comm[16];\n  int data_loc_name;\n};\n")


def test_used_tracepoints():
    src = "TRACEPOINT_PROBE(sched, sched_switch) {}\nint tracepoint__block__block_rq_issue(void *a);"
    assert tpstruct.used_tracepoints(src) == [("sched", "sched_switch"), ("block", "block_rq_issue")]


_value = st.one_of(st.integers(-10**6, 10**6).map(str), st.from_regex(r"![0-9]{1,4}", fullmatch=True),
                   st.text(st.characters(blacklist_characters='"\\\n', blacklist_categories=("Cs",)),
                           max_size=12).map(lambda s: f'"{s}"'),
                   st.just("!DIExpression(DW_OP_constu, 3, DW_OP_stack_value)"))


@given(st.dictionaries(st.from_regex(r"[a-z][a-zA-Z]{0,8}", fullmatch=True), _value, max_size=6))
@settings(max_examples=200)
def test_parse_fields_round_trip(fields):
    text = ", ".join(f"{k}: {v}" for k, v in fields.items())
    assert debuginfo.parse_fields(text) == fields


def test_describe_struct_from_metadata():
    lines = [
        '!1 = distinct !DICompositeType(tag: DW_TAG_structure_type, name: "ev", file: !9, size: 128, elements: !2)',
        "!2 = !{!3, !5, !7}",
        '!3 = !DIDerivedType(tag: DW_TAG_member, name: "pid", scope: !1, baseType: !4, size: 32)',
        '!4 = !DIBasicType(name: "unsigned int", size: 32, encoding: DW_ATE_unsigned)',
        '!5 = !DIDerivedType(tag: DW_TAG_member, name: "flag", scope: !1, baseType: !4, size: 3, '
        'offset: 32, flags: DIFlagBitField, extraData: i64 32)',
        '!7 = !DIDerivedType(tag: DW_TAG_member, name: "name", scope: !1, baseType: !8, size: 64, offset: 64)',
        "!8 = !DICompositeType(tag: DW_TAG_array_type, baseType: !10, size: 64, elements: !11)",
        '!10 = !DIBasicType(name: "char", size: 8, encoding: DW_ATE_signed_char)',
        "!11 = !{!12}",
        "!12 = !DISubrange(count: 8)",
    ]
    d = debuginfo.DebugInfo(lines).describe(1)
    assert d["name"] == "ev" and d["size"] == 16
    assert [(f["name"], f["offset"], f["bits"]) for f in d["fields"]] == [("pid", 0, 0), ("flag", 4, 3),
                                                                            ("name", 8, 0)]
    assert d["fields"][2]["type"]["len"] == 8
    json.dumps(d)


LAYOUTS = r"""
struct inner { char c; long l; };
struct bits { unsigned int a: 3, b: 9; unsigned char tail; int : 0; long long x: 40; };
struct __attribute__((packed)) packed { char c; int i; short s; };
struct outer {
    int n;
    union { int u; char uc[6]; };
    struct { short s; struct inner in; } anon_named;
    struct packed p;
    struct bits bf;
    struct inner *ptr;
    void (*cb)(struct outer *, int);
    char tail[3];
} __attribute__((aligned(32)));
enum __attribute__((packed)) small { SMALL_A = 1, SMALL_B = 2 };
struct uses_enum { enum small e; char c; };
struct outer o; struct uses_enum ue;
"""


def test_vmlinux_render_reproduces_layouts(tmp_path):
    """Render BTF of known structs, then let clang check every size and offset."""
    from elftools.elf.elffile import ELFFile

    from pybpf_dsl.runtime.btf import BTF, Kind

    comp = toolchain.find_compiler()
    src = tmp_path / "l.c"
    src.write_text(LAYOUTS)
    obj = tmp_path / "l.o"
    assert comp.run(["-target", "bpfel", "-g", "-O2", "-c", str(src), "-o", str(obj)]).returncode == 0
    with open(obj, "rb") as f:
        btf = BTF.parse(ELFFile(io.BytesIO(f.read())).get_section_by_name(".BTF").data())
    header = vmlinux.render(btf)
    checks = []
    for t in btf.iter_types():
        if t.kind in (Kind.STRUCT, Kind.UNION) and t.name:
            kw = t.kind.name.lower()
            checks.append(f"_Static_assert(sizeof({kw} {t.name}) == {t.size}, \"{t.name}\");")
            for m in t.members:
                if m.name and not m.bitfield_size:
                    checks.append(f"_Static_assert(__builtin_offsetof({kw} {t.name}, {m.name}) == "
                                  f"{m.bit_offset // 8}, \"{t.name}.{m.name}\");")
    assert len(checks) >= 20
    check = tmp_path / "check.c"
    check.write_text(header + "\n".join(checks) + "\n")
    proc = comp.run(["-target", "bpfel", "-fsyntax-only", "-Wno-duplicate-decl-specifier", str(check)])
    assert proc.returncode == 0, proc.stderr.decode()


_KNAMES = st.from_regex(r"CONFIG_[A-Z0-9_]{1,20}", fullmatch=True)
_KVALUES = st.one_of(st.sampled_from(["y", "m", "n"]), st.integers(-2**31, 2**31).map(str),
                     st.from_regex(r'"[a-z0-9 .-]{0,12}"', fullmatch=True))


@given(st.dictionaries(_KNAMES, _KVALUES, max_size=12))
def test_kconfig_renders_like_autoconf_h(config):
    text = "\n".join(["# comment", *(f"{k}={v}" for k, v in config.items()), "# CONFIG_OFF is not set"])
    defines = dict(line[len("#define "):].split(" ", 1) for line in kdefs.render_kconfig(text).splitlines())
    expect = {}
    for k, v in config.items():
        if v == "y":
            expect[k] = "1"
        elif v == "m":
            expect[f"{k}_MODULE"] = "1"
        elif v != "n":
            expect[k] = v
    assert defines == expect


# bcc's disassembler notation for a few opcodes: {dst}, {src}, {imm} decimal, {hex} unsigned
# hex immediate, {off} and {sim} signed with a sign, {to} the jump target (index + off + 1).
_NOTATION = {
    0x07: "{dst} += {imm}", 0x0f: "{dst} += {src}", 0x04: "{dst} += {imm}", 0x17: "{dst} -= {imm}",
    0x47: "{dst} |= {hex}", 0x57: "{dst} &= {hex}", 0xa7: "{dst} ^= {hex}", 0x5f: "{dst} &= {src}",
    0xb7: "{dst} = {imm}", 0xbf: "{dst} = {src}", 0xc7: "{dst} s>>= {imm}", 0x87: "{dst} = ~ (u64){dst}",
    0x84: "{dst} = ~ (u32){dst}", 0x95: "exit", 0x05: "goto {off} <{to}>",
    0x15: "if {dst} == {imm} goto pc{off} <{to}>", 0x5d: "if {dst} != {src} goto pc{off} <{to}>",
    0xa5: "if {dst} < {imm} goto pc{off} <{to}>", 0xcd: "if {dst} s< {src} goto pc{off} <{to}>",
    0x61: "{dst} = *(u32*)({src} {off})", 0x79: "{dst} = *(u64*)({src} {off})",
    0x62: "*(u32*)({dst} {off}) = {imm}", 0x7b: "*(u64*)({dst} {off}) = {src}",
    0x20: "r0 = *(u32*)skb[{imm}]", 0x50: "r0 = *(u8*)skb[{src} {sim}]",
}


@given(st.sampled_from(sorted(_NOTATION)), st.integers(0, 10), st.integers(0, 10),
       st.integers(-2**15, 2**15 - 1), st.integers(-2**31, 2**31 - 1))
def test_disassembly_notation_is_bccs(op, dst, src, off, imm):
    from compat_c.disasm import disassemble
    insn = struct.pack("<BBhi", op, dst | src << 4, off, imm)
    want = _NOTATION[op].format(dst=f"r{dst}", src=f"r{src}", imm=imm, hex=f"0x{imm & 0xFFFFFFFF:x}",
                                off=f"{off:+d}", sim=f"{imm:+d}", to=off + 1)
    assert disassemble("p", insn).splitlines() == ["Disassemble of BPF program p:", f"   0: ({op:02x}) {want}"]


def test_disassembly_of_calls_and_wide_loads():
    from compat_c.disasm import disassemble
    insns = (struct.pack("<BBhi", 0x18, 1 | 1 << 4, 0, 7) + struct.pack("<BBhi", 0, 0, 0, 0)
             + struct.pack("<BBhi", 0x18, 2, 0, -1) + struct.pack("<BBhi", 0, 0, 0, 0x12)
             + struct.pack("<BBhi", 0x85, 0, 0, 1) + struct.pack("<BBhi", 0x85, 1 << 4, 0, -3))
    assert disassemble("p", insns, {0: "counts"}).splitlines()[1:] == [
        "   0: (18) r1 = map[counts]", "   2: (18) r2 = 0x12ffffffff",
        "   4: (85) call bpf_map_lookup_elem#1", "   5: (85) call pc-3"]


def test_syscall_table_names_every_syscall_of_this_kernel():
    """Every syscalls:sys_enter_* event of the running kernel has a name in the shipped table."""
    import os

    from compat_c.syscall_table import SYSCALLS
    from pybpf_dsl.runtime.tracefs import tracefs_root
    events = os.path.join(tracefs_root(), "events", "syscalls")
    if not os.path.isdir(events):
        pytest.skip("this kernel has no syscall tracepoints (CONFIG_FTRACE_SYSCALLS)")
    # the kernel's function names where they differ from the syscall's
    alias = {"newfstat": "fstat", "newstat": "stat", "newlstat": "lstat", "newuname": "uname",
             "sendfile64": "sendfile", "umount": "umount2"}
    kernel = {alias.get(e[len("sys_enter_"):], e[len("sys_enter_"):]) for e in os.listdir(events)
              if e.startswith("sys_enter_")}
    assert kernel - set(SYSCALLS.values()) == set()


def test_importing_bcc_leaves_the_heavy_runtime_parts_unloaded():
    """A tool's ``from bcc import BPF`` loads no ELF reader, buffer poller or netlink code."""
    lazy = ["pybpf_dsl.runtime.elfsyms", "pybpf_dsl.runtime.symbols", "pybpf_dsl.runtime.event_poller",
            "pybpf_dsl.runtime.perf_buffer", "pybpf_dsl.runtime.ring_buffer", "pybpf_dsl.runtime.netlink",
            "pybpf_dsl.runtime.attach.xdp", "pybpf_dsl.runtime.attach.uprobe",
            "pybpf_dsl.runtime.attach.socket", "compat_c.usdt", "compat_c.buildsym"]
    code = f"import sys, compat_c.bcc; print([m for m in {lazy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# ------------------------------------------------------------ type selection index

@st.composite
def _headers(draw):
    """A header as chunks: chunk 0 frames (forward declarations), each middle chunk needs earlier ones."""
    n = draw(st.integers(3, 12))
    needs = [[]] + [sorted(draw(st.sets(st.integers(1, i - 1), max_size=3))) if i > 1 else []
                    for i in range(1, n - 1)] + [[]]
    names: dict[str, list[int]] = {}
    for c in range(1, n - 1):
        for key in draw(st.sets(st.sampled_from(["@a", "@b", "c", "d", "E", "@f", "g"]), max_size=2)):
            names.setdefault(key, []).append(c)
    chunks = [b"#pragma push\n"] + [f"struct s{c} {{ struct p{c} *x; }};\n".encode() for c in range(1, n - 1)] \
        + [b"#pragma pop\n"]
    return chunks, needs, names


def _reach(needs, seeds, stop):
    seen, todo = set(stop), list(seeds)
    while todo:
        c = todo.pop()
        if c not in seen:
            seen.add(c)
            todo.extend(needs[c])
    return seen - set(stop)


@given(_headers(), st.sets(st.sampled_from(["@a", "@b", "c", "d", "E", "@f", "g", "zz"])),
       st.sets(st.sampled_from(["@a", "@b", "@f", "@zz"])), st.sets(st.sampled_from(["c", "d", "@a"]), max_size=1))
@settings(max_examples=150, deadline=None)
def test_type_index_selects_what_a_reachability_model_selects(header, keys, omit, always):
    from compat_c.typeselect import TypeIndex
    chunks, needs, names = header
    index = TypeIndex.from_bytes(TypeIndex.build(chunks, needs, names).with_always(always).to_bytes())
    n = len(chunks)

    def hits(ks):
        return [c for k in ks for c in names.get(k, [])]
    stop = set(hits(omit))
    full = _reach(needs, hits(keys) + hits(always), stop) - {0, n - 1}
    assert index.closure(keys, omit) == sorted(full)
    base = _reach(needs, hits(always), set())
    assert index.base_chunks() == base
    assert index.closure(keys, omit, base=False) == sorted(_reach(needs, hits(keys), stop | base) - {0, n - 1})
    text = b"".join(chunks)
    selected = index.select(text, keys, omit)
    if not full:
        assert selected == ""
        return
    body = "".join(chunks[c].decode() for c in sorted(full))
    forward = "".join(sorted({f"struct {kind}{c};\n" for c in full for kind in "ps"}))  # used or defined
    assert selected == "#pragma push\n" + forward + body + "#pragma pop\n"


@given(st.binary(max_size=64), st.booleans())
@settings(deadline=None)
def test_type_index_rejects_what_it_did_not_write(data, magic):
    from compat_c.typeselect import _MAGIC, TypeIndex
    with pytest.raises(ValueError):
        TypeIndex.from_bytes(_MAGIC + data if magic else data)


def test_wanted_names_count_tags_only_after_their_keyword():
    from compat_c.typeselect import defined_tags, wanted_names
    assert wanted_names("struct task_struct *file; enum x y;") == {"@task_struct", "@x", "struct",
                                                                   "task_struct", "file", "enum", "x", "y"}
    assert defined_tags("struct a { int b; }; struct c *d; union e {") == {"@a", "@e"}


# ------------------------------------------------------------ prelude directories

def _fake_prelude(directory):
    directory.mkdir(parents=True)
    (directory / "vmlinux.h").write_bytes(b"x" * 1000)
    (directory / "stubs").mkdir()
    return directory


def test_prune_removes_other_preludes_but_not_one_in_use(tmp_path):
    import fcntl
    import os
    from compat_c.prelude import prune
    kernel = tmp_path / "kernel"
    keep = _fake_prelude(kernel / "k-new-c")
    old = _fake_prelude(kernel / "k-old-c")
    other_kernel = _fake_prelude(kernel / "k2-old-c")
    busy = _fake_prelude(kernel / "k-busy-c")
    fd = os.open(busy, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)          # a compile of another compat_c version is running
        assert sorted(prune(keep)) == sorted([old.name, other_kernel.name])
    finally:
        os.close(fd)
    assert keep.exists() and busy.exists() and not old.exists() and not other_kernel.exists()
    assert prune(keep) == [busy.name] and sorted(p.name for p in kernel.iterdir()) == [keep.name]


def test_generating_a_prelude_prunes_stale_ones(tmp_path, monkeypatch):
    """A compat_c upgrade makes a new prelude directory; the old ones (~20 MB each) go."""
    from compat_c import cache, prelude
    monkeypatch.setenv("PYBPF_CACHE_DIR", str(tmp_path))
    current = prelude.prelude_for(toolchain.find_compiler())
    stale = _fake_prelude(current.dir.parent / f"{cache.kernel_id()}-000000000000-00000000")
    with current as p:
        assert p.index_file.exists() and p.base_pch.exists()
        assert not stale.exists()
        assert p.base_pch_usable(["-DX=1"], {"@my_own"}) and not p.base_pch_usable([], {"@pt_regs"})
        assert p.flags(True)[-2:] == ["-include-pch", str(p.base_pch)]
        head = p.types_for({"@task_struct", "u32"}, set(), precompiled=True)
        assert "struct task_struct {" in head and "typedef __u32 u32;" not in head   # u32 is precompiled
        assert "typedef __u32 u32;" in p.types_for({"@task_struct"})
    assert [d.name for d in current.dir.parent.iterdir()] == [current.dir.name]


@pytest.mark.parametrize("cflags, safe", [
    ([], True), (["-DMAX=4", "-I/tmp", "-Wno-unused"], True), (["-D", "MAX=4"], True),
    (["-DSEC(x)=x"], False), (["-D", "likely(x)=x"], False), (["-UFOO"], False), (["-O0"], False),
    (["-include", "x.h"], False)])
def test_base_pch_only_when_the_flags_cannot_change_it(tmp_path, cflags, safe):
    from compat_c.prelude import Prelude
    p = Prelude(toolchain.find_compiler(), tmp_path)
    p.base_macros.write_text("SEC\nlikely\n__BCC_BASE_H\n")
    assert p._pch_safe(cflags) is safe


def test_compiles_import_the_callers_modules_while_clang_runs():
    from compat_c.frontend import _Idle
    sys.modules.pop("colorsys", None)
    job = toolchain.Job(["sh", "-c", "sleep 0.2; wc -c"])   # like clang: reads all input, then writes
    job.feed(b"x" * 200_000)          # more than a pipe holds: written as the child reads
    idle = _Idle(["colorsys"])
    assert idle.wait(job) == (0, b"200000\n", b"")
    assert "colorsys" in sys.modules and idle.todo == []


def test_a_compiler_job_can_be_cancelled_or_exit_without_reading():
    job = toolchain.Job(["cat"])
    job.cancel()
    assert job.proc.returncode is not None
    early = toolchain.Job(["true"])
    early.proc.wait()
    early.feed(b"y" * 200_000)        # the reader is gone: no BrokenPipeError
    assert early.proc.communicate() == (b"", b"")


def test_from_compat_c_import_bpf_leaves_the_loader_for_the_compile_to_import():
    """A cold start imports the loader and tables while clang runs (BPF(text=...) prefetches them)."""
    code = ("import sys; from compat_c import BPF; "
            "print([m for m in ('pybpf_dsl.runtime.loader', 'pybpf_dsl.runtime.tables') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
