"""Load a BPF ELF object into the kernel: the libbpf order, undone on failure.

::

    with load_object("prog.o") as coll:
        coll.programs["handler"].test_run()
        coll.maps["counts"][key]

Steps: parse (pure, :mod:`.elf`) -> load program BTF -> create or reuse
maps, fill and freeze global data and .kconfig -> store inner maps in their
outer maps -> CO-RE relocate against kernel BTF -> patch map references and
kernel symbols -> load programs, storing each in the prog arrays that name it.  Anything created is closed again
if a later step fails.
"""

from __future__ import annotations

import gzip
import os
import struct
from dataclasses import replace
from typing import Any, Iterable

from ..errors import NotSupported, ObjectFormatError, syscall_error
from . import syscall
from .btf import BTF, Kind, find_in_kernel, kernel_btf
from .closing import Closing
from .core import relocate
from .cpus import num_possible_cpus
from .elf import KCONFIG, Extern, ObjectSpec, parse_object
from .fd import FD
from .mapspec import MapSpec, PinMode
from .program import KsymRef, ModuleBtfFds, Program, ProgramSpec, load_program
from .uapi import (BPF_CALL, BPF_PSEUDO_BTF_ID, BPF_PSEUDO_KFUNC_CALL, BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_VALUE,
                   MapType, ProgType)

__all__ = ["Collection", "load_object", "load_btf", "link_program", "kconfig_data", "kernel_config",
           "kernel_version_code"]

_INSN = struct.Struct("<BBhi")


class Collection(Closing):
    """The live maps and programs of one object.  ``close()`` (or ``with``) releases all."""

    def __init__(self, spec: ObjectSpec, btf_fd: FD | None) -> None:
        self.spec = spec
        self.btf_fd = btf_fd
        self.maps: dict[str, Any] = {}
        self.programs: dict[str, Program] = {}
        self.core_notes: dict[str, list[str]] = {}
        self.borrowed: set[str] = set()  # maps the caller passed in: never closed here

    def load_program(self, name: str, prog_type: ProgType | None = None, *,
                     attach_type: Any = None, flags: int | None = None, attach_to: str | None = None,
                     **kw: Any) -> Program:
        """Load (or return the already loaded) program ``name``.

        ``prog_type`` (with ``attach_type``, ``flags``, ``attach_to``) overrides
        what the section name implies, as bcc's ``load_func`` does; other
        keywords go to :func:`~pybpf_dsl.runtime.program.load_program`
        (``log_level``, ``ifindex``, ``attach_prog_fd``...).
        """
        prog = self.programs.get(name)
        if prog is not None and (prog_type is None or prog.type == prog_type):
            return prog
        try:
            spec = self.spec.programs[name]
        except KeyError:
            raise KeyError(f"no program {name!r} in the object (it has: "
                           f"{', '.join(self.spec.programs) or 'none'})") from None
        if prog_type is not None:
            spec = spec.with_type(prog_type, attach_type, flags, attach_to)
        if spec.prog_type == ProgType.UNSPEC:
            raise ValueError(f"program {name!r} is in section {spec.section!r}, which names no program"
                             " type: pass prog_type")
        with ModuleBtfFds() as modules:
            insns, notes = link_program(spec, self.maps, modules=modules)
            if notes:
                self.core_notes[name] = notes
            prog = load_program(spec, insns, btf_fd=self.btf_fd.fileno() if self.btf_fd else 0,
                                fd_array=modules.fd_array(), **kw)
        if name in self.programs:
            self.programs[name].close()
        self.programs[name] = prog
        self.fill_slots("prog", name)
        return prog

    def fill_slots(self, kind: str, name: str | None = None) -> None:
        """Store the object's initial ``.values`` of map-in-map and prog-array maps:
        slots naming a ``kind`` ("map" or "prog") object (only ``name``, if given)."""
        live = self.maps if kind == "map" else self.programs
        for outer, mspec in self.spec.maps.items():
            if outer in self.borrowed:
                continue
            for slot, (k, target) in mspec.extra.get("slots", {}).items():
                if k == kind and (name is None or target == name) and target in live:
                    self.maps[outer].update(struct.pack("<I", slot), struct.pack("<I", live[target].fileno()))

    def close(self) -> None:
        """Close every program, map and the program BTF (idempotent)."""
        for prog in self.programs.values():
            prog.close()
        for name, m in self.maps.items():
            if name not in self.borrowed:
                m.close()
        if self.btf_fd is not None:
            self.btf_fd.close()

    def __repr__(self) -> str:
        return f"<Collection maps={list(self.maps)} programs={list(self.programs)}>"


