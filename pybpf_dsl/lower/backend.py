"""Pass 5: verify the LLVM module, optimise it (O2) and emit a BPF ELF object or assembly."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from ..errors import CompileError

__all__ = ["optimise", "emit_object", "emit_assembly"]


@lru_cache(maxsize=1)
def _target_machine() -> Any:
    import llvmlite.binding as llvm
    llvm.initialize_all_targets()
    llvm.initialize_all_asmprinters()
    target = llvm.Target.from_triple("bpfel")
    return target.create_target_machine(cpu="v3", opt=2, codemodel="small")


def optimise(ir_text: str) -> Any:
    """Parse and verify ``ir_text`` (never handing LLVM unchecked IR), then run the O2 pipeline."""
    import llvmlite.binding as llvm
    tm = _target_machine()
    try:
        mod = llvm.parse_assembly(ir_text)
        mod.verify()
    except RuntimeError as exc:
        raise CompileError(f"internal compiler error: generated LLVM IR is invalid: {exc}",
                           hint="please report this with the function that triggered it") from None
    pb = llvm.create_pass_builder(tm, llvm.create_pipeline_tuning_options(speed_level=2))
    pb.getModulePassManager().run(mod, pb)
    mod.verify()
    return mod


def emit_object(mod: Any) -> bytes:
    """The ELF relocatable object for an optimised module."""
    return _target_machine().emit_object(mod)


def emit_assembly(mod: Any) -> str:
    """BPF assembly text (with .loc lines naming the user's source)."""
    return _target_machine().emit_assembly(mod)
