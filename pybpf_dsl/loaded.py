"""``load(*probes)``: compile (or take from the cache), load, attach; the live object it returns.

::

    with load(on_openat, on_read) as prog:
        for ev in prog.poll(events, timeout=1.0):     # decoded OpenEvent values
            print(ev.pid, ev.comm.decode())
        prog["read_sizes"].print_log2_hist("bytes")   # bcc's table API
        print(prog["opens"][os.getpid()])             # plain ints work as keys

Closing (or leaving the ``with``) detaches every probe and closes every
map, program, buffer and link FD.
"""

from __future__ import annotations

import select
import time
from typing import Any, Iterator

from .errors import BPFError
from .maps import MapDecl, PerfBuf
from .runtime.closing import Closing

__all__ = ["load", "LoadedProgram"]


class LoadedProgram(Closing):
    """Programs and maps in the kernel, with bcc's table and buffer API.

    ``prog["name"]`` is the bcc table of map ``name``; ``prog.programs`` the
    loaded programs by function name; ``prog.links`` the attachments;
    ``prog.object`` the :class:`~pybpf_dsl.lower.CompiledObject` (None when
    it came from the cache: use ``load(..., cache=False)`` to inspect it).

    Text from ``print(...)`` calls in the probes is formatted here and
    written to stdout whenever the program is polled (``poll``,
    ``ring_buffer_poll``/``consume``, ``perf_buffer_poll``), or explicitly by
    :meth:`print_events`; :meth:`printed` yields it instead.
    """

    def __init__(self, collection: Any, probes: list[Any], decls: dict[str, MapDecl],
                 compiled: Any = None, print_sites: list[Any] | None = None) -> None:
        self.collection = collection
        self.probes = {p.name: p for p in probes}
        self.decls = decls
        self.object = compiled
        self.programs = collection.programs
        self.links: dict[str, Any] = {}
        self.perf_buffers: dict[str, Any] = {}   # filled by PerfEventArray.open_perf_buffer
        self.ring_buffer: Any = None             # filled by RingBuf.open_ring_buffer
        self._tables: dict[str, Any] = {}
        self._pollers: dict[str, Any] = {}
        self._prints: Any = None
        self._inner_maps: list[Any] = []
        if print_sites:
            from .printfmt import PRINT_LOST_MAP, PRINT_MAP, PrintReader
            lost = collection.maps.get(PRINT_LOST_MAP)
            self._prints = PrintReader(collection.maps[PRINT_MAP].fileno(), print_sites,
                                       lost.fileno() if lost is not None else None)

    # -- attaching -----------------------------------------------------------------
    def attach(self, probe: Any, **options: Any) -> Any:
        """Attach ``probe`` (a decorated function of this object) with extra options; returns the Link."""
        from .attach import attach_probe
        name = probe if isinstance(probe, str) else probe.name
        p = self.probes[name]
        opts = {**p.options, **options}
        if isinstance(opts.get("map"), MapDecl):   # sk_msg/sk_skb: the sockmap to attach to
            opts["map"] = self.collection.maps[self._map_name(opts["map"])]
        link = attach_probe(self.programs[name], p.kind.name, p.target, opts)
        old = self.links.pop(name, None)
        if old is not None:
            old.close()
        self.links[name] = link
        return link

    # -- tables --------------------------------------------------------------------
    def _map_name(self, m: Any) -> str:
        if isinstance(m, MapDecl):
            if m.name is None or m.name not in self.collection.maps:
                raise KeyError(f"{m!r} is not a map of this program")
            return m.name
        return m

    def __getitem__(self, name: str | MapDecl) -> Any:
        """bcc's table over map ``name`` (key and leaf ctypes from the declaration)."""
        name = self._map_name(name)
        t = self._tables.get(name)
        if t is None:
            from .runtime.tables import table_for
            from .runtime.uapi import MapType
            try:
                m = self.collection.maps[name]
            except KeyError:
                raise KeyError(f"no map {name!r} (maps: {', '.join(sorted(self.collection.maps))})") from None
            decl = self.decls.get(name)
            key_t, leaf_t = decl.ctypes_kv() if decl is not None else (None, None)
            if m.type == MapType.PERF_EVENT_ARRAY and name in self._pollers:
                self._pollers.pop(name)[0].close()   # bcc's open_perf_buffer takes the CPUs over
            t = table_for(m, key_t, leaf_t, name=name, owner=self)
            if decl is not None and decl.value_type is not None and hasattr(t, "event_type"):
                t.event_type = decl.value_type.ctype
            self._tables[name] = t
        return t

    get_table = __getitem__

    def new_inner_map(self, outer: str | MapDecl) -> Any:
        """A new empty map shaped like ``outer``'s inner declaration, as a bcc table.

        Store it in a slot (``prog["outer"][i] = prog.new_inner_map("outer")``);
        it is closed with this object.
        """
        from .runtime.maps import Map
        from .runtime.tables import table_for
        name = self._map_name(outer)
        spec = self.collection.spec.maps[name].inner
        decl = self.decls.get(name)
        if spec is None:
            raise TypeError(f"map {name!r} is not a map of maps")
        inner = getattr(decl, "inner", None)
        key_t, leaf_t = inner.ctypes_kv() if inner is not None else (None, None)
        t = table_for(Map.create(spec), key_t, leaf_t, name=spec.name)
        self._inner_maps.append(t)
        return t

    def __contains__(self, name: str) -> bool:
        return name in self.collection.maps

    # -- events --------------------------------------------------------------------
    def poll(self, events: Any, timeout: float = 1.0) -> Iterator[Any]:
        """Yield the decoded records of a RingBuf/PerfBuf arriving within ``timeout`` seconds.

        PerfBuf readers open at load (perf samples with no reader are lost),
        unless bcc's ``prog[name].open_perf_buffer`` takes the map over.
        Records already waiting come out at once; the generator ends when
        ``timeout`` has passed since the call (or at once with timeout=0 and
        nothing waiting).
        """
        name = self._map_name(events)
        reader, queue = self._poller(name)
        deadline = time.monotonic() + timeout
        while True:
            remaining = max(0.0, deadline - time.monotonic())
            n = self._wait([reader], int(remaining * 1000))
            while queue:
                yield queue.pop(0)
            if n <= 0 and remaining <= 0 or time.monotonic() >= deadline:
                while queue:
                    yield queue.pop(0)
                return

    def _poller(self, name: str) -> tuple[Any, list]:
        found = self._pollers.get(name)
        if found is not None:
            return found
        from .runtime.event_decode import decoder
        from .runtime.uapi import MapType
        decl = self.decls.get(name)
        m = self.collection.maps[name]
        if decl is None or decl.value_type is None:
            raise TypeError(f"map {name!r} has no record type to decode")
        decode = decoder(decl.value_type.ctype)
        queue: list = []
        if m.type == MapType.RINGBUF:
            from .runtime.ring_buffer import RingBuffer
            reader: Any = RingBuffer()
            reader.add(m.fileno(), lambda _ctx, data, size: queue.append(decode(data, size)))
        elif m.type == MapType.PERF_EVENT_ARRAY:
            from .runtime.perf_buffer import PerfBuffer
            reader = PerfBuffer(m.fileno(), lambda _cpu, data, size: queue.append(decode(data, size)))
        else:
            raise TypeError(f"map {name!r} is a {m.type.name}, not a RingBuf or PerfBuf")
        self._pollers[name] = (reader, queue)
        return reader, queue

    def ring_buffer_poll(self, timeout: int = -1) -> int:
        """bcc's ring_buffer_poll: wait up to ``timeout`` ms on the rings opened with open_ring_buffer."""
        return self._wait(self._rings(), timeout)

    def ring_buffer_consume(self) -> int:
        """bcc's ring_buffer_consume: handle what is waiting, without blocking."""
        return sum(r.consume() for r in self._rings() + self._print_reader())

    def _rings(self) -> list[Any]:
        if self.ring_buffer is None and self._prints is None:
            raise BPFError("No ring buffers to poll: call prog[name].open_ring_buffer(callback) first")
        return [self.ring_buffer] if self.ring_buffer is not None else []

    def _print_reader(self) -> list[Any]:
        return [self._prints] if self._prints is not None else []

    def perf_buffer_poll(self, timeout: int = -1) -> int:
        """bcc's perf_buffer_poll: wait up to ``timeout`` ms on every open perf buffer."""
        return self._wait(list(self.perf_buffers.values()), timeout)

    def _wait(self, readers: list[Any], timeout: int) -> int:
        """Wait up to ``timeout`` ms (-1: forever) on ``readers`` and the print reader; handle what came."""
        readers = readers + self._print_reader()
        if len(readers) == 1:
            return readers[0].poll(timeout)
        ready, _, _ = select.select(readers, [], [], None if timeout < 0 else timeout / 1000)
        return sum(r.consume() for r in ready)

    # -- print(...) output ---------------------------------------------------------
    def print_events(self, timeout: float | None = 1.0, file: Any = None) -> int:
        """Write the text of ``print`` calls arriving within ``timeout`` seconds (None: until Ctrl-C).

        Returns how many records were printed.  ``file`` defaults to stdout.
        """
        if self._prints is None:
            raise BPFError("these probes call no print(): nothing to print")
        self._prints.sink = file.write if file is not None else None
        deadline = None if timeout is None else time.monotonic() + timeout
        n = 0
        try:
            while True:
                left = -1 if deadline is None else max(0, int((deadline - time.monotonic()) * 1000))
                n += max(self._prints.poll(left), 0)
                if deadline is not None and time.monotonic() >= deadline:
                    return n + max(self._prints.consume(), 0)
        except KeyboardInterrupt:
            return n
        finally:
            self._prints.sink = None

    def printed(self, timeout: float = 1.0) -> Iterator[str]:
        """Yield the text of each ``print`` call arriving within ``timeout`` seconds (with its ``end``)."""
        lines: list[str] = []
        if self._prints is None:
            raise BPFError("these probes call no print(): nothing to read")
        self._prints.sink = lines.append
        try:
            deadline = time.monotonic() + timeout
            while True:
                left = max(0, int((deadline - time.monotonic()) * 1000))
                self._prints.poll(left)
                yield from lines
                lines.clear()
                if time.monotonic() >= deadline:
                    self._prints.consume()
                    yield from lines
                    return
        finally:
            self._prints.sink = None

    # -- lifetime ------------------------------------------------------------------
    def close(self) -> None:
        """Detach every probe and close every FD (idempotent)."""
        for link in reversed(list(self.links.values())):
            link.close()
        self.links.clear()
        for reader, _queue in self._pollers.values():
            reader.close()
        self._pollers.clear()
        if self._prints is not None:
            self._prints.close()
            self._prints = None
        for t in self._tables.values():
            if hasattr(t, "close"):
                t.close()
        self._tables.clear()
        for t in self._inner_maps:
            t.map.close()
        self._inner_maps.clear()
        for b in self.perf_buffers.values():
            b.close()
        self.perf_buffers.clear()
        if self.ring_buffer is not None:
            self.ring_buffer.close()
            self.ring_buffer = None
        self.collection.close()

    def __repr__(self) -> str:
        return (f"<LoadedProgram programs={list(self.programs)} maps={list(self.collection.maps)} "
                f"attached={list(self.links)}>")


