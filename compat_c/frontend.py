"""bcc C text to a BPF ELF object plus metadata, cached on disk.

::

    obj = compile_c(text, cflags=["-DMAX=4"])
    coll = load_object(obj.data, prog_types={...})   # pybpf_dsl.runtime.loader
    obj.meta["tables"]["counts"]["key"]              # the C type of the key

Pipeline: prelude (the kernel types the program names, :mod:`.prelude`) -> clang emits LLVM IR
-> :mod:`.irpass` applies bcc's semantics -> clang's BPF back end emits the
object with BTF and CO-RE relocations.  The result is cached under a key
of (source, cflags, compiler binary, kernel build, compat_c version, CPU
count), so a second start with the same program skips all of it.

A cold compile keeps both CPUs busy: both clang processes start before
their input is ready (each spends ~5 ms just starting), and this process
imports what comes next (the IR pass, the caller's ``prefetch`` modules)
while clang works.
"""

from __future__ import annotations

import functools
import importlib
import json
import linecache
import os
import re
from dataclasses import dataclass
from typing import Any, Sequence

from pybpf_dsl.errors import CompileError, SourceLocation

from . import cache
from .kdefs import linux_version_code
from .prelude import Prelude, layer_id, prelude_for, stub_header
from .toolchain import Job, find_compiler

__all__ = ["CompiledObject", "compile_c", "compile_ir"]

_MAX_STUB_RETRIES = 64
_DIAG = re.compile(r"^(?P<file>[^\n:]+):(?P<line>\d+):(?P<col>\d+): (?P<sev>fatal error|error): (?P<msg>.*)$",
                   re.M)
# errors a kernel type or enumerator missing from the selection can cause
_MAYBE_MISSING_TYPE = re.compile(r"unknown type name|incomplete (?:definition|type|result)|undeclared identifier|"
                                 r"no member named|implicit declaration|invalid application of 'sizeof'")
_MISSING = re.compile(r"'([^']+)' file not found")
_NO_MEMBER = re.compile(r"no member named '(\w+)' in 'struct __bcc_ops_(\w+)'")
_TABLE_KIND = re.compile(r"\b(BPF_(?:F_)?TABLE(?:_PINNED|_PUBLIC|_SHARED)?)\s*\(\s*\"(\w+)\"")
_TABLE_KIND_NAME = re.compile(r"\b(BPF_(?:F_)?TABLE(?:_PINNED|_PUBLIC|_SHARED)?\s*\(\s*)(\w+)(?=\s*,)")
_STRING_DEFINE = re.compile(r'^[ \t]*#[ \t]*define[ \t]+(\w+)[ \t]+"(\w+)"[ \t]*$', re.M)
_TO_IR = ("-S", "-emit-llvm", "-x", "c", "-", "-o", "-")
_EPILOGUE = """
#line 1 "<compat_c epilogue>"
#ifndef BPF_LICENSE
#define BPF_LICENSE GPL
#endif
char _license[] SEC("license") = __BCC_STR(BPF_LICENSE);
"""


@dataclass(frozen=True)
class CompiledObject:
    """A compiled program: the ELF object and what Python needs to know about it.

    ``meta`` holds ``license``, ``programs`` (per function: bcc's ``kind``
    from its name prefix, attach ``target``, ``section``, ``ctx`` struct),
    ``tables`` (per table: ``map_type``, ``max_entries``, ``flags``, ``key``
    and ``leaf`` C type descriptions, ``pinned``, ``inner``, ``public``,
    ``shared``), ``events`` (per perf/ring buffer table: the C type of the
    data its programs submit) and ``helpers`` (per function: helpers used).
    """

    data: bytes
    meta: dict[str, Any]
    cached: bool
    key: str
    ir: str = ""     # the rewritten LLVM IR and the BPF assembly (``listing=True`` only)
    asm: str = ""


def _ncpus() -> int:
    from pybpf_dsl.runtime.cpus import num_possible_cpus
    return num_possible_cpus()


