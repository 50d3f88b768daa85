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

A bitfield is read as clang's ``BPF_CORE_READ_BITFIELD`` (trusted pointer) and
``BPF_CORE_READ_BITFIELD_PROBED`` (plain address) read one: every fact about
its storage is a ``llvm.bpf.preserve.field.info`` relocation (byte offset, byte
size, LSHIFT_U64, RSHIFT_U64), so the load is of the relocated size at the
relocated offset and the shifts ``(storage << lshift) >> rshift`` (arithmetic
for a signed field) leave the field's value.  A trusted load's width is
fixed in the instruction, so it is a switch over the four widths, of which
the verifier walks the one the relocated size names; a probe read copies the
relocated size into a zeroed u64.

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
from .values import relocatable

__all__ = ["CoreAccesses", "BYTE_OFFSET", "BYTE_SIZE"]

_MODULES = itertools.count(1)  # flavor suffixes (see the module docstring)
_PTR = ir.PointerType()
_I32 = ir.IntType(32)


_I64 = ir.IntType(64)

# enum bpf_core_relo_kind (uapi/linux/bpf.h), the second argument of preserve.field.info.
BYTE_OFFSET, BYTE_SIZE, LSHIFT_U64, RSHIFT_U64 = 0, 1, 4, 5


class _ElementType(ArgumentAttributes):
    """``elementtype(T)`` on the base argument, which LLVM requires of the intrinsics.

    llvmlite derives ``T`` from a typed pointer, and pyebpf's pointers are opaque.
    The backend reads ``T`` only for its alignment, which sets the storage unit it
    assumes for a bitfield (the compile-time values of its field-info relocations):
    the unit pyebpf reads at fixed offsets, ``i8`` for plain members.
    """

    def __init__(self, unit_bits: int = 8) -> None:
        super().__init__()
        self.unit_bits = unit_bits

    def _to_list(self, typ: Any) -> list[str]:
        return [f"elementtype(i{self.unit_bits})"]


_PROBE_READ_KERNEL = 113  # BPF_FUNC_probe_read_kernel


class _LocalStruct:
    """The composite type standing for one kernel struct or union, and its members."""

    def __init__(self, di: Any, union: bool) -> None:
        self.di = di
        self.union = union
        # name -> (bit offset, DI type, bits, whether a bitfield)
        self.members: dict[str, tuple[int, Any, int, bool]] = {}
        self.indexes: list[tuple[str, ir.Constant]] = []


