"""Programs: the description (:class:`ProgramSpec`), the live object (:class:`Program`),
libbpf's ``SEC()`` naming conventions, and loading with verifier errors mapped to source.

A failed load is retried with the verifier log on; the log's last
instruction index is mapped through BTF line info to the user's file and
line, so the error reads ``verifier rejected program 'x' at prog.c:12:0: ...``.
"""

from __future__ import annotations

import errno as _errno
import re
from dataclasses import dataclass, field, replace
from typing import Callable, NamedTuple, Sequence

from ..errors import AttachTargetNotFound, NotSupported, SourceLocation, VerifierError, syscall_error
from . import syscall
from .btf import BTF, Kind, find_in_kernel
from .btf_ext import FUNC_INFO_SIZE, LINE_INFO_SIZE, FuncInfo, LineInfo, pack_func_info, pack_line_info
from .closing import Closing
from .core import POISON_HELPER
from .fd import FD
from .uapi import BPF_CALL, BPF_F_SLEEPABLE, BPF_F_XDP_HAS_FRAGS, AttachType, ProgType

__all__ = ["SectionDef", "ProgramSpec", "Program", "MapRef", "KsymRef", "ModuleBtfFds", "section_def",
           "load_program", "attach_target", "module_btf_fd", "source_location"]

_LOG_SIZES = (1 << 20, 1 << 24)  # first retry, then the largest log the kernel allows
_ENOTSUPP = 524  # the kernel-internal "not supported" errno


class SectionDef(NamedTuple):
    """What a ``SEC()`` name means: program type, expected attach type, load flags,
    and how the text after ``/`` names the attach target."""
    prog_type: ProgType
    attach_type: AttachType | None
    flags: int = 0
    btf_target: str = ""  # "tp_btf" | "func" | "lsm" | "iter": resolve attach_btf_id at load


