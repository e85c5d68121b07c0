"""Find a C compiler that targets BPF and run it.

Search order: ``$BCC_CLANG`` (an explicit path), then ``clang``, ``clang-22``
... ``clang-14`` on PATH when it lists the ``bpf`` target, then the clang
inside the ``ziglang`` wheel (``zig clang``), so ``pip install`` is enough.
The answer is cached for the process, and what a compiler is (its version,
whether it has the BPF target) is cached on disk per binary, so a start with
a warm cache never runs the compiler at all.  A missing compiler raises
:class:`~pybpf_dsl.errors.NotSupported` in one line saying what to install.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import subprocess
from dataclasses import dataclass

from pybpf_dsl.errors import NotSupported

from . import cache

__all__ = ["Compiler", "Job", "find_compiler"]

_PATH_NAMES = ("clang",) + tuple(f"clang-{v}" for v in range(22, 13, -1))


@dataclass(frozen=True)
class Compiler:
    """A clang able to emit BPF: ``argv`` prefixes every invocation."""

    argv: tuple[str, ...]
    version: str          # first line of ``--version``
    origin: str           # "env", "path" or "ziglang"
    identity: str         # path, size and mtime of the binary: part of every cache key

    def run(self, args: list[str], stdin: bytes | None = None) -> subprocess.CompletedProcess:
        """Run the compiler; the caller inspects returncode and stderr."""
        return subprocess.run([*self.argv, *args], input=stdin, capture_output=True)

    def start(self, args: list[str]) -> Job:
        """Start the compiler now, its input to follow (:meth:`Job.feed`).

        Its start-up (~5 ms for a clang holding all of LLVM) then overlaps
        whatever the caller does to produce the input.
        """
        return Job([*self.argv, *args])


class Job:
    """A compiler process reading its input from a pipe: ``feed`` it, then ``proc.communicate()``."""

    def __init__(self, argv: list[str]) -> None:
        read, self._write = os.pipe()
        try:
            self.proc = subprocess.Popen(argv, stdin=read, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except BaseException:
            os.close(self._write)
            raise
        finally:
            os.close(read)

    def feed(self, data: bytes) -> None:
        """Send the whole input and close it (a compiler that exited early just misses it).

        clang reads all its input before it writes anything, so this cannot
        deadlock on the output pipes.
        """
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._write, view):]
        except BrokenPipeError:
            pass
        finally:
            self._close_input()

    def cancel(self) -> None:
        """Stop a compiler whose input will never come."""
        self._close_input()
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate()

    def _close_input(self) -> None:
        if self._write >= 0:
            os.close(self._write)
            self._write = -1


def _identity(path: str) -> str | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return f"{os.path.realpath(path)}:{st.st_size}:{st.st_mtime_ns}"


def _facts(argv: tuple[str, ...], identity: str, check_target: bool) -> str | None:
    """The compiler's version line, or None when it cannot compile BPF (cached on disk)."""
    where = cache.cache_dir() / "probe" / f"{cache.digest(identity, *argv)}.json"
    facts = cache.read_json(where)
    if not isinstance(facts, dict):
        facts = {"version": _run_first_line([*argv, "--version"])}
        facts["bpf"] = bool(facts["version"]) and (not check_target or _has_bpf_target(argv))
        try:
            cache.write_json(where, facts)
        except OSError:
            pass
    return facts["version"] if facts.get("bpf") else None


def _run_first_line(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.splitlines()[0].strip() if out.returncode == 0 and out.stdout else ""


def _has_bpf_target(argv: tuple[str, ...]) -> bool:
    try:
        out = subprocess.run([*argv, "-print-targets"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return any(line.split()[:1] == ["bpf"] for line in out.stdout.splitlines())


def _zig() -> tuple[str, ...] | None:
    spec = importlib.util.find_spec("ziglang")
    if spec is None or not spec.origin:
        return None
    exe = os.path.join(os.path.dirname(spec.origin), "zig")
    return (exe, "clang") if os.access(exe, os.X_OK) else None


def _candidates() -> list[tuple[tuple[str, ...], str]]:
    explicit = os.environ.get("BCC_CLANG")
    if explicit:
        return [((explicit,), "env")]
    found = []
    for name in _PATH_NAMES:
        path = shutil.which(name)
        if path:
            found.append(((path,), "path"))
    zig = _zig()
    if zig is not None:
        found.append((zig, "ziglang"))
    return found


@functools.cache
def find_compiler() -> Compiler:
    """The compiler to use (cached); NotSupported when there is none."""
    for argv, origin in _candidates():
        identity = _identity(argv[0])
        if identity is None:
            continue
        version = _facts(argv, identity, check_target=origin == "path")
        if version:
            return Compiler(argv, version, origin, identity)
        if origin == "env":
            raise NotSupported("compiling BPF C", f"BCC_CLANG={argv[0]} does not run")
    raise NotSupported("compiling BPF C",
                       "no clang with the BPF target found; run `pip install ziglang` or install clang")
