"""Kernel trace events in tracefs: discovery, ids and parsed ``format`` files.

A tracepoint is named ``category:event`` (``sched:sched_switch``).  Its
``format`` file describes the record a TRACEPOINT program receives as its
context; :func:`tracepoint_format` parses it into :class:`TracepointFormat`,
whose :class:`TracepointField` objects give each field's C type, offset,
size, signedness, array length and ``__data_loc`` encoding, so the DSL
compiler can type ``args.filename`` and compat_c can build bcc's
``struct tracepoint__cat__ev``::

    fmt = tracepoint_format("syscalls", "sys_enter_openat")
    fmt.field("filename").type          # 'const char *'
    [f.name for f in fmt.args]          # ['__syscall_nr', 'dfd', 'filename', 'flags', 'mode']

A misspelt name raises :class:`~pybpf_dsl.errors.AttachTargetNotFound`
suggesting the closest existing tracepoints.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache

from ..errors import AttachTargetNotFound, ObjectFormatError
from .tracefs import tracefs_root

__all__ = [
    "TracepointField", "TracepointFormat", "categories", "events", "tracepoint_exists",
    "get_tracepoints", "split_tracepoint", "event_id", "tracepoint_format", "parse_format",
    "suggest_tracepoints", "events_dir",
]

# Element sizes of the scalar types that appear in array declarations whose
# length is an expression (``__u8 saddr[sizeof(struct sockaddr_in6)]``).
_SCALAR_SIZES = {
    "char": 1, "unsigned char": 1, "signed char": 1, "u8": 1, "s8": 1, "__u8": 1, "__s8": 1,
    "bool": 1, "short": 2, "unsigned short": 2, "u16": 2, "s16": 2, "__u16": 2, "__s16": 2,
    "int": 4, "unsigned int": 4, "u32": 4, "s32": 4, "__u32": 4, "__s32": 4, "pid_t": 4,
    "long": 8, "unsigned long": 8, "u64": 8, "s64": 8, "__u64": 8, "__s64": 8,
}

# Patterns are compiled on first use (re caches them): most starts never parse a format.
_FIELD_LINE = (r"^\s*field:(?P<decl>.+?);\s*offset:(?P<offset>\d+);\s*size:(?P<size>\d+);"
               r"(?:\s*signed:(?P<signed>-?\d+);)?")
_DECL = r"^(?P<type>.*?)\s*\b(?P<name>[A-Za-z_]\w*)\s*(?:\[(?P<dim>[^\]]*)\])?$"


@dataclass(frozen=True, slots=True)
class TracepointField:
    """One field of a trace event record.

    ``type`` is the C type without the array part (``char`` for
    ``char prev_comm[16]``, ``const char *`` for a pointer).  ``array_len``
    is the element count of a fixed array (None for scalars, 0 for the
    dynamic ``__data_loc char[]``).  ``data_loc`` fields hold a u32 whose low
    16 bits are the offset of the data in the record and high 16 bits its
    length; ``rel_loc`` fields are the same with the offset relative to the
    end of the field.  ``size`` is authoritative: syscall arguments are
    declared ``int`` but occupy 8 bytes.
    """

    name: str
    type: str
    offset: int
    size: int
    signed: bool
    array_len: int | None = None
    data_loc: bool = False
    rel_loc: bool = False
    common: bool = False

    @property
    def is_array(self) -> bool:
        return self.array_len is not None

    @property
    def is_pointer(self) -> bool:
        return self.type.endswith("*") and not self.is_array

    @property
    def elem_size(self) -> int:
        """Size of one element of an array (the field size for scalars)."""
        if self.array_len:
            return self.size // self.array_len
        return self.size

    @property
    def declaration(self) -> str:
        """The field as a C declaration (``char prev_comm[16]``, ``int dfd``)."""
        if self.data_loc or self.rel_loc:
            return f"{self.type} {self.name}[]"
        if self.array_len is not None:
            return f"{self.type} {self.name}[{self.array_len}]"
        sep = "" if self.type.endswith("*") else " "
        return f"{self.type}{sep}{self.name}"


@dataclass(frozen=True, slots=True)
class TracepointFormat:
    """A parsed ``events/<category>/<event>/format`` file."""

    category: str
    event: str
    id: int
    fields: tuple[TracepointField, ...]
    print_fmt: str = ""

    @property
    def common_fields(self) -> tuple[TracepointField, ...]:
        """The header every event shares (common_type, common_pid, ...)."""
        return tuple(f for f in self.fields if f.common)

    @property
    def args(self) -> tuple[TracepointField, ...]:
        """The event's own fields, in record order."""
        return tuple(f for f in self.fields if not f.common)

    @property
    def size(self) -> int:
        """Bytes up to the end of the last field (the fixed part of the record)."""
        return max((f.offset + f.size for f in self.fields), default=0)

    @property
    def name(self) -> str:
        return f"{self.category}:{self.event}"

    def field(self, name: str) -> TracepointField:
        """The field called ``name``; KeyError naming the fields that exist otherwise."""
        for f in self.fields:
            if f.name == name:
                return f
        known = ", ".join(f.name for f in self.args)
        raise KeyError(f"tracepoint {self.name} has no field {name!r} (fields: {known})")


