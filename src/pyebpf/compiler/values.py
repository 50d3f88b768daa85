"""What the frontend's translation works with, besides typed IR.

Values while translating are either typed IR expressions, :class:`Lit`
(an untyped Python int: a literal or a frozen module global), :class:`Known`
(a compile-time Python object: a map, a type, the ``bpf`` module, ...) or a
:class:`Place` (a typed location in memory: a struct field, a map value).
The small records below stand for what only some constructs take (a bound
map method, a struct constructor, a statement-only call); the predicates
name the kinds of objects a program may refer to.  Shared by
:mod:`.frontend`, :mod:`.calls` and :mod:`.mapops`.
"""

from __future__ import annotations

import ast
import builtins
from typing import Any, Union

from .._record import MutableRecord, Record, factory, record
from ..types import (
    ArrayType,
    BPFType,
    IntType,
    PointerType,
    StructType,
)
from . import tir as T
from .source import Loc

__all__ = ["relocatable", "Lit", "Known", "Place", "Bitfield", "Value", "LocalVar", "MapUse", "Env", "BoundMapMethod",
           "InnerMapType", "ArrayCtor", "BytesMethod", "CtxMethod", "StructCtor", "StmtValue",
           "RESULT_PARAM", "is_ctx", "is_aggregate", "char_type", "is_map_obj", "untrusted",
           "is_kernel_struct", "is_global_var", "is_subprogram"]


@record
class Lit(Record):
    """An untyped integer known at compile time (a literal or a module global)."""

    value: int
    loc: Loc


@record
class Known(Record):
    """A Python object the program names at compile time (map, type, module, helper...)."""

    obj: Any
    loc: Loc


@record
class Bitfield(Record):
    """Where a bitfield's value is: bits ``[shift, shift + width)`` of the ``unit``
    integer (unsigned, 1 to 8 bytes) stored at the :class:`Place`'s offset; or, when
    ``struct`` is set, member ``member`` of that kernel struct at the Place's pointer,
    whose storage the loader relocates (a CO-RE bitfield read)."""

    unit: IntType
    shift: int
    width: int
    struct: Any = None
    member: str = ""


@record
class Place(Record):
    """Memory of ``type`` at ``pointer + offset``: a field, an element, a map value."""

    pointer: T.Expr
    offset: int
    type: BPFType
    loc: Loc
    writable: bool = True
    # A variable element index: the memory is at ``offset + index * stride`` when
    # ``index < bound`` (reads give 0 and writes do nothing otherwise).
    index: T.Expr | None = None
    bound: int = 0
    stride: int = 0
    checked: bool = True  # False when the index is known in range (a range() counter)
    # Why a store here is refused (message, what to do instead), when ``writable`` is False
    # for a reason more precise than "read-only" (kernel memory the verifier guards).
    refusal: tuple[str, str] | None = None
    # A kernel-struct bitfield: ``type`` is its declared type, read from a storage unit.
    bitfield: Bitfield | None = None


Value = Union[T.Expr, Lit, Known, Place]  # noqa: UP007 (a runtime alias)


@record
class LocalVar(MutableRecord):
    name: str
    type: BPFType
    aggregate: bool


@record
class MapUse(MutableRecord):
    """A map the program refers to, under the name it has in the object."""

    name: str
    map: Any


@record
class Env(MutableRecord):
    """Everything a function may name besides its locals."""

    globals: dict[str, Any]
    closure: dict[str, Any] = factory(dict)

    def lookup(self, name: str) -> tuple[bool, Any]:
        if name in self.closure:
            return True, self.closure[name]
        if name in self.globals:
            return True, self.globals[name]
        if hasattr(builtins, name):
            return True, getattr(builtins, name)
        return False, None


@record
class BoundMapMethod(Record):
    """``m.method`` before its call."""

    map: Any
    method: str
    map_ptr: T.Expr | None = None  # an inner map pointer (maps of maps)


class InnerMapType(BPFType):
    """What a map-of-maps lookup points to: an inner map shaped like ``decl``."""

    size = 0
    align = 8

    def __init__(self, decl: Any) -> None:
        self.decl = decl
        self.name = f"map<{type(decl).__name__}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, InnerMapType) and other.decl is self.decl

    def __hash__(self) -> int:
        return hash(("inner-map", id(self.decl)))


@record
class ArrayCtor(Record):
    """``u8[4]()``: a zeroed array, built where it is stored."""

    type: ArrayType


@record
class BytesMethod(Record):
    """``arr.startswith`` before its call."""

    place: Place


@record
class CtxMethod(Record):
    """``ctx.header`` / ``ctx.arg`` before the call."""

    method: str


@record
class StructCtor(Record):
    """``Event(pid=1)``: the fields are filled where it is stored."""

    type: StructType
    fields: dict[str, ast.expr]
    loc: Loc


@record
class StmtValue(Record):
    """A call that makes a statement and gives no value (``m.update(k, v)``)."""

    stmt: T.Stmt


RESULT_PARAM = "__result"  # the parameter a struct or array result is written through


def is_ctx(t: BPFType) -> bool:
    return isinstance(t, PointerType) and t.kind == "ctx"


def is_aggregate(t: BPFType | None) -> bool:
    return isinstance(t, (StructType, ArrayType))


def char_type() -> IntType:
    from ..types import char

    return char


def is_map_obj(obj: Any) -> bool:
    return hasattr(obj, "map_type") and hasattr(obj, "key_type") and not isinstance(obj, type)


def untrusted(pointer: T.Expr) -> bool:
    """A kernel pointer the verifier does not trust: fields are read with probe_read_kernel."""
    return isinstance(pointer.type, PointerType) and pointer.type.kind == "kernel"


def is_kernel_struct(t: Any) -> bool:
    return type(t).__name__ == "KernelStruct"


def is_global_var(obj: Any) -> bool:
    return type(obj).__name__ in ("Const", "Global") and hasattr(obj, "initial_bytes")


def is_subprogram(obj: Any) -> bool:
    return type(obj).__name__ == "Subprogram" and hasattr(obj, "linkage")


def relocatable(st: Any, kf: Any, chained: bool) -> bool:
    """Whether member ``kf`` of ``st`` can be a CO-RE access.  Not a member of a struct
    inside an anonymous member of a union (a union's members all start at 0, so it
    cannot be listed directly), nor an access rooted at an anonymous struct (which no
    loader can look up): those stay at this BTF's offset."""
    return not (st.kind == "union" and kf.offset or not chained and st.name.startswith("("))
