"""``bcc.tcp``: TCP state names and header flag names for printing."""

from __future__ import annotations

__all__ = ["tcpstate", "flags2str", "state2str", "TCPHDR_FIN", "TCPHDR_SYN", "TCPHDR_RST", "TCPHDR_PSH",
           "TCPHDR_ACK", "TCPHDR_URG", "TCPHDR_ECE", "TCPHDR_CWR"]

# enum of include/net/tcp_states.h, numbered from TCP_ESTABLISHED = 1
tcpstate: dict[int, str] = dict(enumerate((
    "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT", "CLOSE", "CLOSE_WAIT",
    "LAST_ACK", "LISTEN", "CLOSING", "NEW_SYN_RECV", "BOUND_INACTIVE"), start=1))

TCPHDR_FIN, TCPHDR_SYN, TCPHDR_RST, TCPHDR_PSH = 0x01, 0x02, 0x04, 0x08
TCPHDR_ACK, TCPHDR_URG, TCPHDR_ECE, TCPHDR_CWR = 0x10, 0x20, 0x40, 0x80
_FLAG_NAMES = (("FIN", TCPHDR_FIN), ("SYN", TCPHDR_SYN), ("RST", TCPHDR_RST), ("PSH", TCPHDR_PSH),
               ("ACK", TCPHDR_ACK), ("URG", TCPHDR_URG), ("ECE", TCPHDR_ECE), ("CWR", TCPHDR_CWR))


def flags2str(flags: int) -> str:
    """``"SYN|ACK"`` for the TCP header flags set in ``flags``."""
    return "|".join(name for name, bit in _FLAG_NAMES if flags & bit)


def state2str(state: int) -> str:
    """The name of TCP state ``state`` (its number when unknown)."""
    return tcpstate.get(state, str(state))