_A = AttachType
_P = ProgType
_S = BPF_F_SLEEPABLE
# (name, takes "/target", definition).  Exact names are checked first, then prefixes.
_SECTIONS: list[tuple[str, bool, SectionDef]] = [
    ("socket", False, SectionDef(_P.SOCKET_FILTER, None)),
    ("sk_reuseport/migrate", False, SectionDef(_P.SK_REUSEPORT, _A.SK_REUSEPORT_SELECT_OR_MIGRATE)),
    ("sk_reuseport", False, SectionDef(_P.SK_REUSEPORT, _A.SK_REUSEPORT_SELECT)),
    ("kprobe.multi", True, SectionDef(_P.KPROBE, _A.TRACE_KPROBE_MULTI)),
    ("kretprobe.multi", True, SectionDef(_P.KPROBE, _A.TRACE_KPROBE_MULTI)),
    ("kprobe.session", True, SectionDef(_P.KPROBE, _A.TRACE_KPROBE_SESSION)),
    ("uprobe.multi.s", True, SectionDef(_P.KPROBE, _A.TRACE_UPROBE_MULTI, _S)),
    ("uretprobe.multi.s", True, SectionDef(_P.KPROBE, _A.TRACE_UPROBE_MULTI, _S)),
    ("uprobe.multi", True, SectionDef(_P.KPROBE, _A.TRACE_UPROBE_MULTI)),
    ("uretprobe.multi", True, SectionDef(_P.KPROBE, _A.TRACE_UPROBE_MULTI)),
    ("kprobe", True, SectionDef(_P.KPROBE, None)),
    ("kretprobe", True, SectionDef(_P.KPROBE, None)),
    ("ksyscall", True, SectionDef(_P.KPROBE, None)),
    ("kretsyscall", True, SectionDef(_P.KPROBE, None)),
    ("uprobe.s", True, SectionDef(_P.KPROBE, None, _S)),
    ("uretprobe.s", True, SectionDef(_P.KPROBE, None, _S)),
    ("uprobe", True, SectionDef(_P.KPROBE, None)),
    ("uretprobe", True, SectionDef(_P.KPROBE, None)),
    ("usdt.s", True, SectionDef(_P.KPROBE, None, _S)),
    ("usdt", True, SectionDef(_P.KPROBE, None)),
    ("tc/ingress", False, SectionDef(_P.SCHED_CLS, _A.TCX_INGRESS)),
    ("tc/egress", False, SectionDef(_P.SCHED_CLS, _A.TCX_EGRESS)),
    ("tcx/ingress", False, SectionDef(_P.SCHED_CLS, _A.TCX_INGRESS)),
    ("tcx/egress", False, SectionDef(_P.SCHED_CLS, _A.TCX_EGRESS)),
    ("netkit/primary", False, SectionDef(_P.SCHED_CLS, _A.NETKIT_PRIMARY)),
    ("netkit/peer", False, SectionDef(_P.SCHED_CLS, _A.NETKIT_PEER)),
    ("tc", True, SectionDef(_P.SCHED_CLS, None)),
    ("classifier", True, SectionDef(_P.SCHED_CLS, None)),
    ("action", True, SectionDef(_P.SCHED_ACT, None)),
    ("tracepoint", True, SectionDef(_P.TRACEPOINT, None)),
    ("tp", True, SectionDef(_P.TRACEPOINT, None)),
    ("raw_tracepoint.w", True, SectionDef(_P.RAW_TRACEPOINT_WRITABLE, None)),
    ("raw_tp.w", True, SectionDef(_P.RAW_TRACEPOINT_WRITABLE, None)),
    ("raw_tracepoint", True, SectionDef(_P.RAW_TRACEPOINT, None)),
    ("raw_tp", True, SectionDef(_P.RAW_TRACEPOINT, None)),
    ("tp_btf", True, SectionDef(_P.TRACING, _A.TRACE_RAW_TP, 0, "tp_btf")),
    ("fentry.s", True, SectionDef(_P.TRACING, _A.TRACE_FENTRY, _S, "func")),
    ("fmod_ret.s", True, SectionDef(_P.TRACING, _A.MODIFY_RETURN, _S, "func")),
    ("fexit.s", True, SectionDef(_P.TRACING, _A.TRACE_FEXIT, _S, "func")),
    ("fentry", True, SectionDef(_P.TRACING, _A.TRACE_FENTRY, 0, "func")),
    ("fmod_ret", True, SectionDef(_P.TRACING, _A.MODIFY_RETURN, 0, "func")),
    ("fexit", True, SectionDef(_P.TRACING, _A.TRACE_FEXIT, 0, "func")),
    ("freplace", True, SectionDef(_P.EXT, None)),
    ("lsm.s", True, SectionDef(_P.LSM, _A.LSM_MAC, _S, "lsm")),
    ("lsm_cgroup", True, SectionDef(_P.LSM, _A.LSM_CGROUP, 0, "lsm")),
    ("lsm", True, SectionDef(_P.LSM, _A.LSM_MAC, 0, "lsm")),
    ("iter.s", True, SectionDef(_P.TRACING, _A.TRACE_ITER, _S, "iter")),
    ("iter", True, SectionDef(_P.TRACING, _A.TRACE_ITER, 0, "iter")),
    ("syscall", False, SectionDef(_P.SYSCALL, None, _S)),
    ("xdp.frags/devmap", False, SectionDef(_P.XDP, _A.XDP_DEVMAP, BPF_F_XDP_HAS_FRAGS)),
    ("xdp/devmap", False, SectionDef(_P.XDP, _A.XDP_DEVMAP)),
    ("xdp.frags/cpumap", False, SectionDef(_P.XDP, _A.XDP_CPUMAP, BPF_F_XDP_HAS_FRAGS)),
    ("xdp/cpumap", False, SectionDef(_P.XDP, _A.XDP_CPUMAP)),
    ("xdp.frags", False, SectionDef(_P.XDP, _A.XDP, BPF_F_XDP_HAS_FRAGS)),
    ("xdp", True, SectionDef(_P.XDP, _A.XDP)),
    ("perf_event", False, SectionDef(_P.PERF_EVENT, None)),
    ("lwt_in", False, SectionDef(_P.LWT_IN, None)),
    ("lwt_out", False, SectionDef(_P.LWT_OUT, None)),
    ("lwt_xmit", False, SectionDef(_P.LWT_XMIT, None)),
    ("lwt_seg6local", False, SectionDef(_P.LWT_SEG6LOCAL, None)),
    ("sockops", False, SectionDef(_P.SOCK_OPS, _A.CGROUP_SOCK_OPS)),
    ("sk_skb/stream_parser", False, SectionDef(_P.SK_SKB, _A.SK_SKB_STREAM_PARSER)),
    ("sk_skb/stream_verdict", False, SectionDef(_P.SK_SKB, _A.SK_SKB_STREAM_VERDICT)),
    ("sk_skb/verdict", False, SectionDef(_P.SK_SKB, _A.SK_SKB_VERDICT)),
    ("sk_skb", True, SectionDef(_P.SK_SKB, None)),
    ("sk_msg", False, SectionDef(_P.SK_MSG, _A.SK_MSG_VERDICT)),
    ("sk_lookup", False, SectionDef(_P.SK_LOOKUP, _A.SK_LOOKUP)),
    ("lirc_mode2", False, SectionDef(_P.LIRC_MODE2, _A.LIRC_MODE2)),
    ("flow_dissector", False, SectionDef(_P.FLOW_DISSECTOR, _A.FLOW_DISSECTOR)),
    ("cgroup_skb/ingress", False, SectionDef(_P.CGROUP_SKB, _A.CGROUP_INET_INGRESS)),
    ("cgroup_skb/egress", False, SectionDef(_P.CGROUP_SKB, _A.CGROUP_INET_EGRESS)),
    ("cgroup/skb", False, SectionDef(_P.CGROUP_SKB, None)),
    ("cgroup/sock_create", False, SectionDef(_P.CGROUP_SOCK, _A.CGROUP_INET_SOCK_CREATE)),
    ("cgroup/sock_release", False, SectionDef(_P.CGROUP_SOCK, _A.CGROUP_INET_SOCK_RELEASE)),
    ("cgroup/sock", False, SectionDef(_P.CGROUP_SOCK, _A.CGROUP_INET_SOCK_CREATE)),
    ("cgroup/post_bind4", False, SectionDef(_P.CGROUP_SOCK, _A.CGROUP_INET4_POST_BIND)),
    ("cgroup/post_bind6", False, SectionDef(_P.CGROUP_SOCK, _A.CGROUP_INET6_POST_BIND)),
    ("cgroup/bind4", False, SectionDef(_P.CGROUP_SOCK_ADDR, _A.CGROUP_INET4_BIND)),
    ("cgroup/bind6", False, SectionDef(_P.CGROUP_SOCK_ADDR, _A.CGROUP_INET6_BIND)),
    ("cgroup/connect4", False, SectionDef(_P.CGROUP_SOCK_ADDR, _A.CGROUP_INET4_CONNECT)),
    ("cgroup/connect6", False, SectionDef(_P.CGROUP_SOCK_ADDR, _A.CGROUP_INET6_CONNECT)),
    ("cgroup/connect_unix", False, SectionDef(_P.CGROUP_SOCK_ADDR, _A.CGROUP_UNIX_CONNECT)),
    ("cgroup/sendmsg4", False, SectionDef(_P.CGROUP_SOCK_ADDR, _A.CGROUP_UDP4_SENDMSG)),
    ("cgroup/sendmsg6", False, SectionDef(_P.CGROUP_SOCK_ADDR, _A.CGROUP_UDP6_SENDMSG)),
    ("cgroup/sendmsg_unix", False, SectionDef(_P.CGROUP_SOCK_ADDR, _A.CGROUP_UNIX_SENDMSG)),
    ("cgroup/recvmsg4", False, SectionDef(_P.CGROUP_SOCK_ADDR, _A.CGROUP_UDP4_RECVMSG)),
    ("cgroup/recvmsg6", False, SectionDef(_P.CGROUP_SOCK_ADDR, _A.CGROUP_UDP6_RECVMSG)),
    ("cgroup/recvmsg_unix", False, SectionDef(_P.CGROUP_SOCK_ADDR, _A.CGROUP_UNIX_RECVMSG)),
    ("cgroup/getpeername4", False, SectionDef(_P.CGROUP_SOCK_ADDR, _A.CGROUP_INET4_GETPEERNAME)),
    ("cgroup/getpeername6", False, SectionDef(_P.CGROUP_SOCK_ADDR, _A.CGROUP_INET6_GETPEERNAME)),
    ("cgroup/getpeername_unix", False, SectionDef(_P.CGROUP_SOCK_ADDR, _A.CGROUP_UNIX_GETPEERNAME)),
    ("cgroup/getsockname4", False, SectionDef(_P.CGROUP_SOCK_ADDR, _A.CGROUP_INET4_GETSOCKNAME)),
    ("cgroup/getsockname6", False, SectionDef(_P.CGROUP_SOCK_ADDR, _A.CGROUP_INET6_GETSOCKNAME)),
    ("cgroup/getsockname_unix", False, SectionDef(_P.CGROUP_SOCK_ADDR, _A.CGROUP_UNIX_GETSOCKNAME)),
    ("cgroup/sysctl", False, SectionDef(_P.CGROUP_SYSCTL, _A.CGROUP_SYSCTL)),
    ("cgroup/getsockopt", False, SectionDef(_P.CGROUP_SOCKOPT, _A.CGROUP_GETSOCKOPT)),
    ("cgroup/setsockopt", False, SectionDef(_P.CGROUP_SOCKOPT, _A.CGROUP_SETSOCKOPT)),
    ("cgroup/dev", False, SectionDef(_P.CGROUP_DEVICE, _A.CGROUP_DEVICE)),
    ("struct_ops.s", True, SectionDef(_P.STRUCT_OPS, None, _S)),
    ("struct_ops", True, SectionDef(_P.STRUCT_OPS, None)),
    ("netfilter", False, SectionDef(_P.NETFILTER, _A.NETFILTER)),
]
_EXACT = {name: d for name, _, d in _SECTIONS}
_BTF_TARGET_BY_ATTACH = {d.attach_type: d.btf_target for _, _, d in _SECTIONS if d.btf_target}
_PREFIX = [(name + "/", d) for name, takes, d in _SECTIONS if takes]


