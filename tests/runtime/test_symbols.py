"""Kernel and user symbolization, in bcc's output format."""

from __future__ import annotations

import ctypes
import mmap
import os
import shutil
import time

import pytest

from pybpf_dsl.runtime import symbols
from pybpf_dsl.runtime.elfsyms import open_elf, proc_maps
from pybpf_dsl.runtime.symbols import SymbolCache, ksym, ksymname, sym, symbolize

from uprobe_testprogs import build_c_programs, release, start_waiting

libc = ctypes.CDLL(None)
PID = os.getpid()


def _kallsyms_text_symbol() -> tuple[int, bytes]:
    with open("/proc/kallsyms", "rb") as f:
        for line in f:
            addr, typ, name = line.split()[:3]
            if typ in (b"T", b"t") and name == b"do_sys_openat2":
                return int(addr, 16), name
    pytest.skip("do_sys_openat2 not in kallsyms")


def test_kernel_symbols():
    addr, name = _kallsyms_text_symbol()
    if addr == 0:
        pytest.skip("kallsyms addresses are hidden (kptr_restrict)")
    assert ksymname(name) == addr
    assert ksymname(name.decode()) == addr
    assert ksym(addr) == name
    assert ksym(addr + 0x10, show_offset=True) == name + b"+0x10"
    assert ksym(addr + 0x10, show_module=True, show_offset=True) == name + b"+0x10 [kernel]"
    assert sym(addr, -1) == name and sym(addr, 0) == name
    assert ksym(1) == b"[unknown]"
    assert ksym(1, show_module=True, show_offset=True) == b"[unknown]"
    assert ksymname("no_such_kernel_symbol_xyz") == -1


def test_kernel_lookup_speed():
    k = symbols.KernelSymbols()
    t = time.perf_counter()
    k.resolve(0xFFFFFFFF81000000)
    load = time.perf_counter() - t
    addr = k.resolve_name(None, "do_sys_openat2")
    t = time.perf_counter()
    for i in range(10000):
        k.resolve(addr + i)
    per = (time.perf_counter() - t) / 10000
    print(f"kallsyms load {load * 1000:.0f} ms, resolve {per * 1e6:.2f} us")
    assert per < 20e-6


def test_user_symbol_in_libc():
    addr = ctypes.cast(libc.getpid, ctypes.c_void_p).value
    assert sym(addr, PID) == b"getpid"
    assert sym(addr + 3, PID, show_offset=True) == b"getpid+0x3"
    out = sym(addr + 3, PID, show_module=True, show_offset=True)
    assert out.startswith(b"getpid+0x3 [libc.so")
    name, offset, module = SymbolCache(PID).resolve(addr)
    assert (name, offset) == (b"getpid", 0) and os.path.basename(module).startswith(b"libc.so")
    assert sym(8, PID, show_module=True) == b"[unknown]"


def test_resolve_name_is_the_runtime_address():
    addr = ctypes.cast(libc.getpid, ctypes.c_void_p).value
    cache = SymbolCache(PID)
    assert cache.resolve_name("c", "getpid") == addr
    assert cache.resolve_name(b"c", b"no_such_fn_xyz") == -1
    assert cache.resolve_name(None, "getpid") == -1


def test_symbolize_a_stack():
    frames = [ctypes.cast(f, ctypes.c_void_p).value for f in (libc.getpid, libc.getppid)]
    assert symbolize(frames, PID) == [b"getpid", b"getppid"]
    assert symbolize([1], -1) == [b"[unknown]"]


def test_vdso():
    vdso = next((m for m in proc_maps(PID) if m.path == "[vdso]"), None)
    if vdso is None:
        pytest.skip("no vDSO mapped")
    out = sym(vdso.start + _vdso_function_offset(vdso), PID, show_module=True)
    assert out.endswith(b" [[vdso]]") and b"unknown" not in out


def _vdso_function_offset(vdso) -> int:
    from pybpf_dsl.runtime.elfsyms import ElfFile
    with open("/proc/self/mem", "rb") as f:
        f.seek(vdso.start)
        elf = ElfFile(f.read(vdso.end - vdso.start), "[vdso]")
    fn = next(elf.functions())
    return elf.vaddr_to_offset(fn.value)


def test_jit_code_through_perf_map():
    region = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    view = ctypes.c_char.from_buffer(region)
    start = ctypes.addressof(view)
    path = f"/tmp/perf-{PID}.map"
    assert not os.path.exists(path)
    try:
        with open(path, "w") as f:
            f.write(f"{start:x} 100 jitted_function_{PID}\n")
        cache = SymbolCache(PID)
        assert cache.resolve(start + 0x10)[:2] == (f"jitted_function_{PID}".encode(), 0x10)
        assert cache.resolve(start + 0x200)[0] is None  # in the region, but no entry
    finally:
        os.unlink(path)
        del view
        region.close()


@pytest.mark.usefixtures("root")
def test_pie_child_and_deleted_executable(tmp_path):
    """A PIE program whose file was deleted after it started still symbolizes."""
    built = build_c_programs(tmp_path)
    copy = tmp_path / "doomed"
    shutil.copy(built["pie"], copy)
    child = start_waiting(str(copy))
    try:
        _wait_for_exec(child.pid, str(copy))
        os.unlink(copy)
        elf_sym = open_elf(built["pie"]).by_name("target_fn")[0]
        file_off = open_elf(built["pie"]).vaddr_to_offset(elf_sym.value)
        text = next(m for m in proc_maps(child.pid)
                    if m.executable and m.path.endswith(" (deleted)")
                    and m.offset <= file_off < m.offset + m.end - m.start)
        addr = text.start + file_off - text.offset
        cache = SymbolCache(child.pid)
        name, offset, module = cache.resolve(addr + 2)
        assert (name, offset) == (b"target_fn", 2)
        assert module == str(copy).encode()
        assert sym(addr, child.pid, show_module=True) == b"target_fn [doomed]"
        release(child)
    finally:
        child.kill()
        child.wait()


def _wait_for_exec(pid: int, path: str) -> None:
    for _ in range(200):
        if any(m.path == path for m in proc_maps(pid)):
            return
        time.sleep(0.01)
    raise AssertionError("child never exec'd")
