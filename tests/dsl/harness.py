"""Run a @bpf_function in the kernel (BPF_PROG_TEST_RUN) and in CPython, to compare them.

::

    with kernel_runner(f) as run:
        assert run(3, 4) == f(3, 4)

The function is wrapped in a generated SYSCALL program whose context holds
one u64 slot per argument and one for the result; the kernel writes the
context back, so results of every width come out exactly.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import struct
import tempfile
from typing import Any, Iterator

from pybpf_dsl import types as T
from pybpf_dsl.lower import compile_programs
from pybpf_dsl.runtime.loader import load_object

_TEMPLATE = '''\
from pybpf_dsl.types import Struct, Ptr, u64
from pybpf_dsl.decorators import raw_tracepoint, syscall_prog

class Ctx(Struct):
{fields}
    out: u64

{decorator}
def entry(ctx: Ptr[Ctx]) -> int:
    {store}
    return 0
'''

_DIR = tempfile.mkdtemp(prefix="pybpf_dsl_harness_")


def entry_program(fn: Any, raw_tp: bool = False) -> Any:
    """A ProgramDef calling ``fn`` with its arguments taken from the context.

    By default a SYSCALL program storing the result in the context's last
    slot; with ``raw_tp`` a raw tracepoint returning it (BPF_PROG_TEST_RUN
    gives its low 32 bits: for maps sleepable programs cannot use).
    """
    params, ret = fn.signature()
    names = [f"a{i}" for i in range(len(params))]
    fields = "\n".join(f"    {n}: u64" for n in names) or "    pad: u64"
    call = f"FN({', '.join('ctx.' + n for n in names)})"
    store = f"return {call}" if raw_tp else f"ctx.out = {call}" if ret is not None else call
    decorator = '@raw_tracepoint("sys_enter")' if raw_tp else "@syscall_prog"
    path = os.path.join(_DIR, f"entry_{fn.name}_{id(fn):x}_{int(raw_tp)}.py")
    with open(path, "w") as f:
        f.write(_TEMPLATE.format(fields=fields, store=store, decorator=decorator))
    spec = importlib.util.spec_from_file_location(f"_entry_{id(fn):x}_{int(raw_tp)}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.FN = fn
    return mod.entry


@contextlib.contextmanager
def kernel_runner(fn: Any) -> Iterator[Any]:
    """Yield ``run(*args) -> result`` executing ``fn`` in the kernel."""
    params, ret = fn.signature()
    obj = compile_programs(entry_program(fn))
    coll = load_object(obj.elf)
    prog = coll.programs["entry"]
    nslots = max(len(params), 1) + 1
    try:
        def run(*args: int) -> Any:
            ctx = bytearray(struct.pack(f"<{nslots}Q", *([a & (2**64 - 1) for a in args]
                                                         + [0] * (nslots - len(args)))))
            prog.test_run(ctx_in=ctx)
            out = struct.unpack_from("<Q", ctx, 8 * (nslots - 1))[0]
            return ret.wrap(out) if isinstance(ret, T.IntType) else None
        yield run
    finally:
        coll.close()


def int_strategy(t: T.IntType) -> Any:
    """Hypothesis integers covering ``t``'s whole range, edges included."""
    from hypothesis import strategies as st
    edges = [t.min, t.max, 0, 1, t.min + 1, t.max - 1] + ([-1] if t.signed else [])
    return st.one_of(st.sampled_from(edges), st.integers(t.min, t.max))
