"""The one place both the compiler and the runtime ask "what is a u32".

Every type a program or a map can hold is a :class:`BPFType`: it knows its
size, alignment, how to pack a Python value into bytes and unpack it again,
and (optionally) its NumPy dtype.

- :class:`IntType`: ``u8 u16 u32 u64 i8 i16 i32 i64``, ``char`` and ``bool_``.
  Calling one wraps a Python int to that width (``u32(-1) == 0xFFFFFFFF``);
  inside a program the same call is a cast.
- :class:`ArrayType`: ``u8[16]``, ``char[16]`` (a C string: unpacks to ``str``).
- :class:`Struct`: subclass with annotated fields; C layout (natural
  alignment, padding), so it matches a C struct of the same fields.
- :class:`PointerType`: pointers the compiler tracks (context, map values,
  ring-buffer reservations); user space never packs one.
"""

from __future__ import annotations

import struct as _struct
from typing import Any, ClassVar

__all__ = [
    "BPFType",
    "IntType",
    "ArrayType",
    "PointerType",
    "Struct",
    "Field",
    "u8",
    "u16",
    "u32",
    "u64",
    "i8",
    "i16",
    "i32",
    "i64",
    "char",
    "bool_",
    "as_type",
    "sizeof",
]


class BPFType:
    """A type with a fixed C layout."""

    name: str
    size: int
    align: int

    def pack(self, value: Any) -> bytes:  # pragma: no cover - abstract
        raise NotImplementedError

    def unpack(self, data: bytes | memoryview) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def default(self) -> Any:
        """The value an all-zero buffer unpacks to."""
        return self.unpack(bytes(self.size))

    @property
    def numpy_format(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def __getitem__(self, length: int) -> ArrayType:
        return ArrayType(self, length)

    def __repr__(self) -> str:
        return self.name


class IntType(BPFType):
    """A fixed-width integer (two's complement, little endian as BPF is here)."""

    _formats: ClassVar[dict[tuple[int, bool], str]] = {
        (1, False): "B",
        (2, False): "H",
        (4, False): "I",
        (8, False): "Q",
        (1, True): "b",
        (2, True): "h",
        (4, True): "i",
        (8, True): "q",
    }

    def __init__(self, name: str, size: int, signed: bool, *, is_char: bool = False,
                 is_bool: bool = False) -> None:
        self.name = name
        self.size = size
        self.align = size
        self.signed = signed
        self.bits = size * 8
        self.is_char = is_char
        self.is_bool = is_bool
        self._struct = _struct.Struct("<" + self._formats[(size, signed)])
        self.min = -(1 << (self.bits - 1)) if signed else 0
        self.max = (1 << (self.bits - 1)) - 1 if signed else (1 << self.bits) - 1

    def wrap(self, value: int) -> int:
        """``value`` wrapped to this width, as the hardware would."""
        if self.is_bool:
            return int(bool(value))
        value &= (1 << self.bits) - 1
        if self.signed and value >> (self.bits - 1):
            value -= 1 << self.bits
        return value

    def __call__(self, value: int = 0) -> int:
        return self.wrap(int(value))

    def pack(self, value: Any) -> bytes:
        if isinstance(value, bool):
            value = int(value)
        if not isinstance(value, int):
            raise TypeError(f"{self.name} needs an int, got {type(value).__name__}")
        if not self.min <= value <= self.max:
            raise OverflowError(f"{value} does not fit in {self.name}")
        return self._struct.pack(value)

    def unpack(self, data: bytes | memoryview) -> Any:
        value = self._struct.unpack_from(data)[0]
        return bool(value) if self.is_bool else value

    @property
    def numpy_format(self) -> str:
        if self.is_bool:
            return "?"
        return ("<i" if self.signed else "<u") + str(self.size)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, IntType)
            and (self.size, self.signed, self.is_char, self.is_bool)
            == (other.size, other.signed, other.is_char, other.is_bool)
        )

    def __hash__(self) -> int:
        return hash((self.size, self.signed, self.is_char, self.is_bool))


u8 = IntType("u8", 1, False)
u16 = IntType("u16", 2, False)
u32 = IntType("u32", 4, False)
u64 = IntType("u64", 8, False)
i8 = IntType("i8", 1, True)
i16 = IntType("i16", 2, True)
i32 = IntType("i32", 4, True)
i64 = IntType("i64", 8, True)
char = IntType("char", 1, True, is_char=True)
bool_ = IntType("bool", 1, False, is_bool=True)

INT_TYPES: tuple[IntType, ...] = (u8, u16, u32, u64, i8, i16, i32, i64)


