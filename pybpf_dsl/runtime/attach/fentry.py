"""fentry / fexit / fmod_ret / LSM programs: BPF trampolines on kernel functions.

Such a program is loaded with ``attach_btf_id`` naming its target in kernel
BTF (:func:`kernel_func_btf_id`, :func:`lsm_hook_btf_id`); attaching then
needs no name: :func:`attach_tracing` opens the BPF link.  Kernels without
trampolines refuse the load itself (the loader reports NotSupported through
``features.require("fentry")``).
"""

from __future__ import annotations

from typing import Any

from ...errors import AttachTargetNotFound
from .. import syscall
from ..uapi import AttachType
from .link import Link
from .progfd import prog_fd
from .raw_tracepoint import named_link

__all__ = ["attach_tracing", "kernel_func_btf_id", "lsm_hook_btf_id"]

_LSM_PREFIX = "bpf_lsm_"
_KINDS = {AttachType.TRACE_FENTRY: "fentry", AttachType.TRACE_FEXIT: "fexit",
          AttachType.MODIFY_RETURN: "fmod_ret", AttachType.LSM_MAC: "lsm",
          AttachType.TRACE_RAW_TP: "tp_btf"}


def kernel_func_btf_id(name: str, module: str | None = None) -> int:
    """The BTF id of kernel function ``name`` (in ``module``'s split BTF when given),
    the ``attach_btf_id`` of an fentry/fexit/fmod_ret program on it."""
    from ..btf import Kind, kernel_btf, module_btf
    btf = module_btf(module) if module else kernel_btf()
    try:
        return btf.find_id(name, Kind.FUNC)
    except KeyError:
        close = _close_funcs(btf, name)
        hint = f" (did you mean {' or '.join(close)}?)" if close else ""
        where = f"module {module}" if module else "the kernel"
        raise AttachTargetNotFound(f"no function {name!r} in the BTF of {where}{hint}") from None


def lsm_hook_btf_id(hook: str) -> int:
    """The ``attach_btf_id`` of an LSM program on ``hook`` (``file_open`` or ``bpf_lsm_file_open``)."""
    name = hook if hook.startswith(_LSM_PREFIX) else _LSM_PREFIX + hook
    try:
        return kernel_func_btf_id(name)
    except AttachTargetNotFound:
        raise AttachTargetNotFound(f"no LSM hook {hook!r} in kernel BTF (no function {name})") from None


def _close_funcs(btf: Any, name: str) -> list[str]:
    import difflib  # only to word an error

    from ..btf import Kind

    names = [t.name for t in btf.iter_types(Kind.FUNC) if abs(len(t.name) - len(name)) <= 2]
    return difflib.get_close_matches(name, names, n=3, cutoff=0.8)


def attach_tracing(prog: Any, attach_type: int | None = None, cookie: int = 0) -> Link:
    """Attach an fentry/fexit/fmod_ret/LSM (or tp_btf) program to its load-time target.

    Without ``attach_type`` this uses BPF_RAW_TRACEPOINT_OPEN (Linux 5.5+);
    with it (the program's expected_attach_type) BPF_LINK_CREATE, which also
    carries ``cookie`` (Linux 5.19+).
    """
    fd = prog_fd(prog)
    if attach_type is None:
        if cookie:
            raise ValueError("a cookie needs the program's attach_type (BPF_LINK_CREATE)")
        link = syscall.raw_tracepoint_open(None, fd)
        kind = "tracing"
    else:
        kind = _KINDS.get(AttachType(attach_type), "tracing")
        extra = {"tracing": {"cookie": cookie}} if cookie else {}
        link = syscall.link_create(fd, 0, attach_type, what=f"attaching {kind} program", **extra)
    return named_link(kind, fd, link, _LSM_PREFIX if kind == "lsm" else "")
