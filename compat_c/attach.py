"""bcc's ``attach_*`` / ``detach_*`` methods, on the runtime's attach functions.

:class:`AttachMixin` is part of :class:`compat_c.BPF`.  Every attachment is a
runtime :class:`~pybpf_dsl.runtime.attach.link.Link`, kept in bcc's
bookkeeping dicts (``kprobe_fds``, ``uprobe_fds``, ``tracepoint_fds``,
``raw_tracepoint_fds``, ``kfunc_entry_fds``, ``kfunc_exit_fds``,
``lsm_fds``, ``fmod_ret_fds``, ``open_perf_events``) so ``num_open_*``,
``detach_*`` and ``cleanup`` behave as in bcc.  Names may be str or bytes;
trampoline programs take bcc's name prefixes (``attach_kfunc("f")`` loads
``kfunc__f``, ``attach_fmod_ret("f")`` ``kmod_ret__f``).  A kernel that
lacks a hook (kprobes, fentry, LSM) raises the runtime's one-line
:class:`~pybpf_dsl.errors.NotSupported`.
"""

from __future__ import annotations

import re
from typing import Any

from pybpf_dsl.errors import BPFError
from pybpf_dsl.runtime import syscall
from pybpf_dsl.runtime.attach.link import Link
from pybpf_dsl.runtime.uapi import AttachType, ProgType

from .discovery import (fix_syscall_fnname, get_kprobe_functions, get_probe_limit, get_tracepoints,
                        get_user_functions_and_addresses, to_bytes, to_str)

__all__ = ["AttachMixin"]

_UNSAFE = re.compile(rb"[^a-zA-Z0-9_]")
# The name prefix bcc adds to a trampoline program's function name, by what it is.
_PREFIX = {"Kernel entry func": b"kfunc__", "Kernel exit func": b"kretfunc__", "LSM": b"lsm__",
           "Fmod_ret func": b"kmod_ret__"}


def _close_all(links: Any) -> None:
    for link in (links.values() if isinstance(links, dict) else links):
        if isinstance(link, (dict, list)):
            _close_all(link)
        else:
            link.close()


