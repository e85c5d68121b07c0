"""Inspection flags, like bcc's ``debug=`` bits: ``load(..., debug=DEBUG_LLVM_IR | DEBUG_SOURCE)``.

* ``DEBUG_LLVM_IR``: print the LLVM IR handed to LLVM (before optimisation);
* ``DEBUG_BPF``: print the BPF assembly;
* ``DEBUG_SOURCE``: print the BPF assembly with the Python source lines interleaved;
* ``DEBUG_WRITE_OBJECT``: write the object to ``<first probe>.bpf.o`` in the
  current directory (inspect it with ``llvm-objdump -S`` or ``bpftool``).

The same is available without loading: ``compile_programs(...).llvm_ir``,
``.assembly()``, ``.write(path)``.  Debugging disables the object cache.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["DEBUG_LLVM_IR", "DEBUG_BPF", "DEBUG_SOURCE", "DEBUG_WRITE_OBJECT", "show"]

DEBUG_LLVM_IR = 0x1
DEBUG_BPF = 0x2
DEBUG_SOURCE = 0x8
DEBUG_WRITE_OBJECT = 0x40


def show(compiled: Any, flags: int, out: Any = None) -> None:
    """Print (to ``out``, default stderr) or write what ``flags`` ask for."""
    out = out or sys.stderr
    if flags & DEBUG_LLVM_IR:
        print(compiled.llvm_ir, file=out)
    if flags & DEBUG_SOURCE:
        print(compiled.assembly(interleave_source=True), file=out)
    elif flags & DEBUG_BPF:
        print(compiled.assembly(interleave_source=False), file=out)
    if flags & DEBUG_WRITE_OBJECT:
        path = f"{compiled.programs[0].name}.bpf.o"
        compiled.write(path)
        print(f"wrote {path}", file=out)
