"""Typed IR -> llvmlite IR, with debug info on every instruction.

The debug metadata (compile unit, file with embedded source, subprograms,
locations, map and struct types) is what LLVM's BPF backend turns into the
object's ``.BTF`` and ``.BTF.ext`` (func_info and line_info carrying the
Python source text), so the verifier and bpftool can point at Python lines.

Maps follow libbpf's BTF-defined convention: a global in ``.maps`` whose
type is a struct of pointers (``type`` and ``max_entries`` as pointers to
``int[N]``, ``key``/``value`` as pointers to the key and value types).

Semantics that LLVM leaves undefined (division by zero, shifts by the width
or more, ``INT_MIN // -1``) get explicit guards here; see rules.py.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import llvmlite.ir as ir

from ..errors import BPFError
from ..types import ArrayType, BPFType, IntType, PointerType, StructType
from . import tir as T
from .core import BYTE_SIZE, CoreAccesses
from .source import Loc, error
from .values import MapUse

__all__ = ["ModuleBuilder"]

PTR = ir.PointerType()
I1 = ir.IntType(1)
I8 = ir.IntType(8)
I32 = ir.IntType(32)
I64 = ir.IntType(64)

BPF_NOEXIST = 1
BPF_FUNC_map_lookup_elem = 1
BPF_FUNC_map_update_elem = 2
BPF_FUNC_map_delete_elem = 3

_DI_BASE_NAMES = {
    (1, False): ("unsigned char", "DW_ATE_unsigned_char"),
    (2, False): ("unsigned short", "DW_ATE_unsigned"),
    (4, False): ("unsigned int", "DW_ATE_unsigned"),
    (8, False): ("unsigned long long", "DW_ATE_unsigned"),
    (1, True): ("signed char", "DW_ATE_signed_char"),
    (2, True): ("short", "DW_ATE_signed"),
    (4, True): ("int", "DW_ATE_signed"),
    (8, True): ("long long", "DW_ATE_signed"),
}


def llvm_type(t: BPFType) -> ir.Type:
    """The LLVM type of a value of ``t`` held in a register or stack slot."""
    if isinstance(t, IntType):
        return I1 if t.is_bool else ir.IntType(t.bits)
    if isinstance(t, PointerType):
        return PTR
    return ir.ArrayType(I8, t.size)  # aggregates are byte blobs; fields are reached by offset


def memory_type(t: BPFType) -> ir.Type:
    """The LLVM type of ``t`` as stored in memory (bool is a byte)."""
    if isinstance(t, IntType) and t.is_bool:
        return I8
    return llvm_type(t)


@dataclass
class _Loop:
    continue_block: ir.Block
    break_block: ir.Block


@dataclass
class _FunctionState:
    func: ir.Function
    builder: ir.IRBuilder
    scope: Any
    slots: dict[str, ir.Value] = field(default_factory=dict)
    loops: list[_Loop] = field(default_factory=list)
    entry: ir.Block | None = None
    free_slots: dict[str, list[ir.Value]] = field(default_factory=dict)
    busy_slots: list[tuple[str, ir.Value]] = field(default_factory=list)
    # The open-coded iterators the code being emitted is inside (innermost last): a
    # `return` destroys them all first (the verifier refuses a live iterator at exit).
    iterators: list[T.KfuncCall] = field(default_factory=list)


class ModuleBuilder:
    """Builds one LLVM module (one ELF object) from typed-IR functions and maps."""

    def __init__(self, name: str = "pyebpf", license: str = "GPL") -> None:
        self.module = ir.Module(name=name)
        self.module.triple = "bpfel"
        self.module.data_layout = "e-m:e-p:64:64-i64:64-i128:128-n32:64-S128"
        self.license = license
        self.files: dict[str, Any] = {}
        self.sources: dict[str, str] = {}
        self.di_types: dict[Any, Any] = {}
        self.map_globals: dict[str, ir.GlobalVariable] = {}
        self.functions: dict[str, ir.Function] = {}
        self.global_vars: dict[str, ir.GlobalVariable] = {}
        self.kfuncs: dict[str, ir.Function] = {}
        self.di_globals: list[Any] = []
        self._cu: Any = None
        self._retained: list[tuple[Any, Any]] = []
        self.fs: _FunctionState | None = None
        self.core = CoreAccesses(self)

    # ------------------------------------------------------------ debug info

    def di_file(self, filename: str, text: str) -> Any:
        if filename not in self.files:
            directory, base = os.path.split(os.path.abspath(filename)) if not filename.startswith(
                "<") else ("", filename)
            self.files[filename] = self.module.add_debug_info(
                "DIFile", {"filename": base, "directory": directory, "source": text}
            )
        return self.files[filename]

    def cu(self, file: Any) -> Any:
        if self._cu is None:
            self._cu = self.module.add_debug_info(
                "DICompileUnit",
                {
                    "language": ir.DIToken("DW_LANG_C99"),
                    "file": file,
                    "producer": "pyebpf",
                    "isOptimized": True,
                    "runtimeVersion": 0,
                    "emissionKind": ir.DIToken("FullDebug"),
                    "nameTableKind": ir.DIToken("None"),
                },
                is_distinct=True,
            )
        return self._cu

    def di_type(self, t: BPFType | None) -> Any:
        key = ("void",) if t is None else t
        cached = self.di_types.get(key)
        if cached is not None:
            return cached
        m = self.module
        if t is None:
            di = None
        elif isinstance(t, IntType):
            if t.is_bool:
                name, enc = "_Bool", "DW_ATE_boolean"
            elif t.is_char:
                name, enc = "char", "DW_ATE_signed_char"
            else:
                name, enc = _DI_BASE_NAMES[(t.size, t.signed)]
            di = m.add_debug_info("DIBasicType", {"name": name, "size": t.bits,
                                                  "encoding": ir.DIToken(enc)})
        elif isinstance(t, PointerType):
            di = m.add_debug_info("DIDerivedType", {
                "tag": ir.DIToken("DW_TAG_pointer_type"), "baseType": self.di_type(t.target),
                "size": 64})
        elif isinstance(t, ArrayType):
            di = self._di_array(self.di_type(t.elem), t.length, t.size * 8)
        elif isinstance(t, StructType):
            members = [
                m.add_debug_info("DIDerivedType", {
                    "tag": ir.DIToken("DW_TAG_member"), "name": f.name,
                    "baseType": self.di_type(f.type), "size": f.type.size * 8,
                    "offset": f.offset * 8})
                for f in t.fields
            ]
            di = m.add_debug_info("DICompositeType", {
                "tag": ir.DIToken("DW_TAG_union_type" if t.union else "DW_TAG_structure_type"),
                "name": t.name, "size": t.size * 8, "elements": m.add_metadata(members),
                "identifier": f"pyebpf.{t.cls.__module__}.{t.cls.__qualname__}"})
        elif type(t).__name__ == "KernelStruct":
            # A kernel struct: a forward declaration (the kernel's BTF has the layout).
            di = m.add_debug_info("DICompositeType", {
                "tag": ir.DIToken("DW_TAG_structure_type"), "name": t.name,
                "flags": ir.DIToken("DIFlagFwdDecl")})
        else:  # pragma: no cover
            raise TypeError(t)
        self.di_types[key] = di
        return di

    def di_enum(self, enum: Any) -> Any:
        """A kernel enum (a ``btf.Enum``) as an enumeration type with the kernel's name and
        enumerators: the BPF backend writes it as BTF_KIND_ENUM (ENUM64 when 8 bytes)."""
        key = ("enum", enum)
        cached = self.di_types.get(key)
        if cached is not None:
            return cached
        m = self.module
        enumerators = [
            m.add_debug_info("DIEnumerator", {"name": v.name, "value": v.value,
                                              "isUnsigned": not enum.signed})
            for v in enum.values
        ]
        di = self.di_types[key] = m.add_debug_info("DICompositeType", {
            "tag": ir.DIToken("DW_TAG_enumeration_type"), "name": enum.name,
            "size": enum.size * 8, "elements": m.add_metadata(enumerators)})
        return di

    def _di_array(self, elem: Any, count: int, bits: int) -> Any:
        m = self.module
        sub = m.add_debug_info("DISubrange", {"count": count})
        return m.add_debug_info("DICompositeType", {
            "tag": ir.DIToken("DW_TAG_array_type"), "baseType": elem, "size": bits,
            "elements": m.add_metadata([sub])})

    def _di_uint_array_ptr(self, name: str, value: int, offset: int) -> Any:
        m = self.module
        int_t = self.di_type(_i32())
        arr = self._di_array(int_t, value, 32 * value)
        ptr = m.add_debug_info("DIDerivedType", {
            "tag": ir.DIToken("DW_TAG_pointer_type"), "baseType": arr, "size": 64})
        return m.add_debug_info("DIDerivedType", {
            "tag": ir.DIToken("DW_TAG_member"), "name": name, "baseType": ptr, "size": 64,
            "offset": offset})

    def _di_type_ptr_member(self, name: str, t: BPFType, offset: int) -> Any:
        m = self.module
        ptr = m.add_debug_info("DIDerivedType", {
            "tag": ir.DIToken("DW_TAG_pointer_type"), "baseType": self.di_type(t), "size": 64})
        return m.add_debug_info("DIDerivedType", {
            "tag": ir.DIToken("DW_TAG_member"), "name": name, "baseType": ptr, "size": 64,
            "offset": offset})

    # ------------------------------------------------------------ maps

    def map_definition(self, mp: Any) -> tuple[Any, int]:
        """The BTF struct libbpf reads a map's shape from, and its size in bits.

        Members are pointers: ``type``/``max_entries``/... to ``int[N]`` (N is
        the value), ``key``/``value`` to the key and value types, and for maps
        of maps ``values``, an empty array of pointers to the inner map's own
        definition (libbpf's ``__array(values, struct {...})``).
        """
        members = [("type", int(mp.map_type))]
        if getattr(mp, "max_entries", 0):
            members.append(("max_entries", int(mp.max_entries)))
        if getattr(mp, "flags", 0):
            members.append(("map_flags", int(mp.flags)))
        if getattr(mp, "map_extra", 0):
            members.append(("map_extra", int(mp.map_extra)))  # bloom filter hash count
        di_members = []
        offset = 0
        for mname, value in members:
            di_members.append(self._di_uint_array_ptr(mname, value, offset))
            offset += 64
        for mname, t in (("key", getattr(mp, "key_type", None)),
                         ("value", getattr(mp, "value_type", None))):
            if t is not None:
                di_members.append(self._di_type_ptr_member(mname, t, offset))
                offset += 64
        m = self.module
        inner = getattr(mp, "inner", None)
        if inner is not None:
            inner_def, _ = self.map_definition(inner)
            ptr = m.add_debug_info("DIDerivedType", {
                "tag": ir.DIToken("DW_TAG_pointer_type"), "baseType": inner_def, "size": 64})
            di_members.append(m.add_debug_info("DIDerivedType", {
                "tag": ir.DIToken("DW_TAG_member"), "name": "values",
                "baseType": self._di_array(ptr, 0, 0), "offset": offset}))
        st = m.add_debug_info("DICompositeType", {
            "tag": ir.DIToken("DW_TAG_structure_type"), "size": offset,
            "elements": m.add_metadata(di_members)})
        return st, offset

    def declare_map(self, use: MapUse, file: Any, loc: Loc) -> ir.GlobalVariable:
        if use.name in self.map_globals:
            return self.map_globals[use.name]
        mp = use.map
        m = self.module
        st, offset = self.map_definition(mp)
        gv_ty = ir.LiteralStructType([PTR] * (offset // 64))
        gv = _global_variable(m, gv_ty, use.name)
        gv.section = ".maps"
        gv.initializer = ir.Constant(gv_ty, None)
        gv.align = 8
        gv.linkage = ""
        var = m.add_debug_info("DIGlobalVariable", {
            "name": use.name, "scope": self.cu(file), "file": file, "line": loc.line,
            "type": st, "isLocal": False, "isDefinition": True})
        gve = m.add_debug_info("DIGlobalVariableExpression", {
            "var": var, "expr": m.add_debug_info("DIExpression", {})})
        gv.set_metadata("dbg", gve)
        self.di_globals.append(gve)
        self.map_globals[use.name] = gv
        return gv

    def declare_global(self, name: str, var: Any, file: Any, loc: Loc) -> ir.GlobalVariable:
        """A bpf.Const / bpf.Global: a variable in .rodata / .data / .bss, typed in BTF.

        Not an LLVM ``constant``, even in .rodata: the loader sets the value at load
        time, so LLVM must not fold it.
        """
        m = self.module
        data = var.initial_bytes
        ty = memory_type(var.type) if isinstance(var.type, IntType) else ir.ArrayType(
            I8, var.type.size)
        gv = _global_variable(m, ty, name)
        gv.section = var.section
        gv.align = max(var.type.align, 1)
        if isinstance(var.type, IntType):
            raw = int.from_bytes(data, "little")
            gv.initializer = ir.Constant(ty, raw)
        else:
            gv.initializer = ir.Constant(ty, bytearray(data))
        di = m.add_debug_info("DIGlobalVariable", {
            "name": name, "scope": self.cu(file), "file": file, "line": loc.line,
            "type": self.di_type(var.type), "isLocal": False, "isDefinition": True})
        gve = m.add_debug_info("DIGlobalVariableExpression", {
            "var": di, "expr": m.add_debug_info("DIExpression", {})})
        gv.set_metadata("dbg", gve)
        self.di_globals.append(gve)
        self.global_vars[name] = gv
        return gv

    # ------------------------------------------------------------ functions

    def declare_function(self, fn: T.Function) -> ir.Function:
        """The LLVM function for ``fn`` (created once, so calls may precede bodies)."""
        func = self.functions.get(fn.name)
        if func is not None:
            return func
        params = [llvm_type(t) for _, t in fn.params]
        fnty = ir.FunctionType(llvm_type(fn.return_type), params)
        func = ir.Function(self.module, fnty, fn.name)
        if fn.section:
            func.section = fn.section
        else:
            # Static functions stay BPF-to-BPF calls (noinline), plain Python functions are
            # inlined, global ones are verified on their own by the kernel.
            func.linkage = "internal" if not fn.is_global else ""
            func.attributes.add("alwaysinline" if fn.inline else "noinline")
        self.functions[fn.name] = func
        return func

    def add_function(self, fn: T.Function, filename: str, text: str) -> ir.Function:
        file = self.di_file(filename, text)
        cu = self.cu(file)
        func = self.declare_function(fn)
        m = self.module
        di_params = [self.di_type(fn.return_type)] + [
            self.di_type(t) if not (isinstance(t, PointerType) and t.kind == "ctx")
            else m.add_debug_info("DIDerivedType", {
                "tag": ir.DIToken("DW_TAG_pointer_type"), "baseType": None, "size": 64})
            for _, t in fn.params
        ]
        sub = m.add_debug_info("DISubprogram", {
            "name": fn.name, "scope": file, "file": file, "line": fn.loc.line,
            "type": m.add_debug_info("DISubroutineType", {"types": m.add_metadata(di_params)}),
            "scopeLine": fn.loc.line, "unit": cu,
            # LocalToUnit gives static functions BTF_FUNC_STATIC linkage: the verifier checks
            # them at each call (and only static functions may be bpf_loop callbacks).
            "spFlags": ir.DIToken("DISPFlagDefinition | DISPFlagOptimized" + (
                " | DISPFlagLocalToUnit" if not fn.section and not fn.is_global else "")),
            "flags": ir.DIToken("DIFlagPrototyped | DIFlagAllCallsDescribed"),
        }, is_distinct=True)
        # Named parameters: BTF takes FUNC_PROTO argument names from these, and the
        # kernel (and libbpf) refuse a FUNC whose arguments have no names.
        params_di = [
            m.add_debug_info("DILocalVariable", {
                "name": pname, "arg": i + 1, "scope": sub, "file": file, "line": fn.loc.line,
                "type": di_params[i + 1], **self._arg_tags(fn, pty)})
            for i, (pname, pty) in enumerate(fn.params)
        ]
        # Attached in finish(): the variables point back at the subprogram, and llvmlite
        # hashes metadata recursively, so the cycle may only close once nothing is added.
        self._retained.append((sub, m.add_metadata(params_di)))
        func.set_metadata("dbg", sub)
        entry = func.append_basic_block("entry")
        b = ir.IRBuilder(entry)
        self.fs = _FunctionState(func, b, sub, entry=entry)
        self._file = file
        self._locs: dict[tuple[int, int], Any] = {}
        with self.at(fn.loc):
            for (pname, pty), arg in zip(fn.params, func.args):
                slot = b.alloca(llvm_type(pty), name=pname)
                b.store(arg, slot)
                self.fs.slots[pname] = slot
            self.stmts(fn.body)
            if not b.block.is_terminated:
                b.unreachable()
        self.fs = None
        return func

    def _arg_tags(self, fn: T.Function, t: BPFType) -> dict[str, Any]:
        """BTF decl tags on a global function's pointer parameters (Linux 6.8).

        The kernel verifies a global function once, from its BTF alone: ``arg:ctx``
        makes a ``void *`` the program's context, and ``arg:nonnull`` makes a pointer
        memory of its type's size the caller must pass (not memory that may be NULL,
        which the function would have to check). The backend turns these annotations
        of the parameters into BTF_KIND_DECL_TAGs, as clang does for ``__arg_ctx``.
        """
        if not fn.is_global or not isinstance(t, PointerType):
            return {}
        tag = "arg:ctx" if t.kind == "ctx" else "arg:nonnull"
        m = self.module
        return {"annotations": m.add_metadata([m.add_metadata(["btf_decl_tag", tag])])}

    def location(self, loc: Loc) -> Any:
        key = (loc.line, loc.col)
        di = self._locs.get(key)
        if di is None:
            assert self.fs is not None
            di = self.module.add_debug_info("DILocation", {
                "line": loc.line, "column": loc.col + 1, "scope": self.fs.scope})
            self._locs[key] = di
        return di

    @contextmanager
    def at(self, loc: Loc) -> Iterator[None]:
        assert self.fs is not None
        b = self.fs.builder
        saved = b.debug_metadata
        b.debug_metadata = self.location(loc)
        try:
            yield
        finally:
            b.debug_metadata = saved

    @property
    def b(self) -> ir.IRBuilder:
        assert self.fs is not None
        return self.fs.builder

    def alloca(self, ty: ir.Type, name: str = "") -> ir.Value:
        """A stack slot in the entry block (so mem2reg/SROA can promote it)."""
        assert self.fs is not None and self.fs.entry is not None
        b = self.b
        with b.goto_entry_block():
            if self.fs.entry.instructions:
                b.position_before(self.fs.entry.instructions[0])
            slot = b.alloca(ty, name=name)
        # An untyped pointer: aggregates' fields are reached by byte offset, not by type.
        slot.type = PTR
        return slot

    # ------------------------------------------------------------ statements

    def stmts(self, stmts: tuple[T.Stmt, ...]) -> None:
        assert self.fs is not None
        for s in stmts:
            if self.b.block.is_terminated:
                return
            mark = len(self.fs.busy_slots)
            with self.at(s.loc), _reported_at(s.loc):
                getattr(self, f"stmt_{type(s).__name__}")(s)
            # The statement's helper calls are done: its spill slots are free again.
            while len(self.fs.busy_slots) > mark:
                key, slot = self.fs.busy_slots.pop()
                self.fs.free_slots[key].append(slot)

    def stmt_Declare(self, s: T.Declare) -> None:
        assert self.fs is not None
        slot = self.alloca(memory_type(s.type) if not isinstance(s.type, (StructType, ArrayType))
                           else ir.ArrayType(I8, s.type.size), s.name)
        if isinstance(s.type, (StructType, ArrayType)):
            slot.align = max(s.type.align, 8)
            self.memset(slot, s.type.size)
        self.fs.slots[s.name] = slot

    def stmt_Assign(self, s: T.Assign) -> None:
        assert self.fs is not None
        val = self.expr(s.value)
        self.store_typed(val, self.fs.slots[s.name], s.value.type)

    def stmt_Store(self, s: T.Store) -> None:
        ptr = self.offset_ptr(self.expr(s.pointer), s.offset)
        self.store_typed(self.expr(s.value), ptr, s.value.type)

    def stmt_CopyBytes(self, s: T.CopyBytes) -> None:
        dst, src = self.expr(s.dst), self.expr(s.src)
        self.memcpy(dst, src, s.size)

    def stmt_FillBytes(self, s: T.FillBytes) -> None:
        dst = self.expr(s.dst)
        data = s.data.ljust(s.size, b"\0")
        for off, width in _chunks(s.size):
            chunk = int.from_bytes(data[off:off + width], "little")
            self.b.store(ir.Constant(ir.IntType(width * 8), chunk), self.offset_ptr(dst, off),
                         align=1)

    def stmt_ExprStmt(self, s: T.ExprStmt) -> None:
        self.expr(s.value)

    def stmt_Return(self, s: T.Return) -> None:
        v = self.expr(s.value)
        assert self.fs is not None
        for destroy in reversed(self.fs.iterators):
            self.expr(destroy)
        ret_ty = self.fs.func.function_type.return_type
        if v.type != ret_ty:
            v = self.b.zext(v, ret_ty) if isinstance(v.type, ir.IntType) and \
                v.type.width < ret_ty.width else self.b.trunc(v, ret_ty)
        self.b.ret(v)

    def stmt_If(self, s: T.If) -> None:
        cond = self.expr(s.test)
        b = self.b
        if s.orelse:
            with b.if_else(cond) as (then, otherwise):
                with then:
                    self.stmts(s.body)
                with otherwise:
                    self.stmts(s.orelse)
        else:
            with b.if_then(cond):
                self.stmts(s.body)

    def stmt_While(self, s: T.While) -> None:
        assert self.fs is not None
        b = self.b
        head = b.append_basic_block("while.cond")
        body = b.append_basic_block("while.body")
        end = b.append_basic_block("while.end")
        b.branch(head)
        b.position_at_end(head)
        with self.at(s.test.loc):
            b.cbranch(self.expr(s.test), body, end)
        b.position_at_end(body)
        self.loop_body(s.body, _Loop(head, end), head)
        b.position_at_end(end)

    def stmt_ForRange(self, s: T.ForRange) -> None:
        assert self.fs is not None
        b = self.b
        var_slot = self.fs.slots[s.var]
        vt = s.start.type
        assert isinstance(vt, IntType)
        # Python's range() hands out values from its own counter: assigning the loop
        # variable in the body (or reusing it in an inner loop) does not change the
        # iteration, so the counter is a slot of its own.
        slot = self.alloca(llvm_type(vt), f"{s.var}.counter")
        stop = self.expr(s.stop)
        b.store(self.expr(s.start), slot)
        head = b.append_basic_block("for.cond")
        body = b.append_basic_block("for.body")
        step = b.append_basic_block("for.step")
        end = b.append_basic_block("for.end")
        b.branch(head)
        b.position_at_end(head)
        cur = b.load(slot, typ=llvm_type(vt))
        op = "<" if s.step > 0 else ">"
        cmp = b.icmp_signed(op, cur, stop) if vt.signed else b.icmp_unsigned(op, cur, stop)
        b.cbranch(cmp, body, end)
        b.position_at_end(body)
        b.store(cur, var_slot)
        self.loop_body(s.body, _Loop(step, end), step)
        b.position_at_end(step)
        cur = b.load(slot, typ=llvm_type(vt))
        b.store(b.add(cur, ir.Constant(llvm_type(vt), s.step)), slot)
        b.branch(head)
        b.position_at_end(end)

    def stmt_ForIter(self, s: T.ForIter) -> None:
        """new; loop: p = next; if p is NULL leave; var = *p; body; leave: destroy.

        ``break`` leaves through the destroy call, ``continue`` goes back to ``next``.
        """
        assert self.fs is not None
        b = self.b
        self.expr(s.new)
        head = b.append_basic_block("iter.next")
        body = b.append_basic_block("iter.body")
        done = b.append_basic_block("iter.done")
        end = b.append_basic_block("iter.end")
        b.branch(head)
        b.position_at_end(head)
        p = self.expr(s.next)
        b.cbranch(b.icmp_unsigned("!=", p, ir.Constant(PTR, None)), body, done)
        b.position_at_end(body)
        b.store(b.load(p, typ=I32, align=4), self.fs.slots[s.var], align=4)
        self.fs.iterators.append(s.destroy)
        try:
            self.loop_body(s.body, _Loop(head, done), head)
        finally:
            self.fs.iterators.pop()
        b.position_at_end(done)
        self.expr(s.destroy)
        b.branch(end)
        b.position_at_end(end)

    def loop_body(self, body: tuple[T.Stmt, ...], loop: _Loop, then: ir.Block) -> None:
        """Emit a loop body (break/continue target ``loop``), falling through to ``then``."""
        assert self.fs is not None
        self.fs.loops.append(loop)
        self.stmts(body)
        self.fs.loops.pop()
        if not self.b.block.is_terminated:
            self.b.branch(then)

    def stmt_Break(self, s: T.Break) -> None:
        assert self.fs is not None
        self.b.branch(self.fs.loops[-1].break_block)

    def stmt_Continue(self, s: T.Continue) -> None:
        assert self.fs is not None
        self.b.branch(self.fs.loops[-1].continue_block)

    def stmt_MapUpdate(self, s: T.MapUpdate) -> None:
        self.helper(BPF_FUNC_map_update_elem, I64, [
            self.map_of(s), self.by_ref(s.key), self.by_ref(s.value),
            self.widen64(self.expr(s.flags), s.flags.type)])

    def stmt_MapDelete(self, s: T.MapDelete) -> None:
        self.helper(BPF_FUNC_map_delete_elem, I64, [self.map_of(s), self.by_ref(s.key)])

    def stmt_MapIncrement(self, s: T.MapIncrement) -> None:
        b = self.b
        key = self.by_ref(s.key)
        by = self.expr(s.by)
        mp = self.map_of(s)
        p = self.helper(BPF_FUNC_map_lookup_elem, PTR, [mp, key])
        found = b.icmp_unsigned("!=", p, ir.Constant(PTR, None))
        if s.fixed_entries:
            # Array slots always exist (a key out of range finds nothing): no insert path.
            with b.if_then(found):
                b.atomic_rmw("add", p, by, "monotonic")
            return
        with b.if_else(found) as (then, otherwise):
            with then:
                b.atomic_rmw("add", p, by, "monotonic")
            with otherwise:
                init = self.spill_slot(by.type)
                b.store(by, init)
                rc = self.helper(BPF_FUNC_map_update_elem, I64,
                                 [mp, key, init, ir.Constant(I64, BPF_NOEXIST)])
                # Another CPU inserted the key first: add to its entry instead.
                with b.if_then(b.icmp_signed("!=", rc, ir.Constant(I64, 0))):
                    p2 = self.helper(BPF_FUNC_map_lookup_elem, PTR, [mp, key])
                    with b.if_then(b.icmp_unsigned("!=", p2, ir.Constant(PTR, None))):
                        b.atomic_rmw("add", p2, by, "monotonic")

    def stmt_AtomicAdd(self, s: T.AtomicAdd) -> None:
        ptr = self.offset_ptr(self.expr(s.pointer), s.offset)
        self.b.atomic_rmw("add", ptr, self.expr(s.value), "monotonic")

    # ------------------------------------------------------------ expressions

    def expr(self, e: T.Expr) -> ir.Value:
        with self.at(e.loc):
            return getattr(self, f"expr_{type(e).__name__}")(e)

    def expr_Const(self, e: T.Const) -> ir.Value:
        if isinstance(e.type, PointerType):
            return ir.Constant(I64, e.value).inttoptr(PTR)
        return ir.Constant(llvm_type(e.type), e.value & ((1 << llvm_type(e.type).width) - 1))

    def expr_Local(self, e: T.Local) -> ir.Value:
        assert self.fs is not None
        return self.load_typed(self.fs.slots[e.name], e.type)

    def expr_AddrOf(self, e: T.AddrOf) -> ir.Value:
        assert self.fs is not None
        return self.fs.slots[e.name]

    def expr_Unary(self, e: T.Unary) -> ir.Value:
        v = self.expr(e.operand)
        if e.op == "not":
            return self.b.not_(v)
        if e.op == "-":
            return self.b.neg(v)
        return self.b.not_(v)

    def expr_Binary(self, e: T.Binary) -> ir.Value:
        t = e.type
        assert isinstance(t, IntType)
        a, c = self.expr(e.left), self.expr(e.right)
        b = self.b
        op = e.op
        if op == "+":
            return b.add(a, c)
        if op == "-":
            return b.sub(a, c)
        if op == "*":
            return b.mul(a, c)
        if op == "&":
            return b.and_(a, c)
        if op == "|":
            return b.or_(a, c)
        if op == "^":
            return b.xor(a, c)
        if op in ("//", "%"):
            return self.divmod(op, t, a, c)
        return self.shift(op, t, a, c, e.right.type)

    def divmod(self, op: str, t: IntType, a: ir.Value, d: ir.Value) -> ir.Value:
        b = self.b
        ty = a.type
        zero = ir.Constant(ty, 0)
        one = ir.Constant(ty, 1)
        is_zero = b.icmp_unsigned("==", d, zero)
        safe_d = b.select(is_zero, one, d)
        if not t.signed:
            if op == "//":
                return b.select(is_zero, zero, b.udiv(a, safe_d))
            return b.select(is_zero, a, b.urem(a, safe_d))
        # Signed floor division from unsigned magnitudes: no sdiv (BPF v4 only)
        # and no undefined INT_MIN / -1.
        a_neg = b.icmp_signed("<", a, zero)
        d_neg = b.icmp_signed("<", safe_d, zero)
        mag_a = b.select(a_neg, b.neg(a), a)
        mag_d = b.select(d_neg, b.neg(safe_d), safe_d)
        uq = b.udiv(mag_a, mag_d)
        ur = b.urem(mag_a, mag_d)
        q = b.select(b.xor(a_neg, d_neg), b.neg(uq), uq)
        r = b.select(a_neg, b.neg(ur), ur)
        # Floor: a non-zero remainder with the divisor's opposite sign moves down by one.
        adjust = b.and_(b.icmp_unsigned("!=", r, zero),
                        b.xor(b.icmp_signed("<", r, zero), d_neg))
        if op == "//":
            return b.select(is_zero, zero, b.select(adjust, b.sub(q, one), q))
        return b.select(is_zero, a, b.select(adjust, b.add(r, safe_d), r))

    def shift(self, op: str, t: IntType, a: ir.Value, count: ir.Value,
              count_type: BPFType) -> ir.Value:
        b = self.b
        ty = a.type
        ct = count_type
        assert isinstance(ct, IntType)
        c64 = count if count.type.width == 64 else (
            b.sext(count, I64) if ct.signed else b.zext(count, I64))
        too_big = b.icmp_unsigned(">=", c64, ir.Constant(I64, t.bits))
        safe = b.select(too_big, ir.Constant(I64, t.bits - 1), c64)
        safe = safe if ty.width == 64 else b.trunc(safe, ty)
        if op == "<<":
            return b.select(too_big, ir.Constant(ty, 0), b.shl(a, safe))
        if t.signed:
            return b.ashr(a, safe)  # count clamped to width-1 gives the sign fill
        return b.select(too_big, ir.Constant(ty, 0), b.lshr(a, safe))

    def expr_Compare(self, e: T.Compare) -> ir.Value:
        a, c = self.expr(e.left), self.expr(e.right)
        lt = e.left.type
        if isinstance(lt, PointerType):
            return self.b.icmp_unsigned(e.op, a, c)
        assert isinstance(lt, IntType)
        if lt.signed:
            return self.b.icmp_signed(e.op, a, c)
        return self.b.icmp_unsigned(e.op, a, c)

    def expr_Logical(self, e: T.Logical) -> ir.Value:
        b = self.b
        end = b.append_basic_block(f"{e.op}.end")
        incoming = []
        for v in e.values[:-1]:
            cur = self.expr(v)
            nxt = b.append_basic_block(f"{e.op}.next")
            incoming.append((cur, b.block))
            if e.op == "and":
                b.cbranch(cur, nxt, end)
            else:
                b.cbranch(cur, end, nxt)
            b.position_at_end(nxt)
        last = self.expr(e.values[-1])
        incoming.append((last, b.block))
        b.branch(end)
        b.position_at_end(end)
        phi = b.phi(I1)
        for val, blk in incoming:
            phi.add_incoming(val, blk)
        return phi

    def expr_Truth(self, e: T.Truth) -> ir.Value:
        v = self.expr(e.value)
        if isinstance(v.type, ir.PointerType):
            return self.b.icmp_unsigned("!=", v, ir.Constant(PTR, None))
        if v.type == I1:
            return v
        return self.b.icmp_unsigned("!=", v, ir.Constant(v.type, 0))

    def expr_Conditional(self, e: T.Conditional) -> ir.Value:
        b = self.b
        cond = self.expr(e.test)
        then_bb = b.append_basic_block("cond.then")
        else_bb = b.append_basic_block("cond.else")
        end = b.append_basic_block("cond.end")
        b.cbranch(cond, then_bb, else_bb)
        b.position_at_end(then_bb)
        tv = self.expr(e.body)
        t_end = b.block
        b.branch(end)
        b.position_at_end(else_bb)
        ev = self.expr(e.orelse)
        e_end = b.block
        b.branch(end)
        b.position_at_end(end)
        phi = b.phi(tv.type)
        phi.add_incoming(tv, t_end)
        phi.add_incoming(ev, e_end)
        return phi

    def expr_Cast(self, e: T.Cast) -> ir.Value:
        v = self.expr(e.value)
        src, dst = e.value.type, e.type
        b = self.b
        if isinstance(dst, PointerType):
            return v if isinstance(src, PointerType) else b.inttoptr(v, PTR)
        if isinstance(src, PointerType):
            return b.ptrtoint(v, llvm_type(dst))
        to = llvm_type(dst)
        assert isinstance(src, IntType) and isinstance(dst, IntType)
        if v.type.width == to.width:
            return v
        if v.type.width > to.width:
            return b.trunc(v, to)
        if src.signed and not src.is_bool:
            return b.sext(v, to)
        return b.zext(v, to)

    def expr_AtomicRMW(self, e: T.AtomicRMW) -> ir.Value:
        ptr = self.offset_ptr(self.expr(e.pointer), e.offset)
        return self.b.atomic_rmw(e.op, ptr, self.expr(e.value), "seq_cst")

    def expr_CmpXchg(self, e: T.CmpXchg) -> ir.Value:
        ptr = self.offset_ptr(self.expr(e.pointer), e.offset)
        pair = self.b.cmpxchg(ptr, self.expr(e.expected), self.expr(e.new), "seq_cst",
                              "seq_cst")
        return self.b.extract_value(pair, 0)

    def expr_BytesEqual(self, e: T.BytesEqual) -> ir.Value:
        base = self.expr(e.pointer)
        b = self.b
        result = ir.Constant(I1, 1)
        for off, width in _chunks(len(e.data)):
            ty = ir.IntType(width * 8)
            got = b.load(self.offset_ptr(base, e.offset + off), typ=ty, align=1)
            want = int.from_bytes(e.data[off:off + width], "little")
            result = b.and_(result, b.icmp_unsigned("==", got, ir.Constant(ty, want)))
        return result

    def expr_Opaque(self, e: T.Opaque) -> ir.Value:
        v = self.expr(e.value)
        barrier = ir.InlineAsm(ir.FunctionType(v.type, [v.type]), "", "=r,0",
                               side_effect=True)
        return self.b.call(barrier, [v])

    def expr_BitLength(self, e: T.BitLength) -> ir.Value:
        v = self.expr(e.value)
        zeros = self.b.ctlz(v, ir.Constant(I1, 0))  # 64 for zero: defined, not poison
        return self.b.sub(ir.Constant(I64, 64), zeros)

    def expr_ByteSwap(self, e: T.ByteSwap) -> ir.Value:
        return self.b.bswap(self.expr(e.value))

    def expr_HelperCall(self, e: T.HelperCall) -> ir.Value:
        args = []
        for a in e.args:
            v = self.expr(a)
            if isinstance(a.type, IntType):
                v = self.widen64(v, a.type)
            args.append(v)
        ret = PTR if isinstance(e.type, PointerType) else I64
        r = self.helper(e.helper_id, ret, args)
        if isinstance(e.type, IntType) and llvm_type(e.type) != I64:
            return self.b.trunc(r, llvm_type(e.type))
        return r

    def expr_Call(self, e: T.Call) -> ir.Value:
        callee = self.functions[e.func]
        return self.b.call(callee, [self.expr(a) for a in e.args])

    def expr_ResultOf(self, e: T.ResultOf) -> ir.Value:
        assert self.fs is not None
        self.expr(e.call)
        return self.fs.slots[e.slot]

    def expr_KfuncCall(self, e: T.KfuncCall) -> ir.Value:
        callee = self.kfunc(e)
        result = self.b.call(callee, [self.expr(a) for a in e.args])
        return ir.Constant(I64, 0) if e.void else result

    def kfunc(self, e: T.KfuncCall) -> ir.Function:
        """An extern declaration in .ksyms, with debug info so BTF records the kfunc."""
        func = self.kfuncs.get(e.name)
        if func is not None:
            return func
        ret_ty = ir.VoidType() if e.void else llvm_type(e.type)
        fnty = ir.FunctionType(ret_ty, [llvm_type(t) for t in e.params])
        func = ir.Function(self.module, fnty, e.name)
        func.section = ".ksyms"
        m = self.module
        file = self._file
        types = [None if e.void else self.di_type(e.type)] + [self.di_type(t) for t in e.params]
        sub = m.add_debug_info("DISubprogram", {
            "name": e.name, "scope": file, "file": file, "line": e.loc.line,
            "type": m.add_debug_info("DISubroutineType", {"types": m.add_metadata(types)}),
            "flags": ir.DIToken("DIFlagPrototyped"),
            "spFlags": ir.DIToken("DISPFlagOptimized"),
        })
        func.set_metadata("dbg", sub)
        self.kfuncs[e.name] = func
        return func

    def expr_FuncAddr(self, e: T.FuncAddr) -> ir.Value:
        return self.functions[e.name]

    def expr_GlobalAddr(self, e: T.GlobalAddr) -> ir.Value:
        return self.global_vars[e.name]

    def expr_MapRef(self, e: T.MapRef) -> ir.Value:
        return self.map_ptr(e.map_name)

    def expr_MapLookup(self, e: T.MapLookup) -> ir.Value:
        return self.helper(BPF_FUNC_map_lookup_elem, PTR, [self.map_of(e), self.by_ref(e.key)])

    def expr_Load(self, e: T.Load) -> ir.Value:
        ptr = self.offset_ptr(self.expr(e.pointer), e.offset)
        return self.load_typed(ptr, e.type)

    def expr_PtrAdd(self, e: T.PtrAdd) -> ir.Value:
        base = self.expr(e.pointer)
        off = self.expr(e.offset)
        return self.b.gep(base, [off], source_etype=I8)

    def expr_KernelFieldAddr(self, e: T.KernelFieldAddr) -> ir.Value:
        return self.core.member_address(self.b, self.expr(e.pointer), e.struct, e.member,
                                        chained=isinstance(e.pointer, T.KernelFieldAddr))

    def expr_KernelFieldSize(self, e: T.KernelFieldSize) -> ir.Value:
        a = e.address
        size = self.core.field_info(self.b, self.expr(a.pointer), a.struct,
                                    a.struct.field(a.member), BYTE_SIZE)
        return self.b.trunc(size, llvm_type(e.type))

    def expr_KernelBitfield(self, e: T.KernelBitfield) -> ir.Value:
        value = self.core.bitfield(self.b, self.expr(e.pointer), e.struct,
                                   e.struct.field(e.member), e.probed)
        assert isinstance(e.type, IntType)
        if e.type.is_bool:
            return self.b.icmp_unsigned("!=", value, ir.Constant(I64, 0))
        return value if e.type.bits == 64 else self.b.trunc(value, llvm_type(e.type))

    def expr_CtxPacketPtr(self, e: T.CtxPacketPtr) -> ir.Value:
        ctx = self.expr(e.ctx)
        if e.width == 8:
            raw = self.b.load(self.offset_ptr(ctx, e.offset), typ=I64, align=8)
            ptr = self.b.inttoptr(raw, PTR)
        else:
            raw = self.b.load(self.offset_ptr(ctx, e.offset), typ=I32, align=4)
            ptr = self.b.inttoptr(self.b.zext(raw, I64), PTR)
        # Packet pointers are never null: saying so lets LLVM reduce `h is None` after
        # ctx.header() to the bounds check alone (no extra null test for the verifier).
        self.b.assume(self.b.icmp_unsigned("!=", ptr, ir.Constant(PTR, None)))
        return ptr

    def expr_DataLocPtr(self, e: T.DataLocPtr) -> ir.Value:
        ctx = self.expr(e.ctx)
        b = self.b
        raw = b.load(self.offset_ptr(ctx, e.offset), typ=I32, align=4)
        off = b.zext(b.and_(raw, ir.Constant(I32, 0xFFFF)), I64)
        return b.gep(ctx, [off], source_etype=I8)

    def expr_HeaderPtr(self, e: T.HeaderPtr) -> ir.Value:
        b = self.b
        data = self.expr(e.data)
        end = self.expr(e.data_end)
        start = b.gep(data, [self.expr(e.offset)], inbounds=True, source_etype=I8)
        limit = b.gep(start, [ir.Constant(I64, e.size)], inbounds=True, source_etype=I8)
        past = b.icmp_unsigned(">", limit, end)
        return b.select(past, ir.Constant(PTR, None), start)

    # ------------------------------------------------------------ pieces

    def helper(self, helper_id: int, ret: ir.Type, args: list[ir.Value]) -> ir.Value:
        fnty = ir.FunctionType(ret, [a.type for a in args])
        callee = ir.Constant(I64, helper_id).inttoptr(PTR)
        callee.function_type = fnty  # llvmlite calls through a typed callee
        return self.b.call(callee, args)

    def map_ptr(self, name: str) -> ir.Value:
        return self.map_globals[name]

    def map_of(self, node: Any) -> ir.Value:
        """The map a map operation works on: a declared map, or an inner map found at run time."""
        if node.map_ptr is not None:
            return self.expr(node.map_ptr)
        return self.map_ptr(node.map_name)

    def by_ref(self, e: T.Expr) -> ir.Value:
        """A pointer to ``e``'s value: aggregates already are; scalars are spilled."""
        v = self.expr(e)
        if isinstance(e.type, PointerType) and e.type.target is not None and \
                isinstance(e.type.target, (StructType, ArrayType)):
            return v
        slot = self.spill_slot(memory_type(e.type))
        self.store_typed(v, slot, e.type)
        return slot

    def spill_slot(self, ty: ir.Type) -> ir.Value:
        """A stack slot for a helper argument, reused by later statements.

        Helpers read their by-reference arguments during the call, so a slot
        is free again once its statement is done; without reuse every map
        access would take fresh stack and large programs would pass 512 bytes.
        """
        assert self.fs is not None
        free = self.fs.free_slots.setdefault(str(ty), [])
        slot = free.pop() if free else self.alloca(ty)
        self.fs.busy_slots.append((str(ty), slot))
        return slot

    def widen64(self, v: ir.Value, t: BPFType) -> ir.Value:
        if isinstance(v.type, ir.IntType) and v.type.width < 64:
            signed = isinstance(t, IntType) and t.signed and not t.is_bool
            return self.b.sext(v, I64) if signed else self.b.zext(v, I64)
        return v

    def offset_ptr(self, ptr: ir.Value, offset: int) -> ir.Value:
        if offset == 0:
            return ptr
        return self.b.gep(ptr, [ir.Constant(I64, offset)], source_etype=I8)

    def load_typed(self, ptr: ir.Value, t: BPFType) -> ir.Value:
        mt = memory_type(t)
        align = t.align if isinstance(t, (IntType, PointerType)) else 1
        v = self.b.load(ptr, typ=mt, align=align)
        if isinstance(t, IntType) and t.is_bool:
            return self.b.icmp_unsigned("!=", v, ir.Constant(I8, 0))
        return v

    def store_typed(self, v: ir.Value, ptr: ir.Value, t: BPFType) -> None:
        if isinstance(t, IntType) and t.is_bool:
            v = self.b.zext(v, I8)
        align = t.align if isinstance(t, (IntType, PointerType)) else 1
        self.b.store(v, ptr, align=align)

    def memset(self, ptr: ir.Value, size: int) -> None:
        for off, width in _chunks(size):
            self.b.store(ir.Constant(ir.IntType(width * 8), 0), self.offset_ptr(ptr, off), align=1)

    def memcpy(self, dst: ir.Value, src: ir.Value, size: int) -> None:
        for off, width in _chunks(size):
            v = self.b.load(self.offset_ptr(src, off), typ=ir.IntType(width * 8), align=1)
            self.b.store(v, self.offset_ptr(dst, off), align=1)

    # ------------------------------------------------------------ finish

    def finish(self) -> str:
        m = self.module
        lic = self.license.encode() + b"\0"
        lt = ir.ArrayType(I8, len(lic))
        g = ir.GlobalVariable(m, lt, "_license")
        g.section = "license"
        g.initializer = ir.Constant(lt, bytearray(lic))
        g.align = 1
        kept = [f for f in self.functions.values()
                if f.linkage == "internal" and "noinline" in f.attributes]
        if kept:
            # "Used" static functions keep their signatures: otherwise LLVM drops constant or
            # unused arguments, the code no longer matches the BTF func_info the verifier
            # checks calls against, and it refuses the program.
            at = ir.ArrayType(PTR, len(kept))
            used = ir.GlobalVariable(m, at, "llvm.compiler.used")
            used.linkage = "appending"
            used.section = "llvm.metadata"
            used.initializer = ir.Constant(at, kept)
        self.core.finish()
        if self._cu is not None:
            # The compile unit lists its globals so their types reach BTF.
            self._cu.operands = tuple(
                (k, v) for k, v in self._cu.operands if k != "globals"
            ) + (("globals", m.add_metadata(self.di_globals)),)
        m.add_named_metadata("llvm.dbg.cu", self._cu)
        m.add_named_metadata("llvm.module.flags", m.add_metadata([
            ir.Constant(I32, 7), "Dwarf Version", ir.Constant(I32, 5)]))
        m.add_named_metadata("llvm.module.flags", m.add_metadata([
            ir.Constant(I32, 2), "Debug Info Version", ir.Constant(I32, 3)]))
        for sub, nodes in self._retained:
            sub.operands = tuple((k, v) for k, v in sub.operands if k != "retainedNodes") + (
                ("retainedNodes", nodes),)
        return _declarations_with_debug_info(str(m))