def section_def(section: str) -> tuple[SectionDef, str] | None:
    """``(definition, target)`` for a libbpf-style section name, or None if unknown.

    ``target`` is the text after the prefix's ``/``: ``"syscalls/sys_enter_openat"``
    for ``tracepoint/syscalls/sys_enter_openat``, ``"do_unlinkat"`` for ``fentry/do_unlinkat``.
    """
    d = _EXACT.get(section)
    if d is not None:
        return d, ""
    for prefix, d in _PREFIX:
        if section.startswith(prefix):
            return d, section[len(prefix):]
    return None


class MapRef(NamedTuple):
    """An ``ld_imm64`` at ``insn`` that must receive map ``map``'s fd (``offset`` None)
    or the address of byte ``offset`` of its value (global data)."""
    insn: int
    map: str
    offset: int | None


class KsymRef(NamedTuple):
    """Instruction ``insn`` refers to kernel symbol ``name``: an ``ld_imm64`` of its address
    (``kind`` "addr", from kallsyms) or of its BTF id ("var"), or a kfunc call ("func").
    A missing ``weak`` symbol resolves to 0."""
    insn: int
    name: str
    kind: str
    weak: bool = False


@dataclass
class ProgramSpec:
    """A program ready to load: relocated instructions plus what the kernel needs to know.

    ``insns`` already have BPF-to-BPF calls fixed; ``map_refs`` and
    ``core_relos`` are applied at load time, when map fds and the target
    kernel's BTF are known.  ``attach_to`` is the attach target as written
    after the section prefix (tracepoint ``"category/name"``, a function name...).
    """

    name: str
    section: str
    prog_type: ProgType
    insns: bytes
    license: str = "GPL"
    expected_attach_type: AttachType | None = None
    attach_to: str = ""
    flags: int = 0
    kern_version: int = 0
    btf: BTF | None = None
    func_info: list[FuncInfo] = field(default_factory=list)
    line_info: list[LineInfo] = field(default_factory=list)
    map_refs: list[MapRef] = field(default_factory=list)
    core_relos: list = field(default_factory=list)
    btf_target: str = ""
    ksym_refs: list[KsymRef] = field(default_factory=list)

    @property
    def insn_count(self) -> int:
        """Number of 8-byte instruction slots."""
        return len(self.insns) // 8

    def with_type(self, prog_type: ProgType, attach_type: AttachType | None = None,
                  flags: int | None = None, attach_to: str | None = None) -> "ProgramSpec":
        """A copy with the type chosen by a front end (bcc's ``load_func``).

        ``attach_to`` names the target of BTF-attached types (the kernel
        function of fentry/fexit, the hook of LSM, the tracepoint of tp_btf,
        the iterator target).
        """
        attach = AttachType(attach_type) if attach_type is not None else None
        return replace(self, prog_type=ProgType(prog_type), expected_attach_type=attach,
                       flags=self.flags if flags is None else flags,
                       attach_to=self.attach_to if attach_to is None else attach_to,
                       btf_target=_BTF_TARGET_BY_ATTACH.get(attach, "") if attach is not None else "")


