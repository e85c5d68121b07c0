"""The loader's ELF reader agrees with pyelftools, and malformed input is an ObjectFormatError."""

from __future__ import annotations

import io
import os
import sys

import pytest
from elftools.elf.elffile import ELFFile
from elftools.elf.enums import ENUM_E_MACHINE
from elftools.elf.relocation import RelocationSection
from elftools.elf.sections import SymbolTableSection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pybpf_dsl.errors import ObjectFormatError
from pybpf_dsl.runtime.elfobj import SHT_REL, SHT_RELA, SHT_SYMTAB, ElfObject

BPF_SOURCE = r"""
#define SEC(n) __attribute__((section(n), used))
struct { int (*type)[1]; int (*max_entries)[4]; unsigned *key; unsigned long long *value; } m SEC(".maps");
static void *(*lookup)(void *map, const void *key) = (void *) 1;
const volatile int ro = 1;
int data = 2;
static __attribute__((noinline)) int sub(int x) { return x + ro; }
SEC("tracepoint/a/b") int prog(void *ctx) { unsigned k = 0; return sub(data) + (lookup(&m, &k) != 0); }
char LICENSE[] SEC("license") = "GPL";
"""


def _same_as_pyelftools(data: bytes) -> None:
    ours = ElfObject(data, "obj")
    ref = ELFFile(io.BytesIO(data))
    assert ours.machine == ENUM_E_MACHINE[ref["e_machine"]]
    assert ours.little_endian == ref.little_endian
    ref_sections = list(ref.iter_sections())
    assert [s.name for s in ours.sections] == [s.name for s in ref_sections]
    for sec, rsec in zip(ours.sections, ref_sections):
        assert (sec.offset, sec.size, sec.flags, sec.link, sec.info, sec.entsize) == \
            (rsec["sh_offset"], rsec["sh_size"], rsec["sh_flags"], rsec["sh_link"], rsec["sh_info"],
             rsec["sh_entsize"]), sec.name
        if isinstance(rsec, SymbolTableSection):
            syms = ours.symbols(sec)
            rsyms = list(rsec.iter_symbols())
            assert [s.name for s in syms] == [s.name for s in rsyms]
            for s, r in zip(syms, rsyms):
                assert (s.value, s.size) == (r["st_value"], r["st_size"])
                shndx = r["st_shndx"]
                assert s.shndx == ({"SHN_UNDEF": 0, "SHN_ABS": 0xFFF1, "SHN_COMMON": 0xFFF2}.get(shndx, shndx))
        elif isinstance(rsec, RelocationSection):
            rels = ours.relocations(sec)
            assert [(r.offset, r.sym, r.type) for r in rels] == \
                [(r["r_offset"], r["r_info_sym"], r["r_info_type"]) for r in rsec.iter_relocations()]
        elif rsec["sh_type"] not in ("SHT_NOBITS", "SHT_NULL"):
            assert ours.data(sec) == rsec.data(), sec.name


def test_bpf_object_reads_like_pyelftools(bpf_cc):
    with open(bpf_cc(BPF_SOURCE), "rb") as f:
        _same_as_pyelftools(f.read())


@pytest.mark.parametrize("path", [sys.executable, "/bin/ls"])
def test_host_binary_reads_like_pyelftools(path):
    path = os.path.realpath(path)
    if not os.path.exists(path):
        pytest.skip(f"{path} is absent")
    with open(path, "rb") as f:
        _same_as_pyelftools(f.read())


def test_rejects_what_is_not_a_64_bit_elf():
    with pytest.raises(ObjectFormatError, match="not an ELF object"):
        ElfObject(b"\x7fELX" + bytes(60), "x")
    with pytest.raises(ObjectFormatError, match="not a 64-bit ELF object"):
        ElfObject(b"\x7fELF\x01\x01" + bytes(58), "x")
    with pytest.raises(ObjectFormatError, match="truncated ELF header"):
        ElfObject(b"\x7fELF\x02\x01" + bytes(10), "x")


_VALID: dict[str, bytes] = {}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                    HealthCheck.function_scoped_fixture])
@given(st.data())
def test_malformed_input_is_an_object_format_error(bpf_cc, data):
    if "obj" not in _VALID:
        with open(bpf_cc(BPF_SOURCE), "rb") as f:
            _VALID["obj"] = f.read()
    blob = bytearray(_VALID["obj"])
    for _ in range(data.draw(st.integers(1, 8))):
        blob[data.draw(st.integers(0, len(blob) - 1))] = data.draw(st.integers(0, 255))
    try:
        elf = ElfObject(bytes(blob), "fuzz")
        for sec in elf.sections:
            elf.data(sec)
            if sec.type == SHT_SYMTAB:
                elf.symbols(sec)
            elif sec.type in (SHT_REL, SHT_RELA):
                elf.relocations(sec)
    except ObjectFormatError:
        pass
