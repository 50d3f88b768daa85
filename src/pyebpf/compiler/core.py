"""CO-RE field accesses: kernel-struct member addresses the loader relocates.

A member of a kernel struct (``task.real_parent``, ``tp.snd_cwnd``) is reached
the way clang reaches a member of a ``preserve_access_index`` struct: through
``llvm.preserve.struct.access.index`` (``...union...`` for a union member),
tagged with ``!llvm.preserve.access.index`` pointing at a debug-info composite
type that stands for the kernel struct.  LLVM's BPF backend replaces each call
with the member's offset in that composite, records a CO-RE "field byte
offset" relocation (root type, access path) in ``.BTF.ext``, and folds the
offset into the load, store or address arithmetic that uses it.  A loader
(pyebpf's, or libbpf's) then patches the instruction with the offset the
member has in the BTF of the kernel the object is loaded on.

The composite types mirror the kernel's BTF sparsely: only the members a
program touches, at their offsets in the BTF it was compiled against (a
member of an anonymous struct or union is listed directly: loaders look a
member up by name through anonymous members).  The list is complete only
once every function has been emitted, so member indexes are filled in at
:meth:`CoreAccesses.finish` (BTF wants members in offset order).

Each module names its composites with a flavor suffix unique in the process
(``task_struct___pyebpf3``); loaders ignore the suffix (libbpf's flavor
convention: ``___`` and what follows).  It is needed because LLVM's BPF pass
remembers, for the whole process, the relocation global it made for each
access (named after the type, offset and path) and would hand a second module
the first module's global: LLVM then aborts or crashes.
"""

from __future__ import annotations

import itertools
from typing import Any

import llvmlite.ir as ir
from llvmlite.ir.values import ArgumentAttributes

from ..types import PointerType

__all__ = ["CoreAccesses"]

_MODULES = itertools.count(1)  # flavor suffixes (see the module docstring)
_PTR = ir.PointerType()
_I32 = ir.IntType(32)


class _ElementType(ArgumentAttributes):
    """``elementtype(T)`` on the base argument, which LLVM requires of the intrinsics.

    llvmlite derives ``T`` from a typed pointer, and pyebpf's pointers are opaque.
    The backend reads ``T`` only for its alignment, for bitfield relocations,
    which pyebpf does not emit: a byte serves.
    """

    def _to_list(self, typ: Any) -> list[str]:
        return ["elementtype(i8)"]


class _LocalStruct:
    """The composite type standing for one kernel struct or union, and its members."""

    def __init__(self, di: Any, union: bool) -> None:
        self.di = di
        self.union = union
        self.members: dict[str, tuple[int, Any, int]] = {}  # name -> (bit offset, DI type, bits)
        self.indexes: list[tuple[str, ir.Constant]] = []


class CoreAccesses:
    """Builds CO-RE member accesses for one module (see the module docstring)."""

    def __init__(self, builder: Any) -> None:
        self.mb = builder  # the ModuleBuilder: its module and its DI types
        self.structs: dict[Any, _LocalStruct] = {}
        self._intrinsics: dict[bool, ir.Function] = {}
        self._flavor = ""

    def member_address(self, b: ir.IRBuilder, base: ir.Value, st: Any, name: str,
                       chained: bool) -> ir.Value:
        """The address of member ``name`` of kernel struct ``st`` at ``base``; ``chained``
        when ``base`` is itself a member's address (``icsk.icsk_ack.pending``)."""
        kf = st.field(name)
        if st.kind == "union" and kf.offset or not chained and st.name.startswith("("):
            # Left at this BTF's offset: a member of a struct inside an anonymous member of
            # a union (a union's members all start at 0, so it cannot be listed directly),
            # or an access rooted at an anonymous struct (which no loader can look up).
            return b.gep(base, [ir.Constant(ir.IntType(64), kf.offset)],
                         source_etype=ir.IntType(8))
        local = self.local(st)
        if name not in local.members:
            local.members[name] = (kf.offset * 8, self.member_di(kf.type), kf.type.size * 8)
        index = ir.Constant(_I32, 0)  # set in finish(), once every member is known
        local.indexes.append((name, index))
        fn = self.intrinsic(local.union)
        args = [base, index] if local.union else [base, ir.Constant(_I32, 0), index]
        call = b.call(fn, args)
        call.arg_attributes[0] = _ElementType()
        call.set_metadata("llvm.preserve.access.index", local.di)
        return call

    def local(self, st: Any) -> _LocalStruct:
        local = self.structs.get(st)
        if local is None:
            union = st.kind == "union"
            if not self._flavor:
                self._flavor = f"___pyebpf{next(_MODULES)}"
            # Distinct, so two kernel structs of the same name and size stay two types.
            di = self.mb.module.add_debug_info("DICompositeType", {
                "tag": ir.DIToken("DW_TAG_union_type" if union else "DW_TAG_structure_type"),
                "name": st.name + self._flavor if not st.name.startswith("(") else "",
                "size": st.size * 8,
            }, is_distinct=True)
            local = self.structs[st] = _LocalStruct(di, union)
        return local

    def member_di(self, t: Any) -> Any:
        """A member's DI type; kernel structs (embedded or pointed to) are local composites."""
        if type(t).__name__ == "KernelStruct":
            return self.local(t).di
        if isinstance(t, PointerType) and type(t.target).__name__ == "KernelStruct":
            return self.mb.module.add_debug_info("DIDerivedType", {
                "tag": ir.DIToken("DW_TAG_pointer_type"), "baseType": self.local(t.target).di,
                "size": 64})
        return self.mb.di_type(t)

    def intrinsic(self, union: bool) -> ir.Function:
        fn = self._intrinsics.get(union)
        if fn is None:
            if union:
                name = "llvm.preserve.union.access.index.p0.p0"
                fnty = ir.FunctionType(_PTR, [_PTR, _I32])
            else:
                name = "llvm.preserve.struct.access.index.p0.p0"
                fnty = ir.FunctionType(_PTR, [_PTR, _I32, _I32])
            fn = self._intrinsics[union] = ir.Function(self.mb.module, fnty, name)
        return fn

    def finish(self) -> None:
        """Give each composite its members in offset order and each access its index."""
        m = self.mb.module
        for local in self.structs.values():
            order = sorted(local.members, key=lambda n: local.members[n][0])
            for name, constant in local.indexes:
                constant.constant = order.index(name)
            elements = [
                m.add_debug_info("DIDerivedType", {
                    "tag": ir.DIToken("DW_TAG_member"), "name": name, "baseType": di,
                    "size": bits, "offset": 0 if local.union else offset})
                for name in order
                for offset, di, bits in [local.members[name]]
            ]
            local.di.operands = tuple(
                (k, v) for k, v in local.di.operands if k != "elements"
            ) + (("elements", m.add_metadata(elements)),)
