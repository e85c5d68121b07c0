"""ELF symbol tables, symbol -> file offset, IFUNCs, library lookup (no kernel needed)."""

from __future__ import annotations

import ctypes
import os
import shutil
import time

import pytest
from elftools.elf.elffile import ELFFile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pybpf_dsl.errors import AttachTargetNotFound, ObjectFormatError
from pybpf_dsl.runtime import elfsyms
from pybpf_dsl.runtime.elfsyms import (ElfFile, find_exe, find_library,
                                       get_user_functions_and_addresses, open_elf, parse_ld_cache,
                                       parse_notes, proc_maps, resolve_binary, resolve_symbol)

from uprobe_testprogs import build_c_programs  # noqa: E402

LIBC = find_library("c")


@pytest.fixture(scope="module")
def c_programs(tmp_path_factory):
    return build_c_programs(tmp_path_factory.mktemp("uprobe_c"))


def _file_offset_in_this_process(addr: int) -> tuple[str, int]:
    for m in proc_maps("self"):
        if m.start <= addr < m.end and m.perms.endswith("p"):
            return m.path, addr - m.start + m.offset
    raise AssertionError("address not mapped")


def test_library_lookup():
    assert LIBC is not None and os.path.basename(LIBC).startswith("libc.so")
    assert os.path.samefile(find_library("c", os.getpid()), LIBC)
    assert find_library(b"c") == LIBC
    assert find_library("no_such_library_xyz") is None
    assert find_library("no_such_library_xyz", os.getpid()) is None
    assert find_library(LIBC) == LIBC


def test_find_exe_and_resolve_binary():
    sh = find_exe("sh")
    assert sh is not None and os.access(sh, os.X_OK)
    assert find_exe(sh) == sh
    assert find_exe("/no/such/exe") is None
    assert find_exe("no_such_command_xyz") is None
    assert resolve_binary("c") == LIBC
    with pytest.raises(AttachTargetNotFound, match="no library or executable named"):
        resolve_binary("no_such_thing_xyz")
    with pytest.raises(AttachTargetNotFound, match="no such file"):
        resolve_binary("/no/such/file")


def test_symbols_match_pyelftools():
    """Every defined .dynsym symbol pyelftools sees, we see with the same value/size/type."""
    ours = {(s.name, s.value, s.size) for s in open_elf(LIBC).symbols}
    with open(LIBC, "rb") as f:
        elf = ELFFile(f)
        for sym in elf.get_section_by_name(".dynsym").iter_symbols():
            if sym["st_shndx"] != "SHN_UNDEF" and sym.name:
                assert (sym.name, sym["st_value"], sym["st_size"]) in ours, sym.name


def test_symbol_offset_matches_the_loader():
    libc = ctypes.CDLL(None)
    addr = ctypes.cast(libc.getpid, ctypes.c_void_p).value
    path, off = _file_offset_in_this_process(addr)
    loc = resolve_symbol(LIBC, "getpid")
    assert os.path.samefile(path, LIBC)
    assert loc.offset == off and not loc.ifunc


def test_ifunc_resolves_to_the_implementation_in_use():
    libc = ctypes.CDLL(None)
    addr = ctypes.cast(libc.strlen, ctypes.c_void_p).value
    _, off = _file_offset_in_this_process(addr)
    loc = resolve_symbol(LIBC, "strlen")
    assert loc.ifunc and loc.offset == off
    resolver = [s for s in open_elf(LIBC).by_name("strlen") if not s.hidden][0]
    assert resolver.type == elfsyms.STT_GNU_IFUNC
    assert open_elf(LIBC).vaddr_to_offset(resolver.value) != loc.offset


def test_ifunc_in_a_copy_of_libc_uses_the_loaded_twin(tmp_path):
    """A container's libc (same build, other path) resolves without loading a second libc."""
    copy = tmp_path / "libc.so.6"
    shutil.copy(LIBC, copy)
    loc = resolve_symbol(str(copy), "strlen")
    assert loc.ifunc and loc.offset == resolve_symbol(LIBC, "strlen").offset
    assert not any(m.path == str(copy) for m in proc_maps("self") if m.perms.endswith("p"))


