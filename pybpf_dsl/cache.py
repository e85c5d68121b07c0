"""The compiled-object cache: a second start with the same source skips LLVM (and its import).

The key covers everything the object depends on: the text of each probe's
module file (so a change to a struct, a map or a helper function defined
there recompiles), the probes' names, kinds, targets and options, the
compiler (the DSL's own source files and the installed llvmlite), the license,
and the running kernel (its release, build and BTF size: offsets of
kernel structs and tracepoint formats come from it).  Modules imported by
the probe module are not hashed: after editing a shared module, clear the
cache (``PYBPF_DSL_CACHE=0`` disables it, ``pybpf_dsl.cache.clear()``).

Entries live in ``$XDG_CACHE_HOME/pybpf_dsl`` (``~/.cache/pybpf_dsl``):
``<sha256>.o`` is the object and ``<sha256>.meta`` what user space needs
besides it (the ``print`` call sites' formats), each written atomically,
the metadata first.
"""

from __future__ import annotations

import hashlib
import os
import sys
from functools import lru_cache
from typing import Any

__all__ = ["cache_dir", "cache_key", "get", "put", "clear"]

_DSL_DIR = os.path.dirname(os.path.abspath(__file__))
_COMPILER_PARTS = ("lower", "helpers")
_COMPILER_FILES = ("types.py", "maps.py", "contexts.py", "kernel.py", "decorators.py")


def cache_dir() -> str:
    """Where entries are stored."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "pybpf_dsl")


def _enabled() -> bool:
    return os.environ.get("PYBPF_DSL_CACHE", "1") not in ("0", "no", "off")


@lru_cache(maxsize=1)
def _compiler_id() -> bytes:
    """The DSL compiler's identity: its source files' sizes and mtimes, and llvmlite's version."""
    h = hashlib.sha256(sys.version.encode())
    paths = [os.path.join(_DSL_DIR, f) for f in _COMPILER_FILES]
    for part in _COMPILER_PARTS:
        d = os.path.join(_DSL_DIR, part)
        paths += sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".py"))
    for p in paths:
        st = os.stat(p)
        h.update(f"{p}:{st.st_size}:{st.st_mtime_ns}".encode())
    import importlib.util
    spec = importlib.util.find_spec("llvmlite")   # locates the package without importing it
    if spec is not None and spec.origin:
        st = os.stat(spec.origin)
        h.update(f"{spec.origin}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.digest()


@lru_cache(maxsize=1)
def _kernel_id() -> bytes:
    """The running kernel's identity: uname and the size of its BTF."""
    u = os.uname()
    try:
        btf = os.stat("/sys/kernel/btf/vmlinux").st_size
    except OSError:
        btf = -1
    return f"{u.release}|{u.version}|{u.machine}|{btf}".encode()


def _file_digest(path: str) -> bytes:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).digest()


def cache_key(probes: list[Any], license: str) -> str | None:
    """The key of the object for ``probes``, or None when caching is off or impossible."""
    if not _enabled():
        return None
    h = hashlib.sha256(_compiler_id() + _kernel_id() + license.encode())
    files: set[str] = set()
    for p in probes:
        code = p.py_func.__code__
        files.add(code.co_filename)
        h.update(repr((p.name, p.kind.name, p.target, sorted(p.options.items()), code.co_filename,
                       code.co_firstlineno)).encode())
    for f in sorted(files):
        try:
            h.update(_file_digest(f))
        except OSError:
            return None  # source not in a file (REPL, exec): never cache
    return h.hexdigest()


def get(key: str) -> tuple[bytes, bytes] | None:
    """The cached (object, metadata) for ``key``, or None."""
    base = os.path.join(cache_dir(), key)
    try:
        with open(base + ".o", "rb") as f:
            elf = f.read()
    except OSError:
        return None
    try:
        with open(base + ".meta", "rb") as f:
            return elf, f.read()
    except FileNotFoundError:
        return elf, b""
    except OSError:
        return None


def _write(d: str, name: str, data: bytes) -> None:
    tmp = os.path.join(d, f".{name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, os.path.join(d, name))


def put(key: str, elf: bytes, meta: bytes = b"") -> None:
    """Store ``elf`` (and ``meta``) under ``key`` (best effort: an unwritable cache is skipped)."""
    d = cache_dir()
    try:
        os.makedirs(d, exist_ok=True)
        if meta:
            _write(d, key + ".meta", meta)
        _write(d, key + ".o", elf)
    except OSError:
        pass


def clear() -> int:
    """Remove every entry; returns how many were removed."""
    d = cache_dir()
    n = 0
    try:
        names = os.listdir(d)
    except OSError:
        return 0
    for name in names:
        if name.endswith((".o", ".meta")):
            os.unlink(os.path.join(d, name))
            n += name.endswith(".o")
    return n
