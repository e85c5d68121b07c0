"""The lean libllvmlite.so layout: well-formed copies that load and work, made once, used by the worker."""

import ctypes
import ctypes.util
import mmap
import os
import struct

import pytest
from hypothesis import given, settings, strategies as st

from pybpf_dsl.lower import backend, compile_programs, liblayout

from .harness import entry_program
from .test_backend import fresh_worker, mix  # noqa: F401  (fixture)

PAGE = 4096
_PHDR = struct.Struct("<IIQQQQQQ")


def _small_library() -> str:
    """A real shared library small enough to copy many times: zlib."""
    name = ctypes.util.find_library("z")
    path = next((os.path.join(d, name) for d in ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64",
                                                 "/usr/lib64", "/lib", "/usr/lib") if name and
                 os.path.exists(os.path.join(d, name))), None)
    if path is None:
        pytest.skip("no zlib shared library to lay out")
    return os.path.realpath(path)


def _loads(path: str) -> list[tuple[int, ...]]:
    with open(path, "rb") as f:
        data = f.read()
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phnum, = struct.unpack_from("<H", data, 0x38)
    phdrs = [_PHDR.unpack_from(data, phoff + i * _PHDR.size) for i in range(phnum)]
    return [p for p in phdrs if p[0] == 1]


def _check_well_formed(src: str, dst: str, touched: set[int] | None) -> None:
    """Same bytes at every address; pieces split where asked; no two pieces neighbours in the file."""
    with open(src, "rb") as f:
        original = f.read()
    with open(dst, "rb") as f:
        copy = f.read()
    pieces = _loads(dst)
    assert [p[3] for p in pieces] == sorted(p[3] for p in pieces)
    for before, after in zip(pieces, pieces[1:]):
        assert before[2] + before[5] != after[2], "file-contiguous pieces would merge into one mapping"
    for _t, flags, off, vaddr, _pa, filesz, memsz, _al in pieces:
        assert off % PAGE == vaddr % PAGE
        src_piece = next(p for p in _loads(src) if p[3] <= vaddr < p[3] + p[6])
        src_off = src_piece[2] + vaddr - src_piece[3]
        skip = 64 if off == 0 else 0              # the ELF header itself is rewritten
        assert copy[off + skip:off + filesz] == original[src_off + skip:src_off + filesz]
        if not flags & 2:
            pages = range(vaddr // PAGE, (vaddr + filesz - 1) // PAGE + 1)
            if touched is None:
                assert len(pages) == 1
            else:
                assert len({p in touched for p in pages}) == 1, "a piece mixes touched and untouched pages"
    for seg in _loads(src):                       # the pieces tile each original segment exactly
        inside = [p for p in pieces if seg[3] <= p[3] < seg[3] + seg[6]]
        ends = [(p[3], p[3] + p[6]) for p in inside]
        assert ends[0][0] == seg[3] and ends[-1][1] == seg[3] + seg[6]
        assert all(a[1] == b[0] for a, b in zip(ends, ends[1:]))


def _use(path: str) -> None:
    """Load the copy and round-trip data through it."""
    z = ctypes.CDLL(path)
    z.zlibVersion.restype = ctypes.c_char_p
    assert z.zlibVersion().startswith(b"1.")
    data = bytes(range(256)) * 40
    out_len = ctypes.c_ulong(len(data) * 2)
    out = ctypes.create_string_buffer(out_len.value)
    assert z.compress(out, ctypes.byref(out_len), data, ctypes.c_ulong(len(data))) == 0
    back_len = ctypes.c_ulong(len(data))
    back = ctypes.create_string_buffer(len(data))
    assert z.uncompress(back, ctypes.byref(back_len), out, out_len) == 0
    assert back.raw[:back_len.value] == data


def test_probe_layout_cuts_every_read_only_page_and_loads(tmp_path):
    src = _small_library()
    dst = str(tmp_path / "probe.so")
    liblayout.write_layout(src, dst)
    _check_well_formed(src, dst, None)
    _use(dst)


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_lean_layout_of_any_touched_set_loads_and_works(tmp_path_factory, data):
    src = _small_library()
    pages = max(p[3] + p[5] for p in _loads(src)) // PAGE + 1
    touched = data.draw(st.sets(st.integers(0, pages - 1)))
    dst = str(tmp_path_factory.mktemp("lean") / "lean.so")
    liblayout.write_layout(src, dst, touched)
    _check_well_formed(src, dst, touched)
    _use(dst)


def test_not_an_elf_file_is_refused(tmp_path):
    junk = tmp_path / "junk.so"
    junk.write_bytes(b"\x7fELF\x01" + bytes(100))
    with pytest.raises(ValueError):
        liblayout.write_layout(str(junk), str(tmp_path / "out.so"))
    assert os.listdir(tmp_path) == ["junk.so"]                 # no partial output left


def test_read_only_span_ends_at_the_first_writable_page():
    src = _small_library()
    writable = min(p[3] for p in _loads(src) if p[1] & 2)
    assert liblayout.read_only_span(src) == writable // PAGE * PAGE


def test_touched_pages_sees_mapped_pages_and_drop_pages_unmaps_them():
    area = mmap.mmap(-1, 16 * PAGE)
    first_byte = ctypes.c_char.from_buffer(area)
    base = ctypes.addressof(first_byte)
    try:
        assert liblayout.touched_pages(base, 16 * PAGE) == set()
        area[PAGE] = area[5 * PAGE + 7] = 1
        assert liblayout.touched_pages(base, 16 * PAGE) == {1, 5}
        liblayout.drop_pages(base, 16 * PAGE)
        assert liblayout.touched_pages(base, 16 * PAGE) == set()
    finally:
        del first_byte
        area.close()


def _probe_writing(pages: set[int], calls: list[str]):
    def probe(layout: str, out: str) -> None:
        calls.append(layout)
        assert os.path.isfile(layout)
        with open(out, "w") as f:
            f.write(" ".join(map(str, sorted(pages))))
    return probe


def test_lean_library_is_made_once_and_kept(tmp_path):
    src = tmp_path / "libz.so"
    src.write_bytes(open(_small_library(), "rb").read())
    calls: list[str] = []
    first = liblayout.lean_library(str(src), str(tmp_path / "c"), _probe_writing({0, 1, 3}, calls))
    again = liblayout.lean_library(str(src), str(tmp_path / "c"), _probe_writing({0}, calls))
    assert first == again and len(calls) == 1
    _check_well_formed(str(src), first, {0, 1, 3})
    assert sorted(os.listdir(os.path.dirname(first))) == ["libllvmlite.so", "made-from"]   # no probe leftovers
    st_ = os.stat(src)
    os.utime(src, ns=(st_.st_atime_ns, st_.st_mtime_ns + 1))           # the library changed: made again
    assert liblayout.lean_library(str(src), str(tmp_path / "c"), _probe_writing({2}, calls)) == first
    assert len(calls) == 2
    _check_well_formed(str(src), first, {2})


def test_a_failed_probe_is_remembered_and_stale_layouts_are_pruned(tmp_path):
    src = tmp_path / "libz.so"
    src.write_bytes(open(_small_library(), "rb").read())
    cache = tmp_path / "c"
    stale = cache / "llvm-layout-0-0"
    stale.mkdir(parents=True)
    (stale / "made-from").write_text(f"1\n{tmp_path / 'gone.so'}\n1\n2\n3")
    calls: list[str] = []

    def broken(layout: str, out: str) -> None:
        calls.append(layout)
        raise RuntimeError("the probe crashed")
    assert liblayout.lean_library(str(src), str(cache), broken) is None
    assert liblayout.lean_library(str(src), str(cache), broken) is None
    assert len(calls) == 1
    assert not stale.exists()
    (home,) = cache.iterdir()
    assert os.listdir(home) == ["made-from"]


def test_the_worker_loads_the_lean_layout_and_emits_the_same_objects(fresh_worker, cache_home):  # noqa: F811
    fresh_worker.setenv("PYBPF_DSL_CACHE", "0")
    plain = compile_programs(entry_program(mix)).elf
    backend.shutdown()
    fresh_worker.setenv("XDG_CACHE_HOME", str(cache_home))
    fresh_worker.setenv("PYBPF_DSL_CACHE", "1")
    lean = compile_programs(entry_program(mix)).elf
    with open(f"/proc/{backend._worker.pid}/maps") as f:
        libraries = {line.split()[-1] for line in f if "libllvmlite" in line}
    assert len(libraries) == 1 and "/llvm-layout-" in libraries.pop()
    assert lean == plain
    with open(f"/proc/{backend._worker.pid}/status") as f:
        status = dict(line.split(":", 1) for line in f)
    rss, peak = (int(status[k].split()[0]) for k in ("VmRSS", "VmHWM"))
    assert rss < peak - 8 * 1024, "the library's pages are let go after each request"


def test_copies_across_file_systems_fall_back_to_read_and_write(tmp_path, monkeypatch):
    import errno

    def cross_device(*args):
        raise OSError(errno.EXDEV, "Invalid cross-device link")
    monkeypatch.setattr(os, "copy_file_range", cross_device)
    src, dst = _small_library(), str(tmp_path / "probe.so")
    liblayout.write_layout(src, dst)
    _check_well_formed(src, dst, None)


def test_no_layout_is_made_in_a_cache_held_in_memory():
    shm = "/dev/shm"
    if not os.path.isdir(shm) or not liblayout._in_memory(shm):
        pytest.skip("no tmpfs at /dev/shm")
    calls: list[str] = []
    cache = os.path.join(shm, f"pybpf-test-{os.getpid()}")
    try:
        assert liblayout.lean_library(_small_library(), cache, _probe_writing({0}, calls)) is None
        assert calls == [] and not os.path.exists(cache)
    finally:
        if os.path.exists(cache):
            import shutil
            shutil.rmtree(cache)
