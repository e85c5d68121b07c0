"""Attaching programs to USDT probes, and bcc's ``USDT`` object.

Every location of a probe gets a uprobe whose cookie is the location's index
(what the generated ``bpf_usdt_readarg`` code switches on) and whose
``ref_ctr_offset`` is the probe's semaphore: the kernel increments the
semaphore while attached, so semaphore-guarded probes start firing.

::

    with attach_usdt(prog_fd, "/usr/bin/python3.11", "python", "function__entry", pid=pid):
        ...

    u = USDT(pid=pid)
    u.enable_probe("function__entry", "trace_entry")
    text = u.get_text()          # C helpers for bpf_usdt_readarg, for the bcc front end
"""

from __future__ import annotations

import errno as _errno
import sys
from typing import Any, Callable, Mapping

from ...errors import AttachTargetNotFound
from ..elfsyms import resolve_binary
from ..features import effective_capabilities
from ..fd import FD
from ..uapi import ProgType
from ..usdt import UsdtLocation, UsdtProbe, file_probes, find_probe, process_probes, readarg_c
from .link import Link
from .uprobe import uprobe_fds

__all__ = ["attach_usdt", "attach_probe_locations", "USDT", "USDTException"]


class USDTException(AttachTargetNotFound):
    """bcc's name for a USDT probe that cannot be found or enabled."""


_CAP_SYS_PTRACE = 19


def _unreadable(pid: int, err: OSError) -> str:
    """Why process ``pid``'s memory map or binary could not be read, and what to do about it.

    /proc/PID/maps, exe and root are guarded by the kernel's ptrace access
    check, which answers EACCES; being root is not enough when the process
    is protected (a sandbox's or VM's init, a security module's rule).
    """
    where = err.filename or f"/proc/{pid}/maps"
    if err.errno in (_errno.ENOENT, _errno.ESRCH) and str(where).startswith(f"/proc/{pid}/"):
        return f"no process with pid {pid}"
    if err.errno not in (_errno.EACCES, _errno.EPERM):
        return f"{where}: {err.strerror}"
    if not (effective_capabilities() or 0) >> _CAP_SYS_PTRACE & 1:
        return (f"reading {where} needs ptrace access to the process: run as its owner or as root "
                "with CAP_SYS_PTRACE")
    return (f"the kernel's ptrace access check refused {where} although this process has "
            f"CAP_SYS_PTRACE (pid {pid} is protected, e.g. a sandbox's or VM's init or a security "
            "module's rule): trace its binary in every process with USDT(path=BINARY) instead")


def _probes_for(binary_or_pid: str | bytes | int, pid: int) -> tuple[list[UsdtProbe], int]:
    if isinstance(binary_or_pid, int):
        return process_probes(binary_or_pid), binary_or_pid
    path = resolve_binary(binary_or_pid, pid)
    return file_probes(path), pid


def attach_probe_locations(prog: Any, probes: list[UsdtProbe], pid: int = -1,
                           target: str = "", multi: bool | None = None) -> Link:
    """Attach ``prog`` at every location of ``probes``; cookie = index over all their locations.

    ``multi`` as in :func:`~.uprobe.uprobe_fds`: a program loaded with
    expected_attach_type TRACE_UPROBE_MULTI gets one link per binary.
    """
    fds: list[FD] = []
    index = 0
    try:
        for probe in probes:
            n = probe.num_locations
            fds += uprobe_fds(prog, probe.path, [loc.offset for loc in probe.locations], pid=pid,
                              ref_ctr_offsets=[loc.ref_ctr_offset for loc in probe.locations],
                              cookies=list(range(index, index + n)), multi=multi,
                              target=f"{probe.path}:{probe.short_name()}")
            index += n
    except BaseException:
        for fd in fds:
            fd.close()
        raise
    return Link("usdt", target or ",".join(p.short_name() for p in probes), fds)


def attach_usdt(prog: Any, binary_or_pid: str | bytes | int, provider: str, name: str,
                pid: int = -1, multi: bool | None = None) -> Link:
    """Attach a KPROBE-type program to every location of USDT probe ``provider:name``.

    ``binary_or_pid`` is a path, library or command name, or a pid (then
    every binary that process has mapped is searched, and only it is
    traced).  ``pid`` restricts a binary's probe to one process.  ``multi``:
    see :func:`attach_probe_locations`.
    """
    probes, pid = _probes_for(binary_or_pid, pid)
    found = find_probe(probes, f"{provider}:{name}")
    if not found:
        known = sorted({p.short_name() for p in probes})
        hint = f"; it has {', '.join(known[:8])}{'...' if len(known) > 8 else ''}" if known else \
            "; it has no USDT probes (built without --enable-dtrace / sys/sdt.h?)"
        raise USDTException(f"no USDT probe {provider}:{name} in {binary_or_pid}{hint}")
    return attach_probe_locations(prog, found, pid, f"{binary_or_pid}:{provider}:{name}", multi)


