"""USDT probes: the .note.stapsdt notes of a binary and their argument location specs.

A probe ``provider:name`` has one location per place the compiler emitted it;
each location has a file offset (where the uprobe goes), an optional
semaphore (a counter the kernel increments while a probe is attached, so the
program only prepares arguments when someone listens) and x86_64 argument
specs such as ``-4@%eax`` (a register), ``8@-16(%rbp)`` (memory),
``4@$5`` (a constant) or ``8@(%rax,%rdx,8)`` (indexed memory), parsed
into :class:`UsdtArg`.  Both front ends turn a UsdtArg into code that reads
the argument from ``struct pt_regs``; :func:`readarg_c` is the C form.
"""

from __future__ import annotations

import re
import weakref
from typing import Iterable, NamedTuple

from ..errors import ObjectFormatError
from .elfsyms import ElfFile, _Layout, open_elf, proc_maps, proc_path

__all__ = ["UsdtArg", "UsdtLocation", "UsdtProbe", "parse_arg", "parse_args",
           "parse_stapsdt_desc", "file_probes", "process_probes", "find_probe", "readarg_c",
           "PT_REGS_OFFSETS"]

NT_STAPSDT = 3

#: byte offset of each field of x86_64 ``struct pt_regs``
PT_REGS_OFFSETS = {
    "r15": 0, "r14": 8, "r13": 16, "r12": 24, "bp": 32, "bx": 40, "r11": 48, "r10": 56,
    "r9": 64, "r8": 72, "ax": 80, "cx": 88, "dx": 96, "si": 104, "di": 112, "orig_ax": 120,
    "ip": 128, "cs": 136, "flags": 144, "sp": 152, "ss": 160,
}


def _register_table() -> dict[str, tuple[str, int, int]]:
    """asm register name -> (pt_regs field, width in bytes, byte shift inside the field)."""
    table: dict[str, tuple[str, int, int]] = {}
    for letter in "abcd":
        field = f"{letter}x"
        table.update({f"r{letter}x": (field, 8, 0), f"e{letter}x": (field, 4, 0),
                      f"{letter}x": (field, 2, 0), f"{letter}l": (field, 1, 0),
                      f"{letter}h": (field, 1, 1)})
    for base in ("si", "di", "bp", "sp"):
        table.update({f"r{base}": (base, 8, 0), f"e{base}": (base, 4, 0), base: (base, 2, 0),
                      f"{base}l": (base, 1, 0)})
    for n in range(8, 16):
        r = f"r{n}"
        table.update({r: (r, 8, 0), f"{r}d": (r, 4, 0), f"{r}w": (r, 2, 0), f"{r}b": (r, 1, 0),
                      f"{r}l": (r, 1, 0)})
    table["rip"] = ("ip", 8, 0)
    return table


_REGISTERS = _register_table()


class UsdtArg(NamedTuple):
    """One USDT argument location.

    ``kind`` is "const" (``value``), "reg" (the register at pt_regs byte
    ``reg_offset``, ``reg_size`` bytes wide) or "mem" (read ``size`` bytes of
    user memory at ``base register + offset [+ index register * scale]``).
    ``symbol`` names the global of a ``sym+off(%rip)`` operand until it is
    resolved against the binary (then ``reg`` is "ip" and ``offset`` is
    relative to the probe's own address).
    """
    size: int
    signed: bool
    kind: str
    value: int = 0
    reg: str | None = None
    reg_offset: int = -1
    reg_size: int = 8
    offset: int = 0
    index_reg: str | None = None
    index_offset: int = -1
    scale: int = 1
    symbol: str | None = None
    text: str = ""

    @property
    def ctype(self) -> str:
        """bcc's C type name for the argument (``int32_t``, ``uint64_t``...)."""
        return f"{'' if self.signed else 'u'}int{self.size * 8}_t"


