"""uprobes and uretprobes through the perf "uprobe" PMU and uprobe_multi links.

No tracefs ``uprobe_events`` entry is ever created, so nothing is left behind
if the process dies: the kernel drops the probe with the last FD.

::

    with attach_uprobe(prog_fd, "c", "strlen", pid=os.getpid()) as link:
        ...
"""

from __future__ import annotations

import errno as _errno
import os
from functools import lru_cache
from typing import Any, Sequence

from ...errors import AttachTargetNotFound, NotSupported, SyscallError
from .. import syscall, uapi
from ..elfsyms import get_user_functions_and_addresses, open_elf, resolve_binary, resolve_symbol
from ..fd import FD
from ..uapi import AttachType, ffi
from .link import Link
from .perf_event import attach_perf_fd
from .progfd import prog_fd

__all__ = ["attach_uprobe", "attach_uprobe_regex", "attach_uprobe_offsets", "uprobe_fds",
           "open_uprobes", "uprobe_pmu", "uprobe_perf_attr"]

_PMU_DIR = "/sys/bus/event_source/devices/uprobe"


def _format_shift(field: str) -> int:
    """The first bit of a PMU format field ("config:0" -> 0, "config:32-63" -> 32)."""
    with open(f"{_PMU_DIR}/format/{field}") as f:
        spec = f.read().strip()
    return int(spec.partition(":")[2].split("-")[0])


@lru_cache(maxsize=None)
def uprobe_pmu() -> tuple[int, int, int]:
    """``(type, retprobe bit, ref_ctr_offset shift)`` of the uprobe PMU, read from sysfs."""
    try:
        with open(f"{_PMU_DIR}/type") as f:
            pmu_type = int(f.read())
    except OSError:
        raise NotSupported("uprobes", f"no perf 'uprobe' PMU in {_PMU_DIR} "
                           "(kernel built without CONFIG_UPROBE_EVENTS)") from None
    retbit = _format_shift("retprobe")
    try:
        refshift = _format_shift("ref_ctr_offset")
    except OSError:
        refshift = -1  # kernel older than 4.20: no semaphore support
    return pmu_type, retbit, refshift


def uprobe_perf_attr(path: str, offset: int, retprobe: bool = False,
                     ref_ctr_offset: int = 0) -> tuple[Any, Any]:
    """A ``perf_event_attr`` for the uprobe PMU, and the path buffer it points to (keep it alive)."""
    pmu_type, retbit, refshift = uprobe_pmu()
    if ref_ctr_offset and refshift < 0:
        raise NotSupported("USDT semaphores (uprobe ref_ctr_offset)", "needs Linux 4.20 or newer")
    attr = ffi.new("struct perf_event_attr *")
    name = ffi.new("char[]", os.fsencode(path))
    attr.type = pmu_type
    attr.size = uapi.PERF_ATTR_SIZE
    attr.config = (1 << retbit if retprobe else 0) | (ref_ctr_offset << refshift if ref_ctr_offset else 0)
    attr.config1 = int(ffi.cast("uintptr_t", name))
    attr.config2 = offset
    attr.sample_period = 1
    attr.wakeup_events = 1
    return attr, name


def _open_perf_uprobe(path: str, offset: int, pid: int, retprobe: bool,
                      ref_ctr_offset: int, what: str) -> FD:
    attr, keep = uprobe_perf_attr(path, offset, retprobe, ref_ctr_offset)
    # pid -1: every process; the uprobe fires on every CPU whatever cpu we name.
    fd = syscall.perf_event_open(attr, pid, 0 if pid == -1 else -1, what=what)
    del keep
    return fd


def attach_uprobe(prog: Any, binary: str | bytes, symbol: str | bytes | None = None,
                  addr: int | None = None, offset: int = 0, pid: int = -1,
                  retprobe: bool = False, ref_ctr_offset: int = 0, cookie: int = 0) -> Link:
    """Run ``prog`` (a KPROBE-type program) when ``binary`` reaches ``symbol`` (or ``addr``).

    ``binary`` is a path, a library short name like bcc's "c", or a command
    on PATH.  ``symbol`` is looked up in .symtab/.dynsym (IFUNCs resolve to
    the implementation in use); ``addr`` is a virtual address in the file's
    own layout (bcc's meaning); ``offset`` is added to either.  ``pid`` -1
    traces every process.  ``ref_ctr_offset`` is the file offset of a USDT
    semaphore the kernel increments while attached; ``cookie`` is what
    ``bpf_get_attach_cookie()`` returns in the program.
    """
    path = resolve_binary(binary, pid)
    if isinstance(symbol, bytes):
        symbol = symbol.decode()
    if symbol:
        file_off = resolve_symbol(path, symbol, offset).offset
        where = f"{path}:{symbol}" + (f"+{offset:#x}" if offset else "")
    elif addr is not None:
        found = open_elf(path).vaddr_to_offset(addr + offset)
        if found is None:
            raise AttachTargetNotFound(f"address {addr + offset:#x} is not in any loadable "
                                       f"segment of {path}")
        file_off, where = found, f"{path}:{addr + offset:#x}"
    else:
        raise ValueError("attach_uprobe needs a symbol or an addr")
    return attach_uprobe_offsets(prog, path, [file_off], pid=pid, retprobe=retprobe,
                                 ref_ctr_offsets=[ref_ctr_offset], cookies=[cookie],
                                 multi=False, target=where)