def load_btf(data: bytes) -> FD:
    """BPF_BTF_LOAD program BTF; the error carries the kernel's BTF log."""
    fd, err, _log = syscall.btf_load(data)
    if fd < 0:
        _fd, err, log = syscall.btf_load(data, log_level=1)
        reason = log.strip().splitlines()[-1] if log.strip() else None
        raise syscall_error("BPF_BTF_LOAD", err, "loading program BTF", reason)
    return FD(fd, "btf")


def link_program(spec: ProgramSpec, maps: dict[str, Any], target_btf: BTF | None = None, *,
                 modules: ModuleBtfFds | None = None) -> tuple[bytes, list[str]]:
    """``spec``'s code with CO-RE applied and map fds / global data addresses patched in.

    ``__ksym`` externs resolve against vmlinux BTF and, when ``modules`` is
    given, against loaded modules' BTF (whose fds it then holds: load the
    program with ``fd_array=modules.fd_array()`` before closing it).
    """
    code, notes = spec.insns, []
    if spec.core_relos:
        if spec.btf is None:
            raise ObjectFormatError(f"program {spec.name!r} has CO-RE relocations but no BTF")
        code, notes = relocate(code, spec.core_relos, spec.btf, target_btf or kernel_btf(), spec.name)
    if not spec.map_refs and not spec.ksym_refs:
        return code, notes
    buf = bytearray(code)
    if spec.ksym_refs:
        _patch_ksyms(buf, spec, modules)
    for ref in spec.map_refs:
        m = maps.get(ref.map)
        if m is None:
            raise KeyError(f"program {spec.name!r} uses map {ref.map!r}, which was not created")
        src = BPF_PSEUDO_MAP_FD if ref.offset is None else BPF_PSEUDO_MAP_VALUE
        _set_ld_imm64(buf, ref.insn * 8, src, m.fileno(), ref.offset or 0)
    return bytes(buf), notes


def _patch_ksyms(buf: bytearray, spec: ProgramSpec, modules: ModuleBtfFds | None) -> None:
    """Resolve ``__ksym`` references as libbpf does.

    An untyped variable gets its /proc/kallsyms address.  A typed variable
    or a kfunc gets its BTF id (a kfunc call in ``imm`` with the module's
    ``fd_array`` index in ``off``; an ``ld_imm64`` of either, as
    ``bpf_ksym_exists()`` emits, the id with the module BTF fd in the second
    half).  A missing ``__weak`` one reads as 0, and a call of a missing
    weak kfunc keeps ``imm`` 0: the verifier accepts it only as dead code,
    which a ``bpf_ksym_exists()`` guard makes it.
    """
    addrs = _kallsyms({r.name for r in spec.ksym_refs if r.kind == "addr"})
    search = None if modules is not None else []
    for ref in spec.ksym_refs:
        pos = ref.insn * 8
        opcode, regs, _off, _imm = _INSN.unpack_from(buf, pos)
        if ref.kind == "addr":
            addr = addrs.get(ref.name)
            if addr is None:
                _missing(ref, spec, "/proc/kallsyms")
            _set_ld_imm64(buf, pos, 0, (addr or 0) & 0xFFFFFFFF, (addr or 0) >> 32)
            continue
        found = find_in_kernel(ref.name, Kind.FUNC if ref.kind == "func" else Kind.VAR, search)
        if found is None:
            _missing(ref, spec, "kernel BTF" if search == [] else "the BTF of the kernel and its loaded modules")
        module, btf_id = (found[0], found[1].id) if found else (None, 0)
        index = obj_fd = 0  # vmlinux: off 0, no BTF fd
        if module is not None and modules is not None:
            index, obj_fd = modules.index(module), modules.fd(module)
        if opcode == BPF_CALL:  # off: the module's fd_array slot
            _INSN.pack_into(buf, pos, opcode, (regs & 0x0F) | (BPF_PSEUDO_KFUNC_CALL << 4), index, btf_id)
        elif found is None:
            _set_ld_imm64(buf, pos, 0, 0, 0)
        else:  # the second half: the module's BTF fd
            _set_ld_imm64(buf, pos, BPF_PSEUDO_BTF_ID, btf_id, obj_fd)


