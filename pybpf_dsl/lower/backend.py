"""Pass 5: verify the LLVM module, optimise it (O2) and emit a BPF ELF object or assembly."""

from __future__ import annotations

from functools import lru_cache
import os
import re
from typing import Any, Callable

from ..errors import CompileError, SourceLocation

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


def emit_object(mod: Any, filename: str | None = None) -> bytes:
    """The ELF relocatable object for an optimised module (``filename``: the user's source, for errors)."""
    return _guarded(_target_machine().emit_object, mod, filename)


def emit_assembly(mod: Any, filename: str | None = None) -> str:
    """BPF assembly text (with .loc lines naming the user's source)."""
    return _guarded(_target_machine().emit_assembly, mod, filename)


_LLVM_ERROR = re.compile(r"^(\S+?):(\d+):(\d+): (?:in function (\w+) [^:]*: )?(.*)$")


def _backend_error(text: str, filename: str | None) -> CompileError:
    """A CompileError (at the user's line when LLVM names it) for the backend's fatal message."""
    text = " ".join(text.split()).removeprefix("error: ")
    stack = "stack limit" in text
    hint = ("keep large structs/arrays in a per-CPU array map (PerCpuArray[u32, T], key 0) as scratch space"
            if stack else "please report this with the function that triggered it")
    m = _LLVM_ERROR.match(text)
    if m is None:
        return CompileError(text or "LLVM's BPF backend failed", hint=hint)
    file, line, col, fn, msg = m.group(1), int(m.group(2)), int(m.group(3)), m.group(4), m.group(5)
    if filename and os.path.basename(filename) == os.path.basename(file):
        file = filename
    if stack:
        msg = f"{fn or 'this function'}() needs more than BPF's 512 bytes of stack (counting LLVM's register spills)"
    return CompileError(msg, SourceLocation(file, line, max(col - 1, 0)), hint)


def _guarded(emit: Callable[[Any], Any], mod: Any, filename: str | None) -> Any:
    """``emit(mod)`` in a forked child: the BPF backend reports some errors (stack
    overflow from spills, an un-lowerable memset/memcpy libcall) as fatal errors
    that exit the process, so they must not happen in the user's process."""
    import pickle
    data_r, data_w = os.pipe()
    err_r, err_w = os.pipe()
    pid = os.fork()
    if pid == 0:                                   # child: emit, send, exit without cleanup
        try:
            os.close(data_r)
            os.close(err_r)
            os.dup2(err_w, 2)
            out = pickle.dumps(emit(mod))
            with os.fdopen(data_w, "wb") as f:
                f.write(out)
        finally:
            os._exit(0)
    os.close(data_w)
    os.close(err_w)
    with os.fdopen(data_r, "rb") as f:
        out = f.read()
    with os.fdopen(err_r, "rb") as f:
        err = f.read().decode(errors="replace")
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) == 0 and out:
        return pickle.loads(out)
    raise _backend_error(err, filename)