class ArrayType(BPFType):
    """``elem[length]``; ``char[N]`` and ``u8[N]`` are C strings / byte arrays."""

    def __init__(self, elem: BPFType, length: int) -> None:
        if not isinstance(length, int) or length <= 0:
            raise TypeError(f"array length must be a positive int, got {length!r}")
        self.elem = as_type(elem)
        self.length = length
        self.size = self.elem.size * length
        self.align = self.elem.align
        self.name = f"{self.elem.name}[{length}]"

    def __call__(self) -> Any:
        """A zeroed value (``char[16]()`` is ``""``); in programs, a zeroed local array."""
        return self.default()

    @property
    def is_string(self) -> bool:
        return isinstance(self.elem, IntType) and self.elem.is_char

    @property
    def is_bytes(self) -> bool:
        return isinstance(self.elem, IntType) and self.elem.size == 1 and not self.elem.is_bool

    def pack(self, value: Any) -> bytes:
        if self.is_bytes and isinstance(value, (str, bytes, bytearray, memoryview)):
            raw = value.encode() if isinstance(value, str) else bytes(value)
            if len(raw) > self.size:
                raise OverflowError(f"{len(raw)} bytes do not fit in {self.name}")
            return raw.ljust(self.size, b"\0")
        items = list(value)
        if len(items) > self.length:
            raise OverflowError(f"{len(items)} items do not fit in {self.name}")
        body = b"".join(self.elem.pack(v) for v in items)
        return body.ljust(self.size, b"\0")

    def unpack(self, data: bytes | memoryview) -> Any:
        raw = bytes(data[: self.size])
        if self.is_string:
            return raw.split(b"\0", 1)[0].decode("utf-8", "replace")
        if self.is_bytes and not self.elem.signed:  # type: ignore[attr-defined]
            return raw
        step = self.elem.size
        return [self.elem.unpack(raw[i * step : (i + 1) * step]) for i in range(self.length)]

    @property
    def numpy_format(self) -> Any:
        if self.is_string:
            return f"S{self.length}"
        return (self.elem.numpy_format, (self.length,))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ArrayType) and (self.elem, self.length) == (
            other.elem,
            other.length,
        )

    def __hash__(self) -> int:
        return hash((self.elem, self.length))


class PointerType(BPFType):
    """A pointer the compiler tracks; ``nullable`` until a ``None`` check."""

    size = 8
    align = 8

    def __init__(self, target: BPFType | None, kind: str = "mem", nullable: bool = False) -> None:
        self.target = target
        self.kind = kind
        self.nullable = nullable
        self.name = f"*{target.name if target is not None else 'void'}"

    def pack(self, value: Any) -> bytes:
        return u64.pack(value)

    def unpack(self, data: bytes | memoryview) -> Any:
        return u64.unpack(data)

    @property
    def numpy_format(self) -> str:
        return "<u8"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PointerType) and (self.target, self.kind) == (
            other.target,
            other.kind,
        )

    def __hash__(self) -> int:
        return hash((self.target, self.kind))


class Field:
    """One member of a :class:`Struct`: name, type and byte offset."""

    __slots__ = ("name", "type", "offset")

    def __init__(self, name: str, type: BPFType, offset: int) -> None:
        self.name = name
        self.type = type
        self.offset = offset

    def __repr__(self) -> str:
        return f"Field({self.name!r}, {self.type!r}, offset={self.offset})"


class StructType(BPFType):
    """The layout of a :class:`Struct` subclass (``Cls.__bpf_type__``)."""

    def __init__(self, cls: type[Struct], fields: list[tuple[str, BPFType]],
                 union: bool = False) -> None:
        self.cls = cls
        self.name = cls.__name__
        self.union = union
        offset = 0
        align = 1
        laid: list[Field] = []
        for fname, ftype in fields:
            a = ftype.align
            if union:
                laid.append(Field(fname, ftype, 0))
                offset = max(offset, ftype.size)
            else:
                offset = (offset + a - 1) // a * a
                laid.append(Field(fname, ftype, offset))
                offset += ftype.size
            align = max(align, a)
        self.fields = laid
        self.by_name = {f.name: f for f in laid}
        self.align = align
        self.size = max((offset + align - 1) // align * align, 0)

    def pack(self, value: Any) -> bytes:
        if isinstance(value, self.cls):
            return bytes(value)
        if isinstance(value, dict):
            return bytes(self.cls(**value))
        if isinstance(value, (bytes, bytearray, memoryview)) and len(value) == self.size:
            return bytes(value)
        raise TypeError(f"{self.name} needs a {self.name} instance, got {type(value).__name__}")

    def unpack(self, data: bytes | memoryview) -> Any:
        return self.cls.from_buffer(data)

    @property
    def numpy_format(self) -> Any:
        return {
            "names": [f.name for f in self.fields],
            "formats": [f.type.numpy_format for f in self.fields],
            "offsets": [f.offset for f in self.fields],
            "itemsize": self.size,
        }

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StructType) and self.cls is other.cls

    def __hash__(self) -> int:
        return hash(self.cls)


