"""bcc's ``BPF`` class on pybpf_dsl's runtime.

::

    from compat_c import BPF
    b = BPF(text='''
        BPF_HASH(counts, u32);
        TRACEPOINT_PROBE(raw_syscalls, sys_enter) {
            u32 pid = bpf_get_current_pid_tgid() >> 32;
            counts.increment(pid);
            return 0;
        }''')                      # compiled, loaded, attached (name prefix)
    time.sleep(1)
    for k, v in b["counts"].items(): ...
    b.cleanup()                   # also at exit, and on ``with BPF(...) as b``

The C text goes through :func:`compat_c.compile_c` (cached on disk), the
object through :func:`pybpf_dsl.runtime.loader.load_object` with no program
loaded yet: like bcc, programs load on ``load_func``, on ``attach_*`` or by
the name prefixes bcc autoloads (``kprobe__``, ``kretprobe__``,
``tracepoint__cat__ev``, ``raw_tracepoint__``, ``kfunc__``, ``kretfunc__``,
``lsm__``).  Tables are the runtime's (:func:`pybpf_dsl.runtime.tables.table_for`),
perf and ring buffers are polled through one
:class:`~pybpf_dsl.runtime.event_poller.EventPoller`.

Tables declared with ``BPF_TABLE_PUBLIC`` or ``BPF_TABLE_SHARED`` are
published process-wide under their name while their object lives; a later
object's ``BPF_TABLE("extern", ...)`` of that name uses the same kernel map.

Known differences from bcc: ``trace_print`` prints bytes reprs exactly as bcc does on Python 3 (a bcc
wart kept on purpose).
"""

from __future__ import annotations

import atexit
import ctypes as ct
import os
import sys
from collections.abc import MutableMapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Callable, Hashable, Iterator

from pybpf_dsl.errors import BPFError
from pybpf_dsl.runtime.mapspec import MapSpec, PinMode
from pybpf_dsl.runtime.uapi import AttachType, ProgType

from . import discovery
from .attach import AttachMixin
from .constants import (BPF_CONSTANTS, DEBUG_BPF, DEBUG_BPF_REGISTER_STATE, DEBUG_LLVM_IR,
                        DEBUG_PREPROCESSOR, DEBUG_SOURCE)
from .ctypes_desc import ctype_from_desc
from .discovery import to_bytes, to_str

if TYPE_CHECKING:
    from pybpf_dsl.runtime.event_poller import EventPoller
    from pybpf_dsl.runtime.loader import Collection
    from pybpf_dsl.runtime.maps import Map

# What a compile imports while clang runs (a cold start then loses no time importing them).
_RUNTIME = ("pybpf_dsl.runtime.loader", "pybpf_dsl.runtime.tables")

__all__ = ["BPF"]

# BPF_TABLE_PUBLIC / BPF_TABLE_SHARED tables of the live BPF objects, by name.
_PUBLIC_TABLES: dict[str, Map] = {}


class _PerfBuffers(MutableMapping):
    """``BPF.perf_buffers``: the tables' perf buffers, registered with the owner's poller."""

    def __init__(self, owner: "BPF") -> None:
        self._owner = owner

    def _buffers(self) -> dict:
        made = self._owner._poller_made
        return made.perf_buffers if made is not None else {}

    def __getitem__(self, key: Hashable) -> Any:
        return self._buffers()[key]

    def __setitem__(self, key: Hashable, buffer: Any) -> None:
        self._owner._poller.add_perf_buffer(key, buffer)

    def __delitem__(self, key: Hashable) -> None:
        if key not in self._buffers():
            raise KeyError(key)
        self._owner._poller.close_perf_buffer(key)

    def __iter__(self) -> Iterator[Hashable]:
        return iter(list(self._buffers()))

    def __len__(self) -> int:
        return len(self._buffers())


# What bcc does with a function whose name has an autoload prefix: (prefix, attach(bpf, fn, rest)).
_AUTOLOAD: tuple[tuple[str, Callable[[Any, str, str], None]], ...] = (
    ("kprobe__", lambda b, fn, rest: b.attach_kprobe(event=rest, fn_name=fn)),
    ("kretprobe__", lambda b, fn, rest: b.attach_kretprobe(event=rest, fn_name=fn)),
    ("tracepoint__", lambda b, fn, rest: b.attach_tracepoint(tp=rest.replace("__", ":", 1), fn_name=fn)),
    ("raw_tracepoint__", lambda b, fn, rest: b.attach_raw_tracepoint(tp=rest, fn_name=fn)),
    ("kfunc__", lambda b, fn, rest: b.attach_kfunc(fn_name=fn)),
    ("kretfunc__", lambda b, fn, rest: b.attach_kretfunc(fn_name=fn)),
    ("lsm__", lambda b, fn, rest: b.attach_lsm(fn_name=fn)),
)


