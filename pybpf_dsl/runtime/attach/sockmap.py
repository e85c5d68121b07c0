"""Attach sk_msg and sk_skb programs to a sockmap or sockhash.

The program runs for every socket in the map: ``sk_msg_verdict`` on
sendmsg, ``sk_skb_stream_parser``/``sk_skb_stream_verdict`` (or
``sk_skb_verdict``) on received data.  Sockmap links (6.10+) are used when
the kernel has them, BPF_PROG_ATTACH on the map FD otherwise.
"""

from __future__ import annotations

from typing import Any

from ..uapi import AttachType
from .link import Link
from .progattach import attach_prog, attach_type_of

__all__ = ["attach_sockmap", "SOCKMAP_ATTACH_TYPES"]

SOCKMAP_ATTACH_TYPES = frozenset({AttachType.SK_MSG_VERDICT, AttachType.SK_SKB_STREAM_PARSER,
                                  AttachType.SK_SKB_STREAM_VERDICT, AttachType.SK_SKB_VERDICT})


def attach_sockmap(prog: Any, sockmap: int | Any, attach_type: int | str, *, mode: str = "auto") -> Link:
    """Attach ``prog`` to ``sockmap`` (an int FD or an object with ``fileno()``).

    ``attach_type`` is one of SOCKMAP_ATTACH_TYPES or its name, e.g.
    ``"sk_skb_stream_verdict"``.
    """
    atype = attach_type_of(attach_type)
    if atype not in SOCKMAP_ATTACH_TYPES:
        names = ", ".join(sorted(t.name.lower() for t in SOCKMAP_ATTACH_TYPES))
        raise ValueError(f"{atype.name.lower()} is not a sockmap attach type; use one of {names}")
    fd = sockmap if isinstance(sockmap, int) else sockmap.fileno()
    return attach_prog(prog, fd, atype, mode=mode, kind="sockmap", target=f"sockmap fd {fd}")
