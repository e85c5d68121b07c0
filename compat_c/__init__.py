"""compat_c: bcc's C programs and bcc's Python API on pybpf_dsl's runtime.

``from compat_c import BPF, USDT`` is bcc's API (:mod:`.bpf`, :mod:`.usdt`);
``python3 -m compat_c TOOL [ARGS...]`` runs an unmodified bcc tool with its
``import bcc`` resolved to :mod:`compat_c.bcc`.

This package turns bcc C text into a BPF ELF object plus metadata with no
kernel headers, no system LLVM and nothing beyond pip::

    from compat_c import compile_c
    obj = compile_c('''
        BPF_HASH(counts, u32);
        TRACEPOINT_PROBE(raw_syscalls, sys_enter) {
            u32 pid = bpf_get_current_pid_tgid() >> 32;
            counts.increment(pid);
            return 0;
        }''')
    obj.data                    # ELF bytes for pybpf_dsl.runtime.loader.load_object
    obj.meta["tables"]          # key/leaf C types, map types, pins, inner maps
    obj.meta["events"]          # the struct each perf/ring buffer receives

How it works
------------
* **Kernel types from BTF** (:mod:`.vmlinux`, :mod:`.prelude`,
  :mod:`.typeselect`): a header of every type in /sys/kernel/btf/vmlinux,
  with CO-RE attributes, generated once per kernel with an index; a program
  is compiled with only the types its identifiers name (and what those need
  by value), in front of the kernel's configuration, the macros BTF lacks
  (:mod:`.kdefs`), the helper prototypes (:mod:`.helper_table`) and bcc's
  macro layer (``include/bcc/helpers.h``).  Should that selection miss a
  type, the full prelude is used from a clang PCH.  ``#include
  <linux/sched.h>`` and friends resolve to empty stubs.
* **A compiler from pip** (:mod:`.toolchain`): clang from PATH when it has
  the BPF target, else the clang inside the ``ziglang`` wheel.
* **bcc semantics**: table declarations are C (a BTF map definition and a
  const object of method pointers, so ``t.lookup(&k)`` type-checks and
  folds to a helper call); the rest is applied to clang's LLVM IR
  (:mod:`.irpass`), which clang's BPF back end then turns into the object.
* **Caching** (:mod:`.cache`): objects are cached on disk by source,
  flags, compiler, kernel and compat_c version.

Why the IR route
----------------
Issue 4 left two routes open: rewrite the C syntax tree as bcc does, or let
clang emit LLVM IR and apply bcc's semantics there.  A quick experiment
decided it: clang's IR text (CO-RE relocation globals included) can be
rewritten as text and handed back to clang, which emits the same object it
would have (llvmlite's LLVM 22 parses it too, but loading LLVM into the
Python process costs more memory than a second short clang process).  Rewriting the syntax
tree would need libclang's AST (not in pip's ziglang) or a C parser with
full type checking of our own; on IR every value is already typed, pointer
provenance is explicit (what bcc's rewriter approximates for implicit
kernel reads), and the table methods need no rewriting at all because the
macro layer makes them ordinary C.  Fidelity: the program is type-checked
by a real C compiler and diagnostics carry the user's own line numbers.
Speed: the rewrite is a linear pass over the IR; the cost is dominated by
clang itself, which the type selection and the object cache keep small.
"""

from __future__ import annotations

from typing import Any

__all__ = ["compile_c", "CompiledObject", "BPF", "USDT", "USDTException"]

_WHERE = {"compile_c": "frontend", "CompiledObject": "frontend", "BPF": "bpf", "USDT": "usdt",
          "USDTException": "usdt"}


def __getattr__(name: str) -> Any:
    # Import lazily: a cached start should not pay for what it does not use.
    if name in _WHERE:
        import importlib
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module 'compat_c' has no attribute {name!r}")
