"""bcc's packet headers: fields of ``BPF_PACKET_HEADER`` structs live in the packet.

A socket or tc program walks a packet with a cursor (``u8 *cursor = 0``;
``struct ip_t *ip = cursor_advance(cursor, sizeof(*ip))``): the pointer's
value is an offset into the packet, and ``ip->ttl`` means "the 8 bits at
packet offset ip + 8", big-endian, read with the socket filter loads
(``BPF_LD_ABS``/``BPF_LD_IND``).  Writing ``ip->ttl = n`` stores the bits back
with ``bpf_skb_store_bytes``.  A field's bits are counted from the most
significant bit of its first byte in declaration order, so ``ver:4`` then
``hlen:4`` are the high and low nibble of the IP header's first byte.

``BPF_PACKET_HEADER`` marks a struct ``preserve_access_index`` and tags it
``bcc_packet``: clang then emits every member access as a
``llvm.preserve.struct.access.index`` call that names the struct and the
member.  :func:`lower` runs on clang's IR before optimization
(``-disable-llvm-passes``) and replaces each load and store through such a
member with packet loads or a packet store, returning the value in the
layout clang's own bitfield code expects, so whatever the program does with
it afterwards stays correct.
"""

from __future__ import annotations

import re

from pybpf_dsl.errors import CompileError, SourceLocation

from .debuginfo import DebugInfo

__all__ = ["uses_packets", "lower"]

_USES = re.compile(r"\bBPF_PACKET_HEADER\b|<bcc/proto\.h>")
_ACCESS = re.compile(r"^  (%[-\w.$]+) = call ptr @llvm\.preserve\.(struct|array|union)\.access\.index[.\w]*\("
                     r"ptr elementtype\([^)]*\) (%[-\w.$]+), (.*?)\)(.*)!llvm\.preserve\.access\.index !(\d+)")
_LOAD = re.compile(r"^  (%[-\w.$]+) = load (?:volatile )?(i\d+), ptr (%[-\w.$]+)(?:,|$)")
_STORE = re.compile(r"^  store (?:volatile )?(i\d+) ([^,]+), ptr (%[-\w.$]+)(?:,|$)")
_DEFINE = re.compile(r"^define [^@]*@[-\w.$]+\((?:ptr [^,)]*?(%[-\w.$]+))?")
_DBG = re.compile(r"!dbg !(\d+)")
_SKB_STORE_BYTES = 9
_LOADS = ((4, "word"), (2, "half"), (1, "byte"))


def uses_packets(text: str) -> bool:
    """Whether a program may access packet headers (and so needs :func:`lower`)."""
    return _USES.search(text) is not None


class _Field:
    """One member access: where its bits are in the packet and in clang's storage unit."""

    def __init__(self, skb: str, base: str, byte: int, bit: int, size: int, shift: int, name: str) -> None:
        self.skb, self.base, self.byte, self.bit, self.size, self.shift = skb, base, byte, bit, size, shift
        self.name = name