class AttachMixin:
    """The attach/detach half of ``BPF`` (which provides ``load_func``)."""

    load_func: Any

    kprobe_fds: dict[bytes, dict[bytes, Link]]
    uprobe_fds: dict[Any, Link]
    tracepoint_fds: dict[bytes, list[Link]]
    raw_tracepoint_fds: dict[bytes, Link]
    kfunc_entry_fds: dict[bytes, Link]
    kfunc_exit_fds: dict[bytes, Link]
    lsm_fds: dict[bytes, Link]
    fmod_ret_fds: dict[bytes, Link]
    open_perf_events: dict[tuple[int, int], Link]

    def _init_attach(self) -> None:
        self.kprobe_fds = {}
        self.uprobe_fds = {}
        self.tracepoint_fds = {}
        self.raw_tracepoint_fds = {}
        self.kfunc_entry_fds = {}
        self.kfunc_exit_fds = {}
        self.lsm_fds = {}
        self.fmod_ret_fds = {}
        self.open_perf_events = {}

    def _detach_all(self) -> None:
        for table in (self.kprobe_fds, self.uprobe_fds, self.tracepoint_fds, self.raw_tracepoint_fds,
                      self.kfunc_entry_fds, self.kfunc_exit_fds, self.lsm_fds, self.fmod_ret_fds,
                      self.open_perf_events):
            _close_all(table)
            table.clear()

    # ------------------------------------------------------------ quotas and counts

    def _check_probe_quota(self, num_new_probes: int) -> None:
        if self.num_open_kprobes() + self.num_open_uprobes() + num_new_probes > get_probe_limit():
            raise BPFError("Number of open probes would exceed global quota")

    def num_open_kprobes(self) -> int:
        """Open kprobes and kretprobes."""
        return len(self.kprobe_fds)

    def num_open_uprobes(self) -> int:
        """Open uprobes, uretprobes and USDT probes."""
        return len(self.uprobe_fds)

    def num_open_tracepoints(self) -> int:
        """Open tracepoints."""
        return len(self.tracepoint_fds)

    # ------------------------------------------------------------ kprobes

    def attach_kprobe(self, event: str | bytes = b"", event_off: int = 0, fn_name: str | bytes = b"",
                      event_re: str | bytes = b"") -> None:
        """Run ``fn_name`` on entry to kernel function ``event`` (or every match of ``event_re``)."""
        self._attach_kprobes(event, event_off, fn_name, event_re, False, 0)

    def attach_kretprobe(self, event: str | bytes = b"", fn_name: str | bytes = b"",
                         event_re: str | bytes = b"", maxactive: int = 0) -> None:
        """Run ``fn_name`` when kernel function ``event`` (or each match of ``event_re``) returns."""
        self._attach_kprobes(event, 0, fn_name, event_re, True, maxactive)

    def _attach_kprobes(self, event: str | bytes, offset: int, fn_name: str | bytes,
                        event_re: str | bytes, retprobe: bool, maxactive: int) -> None:
        if event_re:
            matches = sorted(get_kprobe_functions(event_re))
            if not matches:  # as bcc, no match is an error; without kprobes, say that instead
                from pybpf_dsl.runtime import features

                features.require("kprobes")
            self._check_probe_quota(len(matches))
            failed = 0
            for name in matches:
                try:
                    self._attach_kprobes(name, 0, fn_name, b"", retprobe, maxactive)
                except BPFError:
                    failed += 1
            if failed == len(matches):
                raise BPFError(f"Failed to attach BPF program {to_str(fn_name)} to "
                               f"{'kretprobe' if retprobe else 'kprobe'} of any function matching "
                               f"{to_str(event_re)!r}")
            return
        fn = self.load_func(fn_name, ProgType.KPROBE)
        symbol = to_str(fix_syscall_fnname(event))
        from pybpf_dsl.runtime.attach import kprobe

        link = kprobe.attach_kprobe(fn, symbol, offset, retprobe, maxactive)
        ev_name = (b"r_" if retprobe else b"p_") + to_bytes(symbol).replace(b"+", b"_").replace(b".", b"_")
        self.kprobe_fds.setdefault(ev_name, {})[fn.name] = link

    def detach_kprobe_event(self, ev_name: str | bytes) -> None:
        """Detach every program from kprobe event ``ev_name`` (``b"p_<symbol>"`` / ``b"r_<symbol>"``)."""
        self._detach_kprobe_event(to_bytes(ev_name), None)

    def detach_kprobe_event_by_fn(self, ev_name: str | bytes, fn_name: str | bytes) -> None:
        """Detach program ``fn_name`` from kprobe event ``ev_name``."""
        self._detach_kprobe_event(to_bytes(ev_name), fn_name)

    def detach_kprobe(self, event: str | bytes, fn_name: str | bytes | None = None) -> None:
        """Detach ``fn_name`` (default: every program) from kprobe ``event``."""
        self._detach_kprobe(b"p_", event, fn_name)

    def detach_kretprobe(self, event: str | bytes, fn_name: str | bytes | None = None) -> None:
        """Detach ``fn_name`` (default: every program) from kretprobe ``event``."""
        self._detach_kprobe(b"r_", event, fn_name)

    def _detach_kprobe(self, prefix: bytes, event: str | bytes, fn_name: str | bytes | None) -> None:
        self._detach_kprobe_event(prefix + fix_syscall_fnname(event).replace(b"+", b"_").replace(b".", b"_"),
                                  fn_name)

    def _detach_kprobe_event(self, ev_name: bytes, fn_name: str | bytes | None) -> None:
        progs = self.kprobe_fds.get(ev_name)
        if progs is None:
            raise BPFError(f"Kprobe {to_str(ev_name[2:])} is not attached")
        names = [to_bytes(fn_name)] if fn_name else list(progs)
        for name in names:
            link = progs.pop(name, None)
            if link is None:
                raise BPFError(f"Kprobe {to_str(ev_name[2:])} has no program {to_str(name)} attached")
            link.close()
        if not progs:
            del self.kprobe_fds[ev_name]

    # ------------------------------------------------------------ uprobes

    @staticmethod
    def _uprobe_key(kind: bytes, path: str, where: Any, pid: int) -> bytes:
        spot = where if isinstance(where, bytes) else b"0x%x" % where
        return b"%s_%s_%s_%d" % (kind, _UNSAFE.sub(b"_", to_bytes(path)), spot, pid)

    def attach_uprobe(self, name: str | bytes = b"", sym: str | bytes = b"", sym_re: str | bytes = b"",
                      addr: int | None = None, fn_name: str | bytes = b"", pid: int = -1,
                      sym_off: int = 0) -> None:
        """Run ``fn_name`` when binary/library ``name`` reaches ``sym`` (or ``addr``, or each
        function matching ``sym_re``); ``pid`` -1 traces every process."""
        self._attach_uprobes(name, sym, sym_re, addr, fn_name, pid, sym_off, False)

    def attach_uretprobe(self, name: str | bytes = b"", sym: str | bytes = b"", sym_re: str | bytes = b"",
                         addr: int | None = None, fn_name: str | bytes = b"", pid: int = -1) -> None:
        """Run ``fn_name`` when ``sym`` (or ``addr``, or each ``sym_re`` match) of ``name`` returns."""
        self._attach_uprobes(name, sym, sym_re, addr, fn_name, pid, 0, True)

    def _attach_uprobes(self, name: str | bytes, sym: str | bytes, sym_re: str | bytes, addr: int | None,
                        fn_name: str | bytes, pid: int, sym_off: int, retprobe: bool) -> None:
        if sym_re:
            found = get_user_functions_and_addresses(name, sym_re)
            self._check_probe_quota(len(found))
            for fname, _addr in found:
                self._attach_uprobes(name, fname, b"", None, fn_name, pid, 0, retprobe)
            return
        from pybpf_dsl.runtime.attach import uprobe
        from pybpf_dsl.runtime.elfsyms import resolve_binary

        fn = self.load_func(fn_name, ProgType.KPROBE)
        path = resolve_binary(to_str(name), pid)
        link = uprobe.attach_uprobe(fn, path, to_str(sym) or None, addr, sym_off, pid, retprobe)
        key = self._uprobe_key(b"r" if retprobe else b"p", path,
                               to_bytes(sym) + (b"+%d" % sym_off if sym_off else b"") if sym else addr, pid)
        old = self.uprobe_fds.pop(key, None)
        if old is not None:
            old.close()
        self.uprobe_fds[key] = link

    def detach_uprobe(self, name: str | bytes = b"", sym: str | bytes = b"", addr: int | None = None,
                      pid: int = -1, sym_off: int = 0) -> None:
        """Detach the uprobe ``attach_uprobe`` made with the same arguments."""
        self._detach_uprobe(b"p", name, sym, addr, pid, sym_off)

    def detach_uretprobe(self, name: str | bytes = b"", sym: str | bytes = b"", addr: int | None = None,
                         pid: int = -1) -> None:
        """Detach the uretprobe ``attach_uretprobe`` made with the same arguments."""
        self._detach_uprobe(b"r", name, sym, addr, pid, 0)

    def detach_uprobe_event(self, ev_name: str | bytes) -> None:
        """Detach the uprobe whose bookkeeping key (a key of ``uprobe_fds``) is ``ev_name``."""
        link = self.uprobe_fds.pop(to_bytes(ev_name), None)
        if link is None:
            raise BPFError(f"Uprobe {to_str(ev_name)} is not attached")
        link.close()

    def _detach_uprobe(self, kind: bytes, name: str | bytes, sym: str | bytes, addr: int | None,
                       pid: int, sym_off: int) -> None:
        from pybpf_dsl.runtime.elfsyms import resolve_binary

        path = resolve_binary(to_str(name), pid)
        key = self._uprobe_key(kind, path, to_bytes(sym) + (b"+%d" % sym_off if sym_off else b"")
                               if sym else addr, pid)
        link = self.uprobe_fds.pop(key, None)
        if link is None:
            raise BPFError(f"{'Uretprobe' if kind == b'r' else 'Uprobe'} {key.decode()} is not attached")
        link.close()

    # ------------------------------------------------------------ tracepoints

    def attach_tracepoint(self, tp: str | bytes = b"", tp_re: str | bytes = b"",
                          fn_name: str | bytes = b"") -> None:
        """Run ``fn_name`` on tracepoint ``tp`` ("category:event") or every match of ``tp_re``."""
        if tp_re:
            for found in get_tracepoints(tp_re):
                self.attach_tracepoint(tp=found, fn_name=fn_name)
            return
        fn = self.load_func(fn_name, ProgType.TRACEPOINT)
        category, _sep, event = to_str(tp).partition(":")
        from pybpf_dsl.runtime.attach import tracepoint

        link = tracepoint.attach_tracepoint(fn, category, event)
        self.tracepoint_fds.setdefault(to_bytes(tp), []).append(link)

    def detach_tracepoint(self, tp: str | bytes = b"") -> None:
        """Detach every program from tracepoint ``tp``."""
        links = self.tracepoint_fds.pop(to_bytes(tp), None)
        if links is None:
            raise BPFError(f"Tracepoint {to_str(tp)} is not attached")
        _close_all(links)

    def attach_raw_tracepoint(self, tp: str | bytes = b"", fn_name: str | bytes = b"") -> None:
        """Run ``fn_name`` (a RAW_TRACEPOINT program) on raw tracepoint ``tp``."""
        key = to_bytes(tp)
        if key in self.raw_tracepoint_fds:
            raise BPFError(f"Raw tracepoint {to_str(tp)} has been attached")
        from pybpf_dsl.runtime.attach import raw_tracepoint

        fn = self.load_func(fn_name, ProgType.RAW_TRACEPOINT)
        self.raw_tracepoint_fds[key] = raw_tracepoint.attach_raw_tracepoint(fn, to_str(tp))

    def detach_raw_tracepoint(self, tp: str | bytes = b"") -> None:
        """Detach the program on raw tracepoint ``tp``."""
        link = self.raw_tracepoint_fds.pop(to_bytes(tp), None)
        if link is None:
            raise BPFError(f"Raw tracepoint {to_str(tp)} is not attached")
        link.close()

    # ------------------------------------------------------------ BPF trampolines

    @staticmethod
    def add_prefix(prefix: bytes, name: bytes) -> bytes:
        """``name`` with ``prefix`` in front unless it already starts with it."""
        return name if name.startswith(prefix) else prefix + name

    def _attach_trampoline(self, table: dict[bytes, Link], fn_name: str | bytes, prog_type: ProgType,
                           attach_type: AttachType, what: str) -> None:
        key = self.add_prefix(_PREFIX[what], to_bytes(fn_name))
        if key in table:
            raise BPFError(f"{what} {to_str(fn_name)} has been attached")
        from pybpf_dsl.runtime.attach.fentry import attach_tracing

        fn = self.load_func(key, prog_type, attach_type=attach_type)
        table[key] = attach_tracing(fn)

    @staticmethod
    def _detach_trampoline(table: dict[bytes, Link], fn_name: str | bytes, what: str) -> None:
        link = table.pop(AttachMixin.add_prefix(_PREFIX[what], to_bytes(fn_name)), None)
        if link is None:
            raise BPFError(f"{what} {to_str(fn_name)} is not attached")
        link.close()

    def attach_kfunc(self, fn_name: str | bytes = b"") -> None:
        """Attach a ``kfunc__``/KFUNC_PROBE program (fentry) to its kernel function."""
        self._attach_trampoline(self.kfunc_entry_fds, fn_name, ProgType.TRACING, AttachType.TRACE_FENTRY,
                                "Kernel entry func")

    def attach_kretfunc(self, fn_name: str | bytes = b"") -> None:
        """Attach a ``kretfunc__``/KRETFUNC_PROBE program (fexit) to its kernel function."""
        self._attach_trampoline(self.kfunc_exit_fds, fn_name, ProgType.TRACING, AttachType.TRACE_FEXIT,
                                "Kernel exit func")

    def attach_lsm(self, fn_name: str | bytes = b"") -> None:
        """Attach an ``lsm__``/LSM_PROBE program to its LSM hook."""
        self._attach_trampoline(self.lsm_fds, fn_name, ProgType.LSM, AttachType.LSM_MAC, "LSM")

    def attach_fmod_ret(self, fn_name: str | bytes = b"") -> None:
        """Attach a ``kmod_ret__``/KMOD_RET program (fmod_ret) to its kernel function."""
        self._attach_trampoline(self.fmod_ret_fds, fn_name, ProgType.TRACING, AttachType.MODIFY_RETURN,
                                "Fmod_ret func")

    def detach_fmod_ret(self, fn_name: str | bytes = b"") -> None:
        """Detach an fmod_ret program."""
        self._detach_trampoline(self.fmod_ret_fds, fn_name, "Fmod_ret func")

    def detach_kfunc(self, fn_name: str | bytes = b"") -> None:
        """Detach a kfunc program."""
        self._detach_trampoline(self.kfunc_entry_fds, fn_name, "Kernel entry func")

    def detach_kretfunc(self, fn_name: str | bytes = b"") -> None:
        """Detach a kretfunc program."""
        self._detach_trampoline(self.kfunc_exit_fds, fn_name, "Kernel exit func")

    def detach_lsm(self, fn_name: str | bytes = b"") -> None:
        """Detach an LSM program."""
        self._detach_trampoline(self.lsm_fds, fn_name, "LSM")

    # ------------------------------------------------------------ perf events

    def attach_perf_event(self, ev_type: int = -1, ev_config: int = -1, fn_name: str | bytes = b"",
                          sample_period: int = 0, sample_freq: int = 0, pid: int = -1, cpu: int = -1,
                          group_fd: int = -1) -> None:
        """Run ``fn_name`` (PERF_EVENT) on a sampling event, on every online CPU when ``cpu`` is -1."""
        from pybpf_dsl.runtime.attach import perf_event

        fn = self.load_func(fn_name, ProgType.PERF_EVENT)
        link = perf_event.attach_perf_event(fn, ev_type, ev_config, sample_period, sample_freq, pid, cpu,
                                            group_fd)
        self._add_perf_event((ev_type, ev_config), link)

    def attach_perf_event_raw(self, attr: Any = -1, fn_name: str | bytes = b"", pid: int = -1,
                              cpu: int = -1, group_fd: int = -1) -> None:
        """Like attach_perf_event with a full ``perf_event_attr`` (ctypes struct, cffi or dict)."""
        from pybpf_dsl.runtime.attach import perf_event

        fn = self.load_func(fn_name, ProgType.PERF_EVENT)
        link = perf_event.attach_perf_event_raw(fn, attr, pid, cpu, group_fd)
        kind = attr.get("type") if isinstance(attr, dict) else attr.type
        config = attr.get("config", 0) if isinstance(attr, dict) else attr.config
        self._add_perf_event((kind, config), link)

    def _add_perf_event(self, key: tuple[int, int], link: Link) -> None:
        old = self.open_perf_events.pop(key, None)
        if old is not None:
            old.close()
        self.open_perf_events[key] = link

    def detach_perf_event(self, ev_type: int = -1, ev_config: int = -1) -> None:
        """Detach the program on perf event ``(ev_type, ev_config)`` from every CPU."""
        link = self.open_perf_events.pop((ev_type, ev_config), None)
        if link is None:
            raise BPFError(f"Perf event type {ev_type} config {ev_config} not attached")
        link.close()

    # ------------------------------------------------------------ networking and generic

    @staticmethod
    def attach_xdp(dev: str | bytes, fn: Any, flags: int = 0) -> None:
        """Attach XDP program ``fn`` to device ``dev`` until remove_xdp or process exit."""
        from pybpf_dsl.runtime.attach import xdp

        xdp.bcc_attach_xdp(dev, fn, flags)

    @staticmethod
    def remove_xdp(dev: str | bytes, flags: int = 0) -> None:
        """Remove the XDP program from ``dev`` (in the mode ``flags`` names)."""
        from pybpf_dsl.runtime.attach import xdp

        xdp.remove_xdp(dev, flags)

    @staticmethod
    def attach_raw_socket(fn: Any, dev: str | bytes) -> None:
        """Open a raw socket on ``dev`` filtered by ``fn``; its fd becomes ``fn.sock``."""
        from pybpf_dsl.runtime.attach.socket import attach_raw_socket

        sock = attach_raw_socket(fn, dev)
        fn.socket = sock  # keeps the socket (and the filter) alive with the function
        fn.sock = sock.fileno()

    @staticmethod
    def attach_func(fn: Any, attachable_fd: int, attach_type: int, flags: int = 0) -> None:
        """BPF_PROG_ATTACH ``fn`` to ``attachable_fd`` (stays until detach_func, as in bcc)."""
        syscall.prog_attach(fn.fileno(), attachable_fd, attach_type, flags)

    @staticmethod
    def detach_func(fn: Any, attachable_fd: int, attach_type: int) -> None:
        """BPF_PROG_DETACH ``fn`` from ``attachable_fd``."""
        syscall.prog_detach(fn.fileno(), attachable_fd, attach_type)
