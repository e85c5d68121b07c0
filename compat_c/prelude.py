"""The per-kernel prelude: every kernel type, the missing macros, the helpers
and bcc's macro layer.

The directory ``<cache>/kernel/<kernel id>-<layer id>-<compiler>/`` holds
``vmlinux.h`` (every kernel type, generated from BTF) with ``vmlinux.idx``
(what each of its definitions defines and needs), ``bcc_base.h`` (kernel
configuration, macros, helper prototypes, bcc's macro layer) and, built only
when needed, ``bcc_prelude.pch`` of both.  The kernel id names the running
kernel build, the layer id the version of compat_c's own headers and
generators, so either changing rebuilds it.

A program is compiled with just the kernel types its identifiers name and
what those need by value (every struct stays forward-declared): clang reading
all 140k declarations of a full PCH costs it ~20 MiB and tens of ms more
than parsing the few hundred KB a program uses.  Headers a bcc program
includes (``<linux/sched.h>``, ``<net/sock.h>``...) resolve to empty stubs in
``stubs/``: their content is already in the prelude.
"""

from __future__ import annotations

import functools
import marshal
import os
import re
from pathlib import Path

from pybpf_dsl.errors import CompileError

from . import cache, kdefs
from .helper_table import HELPERS
from .toolchain import Compiler

__all__ = ["INCLUDE_DIR", "Prelude", "layer_id", "prelude_for", "base_flags", "stub_header"]

INCLUDE_DIR = Path(__file__).with_name("include")
_PKG = Path(__file__).parent
# What the prelude is generated from; the object cache also depends on the rest.
_PRELUDE_FILES = ("kdefs.py", "vmlinux.py", "helper_table.py", "prelude.py", "typeselect.py")
_PIPELINE_FILES = ("irpass.py", "frontend.py", "debuginfo.py", "tpstruct.py", "gpl_helpers.py", "packet.py")

_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)

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


def _helper_decls() -> str:
    lines = []
    for num, name, ret, params in HELPERS:
        c_name = _RENAMED.get(name, f"bpf_{name}")
        sep = "" if ret.endswith("*") else " "
        lines.append(f"static {ret}{sep}(*const {c_name})({params}) = (void *){num};")
    return "\n".join(lines) + "\n"


def render_prelude() -> tuple[str, dict, str]:
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
    helpers = _helper_decls()
    base = "".join(["#ifndef __BCC_BASE_H\n#define __BCC_BASE_H\n", macros, helpers,
                    "#include <bcc/helpers.h>\n#endif\n"])
    # What the base layer itself names is always needed; the helper prototypes
    # mention structs only through pointers, which forward declarations cover.
    layer = _COMMENT.sub(" ", macros + (INCLUDE_DIR / "bcc" / "helpers.h").read_text())
    always = wanted_names(layer) | {k for k in wanted_names(helpers) if not k.startswith("@")}
    index["always"] = sorted(always & index["names"].keys())
    return types, index, base


class Prelude:
    """The prelude of one kernel and compiler: where it is and how to use it.

    Two ways to compile against it.  Usually a program gets only the kernel
    types its identifiers name (:meth:`types_for`, with what those need),
    in front of ``bcc_base.h``: clang then parses a few hundred KB instead of
    loading every kernel type.  Should that fail, the full prelude is used
    from a PCH (:meth:`pch_flags`), built on first need.
    """

    def __init__(self, compiler: Compiler, directory: Path) -> None:
        self.compiler = compiler
        self.dir = directory
        self.types = directory / "vmlinux.h"
        self.index_file = directory / "vmlinux.idx"
        self.base = directory / "bcc_base.h"
        self.header = directory / "bcc_prelude.h"
        self.pch = directory / "bcc_prelude.pch"
        self._index: tuple[str, dict] | None = None

    def flags(self) -> list[str]:
        """Flags for compiling a unit that starts with :meth:`types_for`'s text."""
        return base_flags(self.compiler, self.dir)

    def pch_flags(self) -> list[str]:
        """Flags for compiling a program against the full prelude (after :meth:`ensure_pch`)."""
        return [*base_flags(self.compiler, self.dir), "-include-pch", str(self.pch)]

    def ensure(self) -> None:
        """Generate the headers and the index if they are missing."""
        if self.index_file.exists():
            return
        types, index, base = render_prelude()
        (self.dir / "stubs").mkdir(parents=True, exist_ok=True)
        cache.write_bytes(self.types, types.encode())
        cache.write_bytes(self.base, base.encode())
        cache.write_bytes(self.header, b'#include "vmlinux.h"\n#include "bcc_base.h"\n')
        cache.write_bytes(self.index_file, marshal.dumps(index))

    def types_for(self, keys: set[str], omit: set[str] = frozenset()) -> str:
        """The kernel types ``keys`` name (:func:`~compat_c.vmlinux.wanted_names`) and the base header.

        Types named in ``omit`` (``@tag`` keys the program defines itself) are left out.
        """
        if self._index is None:
            with open(self.types) as f:
                text = f.read()
            with open(self.index_file, "rb") as f:
                self._index = (text, marshal.load(f))
        from .typeselect import select

        text, index = self._index
        wanted = keys.union(index["always"])
        return f'{select(text, index, wanted, omit)}#include "{self.base}"\n'

    def ensure_pch(self) -> None:
        """Build the full prelude's PCH if it is missing."""
        self.ensure()
        if self.pch.exists():
            return
        tmp = self.dir / f".pch-{os.getpid()}"
        proc = self.compiler.run([*base_flags(self.compiler, self.dir), "-x", "c-header",
                                  str(self.header), "-o", str(tmp)])
        if proc.returncode != 0:
            try:
                tmp.unlink()
            except OSError:
                pass
            first = proc.stderr.decode(errors="replace").strip().splitlines()[:3]
            raise CompileError("the generated kernel prelude does not compile: " + " | ".join(first),
                               hint=f"report this with {self.header}")
        os.replace(tmp, self.pch)

    def add_stub(self, name: str) -> bool:
        """Create an empty stand-in for a kernel header; False if ``name`` is unsafe."""
        if name.startswith("/") or ".." in name.split("/"):
            return False
        path = self.dir / "stubs" / name
        if not path.exists():
            cache.write_bytes(path, b"/* compat_c: kernel types and macros come from the prelude */\n")
        return True


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