class Program(Closing):
    """A loaded program.  Closing (or dropping) it releases the kernel object."""

    def __init__(self, fd: FD, spec: ProgramSpec, attach_btf_id: int = 0, log: str = "") -> None:
        self.fd = fd
        self.spec = spec
        self.name = spec.name
        self.type = spec.prog_type
        self.attach_btf_id = attach_btf_id
        self.log = log  # the verifier's log, when loading asked for one (log_level > 0)

    def fileno(self) -> int:
        """The program's file descriptor."""
        return self.fd.fileno()

    def close(self) -> None:
        """Release the program (idempotent); attachments holding it keep it alive in the kernel."""
        self.fd.close()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran."""
        return self.fd.closed

    def test_run(self, data_in: bytes = b"", ctx_in: bytes = b"", repeat: int | None = None, *,
                 data_out_size: int = 0, ctx_out_size: int = 0, flags: int = 0,
                 cpu: int = 0) -> syscall.TestRunResult:
        """Run the program in the kernel on chosen input (BPF_PROG_TEST_RUN).

        ``repeat`` defaults to 1, or 0 for SYSCALL and RAW_TRACEPOINT programs,
        which the kernel only runs once and refuses a repeat count for.
        """
        if repeat is None:
            repeat = 0 if self.type in (ProgType.SYSCALL, ProgType.RAW_TRACEPOINT) else 1
        return syscall.prog_test_run(self.fileno(), data_in, ctx_in=ctx_in,
                                     data_out_size=data_out_size, ctx_out_size=ctx_out_size,
                                     repeat=repeat, flags=flags, cpu=cpu)

    def __repr__(self) -> str:
        return f"<Program {self.name!r} {self.type.name} {self.fd!r}>"


# ---------------------------------------------------------------- kernel and module BTF

_BTF_TARGET_PREFIX = {"tp_btf": "btf_trace_", "func": "", "lsm": "bpf_lsm_", "iter": "bpf_iter_"}


def attach_target(spec: ProgramSpec, modules: list[str] | None = None) -> tuple[int, str | None]:
    """``(attach_btf_id, module)`` of a tp_btf/fentry/fexit/LSM/iterator program: the
    target's id in vmlinux BTF (module None) or, when vmlinux lacks it, in the split
    BTF of the loaded module defining it (of ``modules`` when given).  ``(0, None)``
    for programs that attach by other means."""
    if not spec.btf_target:
        return 0, None
    if not spec.attach_to:
        raise ValueError(f"program {spec.name!r} ({spec.section}) needs an attach target after '/'")
    name = _BTF_TARGET_PREFIX[spec.btf_target] + spec.attach_to
    found = find_in_kernel(name, Kind.TYPEDEF if spec.btf_target == "tp_btf" else Kind.FUNC, modules)
    if found is None:
        what = {"tp_btf": "BTF tracepoint", "func": "kernel function", "lsm": "LSM hook",
                "iter": "BPF iterator"}[spec.btf_target]
        raise AttachTargetNotFound(f"program {spec.name!r}: no {what} {spec.attach_to!r} in the BTF of the"
                                   f" kernel or its loaded modules (looked for {name})")
    return found[1].id, found[0]


def module_btf_fd(module: str) -> FD:
    """An fd of the kernel BTF object of loaded module ``module`` (found by walking BTF ids)."""
    for btf_id in syscall.iter_ids("btf"):
        try:
            fd = syscall.fd_by_id("btf", btf_id)
        except OSError:  # freed since it was listed
            continue
        try:
            name, is_kernel = syscall.btf_object_name(fd.fileno())
        except BaseException:
            fd.close()
            raise
        if is_kernel and name == module:
            return fd
        fd.close()
    raise AttachTargetNotFound(f"kernel module {module!r} has no BTF object (was it unloaded?)")


class ModuleBtfFds(Closing):
    """The module BTF fds one program load refers to, opened on first use.

    A kfunc call names its module by ``insn.off``, an index into the load's
    ``fd_array`` (slot 0 stays unused: off 0 means vmlinux); a typed ``__ksym``
    names it by fd.  The kernel takes its own references during the load,
    so close this once the program is loaded.
    """

    def __init__(self, open_fd: Callable[[str], FD] = module_btf_fd) -> None:
        self._open = open_fd
        self._fds: dict[str, FD] = {}

    def fd(self, module: str) -> int:
        """The fd of ``module``'s BTF object."""
        fd = self._fds.get(module)
        if fd is None:
            fd = self._fds[module] = self._open(module)
        return fd.fileno()

    def index(self, module: str) -> int:
        """``module``'s slot in :meth:`fd_array` (>= 1)."""
        self.fd(module)
        return list(self._fds).index(module) + 1

    def fd_array(self) -> list[int]:
        """The ``fd_array`` of BPF_PROG_LOAD ([] when no module is used)."""
        return [0, *(fd.fileno() for fd in self._fds.values())] if self._fds else []

    def close(self) -> None:
        """Close every module BTF fd (idempotent)."""
        for fd in self._fds.values():
            fd.close()
        self._fds.clear()


