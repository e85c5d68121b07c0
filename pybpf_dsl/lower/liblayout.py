"""A copy of libllvmlite.so laid out so that loading it maps only the pages LLVM runs.

Why: when a process touches one page of a file mapping, Linux maps up to 64 KiB
of already-cached pages around it ("fault-around"), never crossing the edge of
the mapping.  LLVM's ~700 static initialisers and its optimiser touch a few
pages in most 64 KiB windows of the library's 150 MiB of code and constants,
so ``import llvmlite.binding`` alone leaves 36 MiB resident.  In a copy whose
read-only segments are cut into many program headers, ld.so maps each piece
separately and fault-around stops at every edge:

* the *probe* layout cuts every read-only page apart; a throwaway process
  (pipeline.py ``--probe``) loads it, compiles a sample program and reports
  the pages it touched (:func:`touched_pages`);
* the *lean* layout, the one the worker loads, makes each run of touched
  pages one piece and each run of untouched pages another: a page the sample
  never used costs at most what it costs in the original (64 KiB around
  it), and ~3,300 pieces keep ld.so's mapping work near 10 ms (37k pieces,
  one a page, take ~110 ms).

For the issue-3 example the worker's peak falls from 83 to 32 MiB (with
:func:`drop_pages` between compilation steps, see pipeline.py).  The copy
costs ~150 MiB of disk per llvmlite install and ~1.5 s once.

Pieces that are neighbours in memory must not be neighbours in the file, or
the kernel merges their mappings again: each piece starts one (sparse, never
written) page after the previous one ends.  Only program headers change;
section headers are dropped (ld.so does not read them; symbols are looked up
in the original).  Stdlib only: this runs in the LLVM worker.
"""

from __future__ import annotations

import errno
import os
import struct
from collections.abc import Callable, Iterable
from functools import lru_cache

__all__ = ["lean_library", "layout_home", "read_only_span", "touched_pages", "drop_pages", "write_layout"]

PAGE = 4096

_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")      # Elf64_Ehdr
_PHDR = struct.Struct("<IIQQQQQQ")              # Elf64_Phdr
_PT_LOAD, _PF_W = 1, 2


def _header(fd: int) -> tuple[list, list[list[int]]]:
    """The ELF header fields and the program headers of a 64-bit little-endian shared object."""
    ehdr = list(_EHDR.unpack(os.pread(fd, _EHDR.size, 0)))
    if ehdr[0][:6] != b"\x7fELF\x02\x01" or ehdr[9] != _PHDR.size:
        raise ValueError("not a 64-bit little-endian ELF file")
    table = os.pread(fd, _PHDR.size * ehdr[10], ehdr[5])
    return ehdr, [list(_PHDR.unpack_from(table, i * _PHDR.size)) for i in range(ehdr[10])]


