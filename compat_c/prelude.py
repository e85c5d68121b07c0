"""The per-kernel prelude: every kernel type, the missing macros, the helpers
and bcc's macro layer.

The directory ``<cache>/kernel/<kernel id>-<layer id>-<compiler>/`` holds
``vmlinux.h`` (every kernel type, generated from BTF) with ``vmlinux.idx``
(what each of its definitions defines and needs), ``bcc_base.h`` (kernel
configuration, macros, helper prototypes, bcc's macro layer) with the names
it defines (``bcc_base.macros``), ``bcc_base_types.pch`` (the base layer and
the few kernel types it needs, precompiled) and, built only when needed,
``bcc_prelude.pch`` of everything.  The kernel id names the running kernel
build, the layer id the version of compat_c's own headers and generators,
so either changing makes a new directory; making one deletes the others
not in use (each is ~20 MB).

A program is compiled with the base PCH and just the kernel types its
identifiers name and what those need by value (every struct stays
forward-declared): clang reading all 140k declarations of a full PCH costs
it ~20 MiB and tens of ms more than parsing the few KB a program uses.
Headers a bcc program includes (``<linux/sched.h>``, ``<net/sock.h>``...)
resolve to empty stubs in ``stubs/``: their content is already in the prelude.
"""

from __future__ import annotations

import fcntl
import functools
import mmap
import os
import re
import shutil
from pathlib import Path
from typing import Sequence

from pybpf_dsl.errors import CompileError

from . import cache, kdefs
from .helper_table import HELPERS
from .toolchain import Compiler
from .typeselect import TypeIndex

__all__ = ["INCLUDE_DIR", "Prelude", "layer_id", "prelude_for", "prune", "base_flags", "stub_header"]

INCLUDE_DIR = Path(__file__).with_name("include")
_PKG = Path(__file__).parent
# What the prelude is generated from; the object cache also depends on the rest.
_PRELUDE_FILES = ("kdefs.py", "vmlinux.py", "helper_table.py", "prelude.py", "typeselect.py")
_PIPELINE_FILES = ("irpass.py", "frontend.py", "debuginfo.py", "tpstruct.py", "gpl_helpers.py", "packet.py")

_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
_DEFINE = re.compile(r"^[ \t]*#[ \t]*define[ \t]+(\w+)", re.M)
_FUNC_DEFINE = re.compile(r"^[ \t]*#[ \t]*define[ \t]+(\w+)\(", re.M)
_WORD = re.compile(rb"[A-Za-z_]\w*")
_CALLED = re.compile(rb"([A-Za-z_]\w*)\s*\(")

# Helpers bcc's macro layer wraps under another name.
_RENAMED = {"trace_printk": "__bcc_trace_printk"}

# Warnings bcc turns off (its programs rely on them being quiet).
_QUIET = ("-Wno-unused-value", "-Wno-pointer-sign", "-Wno-compare-distinct-pointer-types",
          "-Wno-gnu-variable-sized-type-not-at-end", "-Wno-address-of-packed-member",
          "-Wno-tautological-compare", "-Wno-unknown-warning-option",
          "-Wno-incompatible-pointer-types", "-Wno-duplicate-decl-specifier",
          "-Wno-deprecated-declarations", "-Wno-pragma-once-outside-header",
          "-Wno-unused-function", "-Wno-int-conversion")


def _stamp(files: tuple[str, ...], with_headers: bool) -> str:
    parts = []
    if with_headers:
        for root, _dirs, names in os.walk(INCLUDE_DIR):
            for f in names:
                st = os.stat(os.path.join(root, f))
                parts.append(f"{f}:{st.st_size}:{st.st_mtime_ns}")
    for f in files:
        try:
            st = os.stat(_PKG / f)
        except OSError:
            continue
        parts.append(f"{f}:{st.st_size}:{st.st_mtime_ns}")
    return cache.digest(*sorted(parts))[:12]


@functools.cache
def prelude_id() -> str:
    """Changes whenever the prelude's headers or generators change."""
    return _stamp(_PRELUDE_FILES, True)