class _StructMeta(type):
    """Lets ``Event[4]`` build an array type of a struct, like ``u8[4]``."""

    def __getitem__(cls, length: int) -> ArrayType:
        return ArrayType(cls.__bpf_type__, length)  # type: ignore[attr-defined]


class Struct(metaclass=_StructMeta):
    """Base class for C-layout structs used in programs, maps and events.

    Example::

        class Event(bpf.Struct):
            pid: u32
            comm: char[16]
            ts: u64

    Instances have attributes, ``==``, ``repr``, ``bytes(ev)``,
    ``Event.from_buffer(buf)``; ``Event.dtype`` is the NumPy structured dtype.
    Subclass with ``union=True`` (``class U(bpf.Struct, union=True)``) for a
    C union.
    """

    __bpf_type__: ClassVar[StructType]

    def __init_subclass__(cls, union: bool = False, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fields: list[tuple[str, BPFType]] = []
        for base in reversed(cls.__mro__[1:]):
            bt = base.__dict__.get("__bpf_type__")
            if bt is not None:
                fields = [(f.name, f.type) for f in bt.fields]
        ann = cls.__dict__.get("__annotations__", {})
        for fname, ftype in ann.items():
            if fname.startswith("__") or fname == "dtype":
                continue
            if isinstance(ftype, str):
                ftype = _eval_annotation(cls, fname, ftype)
            fields.append((fname, as_type(ftype)))
        cls.__bpf_type__ = StructType(cls, fields, union=union)

    def __init__(self, **values: Any) -> None:
        st = type(self).__bpf_type__
        for f in st.fields:
            object.__setattr__(self, f.name, values.pop(f.name, f.type.default()))
        if values:
            raise TypeError(f"{st.name} has no field {next(iter(values))!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in type(self).__bpf_type__.by_name:
            raise AttributeError(f"{type(self).__name__} has no field {name!r}")
        object.__setattr__(self, name, value)

    @classmethod
    def from_buffer(cls, data: bytes | bytearray | memoryview) -> Any:
        """Decode an instance from ``data`` (at least ``sizeof(cls)`` bytes)."""
        st = cls.__bpf_type__
        if len(data) < st.size:
            raise ValueError(f"{cls.__name__} needs {st.size} bytes, got {len(data)}")
        obj = cls.__new__(cls)
        mv = memoryview(data)
        for f in st.fields:
            object.__setattr__(obj, f.name, f.type.unpack(mv[f.offset : f.offset + f.type.size]))
        return obj

    def __bytes__(self) -> bytes:
        st = type(self).__bpf_type__
        buf = bytearray(st.size)
        for f in st.fields:
            raw = f.type.pack(getattr(self, f.name))
            if st.union and not any(raw):
                continue
            buf[f.offset : f.offset + len(raw)] = raw
        return bytes(buf)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return bytes(self) == bytes(other)  # type: ignore[arg-type]

    def __hash__(self) -> int:
        return hash(bytes(self))

    def __repr__(self) -> str:
        inner = ", ".join(
            f"{f.name}={getattr(self, f.name)!r}" for f in type(self).__bpf_type__.fields
        )
        return f"{type(self).__name__}({inner})"

    @classmethod
    def _dtype(cls) -> Any:
        import numpy as np

        return np.dtype(cls.__bpf_type__.numpy_format)


def _eval_annotation(cls: type, fname: str, text: str) -> Any:
    """Resolve a string annotation (``from __future__ import annotations``) in the class's module."""
    import sys

    module = sys.modules.get(cls.__module__)
    scope = dict(vars(module)) if module is not None else {}
    try:
        return eval(text, scope, dict(vars(cls)))  # annotations are the user's own code
    except Exception as e:
        raise TypeError(f"{cls.__name__}.{fname}: cannot resolve the type {text!r}: {e}") from None


class _DtypeDescriptor:
    def __get__(self, obj: Any, owner: type[Struct]) -> Any:
        return owner._dtype()


Struct.dtype = _DtypeDescriptor()  # type: ignore[attr-defined]


def as_type(t: Any) -> BPFType:
    """Normalise what users write in annotations (``u32``, ``Event``, ``bool``) to a BPFType."""
    if isinstance(t, BPFType):
        return t
    if isinstance(t, type) and issubclass(t, Struct) and t is not Struct:
        return t.__bpf_type__
    if t is bool:
        return bool_
    if t is int:
        return i64
    raise TypeError(f"{t!r} is not a pyebpf type (use u8..u64, i8..i64, bool, arrays or a Struct)")


def sizeof(t: Any) -> int:
    """Size in bytes of a type, as C's ``sizeof``."""
    return as_type(t).size
