"""kprobes and kretprobes: the perf "kprobe" PMU, tracefs kprobe_events as fallback.

The PMU path (Linux 4.17+) creates an anonymous probe that dies with its perf
event FD, so nothing outlives the process.  The fallback writes a uniquely
named event (``pybpf_<pid>_...``) into ``kprobe_events`` and removes it on
close; it is the only way to ask for kretprobe ``maxactive``.

Also here: the function list bcc's ``get_kprobe_functions`` returns, syscall
wrapper name discovery (``__x64_sys_openat`` vs ``sys_openat``) and
kprobe_multi links.
"""

from __future__ import annotations

import atexit
import errno as _errno
import itertools
import os
import re
from functools import lru_cache
from typing import Any, Iterable

from ...errors import AttachTargetNotFound, BPFError, NotSupported
from .. import features, syscall
from ..fd import FD
from ..tracefs import tracefs_root
from ..uapi import AttachType, PerfType, ffi
from .link import Link
from .perf_event import attach_perf_fd, perf_attr
from .progfd import prog_fd

__all__ = [
    "attach_kprobe", "attach_kretprobe", "attach_kprobe_multi", "kprobe_pmu", "kprobe_events_path",
    "kprobe_perf_attr", "kprobe_event_name", "kprobe_events_line", "kprobe_remove_line",
    "get_kprobe_functions", "get_syscall_prefix", "get_syscall_fnname", "fix_syscall_fnname",
    "KPROBE_GROUP", "SYSCALL_PREFIXES",
]

KPROBE_GROUP = "pybpf"
"""tracefs event group of the kprobe_events fallback: events/pybpf/<name>."""

SYSCALL_PREFIXES = ("sys_", "__x64_sys_", "__x32_compat_sys_", "__ia32_compat_sys_",
                    "__arm64_sys_", "__s390x_sys_", "__s390_sys_", "__riscv_sys_")
"""Syscall entry symbol prefixes, in the order bcc tries them."""

_PMU = "/sys/bus/event_source/devices/kprobe"
_MAX_EVENT_NAME = 63  # MAX_EVENT_NAME_LEN (64) minus the terminating NUL
_BPF_F_KPROBE_MULTI_RETURN = 1
_seq = itertools.count()


# ---------------------------------------------------------------- discovery of the mechanism

@lru_cache(maxsize=None)
def kprobe_pmu() -> tuple[int, int] | None:
    """``(pmu_type, retprobe_bit)`` of the perf kprobe PMU, or None when absent."""
    try:
        with open(os.path.join(_PMU, "type")) as f:
            pmu_type = int(f.read())
        with open(os.path.join(_PMU, "format", "retprobe")) as f:
            fmt = f.read().strip()  # "config:0"
    except (OSError, ValueError):
        return None
    field, _, bit = fmt.partition(":")
    if field != "config" or not bit.isdigit():
        return None
    return pmu_type, int(bit)


def kprobe_events_path() -> str | None:
    """``<tracefs>/kprobe_events`` when the kernel has it, else None."""
    try:
        path = os.path.join(tracefs_root(), "kprobe_events")
    except NotSupported:
        return None
    return path if os.path.exists(path) else None


# ---------------------------------------------------------------- pure builders

def kprobe_perf_attr(pmu_type: int, retprobe_bit: int, symbol: str, offset: int = 0,
                     retprobe: bool = False) -> tuple[Any, Any]:
    """The perf_event_attr for a kprobe PMU event.

    Returns ``(attr, keepalive)``: ``attr.config1`` points into ``keepalive``
    (the NUL-terminated symbol name), which must stay referenced until
    perf_event_open returned.
    """
    name = ffi.new("char[]", symbol.encode())
    attr = perf_attr(pmu_type, (1 << retprobe_bit) if retprobe else 0,
                     config1=int(ffi.cast("uintptr_t", name)), config2=offset)
    return attr, name


_BAD_NAME_CHARS = r"[^A-Za-z0-9_]"  # patterns are compiled on first use (re caches them)


