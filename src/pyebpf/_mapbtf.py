"""pyebpf types for a kernel map's BTF key and value, for maps this process did not declare.

Where this sits in the data flow: :meth:`pyebpf.maps.Map.from_pinned` and
:meth:`~pyebpf.maps.Map.from_id` read ``bpf_map_info``'s ``btf_id``,
``btf_key_type_id`` and ``btf_value_type_id``, fetch the raw BTF of that
object (``BPF_BTF_GET_FD_BY_ID`` then ``BPF_OBJ_GET_INFO_BY_FD``) and ask
:func:`types_for` to turn the two type ids into :mod:`pyebpf.types`:

- ints by size and signedness (``char`` and ``bool`` kept), enums as ints,
  pointers as ``u64``;
- arrays as fixed arrays (``char[N]`` reads back as ``str``);
- structs as a :class:`~pyebpf.types.Struct` subclass made at run time,
  with the BTF's field names, offsets and size (padding kept where BTF
  puts it, packed layouts too).

What has no pyebpf type stays raw bytes, and :attr:`TypedSides.notes`
says why: unions and floats (a ``u8[N]`` field inside a struct), structs
with bitfields (the whole struct), ``__int128``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import btf as B
from .types import (
    ArrayType,
    BPFType,
    Field,
    IntType,
    Struct,
    StructType,
    bool_,
    char,
    i8,
    i16,
    i32,
    i64,
    u8,
    u16,
    u32,
    u64,
)

__all__ = ["TypedSides", "types_for", "read_map_btf"]

_INTS = {(t.size, t.signed): t for t in (u8, u16, u32, u64, i8, i16, i32, i64)}


@dataclass
class TypedSides:
    """The key and value types found (None: raw bytes) and notes on what stayed bytes."""

    key: BPFType | None = None
    value: BPFType | None = None
    notes: list[str] = field(default_factory=list)


class _Untyped(Exception):
    """A BTF type with no pyebpf equivalent; the message says which and why."""


def read_map_btf(info: dict) -> TypedSides:
    """Types for the map described by ``info`` (``syscalls.map_info``); empty without BTF."""
    from ._native import syscalls

    if not info.get("btf_id") or not (info.get("btf_key_type_id") or info.get("btf_value_type_id")):
        return TypedSides(notes=["the map has no BTF: keys and values are bytes"])
    fd = syscalls.btf_get_fd_by_id(info["btf_id"])
    try:
        raw = syscalls.btf_raw(fd)
    finally:
        syscalls.close(fd)
    return types_for(B.BTF.from_bytes(raw), info["btf_key_type_id"], info["btf_value_type_id"],
                     info["key_size"], info["value_size"])


def types_for(btf: B.BTF, key_id: int, value_id: int, key_size: int,
              value_size: int) -> TypedSides:
    """Convert the BTF key/value type ids (0: none); a side whose size disagrees with
    the map's stays bytes."""
    sides = TypedSides()
    for side, type_id, size in (("key", key_id, key_size), ("value", value_id, value_size)):
        if not type_id:
            continue
        try:
            t = _convert(btf, type_id)
        except _Untyped as e:
            sides.notes.append(f"{side}: {e}; read as bytes")
            continue
        if t.size != size:
            sides.notes.append(f"{side}: BTF type {t.name} is {t.size} bytes, the map's "
                               f"{side}s are {size}; read as bytes")
            continue
        setattr(sides, side, t)
    return sides


def _convert(btf: B.BTF, type_id: int) -> BPFType:
    t = btf.resolved(type_id)
    if isinstance(t, B.Int):
        return _int(t)
    if isinstance(t, B.Enum):
        return _INTS[(t.size, t.signed)]
    if isinstance(t, B.Ptr):
        return u64
    if isinstance(t, B.Array):
        return ArrayType(_convert(btf, t.type), t.nelems)
    if isinstance(t, B.Union):
        raise _Untyped(f"union {t.name or '(anonymous)'} has no pyebpf type")
    if isinstance(t, B.Struct):
        return _struct(btf, t)
    raise _Untyped(f"BTF {t.kind} {t.name!r} has no pyebpf type")


def _int(t: B.Int) -> IntType:
    if t.encoding & B.INT_BOOL and t.size == 1:
        return bool_
    # clang and pyebpf encode C's `char` as a signed 1-byte int named "char"
    if t.size == 1 and (t.encoding & B.INT_CHAR or t.name == "char"):
        return char
    try:
        return _INTS[(t.size, t.signed)]
    except KeyError:
        raise _Untyped(f"{t.size}-byte int {t.name} has no pyebpf type") from None


def _struct(btf: B.BTF, t: B.Struct) -> BPFType:
    name = t.name or f"anon_struct_{t.id}"
    if any(m.bitfield_size or m.bit_offset % 8 for m in t.members):
        raise _Untyped(f"struct {name} has bitfields")
    fields: list[tuple[str, BPFType, int]] = []
    for i, m in enumerate(t.members):
        try:
            ftype = _convert(btf, m.type)
        except _Untyped:  # a union or float member: its bytes, unparsed
            ftype = u8[btf.size_of(m.type)]
        fields.append((m.name or f"_anon{i}", ftype, m.byte_offset))
    return struct_class(name if name.isidentifier() else f"struct_{t.id}", fields, t.size)


def struct_class(name: str, fields: list[tuple[str, BPFType, int]], size: int) -> StructType:
    """A :class:`Struct` subclass with exactly these ``(name, type, offset)`` fields and size.

    The class is made from annotations (natural C layout) and its layout is
    then set to the given offsets: BTF records where each member is, which
    differs from the natural layout for packed or explicitly aligned structs.
    """
    cls = type(name, (Struct,), {"__annotations__": {n: ft for n, ft, _ in fields},
                                 "__module__": __name__})
    st: StructType = cls.__bpf_type__  # type: ignore[attr-defined]
    st.fields = [Field(n, ft, off) for n, ft, off in fields]
    st.by_name = {f.name: f for f in st.fields}
    st.size = size
    if any(off % ft.align for _, ft, off in fields):
        st.align = 1
    return st