def _parse_field(decl: str, offset: int, size: int, signed: bool, common: bool) -> TracepointField:
    data_loc = rel_loc = False
    decl = decl.strip()
    if decl.startswith("__data_loc "):
        data_loc, decl = True, decl[len("__data_loc "):]
    elif decl.startswith("__rel_loc "):
        rel_loc, decl = True, decl[len("__rel_loc "):]
    if data_loc or rel_loc:
        # "char[] filename": the brackets belong to the type.
        ctype, _, name = decl.rpartition(" ")
        base = ctype.replace("[]", "").strip()
        return TracepointField(name, base, offset, size, signed, 0, data_loc, rel_loc, common)
    m = re.match(_DECL, decl)
    if m is None or not m.group("type"):
        raise ObjectFormatError(f"cannot parse trace event field declaration {decl!r}")
    ctype = " ".join(m.group("type").split())
    dim = m.group("dim")
    array_len: int | None = None
    if dim is not None:
        dim = dim.strip()
        if dim.isdecimal():
            array_len = int(dim)
        else:
            elem = _SCALAR_SIZES.get(ctype)
            array_len = size // elem if elem else size
    return TracepointField(m.group("name"), ctype, offset, size, signed, array_len,
                           common=common)


def parse_format(text: str, category: str = "", event: str = "") -> TracepointFormat:
    """Parse the text of a tracefs ``format`` file (pure: no file access).

    Fields before the first blank line of the ``format:`` section are the
    common header.  Raises ObjectFormatError on text that is not a format file.
    """
    name = event
    ev_id = -1
    fields: list[TracepointField] = []
    print_fmt = ""
    in_fields = False
    common = True
    for line in text.splitlines():
        if line.startswith("name:"):
            name = name or line[5:].strip()
        elif line.startswith("ID:"):
            text_id = line[3:].strip()
            if not text_id.isdecimal():
                raise ObjectFormatError(f"format of {category}:{name} has a bad ID line: {line.strip()!r}")
            ev_id = int(text_id)
        elif line.startswith("format:"):
            in_fields = True
        elif line.startswith("print fmt:"):
            print_fmt = line[len("print fmt:"):].strip()
            in_fields = False
        elif in_fields:
            if not line.strip():
                if fields:
                    common = False
                continue
            m = re.match(_FIELD_LINE, line)
            if m is None:
                raise ObjectFormatError(f"unexpected line in format of {category}:{name}: {line.strip()!r}")
            fields.append(_parse_field(m.group("decl"), int(m.group("offset")), int(m.group("size")),
                                       m.group("signed") not in (None, "0"), common))
    if ev_id < 0:
        raise ObjectFormatError(f"format of {category}:{name} has no ID line")
    return TracepointFormat(category, name, ev_id, tuple(fields), print_fmt)