def _missing(ref: KsymRef, spec: ProgramSpec, where: str) -> None:
    if not ref.weak:
        raise NotSupported(f"kernel symbol {ref.name!r}", f"program {spec.name!r} needs it and {where}"
                           " does not have it (declare it __weak to get 0)")


def _set_ld_imm64(buf: bytearray, pos: int, src: int, lo: int, hi: int) -> None:
    """Set the source register field and both 32-bit immediates of the ``ld_imm64`` at ``pos``."""
    opcode, regs, off, _imm = _INSN.unpack_from(buf, pos)
    _INSN.pack_into(buf, pos, opcode, (regs & 0x0F) | (src << 4), off, _s32(lo))
    o2, r2, f2, _i2 = _INSN.unpack_from(buf, pos + 8)
    _INSN.pack_into(buf, pos + 8, o2, r2, f2, _s32(hi))


def _s32(value: int) -> int:
    """An unsigned 32-bit value as the signed ``imm`` field holds it."""
    return value - (1 << 32) if value >= 1 << 31 else value


def _kallsyms(names: set[str]) -> dict[str, int]:
    """Addresses of ``names`` from /proc/kallsyms (one pass; zero addresses mean hidden)."""
    if not names:
        return {}
    out: dict[str, int] = {}
    with open("/proc/kallsyms", "rb") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[2].decode() in names:
                out.setdefault(parts[2].decode(), int(parts[0], 16))
    if any(v == 0 for v in out.values()):
        raise PermissionError("/proc/kallsyms hides addresses (kptr_restrict): run as root")
    return out


def kernel_config() -> dict[str, str]:
    """CONFIG_* values of the running kernel (/proc/config.gz, else /boot/config-RELEASE)."""
    text = None
    try:
        with gzip.open("/proc/config.gz", "rt") as f:
            text = f.read()
    except OSError:
        try:
            with open(f"/boot/config-{os.uname().release}") as f:
                text = f.read()
        except OSError:
            pass
    if text is None:
        raise NotSupported("kernel config", "neither /proc/config.gz nor /boot/config-$(uname -r) exists;"
                           " __kconfig externs need one")
    out = {}
    for line in text.splitlines():
        if line.startswith("CONFIG_") and "=" in line:
            key, _, value = line.partition("=")
            out[key] = value
    return out


def kernel_version_code(release: str | None = None) -> int:
    """LINUX_KERNEL_VERSION of ``release`` (default: this kernel), as KERNEL_VERSION(a, b, c)."""
    nums = [int("".join(ch for ch in p if ch.isdigit()) or 0)
            for p in (release or os.uname().release).split("-")[0].split(".")[:3]]
    a, b, c = (nums + [0, 0, 0])[:3]
    return (a << 16) | (b << 8) | min(c, 255)


