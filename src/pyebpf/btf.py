"""BTF: read, query, fix up and write the BPF Type Format.

Where this sits in the data flow: :mod:`pyebpf.elf` hands the ``.BTF`` and
``.BTF.ext`` sections of an object here; the loader loads the fixed-up BTF
with ``BPF_BTF_LOAD``; the compiler and CO-RE ask the *kernel's* BTF
(``/sys/kernel/btf/vmlinux``) for struct layouts, function prototypes and
kfunc ids.

- :class:`BTF` reads raw BTF bytes.  Types are decoded on demand into small
  frozen records (:class:`Int`, :class:`Struct`, ...), so opening the
  kernel's 5.5 MB BTF costs one pass that records where each type starts,
  and a lookup by name searches bytes rather than walking Python objects.
- :class:`BTFBuilder` serializes types back into BTF bytes.
- :func:`fixup_object_btf` makes the BTF that LLVM emits acceptable to
  ``BPF_BTF_LOAD`` (DATASEC sizes, variable offsets, extern symbols).
- :class:`BTFExt` reads ``.BTF.ext``: func_info, line_info and CO-RE
  relocation records per ELF section; :func:`core_relocate` resolves the
  simple CO-RE relocation kinds against a target BTF.

Format facts come from ``include/uapi/linux/btf.h`` and
``Documentation/bpf/btf.rst``.
"""

from __future__ import annotations

import functools
import struct
import sys
from array import array
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from pyebpf.errors import BTFError

__all__ = [
    "BTF",
    "BTFBuilder",
    "BTFExt",
    "Type",
    "Void",
    "Int",
    "Ptr",
    "Array",
    "Member",
    "Struct",
    "Union",
    "EnumValue",
    "Enum",
    "Enum64",
    "Fwd",
    "Typedef",
    "Volatile",
    "Const",
    "Restrict",
    "Param",
    "Func",
    "FuncProto",
    "Var",
    "VarSecInfo",
    "Datasec",
    "Float",
    "DeclTag",
    "TypeTag",
    "ExtFuncInfo",
    "ExtLineInfo",
    "CoreRelo",
    "fixup_object_btf",
    "core_relocate",
    "core_member_types",
    "BTF_MAGIC",
]

BTF_MAGIC = 0xEB9F
_HEADER = struct.Struct("<HBBIIIII")  # struct btf_header
_TYPE = struct.Struct("<III")  # struct btf_type: name_off, info, size/type
_U32 = struct.Struct("<I")
_I32 = struct.Struct("<i")
_PAIR = struct.Struct("<II")
_TRIPLE = struct.Struct("<III")

# BTF_KIND_* numbers.
KIND_INT, KIND_PTR, KIND_ARRAY, KIND_STRUCT, KIND_UNION, KIND_ENUM = 1, 2, 3, 4, 5, 6
KIND_FWD, KIND_TYPEDEF, KIND_VOLATILE, KIND_CONST, KIND_RESTRICT = 7, 8, 9, 10, 11
KIND_FUNC, KIND_FUNC_PROTO, KIND_VAR, KIND_DATASEC, KIND_FLOAT = 12, 13, 14, 15, 16
KIND_DECL_TAG, KIND_TYPE_TAG, KIND_ENUM64 = 17, 18, 19

# Size of a type record in u32 words, by kind: the 3-word btf_type plus a
# fixed part, and a part per vlen item (btf_member, btf_enum, btf_param...).
# Every record is a whole number of words.
_FIXED_WORDS = [3, 4, 3, 6, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 4, 3, 3, 4, 3, 3]
_VLEN_WORDS = [0, 0, 0, 0, 3, 3, 2, 0, 0, 0, 0, 0, 0, 2, 0, 3, 0, 0, 0, 3]

# BTF_INT_* encoding bits; BTF_FUNC_* and BTF_VAR_* linkage.
INT_SIGNED, INT_CHAR, INT_BOOL = 1, 2, 4
FUNC_STATIC, FUNC_GLOBAL, FUNC_EXTERN = 0, 1, 2
VAR_STATIC, VAR_GLOBAL_ALLOCATED, VAR_GLOBAL_EXTERN = 0, 1, 2

KERNEL_BTF_PATH = "/sys/kernel/btf/vmlinux"


# --------------------------------------------------------------------------- types


class _Record:
    """Base of the small immutable records below (what ``@dataclass(frozen=True)`` gave).

    ``@dataclass`` ``exec()``s five generated methods per class, about 0.7 ms
    a class and 20 ms for this module, paid by every process that loads an
    object.  Here each class's fields are read from its annotations once, at
    class creation (base classes' first; re-annotating a field changes its
    default), and one ``__init__``/``__eq__``/``__hash__``/``__repr__`` serves
    all records.
    """

    _fields: tuple[str, ...] = ()
    _defaults: dict[str, object] = {}

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        own = [n for n in cls.__dict__.get("__annotations__", {}) if not n.startswith("_")]
        cls._fields = cls._fields + tuple(n for n in own if n not in cls._fields)
        cls._defaults = {**cls._defaults, **{n: cls.__dict__[n] for n in own if n in cls.__dict__}}

    def __init__(self, *args: object, **kwargs: object) -> None:
        fields = self._fields
        if len(args) > len(fields):
            raise TypeError(f"{type(self).__name__} takes {len(fields)} fields, got {len(args)}")
        values = dict(zip(fields, args))
        for name in fields[len(args):]:
            if name in kwargs:
                values[name] = kwargs.pop(name)
            elif name in self._defaults:
                values[name] = self._defaults[name]
            else:
                raise TypeError(f"{type(self).__name__} needs field {name!r}")
        if kwargs:
            raise TypeError(f"{type(self).__name__} has no field {next(iter(kwargs))!r}")
        self.__dict__.update(values)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}: {type(self).__name__} is frozen")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}: {type(self).__name__} is frozen")

    def _key(self) -> tuple[object, ...]:
        return tuple(self.__dict__[f] for f in self._fields)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._key() == other._key()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self._key())

    def _repr_fields(self) -> tuple[str, ...]:
        return self._fields

    def __repr__(self) -> str:
        inner = ", ".join(f"{f}={self.__dict__[f]!r}" for f in self._repr_fields())
        return f"{type(self).__name__}({inner})"

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (type(self), dict(self.__dict__)))

    def replace(self, **changes: object) -> _Record:
        """A copy with some fields changed (what ``dataclasses.replace`` did)."""
        unknown = set(changes) - set(self.__dict__)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field {unknown.pop()!r}")
        return _rebuild(type(self), {**self.__dict__, **changes})