class _Lowering:
    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.di = DebugInfo([ln for ln in lines if ln.startswith("!")])
        self.packet_types: dict[int, bool] = {}
        self.n = 0
        self.used_loads: set[str] = set()

    def tmp(self) -> str:
        self.n += 1
        return f"%__pkt{self.n}"

    def is_packet(self, ref: int) -> bool:
        got = self.packet_types.get(ref)
        if got is None:
            got = "bcc_packet" in self.di.tags(ref)
            self.packet_types[ref] = got
        return got

    def error(self, msg: str, rest: str) -> CompileError:
        m = _DBG.search(rest)
        loc = SourceLocation(*self.di.location(int(m.group(1)))) if m else None
        return CompileError(msg, loc)

    def field(self, skb: str | None, base: str, args: str, ref: int, rest: str) -> _Field:
        member_index = int(args.rsplit(" ", 1)[-1])
        members = self.di.members(ref)
        _kind, f = self.di.record(members[member_index])
        name = f"{self.di.type_name(ref)}.{f.get('name', '').strip(chr(34))}"
        if skb is None:
            raise self.error(f"{name}: a packet header is read through the first parameter of the "
                             "function (the __sk_buff), and this function has none", rest)
        offset = int(f.get("offset", "0"))
        size = int(f.get("size", "0"))
        bitfield = "DIFlagBitField" in f.get("flags", "")
        start = int(f.get("extraData", "i64 0").split()[-1]) if bitfield else offset
        if offset % 8 + size > 64:
            raise self.error(f"{name}: a packet field must fit in 64 bits from its first byte", rest)
        return _Field(skb, base, offset // 8, offset % 8, size, offset - start, name)

    def read(self, fld: _Field, off: str) -> tuple[list[str], str, int]:
        """Instructions loading the field's covering bytes big-endian: ``(lines, i64 value, bytes)``."""
        nbytes = (fld.bit + fld.size + 7) // 8
        out: list[str] = []
        acc, pos = "", 0
        while pos < nbytes:
            width, kind = next((w, k) for w, k in _LOADS if w <= nbytes - pos)
            at = off
            if pos:
                at = self.tmp()
                out.append(f"  {at} = add i64 {off}, {pos}")
            val = self.tmp()
            self.used_loads.add(kind)
            out.append(f"  {val} = call i64 @llvm.bpf.load.{kind}(ptr {fld.skb}, i64 {at})")
            if acc:
                shifted, merged = self.tmp(), self.tmp()
                out += [f"  {shifted} = shl i64 {acc}, {8 * width}", f"  {merged} = or i64 {shifted}, {val}"]
                val = merged
            acc, pos = val, pos + width
        return out, acc, nbytes

    def load(self, name: str, ty: str, fld: _Field, off: str) -> list[str]:
        out, raw, nbytes = self.read(fld, off)
        low = 8 * nbytes - fld.bit - fld.size
        mask = (1 << fld.size) - 1
        value = raw
        if low:
            value = self.tmp()
            out.append(f"  {value} = lshr i64 {raw}, {low}")
        if fld.bit:
            masked = self.tmp()
            out.append(f"  {masked} = and i64 {value}, {mask}")
            value = masked
        width = int(ty[1:])
        if width < 64:
            narrow = self.tmp()
            out.append(f"  {narrow} = trunc i64 {value} to {ty}")
            value = narrow
        elif width > 64:
            wide = self.tmp()
            out.append(f"  {wide} = zext i64 {value} to {ty}")
            value = wide
        out.append(f"  {name} = shl {ty} {value}, {fld.shift}")
        return out

    def store(self, ty: str, val: str, fld: _Field, off: str, buf: str) -> list[str]:
        width = int(ty[1:])
        part = self.tmp()
        out = [f"  {part} = lshr {ty} {val}, {fld.shift}"]
        if width != 64:
            conv = self.tmp()
            out.append(f"  {conv} = {'zext' if width < 64 else 'trunc'} {ty} {part} to i64")
            part = conv
        mask = (1 << fld.size) - 1
        new = self.tmp()
        out.append(f"  {new} = and i64 {part}, {mask}")
        nbytes = (fld.bit + fld.size + 7) // 8
        low = 8 * nbytes - fld.bit - fld.size
        if fld.bit or low:
            old_lines, old, _n = self.read(fld, off)
            kept, moved, merged = self.tmp(), self.tmp(), self.tmp()
            out += old_lines + [f"  {kept} = and i64 {old}, {~(mask << low) & (2 ** 64 - 1)}",
                                f"  {moved} = shl i64 {new}, {low}",
                                f"  {merged} = or i64 {kept}, {moved}"]
            new = merged
        for i in range(nbytes):
            byte, small, slot = self.tmp(), self.tmp(), self.tmp()
            out += [f"  {byte} = lshr i64 {new}, {8 * (nbytes - 1 - i)}",
                    f"  {small} = trunc i64 {byte} to i8",
                    f"  {slot} = getelementptr i8, ptr {buf}, i64 {i}",
                    f"  store i8 {small}, ptr {slot}, align 1"]
        out.append(f"  {self.tmp()} = call i64 inttoptr (i64 {_SKB_STORE_BYTES} to ptr)"
                   f"(ptr {fld.skb}, i64 {off}, ptr {buf}, i64 {nbytes}, i64 0)")
        return out

    def run(self) -> str:
        out: list[str] = []
        skb: str | None = None
        fields: dict[str, tuple[_Field, str]] = {}
        buf, entry = "", -1
        for line in self.lines:
            if line.startswith("define "):
                m = _DEFINE.match(line)
                skb = m.group(1) if m else None
                fields, buf, entry = {}, "", len(out) + 1
                out.append(line)
                continue
            if "@llvm.preserve." in line:
                m = _ACCESS.match(line)
                if m and (m.group(3) in fields or self.is_packet(int(m.group(6)))):
                    if m.group(2) != "struct" or m.group(3) in fields:
                        raise self.error("only integer fields of a packet header can be read or written",
                                         m.group(5))
                    fld = self.field(skb, m.group(3), m.group(4), int(m.group(6)), m.group(5))
                    pos, off = self.tmp(), self.tmp()
                    fields[m.group(1)] = (fld, off)
                    out += [f"  {pos} = ptrtoint ptr {fld.base} to i64",
                            f"  {off} = add i64 {pos}, {fld.byte}",
                            f"  {m.group(1)} = getelementptr i8, ptr {fld.base}, i64 {fld.byte}"]
                    continue
            if fields and line.startswith("  "):
                m = _LOAD.match(line)
                if m and m.group(3) in fields:
                    fld, off = fields[m.group(3)]
                    out += self.load(m.group(1), m.group(2), fld, off)
                    continue
                m = _STORE.match(line)
                if m and m.group(3) in fields:
                    fld, off = fields[m.group(3)]
                    if not buf:
                        buf = "%__pkt_buf"
                        out.insert(entry, f"  {buf} = alloca [8 x i8], align 8")
                    out += self.store(m.group(1), m.group(2), fld, off, buf)
                    continue
            out.append(line)
        for kind in sorted(self.used_loads):
            if f"@llvm.bpf.load.{kind}(" not in "\n".join(ln for ln in out if ln.startswith("declare ")):
                out.append(f"declare i64 @llvm.bpf.load.{kind}(ptr, i64)")
        return "\n".join(out)


def lower(ir: str) -> str:
    """Replace loads and stores of packet header fields in clang's unoptimized IR."""
    return _Lowering(ir.split("\n")).run()
