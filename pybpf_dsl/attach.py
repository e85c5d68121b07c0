"""Attaching a loaded DSL program the way its decorator says, through the runtime's attach modules.

Options come from the decorator (``@uprobe("c:malloc", pid=1234)``,
``@xdp(dev="eth0")``, ``@perf_event(sample_freq=49)``) and may be
overridden when attaching by hand (``prog.attach(on_pkt, dev="veth0")``).
Programs that need a place to attach to (xdp, tc, socket_filter, cgroup,
syscall, sock_ops (``cgroup=``), sk_msg and sk_skb (``map=``) programs) are only loaded
when the place is not given.
"""

from __future__ import annotations

from typing import Any

from .runtime.attach.link import Link
from .runtime.uapi import AttachType, PerfSwConfig, PerfType

__all__ = ["attach_probe", "needs_target"]


def needs_target(kind: str, options: dict[str, Any]) -> bool:
    """True when a ``kind`` program cannot be attached without an option that is missing."""
    want = {"xdp": "dev", "tc": "dev", "socket_filter": "sock", "cgroup_skb": "cgroup",
            "cgroup_sock": "cgroup", "sock_ops": "cgroup", "sk_msg": "map", "sk_skb": "map"}.get(kind)
    return kind == "syscall_prog" or (want is not None and want not in options)


def _split_binary(target: str) -> tuple[str, str]:
    binary, sep, rest = target.rpartition(":")
    if not sep:
        raise ValueError(f"uprobe target {target!r} must be 'binary:symbol' (e.g. 'c:malloc')")
    return binary, rest


def attach_probe(prog: Any, kind: str, target: str, options: dict[str, Any]) -> Link:
    """Attach the loaded program ``prog`` (a runtime Program) as a ``kind`` probe on ``target``."""
    o = dict(options)
    if kind == "tracepoint":
        from .runtime.attach.tracepoint import attach_tracepoint
        return attach_tracepoint(prog, target)
    if kind == "raw_tracepoint":
        from .runtime.attach.raw_tracepoint import attach_raw_tracepoint
        return attach_raw_tracepoint(prog, target)
    if kind == "tp_btf":
        from .runtime.attach.raw_tracepoint import attach_tp_btf
        return attach_tp_btf(prog)
    if kind in ("kprobe", "kretprobe", "syscall"):
        from .runtime.attach.kprobe import attach_kprobe, get_syscall_fnname
        symbol = get_syscall_fnname(target) if kind == "syscall" else target
        return attach_kprobe(prog, symbol, o.get("offset", 0), retprobe=kind == "kretprobe")
    if kind in ("uprobe", "uretprobe"):
        from .runtime.attach.uprobe import attach_uprobe
        binary, symbol = _split_binary(target)
        return attach_uprobe(prog, binary, symbol, offset=o.get("offset", 0), pid=o.get("pid", -1),
                             retprobe=kind == "uretprobe")
    if kind == "usdt":
        from .runtime.attach.usdt import attach_usdt
        binary, provider, name = target.rsplit(":", 2)
        return attach_usdt(prog, binary, provider, name, pid=o.get("pid", -1))
    if kind in ("fentry", "fexit", "lsm"):
        from .runtime.attach.fentry import attach_tracing
        return attach_tracing(prog)
    if kind == "iter":
        from .runtime.attach.iterator import attach_iter
        return attach_iter(prog, **o)
    if kind == "perf_event":
        from .runtime.attach.perf_event import attach_perf_event
        if not o.get("sample_period") and not o.get("sample_freq"):
            o["sample_freq"] = 49
        return attach_perf_event(prog, o.pop("ev_type", PerfType.SOFTWARE),
                                 o.pop("ev_config", PerfSwConfig.CPU_CLOCK), **o)
    if kind == "xdp":
        from .runtime.attach.xdp import attach_xdp
        return attach_xdp(prog, o["dev"], o.get("flags", 0))
    if kind == "tc":
        from .runtime.attach.tc import attach_tc
        return attach_tc(prog, o["dev"], o.get("direction", "ingress"))
    if kind == "socket_filter":
        from .runtime.attach.socket import attach_socket_filter
        return attach_socket_filter(prog, o["sock"])
    if kind in ("cgroup_skb", "cgroup_sock"):
        from .runtime.attach.cgroup import attach_cgroup
        attach_type = (AttachType.CGROUP_INET_SOCK_CREATE if kind == "cgroup_sock" else
                       AttachType.CGROUP_INET_EGRESS if target == "egress" else AttachType.CGROUP_INET_INGRESS)
        return attach_cgroup(prog, o["cgroup"], attach_type)
    if kind == "sock_ops":
        from .runtime.attach.cgroup import attach_cgroup
        return attach_cgroup(prog, o["cgroup"], AttachType.CGROUP_SOCK_OPS)
    if kind in ("sk_msg", "sk_skb"):
        from .runtime.attach.sockmap import attach_sockmap
        how = "sk_msg_verdict" if kind == "sk_msg" else f"sk_skb_{target}"
        from .runtime.tables.elements import fd_of
        return attach_sockmap(prog, fd_of(o["map"]), how)
    raise ValueError(f"{kind} programs are not attached automatically")