@functools.cache
def layer_id() -> str:
    """Changes whenever anything that shapes a compiled object changes."""
    return prelude_id() + _stamp(_PIPELINE_FILES, False)[:8]


def base_flags(compiler: Compiler, kernel_dir: Path) -> list[str]:
    """Flags shared by the PCH build and every program compile (they must match)."""
    return ["-target", "bpfel", "-g", "-O2", "-nostdinc", "-fno-stack-protector",
            "-fno-color-diagnostics", "-ferror-limit=20",
            "-isystem", str(kernel_dir / "stubs"), "-isystem", str(INCLUDE_DIR),
            "-D__BPF_TRACING__", "-D__TARGET_ARCH_x86", "-D__BCC__", *_QUIET]


def _defined_macros(base: str) -> tuple[set[str], set[str]]:
    """``(every macro, the function-like ones)`` the base layer (``base`` and include/bcc's headers) defines."""
    texts = [base, *(p.read_text() for p in (INCLUDE_DIR / "bcc").glob("*.h"))]
    return ({name for text in texts for name in _DEFINE.findall(text)},
            {name for text in texts for name in _FUNC_DEFINE.findall(text)})


def _words(types: bytes) -> tuple[set[str], set[str]]:
    """``(every identifier, those followed by "(")`` of the kernel types header."""
    return ({w.decode() for w in set(_WORD.findall(types))},
            {w.decode() for w in set(_CALLED.findall(types))})


def _helper_decls() -> str:
    lines = []
    for num, name, ret, params in HELPERS:
        c_name = _RENAMED.get(name, f"bpf_{name}")
        sep = "" if ret.endswith("*") else " "
        lines.append(f"static {ret}{sep}(*const {c_name})({params}) = (void *){num};")
    return "\n".join(lines) + "\n"


def render_prelude() -> tuple[bytes, TypeIndex, str]:
    """``(kernel types header, its index, base header)`` for the running kernel (slow: reads all of BTF).

    The base header holds the kernel's configuration, the macros BTF lacks,
    the helper prototypes and bcc's macro layer; it comes after the types.
    """
    from pybpf_dsl.runtime.btf import Kind, kernel_btf

    from . import vmlinux
    from .typeselect import wanted_names

    btf = kernel_btf()
    enumerators = (name for t in btf.iter_types() if t.kind in (Kind.ENUM, Kind.ENUM64)
                   for name, _v in t.values)
    types, index = vmlinux.render_split(btf)
    macros = kdefs.render_kconfig(kdefs.kconfig_text()) + kdefs.render(enumerators)
    # the kernel's inline helpers and field aliases: their types stay out of the always-selected set
    kernel = kdefs.render_kernel(btf, *_words(types))
    helpers = _helper_decls()
    base = "".join(["#ifndef __BCC_BASE_H\n#define __BCC_BASE_H\n", macros, kernel, helpers,
                    "#include <bcc/helpers.h>\n#endif\n"])
    # What the base layer itself names is always needed; the helper prototypes
    # mention structs only through pointers, which forward declarations cover.
    layer = _COMMENT.sub(" ", macros + (INCLUDE_DIR / "bcc" / "helpers.h").read_text())
    always = wanted_names(layer) | {k for k in wanted_names(helpers) if not k.startswith("@")}
    return types, index.with_always(always), base


