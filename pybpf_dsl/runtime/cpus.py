"""Which CPUs exist: the kernel's online and possible CPU lists.

Per-CPU maps have one slot per *possible* CPU; perf events and perf
buffers are opened on every *online* CPU.  Both lists come from sysfs in
the kernel's range syntax (``0-3,8,10-11``).
"""

from __future__ import annotations

from functools import lru_cache

__all__ = ["parse_cpu_list", "online_cpus", "possible_cpus", "num_possible_cpus"]

_SYS_CPU = "/sys/devices/system/cpu/"


def parse_cpu_list(text: str) -> list[int]:
    """Expand a kernel CPU list such as ``"0-3,8,10-11\\n"`` into sorted CPU numbers.

    An empty string gives an empty list; a malformed one raises ValueError.
    """
    cpus: set[int] = set()
    for part in text.strip().split(","):
        if not part:
            continue
        first, sep, last = part.partition("-")
        lo = int(first)
        hi = int(last) if sep else lo
        if lo < 0 or hi < lo:
            raise ValueError(f"bad CPU range {part!r} in CPU list {text.strip()!r}")
        cpus.update(range(lo, hi + 1))
    return sorted(cpus)


def _read(name: str) -> list[int]:
    with open(_SYS_CPU + name) as f:
        return parse_cpu_list(f.read())


def online_cpus() -> list[int]:
    """CPUs online right now (read fresh each call: CPUs can go on- and offline)."""
    return _read("online")


@lru_cache(maxsize=None)
def _possible() -> tuple[int, ...]:
    return tuple(_read("possible"))


def possible_cpus() -> list[int]:
    """CPUs that can ever exist on this boot (fixed until reboot, so cached)."""
    return list(_possible())


def num_possible_cpus() -> int:
    """How many slots a per-CPU map value has: highest possible CPU + 1."""
    cpus = _possible()
    return cpus[-1] + 1 if cpus else 1
