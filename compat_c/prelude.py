"""The per-kernel prelude: every kernel type, the missing macros, the helpers
and bcc's macro layer, in one header compiled once into a clang PCH.

The directory ``<cache>/kernel/<kernel id>-<layer id>/`` holds
``bcc_prelude.h`` and ``bcc_prelude.pch``; the kernel id names the running
kernel build, the layer id the version of compat_c's own headers and
generators, so either changing rebuilds it.  Programs are compiled with
``-include-pch``: the 3 MB of kernel types cost clang a lazy PCH load
instead of a parse.  Headers a bcc program includes (``<linux/sched.h>``,
``<net/sock.h>``...) resolve to empty stubs in ``stubs/``: their content is
already in the prelude.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from pybpf_dsl.errors import CompileError

from . import cache, kdefs
from .helper_table import HELPERS
from .toolchain import Compiler

__all__ = ["INCLUDE_DIR", "Prelude", "layer_id", "prelude_for", "base_flags", "stub_header"]

INCLUDE_DIR = Path(__file__).with_name("include")
_PKG = Path(__file__).parent
# What the prelude is generated from; the object cache also depends on the rest.
_PRELUDE_FILES = ("kdefs.py", "vmlinux.py", "helper_table.py", "prelude.py")
_PIPELINE_FILES = ("irpass.py", "frontend.py", "debuginfo.py", "tpstruct.py")

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


def render_prelude() -> str:
    """The prelude header text for the running kernel (slow: reads all of BTF)."""
    from pybpf_dsl.runtime.btf import Kind, kernel_btf

    from . import vmlinux

    btf = kernel_btf()
    enumerators = (name for t in btf.iter_types() if t.kind in (Kind.ENUM, Kind.ENUM64)
                   for name, _v in t.values)
    return "".join([
        "#ifndef __BCC_PRELUDE_H\n#define __BCC_PRELUDE_H\n",
        vmlinux.render(btf),
        kdefs.render_kconfig(kdefs.kconfig_text()),
        kdefs.render(enumerators),
        _helper_decls(),
        "#include <bcc/helpers.h>\n#endif\n",
    ])


class Prelude:
    """The prelude of one kernel and compiler: where it is and how to use it."""

    def __init__(self, compiler: Compiler, directory: Path) -> None:
        self.compiler = compiler
        self.dir = directory
        self.header = directory / "bcc_prelude.h"
        self.pch = directory / "bcc_prelude.pch"

    def flags(self) -> list[str]:
        """Flags for compiling a program against this prelude."""
        return [*base_flags(self.compiler, self.dir), "-include-pch", str(self.pch)]

    def ensure(self) -> None:
        """Generate the header and build the PCH if they are missing."""
        if self.pch.exists():
            return
        if not self.header.exists():
            cache.write_bytes(self.header, render_prelude().encode())
        (self.dir / "stubs").mkdir(parents=True, exist_ok=True)
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