_NUM = r"[-+]?(?:0[xX][0-9a-fA-F]+|\d+)"
_SIZE_RE = re.compile(r"^([-+]?\d+)@(.*)$")
_CONST_RE = re.compile(rf"^\$({_NUM})$")
_REG_RE = re.compile(r"^%([a-z0-9]+)$")
_MEM_RE = re.compile(
    rf"^(?P<disp>{_NUM}|[A-Za-z_.$][\w.$@]*(?:[-+](?:0[xX][0-9a-fA-F]+|\d+))?)?"
    r"\((?:%(?P<base>[a-z0-9]+))?(?:,%(?P<index>[a-z0-9]+)(?:,(?P<scale>\d+))?)?\)$")


_SYMBOL_DISP_RE = re.compile(r"^([A-Za-z_.$][\w.$@]*)([-+](?:0[xX][0-9a-fA-F]+|\d+))?$")


def _bad(spec: str, why: str) -> ObjectFormatError:
    return ObjectFormatError(f"bad USDT argument spec {spec!r}: {why}")


def _register(spec: str, name: str) -> tuple[str, int, int]:
    try:
        return _REGISTERS[name]
    except KeyError:
        raise _bad(spec, f"unknown x86_64 register %{name}") from None


def parse_arg(spec: str) -> UsdtArg:
    """Parse one x86_64 argument spec (``-4@%eax``, ``8@-16(%rbp)``, ``4@$5``...).

    Raises ObjectFormatError naming the spec and the problem.
    """
    if not isinstance(spec, str):
        raise _bad(repr(spec), "not a string")
    size, signed, operand = 0, False, spec
    m = _SIZE_RE.match(spec)
    if m:
        n = int(m.group(1))
        signed, size, operand = n < 0, abs(n), m.group(2)
        if size not in (1, 2, 4, 8):
            raise _bad(spec, f"size {size} is not 1, 2, 4 or 8")
    if (c := _CONST_RE.match(operand)) is not None:
        value = int(c.group(1), 0)
        return UsdtArg(size or 8, signed, "const", value=value, text=spec)
    if (r := _REG_RE.match(operand)) is not None:
        field, width, shift = _register(spec, r.group(1))
        return UsdtArg(size or width, signed, "reg", reg=field,
                       reg_offset=PT_REGS_OFFSETS[field] + shift, reg_size=width, text=spec)
    if (mm := _MEM_RE.match(operand)) is not None:
        if mm.group("base") is None:
            raise _bad(spec, "memory operand without a base register")
        field, width, shift = _register(spec, mm.group("base"))
        if shift or width < 4:
            raise _bad(spec, f"%{mm.group('base')} cannot be a base register")
        disp, symbol = mm.group("disp") or "0", None
        if not re.fullmatch(_NUM, disp):
            sym = _SYMBOL_DISP_RE.match(disp)
            assert sym is not None  # _MEM_RE only admits this shape
            symbol, disp = sym.group(1), sym.group(2) or "0"
            if field != "ip":
                raise _bad(spec, "a symbol displacement needs %rip as base")
        index, index_off, scale = None, -1, 1
        if mm.group("index"):
            ifield, iwidth, ishift = _register(spec, mm.group("index"))
            if ishift or iwidth < 4 or ifield == "ip":
                raise _bad(spec, f"%{mm.group('index')} cannot be an index register")
            index, index_off = ifield, PT_REGS_OFFSETS[ifield]
            scale = int(mm.group("scale") or 1)
            if scale not in (1, 2, 4, 8):
                raise _bad(spec, f"scale {scale} is not 1, 2, 4 or 8")
        return UsdtArg(size or 8, signed, "mem", reg=field, reg_offset=PT_REGS_OFFSETS[field],
                       reg_size=width, offset=int(disp, 0), index_reg=index,
                       index_offset=index_off, scale=scale, symbol=symbol, text=spec)
    raise _bad(spec, "not a constant ($N), register (%reg) or memory (off(%reg)) operand")


def parse_args(text: str) -> tuple[UsdtArg, ...]:
    """Parse a note's space-separated argument string."""
    return tuple(parse_arg(part) for part in text.split())


class UsdtLocation(NamedTuple):
    """One place a probe fires: ``pc`` in the file's layout, ``offset`` in the file."""
    path: str
    pc: int
    offset: int
    semaphore: int          # virtual address of the semaphore, 0 if none
    ref_ctr_offset: int     # its file offset: what the uprobe PMU takes
    args: tuple[UsdtArg, ...]


