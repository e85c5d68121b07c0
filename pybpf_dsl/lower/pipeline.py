"""The LLVM side of the DSL compiler: BPF target, optimisation passes, emission, and the worker loop.

This module imports only the standard library and ``llvmlite.binding`` so it
can run as a small separate process (``python -I -S pipeline.py LLVMLITE_DIR
[CACHE_DIR]``, CACHE_DIR absent when caching is off), started by
:mod:`.backend`: the user's process never maps the 170 MB libllvmlite.so, and
a fatal error in LLVM's BPF backend (which exits the process) ends the worker,
not the user's program.  Once llvmlite loads, the worker writes :data:`READY`.

Memory is the point of most choices here (figures: benchmarks/bench_dsl_startup.py;
the issue-3 example's worker peaks at 32 MiB, 83 MiB before the first two):

* LLVM is loaded from a copy of libllvmlite.so whose read-only segments are
  cut where the pages LLVM uses start and end (:mod:`.liblayout`, made once
  per llvmlite install in CACHE_DIR by a probe run of layout_sample.ll), so
  the kernel's 64 KiB fault-around stops mapping code nobody runs: loading
  llvmlite takes ~17 MiB instead of ~38;
* after warming up and after every request the library's code and constants
  are let go (:func:`_drop_library_pages`): the static initialisers' pages
  are not kept through the optimiser, nor the optimiser's through code
  generation, so the peak is the largest step's, not their sum;
* only the BPF target is registered (:func:`_register_bpf`), not llvmlite's
  twenty: the others' initialisers and code raise the peak by 7.6 MiB
  (finding BPF's initialisers in the library's symbol table costs ~9 ms, so
  where they are is kept in CACHE_DIR, keyed by the library's path, size,
  mtime and inode, and checked again on every use);
* only the llvmlite.binding submodules called here are imported, and not
  importlib.resources (:func:`load_llvmlite`): 2 MiB and ~10 ms;
* the optimiser stays PassBuilder's O2 pipeline.  An explicit pass list
  (always-inliner, SROA, instcombine, simplifycfg, GVN, DSE, ADCE) measured
  1.8 MiB less but lost O2's inter-procedural attribute inference and
  store merging: over the 110 programs of tests/dsl it was worse on 19 (up to
  12 instructions), so per-event cost wins over those pages;
* code generation stays at -O2: -O1 gives the same code and memory, -O0
  saves 1.5 MiB but makes the issue's program 174 instructions instead of 111;
* the module optimised for a compilation is the one emitted (no re-parse),
  so the object is byte-identical to optimising and emitting in one process.

MADV_RANDOM does not stop fault-around (tried); PYBPF_DSL_CACHE=0 (no
CACHE_DIR, so no lean layout) loads llvmlite's own file and peaks at ~55 MiB.
"""

from __future__ import annotations

import os
import select
import struct
import sys
from array import array
from functools import lru_cache

if False:                            # for type checkers only: llvmlite is imported when the worker starts
    import ctypes
    import importlib.machinery
    from llvmlite.binding import module, targets

try:
    from . import liblayout
except ImportError:                  # the worker script (python -I): its directory is not on sys.path
    sys.path.append(os.path.dirname(os.path.abspath(__file__)))
    import liblayout

__all__ = ["IDLE_EXIT", "READY", "load_llvmlite", "llvmlite_library", "load_base", "target_machine", "optimise", "emit",
           "read_frame", "write_frame", "serve"]

IDLE_EXIT = 3
"""The worker's exit status when it quits after :data:`_IDLE_SECONDS` without a request."""

READY = b"R\x10\x00\x00\x00pybpf_dsl-llvm-1"
"""The frame the worker writes first, once llvmlite loads: it is the worker, and it can work."""

_IDLE_SECONDS = 10.0
_BPF_INIT = (b"LLVMInitializeBPFTargetInfo", b"LLVMInitializeBPFTarget",
             b"LLVMInitializeBPFTargetMC", b"LLVMInitializeBPFAsmPrinter")
