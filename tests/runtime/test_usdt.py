"""USDT: note and argument parsing, and live probes on Debian's python3.11 (semaphores included)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pybpf_dsl.errors import ObjectFormatError
from pybpf_dsl.runtime import elfsyms
from pybpf_dsl.runtime.uapi import AttachType
from pybpf_dsl.runtime.attach.usdt import USDT, USDTException, attach_usdt
from pybpf_dsl.runtime.usdt import (PT_REGS_OFFSETS, UsdtLocation, file_probes, find_probe, parse_arg,
                                    parse_args, parse_stapsdt_desc, readarg_c)

from uprobe_testprogs import SLOT_COOKIE, SLOT_HITS, SLOT_VALUE, counting_prog, new_array, read_slot

PYTHON = "/usr/bin/python3.11"
needs_python = pytest.mark.skipif(not os.path.exists(PYTHON), reason=f"{PYTHON} is not installed")


# ---------------------------------------------------------------- argument specs

@pytest.mark.parametrize("spec, expect", [
    ("-4@%eax", dict(kind="reg", size=4, signed=True, reg="ax", reg_offset=80, reg_size=4)),
    ("8@%r12", dict(kind="reg", size=8, signed=False, reg="r12", reg_offset=24)),
    ("1@%ah", dict(kind="reg", size=1, reg="ax", reg_offset=81, reg_size=1)),
    ("8@-16(%rbp)", dict(kind="mem", size=8, reg="bp", reg_offset=32, offset=-16)),
    ("-4@112(%rsp)", dict(kind="mem", size=4, signed=True, reg="sp", offset=112)),
    ("4@$5", dict(kind="const", size=4, value=5)),
    ("-8@$-0x10", dict(kind="const", size=8, signed=True, value=-16)),
    ("8@(%rax,%rdx,8)", dict(kind="mem", reg="ax", index_reg="dx", index_offset=96, scale=8)),
    ("-4@counter+4(%rip)", dict(kind="mem", reg="ip", symbol="counter", offset=4)),
    ("%rdi", dict(kind="reg", size=8, reg="di")),
])
def test_arg_specs(spec, expect):
    arg = parse_arg(spec)
    for field, value in expect.items():
        assert getattr(arg, field) == value, field
    assert arg.text == spec


@pytest.mark.parametrize("spec, why", [
    ("3@%eax", "size 3"), ("8@%xyz", "unknown x86_64 register"), ("8@(%rax,%rbx,3)", "scale 3"),
    ("8@sym(%rbx)", "needs %rip"), ("8@()", "without a base"), ("8@[sp, 8]", "not a constant"),
    ("8@8(%al)", "cannot be a base"),
])
def test_bad_arg_specs(spec, why):
    with pytest.raises(ObjectFormatError, match=why):
        parse_arg(spec)


_REG_NAMES = st.sampled_from(["rax", "eax", "ax", "al", "rbx", "ebx", "rsi", "esi", "rdi", "rbp",
                              "rsp", "r8", "r9d", "r10w", "r11b", "r15"])
_SIZES = st.sampled_from([1, 2, 4, 8])


@st.composite
def _specs(draw):
    size, signed = draw(_SIZES), draw(st.booleans())
    kind = draw(st.sampled_from(["const", "reg", "mem"]))
    if kind == "const":
        value = draw(st.integers(-2**63, 2**63 - 1))
        operand = f"${value}"
    elif kind == "reg":
        value = draw(_REG_NAMES)
        operand = f"%{value}"
    else:
        value = draw(st.integers(-2**31, 2**31 - 1))
        base = draw(st.sampled_from(["rax", "rbp", "rsp", "r12"]))
        operand = f"{value}(%{base})"
    return f"{-size if signed else size}@{operand}", size, signed, kind, value


@given(_specs())
def test_generated_specs_round_trip(case):
    spec, size, signed, kind, value = case
    arg = parse_arg(spec)
    assert (arg.size, arg.signed, arg.kind) == (size, signed, kind)
    if kind == "const":
        assert arg.value == value
    elif kind == "reg":
        assert arg.reg_offset - PT_REGS_OFFSETS[arg.reg] in (0, 1)
    else:
        assert arg.offset == value


@given(st.text(max_size=40))
def test_arg_parser_only_raises_format_errors(text):
    try:
        parse_args(text)
    except ObjectFormatError as e:
        assert "bad USDT argument spec" in str(e)


@given(st.binary(max_size=120))
def test_note_desc_parser_only_raises_format_errors(blob):
    try:
        pc, base, sema, provider, name, args = parse_stapsdt_desc(blob, elfsyms._LAYOUTS[(2, 1)])
        assert provider and name
    except ObjectFormatError:
        pass


# ---------------------------------------------------------------- notes of python3.11

@needs_python
def test_python_notes():
    probes = {p.short_name(): p for p in file_probes(PYTHON)}
    entry = probes["python:function__entry"]
    assert entry.num_arguments == 3 and entry.num_locations >= 1
    assert entry.semaphore != 0
    elf = elfsyms.open_elf(PYTHON)
    for loc in entry.locations:
        assert loc.offset == elf.vaddr_to_offset(loc.pc)
        assert loc.ref_ctr_offset == elf.vaddr_to_offset(entry.semaphore)
    assert [a.kind for a in entry.locations[0].args] == ["reg", "reg", "reg"]
    assert "python:gc__start" in probes
    assert find_probe(probes.values(), "gc__start") == [probes["python:gc__start"]]


@needs_python
def test_usdt_object_listing_and_text():
    u = USDT(path=PYTHON)
    names = {p.short_name() for p in u.enumerate_probes()}
    assert {"python:function__entry", "python:function__return", "python:gc__start"} <= names
    u.enable_probe("python:function__entry", "on_entry")
    text = u.get_text()
    assert "_bpf_readarg_on_entry_1(" in text and "_bpf_readarg_on_entry_3(" in text
    assert "bpf_get_attach_cookie(ctx)" in text
    assert u.get_probe_arg_ctype("function__entry", 2) == "int32_t"
    assert u.enumerate_active_probes()[0][1] == b"on_entry"
    with pytest.raises(USDTException, match="no such probe"):
        u.enable_probe("python:no_such_probe", "x")
    with pytest.raises(USDTException, match="either a pid or a binary path"):
        USDT()


def test_readarg_c_for_every_kind():
    locs = [UsdtLocation("/x", 0, 0, 0, 0, parse_args("-4@%eax 8@-16(%rbp) 4@$5 8@(%rax,%rdx,8)"))]
    for i in range(1, 5):
        code = readarg_c("fn", i, locs)
        assert code.startswith("static inline") and f"_bpf_readarg_fn_{i}(" in code
    assert "bpf_probe_read_user" in readarg_c("fn", 2, locs)
    assert "(unsigned int)5LL" in readarg_c("fn", 3, locs)
    assert "+ 96)" in readarg_c("fn", 4, locs) and "* 8" in readarg_c("fn", 4, locs)


# ---------------------------------------------------------------- live probes

def _python_child(code: str) -> subprocess.Popen:
    """python3.11 running ``code`` after one line arrives on stdin."""
    script = (f"import sys\nprint('ready', flush=True)\nsys.stdin.readline()\n{code}\n"
              "print('done', flush=True)\nsys.stdin.readline()\n")
    child = subprocess.Popen([PYTHON, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert child.stdout.readline() == b"ready\n"  # exec'd and running: its maps are final
    return child


def _finish(child: subprocess.Popen) -> None:
    child.stdin.write(b"\n")
    child.stdin.flush()
    assert child.stdout.readline() == b"done\n"


def _semaphore(pid: int, vaddr: int) -> int:
    with open(f"/proc/{pid}/mem", "rb") as f:
        f.seek(vaddr)
        return int.from_bytes(f.read(2), "little")


def _stop(child: subprocess.Popen) -> None:
    child.kill()
    child.wait()
    child.stdin.close()
    child.stdout.close()


@needs_python
@pytest.mark.usefixtures("root")
@pytest.mark.parametrize("attach_type", [0, AttachType.TRACE_UPROBE_MULTI], ids=["perf", "multi"])
def test_semaphore_guarded_probe_with_memory_argument(attach_type):
    """gc__start is guarded by a semaphore; its argument is -4@112(%rsp)."""
    probe = find_probe(file_probes(PYTHON), "python:gc__start")[0]
    arg = probe.locations[0].args[0]
    assert elfsyms.open_elf(PYTHON).type == elfsyms.ET_EXEC  # addresses are absolute here
    child = _python_child("import gc\nfor g in (0, 1, 2): gc.collect(g)")
    try:
        with new_array() as m, counting_prog(m, child.pid, value_mem=(arg.reg_offset, arg.offset),
                                             value_size=arg.size, record_cookie=True,
                                             expected_attach_type=attach_type) as prog:
            assert _semaphore(child.pid, probe.semaphore) == 0
            with attach_usdt(prog, PYTHON, "python", "gc__start", pid=child.pid) as link:
                assert link.kind == "usdt"
                assert len(link.fds) == (1 if attach_type else 2 * probe.num_locations)
                assert _semaphore(child.pid, probe.semaphore) == 1
                _finish(child)
            assert _semaphore(child.pid, probe.semaphore) == 0
            assert read_slot(m, SLOT_HITS) == 3
            assert read_slot(m, SLOT_VALUE) == 2  # the last generation collected
            assert read_slot(m, SLOT_COOKIE) == 0
    finally:
        _stop(child)


@needs_python
@pytest.mark.usefixtures("root")
def test_usdt_by_pid_with_register_argument():
    """function__entry (python 3.11 fires it while a profile hook is set); lineno is -4@%eax."""
    code = "sys.setprofile(lambda *a: None)\ndef f():\n    pass\nfor _ in range(10): f()\nsys.setprofile(None)"
    def_line, lambda_line = 5, 4  # after the 3 lines _python_child puts first
    child = _python_child(code)
    try:
        u = USDT(pid=child.pid)
        u.enable_probe("function__entry", "on_entry")
        arg = find_probe(u.enumerate_probes(), "function__entry")[0].locations[0].args[2]
        with new_array() as m, counting_prog(m, child.pid, value_ctx_off=arg.reg_offset,
                                             value_size=arg.reg_size) as prog:
            links = u.attach({"on_entry": prog})
            assert len(links) == 1
            _finish(child)
            u.close()
            assert links[0].closed
            assert read_slot(m, SLOT_HITS) >= 10
            assert read_slot(m, SLOT_VALUE) in (def_line, lambda_line)
    finally:
        _stop(child)


@needs_python
@pytest.mark.usefixtures("root")
def test_missing_probe_lists_the_known_ones():
    with new_array() as m, counting_prog(m, os.getpid()) as prog:
        with pytest.raises(USDTException, match="it has .*python:function__entry"):
            attach_usdt(prog, PYTHON, "python", "nope")
        with pytest.raises(USDTException, match="no USDT probes"):
            attach_usdt(prog, "c", "libc", "nope")


def test_running_interpreter_listing_is_a_list():
    """This process may or may not carry probes (pyenv builds do not); listing must work."""
    assert isinstance(USDT(pid=os.getpid()).enumerate_probes(), list)
    assert sys.executable


def test_generated_readarg_code_compiles_for_bpf(tmp_path):
    """The C that USDT.get_text() emits is valid BPF C (clang through the ziglang wheel)."""
    pytest.importorskip("ziglang")
    locs = [UsdtLocation("/x", 0, 0, 0, 0, parse_args("-4@%eax 8@-16(%rbp) 4@$5 8@(%rax,%rdx,8)")),
            UsdtLocation("/x", 0, 0, 0, 0, parse_args("-4@%r12d 8@%rbx 4@$7 8@8(%rax)"))]
    src = tmp_path / "usdt.c"
    src.write_text(
        "struct pt_regs;\n"
        "static long (*bpf_get_attach_cookie)(void *) = (void *)174;\n"
        "static long (*bpf_probe_read_user)(void *, unsigned int, const void *) = (void *)112;\n"
        + "\n".join(readarg_c("fn", i, locs) for i in range(1, 5))
        + "int prog(struct pt_regs *ctx) { int a; long long b; unsigned c; unsigned long long d;\n"
          "  _bpf_readarg_fn_1(ctx, &a, sizeof a); _bpf_readarg_fn_2(ctx, &b, sizeof b);\n"
          "  _bpf_readarg_fn_3(ctx, &c, sizeof c); _bpf_readarg_fn_4(ctx, &d, sizeof d);\n"
          "  return a + b + c + d; }\n")
    res = subprocess.run([sys.executable, "-m", "ziglang", "cc", "-target", "bpfel-freestanding-none",
                          "-O2", "-Wall", "-Werror", "-c", str(src), "-o", str(tmp_path / "u.o")],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


# ---------------------------------------------------------------- a process that cannot be read

def test_usdt_of_a_missing_process_says_so():
    pid = 1 << 22  # above pid_max's ceiling: never a live process
    with pytest.raises(USDTException, match=f"^USDT failed to instrument PID {pid}: no process with pid {pid}$"):
        USDT(pid=pid)


def test_unreadable_process_reasons(monkeypatch):
    from pybpf_dsl.runtime.attach import usdt as mod
    denied = PermissionError(13, "Permission denied", "/proc/7/maps")
    monkeypatch.setattr(mod, "effective_capabilities", lambda: ~0)
    assert "ptrace access check refused /proc/7/maps" in mod._unreadable(7, denied)
    assert "USDT(path=BINARY)" in mod._unreadable(7, denied)
    monkeypatch.setattr(mod, "effective_capabilities", lambda: 0)
    assert mod._unreadable(7, denied).endswith("root with CAP_SYS_PTRACE")
    assert mod._unreadable(7, OSError(5, "Input/output error", "/x")) == "/x: Input/output error"


_DENIED_CHILD = """
import os, sys
from pybpf_dsl.runtime.attach.usdt import USDT, USDTException
os.setresuid(65534, 65534, 65534)  # nobody: no capabilities left
try:
    USDT(pid=int(sys.argv[1]))
except USDTException as e:
    print(e)
"""


def test_usdt_of_another_users_process_names_what_is_missing(root):
    """A tracer that is neither the process's owner nor privileged may not read its maps."""
    target = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        done = subprocess.run([sys.executable, "-c", _DENIED_CHILD, str(target.pid)], capture_output=True,
                              text=True, timeout=60)
    finally:
        target.kill()
        target.wait()
    assert done.stdout.strip() == (f"USDT failed to instrument PID {target.pid}: reading /proc/{target.pid}/maps "
                                   "needs ptrace access to the process: run as its owner or as root with "
                                   "CAP_SYS_PTRACE"), done.stderr


def test_usdt_of_a_protected_process_is_one_actionable_line(root):
    """Root with CAP_SYS_PTRACE can still be refused (here: pid 1, the VM's init)."""
    try:
        open("/proc/1/maps").close()
    except PermissionError:
        pass
    else:
        pytest.skip("pid 1's memory map is readable here")
    with pytest.raises(USDTException) as info:
        USDT(pid=1)
    msg = str(info.value)
    assert "\n" not in msg and "ptrace access check refused /proc/1/maps" in msg
    assert msg.endswith("USDT(path=BINARY) instead")
