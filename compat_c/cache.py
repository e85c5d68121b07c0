"""The on-disk cache: compiled objects, per-kernel headers, compiler probes.

Layout under :func:`cache_dir` (``$PYBPF_CACHE_DIR``, else
``$XDG_CACHE_HOME/pybpf_dsl/compat_c``, else ``~/.cache/pybpf_dsl/compat_c``)::

    obj/<key>.o  obj/<key>.json    a compiled program and its metadata
    kernel/<kernel id>/...         the generated prelude header and its PCH
    probe/<key>.json               small facts about compilers

Every write goes to a temporary file renamed into place, so concurrent
processes never see half a file.  Keys are BLAKE2b hex digests of everything
the entry depends on.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

try:  # the built-in module: importing hashlib also loads OpenSSL, ~2 ms of every start
    from _blake2 import blake2b
except ImportError:  # pragma: no cover (an interpreter built without it)
    from hashlib import blake2b

__all__ = ["cache_dir", "digest", "hash64", "kernel_id", "read_bytes", "write_bytes", "read_json", "write_json"]


def cache_dir() -> Path:
    """The cache root (created on first use)."""
    root = os.environ.get("PYBPF_CACHE_DIR")
    if not root:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = os.path.join(base, "pybpf_dsl", "compat_c")
    return Path(root)


def digest(*parts: str | bytes) -> str:
    """A hex key over ``parts`` (length-prefixed, so boundaries matter)."""
    h = blake2b(digest_size=16)
    for p in parts:
        b = p.encode() if isinstance(p, str) else p
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


def hash64(text: str) -> int:
    """A 64-bit hash of ``text`` that is the same in every process (unlike ``hash``)."""
    return int.from_bytes(blake2b(text.encode(), digest_size=8).digest(), "little")


def kernel_id() -> str:
    """Identifies the running kernel build and its BTF, without reading the BTF."""
    u = os.uname()
    try:
        st = os.stat("/sys/kernel/btf/vmlinux")
        btf = f"{st.st_size}"
    except OSError:
        btf = "nobtf"
    return digest(u.release, u.version, u.machine, btf)[:16]


def read_bytes(path: Path) -> bytes | None:
    """The file's bytes, or None when absent."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def write_bytes(path: Path, data: bytes) -> None:
    """Atomically replace ``path`` with ``data`` (creating directories)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def read_json(path: Path) -> Any:
    """Parsed JSON, or None when absent or unreadable."""
    data = read_bytes(path)
    if data is None:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return None


def write_json(path: Path, value: Any) -> None:
    """Atomically write ``value`` as JSON."""
    write_bytes(path, json.dumps(value, separators=(",", ":")).encode())