@contextmanager
def _reported_at(loc: Loc) -> Iterator[None]:
    """Turn an internal failure while emitting a statement into a CompileError at its line.

    The frontend should refuse whatever codegen cannot emit; if something slips
    through, the user sees their line and what to try, not an llvmlite traceback
    (the original exception stays chained to it; ``PYEBPF_DEBUG=1`` shows it).
    """
    try:
        yield
    except BPFError:
        raise  # already at a user's line (a nested statement)
    except Exception as e:
        error(loc, f"internal compiler error on this line ({type(e).__name__}: {e})",
              "this is a pyebpf bug, please report it with this line; meanwhile, write the "
              "statement differently (e.g. through a local variable)")


_DECLARE_DBG = re.compile(r"^declare (.*?) (!dbg ![0-9]+)$", re.M)


def _declarations_with_debug_info(text: str) -> str:
    """Move ``!dbg`` of extern declarations (kfuncs) to where LLVM's parser wants it.

    llvmlite prints a function's metadata after its signature, which is right
    for definitions but not for ``declare`` lines (``declare !dbg !N ...``).
    """
    return _DECLARE_DBG.sub(r"declare \2 \1", text)


def _global_variable(module: ir.Module, ty: ir.Type, name: str) -> ir.GlobalVariable:
    """A global whose address is an untyped ``ptr``, like every stack slot (see ``alloca``).

    llvmlite types a global's address as a pointer to its value type (``[16 x i8]*``
    for a 16-byte array or struct), and a ``getelementptr`` with a byte offset keeps
    the base's pointer type: a field or element of the global would then look like
    a pointer to the whole blob, and ``store`` refuses an ``i32`` into it. Fields
    are reached by byte offset here, so the address carries no type at all.
    """
    gv = ir.GlobalVariable(module, ty, name)
    gv.type = PTR
    return gv


def _chunks(size: int) -> Iterator[tuple[int, int]]:
    """(offset, width) pieces of 8, 4, 2 and 1 bytes covering ``size`` bytes (BPF has no memset)."""
    off = 0
    while off < size:
        width = next(w for w in (8, 4, 2, 1) if size - off >= w)
        yield off, width
        off += width


def _i32() -> IntType:
    from ..types import i32

    return i32

