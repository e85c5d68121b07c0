"""Reading and writing whole tables with the kernel's BPF_MAP_*_BATCH commands.

:class:`BatchReader` walks a map one chunk of entries per syscall.  When a
map needs several chunks, a helper thread fetches the next chunk while the
caller decodes the current one: the syscall runs without the GIL, so the
kernel's walk of the hash buckets (~15 ms for 100,000 entries) overlaps the
creation of the Python objects.  That saves wall time, not CPU time; maps
that fit in one chunk start no thread.  Chunks come back as ctypes arrays
of the element types :func:`~.elements.batch_decoder` chose.
"""

from __future__ import annotations

import ctypes as ct
import errno as _errno
from typing import Any, Iterator, NamedTuple

from ...errors import SyscallError
from ..maps import Map
from ..uapi import Cmd

__all__ = ["BatchReader", "Chunk", "BatchUnsupported", "CHUNK", "NO_BATCH_ERRNOS",
           "write_batch", "delete_batch"]

#: Entries per batch syscall (a few tens of us of kernel time per chunk; ENOSPC doubles it).
CHUNK = 8192
#: What the first batch call answers on a kernel or map type without batch support.
NO_BATCH_ERRNOS = frozenset({_errno.EINVAL, _errno.EOPNOTSUPP, 524})   # 524: ENOTSUPP


class BatchUnsupported(Exception):
    """The kernel has no batch command for this map type."""


class Chunk(NamedTuple):
    """One batch call's result: ``count`` entries at the start of ``keys``/``values``."""

    keys: Any
    values: Any
    count: int
    finished: bool


class BatchReader:
    """Every entry of ``map`` through batch ``cmd`` (lookup, or lookup-and-delete).

    ``key_t``/``value_t`` are the element types of the chunk arrays.  With
    ``reuse`` the same two arrays serve every chunk (for callers that do not
    keep the entries, e.g. clear()); otherwise each chunk gets fresh arrays
    and the chunks after the first are prefetched by a helper thread.
    """

    def __init__(self, map: Map, cmd: Cmd, key_t: Any, value_t: Any, *, reuse: bool = False,
                 chunk: int = CHUNK) -> None:
        self.map, self.cmd = map, cmd
        self.key_t, self.value_t = key_t, value_t
        self.reuse = reuse
        self.size = max(1, min(map.max_entries, chunk))
        self._token = (ct.c_ubyte * max(8, map.key_size))()
        self._started = False
        self._arrays: tuple[Any, Any] | None = None

    def _next(self) -> Chunk:
        """One batch call after the previous one (ENOSPC: a hash bucket outgrew the chunk)."""
        while True:
            if not self.reuse or self._arrays is None or len(self._arrays[0]) != self.size:
                self._arrays = (self.key_t * self.size)(), (self.value_t * self.size)()
            karr, varr = self._arrays
            try:
                n, finished = self.map.batch(self.cmd, karr, varr, self.size,
                                             in_batch=self._token if self._started else None,
                                             out_batch=self._token)
            except SyscallError as e:
                if e.errno == _errno.ENOSPC and self.size < self.map.max_entries:
                    self.size *= 2
                    continue
                if not self._started and e.errno in NO_BATCH_ERRNOS:
                    raise BatchUnsupported from e
                raise
            self._started = True
            return Chunk(karr, varr, n, finished)

    def __iter__(self) -> Iterator[Chunk]:
        """The chunks, in kernel order (the last may be empty); BatchUnsupported first."""
        chunk = self._next()
        yield chunk
        if chunk.finished:
            return
        if not self.reuse:
            yield from self._prefetched()
            return
        while not chunk.finished:
            chunk = self._next()
            yield chunk

    def _prefetched(self) -> Iterator[Chunk]:
        import queue           # here: most tables never need a thread, start-up stays lean
        import threading
        ready: queue.SimpleQueue = queue.SimpleQueue()
        stop = threading.Event()

        def fetch() -> None:
            try:
                while not stop.is_set():
                    got = self._next()
                    ready.put(got)
                    if got.finished:
                        return
            except BaseException as e:     # handed to the reading thread
                ready.put(e)
        threading.Thread(target=fetch, name="bpf-batch-prefetch", daemon=True).start()
        try:
            while True:
                got = ready.get()
                if isinstance(got, BaseException):
                    raise got
                yield got
                if got.finished:
                    return
        finally:
            stop.set()       # a reader that stops early stops the fetching (and deleting)


def _slices(total: int) -> Iterator[tuple[int, int]]:
    for start in range(0, total, CHUNK):
        yield start, min(CHUNK, total - start)


def write_batch(map: Map, karr: Any, varr: Any) -> None:
    """BPF_MAP_UPDATE_BATCH of two equally long ctypes arrays, a chunk per call.

    BatchUnsupported when the kernel refuses the first call.
    """
    kbase, ksize = ct.addressof(karr), ct.sizeof(karr._type_)
    vbase, vsize = ct.addressof(varr), ct.sizeof(varr._type_)
    for start, n in _slices(len(karr)):
        try:
            map.batch(Cmd.MAP_UPDATE_BATCH, kbase + start * ksize, vbase + start * vsize, n)
        except SyscallError as e:
            if start or e.errno not in NO_BATCH_ERRNOS:
                raise
            raise BatchUnsupported from e


def delete_batch(map: Map, karr: Any) -> None:
    """BPF_MAP_DELETE_BATCH of a ctypes array of keys; absent keys are skipped."""
    base, size, done = ct.addressof(karr), ct.sizeof(karr._type_), 0
    while done < len(karr):
        n, _ = map.batch(Cmd.MAP_DELETE_BATCH, base + done * size, None, len(karr) - done)
        done += n + 1      # the kernel stops at an absent key (ENOENT): skip it