class UsdtProbe:
    """A probe ``provider:name`` of one binary, with all its locations (bcc's USDTProbe)."""

    def __init__(self, provider: str, name: str, path: str, locations: list[UsdtLocation]) -> None:
        self.provider = provider
        self.name = name
        self.path = path
        self.locations = locations

    @property
    def bin_path(self) -> str:
        return self.path

    @property
    def semaphore(self) -> int:
        return self.locations[0].semaphore if self.locations else 0

    @property
    def num_locations(self) -> int:
        return len(self.locations)

    @property
    def num_arguments(self) -> int:
        return len(self.locations[0].args) if self.locations else 0

    def short_name(self) -> str:
        return f"{self.provider}:{self.name}"

    def get_location(self, index: int) -> UsdtLocation:
        return self.locations[index]

    def __str__(self) -> str:
        return f"{self.provider}:{self.name} [sema 0x{self.semaphore:x}]"

    def __repr__(self) -> str:
        return f"<UsdtProbe {self.short_name()} in {self.path}: {self.num_locations} locations>"


_DESC_STRINGS = 3


def parse_stapsdt_desc(desc: bytes, lay: _Layout) -> tuple[int, int, int, str, str, str]:
    """Decode a NT_STAPSDT note body: ``(pc, base, semaphore, provider, name, args)``."""
    asz = lay.addr.size
    if len(desc) < 3 * asz:
        raise ObjectFormatError(f"stapsdt note of {len(desc)} bytes is too short")
    pc, base, sema = (lay.addr.unpack_from(desc, i * asz)[0] for i in range(3))
    strings = desc[3 * asz:].split(b"\0")
    if len(strings) < _DESC_STRINGS or not strings[0] or not strings[1]:
        raise ObjectFormatError("stapsdt note without a provider and a name")
    try:
        provider, name, args = (s.decode() for s in strings[:3])
    except UnicodeDecodeError:
        raise ObjectFormatError("stapsdt note strings are not UTF-8") from None
    return pc, base, sema, provider, name, args


_FILE_CACHE: weakref.WeakKeyDictionary[ElfFile, list[UsdtProbe]] = weakref.WeakKeyDictionary()


def file_probes(path: str) -> list[UsdtProbe]:
    """Every USDT probe of the ELF file at ``path``, in note order."""
    elf = open_elf(path)
    cached = _FILE_CACHE.get(elf)
    if cached is not None:
        return cached
    base_sec = elf.sections.get(".stapsdt.base")
    probes: dict[tuple[str, str], UsdtProbe] = {}
    for note_name, ntype, desc in elf.notes(".note.stapsdt"):
        if note_name != b"stapsdt" or ntype != NT_STAPSDT:
            continue
        pc, base, sema, provider, name, text = parse_stapsdt_desc(desc, elf.layout)
        if base_sec is not None and base:  # prelink moved the file: shift by the same amount
            pc += base_sec.addr - base
            if sema:
                sema += base_sec.addr - base
        offset = elf.vaddr_to_offset(pc)
        if offset is None:
            raise ObjectFormatError(f"{path}: probe {provider}:{name} at {pc:#x} is outside "
                                    "every loadable segment")
        ref = elf.vaddr_to_offset(sema) if sema else 0
        if ref is None:
            raise ObjectFormatError(f"{path}: semaphore of {provider}:{name} at {sema:#x} "
                                    "is not file-backed")
        args = tuple(_resolve_symbolic(elf, pc, a) for a in parse_args(text))
        loc = UsdtLocation(path, pc, offset, sema, ref, args)
        probe = probes.setdefault((provider, name), UsdtProbe(provider, name, path, []))
        probe.locations.append(loc)
    result = list(probes.values())
    _FILE_CACHE[elf] = result
    return result


