"""Pass 5: optimise the LLVM IR and emit a BPF ELF object or assembly, in an LLVM worker process.

The work is done by :mod:`.pipeline` running as a child interpreter
(``python -I -S pipeline.py``), for two reasons:

* a fatal error in LLVM's BPF backend (stack overflow from spills, an
  un-lowerable memset/memcpy libcall) exits the process it happens in: here
  that is the worker, and the user gets a CompileError at their line;
* the user's process never maps libllvmlite.so (about 70 MiB resident once
  LLVM has run) on top of its own type-checker state (kernel BTF, typed IR):
  a long-running tracer stays small (~25 MiB instead of ~105 MiB after a
  cold start).  While a compilation runs, both processes are alive: the
  worker peaks at ~84 MiB next to the user's ~25 MiB, so the machine-wide
  peak of a cold start is not lower than with LLVM in-process.

The worker keeps where LLVM's BPF initialisers are in libllvmlite.so in
:func:`~pybpf_dsl.cache.cache_dir` (see :func:`.pipeline._bpf_init_functions`),
unless ``PYBPF_DSL_CACHE=0`` turns caching off.

The worker's interpreter is ``$PYBPF_DSL_PYTHON`` when set, else
``sys.executable``.  A program embedding Python (where ``sys.executable`` is
empty or the host's own binary) sets ``PYBPF_DSL_PYTHON=/path/to/python3``, a
Python that can import the same llvmlite.  The worker announces itself with
one frame before its first request; anything else (no such file, an exit, other
output, silence for a minute) is one CompileError naming the interpreter and
that variable.

The worker is started when this module is imported (compile_programs()
imports it before type-checking, so LLVM's start-up overlaps the
type-checker), serves every compilation of the process, exits after 10 idle
seconds (or :func:`shutdown`), and is waited for at exit, so its resource
usage is accounted to this process.
"""

from __future__ import annotations

import atexit
import os
import re
import select
import signal
import sys
import threading
from typing import Iterator

from ..errors import CompileError, SourceLocation
from . import pipeline

__all__ = ["OptimisedModule", "optimise", "emit_object", "emit_assembly", "shutdown"]

_INTERNAL_HINT = "please report this with the function that triggered it"
_PYTHON_HINT = "set PYBPF_DSL_PYTHON=/path/to/python3, a Python that can import llvmlite"
_START_TIMEOUT = 60.0      # seconds for a worker to announce itself (it takes ~50 ms)


def _interpreter() -> tuple[str, str]:
    """(the worker's interpreter, where that choice came from)."""
    chosen = os.environ.get("PYBPF_DSL_PYTHON")
    if chosen:
        return chosen, "PYBPF_DSL_PYTHON"
    return sys.executable or "", "sys.executable"


def _no_worker(python: str, origin: str, why: str) -> CompileError:
    return CompileError(f"cannot start the DSL's LLVM worker: {origin} ({python!r}) {why}", hint=_PYTHON_HINT)


class _Instruction:
    __slots__ = ("opcode", "_text")

    def __init__(self, text: str) -> None:
        self._text = text
        words = text.split("=", 1)[1].split() if text.startswith("%") else text.split()
        while words and words[0] in ("tail", "musttail", "notail"):
            words = words[1:]
        self.opcode = words[0] if words else ""

    def __str__(self) -> str:
        return self._text


class _Function:
    __slots__ = ("name", "is_declaration", "blocks")

    def __init__(self, name: str, is_declaration: bool, instructions: list[_Instruction]) -> None:
        self.name = name
        self.is_declaration = is_declaration
        self.blocks = [_Block(instructions)]


class _Block:
    __slots__ = ("instructions",)

    def __init__(self, instructions: list[_Instruction]) -> None:
        self.instructions = instructions


_FUNC_NAME = re.compile(r'@("(?:[^"\\]|\\.)*"|[-\w.$]+)\(')