# ---------------------------------------------------------------- loading

_INSN_LINE = r"(?m)^(\d+): \([0-9a-f]{2}\)"  # compiled on first use: only for verifier errors

_UNSUPPORTED = {
    (ProgType.TRACING, AttachType.TRACE_FENTRY): "fentry/fexit (BPF trampolines)",
    (ProgType.TRACING, AttachType.TRACE_FEXIT): "fentry/fexit (BPF trampolines)",
    (ProgType.TRACING, AttachType.MODIFY_RETURN): "fmod_ret (BPF trampolines)",
    (ProgType.LSM, AttachType.LSM_MAC): "BPF LSM",
    (ProgType.LSM, AttachType.LSM_CGROUP): "BPF LSM",
}


def source_location(spec: ProgramSpec, insn: int) -> tuple[SourceLocation | None, str | None]:
    """The user's file:line (and the line's text) that instruction ``insn`` came from."""
    if spec.btf is None or not spec.line_info:
        return None, None
    best = None
    for rec in spec.line_info:
        if rec.insn <= insn and (best is None or rec.insn >= best.insn):
            best = rec
    if best is None:
        return None, None
    try:
        fname = spec.btf.string(best.file_name_off)
        text = spec.btf.string(best.line_off)
    except Exception:  # a location is a courtesy: never hide the verifier's message
        return None, None
    return SourceLocation(fname, best.line, best.col), (text or None)


