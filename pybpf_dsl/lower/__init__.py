"""The DSL compiler: explicit passes from Python source to a BPF ELF object.

1. :mod:`.source`   parse the function with the user's file/line/col on every node
2. :mod:`.typer`    resolve names, infer and check types (the typed IR)
3. :mod:`.codegen`  typed IR -> LLVM IR with debug locations and BTF-ready DI types
4. :mod:`.backend`  verify, optimise (O2) and emit the object / assembly

:mod:`.interp` runs the same typed IR in CPython with the same semantics.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import CompileError

__all__ = ["CompiledObject", "compile_programs"]


@dataclass
class CompiledObject:
    """The result of compiling programs: the ELF bytes plus what produced them."""

    elf: bytes
    llvm_ir: str
    programs: list[Any]
    maps: list[Any] = field(default_factory=list)
    prints: list[Any] = field(default_factory=list)
    _module: Any = None

    def assembly(self, interleave_source: bool = True) -> str:
        """BPF assembly; with ``interleave_source`` each block is preceded by its Python line."""
        from .backend import emit_assembly
        from .inspect import interleave
        text = emit_assembly(self._module, self.programs[0].typed().filename if self.programs else None)
        return interleave(text) if interleave_source else text

    def write(self, path: str) -> None:
        """Write the object file (inspect it with llvm-objdump -S or bpftool)."""
        with open(path, "wb") as f:
            f.write(self.elf)


def compile_programs(*programs: Any, license: str = "GPL") -> CompiledObject:
    """Compile ProgramDefs (and every function and map they reach) into one object."""
    from .backend import emit_object, optimise
    from ..maps import MapDecl
    from .codegen import ModuleGen
    if not programs:
        raise ValueError("compile_programs() needs at least one program")
    typed = [p.typed() for p in programs]
    mg = ModuleGen(programs[0].name, typed[0].filename)
    for p in programs:
        mg.function(p, program=True)
        for opt in p.options.values():    # e.g. @sk_skb(..., map=socks): the map it attaches to
            if isinstance(opt, MapDecl):
                mg.map_global(opt)
    mg.license(license)
    mg.finish()
    text = str(mg.module)
    mod = optimise(text)
    from .stackcheck import check_module
    stack_error = check_module(mod, mg.slot_sites)
    try:
        elf = emit_object(mod, typed[0].filename)
    except CompileError as exc:
        if stack_error is not None and "stack" in exc.message:
            raise stack_error from None     # the same failure, named by the largest slot's line
        raise
    return CompiledObject(elf, text, list(programs), list(mg.map_globals), mg.print_sites, mod)
