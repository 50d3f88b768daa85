"""Kernel structs typed from the running kernel's BTF: ``bpf.kernel.task_struct``.

::

    task = bpf.get_current_task_btf()      # a task_struct pointer the verifier trusts
    ppid = task.real_parent.tgid           # field reads at the offsets of this kernel

Layouts come from ``/sys/kernel/btf/vmlinux`` at compile time (or the file
``$PYEBPF_KERNEL_BTF`` names), so programs need no headers; the compiler emits
member offsets as CO-RE relocations (:mod:`pyebpf.compiler.core`), so an object
also reads the right fields on a kernel laid out differently.  A
:class:`KernelStruct` is a :class:`~pyebpf.types.BPFType` the compiler asks
for fields; members resolve lazily (typedefs followed; integers, enums,
pointers, arrays, nested and anonymous structs and unions, bitfields).

A bitfield (``icsk_ca_state:5``) is described by :class:`KernelField` as the
smallest aligned 1, 2, 4 or 8 bytes holding its bits (its *storage unit*) and
its place in them; the compiler reads it as clang's ``BPF_CORE_READ_BITFIELD``
does, with the storage and shifts relocated by the loader.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from .errors import BPFError, BTFError
from .types import BPFType, IntType, PointerType, i8, i16, i32, i64, u8, u16, u32, u64

__all__ = ["KernelStruct", "struct", "KernelField", "KFunc", "kfunc", "write_refusal"]

_INTS = {(1, False): u8, (2, False): u16, (4, False): u32, (8, False): u64,
         (1, True): i8, (2, True): i16, (4, True): i32, (8, True): i64}


class KernelField:
    """A member of a kernel struct: ``type`` at byte ``offset``.

    For a bitfield, ``bit_size`` is its width and ``offset`` is where its storage
    unit (``unit``, an unsigned integer type of 1, 2, 4 or 8 bytes, aligned to its
    size) starts; the field's value is bits ``[bit_shift, bit_shift + bit_size)`` of
    that unit (little-endian, as BPF is), of ``type``'s signedness.

    An enum-typed member has the integer ``type`` of its size and signedness, and
    ``enum``, the kernel's BTF enum (its name and enumerators): the object's BTF
    describes the member as that enum, since loaders match an int only with an int.
    """

    __slots__ = ("name", "offset", "type", "bit_size", "bit_shift", "unit", "enum")

    def __init__(self, name: str, offset: int, type: BPFType, bit_size: int = 0,
                 bit_shift: int = 0, unit: IntType | None = None, enum: Any = None) -> None:
        self.name = name
        self.offset = offset
        self.type = type
        self.bit_size = bit_size
        self.bit_shift = bit_shift
        self.unit = unit
        self.enum = enum


class KernelStruct(BPFType):
    """A struct or union of the running kernel (read through BTF pointers)."""

    def __init__(self, name: str, type_id: int, size: int, kind: str = "struct") -> None:
        self.name = name
        self.type_id = type_id
        self.size = size
        self.kind = kind  # "struct" or "union"
        self.align = 8
        self._fields: dict[str, KernelField | None] = {}

    def field(self, name: str) -> KernelField | None:
        """The member called ``name`` (anonymous members searched through), or None."""
        if name not in self._fields:
            self._fields[name] = _member(self.type_id, name)
        return self._fields[name]

    def pack(self, value: Any) -> bytes:
        raise TypeError(f"struct {self.name} lives in the kernel; read its fields instead")

    def unpack(self, data: bytes | memoryview) -> Any:
        return bytes(data[: self.size])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, KernelStruct) and other.type_id == self.type_id

    def __hash__(self) -> int:
        return hash(("kernel", self.type_id))

    def __repr__(self) -> str:
        return f"struct {self.name}"


# Compile against another kernel's BTF (a testing and cross-compiling aid): the layouts of
# kernel structs, and kfunc signatures, come from this file instead of the running kernel's.
# Objects stay portable either way: member offsets are CO-RE relocations the loader resolves
# against the BTF of the kernel it loads them on.  Compiles under it skip the compile cache.
BTF_ENV = "PYEBPF_KERNEL_BTF"


def btf_path() -> str:
    """The BTF kernel structs are typed from: ``$PYEBPF_KERNEL_BTF``, else this kernel's."""
    from .btf import KERNEL_BTF_PATH

    return os.environ.get(BTF_ENV) or KERNEL_BTF_PATH