def _rebuild(cls: type[_Record], values: dict[str, object]) -> _Record:
    obj = object.__new__(cls)
    obj.__dict__.update(values)
    return obj


class Type(_Record):
    """A BTF type; ``id`` is its type id in the BTF it came from (0 when built by hand).

    ``id`` is keyword-only and left out of equality: the same type read from
    two BTFs compares equal.
    """

    name: str = ""
    id = 0
    kind = "unknown"

    def __init__(self, *args: object, id: int = 0, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.__dict__["id"] = id

    def _repr_fields(self) -> tuple[str, ...]:
        return ("name", "id", *self._fields[1:])


class Void(Type):
    """Type id 0."""

    kind = "void"


class Int(Type):
    """``BTF_KIND_INT``: ``encoding`` is a mix of INT_SIGNED / INT_CHAR / INT_BOOL."""

    size: int = 4
    encoding: int = 0
    bits: int = 32
    bit_offset: int = 0
    kind = "int"

    @property
    def signed(self) -> bool:
        return bool(self.encoding & INT_SIGNED)


class Ptr(Type):
    type: int = 0
    kind = "ptr"


class Array(Type):
    type: int = 0
    index_type: int = 0
    nelems: int = 0
    kind = "array"


class Member(_Record):
    """A struct/union member; ``bitfield_size`` is 0 for a plain member."""

    name: str
    type: int
    bit_offset: int
    bitfield_size: int = 0

    @property
    def byte_offset(self) -> int:
        return self.bit_offset // 8


class Struct(Type):
    size: int = 0
    members: tuple[Member, ...] = ()
    kind = "struct"


class Union(Struct):
    kind = "union"


class EnumValue(_Record):
    name: str
    value: int


class Enum(Type):
    size: int = 4
    values: tuple[EnumValue, ...] = ()
    signed: bool = False
    kind = "enum"


class Enum64(Enum):
    size: int = 8
    kind = "enum64"


class Fwd(Type):
    is_union: bool = False
    kind = "fwd"


class Typedef(Type):
    type: int = 0
    kind = "typedef"


class Volatile(Type):
    type: int = 0
    kind = "volatile"


class Const(Type):
    type: int = 0
    kind = "const"


class Restrict(Type):
    type: int = 0
    kind = "restrict"


class TypeTag(Type):
    type: int = 0
    kind_flag: bool = False
    kind = "type_tag"


class Func(Type):
    """``BTF_KIND_FUNC``: ``type`` is the FUNC_PROTO; ``linkage`` FUNC_STATIC/GLOBAL/EXTERN."""

    type: int = 0
    linkage: int = FUNC_STATIC
    kind = "func"


class Param(_Record):
    name: str
    type: int


class FuncProto(Type):
    """``BTF_KIND_FUNC_PROTO``; a last parameter of type 0 means ``...``."""

    return_type: int = 0
    params: tuple[Param, ...] = ()
    kind = "func_proto"


class Var(Type):
    type: int = 0
    linkage: int = VAR_STATIC
    kind = "var"


class VarSecInfo(_Record):
    type: int
    offset: int
    size: int


class Datasec(Type):
    size: int = 0
    vars: tuple[VarSecInfo, ...] = ()
    kind = "datasec"


class Float(Type):
    size: int = 8
    kind = "float"


class DeclTag(Type):
    type: int = 0
    component_idx: int = -1
    kind_flag: bool = False
    kind = "decl_tag"


_MODIFIERS = (Typedef, Volatile, Const, Restrict, TypeTag)
_KIND_NAMES = {
    cls.kind: cls
    for cls in (Int, Ptr, Array, Struct, Union, Enum, Enum64, Fwd, Typedef, Volatile, Const,
                Restrict, TypeTag, Func, FuncProto, Var, Datasec, Float, DeclTag)
}
_KIND_NUMBERS = {
    KIND_INT: Int, KIND_PTR: Ptr, KIND_ARRAY: Array, KIND_STRUCT: Struct, KIND_UNION: Union,
    KIND_ENUM: Enum, KIND_FWD: Fwd, KIND_TYPEDEF: Typedef, KIND_VOLATILE: Volatile,
    KIND_CONST: Const, KIND_RESTRICT: Restrict, KIND_FUNC: Func, KIND_FUNC_PROTO: FuncProto,
    KIND_VAR: Var, KIND_DATASEC: Datasec, KIND_FLOAT: Float, KIND_DECL_TAG: DeclTag,
    KIND_TYPE_TAG: TypeTag, KIND_ENUM64: Enum64,
}
_NUMBER_OF_KIND = {cls: num for num, cls in _KIND_NUMBERS.items()}


# --------------------------------------------------------------------------- reader


class _TypeTable(Sequence):
    """``btf.types[id]``: decodes (and caches) a type the first time it is asked for."""

    def __init__(self, btf: BTF) -> None:
        self._btf = btf

    def __len__(self) -> int:
        return len(self._btf._starts)

    def __getitem__(self, type_id):  # type: ignore[override]
        if isinstance(type_id, slice):
            return [self[i] for i in range(*type_id.indices(len(self)))]
        return self._btf.type(type_id)

    def __iter__(self) -> Iterator[Type]:
        return (self[i] for i in range(len(self)))


class BTF:
    """Parsed BTF: ``types[id]``, lookups by name, sizes and member offsets.

    Example::

        vmlinux = BTF.kernel()
        task = vmlinux.find("task_struct", kind="struct")
        vmlinux.member_offset("task_struct", "pid")

    Parsing is lazy: construction records where each type record starts;
    types are decoded on first access.  A lookup by name finds the name in the
    string section, then the type ids whose ``name_off`` is that offset in a
    packed table of every type's ``name_off`` (built on the first lookup);
    both are ``bytes.find`` calls, so no per-type Python object is built.
    """

    def __init__(self, data: bytes) -> None:
        self._data = bytes(data)
        if len(self._data) < _HEADER.size:
            raise BTFError(f"BTF too short ({len(self._data)} bytes) for its header")
        magic, version, _flags, hdr_len, type_off, type_len, str_off, str_len = (
            _HEADER.unpack_from(self._data)
        )
        if magic != BTF_MAGIC:
            if magic == 0x9FEB:
                raise BTFError("big-endian BTF is not supported")
            raise BTFError(f"bad BTF magic {magic:#06x} (expected {BTF_MAGIC:#06x})")
        if version != 1:
            raise BTFError(f"unsupported BTF version {version}")
        self._types_start = hdr_len + type_off
        self._types_end = self._types_start + type_len
        str_start = hdr_len + str_off
        if self._types_end > len(self._data) or str_start + str_len > len(self._data):
            raise BTFError("BTF header points past the end of the data")
        if type_len % 4:
            raise BTFError(f"BTF type section length {type_len} is not a whole number of words")
        self._strings = self._data[str_start : str_start + str_len]
        self._starts = self._index_types()
        self._cache: dict[int, Type] = {0: Void()}
        self._name_offs: bytes | None = None
        self._ids_by_name: dict[str, tuple[int, ...]] = {}
        self.types: Sequence[Type] = _TypeTable(self)

    # -- construction

    @classmethod
    def from_bytes(cls, data: bytes) -> BTF:
        """Parse raw BTF (a ``.BTF`` section or ``/sys/kernel/btf/*``)."""
        return cls(data)

    @staticmethod
    def kernel(path: str = KERNEL_BTF_PATH) -> BTF:
        """The running kernel's BTF, parsed once per process and cached."""
        return _kernel_btf(path)

    def _type_words(self) -> array:
        """The type section as u32 words (BTF here is little-endian, see ``__init__``)."""
        words = array("I", self._data[self._types_start : self._types_end])
        if sys.byteorder == "big":
            words.byteswap()
        return words

    def _index_types(self) -> array:
        # One pass over the records, remembering only the word index where each
        # one starts; index 0 is void, which has no record.  A record's length
        # depends on its info word alone, and vmlinux's 126 k records share a few
        # thousand info words, so lengths are memoised by info word: a dict hit
        # costs less than decoding kind and vlen (about 20 ms instead of 50).
        words = self._type_words()
        starts = array("I", [0])
        append = starts.append
        steps: dict[int, int] = {}
        fixed, per_vlen = _FIXED_WORDS, _VLEN_WORDS
        i, end = 0, len(words)
        try:
            while i < end:
                append(i)
                info = words[i + 1]
                step = steps.get(info)
                if step is None:
                    kind = (info >> 24) & 0x1F
                    step = steps[info] = fixed[kind] + (info & 0xFFFF) * per_vlen[kind]
                i += step
        except IndexError:
            raise BTFError(
                f"malformed BTF type record at byte {self._types_start + 4 * i}"
            ) from None
        if i != end:
            raise BTFError("BTF type records overrun the type section")
        return starts

    # -- raw access

    @property
    def raw(self) -> bytes:
        """The bytes this BTF was parsed from."""
        return self._data

    @property
    def strings(self) -> bytes:
        """The string section."""
        return self._strings

    def string(self, offset: int) -> str:
        """The NUL-terminated string at ``offset`` of the string section."""
        strings = self._strings
        if not 0 <= offset < len(strings):
            if offset == 0:
                return ""
            raise BTFError(f"BTF string offset {offset} out of range")
        end = strings.find(b"\0", offset)
        return strings[offset : end if end >= 0 else len(strings)].decode("utf-8", "replace")

    def __len__(self) -> int:
        """Number of type ids, including void (id 0)."""
        return len(self._starts)

    def type(self, type_id: int) -> Type:
        """The type with id ``type_id`` (``Void`` for 0)."""
        cached = self._cache.get(type_id)
        if cached is not None:
            return cached
        if not 0 < type_id < len(self._starts):
            raise BTFError(f"BTF type id {type_id} out of range (have {len(self._starts)})")
        decoded = self._decode(type_id)
        self._cache[type_id] = decoded
        return decoded

    def _decode(self, type_id: int) -> Type:
        data = self._data
        off = self._types_start + 4 * self._starts[type_id]
        name_off, info, size_or_type = _TYPE.unpack_from(data, off)
        kind = (info >> 24) & 0x1F
        vlen = info & 0xFFFF
        kind_flag = bool(info >> 31)
        name = self.string(name_off)
        body = off + 12
        if kind == KIND_INT:
            enc = _U32.unpack_from(data, body)[0]
            return Int(name, size_or_type, (enc >> 24) & 0x0F, enc & 0xFF, (enc >> 16) & 0xFF,
                       id=type_id)
        if kind in (KIND_PTR, KIND_TYPEDEF, KIND_VOLATILE, KIND_CONST, KIND_RESTRICT):
            return _KIND_NUMBERS[kind](name, size_or_type, id=type_id)
        if kind == KIND_TYPE_TAG:
            return TypeTag(name, size_or_type, kind_flag, id=type_id)
        if kind == KIND_ARRAY:
            elem, index, nelems = _TRIPLE.unpack_from(data, body)
            return Array(name, elem, index, nelems, id=type_id)
        if kind in (KIND_STRUCT, KIND_UNION):
            members = []
            for i in range(vlen):
                m_name, m_type, m_off = _TRIPLE.unpack_from(data, body + 12 * i)
                if kind_flag:
                    members.append(Member(self.string(m_name), m_type, m_off & 0xFFFFFF,
                                          m_off >> 24))
                else:
                    members.append(Member(self.string(m_name), m_type, m_off))
            cls = Struct if kind == KIND_STRUCT else Union
            return cls(name, size_or_type, tuple(members), id=type_id)
        if kind == KIND_ENUM:
            fmt = _I32 if kind_flag else _U32
            values = tuple(
                EnumValue(self.string(_U32.unpack_from(data, body + 8 * i)[0]),
                          fmt.unpack_from(data, body + 8 * i + 4)[0])
                for i in range(vlen)
            )
            return Enum(name, size_or_type, values, kind_flag, id=type_id)
        if kind == KIND_ENUM64:
            items = []
            for i in range(vlen):
                v_name, lo, hi = _TRIPLE.unpack_from(data, body + 12 * i)
                value = hi << 32 | lo
                if kind_flag and value >> 63:
                    value -= 1 << 64
                items.append(EnumValue(self.string(v_name), value))
            return Enum64(name, size_or_type, tuple(items), kind_flag, id=type_id)
        if kind == KIND_FWD:
            return Fwd(name, kind_flag, id=type_id)
        if kind == KIND_FUNC:
            return Func(name, size_or_type, vlen, id=type_id)
        if kind == KIND_FUNC_PROTO:
            params = tuple(
                Param(self.string(p_name), p_type)
                for p_name, p_type in (_PAIR.unpack_from(data, body + 8 * i) for i in range(vlen))
            )
            return FuncProto(name, size_or_type, params, id=type_id)
        if kind == KIND_VAR:
            return Var(name, size_or_type, _U32.unpack_from(data, body)[0], id=type_id)
        if kind == KIND_DATASEC:
            secinfo = tuple(
                VarSecInfo(*_TRIPLE.unpack_from(data, body + 12 * i)) for i in range(vlen)
            )
            return Datasec(name, size_or_type, secinfo, id=type_id)
        if kind == KIND_FLOAT:
            return Float(name, size_or_type, id=type_id)
        if kind == KIND_DECL_TAG:
            return DeclTag(name, size_or_type, _I32.unpack_from(data, body)[0], kind_flag,
                           id=type_id)
        raise BTFError(f"BTF type {type_id} has unknown kind {kind}")

    # -- lookups by name

    def _name_table(self) -> bytes:
        # Every type's name_off as packed native u32s, indexed by type id (void's
        # is 0): 0.5 MB for vmlinux where a dict by name would take tens of MB.
        if self._name_offs is None:
            words = self._type_words()
            names = array("I", map(words.__getitem__, self._starts))
            names[0] = 0
            self._name_offs = names.tobytes()
        return self._name_offs

    def _ids_named(self, name: str) -> tuple[int, ...]:
        """Ids of the types called ``name``, in id order (remembered per name)."""
        ids = self._ids_by_name.get(name)
        if ids is None:
            table = self._name_table()
            found = []
            for str_off in self._string_offsets(name):
                needle = str_off.to_bytes(4, sys.byteorder)
                pos = table.find(needle)
                while pos >= 0:
                    if pos % 4 == 0:  # else the bytes straddle two entries
                        found.append(pos // 4)
                    pos = table.find(needle, pos + 1)
            ids = self._ids_by_name[name] = tuple(sorted(found))
        return ids

    def _string_offsets(self, name: str) -> Iterator[int]:
        needle = b"\0" + name.encode() + b"\0"
        strings = self._strings
        pos = strings.find(needle)
        while pos >= 0:
            yield pos + 1
            pos = strings.find(needle, pos + 1)

    def find_all(self, name: str, kind: str | None = None) -> list[Type]:
        """Every type called ``name`` (of ``kind``, e.g. ``"struct"``), in id order."""
        if kind is not None and kind not in _KIND_NAMES:
            raise BTFError(f"unknown BTF kind {kind!r}; kinds are {', '.join(_KIND_NAMES)}")
        if not name:
            return []
        found = [self.type(i) for i in self._ids_named(name)]
        return [t for t in found if kind is None or t.kind == kind]

    def find(self, name: str, kind: str | None = None) -> Type:
        """The first type called ``name`` (of ``kind``); BTFError if there is none."""
        found = self.find_all(name, kind)
        if not found:
            what = f"{kind} {name!r}" if kind else repr(name)
            raise BTFError(f"BTF has no type {what}")
        return found[0]

    def find_id(self, name: str, kind: str | None = None) -> int:
        """``find(name, kind).id``."""
        return self.find(name, kind).id

    # -- structure

    def resolve(self, type_id: int) -> int:
        """Follow typedef/const/volatile/restrict/type_tag to the underlying type id."""
        seen = 0
        t = self.type(type_id)
        while isinstance(t, _MODIFIERS):
            type_id = t.type
            t = self.type(type_id)
            seen += 1
            if seen > 64:
                raise BTFError(f"BTF modifier chain too long at type {type_id}")
        return type_id

    def resolved(self, type_id: int) -> Type:
        """``types[resolve(type_id)]``."""
        return self.type(self.resolve(type_id))

    def size_of(self, type_id: int) -> int:
        """Size in bytes of a type, as C's ``sizeof``."""
        t = self.resolved(type_id)
        if isinstance(t, (Int, Struct, Enum, Datasec, Float)):
            return t.size
        if isinstance(t, Ptr):
            return 8
        if isinstance(t, Array):
            return t.nelems * self.size_of(t.type)
        if isinstance(t, Var):
            return self.size_of(t.type)
        raise BTFError(f"BTF type {type_id} ({t.kind} {t.name!r}) has no size")

    def members(self, type_id: int) -> tuple[Member, ...]:
        """Members (with bit offsets) of a struct or union, after resolving typedefs."""
        t = self.resolved(type_id)
        if not isinstance(t, Struct):
            raise BTFError(f"BTF type {type_id} ({t.kind} {t.name!r}) is not a struct or union")
        return t.members

    def _find_member(self, type_id: int, name: str) -> tuple[Member, int] | None:
        # Anonymous struct/union members are searched as if their members were inline.
        for member in self.members(type_id):
            if member.name == name:
                return member, member.bit_offset
            if not member.name and isinstance(self.resolved(member.type), Struct):
                inner = self._find_member(member.type, name)
                if inner is not None:
                    return inner[0], member.bit_offset + inner[1]
        return None

    def member_bit_offset(self, struct: str | int, path: str) -> tuple[int, int]:
        """``(bit offset, type id)`` of ``path`` (``"a.b.c"``, ``"a[2].b"``) in ``struct``."""
        type_id = self.find(struct, "struct").id if isinstance(struct, str) else struct
        where = self.type(type_id).name or f"type {type_id}"
        bits = 0
        for part in path.split("."):
            field, _, rest = part.partition("[")
            found = self._find_member(type_id, field)
            if found is None:
                raise BTFError(f"{where} has no member {field!r} (in {path!r})")
            member, offset = found
            bits += offset
            type_id = member.type
            for index_text in filter(None, rest.replace("]", "").split("[")):
                arr = self.resolved(type_id)
                if not isinstance(arr, Array):
                    raise BTFError(f"{where}.{field} is not an array (in {path!r})")
                bits += int(index_text) * self.size_of(arr.type) * 8
                type_id = arr.type
            where = f"{where}.{field}"
        return bits, type_id

    def member_offset(self, struct: str | int, path: str) -> int:
        """Byte offset of ``path`` (``"a.b.c"``) inside ``struct`` (a name or type id)."""
        bits, _ = self.member_bit_offset(struct, path)
        return bits // 8

    def func_proto(self, name: str, *, tracepoint: bool = False) -> FuncProto:
        """Prototype of kernel function ``name``; with ``tracepoint=True`` the
        prototype behind ``btf_trace_<name>`` (a tp_btf target: its first
        parameter is the ``void *`` context, the rest are the tracepoint's)."""
        if tracepoint:
            typedef = self.find(f"btf_trace_{name}", "typedef")
            target = self.resolved(typedef.id)
            if isinstance(target, Ptr):
                target = self.resolved(target.type)
        else:
            target = self.type(self.find(name, "func").type)
        if not isinstance(target, FuncProto):
            raise BTFError(f"{name!r} does not lead to a function prototype in BTF")
        return target

    def find_kfunc(self, name: str) -> int:
        """Type id of the FUNC ``name`` (for a kfunc call's ``imm``)."""
        return self.find(name, "func").id


@functools.lru_cache(maxsize=4)
def _kernel_btf(path: str) -> BTF:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise BTFError(f"cannot read kernel BTF {path}: {e.strerror}") from None
    return BTF(data)


# --------------------------------------------------------------------------- writer


class BTFBuilder:
    """Serialize types into BTF bytes.

    ``BTFBuilder(strings=...)`` keeps an existing string section verbatim (so
    string offsets recorded elsewhere, e.g. in ``.BTF.ext``, stay valid) and
    appends new strings after it.  Types get ids in the order they are added,
    starting at 1; references between types are by id.
    """

    def __init__(self, strings: bytes = b"\0") -> None:
        if not strings.startswith(b"\0"):
            raise BTFError("a BTF string section starts with an empty string")
        self._strings = bytearray(strings)
        self._string_offsets: dict[str, int] | None = None
        self._records: list[bytes] = []

    def add_string(self, text: str) -> int:
        """Offset of ``text`` in the string section, adding it if needed."""
        if not text:
            return 0
        if self._string_offsets is None:
            self._string_offsets = {}
            pos = 0
            for chunk in bytes(self._strings).split(b"\0"):
                self._string_offsets.setdefault(chunk.decode("utf-8", "replace"), pos)
                pos += len(chunk) + 1
        offset = self._string_offsets.get(text)
        if offset is None:
            if self._strings[-1:] != b"\0":
                self._strings += b"\0"
            offset = len(self._strings)
            self._strings += text.encode() + b"\0"
            self._string_offsets[text] = offset
        return offset

    def add(self, t: Type) -> int:
        """Append ``t``; returns its type id."""
        self._records.append(self._encode(t))
        return len(self._records)

    def _encode(self, t: Type) -> bytes:
        kind = _NUMBER_OF_KIND.get(type(t))
        if kind is None:
            raise BTFError(f"cannot encode {type(t).__name__} in BTF")
        s = self.add_string

        def head(vlen: int, size_or_type: int, kind_flag: bool = False) -> bytes:
            info = kind_flag << 31 | kind << 24 | vlen
            return _TYPE.pack(s(t.name), info, size_or_type)

        if isinstance(t, Int):
            return head(0, t.size) + _U32.pack(t.encoding << 24 | t.bit_offset << 16 | t.bits)
        if isinstance(t, TypeTag):
            return head(0, t.type, t.kind_flag)
        if isinstance(t, (Ptr, Typedef, Volatile, Const, Restrict)):
            return head(0, t.type)
        if isinstance(t, Array):
            return head(0, 0) + _TRIPLE.pack(t.type, t.index_type, t.nelems)
        if isinstance(t, Struct):
            bitfields = any(m.bitfield_size for m in t.members)
            body = b"".join(
                _TRIPLE.pack(s(m.name), m.type,
                             m.bitfield_size << 24 | m.bit_offset if bitfields else m.bit_offset)
                for m in t.members
            )
            return head(len(t.members), t.size, bitfields) + body
        if isinstance(t, Enum64):
            body = b"".join(
                _TRIPLE.pack(s(v.name), v.value & 0xFFFFFFFF, (v.value >> 32) & 0xFFFFFFFF)
                for v in t.values
            )
            return head(len(t.values), t.size, t.signed) + body
        if isinstance(t, Enum):
            body = b"".join(_PAIR.pack(s(v.name), v.value & 0xFFFFFFFF) for v in t.values)
            return head(len(t.values), t.size, t.signed) + body
        if isinstance(t, Fwd):
            return head(0, 0, t.is_union)
        if isinstance(t, Func):
            return head(t.linkage, t.type)
        if isinstance(t, FuncProto):
            body = b"".join(_PAIR.pack(s(p.name), p.type) for p in t.params)
            return head(len(t.params), t.return_type) + body
        if isinstance(t, Var):
            return head(0, t.type) + _U32.pack(t.linkage)
        if isinstance(t, Datasec):
            body = b"".join(_TRIPLE.pack(v.type, v.offset, v.size) for v in t.vars)
            return head(len(t.vars), t.size) + body
        if isinstance(t, Float):
            return head(0, t.size)
        assert isinstance(t, DeclTag)
        return head(0, t.type, t.kind_flag) + _I32.pack(t.component_idx)

    def to_bytes(self) -> bytes:
        """The BTF blob: header, type section, string section."""
        types = b"".join(self._records)
        strings = bytes(self._strings)
        header = _HEADER.pack(BTF_MAGIC, 1, 0, _HEADER.size, 0, len(types), len(types),
                              len(strings))
        return header + types + strings


# --------------------------------------------------------------------------- object fix-ups

# DATASECs that name no ELF section: libbpf's conventions for extern symbols.
KCONFIG_SEC = ".kconfig"
KSYMS_SEC = ".ksyms"


def _valid_section_name(name: str) -> str:
    # The kernel takes printable, non-space characters in DATASEC names.
    return "".join(c if c.isprintable() and not c.isspace() else "_" for c in name)


def fixup_object_btf(
    btf_bytes: bytes,
    section_sizes: Mapping[str, int],
    symbol_offsets: Mapping[tuple[str, str], int],
) -> bytes:
    """Make an object's ``.BTF`` acceptable to ``BPF_BTF_LOAD``.

    LLVM leaves what only the linker/loader knows for later:

    - each DATASEC gets the size of its ELF section (``section_sizes``) and
      each variable in it the value of its symbol (``symbol_offsets[(section,
      name)]``);
    - extern variables (``.kconfig``, ``.ksyms``), which the kernel rejects
      (``BTF_VAR_GLOBAL_EXTERN``), become allocated globals laid out in their
      DATASEC; extern functions (``BTF_FUNC_EXTERN``) become global
      functions, their unnamed parameters get names (the kernel requires
      them), and in ``.ksyms`` they are replaced by a dummy ``int`` variable
      since a DATASEC may only hold VARs.

    Type ids and existing string offsets are preserved, so ``.BTF.ext``
    records keep pointing at the right things.
    """
    btf = BTF(btf_bytes)
    types: list[Type] = [btf.type(i) for i in range(1, len(btf))]
    builder = BTFBuilder(btf.strings)
    dummy_var_id = 0

    def dummy_var() -> int:
        # An ``int`` VAR standing in for extern functions listed in ``.ksyms``.
        nonlocal dummy_var_id
        if not dummy_var_id:
            types.append(Int("int", 4, INT_SIGNED, 32))
            types.append(Var("__pyebpf_ksym_func", len(types), VAR_GLOBAL_ALLOCATED))
            dummy_var_id = len(types)
        return dummy_var_id

    renamed_protos: set[int] = set()
    for index, t in enumerate(list(types)):
        if isinstance(t, Func) and t.linkage == FUNC_EXTERN:
            types[index] = t.replace(linkage=FUNC_GLOBAL)
            proto = btf.type(t.type)
            if isinstance(proto, FuncProto) and t.type not in renamed_protos:
                renamed_protos.add(t.type)
                params = tuple(
                    p if p.name or not p.type else Param(f"arg{i}", p.type)
                    for i, p in enumerate(proto.params)
                )
                types[t.type - 1] = proto.replace(params=params)
        elif isinstance(t, Var) and t.linkage == VAR_GLOBAL_EXTERN:
            types[index] = t.replace(linkage=VAR_GLOBAL_ALLOCATED)

    for index, t in enumerate(list(types)):
        if not isinstance(t, Datasec):
            continue
        name = t.name
        if name in (KCONFIG_SEC, KSYMS_SEC):
            secinfo, size = _layout_externs(btf, t, dummy_var)
        else:
            secinfo = []
            for vsi in t.vars:
                var = btf.type(vsi.type)
                offset = symbol_offsets.get((name, var.name))
                if offset is None:
                    if vsi.offset or not var.name:
                        offset = vsi.offset
                    else:
                        raise BTFError(
                            f"BTF variable {var.name!r} in DATASEC {name!r} has no symbol"
                        )
                secinfo.append(VarSecInfo(vsi.type, offset, vsi.size))
            size = section_sizes.get(name, t.size)
            if not size:
                size = max((v.offset + v.size for v in secinfo), default=0)
        types[index] = t.replace(name=_valid_section_name(name), size=size, vars=tuple(secinfo))

    for t in types:
        builder.add(t)
    return builder.to_bytes()


def _layout_externs(btf: BTF, sec: Datasec, dummy_var) -> tuple[list[VarSecInfo], int]:
    """Place extern variables one after another, each aligned to its size (max 8)."""
    secinfo = []
    offset = 0
    for vsi in sec.vars:
        target = btf.type(vsi.type)
        if isinstance(target, Func):
            type_id, size = dummy_var(), 4
        else:
            type_id = vsi.type
            try:
                size = btf.size_of(vsi.type)
            except BTFError:  # e.g. ``extern const void sym __ksym``
                size = 4
            size = size or 4
        align = min(8, 1 << (size - 1).bit_length())
        offset = (offset + align - 1) // align * align
        secinfo.append(VarSecInfo(type_id, offset, size))
        offset += size
    return secinfo, (offset + 7) // 8 * 8 or 8


# --------------------------------------------------------------------------- .BTF.ext

_EXT_HEADER = struct.Struct("<HBBI")  # magic, version, flags, hdr_len
_EXT_SECTIONS = struct.Struct("<IIIIII")  # func_info off/len, line_info off/len, core_relo off/len


class ExtFuncInfo(_Record):
    """``bpf_func_info`` as stored in an object: ``insn_off`` in bytes within the section."""

    insn_off: int
    type_id: int


class ExtLineInfo(_Record):
    """``bpf_line_info`` in an object; ``line_col`` packs ``line << 10 | col``."""

    insn_off: int
    file_name_off: int
    line_off: int
    line_col: int

    @property
    def line(self) -> int:
        return self.line_col >> 10

    @property
    def col(self) -> int:
        return self.line_col & 0x3FF


# Still a dataclass: pyebpf.elf rebases these with dataclasses.replace().
@dataclass(frozen=True)
class CoreRelo:
    """``bpf_core_relo``: ``kind`` is ``enum bpf_core_relo_kind`` (0 = FIELD_BYTE_OFFSET...)."""

    insn_off: int
    type_id: int
    access_str_off: int
    kind: int
    access: str = ""


class BTFExt:
    """``.BTF.ext``: per-section func_info, line_info and CO-RE relocation records.

    ``func_info``, ``line_info`` and ``core_relos`` map an ELF section name to
    its records; ``strings`` is the object's ``.BTF`` (its string section
    names the sections and holds the CO-RE access strings).
    """

    def __init__(self, data: bytes, btf: BTF) -> None:
        if len(data) < _EXT_HEADER.size + 16:
            raise BTFError(f".BTF.ext too short ({len(data)} bytes)")
        magic, version, _flags, hdr_len = _EXT_HEADER.unpack_from(data)
        if magic != BTF_MAGIC:
            raise BTFError(f"bad .BTF.ext magic {magic:#06x}")
        if version != 1:
            raise BTFError(f"unsupported .BTF.ext version {version}")
        fields = list(struct.unpack_from("<IIII", data, 8))
        if hdr_len >= 32:
            fields += struct.unpack_from("<II", data, 24)
        else:
            fields += [0, 0]
        fi_off, fi_len, li_off, li_len, cr_off, cr_len = fields
        self.btf = btf
        self.func_info = {
            sec: [ExtFuncInfo(*rec[:2]) for rec in recs]
            for sec, recs in self._records(data, hdr_len + fi_off, fi_len, 8).items()
        }
        self.line_info = {
            sec: [ExtLineInfo(*rec[:4]) for rec in recs]
            for sec, recs in self._records(data, hdr_len + li_off, li_len, 16).items()
        }
        self.core_relos = {
            sec: [CoreRelo(*rec[:4], access=btf.string(rec[2])) for rec in recs]
            for sec, recs in self._records(data, hdr_len + cr_off, cr_len, 16).items()
        }

    @classmethod
    def from_bytes(cls, data: bytes, btf: BTF) -> BTFExt:
        return cls(data, btf)

    def _records(self, data: bytes, start: int, length: int,
                 min_size: int) -> dict[str, list[tuple[int, ...]]]:
        # struct btf_ext_info_sec: sec_name_off, num_info, then num_info records,
        # all after one leading u32 record size.
        out: dict[str, list[tuple[int, ...]]] = {}
        if not length:
            return out
        end = start + length
        if end > len(data):
            raise BTFError(".BTF.ext info section runs past the end of the data")
        rec_size = _U32.unpack_from(data, start)[0]
        if rec_size < min_size or rec_size % 4:
            raise BTFError(f".BTF.ext record size {rec_size} is invalid")
        words = rec_size // 4
        off = start + 4
        while off < end:
            name_off, count = _PAIR.unpack_from(data, off)
            off += 8
            if off + count * rec_size > end:
                raise BTFError(".BTF.ext records overrun their section")
            recs = out.setdefault(self.btf.string(name_off), [])
            for _ in range(count):
                recs.append(struct.unpack_from(f"<{words}I", data, off))
                off += rec_size
        return out


# --------------------------------------------------------------------------- CO-RE

CORE_FIELD_BYTE_OFFSET = 0
CORE_FIELD_BYTE_SIZE = 1
CORE_FIELD_EXISTS = 2
CORE_FIELD_SIGNED = 3
CORE_FIELD_LSHIFT_U64 = 4
CORE_FIELD_RSHIFT_U64 = 5
CORE_TYPE_ID_LOCAL = 6
CORE_TYPE_ID_TARGET = 7
CORE_TYPE_EXISTS = 8
CORE_TYPE_SIZE = 9
CORE_ENUMVAL_EXISTS = 10
CORE_ENUMVAL_VALUE = 11
CORE_TYPE_MATCHES = 12


def _essential_name(name: str) -> str:
    # "task_struct___v2" is a flavor of "task_struct" (libbpf convention).
    cut = name.find("___")
    return name[:cut] if cut > 0 else name


def core_relocate(local: BTF, relo: CoreRelo, target: BTF) -> int | None:
    """The value a CO-RE relocation takes on ``target`` (usually kernel BTF).

    Handles the field kinds (byte offset, byte size, exists, signed, lshift_u64,
    rshift_u64, bitfields included), type exists / size / local and target id,
    and enum value exists / value.  Returns
    ``None`` when the field or type does not exist in ``target`` (the loader
    then poisons the instruction, as libbpf does), except for the ``*_EXISTS``
    kinds which return 0.  Candidates are matched by essential name and kind;
    the first candidate where the whole access path resolves wins.
    """
    local_type = local.resolved(relo.type_id)
    if relo.kind == CORE_TYPE_ID_LOCAL:
        return relo.type_id
    candidates = [
        t for t in target.find_all(_essential_name(local_type.name))
        if t.kind == local_type.kind or {t.kind, local_type.kind} <= {"enum", "enum64"}
    ]
    exists_kind = relo.kind in (CORE_FIELD_EXISTS, CORE_TYPE_EXISTS, CORE_ENUMVAL_EXISTS)
    for cand in candidates:
        value = _core_value(local, relo, local_type, target, cand)
        if value is not None:
            return value
    return 0 if exists_kind else None


def _core_value(local: BTF, relo: CoreRelo, local_type: Type, target: BTF,
                cand: Type) -> int | None:
    kind = relo.kind
    if kind == CORE_TYPE_EXISTS:
        return 1
    if kind == CORE_TYPE_SIZE:
        return target.size_of(cand.id)
    if kind == CORE_TYPE_ID_TARGET:
        return cand.id
    access = [int(x) for x in relo.access.split(":") if x]
    if kind in (CORE_ENUMVAL_EXISTS, CORE_ENUMVAL_VALUE):
        assert isinstance(local_type, Enum)
        wanted = local_type.values[access[0]].name
        for v in cand.values:  # type: ignore[attr-defined]
            if v.name == wanted:
                return 1 if kind == CORE_ENUMVAL_EXISTS else v.value
        return None
    path = _field_path(local, access, local_type, target, cand)
    if path is None:
        return None
    bits, bit_size, _, member_type = path
    return _field_value(kind, target, member_type, bits, bit_size)


def _field_path(local: BTF, access: list[int], local_type: Type, target: BTF,
                cand: Type) -> tuple[int, int, int, int] | None:
    """Follow a field relocation's access path in ``cand``: (bit offset, bitfield bits or
    0, local member type id, target member type id), None where ``cand`` lacks a step.

    access[0] indexes an array of the root type, the rest are member (struct/union) or
    element (array) indexes.
    """
    bits = access[0] * target.size_of(cand.id) * 8
    local_id, target_id = local_type.id, cand.id
    bit_size = 0
    for index in access[1:]:
        lt = local.resolved(local_id)
        tt = target.resolved(target_id)
        bit_size = 0
        if isinstance(lt, Array):
            if not isinstance(tt, Array):
                return None
            bits += index * target.size_of(tt.type) * 8
            local_id, target_id = lt.type, tt.type
            continue
        if not isinstance(lt, Struct) or not isinstance(tt, Struct):
            return None
        local_member = lt.members[index]
        found = target._find_member(tt.id, local_member.name)
        if found is None:
            return None
        member, offset = found
        if not fields_compatible(local, local_member.type, target, member.type):
            return None
        bits += offset
        bit_size = member.bitfield_size
        local_id, target_id = local_member.type, member.type
    return bits, bit_size, local_id, target_id


def fields_compatible(local: BTF, local_id: int, target: BTF, target_id: int) -> bool:
    """Whether a member of type ``local_id`` may be matched with a member of type
    ``target_id``, by libbpf's rule (``bpf_core_fields_are_compat``): any struct or union
    with any struct or union (members are matched by name later), otherwise the kinds
    agree (enum and enum64 agree): integers of any size (not the old bitfield-like ones
    with a bit offset), pointers, floats, enums and forward declarations of the same
    essential name or either anonymous, arrays of compatible elements."""
    for _ in range(64):
        lt, tt = local.resolved(local_id), target.resolved(target_id)
        if isinstance(lt, Struct) and isinstance(tt, Struct):
            return True
        if lt.kind != tt.kind and not {lt.kind, tt.kind} <= {"enum", "enum64"}:
            return False
        if isinstance(lt, (Ptr, Float)):
            return True
        if isinstance(lt, (Enum, Fwd)):
            names = _essential_name(lt.name), _essential_name(tt.name)
            return not all(names) or names[0] == names[1]
        if isinstance(lt, Int):
            return lt.bit_offset == 0 and tt.bit_offset == 0  # type: ignore[attr-defined]
        if not isinstance(lt, Array):
            return False
        local_id, target_id = lt.type, tt.type  # type: ignore[attr-defined]
    raise BTFError(f"array types nest too deep at local type {local_id}")


def core_member_types(local: BTF, relo: CoreRelo, target: BTF) -> tuple[int, int] | None:
    """(local type id, target type id) of the plain member a field relocation reaches,
    for a loader deciding whether a load or store of it may change width (libbpf's
    ``orig_sz``/``new_sz``); None for a bitfield, another kind, or no such member."""
    if relo.kind != CORE_FIELD_BYTE_OFFSET:
        return None
    local_type = local.resolved(relo.type_id)
    access = [int(x) for x in relo.access.split(":") if x]
    for cand in target.find_all(_essential_name(local_type.name)):
        if cand.kind != local_type.kind:
            continue
        path = _field_path(local, access, local_type, target, cand)
        if path is not None:
            return None if path[1] else (path[2], path[3])
    return None


def _field_value(kind: int, target: BTF, member_type: int, bit_off: int,
                 bit_size: int) -> int | None:
    """A field relocation's value for the member of type ``member_type`` at ``bit_off``
    (``bit_size`` bits wide when it is a bitfield), as libbpf's ``bpf_core_calc_field_relo``
    computes it.  A bitfield's storage is the smallest naturally aligned 1, 2, 4 or 8
    bytes, at least its type's size, holding its bits; LSHIFT_U64 and RSHIFT_U64 shift
    those bytes, loaded into the low end of a u64 (little-endian), so that the field's bits
    end up at the top and then at the bottom: ``value = (storage << lshift) >> rshift``.
    """
    mt = target.resolved(member_type)
    if kind == CORE_FIELD_EXISTS:
        return 1
    if kind == CORE_FIELD_SIGNED:
        return int(isinstance(mt, (Int, Enum)) and mt.signed)
    byte_size = target.size_of(member_type)
    if not bit_size and isinstance(mt, Int) and mt.bits != mt.size * 8:
        # The older bitfield encoding (struct kind_flag 0): the bits are in the INT type.
        bit_size, bit_off = mt.bits, bit_off + mt.bit_offset
    if bit_size:
        byte_off = bit_off // 8 // byte_size * byte_size
        while bit_off + bit_size - byte_off * 8 > byte_size * 8:
            if byte_size >= 8:
                raise BTFError(f"a {bit_size}-bit bitfield at bit {bit_off} cannot be read "
                               "with one 8-byte load")
            byte_size *= 2
            byte_off = bit_off // 8 // byte_size * byte_size
    else:
        byte_off, bit_size = bit_off // 8, byte_size * 8
    if kind == CORE_FIELD_BYTE_OFFSET:
        return byte_off
    if kind == CORE_FIELD_BYTE_SIZE:
        return byte_size
    if kind == CORE_FIELD_LSHIFT_U64:
        return 64 - (bit_off + bit_size - byte_off * 8)
    if kind == CORE_FIELD_RSHIFT_U64:
        return 64 - bit_size
    return None