def kprobe_event_name(symbol: str, offset: int = 0, retprobe: bool = False,
                      pid: int | None = None, seq: int | None = None) -> str:
    """A tracefs event name unique to this process and probe.

    ``pybpf_<pid>_<p|r>_<symbol>_<offset>_<seq>`` with characters tracefs
    refuses replaced by ``_`` and the symbol shortened to fit 63 bytes.
    """
    pid = os.getpid() if pid is None else pid
    seq = next(_seq) if seq is None else seq
    head = f"pybpf_{pid}_{'r' if retprobe else 'p'}_"
    tail = f"_{offset:x}_{seq}"
    room = _MAX_EVENT_NAME - len(head) - len(tail)
    return head + re.sub(_BAD_NAME_CHARS, "_", symbol)[:max(room, 0)] + tail


def kprobe_events_line(event: str, symbol: str, offset: int = 0, retprobe: bool = False,
                       maxactive: int = 0, group: str = KPROBE_GROUP) -> str:
    """The line written to kprobe_events to create a probe.

    ``p:pybpf/NAME do_sys_open+16`` for a kprobe, ``r:pybpf/NAME do_sys_open``
    for a kretprobe and ``r100:pybpf/NAME do_sys_open`` with maxactive 100.
    """
    _check_probe_args(symbol, offset, retprobe, maxactive)
    kind = "r" if retprobe else "p"
    if maxactive:
        kind += str(maxactive)
    where = f"{symbol}+{offset}" if offset else symbol
    return f"{kind}:{group}/{event} {where}"


def kprobe_remove_line(event: str, group: str = KPROBE_GROUP) -> str:
    """The kprobe_events line deleting ``group/event``."""
    return f"-:{group}/{event}"


def _check_probe_args(symbol: str, offset: int, retprobe: bool, maxactive: int) -> None:
    if not symbol or any(c.isspace() for c in symbol):
        raise ValueError(f"invalid kernel function name {symbol!r}")
    if offset < 0:
        raise ValueError(f"kprobe offset must be >= 0, got {offset}")
    if retprobe and offset:
        raise ValueError("a kretprobe fires on function return: it cannot take an offset")
    if maxactive < 0:
        raise ValueError(f"maxactive must be >= 0, got {maxactive}")
    if maxactive and not retprobe:
        raise ValueError("maxactive only applies to kretprobes")


# ---------------------------------------------------------------- attach

def attach_kprobe(prog: Any, symbol: str, offset: int = 0, retprobe: bool = False,
                  maxactive: int = 0, cookie: int = 0) -> Link:
    """Run a KPROBE program on entry to (or at ``offset`` into) kernel function ``symbol``.

    ``retprobe=True`` fires on return instead; ``maxactive`` bounds how many
    concurrent returns are tracked (tracefs kprobe_events only).  ``cookie``
    is what bpf_get_attach_cookie() returns in the program.  Raises
    NotSupported when the kernel has no kprobes, AttachTargetNotFound when
    ``symbol`` is not a traceable function.
    """
    _check_probe_args(symbol, offset, retprobe, maxactive)
    fd = prog_fd(prog)
    features.require("kprobes")
    kind = "kretprobe" if retprobe else "kprobe"
    target = f"{symbol}+{offset}" if offset else symbol
    pmu = kprobe_pmu()
    if pmu is not None and not maxactive:
        attr, keep = kprobe_perf_attr(pmu[0], pmu[1], symbol, offset, retprobe)
        try:
            perf = syscall.perf_event_open(attr, -1, 0, -1, what=f"creating {kind} on {target}")
        except BPFError as e:
            raise _kprobe_error(e, symbol) from e
        del keep
        return Link(kind, target, _bind(fd, perf, kind, target, cookie))
    path = kprobe_events_path()
    if path is None:
        raise NotSupported("kretprobe maxactive", "needs tracefs kprobe_events (CONFIG_KPROBE_EVENTS)")
    return _attach_legacy(fd, path, symbol, offset, retprobe, maxactive, cookie, kind, target)