def map_decls(probes: list[Any]) -> dict[str, MapDecl]:
    """Name every map declaration the probes' modules define (by its global name)."""
    found: dict[str, MapDecl] = {}
    seen: set[int] = set()
    for p in probes:
        g = p.py_func.__globals__
        if id(g) in seen:
            continue
        seen.add(id(g))
        for name, obj in list(g.items()):
            if isinstance(obj, MapDecl):
                obj.bind_name(name)
                found.setdefault(obj.name, obj)
    return found


def load(*probes: Any, license: str = "GPL", cache: bool = True, pin_root: str | None = None,
         attach: bool = True, debug: int = 0) -> LoadedProgram:
    """Compile ``probes`` into one object, load it and attach each probe; returns a LoadedProgram.

    ``cache``: reuse the object compiled for the same source, compiler and
    kernel (skipping LLVM entirely).  ``pin_root``: where ``pinned=True``
    maps are pinned (default: the bpffs mount).  ``attach=False`` only
    loads (attach later with ``prog.attach(fn, **options)``).  ``debug``
    takes :mod:`pybpf_dsl.debug` flags (print LLVM IR, assembly with source
    lines, write the object file).
    """
    from .attach import needs_target
    from .runtime.loader import load_object
    if not probes:
        raise ValueError("load() needs at least one probe")
    decls = map_decls(list(probes))
    elf, compiled, sites = _object(list(probes), license, cache and not debug, debug)
    if compiled is not None:
        decls.update({m.name: m for m in compiled.maps if m.name})
    coll = load_object(elf, maps_pin_root=pin_root)
    try:
        prog = LoadedProgram(coll, list(probes), decls, compiled, sites)
    except BaseException:
        coll.close()
        raise
    try:
        for name, decl in decls.items():     # perf samples are dropped while no reader is open
            if isinstance(decl, PerfBuf) and name in coll.maps:
                prog._poller(name)
        if attach:
            for p in probes:
                if not needs_target(p.kind.name, p.options):
                    prog.attach(p)
    except BaseException:
        prog.close()
        raise
    return prog


def _object(probes: list[Any], license: str, use_cache: bool, debug: int) -> tuple[bytes, Any, list[Any]]:
    """The ELF object for ``probes``, the CompiledObject (None on a cache hit) and its print sites."""
    from . import cache
    key = cache.cache_key(probes, license) if use_cache else None
    if key is not None:
        hit = cache.get(key)
        if hit is not None:
            elf, meta = hit
            if not meta:
                return elf, None, []
            from .printfmt import sites_from_json
            return elf, None, sites_from_json(meta)
    from .lower import compile_programs
    compiled = compile_programs(*probes, license=license)
    if debug:
        from .debug import show
        show(compiled, debug)
    if key is not None:
        from .printfmt import sites_to_json
        cache.put(key, compiled.elf, sites_to_json(compiled.prints) if compiled.prints else b"")
    return compiled.elf, compiled, compiled.prints