def test_versioned_symbols_prefer_the_default_version():
    syms = open_elf(LIBC).by_name("memcpy")
    loc = resolve_symbol(LIBC, "memcpy")
    if len(syms) > 1:
        assert any(s.hidden for s in syms)
    assert loc.ifunc == any(s.type == elfsyms.STT_GNU_IFUNC and not s.hidden for s in syms)


def test_pie_and_fixed_executables(c_programs):
    for kind, path in c_programs.items():
        elf = open_elf(path)
        assert elf.is_pie_or_shared == (kind == "pie")
        sym = elf.by_name("target_fn")[0]
        loc = resolve_symbol(path, "target_fn")
        seg = next(s for s in elf.segments if s.vaddr <= sym.value < s.vaddr + s.filesz)
        assert loc.offset == sym.value - seg.vaddr + seg.offset
        assert elf.offset_to_vaddr(loc.offset) == sym.value
        assert resolve_symbol(path, "target_fn", 4).offset == loc.offset + 4
        assert elf.find_function(sym.value + 1).name == "target_fn"


def test_missing_symbol_suggests_close_names():
    with pytest.raises(AttachTargetNotFound, match=r"no symbol 'getpidd' in .*did you mean getpid"):
        resolve_symbol(LIBC, "getpidd")


def test_user_functions_regex():
    found = dict(get_user_functions_and_addresses("c", rb"^getpid$"))
    assert found == {b"getpid": open_elf(LIBC).by_name("getpid")[0].value}
    assert get_user_functions_and_addresses(LIBC, "^no_such_fn_") == []


def test_build_id_matches_pyelftools():
    with open(LIBC, "rb") as f:
        sec = ELFFile(f).get_section_by_name(".note.gnu.build-id")
        expected = next(iter(sec.iter_notes()))["n_desc"] if sec is not None else None
    assert elfsyms.build_id(LIBC) == expected


def test_cache_is_keyed_by_inode_and_mtime(c_programs, tmp_path):
    copy = tmp_path / "copy"
    shutil.copy(c_programs["pie"], copy)
    first = open_elf(str(copy))
    assert open_elf(str(copy)) is first
    os.utime(copy, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert open_elf(str(copy)) is not first


def test_parse_speed_libc_sized():
    """A cold parse of libc's symbol tables (plus its debug file, if installed)."""
    with open(LIBC, "rb") as f:
        data = f.read()
    t = time.perf_counter()
    n = len(ElfFile(data, LIBC).symbols)
    elapsed = time.perf_counter() - t
    print(f"libc: {n} symbols parsed in {elapsed * 1000:.1f} ms")
    assert elapsed < 0.5


def test_ld_cache_parser():
    with open("/etc/ld.so.cache", "rb") as f:
        entries = parse_ld_cache(f.read())
    assert any(os.path.basename(p) == os.path.basename(LIBC) for _, p, _ in entries)
    with pytest.raises(ObjectFormatError):
        parse_ld_cache(b"not a cache")


def test_not_elf():
    with pytest.raises(ObjectFormatError, match="not an ELF file"):
        ElfFile(b"#!/bin/sh\n", "script")


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=512))
def test_malformed_elf_only_raises_format_errors(blob):
    for data in (blob, b"\x7fELF\x02\x01\x01" + blob):
        try:
            elf = ElfFile(data, "fuzz")
            elf.symbols
            elf.build_id
            list(elf.notes())
        except ObjectFormatError:
            pass


@settings(max_examples=100)
@given(st.integers(0, 4096), st.binary(max_size=64))
def test_truncated_real_elf_only_raises_format_errors(cut, junk):
    with open("/bin/true", "rb") as f:
        data = f.read()
    try:
        elf = ElfFile(data[:cut] + junk, "truncated")
        elf.symbols
        elf.build_id
    except ObjectFormatError:
        pass


@given(st.binary(max_size=256))
def test_note_parser_only_raises_format_errors(blob):
    lay = elfsyms._LAYOUTS[(2, 1)]
    try:
        for name, ntype, desc in parse_notes(blob, lay, "fuzz"):
            assert isinstance(name, bytes) and isinstance(desc, bytes)
    except ObjectFormatError:
        pass


@given(st.binary(max_size=400))
def test_ld_cache_parser_only_raises_format_errors(blob):
    try:
        parse_ld_cache(b"glibc-ld.so.cache1.1" + blob)
    except ObjectFormatError:
        pass