def failing_insn(log: str) -> int | None:
    """The index of the last instruction the verifier printed (where it gave up)."""
    found = re.findall(_INSN_LINE, log)
    return int(found[-1]) if found else None


def load_program(spec: ProgramSpec, insns: bytes | None = None, *, btf_fd: int = 0,
                 attach_btf: int = -1, attach_prog_fd: int = 0, ifindex: int = 0,
                 fd_array: Sequence[int] = (), log_level: int = 0) -> Program:
    """BPF_PROG_LOAD ``spec`` (``insns`` overrides its instructions once maps are patched in).

    ``attach_btf`` overrides the BTF id of the attach target (default: found
    by :func:`attach_target`, in vmlinux or a loaded module's BTF);
    ``fd_array`` holds the module BTF fds kfunc calls name by index
    (:meth:`ModuleBtfFds.fd_array`).  On failure the load is retried with
    the verifier log on, and the error carries the log and the source line
    of the failing instruction.
    """
    code = spec.insns if insns is None else insns
    btf_id, module = attach_target(spec) if attach_btf < 0 else (attach_btf, None)
    use_btf = btf_fd if spec.btf is not None else 0
    kwargs = dict(
        name=spec.name, expected_attach_type=int(spec.expected_attach_type or 0),
        prog_flags=spec.flags, kern_version=spec.kern_version, btf_fd=use_btf,
        func_info=pack_func_info(spec.func_info) if use_btf else b"",
        func_info_rec_size=FUNC_INFO_SIZE,
        line_info=pack_line_info(spec.line_info) if use_btf else b"",
        line_info_rec_size=LINE_INFO_SIZE, attach_btf_id=btf_id,
        attach_prog_fd=attach_prog_fd, ifindex=ifindex, fd_array=fd_array)
    if module is None:
        return _load(spec, code, btf_id, log_level, kwargs)
    with module_btf_fd(module) as mod_fd:  # the kernel keeps its own reference to the target's BTF
        return _load(spec, code, btf_id, log_level, dict(kwargs, attach_btf_obj_fd=mod_fd.fileno()))