_SHDR = struct.Struct("<IIQQQQIIQQ")               # Elf64_Shdr
_SYM = struct.Struct("<IBBHQQ")                    # Elf64_Sym
_CHUNK = _SYM.size * 43690                         # ~1 MiB, whole symbols


def _sections(fd: int) -> list[tuple[int, ...]]:
    """The section headers of a 64-bit little-endian ELF file (none for anything else)."""
    ehdr = os.pread(fd, 64, 0)
    if ehdr[:6] != b"\x7fELF\x02\x01":
        return []
    shoff, = struct.unpack_from("<Q", ehdr, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", ehdr, 0x3A)
    table = os.pread(fd, shentsize * shnum, shoff)
    return [_SHDR.unpack_from(table, i * shentsize) for i in range(shnum)]


def _string_offsets(fd: int, strtab: tuple[int, ...], prefix: bytes, names: tuple[bytes, ...]) -> dict[bytes, int]:
    """Offsets of ``names`` (all starting with ``prefix``) in a string table, read in chunks
    (pread: nothing is mapped into the process, nothing kept)."""
    found: dict[bytes, int] = {}
    base, size = strtab[4], strtab[5]
    longest = max(map(len, names)) + 2
    needle = b"\0" + prefix
    for off in range(0, size, _CHUNK):
        chunk = os.pread(fd, min(_CHUNK + longest, size - off), base + off)
        pos = chunk.find(needle, 0, _CHUNK + len(needle))
        while pos >= 0:
            end = chunk.find(b"\0", pos + 1)
            name = chunk[pos + 1:end]
            if name in names:
                found.setdefault(name, off + pos + 1)
            pos = chunk.find(needle, pos + 1, _CHUNK + len(needle))
        if len(found) == len(names):
            break
    return found


def _symbol_values(fd: int, symtab: tuple[int, ...], name_offs: dict[bytes, int]) -> dict[bytes, int]:
    """Values of the function symbols whose st_name is in ``name_offs``."""
    values: dict[bytes, int] = {}
    base, size = symtab[4], symtab[5]
    step = _SYM.size // 4
    for off in range(0, size, _CHUNK):
        chunk = os.pread(fd, min(_CHUNK, size - off), base + off)
        st_names = array("I", chunk[:len(chunk) - len(chunk) % 4])[::step].tobytes()   # st_name of each symbol
        for name, noff in name_offs.items():
            pos = -1 if name in values else st_names.find(struct.pack("<I", noff))
            while pos >= 0 and pos % 4:
                pos = st_names.find(struct.pack("<I", noff), pos + 1)
            if pos >= 0:
                _n, info, _o, _s, value, _z = _SYM.unpack_from(chunk, pos // 4 * _SYM.size)
                if info & 0xF == 2:                # STT_FUNC
                    values[name] = value
        if len(values) == len(name_offs):
            break
    return values


def _lookup(fd: int, secs: list[tuple[int, ...]]) -> dict[bytes, int] | None:
    """The BPF initialisers' symbol values (from .symtab), or None when they are not all there."""
    tab = next((s for s in secs if s[1] == 2), None)                  # SHT_SYMTAB
    if tab is None or tab[6] >= len(secs):
        return None
    offs = _string_offsets(fd, secs[tab[6]], os.path.commonprefix(_BPF_INIT), _BPF_INIT)
    found = _symbol_values(fd, tab, offs)
    return found if len(found) == len(_BPF_INIT) else None


def _cache_file(cache_dir: str, st: os.stat_result) -> tuple[str, bytes]:
    """Where the symbol values for the library ``st`` describes are kept, and the key they are kept under."""
    return (os.path.join(cache_dir, f"llvm-bpf-init-{st.st_dev:x}-{st.st_ino:x}"),
            f"{st.st_size} {st.st_mtime_ns} {st.st_ino}".encode())


def _cached(cache_dir: str | None, path: bytes, st: os.stat_result) -> dict[bytes, int] | None:
    """The values stored by :func:`_store` for this very file (same path, size, mtime, inode), or None."""
    if not cache_dir:
        return None
    name, key = _cache_file(cache_dir, st)
    try:
        with open(name, "rb") as f:
            stored_path, stored_key, values = f.read().split(b"\0")
        numbers = [int(v, 16) for v in values.split()]
    except (OSError, ValueError):
        return None
    if stored_path != path or stored_key != key or len(numbers) != len(_BPF_INIT):
        return None
    return dict(zip(_BPF_INIT, numbers))


def _store(cache_dir: str | None, path: bytes, st: os.stat_result, found: dict[bytes, int]) -> None:
    """Keep ``found`` for :func:`_cached` (best effort, written atomically)."""
    if not cache_dir:
        return
    name, key = _cache_file(cache_dir, st)
    values = b" ".join(b"%x" % found[n] for n in _BPF_INIT)
    tmp = f"{name}.{os.getpid()}.tmp"
    try:
        os.makedirs(cache_dir, exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(b"\0".join((path, key, values)))
        os.replace(tmp, name)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def load_base(lib: ctypes.CDLL) -> int:
    """The address libllvmlite.so (a ctypes library) is loaded at (dladdr of one of its functions)."""
    import ctypes

    class DlInfo(ctypes.Structure):
        _fields_ = [("fname", ctypes.c_char_p), ("fbase", ctypes.c_void_p),
                    ("sname", ctypes.c_char_p), ("saddr", ctypes.c_void_p)]
    libc = ctypes.CDLL(None)
    libc.dladdr.argtypes = (ctypes.c_void_p, ctypes.POINTER(DlInfo))
    info = DlInfo()
    if not libc.dladdr(ctypes.cast(lib.LLVMPY_GetVersionInfo, ctypes.c_void_p), ctypes.byref(info)):
        raise OSError("dladdr() does not know libllvmlite.so")
    return info.fbase


def _bpf_init_functions(lib: ctypes.CDLL, cache_dir: str | None = None,
                        original: str | None = None) -> list[ctypes._CFuncPtr] | None:
    """LLVM's four BPF initialisers in the loaded libllvmlite.so, or None when they cannot be found.

    They are local symbols (llvmlite exports only "initialise everything"),
    so their addresses come from the library's own .symtab (``original``'s:
    the lean layout loaded instead has no section headers) plus its load
    address.  (runtime.elfsyms is not used: it decodes all ~174k symbols,
    0.5 s and ~100 MiB for this library; here the tables are searched in
    chunks.)  With a ``cache_dir``, the symbol values found are kept there for
    the next start; kept or fresh, they are only used when they lie in the
    library's executable sections.
    """
    import ctypes
    try:
        path = os.fsencode(original or lib._name)
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except (OSError, TypeError):
        return None
    try:
        st = os.fstat(fd)
        secs = _sections(fd)
        code = [(s[3], s[3] + s[5]) for s in secs if s[2] & 4]             # SHF_EXECINSTR: [addr, end)

        def plausible(found: dict[bytes, int] | None) -> bool:
            return found is not None and all(any(lo <= found[n] < hi for lo, hi in code) for n in _BPF_INIT)

        found = _cached(cache_dir, path, st)
        if not plausible(found):
            found = _lookup(fd, secs)
            if not plausible(found):
                return None
            _store(cache_dir, path, st, found)
        base = load_base(lib)
    except (OSError, AttributeError):
        return None
    finally:
        os.close(fd)
    return [ctypes.CFUNCTYPE(None)(base + found[n]) for n in _BPF_INIT]


_cache_dir: str | None = None
"""Where :func:`_bpf_init_functions` keeps what it found (the worker's second argument)."""
_library: tuple[str, int, int] | None = None
"""The loaded library's original path, load address and read-only span, once :func:`load_llvmlite` ran."""


def _register_bpf() -> None:
    """Make LLVM's BPF target available: only BPF when possible, else every target llvmlite has."""
    from llvmlite.binding import ffi, initfini
    inits = _bpf_init_functions(ffi.lib._lib, _cache_dir, _library[0] if _library else None)
    if inits is None:
        initfini.initialize_all_targets()
        initfini.initialize_all_asmprinters()
        return
    for init in inits:
        init()


def _drop_library_pages() -> None:
    """Let go of the library pages the last step used (they come back from the page cache
    when needed): the peak is then the largest step's, not the sum of all of them."""
    if _library is not None:
        liblayout.drop_pages(_library[1], _library[2])


@lru_cache(maxsize=1)
def target_machine() -> targets.TargetMachine:
    """The BPF target machine (little-endian, cpu v3, codegen at -O2)."""
    from llvmlite.binding import targets
    _register_bpf()
    return targets.Target.from_triple("bpfel").create_target_machine(cpu="v3", opt=2, codemodel="small")


def optimise(ir_text: str) -> module.ModuleRef:
    """Parse and verify ``ir_text``, run the O2 pipeline, verify again; the optimised llvmlite module.

    Raises RuntimeError (LLVM's message) when the IR does not parse or verify.
    """
    from llvmlite.binding import module, newpassmanagers
    mod = module.parse_assembly(ir_text)
    mod.verify()
    pb = newpassmanagers.create_pass_builder(target_machine(),
                                             newpassmanagers.create_pipeline_tuning_options(speed_level=2))
    pb.getModulePassManager().run(mod, pb)
    mod.verify()
    return mod


def emit(ir_text: str, kind: str, mod: module.ModuleRef | None = None) -> bytes | str:
    """Code for optimised IR: the ELF object (``kind="object"``) or the assembly text.
    ``mod``: that IR already parsed (code generation changes it: use it once)."""
    from llvmlite.binding import module
    tm = target_machine()
    if mod is None:
        mod = module.parse_assembly(ir_text)
    return tm.emit_object(mod) if kind == "object" else tm.emit_assembly(mod)


def _read_exact(fd: int, size: int) -> bytes:
    parts = []
    while size:
        part = os.read(fd, min(size, 1 << 20))
        if not part:
            break
        parts.append(part)
        size -= len(part)
    return b"".join(parts)


def read_frame(fd: int) -> tuple[bytes, bytes] | None:
    """One ``(tag, payload)`` frame from ``fd``; None at EOF (or a frame cut short by EOF)."""
    head = _read_exact(fd, 5)
    if len(head) < 5:
        return None
    size, = struct.unpack_from("<I", head, 1)
    data = _read_exact(fd, size)
    return (head[:1], data) if len(data) == size else None


def write_frame(fd: int, tag: bytes, payload: bytes) -> None:
    """Write a frame: a one-byte ``tag``, the payload's length, the payload."""
    view = memoryview(tag + struct.pack("<I", len(payload)) + payload)
    while view:
        view = view[os.write(fd, view):]


def serve(rfd: int, wfd: int, idle: float = _IDLE_SECONDS) -> int:
    """Answer requests until EOF (status 0) or ``idle`` seconds without one (:data:`IDLE_EXIT`).

    A request's tag is ``b"O"`` (optimise), ``b"E"`` (emit the object) or
    ``b"S"`` (emit assembly), its payload UTF-8 IR.  The answer's tag is
    ``b"+"`` with the result (UTF-8 text, or the ELF bytes) or ``b"!"`` with
    LLVM's message for IR it rejects.  A fatal error in LLVM exits the
    process with its message on stderr.
    """
    target_machine()                               # warm up while the caller is still type-checking
    _drop_library_pages()
    last: tuple[bytes, module.ModuleRef] | None = None           # the optimised module, for the emission that follows
    while True:
        if not select.select([rfd], [], [], idle)[0]:
            return IDLE_EXIT
        req = read_frame(rfd)
        if req is None:
            return 0
        tag, payload = req
        try:
            if tag == b"O":
                mod = optimise(payload.decode())
                out = str(mod).encode()
                last = (out, mod)
            else:
                mod = last[1] if last is not None and last[0] == payload else None
                last = None
                code = emit(payload.decode(), "object" if tag == b"E" else "assembly", mod)
                out = code if isinstance(code, bytes) else code.encode()
        except RuntimeError as exc:
            write_frame(wfd, b"!", str(exc).encode())
        else:
            write_frame(wfd, b"+", out)
        _drop_library_pages()


def load_llvmlite(cache_dir: str | None, library: str | None = None) -> None:
    """Import the llvmlite.binding submodules this process calls, with LLVM loaded from
    ``library``, else from the lean layout kept in ``cache_dir`` (made on first use, see
    :mod:`.liblayout`), else from llvmlite's own file.

    Two import-time savings: only the submodules named here run, not the
    package's ``__init__`` that imports all of them, the JIT and object-file
    readers included (~3 ms); and llvmlite's ffi module imports
    importlib.resources (pathlib, tempfile, zipfile...: 2 MiB, ~8 ms) only to
    find the library, which is opened here instead, so it gets a stand-in.
    If llvmlite's layout ever stops allowing either, the whole package is
    imported the usual way.
    """
    global _library
    import ctypes
    import importlib.util
    import types
    sys.modules.setdefault("llvmlite.binding", importlib.util.module_from_spec(_binding_spec()))
    try:
        real_resources = sys.modules.get("importlib.resources")
        sys.modules["importlib.resources"] = types.ModuleType("importlib.resources")
        try:
            from llvmlite.binding import ffi
        finally:
            if real_resources is None:
                del sys.modules["importlib.resources"]
            else:
                sys.modules["importlib.resources"] = real_resources
        original = llvmlite_library()
        if library is None and cache_dir and os.path.isfile(original):
            library = liblayout.lean_library(original, cache_dir, _run_probe)
        if ffi.lib._lib_handle is None:
            ffi.lib._lib_handle = ctypes.CDLL(library or original)
        from llvmlite.binding import initfini, module, newpassmanagers, targets  # noqa: F401
    except Exception:
        for name in [n for n in sys.modules if n.startswith("llvmlite.binding")]:
            del sys.modules[name]
        import llvmlite.binding  # noqa: F401
        return
    _library = (original, load_base(ffi.lib._lib), liblayout.read_only_span(original))


def _binding_spec() -> importlib.machinery.ModuleSpec:
    """llvmlite.binding's import spec (the package is found, not imported)."""
    import importlib.util
    spec = importlib.util.find_spec("llvmlite.binding")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("llvmlite is not installed", name="llvmlite")
    return spec


def llvmlite_library() -> str:
    """The libllvmlite.so file llvmlite loads (found without loading it)."""
    from llvmlite.utils import get_library_name
    return os.path.join(list(_binding_spec().submodule_search_locations or ())[0], get_library_name())


_SAMPLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "layout_sample.ll")
_SAMPLE_SEPARATOR = "\n; ---- next module ----\n"


def _run_probe(layout: str, pages: str) -> None:
    """Run :func:`_probe` in a process of its own (this one must not load LLVM twice)."""
    import subprocess
    subprocess.run([sys.executable, "-I", "-S", os.path.abspath(__file__), _site, "--probe", layout, pages],
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=300, check=True)


def _probe(layout: str, pages: str) -> None:
    """Compile the sample programs (layout_sample.ll: DSL examples' IR) with LLVM loaded from
    the probe layout ``layout``, and write the library pages that were touched to ``pages``."""
    load_llvmlite(None, library=layout)
    if _library is None:
        raise RuntimeError("llvmlite did not load the probe layout")
    touched: set[int] = set()

    def step() -> None:
        touched.update(liblayout.touched_pages(_library[1], _library[2]))
        _drop_library_pages()
    target_machine()
    step()
    with open(_SAMPLE) as f:
        sample = f.read().split(_SAMPLE_SEPARATOR)
    for ir in sample:
        emit(ir, "object", optimise(ir))
        step()
    with open(pages, "w") as f:
        f.write(" ".join(map(str, sorted(touched))))


_site = ""
"""Where llvmlite is installed (the worker's first argument)."""

if __name__ == "__main__":
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)      # Ctrl-C is for the user's process, which ends us by EOF
    _site = sys.argv[1]
    sys.path.insert(0, _site)
    if sys.argv[2:3] == ["--probe"]:
        _probe(*sys.argv[3:5])
        sys.exit(0)
    _cache_dir = sys.argv[2] if len(sys.argv) > 2 else None
    load_llvmlite(_cache_dir)          # an interpreter that cannot load llvmlite stops here
    os.write(1, READY)
    sys.exit(serve(0, 1))