def _btf() -> Any:
    from .btf import BTF

    return BTF.kernel(btf_path())


def struct(name: str) -> KernelStruct:
    """The kernel struct (or union) ``name``; BTFError when this kernel has none."""
    return _struct(btf_path(), name)


@cache
def _struct(path: str, name: str) -> KernelStruct:
    btf = _btf()
    for kind in ("struct", "union"):
        try:
            t = btf.find(name, kind)
        except BTFError:
            continue
        return _by_id(t.id)
    raise BTFError(f"this kernel's BTF has no struct or union {name!r}")


def _by_id(type_id: int) -> KernelStruct:
    return _struct_by_id(btf_path(), type_id)


@cache
def _struct_by_id(path: str, type_id: int) -> KernelStruct:
    btf = _btf()
    t = btf.resolved(type_id)
    return KernelStruct(t.name or f"(anonymous {t.kind} #{type_id})", btf.resolve(type_id),
                        t.size, t.kind)


def _member(type_id: int, name: str) -> KernelField | None:
    btf = _btf()
    found = btf._find_member(type_id, name)
    if found is None:
        return None
    from . import btf as B

    member, bit_offset = found
    width = member.bitfield_size
    declared = btf.resolved(member.type)
    enum = declared if isinstance(declared, B.Enum) else None
    if not width and isinstance(declared, B.Int) and declared.bits != declared.size * 8:
        # The older encoding (struct kind_flag 0): the bits are in the INT type itself.
        width, bit_offset = declared.bits, bit_offset + declared.bit_offset
    if not width and bit_offset % 8 == 0:
        return KernelField(name, bit_offset // 8, _type_of(member.type), enum=enum)
    ty = _type_of(member.type)
    if not isinstance(ty, IntType):
        raise BTFError(f"{name} is a bitfield of a non-integer type")
    width = width or ty.bits
    container = btf.resolved(type_id).size
    for size in (1, 2, 4, 8):
        start = bit_offset // (size * 8) * size
        if bit_offset + width <= (start + size) * 8 and start + size <= container:
            return KernelField(name, start, ty, width, bit_offset - start * 8,
                               _INTS[(size, False)], enum)
    raise BTFError(f"bitfield {name} does not fit an aligned 8-byte unit of its struct")


def _type_of(type_id: int) -> BPFType:
    """The pyebpf type of a kernel BTF type (pointers to structs stay kernel structs)."""
    from . import btf as B

    btf = _btf()
    t = btf.resolved(type_id)
    if isinstance(t, B.Int):
        if t.encoding & B.INT_BOOL:
            return u8
        return _INTS.get((t.size, t.signed), u64)
    if isinstance(t, B.Enum):
        return _INTS.get((t.size, t.signed), u32)
    if isinstance(t, B.Ptr):
        target = btf.resolved(t.type) if t.type else None
        if isinstance(target, B.Struct):
            return PointerType(_by_id(t.type), "btf")
        return PointerType(None, "btf")
    if isinstance(t, B.Struct):
        return _by_id(type_id)
    if isinstance(t, B.Array):
        elem = _type_of(t.type)
        if isinstance(elem, IntType) and t.nelems:
            from .types import char

            if elem.size == 1 and "char" in (btf.resolved(t.type).name or ""):
                elem = char
            return elem[t.nelems]
        raise BTFError("arrays of non-integers in kernel structs are not supported yet")
    raise BTFError(f"kernel type {t.kind} {t.name!r} is not supported in programs yet")


# --------------------------------------------------------------------------- stores


def _at_offset_zero(st: KernelStruct) -> list[KernelStruct]:
    """``st`` and the structs nested at its offset 0 (tcp_sock, inet_connection_sock,
    inet_sock, sock, sock_common): a pointer to any of them points at the same bytes."""
    from . import btf as B

    btf = _btf()
    chain = [st]
    while True:
        members = btf.members(chain[-1].type_id)
        first = members[0] if members else None
        inner = btf.resolved(first.type) if first is not None else None
        if first is None or first.byte_offset != 0 or not isinstance(inner, B.Struct) \
                or inner.kind != "struct":
            return chain
        chain.append(_by_id(first.type))


def _member_range(obj: KernelStruct, path: str) -> tuple[int, int]:
    """[start, end) of member ``path`` ("icsk_ack.pending") of ``obj`` or of a struct at its
    offset 0 (the kernel names tcp_sock's writable bytes by sock and icsk members too)."""
    first, *rest = path.split(".")
    for st in _at_offset_zero(obj):
        f = st.field(first)
        if f is not None:
            break
    else:
        raise BTFError(f"struct {obj.name} has no member {first!r}")
    offset = f.offset
    for name in rest:
        assert isinstance(f.type, KernelStruct)
        f = f.type.field(name)
        if f is None:
            raise BTFError(f"struct {obj.name} has no member {path!r}")
        offset += f.offset
    return offset, offset + f.type.size


def write_refusal(writes: Any, st: KernelStruct, offset: int, size: int) -> str | None:
    """Why the verifier refuses a ``size``-byte store at ``offset`` into ``st`` (through a
    trusted pointer), under program-type policy ``writes`` (a
    :class:`~pyebpf.lang.contexts.KernelWrites`); None when it accepts it."""
    if writes.object is None:
        return f"this program type may only read kernel structs ({writes.decider})"
    obj = struct(writes.object)
    if st not in _at_offset_zero(obj):
        return (f"{writes.decider} lets these programs store only to struct {obj.name}, "
                f"not to struct {st.name}")
    if writes.fields is None:
        if offset + size <= obj.size:
            return None
        return f"{writes.decider}: this store ends past the end of struct {obj.name}"
    for path in writes.fields + writes.ranges:
        try:
            start, end = _member_range(obj, path)
        except BTFError:  # a member this kernel does not have
            continue
        starts_ok = start <= offset < end if path in writes.ranges else offset == start
        if starts_ok and offset + size <= end:
            return None
    names = ", ".join(writes.fields + writes.ranges)
    return (f"{writes.decider} lets these programs write only these members of struct "
            f"{obj.name}: {names}")


class KFunc:
    """A kernel function (kfunc) programs may call: ``task_from_pid = bpf.kfunc("bpf_task_from_pid")``.

    The signature comes from the running kernel's BTF when a program using it
    is compiled; a kernel without the kfunc makes that a clear error.  Whether
    a program type may call it is the verifier's decision, reported at the
    call's line.
    """

    def __init__(self, name: str) -> None:
        self.name = name

    def signature(self) -> tuple[list[BPFType], BPFType | None]:
        """Parameter types and return type (None for void), from kernel BTF."""
        from .errors import NotSupportedError

        btf = _btf()
        try:
            proto = btf.func_proto(self.name)
        except BTFError:
            raise NotSupportedError(f"the kfunc {self.name}()",
                                    detail="this kernel's BTF does not have it") from None
        params = [_type_of(p.type) for p in proto.params if p.type]
        ret = None if proto.return_type == 0 else _type_of(proto.return_type)
        return params, ret

    def __call__(self, *args: Any) -> Any:
        raise BPFError(f"{self.name}() is a kernel function: call it inside a program")

    def __repr__(self) -> str:
        return f"bpf.kfunc({self.name!r})"


def kfunc(name: str) -> KFunc:
    """Declare kernel function ``name`` for programs to call (a kfunc)."""
    return KFunc(name)


def __getattr__(name: str) -> KernelStruct:
    if name.startswith("__"):
        raise AttributeError(name)
    try:
        return struct(name)
    except BTFError as e:
        raise AttributeError(str(e)) from None


__pyebpf_namespace__ = True