class OptimisedModule:
    """An optimised LLVM module as IR text (``str()``), with the read-only view
    the pre-emission checks walk: ``functions`` -> ``name``, ``is_declaration``,
    ``blocks`` -> ``instructions`` -> ``opcode`` and ``str()``, as in llvmlite."""

    def __init__(self, ir: str) -> None:
        self.ir = ir

    def __str__(self) -> str:
        return self.ir

    @property
    def functions(self) -> Iterator[_Function]:
        """Every function defined or declared, in module order."""
        name, body = "", None
        for line in self.ir.splitlines():
            if line.startswith(("define ", "declare ")):
                m = _FUNC_NAME.search(line)
                name = m.group(1).strip('"') if m else ""
                if line.startswith("declare "):
                    yield _Function(name, True, [])
                else:
                    body = []
            elif body is not None:
                if line.startswith("}"):
                    yield _Function(name, False, body)
                    body = None
                elif line.startswith(" ") and line.strip():
                    body.append(_Instruction(line.strip()))


class _Worker:
    """One running pipeline.py process and its pipes (stderr goes to a memfd kept for errors)."""

    def __init__(self) -> None:
        import importlib.util
        spec = importlib.util.find_spec("llvmlite")
        if spec is None or not spec.submodule_search_locations:
            raise ModuleNotFoundError("the DSL compiler needs llvmlite: pip install llvmlite", name="llvmlite")
        site = os.path.dirname(list(spec.submodule_search_locations)[0])
        self.python, self.origin = _interpreter()
        if not self.python:
            raise _no_worker(self.python, self.origin, "is empty (Python embedded in another program?)")
        if not os.path.isfile(self.python) or not os.access(self.python, os.X_OK):
            raise _no_worker(self.python, self.origin, "is not an executable file")
        from ..cache import cache_dir, enabled
        argv = [self.python, "-I", "-S", pipeline.__file__, site] + ([cache_dir()] if enabled() else [])
        req_r, self.req_w = os.pipe()
        self.resp_r, resp_w = os.pipe()
        self.err = os.memfd_create("pybpf_dsl-llvm-stderr", os.MFD_CLOEXEC)
        try:
            self.pid = os.posix_spawn(self.python, argv, os.environ, file_actions=[
                (os.POSIX_SPAWN_DUP2, req_r, 0), (os.POSIX_SPAWN_DUP2, resp_w, 1),
                (os.POSIX_SPAWN_DUP2, self.err, 2)])
        except OSError as exc:
            for fd in (self.req_w, self.resp_r, self.err):
                os.close(fd)
            raise _no_worker(self.python, self.origin, f"cannot be run: {exc.strerror}") from None
        finally:
            os.close(req_r)
            os.close(resp_w)
        self.owner = os.getpid()
        self.status: int | None = None
        self.ready = False

    def _announcement(self) -> str | None:
        """None when the worker's first bytes are :data:`.pipeline.READY`, else what went wrong
        (read with a deadline and never beyond that frame: another program may write anything)."""
        want, got = pipeline.READY, b""
        while len(got) < len(want):
            if not select.select([self.resp_r], [], [], _START_TIMEOUT)[0]:
                return f"did not answer within {_START_TIMEOUT:g} s"
            part = os.read(self.resp_r, len(want) - len(got))
            if not part:
                return "exited"
            if not want.startswith(got + part):
                return "wrote something else"
            got += part
        return None

    def _check_started(self) -> None:
        """Raise the one-line CompileError (ending the process) unless this is a working worker."""
        what = self._announcement()
        if what is None:
            self.ready = True
            return
        if not self.exited():
            os.kill(self.pid, signal.SIGKILL)
            self.close()
        lines = [ln.strip() for ln in self.stderr().splitlines() if ln.strip()]
        self.release()
        why = f"{what}: {lines[-1][:200]}" if lines else what
        raise _no_worker(self.python, self.origin, f"is not a Python that runs the worker ({why})")

    def request(self, tag: bytes, payload: bytes) -> tuple[bytes, bytes] | None:
        """The worker's answer, or None when it died (see :attr:`status`, :meth:`stderr`)."""
        if not self.ready:
            self._check_started()
        try:
            pipeline.write_frame(self.req_w, tag, payload)
        except BrokenPipeError:
            pass
        answer = pipeline.read_frame(self.resp_r)
        if answer is None:
            self.close()
        return answer

    def stderr(self) -> str:
        """What the worker wrote to stderr (LLVM's fatal error message)."""
        os.lseek(self.err, 0, os.SEEK_SET)
        chunks = []
        while chunk := os.read(self.err, 65536):
            chunks.append(chunk)
        return b"".join(chunks).decode(errors="replace")

    def exited(self) -> bool:
        """Whether the worker has ended (reaping it if it did, e.g. after its idle timeout)."""
        if self.status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                os.close(self.req_w)
                os.close(self.resp_r)
                self.status = os.waitstatus_to_exitcode(status)
        return self.status is not None

    def close(self, wait: bool = True) -> None:
        """End the worker (EOF on its stdin) and wait for it, so its usage counts as this
        process's; ``wait=False`` in a forked child only drops the inherited descriptors."""
        if self.status is not None:
            return
        os.close(self.req_w)
        os.close(self.resp_r)
        if not wait:
            self.release()
            self.status = -1
            return
        self.status = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])

    def release(self) -> None:
        """Drop the kept stderr of an ended worker (idempotent)."""
        if self.err >= 0:
            os.close(self.err)
            self.err = -1