def compile_c(text: str | bytes, cflags: Sequence[str] = (), *, filename: str = "/virtual/main.c",
              use_cache: bool = True, listing: bool = False, prefetch: Sequence[str] = ()) -> CompiledObject:
    """Compile bcc C ``text`` (named ``filename`` in messages) into a BPF object.

    ``listing`` also returns the LLVM IR and BPF assembly (bcc's DEBUG_LLVM_IR
    and DEBUG_BPF); it always compiles, as the cache keeps neither.
    ``prefetch`` names modules the caller needs next (say, the loader): a
    compile imports them while clang runs instead of leaving this process idle.
    """
    if isinstance(text, bytes):
        text = text.decode()
    cflags = [c.decode() if isinstance(c, bytes) else c for c in cflags]
    for flag in cflags:
        if flag.startswith("-DBPF_LICENSE"):
            raise CompileError("BPF_LICENSE cannot be set through cflags",
                               hint="#define BPF_LICENSE in the program text instead")
    compiler = find_compiler()
    ncpus = _ncpus()
    version = linux_version_code()
    key = cache.digest(text, "\0".join(cflags), filename, compiler.identity, cache.kernel_id(),
                       layer_id(), str(ncpus), str(version))
    objdir = cache.cache_dir() / "obj"
    if use_cache and not listing:
        data = cache.read_bytes(objdir / f"{key}.o")
        meta = cache.read_json(objdir / f"{key}.json") if data is not None else None
        if data is not None and isinstance(meta, dict):
            return CompiledObject(data, meta, True, key)
    idle = _Idle([f"{__package__}.irpass", *prefetch])
    codegen = compiler.start(_codegen_args(text))  # it starts up while the front end works
    listed: dict[str, str] = {}
    try:
        with prelude_for(compiler) as prelude:
            ir = _compile(prelude, text, filename, cflags, ncpus, version, idle)
        _remember(text, filename)  # errors found on the IR quote the user's line too
        data, meta = _codegen(codegen, ir, listed if listing else None, idle)
    except BaseException:
        codegen.cancel()
        raise
    if use_cache:
        try:
            cache.write_bytes(objdir / f"{key}.o", data)
            cache.write_json(objdir / f"{key}.json", meta)
        except OSError:
            pass
    return CompiledObject(data, meta, False, key, listed.get("ir", ""), listed.get("asm", ""))


class _Idle:
    """Imports to do while a compiler process runs (a cold compile would otherwise wait idle)."""

    def __init__(self, modules: list[str]) -> None:
        self.todo = modules

    def wait(self, job: Job) -> tuple[int, bytes, bytes]:
        """Import pending modules until ``job`` exits; then its ``(returncode, stdout, stderr)``."""
        while self.todo and job.proc.poll() is None:
            importlib.import_module(self.todo.pop(0))
        out, err = job.proc.communicate()
        return job.proc.returncode, out, err


def _string_macros(text: str, cflags: Sequence[str]) -> dict[str, str]:
    """Macros defined as a quoted word (``-DKIND="hash"``, ``#define KIND "hash"``): name -> word."""
    found = dict(_STRING_DEFINE.findall(text))
    for flag in cflags:
        name, sep, value = flag[2:].partition("=")
        if flag.startswith("-D") and sep and len(value) > 2 and value[0] == value[-1] == '"' \
                and value[1:-1].isidentifier():
            found[name] = value[1:-1]
    return found


def _table_kinds(text: str, cflags: Sequence[str]) -> str:
    """Unquote BPF_TABLE kinds, given literally or through a macro naming a quoted word.

    bcc takes the kind as a string; the compat headers select the map type by
    pasting the bare word, which the preprocessor cannot do with a string.
    """
    text = _TABLE_KIND.sub(r"\1(\2", text)
    words = _string_macros(text, cflags)
    if not words:
        return text
    return _TABLE_KIND_NAME.sub(lambda m: m.group(1) + words.get(m.group(2), m.group(2)), text)


def _unit(text: str, filename: str, ncpus: int, version: int, cflags: Sequence[str] = ()) -> str:
    """The translation unit clang sees: generated definitions, the user's text, the license."""
    from .tpstruct import definitions

    head = (f"#define __BCC_NR_CPUS {ncpus}\n#define __BCC_PAGE_SIZE {os.sysconf('SC_PAGE_SIZE')}\n"
            f"#ifndef LINUX_VERSION_CODE\n#define LINUX_VERSION_CODE {version}\n#endif\n"
            + definitions(text))
    body = _table_kinds(text, cflags)
    return f'{head}#line 1 "{filename}"\n{body}\n{_EPILOGUE}'


def _compile(prelude: Prelude, text: str, filename: str, cflags: list[str], ncpus: int, version: int,
             idle: _Idle) -> str:
    """clang's IR for ``text``: with only the kernel types it names, else with all of them.

    clang starts before the unit exists (what it is told depends on the text
    alone), so its start-up overlaps building the unit.
    """
    from .packet import uses_packets
    from .typeselect import defined_tags, wanted_names

    packets = uses_packets(text)
    clang_flags = [*cflags, "-Xclang", "-disable-llvm-passes"] if packets else cflags  # lowered first
    precompiled = prelude.base_pch_usable(cflags, defined_tags(text))
    flags = [*prelude.flags(precompiled), *clang_flags]
    job = prelude.compiler.start([*flags, *_TO_IR])
    try:
        unit = _unit(text, filename, ncpus, version, cflags)
        types = prelude.types_for(wanted_names(unit) | wanted_names(" ".join(cflags)), defined_tags(unit),
                                  precompiled)
    except BaseException:
        job.cancel()
        raise
    job.feed((types + unit).encode())
    ir, stderr = _clang(prelude, job, flags, types + unit, idle)
    if ir is None:
        if not _MAYBE_MISSING_TYPE.search(stderr):
            raise _compile_error(stderr, text, filename)
        prelude.ensure_pch()  # a type the selection missed, or an error of the program's own
        ir, stderr = _clang(prelude, None, [*prelude.pch_flags(), *clang_flags], unit, idle)
        if ir is None:
            raise _compile_error(stderr, text, filename)
    return _optimize_packets(prelude, ir, text, filename) if packets else ir


