"""The compiled-object cache: a second start with the same source skips LLVM (and its import).

The key covers everything the object depends on: the text of each probe's
module file and of every user module it imports, directly or through other
user modules (so a change to a struct, a map, a constant or a helper
function defined in any of them recompiles; modules of the standard library
and of site-packages are not followed), the probes' names, kinds, targets
and options, the compiler (the DSL's own source files and the installed
llvmlite), the license, and the running kernel (its release, build and BTF
size: offsets of kernel structs and tracepoint formats come from it).
``PYBPF_DSL_CACHE=0`` disables the cache; ``pybpf_dsl.cache.clear()`` empties it.

Entries live in ``$XDG_CACHE_HOME/pybpf_dsl`` (``~/.cache/pybpf_dsl``):
``<digest>.o`` is the object and ``<digest>.meta`` what user space needs
besides it (the ``print`` call sites' formats), each written atomically,
the metadata first.
"""

from __future__ import annotations

import ast
import os
import sys
import sysconfig
from functools import lru_cache
from importlib.util import resolve_name
from typing import Any

try:  # the built-in module: importing hashlib also loads OpenSSL (3.3 MiB resident, ~2 ms)
    from _blake2 import blake2b
except ImportError:  # pragma: no cover (an interpreter built without it)
    from hashlib import blake2b

__all__ = ["cache_dir", "enabled", "cache_key", "get", "put", "clear"]

_DSL_DIR = os.path.dirname(os.path.abspath(__file__))
_COMPILER_PARTS = ("lower", "helpers")
_COMPILER_FILES = ("types.py", "maps.py", "contexts.py", "kernel.py", "decorators.py")


def cache_dir() -> str:
    """Where entries are stored."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "pybpf_dsl")


def enabled() -> bool:
    """Whether caching is on (``PYBPF_DSL_CACHE`` is not ``0``, ``no`` or ``off``)."""
    return os.environ.get("PYBPF_DSL_CACHE", "1") not in ("0", "no", "off")


@lru_cache(maxsize=1)
def _compiler_id() -> bytes:
    """The DSL compiler's identity: its source files' sizes and mtimes, and llvmlite's version."""
    h = blake2b(sys.version.encode(), digest_size=32)
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


@lru_cache(maxsize=1)
def _library_dirs() -> tuple[str, ...]:
    """Directories whose modules are not the user's: the standard library, site-packages, the DSL."""
    paths = sysconfig.get_paths()
    dirs = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    return tuple(os.path.join(os.path.realpath(d), "") for d in dirs | {_DSL_DIR})


def _imported_modules(source: bytes, package: str | None) -> set[str]:
    """Absolute names of the modules ``source`` imports (``from m import x`` also names ``m.x``)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            try:
                base = resolve_name("." * node.level + (node.module or ""), package or "") \
                    if node.level else node.module or ""
            except (ImportError, ValueError):
                continue
            names.add(base)
            names.update(f"{base}.{a.name}" for a in node.names)
    return names


def _source_files(probes: list[Any]) -> dict[str, bytes] | None:
    """The probes' files and each user module file they reach through imports -> its text.

    None when a probe's source is not in a file (REPL, exec).
    """
    found: dict[str, bytes] = {}
    todo: list[tuple[str, str | None, bool]] = []     # (file, package, always hashed)
    for p in probes:
        mod = sys.modules.get(p.py_func.__module__)
        todo.append((p.py_func.__code__.co_filename, getattr(mod, "__package__", None), True))
    while todo:
        path, package, root = todo.pop()
        path = os.path.realpath(path)
        if path in found or not root and (not path.endswith(".py") or path.startswith(_library_dirs())):
            continue
        try:
            with open(path, "rb") as f:
                found[path] = f.read()
        except OSError:
            return None
        try:
            names = _imported_modules(found[path], package)
        except SyntaxError:
            continue
        for name in names:
            mod = sys.modules.get(name)
            if getattr(mod, "__file__", None):
                todo.append((mod.__file__, getattr(mod, "__package__", None), False))
    return found


def cache_key(probes: list[Any], license: str) -> str | None:
    """The key of the object for ``probes``, or None when caching is off or impossible."""
    if not enabled():
        return None
    h = blake2b(_compiler_id() + _kernel_id() + license.encode(), digest_size=32)
    for p in probes:
        code = p.py_func.__code__
        h.update(repr((p.name, p.kind.name, p.target, sorted(p.options.items()), code.co_filename,
                       code.co_firstlineno)).encode())
    files = _source_files(probes)
    if files is None:
        return None  # never cache what cannot be hashed
    for path in sorted(files):
        h.update(path.encode() + blake2b(files[path], digest_size=32).digest())
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