class Prelude:
    """The prelude of one kernel and compiler: where it is and how to use it.

    Two ways to compile against it.  Usually a program gets only the kernel
    types its identifiers name (:meth:`types_for`, with what those need),
    in front of ``bcc_base.h``: clang then parses a few hundred KB instead of
    loading every kernel type.  Should that fail, the full prelude is used
    from a PCH (:meth:`pch_flags`), built on first need.

    While in use (``with prelude:``, or from :meth:`ensure` to :meth:`release`)
    the directory is share-locked, so a newer compat_c never prunes it from
    under a running compile.
    """

    def __init__(self, compiler: Compiler, directory: Path) -> None:
        self.compiler = compiler
        self.dir = directory
        self.types = directory / "vmlinux.h"
        self.index_file = directory / "vmlinux.idx"
        self.base = directory / "bcc_base.h"
        self.header = directory / "bcc_prelude.h"
        self.pch = directory / "bcc_prelude.pch"
        self.base_header = directory / "bcc_base_types.h"
        self.base_pch = directory / "bcc_base_types.pch"
        self.base_macros = directory / "bcc_base.macros"
        self._index: tuple[mmap.mmap, TypeIndex] | None = None
        self._lock: int | None = None

    def __enter__(self) -> Prelude:
        self.ensure()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def flags(self, precompiled: bool = False) -> list[str]:
        """Flags for compiling a unit that starts with :meth:`types_for`'s text (of the same ``precompiled``)."""
        flags = base_flags(self.compiler, self.dir)
        return [*flags, "-include-pch", str(self.base_pch)] if precompiled else flags

    def pch_flags(self) -> list[str]:
        """Flags for compiling a program against the full prelude (after :meth:`ensure_pch`)."""
        return [*base_flags(self.compiler, self.dir), "-include-pch", str(self.pch)]

    def ensure(self) -> None:
        """Lock the directory; generate the headers and the index if missing (then prune stale preludes)."""
        if self._lock is None:
            self._lock = _lock_dir(self.dir)
        if not self.index_file.exists():
            # one process generates; the others wait for it (rewriting a header would void its PCHs)
            gate = os.open(self.dir / ".generating", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(gate, fcntl.LOCK_EX)
                if not self.index_file.exists():
                    self._generate()
            finally:
                os.close(gate)

    def _generate(self) -> None:
        types, index, base = render_prelude()
        (self.dir / "stubs").mkdir(parents=True, exist_ok=True)
        cache.write_bytes(self.types, types)
        cache.write_bytes(self.base, base.encode())
        cache.write_bytes(self.header, b'#include "vmlinux.h"\n#include "bcc_base.h"\n')
        macros, functions = _defined_macros(base)
        cache.write_bytes(self.base_macros, "\n".join(sorted(macros)).encode())
        # Programs' types follow the precompiled base layer: only if no macro of it renames a type's
        # word (a function-like macro only renames a word followed by "(").
        words, called = _words(types)
        if not ((macros - functions) & words or functions & called):
            cache.write_bytes(self.base_header, f'{index.select(types, ())}#include "{self.base}"\n'.encode())
            self._build_pch(self.base_header, self.base_pch)
        cache.write_bytes(self.index_file, index.to_bytes())   # written last: marks the directory complete
        prune(self.dir)

    def release(self) -> None:
        """Drop the directory lock taken by :meth:`ensure`."""
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def base_pch_usable(self, cflags: Sequence[str], omit: set[str]) -> bool:
        """Whether a program may use the precompiled base layer (``flags(True)``, ``types_for(..., True)``).

        It holds the base layer and the types that needs: parsing its
        thousands of macros and prototypes is a fifth of clang's time on a
        small program.  Not when ``cflags`` could change what it means, nor
        when the program defines (``omit``) one of its types itself.
        """
        if not self.base_pch.exists() or not self._pch_safe(cflags):
            return False
        index = self._load()[1]
        return not index.base_chunks().intersection(index.chunks(omit))

    def _pch_safe(self, cflags: Sequence[str]) -> bool:
        """Whether ``cflags`` mean the same before and after the precompiled base layer."""
        defined = []
        for i, flag in enumerate(cflags):
            if flag == "-D" and i + 1 < len(cflags):
                defined.append(cflags[i + 1])
            elif flag.startswith("-D"):
                defined.append(flag[2:])
            elif not flag.startswith(("-I", "-W", "-w")) and (i == 0 or cflags[i - 1] not in ("-D", "-I")):
                return False
        if not defined:
            return True
        with open(self.base_macros) as f:
            base = set(f.read().split())
        return not any(d.partition("=")[0].partition("(")[0] in base for d in defined)

    def _load(self) -> tuple[mmap.mmap, TypeIndex]:
        if self._index is None:
            with open(self.index_file, "rb") as f:
                index = TypeIndex.from_bytes(f.read())
            with open(self.types, "rb") as f:
                self._index = (mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ), index)
        return self._index

    def types_for(self, keys: set[str], omit: set[str] = frozenset(), precompiled: bool = False) -> str:
        """The kernel types ``keys`` name (:func:`~compat_c.typeselect.wanted_names`) and the base header.

        Types named in ``omit`` (``@tag`` keys the program defines itself)
        are left out; so are the base header and its types when they are
        ``precompiled`` (see :meth:`base_pch_usable`).
        """
        text, index = self._load()
        if precompiled:
            return index.select(text, keys, omit, base=False)
        return f'{index.select(text, keys, omit)}#include "{self.base}"\n'

    def ensure_pch(self) -> None:
        """Build the full prelude's PCH if it is missing."""
        self.ensure()
        if not self.pch.exists():
            self._build_pch(self.header, self.pch)

    def _build_pch(self, header: Path, pch: Path) -> None:
        tmp = self.dir / f".pch-{os.getpid()}"
        proc = self.compiler.run([*base_flags(self.compiler, self.dir), "-x", "c-header",
                                  str(header), "-o", str(tmp)])
        if proc.returncode != 0:
            try:
                tmp.unlink()
            except OSError:
                pass
            first = proc.stderr.decode(errors="replace").strip().splitlines()[:3]
            raise CompileError("the generated kernel prelude does not compile: " + " | ".join(first),
                               hint=f"report this with {header}")
        os.replace(tmp, pch)

    def add_stub(self, name: str) -> bool:
        """Create an empty stand-in for a kernel header; False if ``name`` is unsafe."""
        if name.startswith("/") or ".." in name.split("/"):
            return False
        path = self.dir / "stubs" / name
        if not path.exists():
            cache.write_bytes(path, b"/* compat_c: kernel types and macros come from the prelude */\n")
        return True