def _optimize_packets(prelude: Prelude, ir: str, text: str, filename: str) -> str:
    """Lower packet header accesses in unoptimized ``ir``, then run clang's -O2 pipeline on it."""
    from .packet import lower

    _remember(text, filename)
    lowered = lower(ir)
    proc = prelude.compiler.run(["-target", "bpfel", "-O2", "-S", "-emit-llvm", "-x", "ir", "-", "-o", "-"],
                                lowered.encode())
    if proc.returncode != 0:
        first = proc.stderr.decode(errors="replace").strip().splitlines()[:1] or ["clang failed"]
        raise CompileError(f"internal error: the lowered packet accesses are invalid: {first[0]}",
                           hint="please report this with the program")
    return proc.stdout.decode()


def _clang(prelude: Prelude, job: Job | None, flags: list[str], unit: str,
           idle: _Idle) -> tuple[str | None, str]:
    """``(IR, "")`` or ``(None, clang's errors)`` from ``job`` (already fed ``unit``), else a new run.

    Missing kernel headers become stubs and the unit is compiled again.
    """
    for _ in range(_MAX_STUB_RETRIES):
        if job is None:
            job = prelude.compiler.start([*flags, *_TO_IR])
            job.feed(unit.encode())
        code, out, err = idle.wait(job)
        job = None
        if code == 0:
            return out.decode(), ""
        stderr = err.decode(errors="replace")
        missing = _MISSING.search(stderr)
        if missing and stub_header(missing.group(1)) and prelude.add_stub(missing.group(1)):
            continue
        return None, stderr
    raise CompileError("too many missing kernel headers")


def _remember(text: str, filename: str) -> None:
    """Let error messages quote lines of ``text`` as ``filename``."""
    linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)


def _compile_error(stderr: str, text: str, filename: str) -> CompileError:
    """The first error clang reported, at the user's own line."""
    _remember(text, filename)
    m = _DIAG.search(stderr)
    if m is None:
        return CompileError(stderr.strip().splitlines()[0] if stderr.strip() else "clang failed")
    msg = m.group("msg")
    bad = _NO_MEMBER.search(msg)
    if bad:
        msg = f"invalid bpf_table operation {bad.group(1)} on table {bad.group(2)}"
    file = m.group("file")
    if file == "<stdin>":
        file = filename
    extra = len(_DIAG.findall(stderr)) - 1
    hint = f"{extra} more error(s) follow" if extra > 0 else None
    return CompileError(msg, SourceLocation(file, int(m.group("line")), int(m.group("col")) - 1), hint)


@functools.cache
def _pt_regs() -> dict[str, int]:
    from pybpf_dsl.runtime.btf import kernel_btf
    regs = kernel_btf().find("pt_regs")
    return {m.name: m.bit_offset // 8 for m in regs.members}


def _codegen_args(text: str, output: str = "-c") -> list[str]:
    """clang's arguments to turn IR into an object (or assembly, ``-S``), given the IR or its C source."""
    # the optimizer runs again only to inline USDT argument readers
    passes = [] if "_bpf_readarg_" in text else ["-Xclang", "-disable-llvm-passes"]
    return ["-target", "bpfel", "-O2", *passes, "-x", "ir", "-", "-o", "-", output]


def compile_ir(ir: str, listing: dict[str, str] | None = None,
               prefetch: Sequence[str] = ()) -> tuple[bytes, dict[str, Any]]:
    """clang's IR text -> (BPF object, metadata); ``listing`` receives ``ir`` and ``asm`` text.

    ``prefetch`` is as for :func:`compile_c`.

    The rewritten IR goes back through clang for code generation (BPF
    target, -O2 code generation; the optimization pipeline runs again only
    to inline USDT argument readers).  A second short clang process costs
    less time and memory than loading LLVM into this one, and IR it rejects
    becomes an error message instead of an abort.
    """
    job = find_compiler().start(_codegen_args(ir))
    try:
        return _codegen(job, ir, listing, _Idle(list(prefetch)))
    except BaseException:
        job.cancel()
        raise


def _codegen(job: Job, ir: str, listing: dict[str, str] | None, idle: _Idle) -> tuple[bytes, dict[str, Any]]:
    """:func:`compile_ir` with the code generator already started (by :func:`_codegen_args` of the source)."""
    from .irpass import transform

    text, meta = transform(ir, _pt_regs)  # its USDT readers are defined in the source, as _codegen_args needs
    job.feed(text.encode())
    code, obj, err = idle.wait(job)
    if code != 0:
        first = err.decode(errors="replace").strip().splitlines()[:1] or ["clang failed"]
        raise CompileError(f"internal error: the rewritten IR is invalid: {first[0]}",
                           hint="please report this with the program")
    if listing is not None:
        listing["ir"] = text
        listing["asm"] = find_compiler().run(_codegen_args(text, "-S"), text.encode()).stdout.decode()
    return obj, json.loads(json.dumps(meta.to_json()))