def _resolve_symbolic(elf: ElfFile, pc: int, arg: UsdtArg) -> UsdtArg:
    """Turn ``sym+off(%rip)`` into an ip-relative offset: ip at the probe is ``pc`` moved by the load bias."""
    if arg.symbol is None:
        return arg
    syms = [s for s in elf.by_name(arg.symbol) if not s.hidden] or elf.by_name(arg.symbol)
    if not syms:
        return arg
    return arg._replace(offset=syms[0].value + arg.offset - pc, symbol=None)


def process_probes(pid: int) -> list[UsdtProbe]:
    """USDT probes of every file process ``pid`` has mapped executable (program and libraries)."""
    seen: set[str] = set()
    out: list[UsdtProbe] = []
    for m in proc_maps(pid):
        if not m.executable or not m.path.startswith("/") or m.path in seen:
            continue
        seen.add(m.path)
        path = proc_path(pid, m.path.removesuffix(" (deleted)"))
        try:
            out.extend(file_probes(path))
        except (OSError, ObjectFormatError):
            continue
    return out


def find_probe(probes: Iterable[UsdtProbe], probe: str) -> list[UsdtProbe]:
    """The probes matching ``"name"`` or ``"provider:name"`` (one per binary)."""
    provider, _, name = probe.rpartition(":")
    return [p for p in probes if p.name == name and (not provider or p.provider == provider)]


# ---------------------------------------------------------------- C code generation

_CTYPES = {(1, True): "signed char", (2, True): "short", (4, True): "int", (8, True): "long long",
           (1, False): "unsigned char", (2, False): "unsigned short", (4, False): "unsigned int",
           (8, False): "unsigned long long"}


def _reg_read(off: int, width: int, signed: bool) -> str:
    return f"*({_CTYPES[(width, signed)]} *)((char *)ctx + {off})"


def _arg_value_c(arg: UsdtArg) -> str:
    """C statements leaving the argument, converted to its size and sign, in ``long long v``."""
    t = _CTYPES[(arg.size, arg.signed)]
    if arg.kind == "const":
        return f"v = ({t}){arg.value}LL;"
    if arg.kind == "reg":
        return f"v = ({t}){_reg_read(arg.reg_offset, arg.reg_size, arg.signed)};"
    if arg.symbol is not None:
        raise ObjectFormatError(f"USDT argument {arg.text!r}: symbol {arg.symbol!r} not found "
                                "in the binary")
    addr = f"{_reg_read(arg.reg_offset, 8, False)} + ({arg.offset}LL)"
    if arg.index_reg is not None:
        addr += f" + {_reg_read(arg.index_offset, 8, False)} * {arg.scale}"
    return (f"{{ {t} m = 0; if (bpf_probe_read_user(&m, sizeof(m), (void *)({addr}))) return -1;"
            f" v = m; }}")


def readarg_c(fn_name: str, arg_index: int, locations: list[UsdtLocation]) -> str:
    """C function ``_bpf_readarg_{fn_name}_{arg_index}(ctx, dest, len)`` for bcc's bpf_usdt_readarg.

    Locations are told apart by the attach cookie (their index in
    ``locations``), which ``attach_usdt`` sets; ``arg_index`` is 1-based.
    ``len`` may be 1, 2, 4 or 8: the value is converted like a C assignment.
    """
    cases = []
    for i, loc in enumerate(locations):
        if arg_index > len(loc.args):
            continue
        cases.append(f"  case {i}: {_arg_value_c(loc.args[arg_index - 1])} break;")
    body = "\n".join(cases)
    return (
        f"static inline __attribute__((always_inline)) int _bpf_readarg_{fn_name}_{arg_index}"
        "(struct pt_regs *ctx, void *dest, unsigned long len) {\n"
        "  long long v = 0;\n"
        "  switch (bpf_get_attach_cookie(ctx)) {\n"
        f"{body}\n"
        "  default: return -1;\n"
        "  }\n"
        "  switch (len) {\n"
        "  case 1: *(unsigned char *)dest = v; return 0;\n"
        "  case 2: *(unsigned short *)dest = v; return 0;\n"
        "  case 4: *(unsigned int *)dest = v; return 0;\n"
        "  case 8: *(unsigned long long *)dest = v; return 0;\n"
        "  }\n"
        "  return -1;\n"
        "}\n")