class CoreAccesses:
    """Builds CO-RE member accesses for one module (see the module docstring)."""

    def __init__(self, builder: Any) -> None:
        self.mb = builder  # the ModuleBuilder: its module and its DI types
        self.structs: dict[Any, _LocalStruct] = {}
        self._intrinsics: dict[bool, ir.Function] = {}
        # Each access call -> the pointer its chain of accesses starts from: LLVM folds a
        # chain (icsk->icsk_mtup.probe_size) into one relocation whose path, and offset,
        # start there.
        self._roots: dict[ir.Value, ir.Value] = {}
        self._flavor = ""

    def member_address(self, b: ir.IRBuilder, base: ir.Value, st: Any, name: str,
                       chained: bool) -> ir.Value:
        """The address of member ``name`` of kernel struct ``st`` at ``base``; ``chained``
        when ``base`` is itself a member's address (``icsk.icsk_ack.pending``)."""
        kf = st.field(name)
        if not relocatable(st, kf, chained):
            return b.gep(base, [ir.Constant(ir.IntType(64), kf.offset)],
                         source_etype=ir.IntType(8))
        return self.access(b, base, st, kf)

    def access(self, b: ir.IRBuilder, base: ir.Value, st: Any, kf: Any) -> ir.Value:
        """A ``preserve.*.access.index`` call reaching member ``kf`` of ``st`` at ``base``."""
        local = self.local(st)
        if kf.name not in local.members:
            if kf.bit_size:
                local.members[kf.name] = (kf.offset * 8 + kf.bit_shift,
                                          self.member_di(kf), kf.bit_size, True)
            else:
                local.members[kf.name] = (kf.offset * 8, self.member_di(kf),
                                          kf.type.size * 8, False)
        index = ir.Constant(_I32, 0)  # set in finish(), once every member is known
        local.indexes.append((kf.name, index))
        fn = self.intrinsic(local.union)
        args = [base, index] if local.union else [base, ir.Constant(_I32, 0), index]
        call = b.call(fn, args)
        call.arg_attributes[0] = _ElementType(kf.unit.bits if kf.bit_size else 8)
        call.set_metadata("llvm.preserve.access.index", local.di)
        self._roots[call] = self._roots.get(base, base)
        return call

    def field_info(self, b: ir.IRBuilder, base: ir.Value, st: Any, kf: Any,
                   kind: int) -> ir.Value:
        """``__builtin_preserve_field_info(base->member, kind)``: an i64 the loader sets."""
        fn = self.mb.module.globals.get("llvm.bpf.preserve.field.info.p0")
        if fn is None:
            fn = ir.Function(self.mb.module, ir.FunctionType(_I32, [_PTR, _I64]),
                             "llvm.bpf.preserve.field.info.p0")
        info = b.call(fn, [self.access(b, base, st, kf), ir.Constant(_I64, kind)])
        return b.zext(info, _I64)

    def bitfield(self, b: ir.IRBuilder, base: ir.Value, st: Any, kf: Any,
                 probed: bool) -> ir.Value:
        """The value of bitfield ``kf`` of ``st`` at ``base``, in an i64 (see the module
        docstring); ``probed`` when ``base`` is a plain address (bpf_probe_read_kernel)."""
        # The byte offset is counted from where the chain of accesses starts.
        address = b.gep(self._roots.get(base, base),
                        [self.field_info(b, base, st, kf, BYTE_OFFSET)],
                        source_etype=ir.IntType(8))
        size = self.field_info(b, base, st, kf, BYTE_SIZE)
        if probed:
            slot = self.mb.spill_slot(_I64)
            b.store(ir.Constant(_I64, 0), slot)
            self.mb.helper(_PROBE_READ_KERNEL, _I64, [slot, size, address])
            storage = b.load(slot, typ=_I64)
        else:
            storage = self.load_sized(b, address, size)
        value = b.shl(storage, self.field_info(b, base, st, kf, LSHIFT_U64))
        right = self.field_info(b, base, st, kf, RSHIFT_U64)
        signed = kf.type.signed and not kf.type.is_bool
        return b.ashr(value, right) if signed else b.lshr(value, right)

    @staticmethod
    def load_sized(b: ir.IRBuilder, address: ir.Value, size: ir.Value) -> ir.Value:
        """``*(u8/u16/u32/u64 *)address`` as ``size`` (1, 2, 4, 8) says, zero-extended;
        0 for any other size (BPF_CORE_READ_BITFIELD's switch)."""
        done = b.append_basic_block("bitfield.loaded")
        other = b.append_basic_block("bitfield.other")
        switch = b.switch(size, other)
        incoming = []
        for width in (1, 2, 4, 8):
            block = b.append_basic_block(f"bitfield.u{width * 8}")
            switch.add_case(ir.Constant(_I64, width), block)
            b.position_at_end(block)
            loaded = b.load(address, typ=ir.IntType(width * 8), align=width)
            incoming.append((b.zext(loaded, _I64) if width < 8 else loaded, block))
            b.branch(done)
        b.position_at_end(other)
        b.branch(done)
        b.position_at_end(done)
        phi = b.phi(_I64)
        for value, block in incoming + [(ir.Constant(_I64, 0), other)]:
            phi.add_incoming(value, block)
        return phi

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

    def member_di(self, kf: Any) -> Any:
        """A member's DI type; kernel structs (embedded or pointed to) are local composites,
        kernel enums enumerations (libbpf matches an int member only with an int)."""
        t = kf.type
        if kf.enum is not None:
            return self.mb.di_enum(kf.enum)
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
                    "size": bits, "offset": 0 if local.union and not bitfield else offset,
                    **({"flags": ir.DIToken("DIFlagBitField")} if bitfield else {})})
                for name in order
                for offset, di, bits, bitfield in [local.members[name]]
            ]
            local.di.operands = tuple(
                (k, v) for k, v in local.di.operands if k != "elements"
            ) + (("elements", m.add_metadata(elements)),)