def attach_uprobe_regex(prog: Any, binary: str | bytes, pattern: str | bytes, pid: int = -1,
                        retprobe: bool = False, cookie: int = 0,
                        multi: bool | None = None) -> Link:
    """Attach to every function of ``binary`` whose name matches ``pattern`` (``re.match``).

    One uprobe_multi link when the program was loaded for it
    (expected_attach_type TRACE_UPROBE_MULTI) and ``multi`` is not False;
    otherwise one perf event per function.  IFUNCs resolve to their
    implementation; aliases are attached once.
    """
    path = resolve_binary(binary, pid)
    names = get_user_functions_and_addresses(path, pattern)
    if not names:
        raise AttachTargetNotFound(f"no function of {path} matches {pattern!r}")
    offsets: dict[int, None] = {}
    for raw, _ in names:
        offsets[resolve_symbol(path, raw.decode("utf-8", "surrogateescape")).offset] = None
    count = len(offsets)
    pat = pattern.decode() if isinstance(pattern, bytes) else pattern
    return attach_uprobe_offsets(prog, path, list(offsets), pid=pid, retprobe=retprobe,
                                 ref_ctr_offsets=[0] * count, cookies=[cookie] * count,
                                 multi=multi, target=f"{path}:/{pat}/")


def attach_uprobe_offsets(prog: Any, path: str, offsets: Sequence[int], *, pid: int = -1,
                          retprobe: bool = False, ref_ctr_offsets: Sequence[int] = (),
                          cookies: Sequence[int] = (), multi: bool | None = None,
                          target: str | None = None) -> Link:
    """Attach ``prog`` at several file offsets of ``path``; one Link owns them all.

    ``multi`` True demands a uprobe_multi link, False uses perf events, None
    tries the link and falls back when the kernel or the program cannot use
    it.  All or nothing: on failure every probe already made is removed.
    """
    fds = uprobe_fds(prog, path, offsets, pid=pid, retprobe=retprobe,
                     ref_ctr_offsets=ref_ctr_offsets, cookies=cookies, multi=multi, target=target)
    return Link("uretprobe" if retprobe else "uprobe", target or path, fds)


def uprobe_fds(prog: Any, path: str, offsets: Sequence[int], *, pid: int = -1,
               retprobe: bool = False, ref_ctr_offsets: Sequence[int] = (),
               cookies: Sequence[int] = (), multi: bool | None = None,
               target: str | None = None) -> list[FD]:
    """The FDs of :func:`attach_uprobe_offsets` (for callers that combine several binaries).

    Prefer a uprobe_multi link for many probes: the kernel detaches a perf
    uprobe with one RCU grace period each (~80 ms on 6.18), a link all at once.
    """
    fd = prog_fd(prog)
    refs = list(ref_ctr_offsets) or [0] * len(offsets)
    cks = list(cookies) or [0] * len(offsets)
    if not (len(refs) == len(cks) == len(offsets)):
        raise ValueError("offsets, ref_ctr_offsets and cookies must have the same length")
    target = target or path
    if multi is not False:
        try:
            return [_uprobe_multi_link(fd, path, offsets, refs, cks, pid, retprobe, target)]
        except SyscallError as e:
            if multi or e.errno not in (_errno.EINVAL, _errno.EOPNOTSUPP, 524, _errno.ENOSYS):
                raise
    return open_uprobes(fd, path, offsets, pid=pid, retprobe=retprobe,
                        ref_ctr_offsets=refs, cookies=cks, target=target)


def open_uprobes(prog: Any, path: str, offsets: Sequence[int], *, pid: int = -1,
                 retprobe: bool = False, ref_ctr_offsets: Sequence[int] = (),
                 cookies: Sequence[int] = (), target: str | None = None) -> list[FD]:
    """One perf uprobe event per offset, each bound to ``prog``; the FDs keep them alive.

    All or nothing: on failure every event already opened is closed.
    """
    program = prog_fd(prog)
    uprobe_pmu()
    kind = "uretprobe" if retprobe else "uprobe"
    refs = list(ref_ctr_offsets) or [0] * len(offsets)
    cks = list(cookies) or [0] * len(offsets)
    fds: list[FD] = []
    try:
        for off, ref, ck in zip(offsets, refs, cks, strict=True):
            what = f"attaching {kind} to {target or path} (offset {off:#x})"
            pfd = _open_perf_uprobe(path, off, pid, retprobe, ref, what)
            try:
                link = attach_perf_fd(program, pfd, ck, what)
                fds.extend([link, pfd] if link is not None else [pfd])
            except BaseException:
                pfd.close()
                raise
    except BaseException:
        for fd in fds:
            fd.close()
        raise
    return fds


def _uprobe_multi_link(program: int, path: str, offsets: Sequence[int], refs: Sequence[int],
                       cookies: Sequence[int], pid: int, retprobe: bool, target: str) -> FD:
    n = len(offsets)
    cpath = ffi.new("char[]", os.fsencode(path))
    coffs = ffi.new("uint64_t[]", list(offsets))
    crefs = ffi.new("uint64_t[]", list(refs)) if any(refs) else None
    ccks = ffi.new("uint64_t[]", list(cookies)) if any(cookies) else None
    fields = {"path": _addr(cpath), "offsets": _addr(coffs), "ref_ctr_offsets": _addr(crefs),
              "cookies": _addr(ccks), "cnt": n, "pid": max(pid, 0),
              "flags": uapi.BPF_F_UPROBE_MULTI_RETURN if retprobe else 0}
    fd = syscall.link_create(program, 0, AttachType.TRACE_UPROBE_MULTI,
                             what=f"attaching uprobe_multi to {target} ({n} offsets)",
                             uprobe_multi=fields)
    del cpath, coffs, crefs, ccks
    return fd


def _addr(buf: Any) -> int:
    return 0 if buf is None else int(ffi.cast("uintptr_t", buf))