def attach_kretprobe(prog: Any, symbol: str, maxactive: int = 0, cookie: int = 0) -> Link:
    """attach_kprobe(..., retprobe=True)."""
    return attach_kprobe(prog, symbol, 0, True, maxactive, cookie)


def _bind(fd: int, perf: FD, kind: str, target: str, cookie: int) -> list[FD]:
    """Attach the program to the opened event; the FDs to own, in closing order."""
    try:
        link = attach_perf_fd(fd, perf, cookie, what=f"attaching program to {kind} {target}")
    except BaseException:
        perf.close()
        raise
    return [link, perf] if link is not None else [perf]


def _write_events(path: str, line: str) -> None:
    with open(path, "a") as f:
        f.write(line + "\n")


# kprobe_events entries this process created and has not removed yet: removed at exit
# too, since unlike PMU probes they would outlive the process.
_live_events: dict[str, str] = {}


def _remove_event(event: str) -> None:
    path = _live_events.pop(event, None)
    if path is not None:
        _write_events(path, kprobe_remove_line(event))


@atexit.register
def _remove_leftover_events() -> None:
    for event in list(_live_events):
        try:
            _remove_event(event)
        except OSError:
            pass


def _attach_legacy(fd: int, path: str, symbol: str, offset: int, retprobe: bool,
                   maxactive: int, cookie: int, kind: str, target: str) -> Link:
    event = kprobe_event_name(symbol, offset, retprobe)
    try:
        _write_events(path, kprobe_events_line(event, symbol, offset, retprobe, maxactive))
    except OSError as e:
        if e.errno in (_errno.ENOENT, _errno.EINVAL):
            raise _not_traceable(symbol) from e
        raise
    _live_events[event] = path
    try:
        with open(os.path.join(tracefs_root(), "events", KPROBE_GROUP, event, "id")) as f:
            attr = perf_attr(PerfType.TRACEPOINT, int(f.read()))
        perf = syscall.perf_event_open(attr, -1, 0, -1, what=f"opening {kind} event {event}")
        fds = _bind(fd, perf, kind, target, cookie)
    except BaseException:
        _remove_event(event)
        raise

    def detach() -> None:  # the event can only be removed once no perf event uses it
        for f in fds:
            f.close()
        _remove_event(event)
    return Link(kind, target, fds, detach)


def attach_kprobe_multi(prog: Any, symbols: Iterable[str] = (), addrs: Iterable[int] = (),
                        cookies: Iterable[int] = (), retprobe: bool = False) -> Link:
    """Attach one KPROBE program (loaded with expected_attach_type BPF_TRACE_KPROBE_MULTI)
    to many kernel functions at once, by name or address, through one BPF link.
    """
    fd = prog_fd(prog)
    names = [s.encode() for s in symbols]
    addr_list = list(addrs)
    cookie_list = list(cookies)
    count = len(names) or len(addr_list)
    if not count or (names and addr_list):
        raise ValueError("give either symbols or addrs (and not both)")
    if cookie_list and len(cookie_list) != count:
        raise ValueError(f"{len(cookie_list)} cookies for {count} functions")
    keep = [ffi.new("char[]", n) for n in names]
    syms = ffi.new("uint64_t[]", [int(ffi.cast("uintptr_t", k)) for k in keep]) if names else None
    addr_buf = ffi.new("uint64_t[]", addr_list) if addr_list else None
    cookie_buf = ffi.new("uint64_t[]", cookie_list) if cookie_list else None
    target = ",".join(s.decode() for s in names) if names else ",".join(hex(a) for a in addr_list)
    addr = lambda buf: int(ffi.cast("uintptr_t", buf)) if buf is not None else 0  # noqa: E731
    try:
        link = syscall.link_create(fd, 0, AttachType.TRACE_KPROBE_MULTI, what=f"attaching kprobe_multi to {target}",
                                   kprobe_multi={"flags": _BPF_F_KPROBE_MULTI_RETURN if retprobe else 0,
                                                 "cnt": count, "syms": addr(syms), "addrs": addr(addr_buf),
                                                 "cookies": addr(cookie_buf)})
    except BPFError as e:
        if e.errno == _errno.EOPNOTSUPP:
            features.require("kprobe_multi")
            raise NotSupported("kprobe_multi links", "CONFIG_FPROBE is off") from e
        if e.errno in (_errno.ENOENT, _errno.ESRCH) and names:
            raise AttachTargetNotFound(f"kprobe_multi: one of {target} is not a traceable kernel function") from e
        raise
    return Link("kretprobe_multi" if retprobe else "kprobe_multi", target, [link])