_lock = threading.Lock()
_worker: _Worker | None = None


def _get_worker() -> _Worker:
    """The running worker, started (again) when there is none, it ended, or this is a forked child."""
    global _worker
    w = _worker
    if w is not None:
        if w.owner != os.getpid():
            w.close(wait=False)
        elif w.exited():
            w.release()
        else:
            return w
        _worker = None
    w = _worker = _Worker()
    return w


def _call(tag: bytes, payload: str, filename: str | None) -> bytes:
    """Run one request in the worker.  A worker that died (idle timeout, killed, or
    LLVM's fatal error) is replaced and the request retried once: a second death
    is LLVM failing on this input, reported as a CompileError."""
    with _lock:
        for _attempt in range(2):
            w = _get_worker()
            answer = w.request(tag, payload.encode())
            if answer is not None:
                break
    if answer is None:
        raise _backend_error(w.stderr(), filename)
    if answer[0] != b"+":
        raise CompileError(f"internal compiler error: generated LLVM IR is invalid: {answer[1].decode()}",
                           hint=_INTERNAL_HINT)
    return answer[1]


def shutdown(timeout: float = -1) -> None:
    """End the LLVM worker now and wait for it (its ~80 MiB are freed; the next compilation
    starts another).  It also ends after a few idle seconds, and at exit.  With a
    ``timeout``, give up when another thread's compilation holds the worker that long."""
    if not _lock.acquire(timeout=timeout):
        return
    try:
        if _worker is not None and _worker.owner == os.getpid():
            _worker.close()
    finally:
        _lock.release()


atexit.register(shutdown, 1.0)   # at exit the worker is waited for, so its usage counts as ours


def optimise(ir_text: str) -> OptimisedModule:
    """Parse and verify ``ir_text`` (never handing LLVM unchecked IR), then optimise it."""
    return OptimisedModule(_call(b"O", ir_text, None).decode())


def emit_object(mod: OptimisedModule, filename: str | None = None) -> bytes:
    """The ELF relocatable object for an optimised module (``filename``: the user's source, for errors)."""
    return _call(b"E", mod.ir, filename)


def emit_assembly(mod: OptimisedModule, filename: str | None = None) -> str:
    """BPF assembly text (with .loc lines naming the user's source)."""
    return _call(b"S", mod.ir, filename).decode()


_LLVM_ERROR = re.compile(r"^(\S+?):(\d+):(\d+): (?:in function (\w+) [^:]*: )?(.*)$")


def _backend_error(text: str, filename: str | None) -> CompileError:
    """A CompileError (at the user's line when LLVM names it) for the backend's fatal message."""
    text = " ".join(text.split()).removeprefix("error: ")
    stack = "stack limit" in text
    hint = ("keep large structs/arrays in a per-CPU array map (PerCpuArray[u32, T], key 0) as scratch space"
            if stack else _INTERNAL_HINT)
    m = _LLVM_ERROR.match(text)
    if m is None:
        return CompileError(text or "LLVM's BPF backend failed", hint=hint)
    file, line, col, fn, msg = m.group(1), int(m.group(2)), int(m.group(3)), m.group(4), m.group(5)
    if filename and os.path.basename(filename) == os.path.basename(file):
        file = filename
    if stack:
        msg = f"{fn or 'this function'}() needs more than BPF's 512 bytes of stack (counting LLVM's register spills)"
    return CompileError(msg, SourceLocation(file, line, max(col - 1, 0)), hint)


with _lock:                   # start LLVM now: compile_programs() type-checks while it loads
    try:
        _get_worker()
    except CompileError:
        pass                      # no usable interpreter: the first compilation reports it