class USDT:
    """bcc's USDT context: the probes of one process or binary, and which program runs on each.

    ``USDT(pid=1234)`` covers every binary the process maps; ``USDT(path=...)``
    one binary (every process running it); both together: that binary in
    that process.
    """

    def __init__(self, pid: int | None = None, path: str | bytes | None = None) -> None:
        self.pid = pid if pid and pid != -1 else None
        if isinstance(path, bytes):
            path = path.decode()
        self.path = path
        if self.pid is not None:
            try:
                self._probes = (file_probes(resolve_binary(path, self.pid)) if path
                                else process_probes(self.pid))
            except OSError as e:
                raise USDTException(f"USDT failed to instrument PID {pid}: {_unreadable(self.pid, e)}") from None
        elif path:
            try:
                self._probes = file_probes(resolve_binary(path))
            except OSError as e:
                raise USDTException(f"USDT failed to instrument path {path}: {e}") from None
        else:
            raise USDTException("either a pid or a binary path must be specified")
        self._enabled: dict[str, list[UsdtProbe]] = {}
        self.links: list[Link] = []

    def enumerate_probes(self) -> list[UsdtProbe]:
        """Every probe (tplist's listing: provider, name, locations, arguments)."""
        return list(self._probes)

    def enable_probe(self, probe: str | bytes, fn_name: str | bytes) -> None:
        """Run program ``fn_name`` on ``probe`` ("name" or "provider:name")."""
        probe = probe.decode() if isinstance(probe, bytes) else probe
        fn = fn_name.decode() if isinstance(fn_name, bytes) else fn_name
        found = find_probe(self._probes, probe)
        if not found:
            where = f"pid {self.pid}" if self.pid else self.path
            raise USDTException(f"failed to enable USDT probe {probe!r}: {where} has no such probe "
                                "(list them with tplist; the runtime may need --enable-dtrace)")
        self._enabled[fn] = found

    def enable_probe_or_bail(self, probe: str | bytes, fn_name: str | bytes) -> None:
        """enable_probe, or print the error and exit(1) like bcc."""
        try:
            self.enable_probe(probe, fn_name)
        except USDTException as e:
            print(e, file=sys.stderr)
            sys.exit(1)

    def _locations(self, fn_name: str) -> list[UsdtLocation]:
        return [loc for p in self._enabled[fn_name] for loc in p.locations]

    def get_text(self) -> str:
        """C definitions of ``_bpf_readarg_<fn>_<n>`` for every enabled probe and argument."""
        parts = []
        for fn in self._enabled:
            locs = self._locations(fn)
            nargs = max((len(loc.args) for loc in locs), default=0)
            parts += [readarg_c(fn, i, locs) for i in range(1, nargs + 1)]
        return "\n".join(parts)

    def get_probe_arg_ctype(self, probe_name: str, arg_index: int) -> str:
        """The C type of argument ``arg_index`` (0-based, like bcc) of a probe."""
        found = find_probe(self._probes, probe_name)
        if not found or arg_index >= found[0].num_arguments:
            raise USDTException(f"probe {probe_name!r} has no argument {arg_index}")
        return found[0].locations[0].args[arg_index].ctype

    def enumerate_active_probes(self) -> list[tuple[bytes, bytes, int, int]]:
        """``(binary, fn_name, address, pid)`` of every location to attach, like bcc."""
        return [(loc.path.encode(), fn.encode(), loc.pc, self.pid or -1)
                for fn in self._enabled for loc in self._locations(fn)]

    def attach(self, progs: Mapping[str, Any] | Callable[[str], Any],
               ignore_pid: bool = False) -> list[Link]:
        """Attach each enabled probe's program: ``progs`` maps fn_name -> program (or is a function)."""
        pid = -1 if ignore_pid or self.pid is None else self.pid
        get = progs if callable(progs) else progs.__getitem__
        links = []
        try:
            for fn, probes in self._enabled.items():
                links.append(attach_probe_locations(get(fn), probes, pid, f"usdt:{fn}"))
        except BaseException:
            for link in links:
                link.close()
            raise
        self.links += links
        return links

    def attach_uprobes(self, bpf: Any, attach_usdt_ignore_pid: bool = False) -> list[Link]:
        """What bcc's BPF calls: load each enabled function as a KPROBE program and attach it."""
        return self.attach(lambda fn: bpf.load_func(fn.encode(), ProgType.KPROBE).fd,
                           attach_usdt_ignore_pid)

    def close(self) -> None:
        """Detach every probe this context attached."""
        links, self.links = self.links, []
        for link in links:
            link.close()
