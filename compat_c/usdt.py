"""bcc's ``USDT`` context for compat_c programs.

The runtime's :class:`pybpf_dsl.runtime.attach.usdt.USDT` finds the probes,
attaches them (one uprobe per location, the location index as cookie) and
generates a C reader ``_bpf_readarg_<fn>_<n>`` per argument.  This subclass
adapts it to bcc's C side:

* ``bpf_usdt_readarg(n, ctx, &v)`` calls the runtime's value reader
  ``_bpf_readarg_<fn>_<n>``; ``bpf_usdt_readarg_p(n, ctx, buf, len)`` calls
  ``__bcc_readarg_p_<fn>_<n>``, defined here, which reads the argument as a
  user pointer and copies ``len`` bytes from it (whatever ``len`` is);
* readers are marked ``used`` so clang emits them although the call to them
  only appears once compat_c's IR pass has rewritten ``bpf_usdt_readarg``;
* probe and function names may be bytes, as bcc tools pass them;
* ``enumerate_probes()`` returns bcc's probe objects (:class:`USDTProbe`:
  bytes ``provider``/``name``/``bin_path``, ``get_location(i)``, locations
  with ``get_argument(i)`` printing as bcc's tplist shows them).
"""

from __future__ import annotations

import re

from pybpf_dsl.runtime.attach.usdt import USDT as _RuntimeUSDT
from pybpf_dsl.runtime.attach.usdt import USDTException
from pybpf_dsl.runtime.usdt import UsdtArg, UsdtLocation, UsdtProbe

__all__ = ["USDT", "USDTException", "USDTProbe", "USDTProbeLocation", "USDTProbeArgument"]

_HEAD = "static inline __attribute__((always_inline)) int _bpf_readarg_"
_READER = re.compile(re.escape(_HEAD) + r"(\w+)\(")


def _pointer_reader(suffix: str) -> str:
    """``__bcc_readarg_p_<suffix>``: the argument is a user pointer; copy ``len`` bytes from it."""
    return (f"static inline __attribute__((always_inline, used)) int __bcc_readarg_p_{suffix}"
            "(struct pt_regs *ctx, void *dest, unsigned long len) {\n"
            "  unsigned long long p = 0;\n"
            f"  if (_bpf_readarg_{suffix}(ctx, &p, 8)) return -1;\n"
            "  return bpf_probe_read_user(dest, len, (void *)p);\n"
            "}\n")


class USDTProbeArgument:
    """One argument location of a probe, printed like bcc: ``8 signed   bytes @ *(bp - 24)``."""

    def __init__(self, arg: UsdtArg) -> None:
        self.arg = arg
        self.size = arg.size
        self.signed = arg.signed

    def _format(self) -> str:
        a = self.arg
        if a.kind == "const":
            return "%d" % a.value
        if a.kind == "reg":
            return a.reg or "?"
        index = f" + {a.index_reg}" + (f" * {a.scale}" if a.scale != 1 else "") if a.index_reg else ""
        return f"*({a.reg} {'+' if a.offset >= 0 else '-'} {abs(a.offset)}{index})"

    def __str__(self) -> str:
        return f"{self.size} {'signed  ' if self.signed else 'unsigned'} bytes @ {self._format()}"


class USDTProbeLocation:
    """One place a probe fires: ``address``, ``bin_path`` (bytes), ``get_argument(i)``."""

    def __init__(self, probe: "USDTProbe", index: int, location: UsdtLocation) -> None:
        self.probe = probe
        self.index = index
        self.location = location
        self.num_arguments = len(location.args)
        self.address = location.pc
        self.bin_path = location.path.encode()

    def get_argument(self, index: int) -> USDTProbeArgument:
        if not 0 <= index < self.num_arguments:
            raise USDTException(f"error retrieving probe argument {index} location {self.index}")
        return USDTProbeArgument(self.location.args[index])

    def __str__(self) -> str:
        return f"{self.bin_path.decode()} 0x{self.address:x}"


class USDTProbe:
    """bcc's view of a probe: bytes ``provider``, ``name``, ``bin_path``; ``get_location(i)``."""

    def __init__(self, probe: UsdtProbe) -> None:
        self.probe = probe
        self.provider = probe.provider.encode()
        self.name = probe.name.encode()
        self.bin_path = probe.path.encode()
        self.semaphore = probe.semaphore
        self.num_locations = probe.num_locations
        self.num_arguments = probe.num_arguments

    def short_name(self) -> str:
        return f"{self.probe.provider}:{self.probe.name}"

    def get_location(self, index: int) -> USDTProbeLocation:
        if not 0 <= index < self.num_locations:
            raise USDTException(f"error retrieving probe location {index}")
        return USDTProbeLocation(self, index, self.probe.locations[index])

    def __str__(self) -> str:
        return f"{self.short_name()} [sema 0x{self.semaphore:x}]"


class USDT(_RuntimeUSDT):
    """``USDT(pid=..., path=...)``: pass it to ``BPF(usdt_contexts=[u])`` after ``enable_probe``."""

    def get_context(self) -> "USDT":
        """bcc hands this to libbcc; here the context is the object itself."""
        return self

    def enumerate_probes(self) -> list[USDTProbe]:  # type: ignore[override]
        """Every probe of the process or binary, as bcc's probe objects."""
        return [USDTProbe(p) for p in super().enumerate_probes()]

    def get_text(self) -> str:
        """The C argument readers for every enabled probe, to prepend to the program."""
        text = super().get_text()
        suffixes = [m.group(1) for m in _READER.finditer(text)]
        # the calls only appear once compat_c.irpass has rewritten the markers: keep the readers
        text = text.replace(_HEAD, "static inline __attribute__((always_inline, used)) int _bpf_readarg_")
        return text + "".join(_pointer_reader(s) for s in suffixes)