def _kprobe_error(err: BPFError, symbol: str) -> BPFError:
    if err.errno in (_errno.ENOENT, _errno.EINVAL, _errno.EADDRNOTAVAIL):
        return _not_traceable(symbol)
    return err


def _not_traceable(symbol: str) -> AttachTargetNotFound:
    close = _similar_functions(symbol)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    return AttachTargetNotFound(
        f"cannot probe kernel function {symbol!r}: it does not exist, is inlined or is marked notrace{hint}")


def _similar_functions(symbol: str) -> list[str]:
    import difflib  # only to word an error

    names = [n for n in _traceable_functions() if abs(len(n) - len(symbol)) <= 3]
    return difflib.get_close_matches(symbol, names, n=3, cutoff=0.75)


# ---------------------------------------------------------------- function lists

def _read_lines(path: str) -> list[str]:
    try:
        with open(path) as f:
            return f.read().splitlines()
    except (PermissionError, FileNotFoundError):
        return []


def _traceable_functions() -> list[str]:
    try:
        root = tracefs_root()
    except NotSupported:
        return []
    # "name" or "name [module]"
    return [ln.split(None, 1)[0] for ln in _read_lines(os.path.join(root, "available_filter_functions"))
            if ln]


def _kprobe_blacklist() -> set[str]:
    names = set()
    for ln in _read_lines("/sys/kernel/debug/kprobes/blacklist"):
        parts = ln.split()
        if len(parts) >= 2:
            names.add(parts[1])
    return names


_NEVER_PROBED = r"^(_kbl_addr_|__perf|perf_|__SCT__)|\.cold(\.\d+)?$"


def get_kprobe_functions(pattern: str | bytes) -> set[str]:
    """Kernel functions whose whole name matches ``pattern`` and that a kprobe can attach to.

    An empty set (never an error) when the kernel has no kprobes or the list
    is unreadable.
    """
    if isinstance(pattern, bytes):
        pattern = pattern.decode()
    if not features.has("kprobes"):
        return set()
    rx, never = re.compile(pattern), re.compile(_NEVER_PROBED)
    blacklist = _kprobe_blacklist()
    return {n for n in _traceable_functions()
            if rx.fullmatch(n) and n not in blacklist and not never.search(n)}


@lru_cache(maxsize=None)
def _kallsyms() -> bytes:
    with open("/proc/kallsyms", "rb") as f:
        return f.read()


def _ksym_exists(name: str) -> bool:
    data = _kallsyms()
    encoded = b" " + name.encode()
    return encoded + b"\n" in data or encoded + b"\t" in data


@lru_cache(maxsize=None)
def get_syscall_prefix() -> str:
    """The prefix of syscall entry functions on this kernel (``__x64_sys_`` on x86_64).

    Found by looking for ``<prefix>bpf`` in /proc/kallsyms, like bcc; the
    first candidate when none matches.
    """
    for prefix in SYSCALL_PREFIXES:
        if _ksym_exists(prefix + "bpf"):
            return prefix
    return SYSCALL_PREFIXES[0]


def get_syscall_fnname(name: str) -> str:
    """``"openat"`` -> the kernel's entry function, e.g. ``"__x64_sys_openat"``."""
    return get_syscall_prefix() + name


def fix_syscall_fnname(name: str) -> str:
    """Rewrite a syscall function name with any known prefix to this kernel's prefix."""
    for prefix in SYSCALL_PREFIXES:
        if name.startswith(prefix):
            return get_syscall_fnname(name[len(prefix):])
    return name