def _load(spec: ProgramSpec, code: bytes, btf_id: int, log_level: int, kwargs: dict) -> Program:
    fd, err, log = syscall.prog_load(spec.prog_type, code, spec.license, log_level=log_level, **kwargs)
    if fd >= 0:
        return Program(FD(fd, "prog"), spec, btf_id, log)
    _raise_unsupported(spec, err)
    for size in _LOG_SIZES:
        fd, err, log = syscall.prog_load(spec.prog_type, code, spec.license,
                                         log_level=log_level or 1, log_size=size, **kwargs)
        if fd >= 0:  # loads with a log but not without: keep it, the kernel accepted it
            return Program(FD(fd, "prog"), spec, btf_id, log)
        if err != _errno.ENOSPC:
            break
    _raise_unsupported(spec, err)
    if not log.strip():
        raise syscall_error("BPF_PROG_LOAD", err, f"loading program {spec.name!r} ({spec.prog_type.name})")
    _raise_missing_ksym_address(spec, log)
    _raise_missing_kfunc_call(spec, code, log)
    insn = failing_insn(log)
    loc, source = source_location(spec, insn) if insn is not None else (None, None)
    if f"#{POISON_HELPER}" in log:
        log += ("\nnote: the failing instruction comes from a CO-RE relocation that could not be"
                " resolved against this kernel's BTF")
    raise VerifierError(spec.name, err, log, loc, source)


_NO_KSYM_ADDRESS = re.compile(r"ldimm64 failed to find the address for kernel symbol '([^']+)'")


def _raise_missing_ksym_address(spec: ProgramSpec, log: str) -> None:
    """A typed ``__ksym`` that kernel BTF has but kallsyms lacks: say why, in one line."""
    found = _NO_KSYM_ADDRESS.search(log)
    if found is None:
        return
    from .loader import kernel_config  # only on this error path
    try:
        all_syms = kernel_config().get("CONFIG_KALLSYMS_ALL") == "y"
    except NotSupported:
        all_syms = True  # unknown: do not blame the config
    why = ("kallsyms has no address for it" if all_syms else
           "kallsyms lists no data symbols because CONFIG_KALLSYMS_ALL is not set")
    raise NotSupported(f"typed __ksym {found.group(1)!r}",
                       f"program {spec.name!r} needs its address and the verifier's lookup failed: {why}")


def _raise_missing_kfunc_call(spec: ProgramSpec, code: bytes, log: str) -> None:
    """The verifier reached a call of an absent ``__weak`` kfunc (left with BTF id 0)."""
    for ref in spec.ksym_refs:
        if ref.kind == "func" and ref.weak and code[ref.insn * 8] == BPF_CALL \
                and code[ref.insn * 8 + 4:ref.insn * 8 + 8] == bytes(4) \
                and re.search(rf"(?m)^{ref.insn}: \(85\) call #0\b", log):
            raise NotSupported(f"kfunc {ref.name!r}", f"program {spec.name!r} calls it where no"
                               " bpf_ksym_exists() check guards the call (the verifier only drops dead calls)")


def _raise_unsupported(spec: ProgramSpec, err: int) -> None:
    feature = _UNSUPPORTED.get((spec.prog_type, spec.expected_attach_type))
    if feature is not None and err in (_errno.EPERM, _errno.EOPNOTSUPP, _ENOTSUPP):
        raise NotSupported(feature, f"BPF_PROG_LOAD of {spec.name!r} ({spec.section}) failed with "
                                    f"{_errno.errorcode.get(err, err)}")
