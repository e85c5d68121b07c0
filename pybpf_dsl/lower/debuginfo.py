"""Debug metadata: the user's files and lines, and DI types from which LLVM emits .BTF/.BTF.ext."""

from __future__ import annotations

import ast
import os
from functools import lru_cache
from typing import Any

from llvmlite import ir

from .. import types as T

__all__ = ["DebugInfo"]

_I32 = ir.IntType(32)


@lru_cache(maxsize=None)
def _distinct_class(cls: type) -> type:
    """``cls`` hashed by identity: a distinct node may then refer to itself (retainedNodes)."""
    return type("Distinct" + cls.__name__, (cls,), {"__hash__": object.__hash__, "__eq__": object.__eq__})


class DebugInfo:
    """Builds DICompileUnit/DISubprogram/DILocation and DI types for one module."""

    def __init__(self, module: ir.Module, filename: str) -> None:
        self.m = module
        self.files: dict[str, Any] = {}
        self.types: dict[Any, Any] = {}
        self.cu_file = self.file(filename)
        self.globals: list[Any] = []
        self.cu = module.add_debug_info("DICompileUnit", {
            "language": ir.DIToken("DW_LANG_C99"), "file": self.cu_file, "producer": "pybpf_dsl",
            "isOptimized": True, "runtimeVersion": 0, "emissionKind": ir.DIToken("FullDebug"),
            "globals": module.add_metadata([]),
        }, is_distinct=True)
        self._locs: dict[tuple[int, int, int], Any] = {}

    def file(self, path: str) -> Any:
        f = self.files.get(path)
        if f is None:
            path = os.path.abspath(path)
            f = self.m.add_debug_info("DIFile", {"filename": os.path.basename(path),
                                                 "directory": os.path.dirname(path)})
            self.files[path] = f
        return f

    def finish(self) -> None:
        if self.globals:
            self.cu.operands = tuple((k, self.m.add_metadata(self.globals) if k == "globals" else v)
                                     for k, v in self.cu.operands)
        self.m.add_named_metadata("llvm.dbg.cu", self.cu)
        for flag in ([_I32(7), "Dwarf Version", _I32(5)], [_I32(2), "Debug Info Version", _I32(3)]):
            self.m.add_named_metadata("llvm.module.flags", self.m.add_metadata(flag))

    # -- types -------------------------------------------------------------------
    def basic(self, name: str, size: int, encoding: str) -> Any:
        key = ("basic", name)
        if key not in self.types:
            self.types[key] = self.m.add_debug_info("DIBasicType", {
                "name": name, "size": size * 8, "encoding": ir.DIToken(encoding)})
        return self.types[key]

    def type(self, t: T.Type | None) -> Any:
        """The DI type describing ``t`` (None: void)."""
        if t is None:
            return None
        if t in self.types:
            return self.types[t]
        if t is T.bool:
            d = self.basic("_Bool", 1, "DW_ATE_boolean")
        elif t is T.char:
            d = self.basic("char", 1, "DW_ATE_unsigned_char")
        elif isinstance(t, T.IntType):
            cname = {8: "char", 16: "short", 32: "int", 64: "long long"}[t.bits]
            if t.bits == 8:
                cname = "signed char" if t.signed else "unsigned char"
            elif not t.signed:
                cname = "unsigned " + cname
            d = self.basic(cname, t.size, "DW_ATE_signed" if t.signed else "DW_ATE_unsigned")
        elif isinstance(t, T.PtrType):
            opaque = isinstance(t.target, T.PtrType) or getattr(t.target, "kernel", False)
            d = self.pointer(None if opaque else self.type(t.target))
        elif isinstance(t, T.ArrayType):
            d = self.array(self.type(t.elem), t.n, t.size)
        elif isinstance(t, T.StructType):
            d = self.struct(t.name, t.size, [(f.name, self.type(f.type), f.offset) for f in t.fields])
        else:
            raise TypeError(t)
        self.types[t] = d
        return d

    def pointer(self, target: Any) -> Any:
        return self.m.add_debug_info("DIDerivedType", {
            "tag": ir.DIToken("DW_TAG_pointer_type"), "baseType": target, "size": 64})

    def array(self, elem: Any, n: int, size: int) -> Any:
        sub = self.m.add_debug_info("DISubrange", {"count": n})
        return self.m.add_debug_info("DICompositeType", {
            "tag": ir.DIToken("DW_TAG_array_type"), "baseType": elem, "size": size * 8,
            "elements": self.m.add_metadata([sub])})

    def struct(self, name: str, size: int, members: list[tuple[str, Any, int]]) -> Any:
        elems = [self.m.add_debug_info("DIDerivedType", {
            "tag": ir.DIToken("DW_TAG_member"), "name": mname, "file": self.cu_file,
            "baseType": mtype, "size": self._bits(mtype), "offset": off * 8})
            for mname, mtype, off in members]
        fields = {"tag": ir.DIToken("DW_TAG_structure_type"), "file": self.cu_file, "size": size * 8,
                  "elements": self.m.add_metadata(elems)}
        if name:
            fields["name"] = name
        return self.m.add_debug_info("DICompositeType", fields)

    @staticmethod
    def _bits(d: Any) -> int:
        return dict(d.operands).get("size", 64)

    def global_var(self, name: str, dtype: Any, line: int, gv: ir.GlobalVariable) -> None:
        """Describe the global ``gv`` (a map definition) so it lands in BTF."""
        var = self.m.add_debug_info("DIGlobalVariable", {
            "name": name, "scope": self.cu, "file": self.cu_file, "line": line, "type": dtype,
            "isLocal": False, "isDefinition": True}, is_distinct=True)
        expr = self.m.add_debug_info("DIExpression", {})
        gve = self.m.add_debug_info("DIGlobalVariableExpression", {"var": var, "expr": expr})
        gv.set_metadata("dbg", gve)
        self.globals.append(gve)

    # -- functions and lines -----------------------------------------------------
    def subprogram(self, tf: Any, program: bool) -> Any:
        f = self.file(tf.filename)
        names = ["ctx"] if program else [n for n, _ in tf.params]
        if program:
            types = [self.type(T.s32), self.pointer(None)]
        elif isinstance(tf.ret, (T.StructType, T.ArrayType)):   # returned through a hidden out-pointer
            types = [None, self.pointer(self.type(tf.ret))] + [self.type(t) for _, t in tf.params]
            names = ["__ret"] + names
        else:
            types = [self.type(tf.ret)] + [self.type(t) for _, t in tf.params]
        sty = self.m.add_debug_info("DISubroutineType", {"types": self.m.add_metadata(types)})
        line = tf.node.lineno
        sp = self.m.add_debug_info("DISubprogram", {
            "name": tf.name, "scope": f, "file": f, "line": line, "type": sty,
            "scopeLine": line, "unit": self.cu,
            "spFlags": ir.DIToken("DISPFlagDefinition | DISPFlagOptimized"
                                  + ("" if program else " | DISPFlagLocalToUnit")),
            "flags": ir.DIFlags("DIFlagPrototyped") if hasattr(ir, "DIFlags") else ir.DIToken("DIFlagPrototyped"),
        }, is_distinct=True)
        sp.__class__ = _distinct_class(type(sp))
        args = [self.m.add_debug_info("DILocalVariable", {
            "name": n, "arg": i + 1, "scope": sp, "file": f, "line": line, "type": types[i + 1]})
            for i, n in enumerate(names)]
        sp.operands = sp.operands + (("retainedNodes", self.m.add_metadata(args)),)
        return sp

    def location(self, node: ast.AST, sp: Any) -> Any:
        key = (id(sp), getattr(node, "lineno", 0), getattr(node, "col_offset", 0) + 1)
        loc = self._locs.get(key)
        if loc is None:
            loc = self.m.add_debug_info("DILocation", {"line": key[1], "column": key[2], "scope": sp})
            self._locs[key] = loc
        return loc
