"""Every exception pybpf_dsl raises, in one tree.

::

    BPFError
    ├── CompileError            (ValueError)  bad Python or C input, with file:line:col
    ├── ObjectFormatError       (ValueError)  a malformed ELF object or BTF blob
    ├── VerifierError                         the kernel rejected a program; carries the log
    ├── SyscallError            (OSError)     a bpf()/perf_event_open()/ioctl() call failed
    │   ├── MapFullError                      E2BIG on update: the map has no free slot
    │   └── PermissionDenied                  EPERM/EACCES: needs root or CAP_BPF
    ├── NotSupported            (OSError)     the running kernel lacks a feature
    └── AttachTargetNotFound    (LookupError) no such tracepoint, symbol, binary, device...

Each message is one line a user can act on.  Exceptions also derive from the
builtin they resemble, so ``except OSError`` keeps working in callers that do
not know this module.
"""

from __future__ import annotations

import errno as _errno
import os

__all__ = [
    "BPFError",
    "CompileError",
    "ObjectFormatError",
    "VerifierError",
    "SyscallError",
    "MapFullError",
    "PermissionDenied",
    "NotSupported",
    "AttachTargetNotFound",
    "SourceLocation",
    "syscall_error",
]


class BPFError(Exception):
    """Base class of every error raised by pybpf_dsl and compat_c."""


class SourceLocation:
    """A place in the user's source: file, 1-based line, 0-based column."""

    __slots__ = ("file", "line", "col")

    def __init__(self, file: str, line: int, col: int = 0) -> None:
        self.file = file
        self.line = line
        self.col = col

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"

    def __repr__(self) -> str:
        return f"SourceLocation({self.file!r}, {self.line}, {self.col})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SourceLocation) and (self.file, self.line, self.col) == (
            other.file,
            other.line,
            other.col,
        )

    def __hash__(self) -> int:
        return hash((self.file, self.line, self.col))

    def source_line(self) -> str | None:
        """The text of the line, if the file can be read."""
        import linecache

        text = linecache.getline(self.file, self.line)
        return text.rstrip("\n") if text else None


class CompileError(BPFError, ValueError):
    """Input the compiler cannot translate: names the place and what to write instead."""

    def __init__(self, message: str, loc: SourceLocation | None = None, hint: str | None = None) -> None:
        self.message = message
        self.loc = loc
        self.hint = hint
        super().__init__(self._render())

    def _render(self) -> str:
        text = f"{self.loc}: {self.message}" if self.loc else self.message
        if self.hint:
            text += f" ({self.hint})"
        if self.loc is not None:
            line = self.loc.source_line()
            if line is not None:
                caret = " " * self.loc.col + "^"
                text += f"\n    {line}\n    {caret}"
        return text


class ObjectFormatError(BPFError, ValueError):
    """A BPF ELF object or BTF blob that cannot be parsed; says where."""


class VerifierError(BPFError):
    """The verifier rejected a program.

    ``log`` is the verifier's full log; ``loc`` is the user's source line the
    failing instruction came from, when the object carried BTF line info.
    """

    def __init__(self, program: str, errno: int, log: str, loc: SourceLocation | None = None,
                 source: str | None = None) -> None:
        self.program = program
        self.errno = errno
        self.log = log
        self.loc = loc
        self.source = source
        super().__init__(self._render())

    @property
    def reason(self) -> str:
        """The verifier's last meaningful line: usually what went wrong."""
        lines = [ln for ln in self.log.splitlines() if ln.strip()]
        for line in reversed(lines):
            if not line.startswith(("processed ", "verification time", "stack depth", "-- END")):
                return line.strip()
        return os.strerror(self.errno)

    def _render(self) -> str:
        where = f" at {self.loc}" if self.loc else ""
        text = f"verifier rejected program {self.program!r}{where}: {self.reason}"
        if self.source:
            text += f"\n    {self.source.strip()}"
        if self.log:
            text += "\n--- verifier log ---\n" + self.log.rstrip()
        return text


_HINTS = {
    _errno.EPERM: "operation not permitted: run as root or grant CAP_BPF (and CAP_PERFMON/CAP_NET_ADMIN)",
    _errno.EACCES: "permission denied: run as root or grant CAP_BPF",
    _errno.E2BIG: "map is full (or the argument is larger than the kernel accepts)",
    _errno.ENOENT: "no such object (missing key, map entry, or kernel object)",
    _errno.EEXIST: "the key already exists (BPF_NOEXIST)",
    _errno.EINVAL: "invalid argument: the kernel refused these parameters",
    _errno.ENOMEM: "out of memory for BPF objects (check memcg limits or max_entries)",
    _errno.EBADF: "bad file descriptor: the object was already closed",
    _errno.ENOSPC: "no space left (too many attached programs or map full)",
    _errno.EBUSY: "busy: something is already attached there",
    _errno.ENODEV: "no such device or the kernel lacks this event source",
    _errno.EOPNOTSUPP: "operation not supported by this map or program type",
    524: "operation not supported by the kernel for this program type (ENOTSUPP)",
}


class SyscallError(BPFError, OSError):
    """A failed kernel call.  ``call`` names it (e.g. ``BPF_MAP_CREATE``); ``errno`` is kept."""

    def __init__(self, call: str, errno: int, what: str | None = None, hint: str | None = None) -> None:
        self.call = call
        detail = hint or _HINTS.get(errno) or os.strerror(errno)
        name = _errno.errorcode.get(errno, "ENOTSUPP" if errno == 524 else str(errno))
        prefix = f"{what}: " if what else ""
        OSError.__init__(self, errno, f"{prefix}{call} failed with {name}: {detail}")
        self.what = what

    def __str__(self) -> str:
        return self.strerror or super().__str__()


class MapFullError(SyscallError):
    """An update failed because the map has no free slot (E2BIG)."""


class PermissionDenied(SyscallError, PermissionError):
    """EPERM/EACCES from the kernel: the process lacks privileges."""


class NotSupported(BPFError, OSError):
    """The running kernel lacks a feature.  ``feature`` names it in words."""

    def __init__(self, feature: str, detail: str = "") -> None:
        self.feature = feature
        msg = f"this kernel does not support {feature}"
        if detail:
            msg += f": {detail}"
        OSError.__init__(self, _errno.EOPNOTSUPP, msg)

    def __str__(self) -> str:
        return self.strerror or super().__str__()


class AttachTargetNotFound(BPFError, LookupError):
    """The thing to attach to does not exist: tracepoint, symbol, binary, device, cgroup."""


def syscall_error(call: str, err: int, what: str | None = None, hint: str | None = None) -> SyscallError:
    """Build the most specific SyscallError subclass for ``err``."""
    if err in (_errno.EPERM, _errno.EACCES):
        return PermissionDenied(call, err, what, hint)
    if err == _errno.E2BIG and call.startswith("BPF_MAP_UPDATE"):
        return MapFullError(call, err, what, hint)
    return SyscallError(call, err, what, hint)