class BPF(AttachMixin):
    """A bcc program: compile C ``text`` (or ``src_file``), load lazily, attach, read tables.

    Arguments are bcc's: ``cflags`` (``-DNAME=VALUE`` ...), ``debug`` (the
    DEBUG_* flags), ``usdt_contexts`` (:class:`compat_c.USDT` objects whose
    probes are attached once compiled), ``device`` (offload: load programs
    for this netdev), ``attach_usdt_ignore_pid``.  ``allow_rlimit`` is
    accepted and ignored (BPF memory is charged to the memory cgroup).
    """

    class Function:
        """A loaded program, as bcc returns it: ``name`` (bytes), ``fd``, ``fileno()``."""

        def __init__(self, bpf: "BPF", name: bytes, fd: int) -> None:
            self.bpf = bpf
            self.name = name
            self.fd = fd

        def fileno(self) -> int:
            """The program's fd (what the runtime's attach functions accept)."""
            return self.fd

        def __repr__(self) -> str:
            return f"<BPF.Function {self.name.decode()!r} fd={self.fd}>"

    CLOCK_MONOTONIC = 1
    """The clock :meth:`monotonic_time` reads (``<linux/time.h>``)."""

    str2ctype: dict[str, Any] = {
        "_Bool": ct.c_bool, "char": ct.c_char, "wchar_t": ct.c_wchar, "unsigned char": ct.c_ubyte,
        "short": ct.c_short, "unsigned short": ct.c_ushort, "int": ct.c_int, "unsigned int": ct.c_uint,
        "long": ct.c_long, "unsigned long": ct.c_ulong, "long long": ct.c_longlong,
        "unsigned long long": ct.c_ulonglong, "float": ct.c_float, "double": ct.c_double,
        "long double": ct.c_longdouble, "__int128": ct.c_int64 * 2, "unsigned __int128": ct.c_uint64 * 2,
    }
    """bcc's C scalar type names -> ctypes types."""

    @staticmethod
    def Table(*args: Any, **kwargs: Any) -> Any:
        """``bcc.table.Table`` (bcc exposes the table factory as ``BPF.Table``)."""
        from .bcc.table import Table

        return Table(*args, **kwargs)

    # ------------------------------------------------------------ construction

    def __init__(self, src_file: str | bytes = b"", hdr_file: str | bytes = b"", text: str | bytes | None = None,
                 debug: int = 0, cflags: list[str | bytes] = [], usdt_contexts: list[Any] = [],  # noqa: B006 (bcc)
                 allow_rlimit: bool = True, device: str | bytes | None = None,
                 attach_usdt_ignore_pid: bool = False) -> None:
        if text and src_file:
            raise ValueError("BPF() takes text or src_file, not both")
        self._init_attach()
        self.debug = debug
        self.funcs: dict[bytes, BPF.Function] = {}
        self.tables: dict[str, Any] = {}
        self._poller_made: EventPoller | None = None
        self.perf_buffers = _PerfBuffers(self)
        self.tracefile: Any = None
        self._coll: Collection | None = None
        self._usdt = list(usdt_contexts)
        self._device = device
        self._published: list[str] = []
        self._borrowed: list[Map] = []
        atexit.register(self.cleanup)
        try:
            self._build(src_file, hdr_file, text, cflags, attach_usdt_ignore_pid)
        except BaseException:
            self.cleanup()
            raise

    def _build(self, src_file: str | bytes, hdr_file: str | bytes, text: str | bytes | None,
               cflags: list[str | bytes], attach_usdt_ignore_pid: bool) -> None:
        """Compile, load and autoload (the constructor undoes all of it on failure)."""
        name = "<text>"
        if src_file:
            name = self._find_file(to_str(src_file))
            if hdr_file:
                self._find_file(to_str(hdr_file))
            with open(name, "rb") as f:
                text = f.read()
        if text is None:
            raise ValueError("BPF() needs the program: text=... or src_file=...")
        source = to_str(text)
        # readers after the user's text keep the user's line numbers in messages
        usdt_text = "".join(u.get_text() for u in self._usdt)
        if usdt_text:
            source = f"{source}\n{usdt_text}"
        if self.debug & (DEBUG_PREPROCESSOR | DEBUG_SOURCE):
            print(source, file=sys.stderr)
        from .frontend import compile_c
        obj = compile_c(source, [to_str(c) for c in cflags], filename=name,
                        listing=bool(self.debug & (DEBUG_LLVM_IR | DEBUG_BPF)), prefetch=_RUNTIME)
        if self.debug & DEBUG_LLVM_IR:
            print(obj.ir, file=sys.stderr)
        if self.debug & DEBUG_BPF:
            print(obj.asm, file=sys.stderr)
        self._meta = obj.meta
        overrides = self._spec_overrides(obj.data)
        overrides.update(self._extern_maps())
        from pybpf_dsl.runtime.loader import load_object
        self._coll = load_object(obj.data, programs=(), map_overrides=overrides)
        self._publish()
        for u in self._usdt:
            for i, link in enumerate(u.attach_uprobes(self, attach_usdt_ignore_pid)):
                self.uprobe_fds[(b"usdt", id(u), i)] = link
        self._trace_autoload()

    @staticmethod
    def _find_file(filename: str) -> str:
        """``filename`` as given, else next to the running script (bcc's search)."""
        if os.path.isfile(filename):
            return filename
        beside = os.path.join(os.path.abspath(os.path.dirname(sys.argv[0])), filename)
        if os.path.isfile(beside):
            return beside
        raise BPFError(f"Could not find file {filename}")

    def _spec_overrides(self, data: bytes) -> dict[str, Any]:
        """MapSpecs for tables that need more than the ELF says.

        A BPF_TABLE_PINNED table is pinned at its path; a map of maps
        (BPF_ARRAY_OF_MAPS, BPF_HASH_OF_MAPS) gets the spec of the table it
        names as its inner map template.
        """
        tables = self._meta["tables"]
        if not any(t.get("pinned") or t.get("inner") for t in tables.values()):
            return {}
        from pybpf_dsl.runtime.elf import parse_object
        specs = parse_object(data).maps
        found = {}
        for name, t in tables.items():
            spec = specs.get(name)
            if spec is None:
                continue
            if t.get("pinned"):
                spec = replace(spec, pinning=PinMode.PATH, pin_path=t["pinned"])
            if t.get("inner"):
                spec = replace(spec, inner=self._inner_template(name, t["inner"], specs))
            if spec is not specs[name]:
                found[name] = spec
        return found

    @staticmethod
    def _inner_template(outer: str, inner: str, specs: dict[str, MapSpec]) -> MapSpec:
        """The spec of table ``inner`` (of this object, else a public one) as a template."""
        spec = specs.get(inner)
        if spec is None and inner in _PUBLIC_TABLES:
            spec = _PUBLIC_TABLES[inner].spec
        if spec is None:
            raise BPFError(f"map of maps {outer}: inner map {inner!r} is not a table of this program "
                           "(declare it, e.g. BPF_ARRAY(" + inner + ", int, 1024), before " + outer + ")")
        return replace(spec, pinning=PinMode.NONE, pin_path=None, inner=None, data=None)

    def _extern_maps(self) -> dict[str, Map]:
        """A map of its own for each ``extern`` table: the public map of that name, duplicated."""
        found = {}
        for name, t in self._meta["tables"].items():
            if t["map_type"] != 0:
                continue
            public = _PUBLIC_TABLES.get(name)
            if public is None:
                raise BPFError(f"extern table {name}: no BPF object in this process exports it "
                               "(create the one with BPF_TABLE_PUBLIC or BPF_TABLE_SHARED first)")
            from pybpf_dsl.runtime.maps import Map
            m = Map(public.fd.dup(), spec=public.spec)
            self._borrowed.append(m)
            found[name] = m
        return found

    def _publish(self) -> None:
        """Make this object's public and shared tables visible to later objects."""
        for name, t in self._meta["tables"].items():
            if t.get("public") or t.get("shared"):
                if name in _PUBLIC_TABLES:
                    raise BPFError(f"a public table named {name} already exists in this process")
                _PUBLIC_TABLES[name] = self._coll.maps[name]  # type: ignore[union-attr]
                self._published.append(name)

    def _trace_autoload(self) -> None:
        for name in self._coll.spec.programs:  # type: ignore[union-attr]
            for prefix, attach in _AUTOLOAD:
                if name.startswith(prefix) and len(name) > len(prefix):
                    attach(self, name, name[len(prefix):])
                    break

    # ------------------------------------------------------------ programs

    def load_funcs(self, prog_type: int = ProgType.KPROBE) -> list["BPF.Function"]:
        """Load every function of the program as ``prog_type``."""
        return [self.load_func(n, prog_type) for n in self._coll.spec.programs]  # type: ignore[union-attr]

    def load_func(self, func_name: str | bytes, prog_type: int, device: str | bytes | None = None,
                  attach_type: int = -1) -> "BPF.Function":
        """Load function ``func_name`` as a program of ``prog_type`` (cached by name)."""
        key = to_bytes(func_name)
        fn = self.funcs.get(key)
        if fn is not None:
            return fn
        name = key.decode()
        if self._coll is None or name not in self._coll.spec.programs:
            raise BPFError(f"Unknown program {name}")
        kw: dict[str, Any] = {}
        dev = device or self._device
        if dev:
            from pybpf_dsl.runtime.netdev import ifindex
            kw["ifindex"] = ifindex(to_str(dev))
        if self.debug & DEBUG_BPF_REGISTER_STATE:
            kw["log_level"] = 2
        elif self.debug & DEBUG_BPF:
            kw["log_level"] = 1
        prog = self._coll.load_program(name, ProgType(prog_type),
                                       attach_type=None if attach_type == -1 else AttachType(attach_type),
                                       **kw)
        if self.debug & DEBUG_BPF:
            print(f"{name}: {prog.spec.insn_count} instructions, loaded as {prog.type.name}",
                  file=sys.stderr)
        fn = BPF.Function(self, key, prog.fileno())
        self.funcs[key] = fn
        return fn

    def _program_spec(self, func_name: str | bytes) -> Any:
        name = to_str(func_name)
        spec = self._coll.spec.programs.get(name) if self._coll else None
        if spec is None:
            raise BPFError(f"Unknown program {name}")
        return spec

    def dump_func(self, func_name: str | bytes) -> bytes:
        """The program's BPF instructions (before map fds are patched in)."""
        return self._program_spec(func_name).insns

    def disassemble_func(self, func_name: str | bytes) -> str:
        """The program's instructions as text, one ``%4d: (%02x) ...`` line each, as bcc prints them."""
        from .disasm import disassemble

        spec = self._program_spec(func_name)
        maps = {r.insn: r.map if r.offset is None else f"{r.map}+{r.offset}" for r in spec.map_refs}
        return disassemble(to_str(func_name), spec.insns, maps)

    # ------------------------------------------------------------ tables

    def get_table(self, name: str | bytes, keytype: Any = None, leaftype: Any = None,
                  reducer: Callable | None = None) -> Any:
        """The runtime table object of map ``name`` (KeyError when there is none)."""
        name = to_str(name)
        m = self._coll.maps.get(name) if self._coll else None
        if m is None:
            raise KeyError(name)
        from pybpf_dsl.runtime.tables import table_for
        table = table_for(m, keytype, leaftype, reducer, name=name, owner=self)
        event = self._meta["events"].get(name)
        if event is not None and hasattr(table, "event_type"):
            table.event_type = ctype_from_desc(event)
        return table

    def decode_table(self, table_name: str | bytes, sizeinfo: bool = False) -> str:
        """A C-like description of a table's key and leaf types (printed and returned)."""
        name = to_str(table_name)
        info = self._meta["tables"].get(name)
        if info is None:
            raise KeyError(name)
        t = self[name]
        lines = [f"Layout of BPF map {name} (type {type(t).__name__}, FD {t.get_fd()}, ID {t.map_id}):"]
        for what, desc in (("key", info["key"]), ("value", info["leaf"])):
            if desc is not None:
                lines += _describe(desc, what, 1, sizeinfo)
        text = "\n".join(lines)
        print(text)
        return text

    def __getitem__(self, key: str | bytes) -> Any:
        name = to_str(key)
        table = self.tables.get(name)
        if table is None:
            table = self.tables[name] = self.get_table(name)
        return table

    def __setitem__(self, key: str | bytes, leaf: Any) -> None:
        self.tables[to_str(key)] = leaf

    def __len__(self) -> int:
        return len(self.tables)

    def __delitem__(self, key: str | bytes) -> None:
        table = self.tables.pop(to_str(key))
        close = getattr(table, "close", None)
        if close is not None:
            close()

    def __iter__(self) -> Iterator[str]:
        return iter(self.tables)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, (str, bytes)) and to_str(key) in self.tables

    # ------------------------------------------------------------ buffers

    @property
    def _poller(self) -> EventPoller:
        """The poller of this object's perf and ring buffers, made on first use."""
        if self._poller_made is None:
            from pybpf_dsl.runtime.event_poller import EventPoller

            self._poller_made = EventPoller()
        return self._poller_made

    @property
    def ring_buffer(self) -> Any:
        """The ring buffer manager every RingBuf table of this object adds itself to."""
        return self._poller.ring_buffer()

    def perf_buffer_poll(self, timeout: int = -1) -> int:
        """Wait up to ``timeout`` ms (-1: forever) on every perf buffer; run the callbacks."""
        return self._poller.perf_buffer_poll(timeout)

    def perf_buffer_consume(self) -> int:
        """Read every perf buffer without waiting."""
        return self._poller.perf_buffer_consume()

    def kprobe_poll(self, timeout: int = -1) -> int:
        """Deprecated bcc name of :meth:`perf_buffer_poll`."""
        return self.perf_buffer_poll(timeout)

    def ring_buffer_poll(self, timeout: int = -1) -> int:
        """Wait up to ``timeout`` ms on the ring buffers ("No ring buffers to poll" without one)."""
        return self._poller.ring_buffer_poll(timeout)

    def ring_buffer_consume(self) -> int:
        """Handle every available ring buffer sample without waiting."""
        return self._poller.ring_buffer_consume()

    # ------------------------------------------------------------ trace_pipe

    def trace_open(self, nonblocking: bool = False) -> Any:
        """Open the kernel's trace_pipe (once) and return the reader."""
        if self.tracefile is None:
            from pybpf_dsl.runtime.tracepipe import TracePipe
            self.tracefile = TracePipe()
        self.tracefile.open(nonblocking)
        return self.tracefile

    def trace_readline(self, nonblocking: bool = False) -> bytes | None:
        """One line of trace_pipe (bytes, no newline); None when ``nonblocking`` finds none."""
        return self.trace_open(nonblocking).readline(nonblocking)

    def trace_fields(self, nonblocking: bool = False) -> tuple:
        """``(task, pid, cpu, flags, ts, msg)`` of the next line; ``(None,) * 6`` when none."""
        return tuple(self.trace_open(nonblocking).fields(nonblocking))

    def trace_print(self, fmt: str | None = None) -> None:
        """Print trace_pipe forever, as bcc does (bytes values print as ``b'...'``)."""
        while True:
            if fmt:
                line: Any = fmt.format(*self.trace_fields())
            else:
                line = self.trace_readline()
            print(line)
            sys.stdout.flush()

    # ------------------------------------------------------------ symbols

    @staticmethod
    def sym(addr: Any, pid: int, show_module: bool = False, show_offset: bool = False,
            demangle: bool = True) -> bytes:
        """A user address (or build-id stack frame) of ``pid`` as ``b"name[+0xoff][ [module]]"``."""
        from .buildsym import sym

        return sym(addr, pid, show_module, show_offset, demangle)

    @staticmethod
    def ksym(addr: int, show_module: bool = False, show_offset: bool = False) -> bytes:
        """A kernel address as ``b"name[+0xoff][ [kernel]]"``."""
        from pybpf_dsl.runtime.symbols import ksym

        return ksym(addr, show_module, show_offset)

    @staticmethod
    def ksymname(name: str | bytes) -> int:
        """The address of kernel symbol ``name``, or -1."""
        from pybpf_dsl.runtime.symbols import ksymname

        return ksymname(name)

    @staticmethod
    def _sym_cache(pid: int) -> Any:
        from pybpf_dsl.runtime.symbols import symbol_cache

        return symbol_cache(pid)

    @staticmethod
    def add_module(modname: str | bytes) -> None:
        """Add a binary to the build-id cache ``sym`` resolves build-id stack frames with."""
        from .buildsym import add_module

        add_module(modname)

    # ------------------------------------------------------------ discovery (static, as in bcc)

    get_kprobe_functions = staticmethod(discovery.get_kprobe_functions)
    get_tracepoints = staticmethod(discovery.get_tracepoints)
    tracepoint_exists = staticmethod(discovery.tracepoint_exists)
    get_user_functions = staticmethod(discovery.get_user_functions)
    get_user_addresses = staticmethod(discovery.get_user_addresses)
    get_user_functions_and_addresses = staticmethod(discovery.get_user_functions_and_addresses)
    find_library = staticmethod(discovery.find_library)
    find_exe = staticmethod(discovery.find_exe)
    support_kfunc = staticmethod(discovery.support_kfunc)
    support_fmod_ret = staticmethod(discovery.support_fmod_ret)
    support_lsm = staticmethod(discovery.support_lsm)
    support_raw_tracepoint = staticmethod(discovery.support_raw_tracepoint)
    support_raw_tracepoint_in_module = staticmethod(discovery.support_raw_tracepoint_in_module)
    kernel_struct_has_field = staticmethod(discovery.kernel_struct_has_field)
    kernel_enum_has_val = staticmethod(discovery.kernel_enum_has_val)
    monotonic_time = staticmethod(discovery.monotonic_time)
    get_probe_limit = staticmethod(discovery.get_probe_limit)
    generate_auto_includes = staticmethod(discovery.generate_auto_includes)

    def get_syscall_prefix(self) -> bytes:
        """This kernel's syscall function prefix (``b"__x64_sys_"``)."""
        return discovery.get_syscall_prefix()

    def get_syscall_fnname(self, name: str | bytes) -> bytes:
        """``b"openat"`` -> ``b"__x64_sys_openat"``."""
        return discovery.get_syscall_fnname(name)

    def fix_syscall_fnname(self, name: str | bytes) -> bytes:
        """A syscall function name rewritten to this kernel's prefix."""
        return discovery.fix_syscall_fnname(name)

    # ------------------------------------------------------------ lifetime

    def cleanup(self) -> None:
        """Detach everything, close the buffers and trace_pipe, then :meth:`close` (idempotent)."""
        atexit.unregister(self.cleanup)
        self._detach_all()
        for u in self._usdt:
            u.close()
        for name in [n for n, t in self.tables.items() if hasattr(t, "open_perf_buffer")]:
            del self[name]
        if self._poller_made is not None:
            self._poller_made.close()
        if self.tracefile is not None:
            self.tracefile.close()
            self.tracefile = None
        self.close()

    def free_bcc_memory(self) -> int:
        """bcc frees libbcc's compiler memory here; compat_c keeps none after loading: 0."""
        return 0

    def donothing(self) -> None:
        """bcc's do-nothing exit handler."""

    def close(self) -> None:
        """Close the programs and maps (attachments made through links keep nothing alive)."""
        self.funcs.clear()
        for name in self._published:
            _PUBLIC_TABLES.pop(name, None)
        self._published.clear()
        for m in self._borrowed:
            m.close()
        self._borrowed.clear()
        if self._coll is not None:
            self._coll.close()
            self._coll = None

    def __enter__(self) -> "BPF":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.cleanup()

    def __repr__(self) -> str:
        progs = list(self._coll.spec.programs) if self._coll else []
        return f"<BPF programs={progs} tables={list(self._meta['tables']) if self._coll else []}>"


for _name, _value in BPF_CONSTANTS.items():  # BPF.KPROBE, BPF.XDP_PASS, BPF.XDP_FLAGS_SKB_MODE, ...
    setattr(BPF, _name, _value)


def _describe(desc: dict[str, Any], name: str, depth: int, sizeinfo: bool) -> list[str]:
    """Lines of a C declaration of ``desc`` named ``name``."""
    pad = "  " * depth
    size = f" /* size {desc.get('size', 0)} */" if sizeinfo else ""
    if desc["kind"] in ("struct", "union"):
        lines = [f"{pad}{desc['kind']} {desc.get('name') or ''} {{".replace("  {", " {")]
        for f in desc["fields"]:
            lines += _describe(f["type"], f["name"] + (f":{f['bits']}" if f.get("bits") else ""),
                               depth + 1, sizeinfo)
        return lines + [f"{pad}}} {name};{size}"]
    if desc["kind"] == "array":
        dims, elem = "", desc
        while elem["kind"] == "array":
            dims += f"[{elem['len']}]"
            elem = elem["type"]
        return _describe(elem, name + dims, depth, sizeinfo)
    return [f"{pad}{desc.get('name') or desc['kind']} {name};{size}"]