def _lock_dir(directory: Path) -> int:
    """An fd holding a shared lock on ``directory`` (created if absent, re-created if pruned meanwhile)."""
    while True:
        directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        fcntl.flock(fd, fcntl.LOCK_SH)
        try:
            if os.stat(directory).st_ino == os.fstat(fd).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)   # pruned between open and lock: lock the new one


def prune(keep: Path) -> list[str]:
    """Delete the other prelude directories beside ``keep`` that no process is using; their names.

    Each is ~20 MB and only the current compat_c version and kernel use
    theirs, so older ones are dead weight (another kernel's is regenerated
    if that kernel runs again).
    """
    removed = []
    try:
        siblings = [e for e in os.scandir(keep.parent) if e.is_dir(follow_symlinks=False) and e.name != keep.name]
    except OSError:
        return removed
    for entry in siblings:
        try:
            fd = os.open(entry.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            shutil.rmtree(entry.path)
            removed.append(entry.name)
        except OSError:
            pass        # in use by a running compile, or already gone
        finally:
            os.close(fd)
    return removed


def prelude_for(compiler: Compiler) -> Prelude:
    """The prelude directory for the running kernel, compat_c version and compiler."""
    key = f"{cache.kernel_id()}-{prelude_id()}-{cache.digest(compiler.identity)[:8]}"
    return Prelude(compiler, cache.cache_dir() / "kernel" / key)


def stub_header(name: str) -> bool:
    """Whether a missing ``#include <name>`` is a kernel header compat_c stands in for."""
    return name.split("/", 1)[0] in _STUB_DIRS and name.endswith(".h")


_STUB_DIRS = frozenset({"linux", "uapi", "net", "asm", "asm-generic", "bcc", "trace", "scsi",
                        "sound", "crypto", "xen", "rdma", "video", "misc", "keys", "drm",
                        "kernel", "vdso", "clocksource", "acpi", "media", "bpf", "generated",
                        "stddef.h", "stdint.h", "stdbool.h", "stdarg.h", "string.h"})