# ---------------------------------------------------------------- discovery

def events_dir() -> str:
    """``<tracefs>/events`` (mounting tracefs if needed)."""
    return os.path.join(tracefs_root(), "events")


def categories() -> list[str]:
    """Every tracepoint category (subsystem), sorted."""
    root = events_dir()
    return sorted(e.name for e in os.scandir(root) if e.is_dir())


def events(category: str) -> list[str]:
    """Every event of ``category``, sorted (empty when the category does not exist)."""
    try:
        return sorted(e.name for e in os.scandir(os.path.join(events_dir(), category)) if e.is_dir())
    except (FileNotFoundError, NotADirectoryError):
        return []


def _all_tracepoints() -> list[str]:
    return [f"{c}:{e}" for c in categories() for e in events(c)]


def tracepoint_exists(category: str, event: str) -> bool:
    """True when ``category:event`` exists (bcc's BPF.tracepoint_exists)."""
    if not category or not event or "/" in category + event:
        return False
    return os.path.isdir(os.path.join(events_dir(), category, event))


def get_tracepoints(pattern: str | bytes) -> list[str]:
    """Every ``"category:event"`` whose name matches the regex at its start (bcc's re.match)."""
    if isinstance(pattern, bytes):
        pattern = pattern.decode()
    rx = re.compile(pattern)
    return [tp for tp in _all_tracepoints() if rx.match(tp)]


def split_tracepoint(spec: str) -> tuple[str, str]:
    """``"sched:sched_switch"`` (or ``"sched/sched_switch"``) -> ``("sched", "sched_switch")``."""
    for sep in (":", "/"):
        category, found, event = spec.partition(sep)
        if found and category and event and sep not in event:
            return category, event
    raise ValueError(f"tracepoint {spec!r} is not of the form category:event (e.g. sched:sched_switch)")


def suggest_tracepoints(category: str, event: str, limit: int = 3) -> list[str]:
    """The existing tracepoints closest to a misspelt ``category:event``."""
    import difflib  # only to word an error

    wanted = f"{category}:{event}"
    if os.path.isdir(os.path.join(events_dir(), category)):
        pool = [f"{category}:{e}" for e in events(category)]
        hits = difflib.get_close_matches(wanted, pool, n=limit, cutoff=0.6)
        if hits:
            return hits
    pool = _all_tracepoints()
    hits = difflib.get_close_matches(wanted, pool, n=limit, cutoff=0.6)
    if not hits:  # right event in the wrong category?
        hits = [tp for tp in pool if tp.endswith(":" + event)][:limit]
    return hits


def _not_found(category: str, event: str) -> AttachTargetNotFound:
    hint = suggest_tracepoints(category, event)
    did = f" (did you mean {' or '.join(hint)}?)" if hint else " (see get_tracepoints() or available_events)"
    return AttachTargetNotFound(f"no tracepoint {category}:{event} in {events_dir()}{did}")


def event_id(category: str, event: str) -> int:
    """The trace event id perf_event_open(PERF_TYPE_TRACEPOINT) takes as config."""
    if not tracepoint_exists(category, event):
        raise _not_found(category, event)
    with open(os.path.join(events_dir(), category, event, "id")) as f:
        return int(f.read())


@lru_cache(maxsize=256)
def tracepoint_format(category: str, event: str) -> TracepointFormat:
    """The parsed format of ``category:event`` (cached: formats do not change while booted)."""
    if not tracepoint_exists(category, event):
        raise _not_found(category, event)
    with open(os.path.join(events_dir(), category, event, "format")) as f:
        return parse_format(f.read(), category, event)