def kconfig_data(externs: list[Extern], size: int, config: dict[str, str] | None = None) -> bytes:
    """The .kconfig map value: each extern's value, 0 for absent weak ones."""
    buf = bytearray(size)
    cfg: dict[str, str] | None = config
    for e in externs:
        if e.name == "LINUX_KERNEL_VERSION":
            buf[e.offset:e.offset + e.size] = kernel_version_code().to_bytes(e.size, "little")
            continue
        if cfg is None:
            cfg = kernel_config()
        raw = cfg.get(e.name)
        if raw is None:
            if not e.weak:
                raise NotSupported(f"kconfig {e.name}", "the kernel config does not set it (declare it"
                                   " __weak to get 0)")
            continue
        if e.string:
            text = raw.strip('"').encode()[:e.size - 1]
            buf[e.offset:e.offset + len(text)] = text
            continue
        value = {"y": 1, "m": 2, "n": 0}.get(raw)
        if value is None:
            try:
                value = int(raw, 0)
            except ValueError:
                raise ObjectFormatError(f"kconfig {e.name}={raw} does not fit a {e.size}-byte integer") from None
        buf[e.offset:e.offset + e.size] = (value & ((1 << 8 * e.size) - 1)).to_bytes(e.size, "little")
    return bytes(buf)


def _read(data: bytes | str | os.PathLike) -> tuple[bytes, str]:
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data), "<object>"
    path = os.fspath(data)
    with open(path, "rb") as f:
        return f.read(), os.path.basename(path)


def load_object(data: bytes | str | os.PathLike, *, prog_types: dict[str, ProgType] | None = None,
                maps_pin_root: str | None = None, map_overrides: dict[str, Any] | None = None,
                programs: Iterable[str] | None = None) -> Collection:
    """Load a BPF ELF object (bytes or a path) and return its :class:`Collection`.

    ``prog_types`` gives a program type per program name (for sections
    without a libbpf name, or to override it).  ``maps_pin_root`` is where
    maps declared with ``LIBBPF_PIN_BY_NAME`` are pinned or reused (default:
    the bpffs mount).  ``map_overrides`` replaces maps by name with an
    existing map (anything with ``fileno()``, used as is and not closed)
    or with a :class:`MapSpec`.  ``programs`` limits which programs are
    loaded now (default: all); the others load on ``Collection.load_program``.
    """
    from .maps import Map  # imported on use: parsing and linking do not need the table machinery

    raw, name = _read(data)
    spec = parse_object(raw, name)
    overrides = dict(map_overrides or {})
    coll = Collection(spec, None)
    try:
        if spec.btf is not None:
            coll.btf_fd = load_btf(spec.btf_data)
        btf_fd = coll.btf_fd.fileno() if coll.btf_fd is not None else 0
        for map_name, mspec in spec.maps.items():
            given = overrides.pop(map_name, None)
            if given is not None and not isinstance(given, MapSpec):
                coll.maps[map_name] = given
                coll.borrowed.add(map_name)
                continue
            mspec = given or mspec
            if map_name == KCONFIG and given is None:
                mspec = replace(mspec, data=kconfig_data(mspec.extra["externs"], mspec.value_size))
            if mspec.pinning == PinMode.BY_NAME and maps_pin_root and not mspec.pin_path:
                mspec = replace(mspec, pin_path=maps_pin_root)
            if mspec.type == MapType.PERF_EVENT_ARRAY and mspec.max_entries == 0:
                # As libbpf: an unsized perf event array gets one slot per possible CPU.
                mspec = replace(mspec, max_entries=num_possible_cpus())
            coll.maps[map_name] = Map.create(mspec, btf_fd=btf_fd)
        if overrides:
            raise KeyError(f"map_overrides names maps the object does not have: {sorted(overrides)}")
        coll.fill_slots("map")
        wanted = list(spec.programs) if programs is None else list(programs)
        for prog_name in wanted:
            ptype = (prog_types or {}).get(prog_name)
            if ptype is None and spec.programs.get(prog_name) is not None \
                    and spec.programs[prog_name].prog_type == ProgType.UNSPEC:
                continue  # no type known yet: the front end loads it with one later
            coll.load_program(prog_name, ptype)
    except BaseException:
        coll.close()
        raise
    return coll