def read_only_span(path: str) -> int:
    """Bytes from the library's load address up to its first writable page: everything
    below is code and constants, never written, so :func:`drop_pages` may discard it."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        _ehdr, phdrs = _header(fd)
    finally:
        os.close(fd)
    return min(p[3] for p in phdrs if p[0] == _PT_LOAD and p[1] & _PF_W) // PAGE * PAGE


def _pieces(phdrs: list[list[int]], touched: set[int] | None) -> list[tuple[int, int, int, int, int]]:
    """The loadable pieces ``(file offset, vaddr, size, flags, memory size)`` of the new layout:
    read-only segments cut per page (``touched`` None) or into runs of touched and of
    untouched pages; writable segments whole."""
    pieces = []
    for _t, flags, off, vaddr, _pa, filesz, memsz, _al in (p for p in phdrs if p[0] == _PT_LOAD):
        if flags & _PF_W or filesz != memsz:
            pieces.append((off, vaddr, filesz, flags, memsz))
            continue
        end, at = vaddr + filesz, vaddr
        while at < end:
            hot = touched is not None and at // PAGE in touched
            stop = min((at // PAGE + 1) * PAGE, end)
            while touched is not None and stop < end and (stop // PAGE in touched) == hot:
                stop = min(stop + PAGE, end)
            pieces.append((off + at - vaddr, at, stop - at, flags, stop - at))
            at = stop
    return pieces


def write_layout(src: str, dst: str, touched: Iterable[int] | None = None) -> None:
    """Write the probe layout of ``src`` (``touched`` None) or its lean layout to ``dst``,
    atomically (a partly written file is never at ``dst``)."""
    sfd = os.open(src, os.O_RDONLY | os.O_CLOEXEC)
    tmp = f"{dst}.{os.getpid()}.tmp"
    dfd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        ehdr, phdrs = _header(sfd)
        new_phdrs, moved = [], []            # moved: (vaddr, size, new offset) of each piece
        shift = 0
        for n, (off, vaddr, size, flags, memsz) in enumerate(_pieces(phdrs, None if touched is None else set(touched))):
            shift += PAGE if n else 0        # a hole page: no two pieces are neighbours in the file
            start = off // PAGE * PAGE       # the piece's first page, copied whole
            _copy(sfd, dfd, start, start + shift, off + size - start)
            new_phdrs.append((_PT_LOAD, flags, off + shift, vaddr, vaddr, size, memsz, PAGE))
            moved.append((vaddr, memsz, off + shift))
        for p in phdrs:                      # the others keep their vaddr; offsets follow their piece
            if p[0] != _PT_LOAD:
                piece = next((m for m in moved if m[0] <= p[3] < m[0] + max(m[1], 1)), None)
                new_phdrs.append((p[0], p[1], piece[2] + p[3] - piece[0] if piece and p[5] else 0, *p[3:]))
        if len(new_phdrs) > 0xFFFF:
            raise ValueError(f"{len(new_phdrs)} program headers: more than ELF can number")
        table_at = -(-os.fstat(dfd).st_size // 8) * 8
        os.pwrite(dfd, b"".join(_PHDR.pack(*p) for p in new_phdrs), table_at)
        ehdr[5], ehdr[6], ehdr[10], ehdr[12], ehdr[13] = table_at, 0, len(new_phdrs), 0, 0
        os.pwrite(dfd, _EHDR.pack(*ehdr), 0)
        os.close(dfd)
        dfd = -1
        os.replace(tmp, dst)
    except BaseException:
        if dfd >= 0:
            os.close(dfd)
        os.unlink(tmp)
        raise
    finally:
        os.close(sfd)


def _copy(sfd: int, dfd: int, src_off: int, dst_off: int, size: int) -> None:
    """Copy ``size`` bytes between the files, in the kernel when it can (same file system)."""
    while size > 0:
        try:
            n = os.copy_file_range(sfd, dfd, size, src_off, dst_off)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                raise
            n = os.pwrite(dfd, os.pread(sfd, min(size, 1 << 20), src_off), dst_off)
        if n <= 0:
            raise OSError(f"short copy of the library at offset {src_off}")
        src_off, dst_off, size = src_off + n, dst_off + n, size - n


def touched_pages(base: int, span: int) -> set[int]:
    """Page numbers (from the load address ``base``) of the first ``span`` bytes that are
    mapped in this process now (/proc/self/pagemap's present bit)."""
    with open("/proc/self/pagemap", "rb", buffering=0) as f:
        entries = os.pread(f.fileno(), span // PAGE * 8, base // PAGE * 8)
    return {i for i, (e,) in enumerate(struct.iter_unpack("<Q", entries)) if e >> 63}


@lru_cache(maxsize=1)
def _madvise() -> Callable[[int, int, int], int]:
    import ctypes
    madvise = ctypes.CDLL(None, use_errno=True).madvise
    madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    return madvise


def drop_pages(base: int, span: int) -> None:
    """Unmap the resident pages of ``[base, base + span)``, code and constants of the
    library: the kernel maps them again from the page cache when they are next used."""
    if _madvise()(base, span, 4):                # MADV_DONTNEED
        import ctypes
        raise OSError(ctypes.get_errno(), "madvise(MADV_DONTNEED) of the library failed")


_VERSION = "1"


def _read_text(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except (OSError, UnicodeDecodeError):
        return None


def _made_from(original: str) -> str:
    """What a lean layout of ``original`` is made from: this module's version and the file's identity."""
    st = os.stat(original)
    return f"{_VERSION}\n{original}\n{st.st_size}\n{st.st_mtime_ns}\n{st.st_ino}"


def _prune(cache_dir: str, keep: str) -> None:
    """Remove lean layouts (other than ``keep``) whose library changed or is gone."""
    import shutil
    for name in os.listdir(cache_dir):
        home = os.path.join(cache_dir, name)
        if not name.startswith("llvm-layout-") or home == keep:
            continue
        made = (_read_text(os.path.join(home, "made-from")) or "").removeprefix("failed\n")
        lines = made.split("\n")
        try:
            current = _made_from(lines[1]) if len(lines) == 5 else None
        except OSError:
            current = None
        if current != made:
            shutil.rmtree(home, ignore_errors=True)


def _in_memory(path: str) -> bool:
    """Whether ``path`` lies on a file system held in memory (tmpfs, ramfs): a 150 MiB copy
    there would cost that much memory for good, more than it saves."""
    path = os.path.realpath(path)
    best, kind = "", ""
    try:
        with open("/proc/self/mounts") as f:
            for line in f:
                fields = line.split()
                if len(fields) < 3:
                    continue
                point = fields[1].replace("\\040", " ")
                if len(point) >= len(best) and (path == point or path.startswith(point.rstrip("/") + "/")):
                    best, kind = point, fields[2]
    except OSError:
        return False
    return kind in ("tmpfs", "ramfs")


def layout_home(original: str, cache_dir: str) -> str:
    """The directory of ``cache_dir`` that holds the lean layout of the library file ``original``."""
    st = os.stat(original)
    return os.path.join(cache_dir, f"llvm-layout-{st.st_dev:x}-{st.st_ino:x}")


def lean_library(original: str, cache_dir: str, probe: Callable[[str, str], None]) -> str | None:
    """The lean layout of ``original`` kept in ``cache_dir``, made now if there is none (~1.3 s,
    once per llvmlite install), or None when it cannot be made (that is remembered too) or
    the cache is held in memory (:func:`_in_memory`).

    ``probe(layout, pages)`` must load the probe layout ``layout``, run the
    sample and write the numbers of the pages it touched to the file ``pages``.
    """
    if _in_memory(cache_dir):
        return None
    home = layout_home(original, cache_dir)
    lean, stamp = os.path.join(home, "libllvmlite.so"), os.path.join(home, "made-from")
    made_from = _made_from(original)
    made = _read_text(stamp)
    if made == made_from and os.path.isfile(lean):
        return lean
    if made == "failed\n" + made_from:
        return None
    os.makedirs(home, exist_ok=True)
    _prune(cache_dir, home)
    scratch = os.path.join(home, f"probe.{os.getpid()}")
    try:
        write_layout(original, scratch + ".so")
        probe(scratch + ".so", scratch + ".pages")
        with open(scratch + ".pages") as f:
            touched = {int(n) for n in f.read().split()}
        write_layout(original, lean, touched)
        outcome = made_from
    except Exception:                           # no layout: llvmlite's own file is loaded instead
        outcome, lean = "failed\n" + made_from, None
    finally:
        for leftover in (scratch + ".so", scratch + ".pages"):
            try:
                os.unlink(leftover)
            except OSError:
                pass
    with open(f"{stamp}.{os.getpid()}.tmp", "w") as f:
        f.write(outcome)
    os.replace(f"{stamp}.{os.getpid()}.tmp", stamp)
    return lean
