"""Map declarations and their user-space view.

A map is declared once at module level and used on both sides::

    counts = bpf.HashMap(u32, u64, max_entries=10240)

The compiler reads the declaration (``map_type``, ``key_type``,
``value_type``, ``max_entries``, ``flags``, ``name``, ``pin_name``) to emit
the map into ``.maps``; the loader creates it and binds the kernel fd with
``_bind``.  From then on the object is a typed :class:`MutableMapping` over
the kernel map: keys and values are packed/unpacked with their
:mod:`pyebpf.types` before any syscall, so a wrong type fails here with a
:class:`MapError` that names the map, not later with an ``EINVAL``.

One class per map kind.  Every kernel call goes through
``pyebpf._native.syscalls`` (looked up at call time, so tests can replace it).
"""

from __future__ import annotations

import contextlib
import errno
import functools
from array import array
from collections.abc import Iterator, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from .constants import MapType
from .errors import BTFError, MapError, SyscallError
from .types import ArrayType, BPFType, IntType, StructType, as_type, u32, u64

if TYPE_CHECKING:
    from pathlib import Path

# Declaring a map must stay cheap (it happens at import of the user's module):
# pathlib, tracefs and html are imported by the methods that need them.

__all__ = [
    "Map",
    "MapKeyError",
    "MapTypeError",
    "HashMap",
    "ArrayMap",
    "PerCpuHashMap",
    "PerCpuArrayMap",
    "LruHashMap",
    "LruPerCpuHashMap",
    "LpmTrieMap",
    "QueueMap",
    "StackMap",
    "BloomFilterMap",
    "ProgArray",
    "RingBuf",
    "PerfEventArray",
    "StackTraceMap",
    "ArrayOfMaps",
    "HashOfMaps",
    "possible_cpus",
    "BPF_ANY",
    "BPF_NOEXIST",
    "BPF_EXIST",
    "BPF_F_LOCK",
    "BPF_F_NO_PREALLOC",
    "BPF_F_MMAPABLE",
    "format_log2_hist",
    "format_linear_hist",
]

# Update flags (UAPI: BPF_ANY, BPF_NOEXIST, BPF_EXIST, BPF_F_LOCK).
BPF_ANY = 0
BPF_NOEXIST = 1
BPF_EXIST = 2
BPF_F_LOCK = 4
# Map creation flags (UAPI: BPF_F_NO_PREALLOC, which LPM tries require; BPF_F_MMAPABLE,
# arrays whose values user space can mmap).
BPF_F_NO_PREALLOC = 1
BPF_F_MMAPABLE = 1 << 10

# The kernel's ENOTSUPP (include/linux/errno.h), which the errno module lacks.
_ENOTSUPP = 524

_HTML_ROWS = 50
_DEFAULT_CHUNK = 256
# Entries per BPF_MAP_LOOKUP_BATCH call when reading a whole map (libbpf users pick
# thousands too): fewer syscalls, and the buffers are reused.
_BULK_CHUNK = 8192
_MISSING: Any = object()


class MapKeyError(MapError, KeyError):
    """``m[k]`` for a key the map does not hold (a :class:`KeyError` too)."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return self.strerror or ""


class MapTypeError(MapError, TypeError):
    """A key or value of the wrong type or size for the map (a :class:`TypeError` too)."""


def _sys() -> Any:
    global _syscalls
    if _syscalls is None:
        from ._native import syscalls

        _syscalls = syscalls
    return _syscalls


_syscalls: Any = None


@functools.lru_cache(maxsize=1)
def possible_cpus() -> int:
    """How many CPUs per-CPU maps hold a value for (``/sys/devices/system/cpu/possible``)."""
    with open("/sys/devices/system/cpu/possible") as f:
        text = f.read().strip()
    highest = 0
    for part in text.split(","):
        highest = max(highest, int(part.split("-")[-1]))
    return highest + 1


def _bpffs_path(path: str | Path, ensure_mounted: bool = False) -> Path:
    """``path``, a relative one under the bpffs (which is mounted first if it is not)."""
    from pathlib import Path

    from . import tracefs

    p = Path(path)
    if not p.is_absolute():
        return tracefs.bpffs_root() / p
    if ensure_mounted:
        tracefs.bpffs_root()
    return p


def _round8(n: int) -> int:
    return (n + 7) & ~7


# --------------------------------------------------------------------------- codecs


class _Codec:
    """Packs and unpacks one side (key or value) of a map, one item or in bulk."""

    def __init__(self, type_: BPFType | None, size: int) -> None:
        self.type = type_
        self.size = size
        # Ints decode in bulk with array.array (native order: BPF maps hold the host's
        # byte order), several times faster than struct.iter_unpack into a list.
        self._array_code = None
        # One-call pack and tuple-unpack for plain ints, the common key and value;
        # ``pack`` stays the checked path and gives the error message on a failure.
        self.fast_pack: Any = self.pack
        self.fast_unpack: Any = None
        if isinstance(type_, IntType) and not type_.is_bool:
            code = IntType._formats[(type_.size, type_.signed)]
            if array(code).itemsize == type_.size:
                self._array_code = code
            self.fast_pack = type_._struct.pack
            self.fast_unpack = type_._struct.unpack

    @property
    def label(self) -> str:
        return self.type.name if self.type is not None else f"bytes[{self.size}]"

    def pack(self, value: Any) -> bytes:
        if self.type is None:
            if isinstance(value, (bytes, bytearray, memoryview)) and len(value) == self.size:
                return bytes(value)
            raise TypeError(f"needs {self.size} bytes, got {_describe(value)}")
        return self.type.pack(value)

    def unpack(self, data: bytes | memoryview) -> Any:
        if self.type is None:
            return bytes(data)
        return self.type.unpack(data)

    def pack_many(self, items: Sequence[Any]) -> bytes | None:
        """Many ints packed at once (``array.array``), or None when the items are not
        all ints of this type (callers then pack one by one, with a clear error)."""
        if self._array_code is None:
            return None
        try:
            return array(self._array_code, items).tobytes()
        except (TypeError, OverflowError):
            return None

    def unpack_many(self, data: bytes | memoryview, count: int, stride: int | None = None) -> list:
        """``count`` items laid out every ``stride`` bytes (default: packed)."""
        stride = stride or self.size
        mv = memoryview(data)[: count * stride]
        if self._array_code is not None and stride == self.size:
            decoded = array(self._array_code)
            decoded.frombytes(mv)
            return decoded.tolist()
        return [self.unpack(mv[i * stride : i * stride + self.size]) for i in range(count)]

    def numpy_dtype(self) -> Any:
        import numpy as np

        if self.type is None:
            return np.dtype(("u1", (self.size,)))
        return np.dtype(self.type.numpy_format)


class _PlainOps:
    """Single-element commands through the plain syscall wrappers: for keyless maps
    and for syscall layers without ``ElemOps`` (the tests' fakes)."""

    lookup_int = update_int = None

    def __init__(self, fd: int, key_size: int, value_size: int) -> None:
        self.fd, self.key_size, self.value_size = fd, key_size, value_size

    def lookup(self, key: bytes) -> bytes | None:
        return _sys().map_lookup(self.fd, key, self.value_size)

    def update(self, key: bytes, value: bytes, flags: int) -> None:
        _sys().map_update(self.fd, key, value, flags)

    def delete(self, key: bytes) -> bool:
        return bool(_sys().map_delete(self.fd, key))

    def next_key(self, key: bytes | None) -> bytes | None:
        return _sys().map_get_next_key(self.fd, key, self.key_size)


def _describe(value: Any) -> str:
    text = repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{type(value).__name__} {text}"


# --------------------------------------------------------------------------- the base class


class Map(MutableMapping):
    """A kernel map: a declaration the compiler reads, then a typed view of the kernel map.

    Class attributes: ``map_type`` (:class:`~pyebpf.constants.MapType`),
    ``per_cpu``.  Instance attributes: ``key_type``, ``value_type`` (a
    :class:`~pyebpf.types.BPFType`, or None for raw ``bytes``),
    ``key_size``, ``value_size``, ``max_entries``, ``flags``, ``name``
    (set by the compiler from the global's name when not given),
    ``pin_name`` (the ``pin=`` option) and ``inner`` (maps of maps).

    Use it as a context manager, or call :meth:`close`, to release the fd.
    """

    map_type: ClassVar[MapType]
    per_cpu: ClassVar[bool] = False
    #: kinds whose entries always exist (arrays): no delete, len == max_entries
    fixed_entries: ClassVar[bool] = False
    #: kinds without keys (queue, stack, bloom filter, ring buffer)
    keyless: ClassVar[bool] = False

    _by_type: ClassVar[dict[int, type[Map]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if isinstance(cls.__dict__.get("map_type"), int):
            Map._by_type.setdefault(int(cls.map_type), cls)

    def __init__(
        self,
        key_type: Any,
        value_type: Any,
        max_entries: int,
        *,
        flags: int = 0,
        name: str | None = None,
        pin: str | None = None,
    ) -> None:
        kt = as_type(key_type) if key_type is not None else None
        vt = as_type(value_type) if value_type is not None else None
        self._setup(
            kt, vt, kt.size if kt else 0, vt.size if vt else 0, max_entries, flags, name, pin
        )

    def _setup(
        self,
        key_type: BPFType | None,
        value_type: BPFType | None,
        key_size: int,
        value_size: int,
        max_entries: int,
        flags: int,
        name: str | None,
        pin: str | None,
    ) -> None:
        if not isinstance(max_entries, int) or max_entries < 0:
            raise ValueError(f"max_entries must be a non-negative int, got {max_entries!r}")
        self.key_type = key_type
        self.value_type = value_type
        self.key_size = key_size
        self.value_size = value_size
        self.max_entries = max_entries
        self.flags = flags
        self.name = name
        self.pin_name = pin
        self.inner: Map | None = getattr(self, "inner", None)
        self._fd: int | None = None
        self._owned = False
        self._batch_ok = True
        self._ops: Any = None
        self._key = _Codec(key_type, key_size)
        self._value = _Codec(value_type, value_size)
        #: what :meth:`from_pinned`/:meth:`from_id` could not type from BTF
        self.btf_notes: list[str] = []

    # A map is a kernel object, not a value: identity equality, hashable (the compiler
    # and loader key dicts by declarations), and always true (``if m:`` must not read
    # the kernel map, which len() would).
    def __eq__(self, other: object) -> bool:
        return self is other

    __hash__ = object.__hash__

    def __bool__(self) -> bool:
        return True

    # ----------------------------------------------------------------- naming and lifecycle

    def _set_name(self, name: str) -> None:
        """Called by the compiler with the global variable's name, unless a name was given."""
        if self.name is None:
            self.name = name

    @property
    def _label(self) -> str:
        return f"map {self.name!r}" if self.name else f"this {type(self).__name__}"

    @property
    def fd(self) -> int:
        """The kernel fd; a :class:`MapError` until the map is loaded or created."""
        if self._fd is None:
            raise MapError(
                f"{self._label} is not loaded: load a program that uses it first, "
                "or call m.create()",
                errno.EBADF,
            )
        return self._fd

    @property
    def loaded(self) -> bool:
        """True once the map is bound to a kernel fd."""
        return self._fd is not None

    def _bind(self, fd: int, owned: bool = True) -> Map:
        """Attach this declaration to kernel map ``fd`` (the loader calls this)."""
        if self._fd is not None and self._fd != fd:
            self.close()
        self._fd = fd
        self._owned = owned
        self._batch_ok = True
        self._ops = None
        return self

    @property
    def _kernel_name(self) -> str:
        raw = self.name or ""
        return "".join(c if c.isalnum() or c in "_." else "_" for c in raw)[:15]

    def _create_args(self) -> dict[str, Any]:
        """Keyword arguments for ``syscalls.map_create`` beyond type and sizes."""
        return {}

    def create(self) -> Map:
        """Create the map in the kernel without a program (user-only maps, tests).

        With ``pin="name"``, an existing pin under the bpffs with the same shape
        is reused, and a new map is pinned there.
        """
        if self._fd is not None:
            return self
        pinned = self._pin_path()
        if pinned is not None and pinned.exists():
            fd = _sys().obj_get(str(pinned))
            self._check_shape(_sys().map_info(fd), fd)
            return self._bind(fd)
        fd = _sys().map_create(
            int(self.map_type),
            self.key_size,
            self.value_size,
            self.max_entries,
            flags=self.flags,
            name=self._kernel_name,
            **self._create_args(),
        )
        self._bind(fd)
        if pinned is not None:
            self.pin(pinned)
        return self

    def _pin_path(self) -> Path | None:
        return _bpffs_path(self.pin_name) if self.pin_name else None

    def _check_shape(self, info: dict[str, Any], fd: int) -> None:
        want = (int(self.map_type), self.key_size, self.value_size, self.max_entries)
        got = (info["type"], info["key_size"], info["value_size"], info["max_entries"])
        if want != got:
            _sys().close(fd)
            raise MapError(
                f"pinned {self._label} at {self._pin_path()} has a different shape: "
                f"(type, key size, value size, max entries) is {got}, the declaration has {want}",
                errno.EINVAL,
            )

    def close(self) -> None:
        """Release the fd (the kernel frees the map when nothing else holds it)."""
        fd, self._fd = self._fd, None
        self._ops = None
        if fd is not None and self._owned:
            with contextlib.suppress(OSError, ImportError):
                _sys().close(fd)

    def __enter__(self) -> Map:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    # ----------------------------------------------------------------- reopening

    @classmethod
    def from_spec(
        cls, spec: Any, fd: int, key_type: Any = None, value_type: Any = None, *, owned: bool = True
    ) -> Map:
        """A map object of the right kind for a loaded :class:`~pyebpf.spec.MapSpec`.

        Keys and values are ``bytes`` unless ``key_type``/``value_type`` are given.
        """
        m = cls._make(
            spec.map_type, spec.key_size, spec.value_size, spec.max_entries, spec.flags,
            spec.name, key_type, value_type,
        )
        return m._bind(fd, owned)

    @classmethod
    def _make(
        cls,
        map_type: int,
        key_size: int,
        value_size: int,
        max_entries: int,
        flags: int,
        name: str | None,
        key_type: Any,
        value_type: Any,
    ) -> Map:
        kind = cls if cls is not Map else Map._by_type.get(int(map_type), _GenericMap)
        kt = as_type(key_type) if key_type is not None else None
        vt = as_type(value_type) if value_type is not None else None
        for side, t, size in (("key", kt, key_size), ("value", vt, value_size)):
            if t is not None and t.size != size:
                raise MapTypeError(
                    f"map {name!r}: {side} type {t.name} is {t.size} bytes, the map's {side}s "
                    f"are {size} bytes"
                )
        m = kind.__new__(kind)
        m._setup(kt, vt, key_size, value_size, max_entries, flags, name or None, None)
        if kind is _GenericMap:
            m._generic_type = int(map_type)
        return m

    @classmethod
    def _from_fd(cls, fd: int, key_type: Any, value_type: Any, btf: bool) -> Map:
        notes: list[str] = []
        try:
            info = _sys().map_info(fd)
            if btf and (key_type is None or value_type is None):
                key_type, value_type, notes = _btf_types(info, key_type, value_type)
            m = cls._make(
                info["type"], info["key_size"], info["value_size"], info["max_entries"],
                info.get("map_flags", 0), info.get("name") or None, key_type, value_type,
            )
        except BaseException:
            _sys().close(fd)
            raise
        m.btf_notes = notes
        return m._bind(fd)

    @classmethod
    def from_pinned(cls, path: str | Path, key_type: Any = None, value_type: Any = None, *,
                    btf: bool = True) -> Map:
        """Open a map pinned at ``path`` (relative paths are under the bpffs).

        Keys and values are typed from ``key_type``/``value_type`` when given,
        otherwise from the map's BTF (``btf=False``: raw ``bytes``), so a map
        pinned by another process reads back typed without its declaration::

            m = bpf.Map.from_pinned("/sys/fs/bpf/flows")
            for key, stats in m.items():   # stats: a Struct made from the BTF
                print(key, stats.packets)

        BTF types without a pyebpf equivalent stay bytes; ``m.btf_notes`` says which.
        """
        p = _bpffs_path(path)
        try:
            fd = _sys().obj_get(str(p))
        except SyscallError as e:
            raise MapError(f"cannot open the pinned map {p}: {e.strerror}", e.errno) from None
        return cls._from_fd(fd, key_type, value_type, btf)

    @classmethod
    def from_id(cls, map_id: int, key_type: Any = None, value_type: Any = None, *,
                btf: bool = True) -> Map:
        """Open the kernel map with id ``map_id`` (as ``bpftool map list`` shows); typed
        as :meth:`from_pinned` types it."""
        try:
            fd = _sys().map_get_fd_by_id(map_id)
        except SyscallError as e:
            raise MapError(f"no map with id {map_id}: {e.strerror}", e.errno) from None
        return cls._from_fd(fd, key_type, value_type, btf)

    def pin(self, path: str | Path) -> Path:
        """Pin the map on the bpffs (mounted at /sys/fs/bpf if needed); returns the path."""
        p = _bpffs_path(path, ensure_mounted=True)
        _sys().obj_pin(self.fd, str(p))
        return p

    def info(self) -> dict[str, Any]:
        """The kernel's ``bpf_map_info`` as a dict (``id``, ``name``, ``type``, ...)."""
        return _sys().map_info(self.fd)

    @property
    def id(self) -> int:
        """The kernel's id of this map."""
        return int(self.info()["id"])

    # ----------------------------------------------------------------- packing

    @property
    def _value_stride(self) -> int:
        """Bytes of one entry's value in syscall buffers (per-CPU: rounded, times CPUs)."""
        if self.per_cpu:
            return _round8(self.value_size) * possible_cpus()
        return self.value_size

    def _pack_key(self, key: Any) -> bytes:
        try:
            return self._key.pack(key)
        except (TypeError, ValueError, OverflowError) as e:
            raise MapTypeError(
                f"{self._label}: bad key {_describe(key)}: keys are {self._key.label} ({e})",
                errno.EINVAL,
            ) from None

    def _pack_one_value(self, value: Any) -> bytes:
        try:
            return self._value.pack(value)
        except (TypeError, ValueError, OverflowError) as e:
            raise MapTypeError(
                f"{self._label}: bad value {_describe(value)}: values are {self._value.label} ({e})",
                errno.EINVAL,
            ) from None

    def _pack_value(self, value: Any) -> bytes:
        if not self.per_cpu:
            return self._pack_one_value(value)
        ncpu = possible_cpus()
        slot = _round8(self.value_size)
        if self._is_per_cpu_list(value):
            if len(value) != ncpu:
                raise MapTypeError(
                    f"{self._label}: a per-CPU value needs one item per possible CPU "
                    f"({ncpu}), got {len(value)}",
                    errno.EINVAL,
                )
            items = [self._pack_one_value(v) for v in value]
        else:
            items = [self._pack_one_value(value)] * ncpu
        return b"".join(i.ljust(slot, b"\0") for i in items)

    def _is_per_cpu_list(self, value: Any) -> bool:
        """True when ``value`` lists one value per CPU (not one array value)."""
        if not isinstance(value, (list, tuple)):
            return False
        if isinstance(self.value_type, ArrayType):
            return bool(value) and isinstance(value[0], (list, tuple, bytes, bytearray, str))
        return True

    def _unpack_values(self, data: bytes | memoryview, count: int) -> list:
        if not self.per_cpu:
            return self._value.unpack_many(data, count)
        ncpu = possible_cpus()
        flat = self._value.unpack_many(data, count * ncpu, _round8(self.value_size))
        return [flat[i * ncpu : (i + 1) * ncpu] for i in range(count)]

    def _map_error(self, e: OSError, what: str) -> MapError:
        reasons = {
            errno.E2BIG: f"{self._label} is full (max_entries={self.max_entries})",
            errno.EEXIST: f"{self._label} already has this key (flags=BPF_NOEXIST)",
            errno.ENOENT: f"{self._label} has no such key",
            errno.ENOMEM: f"{self._label}: the kernel is out of memory for new entries",
        }
        text = reasons.get(e.errno) or f"{self._label}: {what} failed: {e.strerror}"
        cls = MapKeyError if e.errno == errno.ENOENT else MapError
        return cls(text, e.errno, getattr(e, "op", "map"))

    # ----------------------------------------------------------------- MutableMapping

    def _elem_ops(self) -> Any:
        """The map's single-element commands (``syscalls.ElemOps``, or plain wrappers for
        keyless maps and syscall layers without it), made on first use."""
        ops = self._ops
        if ops is None:
            make = getattr(_sys(), "ElemOps", None) if self.key_size else None
            if make is not None:
                ints = None
                if (not self.per_cpu and self._key.fast_unpack is not None
                        and self._value.fast_unpack is not None):
                    ints = (self._key.type.signed, self._value.type.signed)  # type: ignore[union-attr]
                ops = make(self.fd, self.key_size, self._value_stride, ints=ints)
            else:
                ops = _PlainOps(self.fd, self.key_size, self._value_stride)
            self._ops = ops
        return ops

    def _packed_key(self, key: Any) -> bytes:
        try:
            return self._key.fast_pack(key)
        except Exception:
            return self._pack_key(key)  # raises MapTypeError saying what keys must be

    def _find(self, key: Any) -> bytes | None:
        """The raw value stored under ``key``, or None."""
        packed = self._packed_key(key)
        try:
            return (self._ops or self._elem_ops()).lookup(packed)
        except OSError as e:
            raise self._map_error(e, "lookup") from None

    def _decode(self, raw: bytes) -> Any:
        if self.per_cpu:
            return self._unpack_values(raw, 1)[0]
        return self._value.unpack(raw)

    def lookup(self, key: Any) -> Any:
        """The value for ``key``, or None when the map has no such key."""
        fast = (self._ops or self._elem_ops()).lookup_int
        if fast is not None:
            try:
                return fast(key)
            except (TypeError, OverflowError):
                pass  # the general path below says what keys must be
            except OSError as e:
                raise self._map_error(e, "lookup") from None
        raw = self._find(key)
        if raw is None:
            return None
        unpack = self._value.fast_unpack
        if unpack is not None and not self.per_cpu:
            return unpack(raw)[0]
        return self._decode(raw)

    def __getitem__(self, key: Any) -> Any:
        ops = self._ops or self._elem_ops()
        fast = ops.lookup_int  # int -> int maps: one native call, no packing
        if fast is not None:
            try:
                value = fast(key)
                if value is not None:
                    return value
            except (TypeError, OverflowError):
                pass  # the general path below says what keys must be
            except OSError as e:
                raise self._map_error(e, "lookup") from None
        # _find inlined: a Python call is about a tenth of m[k] on the native path
        try:
            packed = self._key.fast_pack(key)
        except Exception:
            packed = self._pack_key(key)
        try:
            raw = ops.lookup(packed)
        except OSError as e:
            raise self._map_error(e, "lookup") from None
        if raw is None:
            raise MapKeyError(f"{self._label} has no key {key!r}", errno.ENOENT)
        unpack = self._value.fast_unpack
        if unpack is not None and not self.per_cpu:
            return unpack(raw)[0]
        return self._decode(raw)

    def __setitem__(self, key: Any, value: Any) -> None:
        # update()'s single-entry path, inlined: a Python call is a twentieth of m[k] = v
        fast = (self._ops or self._elem_ops()).update_int  # int -> int maps: one native call
        if fast is not None:
            try:
                return fast(key, value, BPF_ANY)  # type: ignore[no-any-return]
            except (TypeError, OverflowError):
                pass  # the general path says what keys and values must be
            except OSError as e:
                raise self._map_error(e, "update") from None
        self._update_packed(key, value, BPF_ANY)

    def __delitem__(self, key: Any) -> None:
        if self.fixed_entries:
            raise MapError(
                f"{self._label}: entries of a {type(self).__name__} cannot be deleted; "
                "assign a zero value instead",
                errno.EINVAL,
            )
        packed = self._packed_key(key)
        try:
            found = (self._ops or self._elem_ops()).delete(packed)
        except OSError as e:
            raise self._map_error(e, "delete") from None
        if not found:
            raise MapKeyError(f"{self._label} has no key {key!r}", errno.ENOENT)

    def __contains__(self, key: object) -> bool:
        try:
            return self._find(key) is not None
        except MapTypeError:
            return False

    def update(  # type: ignore[override]
        self, key: Any = _MISSING, value: Any = _MISSING, flags: int = BPF_ANY, **kwargs: Any
    ) -> None:
        """``m.update(k, v, flags=BPF_ANY)`` sets one entry; ``m.update(mapping)`` many.

        ``flags``: ``BPF_ANY`` (create or replace), ``BPF_NOEXIST`` (only a new
        key; an existing one raises :class:`MapError`), ``BPF_EXIST`` (only an
        existing key; a missing one raises :class:`MapKeyError`).
        """
        if value is _MISSING:
            # MutableMapping.update(other, **kw) semantics
            other = () if key is _MISSING else key
            pairs = other.items() if hasattr(other, "items") else other
            for k, v in pairs:
                self.update(k, v, flags)
            for k, v in kwargs.items():
                self.update(k, v, flags)
            return
        fast = (self._ops or self._elem_ops()).update_int
        if fast is not None:
            try:
                return fast(key, value, flags)  # type: ignore[no-any-return]
            except (TypeError, OverflowError):
                pass  # the general path says what keys and values must be
            except OSError as e:
                raise self._map_error(e, "update") from None
        self._update_packed(key, value, flags)

    def _update_packed(self, key: Any, value: Any, flags: int) -> None:
        """One entry through the packed-bytes path (any key and value type)."""
        packed_key = self._packed_key(key)
        if self.per_cpu:
            packed_value = self._pack_value(value)
        else:
            try:
                packed_value = self._value.fast_pack(value)
            except Exception:
                packed_value = self._pack_one_value(value)
        try:
            (self._ops or self._elem_ops()).update(packed_key, packed_value, flags)
        except OSError as e:
            raise self._map_error(e, "update") from None

    def get(self, key: Any, default: Any = None) -> Any:
        value = self.lookup(key)
        return default if value is None else value

    def pop(self, key: Any, default: Any = _MISSING) -> Any:
        """Remove ``key`` and return its value (``default``, or KeyError, when missing)."""
        if self.fixed_entries:
            raise MapError(f"{self._label}: entries of an array cannot be removed", errno.EINVAL)
        packed = self._pack_key(key)
        raw = None
        try:
            raw = _sys().map_lookup_and_delete(self.fd, packed, self._value_stride)
        except SyscallError as e:
            if e.errno not in (errno.EINVAL, _ENOTSUPP, errno.EOPNOTSUPP):
                raise self._map_error(e, "lookup-and-delete") from None
            # Older kernels lack LOOKUP_AND_DELETE for hash maps: two steps instead.
            raw = _sys().map_lookup(self.fd, packed, self._value_stride)
            if raw is not None and not _sys().map_delete(self.fd, packed):
                raw = None
        if raw is None:
            if default is _MISSING:
                raise MapKeyError(f"{self._label} has no key {key!r}", errno.ENOENT)
            return default
        return self._unpack_values(raw, 1)[0]

    def freeze(self) -> None:
        """Make the map read-only for user space (``BPF_MAP_FREEZE``): later writes from
        Python fail, programs can still write unless the map is ``BPF_F_RDONLY_PROG``.
        Irreversible; an mmapable map with a writable NumPy view open cannot be frozen."""
        try:
            _sys().map_freeze(self.fd)
        except SyscallError as e:
            if e.errno == errno.EBUSY:
                raise MapError(f"{self._label} has a writable memory mapping (numpy_view()) "
                               "open: drop the views before freezing", e.errno) from None
            raise self._map_error(e, "freeze") from None

    def clear(self) -> None:
        """Remove every entry (arrays: set every value to zero)."""
        if self.fixed_entries:
            zero = bytes(self._value_stride)
            for i in range(self.max_entries):
                _sys().map_update(self.fd, self._pack_key(i), zero, BPF_ANY)
            return
        delete = (self._ops or self._elem_ops()).delete
        for raw in list(self._raw_keys()):
            delete(raw)

    def __len__(self) -> int:
        if self.fixed_entries:
            return self.max_entries
        return sum(1 for _ in self._raw_keys())

    def __iter__(self) -> Iterator[Any]:
        for raw in self._raw_keys():
            yield self._key.unpack(raw)

    def _raw_keys(self) -> Iterator[bytes]:
        """Every key once, even while the kernel deletes entries.

        BPF_MAP_GET_NEXT_KEY restarts from the first key when the current key
        has vanished; keys already yielded are skipped on the way, and a walk
        longer than the keys seen so far (a cycle) ends the iteration.
        """
        next_key = (self._ops or self._elem_ops()).next_key
        seen: set[bytes] = set()
        key: bytes | None = None
        repeats = 0
        while True:
            nxt = next_key(key)
            if nxt is None:
                return
            nxt = bytes(nxt)
            key = nxt
            if nxt in seen:
                repeats += 1
                if repeats > len(seen):
                    return
                continue
            repeats = 0
            seen.add(nxt)
            yield nxt

    def keys(self) -> list[Any]:  # type: ignore[override]
        """A snapshot list of the keys."""
        return list(self)

    def values(self) -> list[Any]:  # type: ignore[override]
        """A snapshot list of the values (in key order of :meth:`keys`)."""
        return [v for _, v in self.items()]

    def items(self) -> list[tuple[Any, Any]]:  # type: ignore[override]
        """A snapshot list of ``(key, value)`` pairs, read in batches when the kernel can."""
        bulk = self._read_bulk()
        if bulk is not None:
            raw_keys, raw_values, n = bulk
            return list(zip(self._key.unpack_many(raw_keys, n), self._unpack_values(raw_values, n)))
        out: list[tuple[Any, Any]] = []
        for keys, values in self._item_chunks(_DEFAULT_CHUNK):
            out.extend(zip(keys, values))
        return out

    def _read_bulk(self) -> tuple[bytearray, bytearray, int] | None:
        """Every entry as packed ``(keys, values, count)``, read with BPF_MAP_LOOKUP_BATCH
        straight into two growing buffers; None when batch reads are unavailable."""
        into = getattr(_sys(), "map_lookup_batch_into", None)
        if into is None or not self._batch_ok:
            return None
        ks, vs = self.key_size, self._value_stride
        room = max(1, min(self.max_entries, 1 << 16))
        keys, values = bytearray(room * ks), bytearray(room * vs)
        n, token, chunk = 0, None, _BULK_CHUNK
        while True:
            if room - n < chunk:  # keep a whole chunk of room: the kernel fills up to it
                room = max(room * 2, n + chunk)
                keys.extend(bytes(room * ks - len(keys)))
                values.extend(bytes(room * vs - len(values)))
            kv, vv = memoryview(keys), memoryview(values)
            try:
                got, out_token, done = into(self.fd, token, ks, kv[n * ks : (n + chunk) * ks],
                                            vv[n * vs : (n + chunk) * vs], chunk)
            except SyscallError as e:
                if e.errno == errno.ENOSPC:  # a hash bucket holds more than `chunk` entries
                    chunk *= 2
                    continue
                if token is None and e.errno in (errno.EINVAL, _ENOTSUPP, errno.EOPNOTSUPP,
                                                 errno.ENOSYS):
                    self._batch_ok = False
                    return None
                raise self._map_error(e, "batch lookup") from None
            finally:
                kv.release()
                vv.release()
            n += got
            if done:
                return keys, values, n
            token = out_token

    def items_batch(self, chunk: int = _DEFAULT_CHUNK) -> Iterator[list[tuple[Any, Any]]]:
        """Yield the entries as lists of up to about ``chunk`` pairs (BPF_MAP_LOOKUP_BATCH)."""
        for keys, values in self._item_chunks(chunk):
            yield list(zip(keys, values))

    def _item_chunks(self, chunk: int) -> Iterator[tuple[list, list]]:
        for raw_keys, raw_values, count in self._raw_chunks(chunk):
            yield self._key.unpack_many(raw_keys, count), self._unpack_values(raw_values, count)

    def _raw_chunks(self, chunk: int) -> Iterator[tuple[bytes, bytes, int]]:
        """(keys, values, count) buffers: batched when possible, else key by key."""
        if self._batch_ok:
            try:
                yield from self._batch_chunks(chunk)
                return
            except _BatchUnsupported:
                self._batch_ok = False
        keys: list[bytes] = []
        values: list[bytes] = []
        lookup = (self._ops or self._elem_ops()).lookup
        for raw in self._raw_keys():
            value = lookup(raw)
            if value is None:  # deleted meanwhile
                continue
            keys.append(raw)
            values.append(bytes(value))
            if len(keys) >= chunk:
                yield b"".join(keys), b"".join(values), len(keys)
                keys, values = [], []
        if keys:
            yield b"".join(keys), b"".join(values), len(keys)

    def _batch_chunks(self, chunk: int) -> Iterator[tuple[bytes, bytes, int]]:
        token = None
        count = max(1, chunk)
        started = False
        while True:
            try:
                res = _sys().map_lookup_batch(
                    self.fd, token, self.key_size, self._value_stride, count
                )
            except SyscallError as e:
                if e.errno == errno.ENOSPC:  # a hash bucket holds more than `count` entries
                    count *= 2
                    continue
                if not started and e.errno in (
                    errno.EINVAL, _ENOTSUPP, errno.EOPNOTSUPP, errno.ENOSYS
                ):
                    raise _BatchUnsupported from None
                raise self._map_error(e, "batch lookup") from None
            started = True
            if res.count:
                yield _join(res.keys), _join(res.values), res.count
            if res.done:
                return
            token = res.out_batch

    def update_batch(self, keys: Sequence[Any], values: Sequence[Any], flags: int = BPF_ANY) -> int:
        """Set many entries in one BPF_MAP_UPDATE_BATCH call; returns how many were set."""
        if len(keys) != len(values):
            raise MapTypeError(
                f"{self._label}: update_batch got {len(keys)} keys and {len(values)} values",
                errno.EINVAL,
            )
        raw_keys = self._key.pack_many(keys)
        if raw_keys is None:
            raw_keys = b"".join(self._pack_key(k) for k in keys)
        raw_values = None if self.per_cpu else self._value.pack_many(values)
        if raw_values is None:
            raw_values = b"".join(self._pack_value(v) for v in values)
        return self._update_batch_raw(raw_keys, raw_values, len(keys), flags)

    def _update_batch_raw(self, raw_keys: bytes, raw_values: bytes, count: int, flags: int) -> int:
        if not count:
            return 0
        try:
            return _sys().map_update_batch(self.fd, raw_keys, raw_values, count, flags)
        except SyscallError as e:
            if e.errno in (errno.EINVAL, _ENOTSUPP, errno.EOPNOTSUPP) and not flags:
                stride = self._value_stride
                for i in range(count):
                    k = raw_keys[i * self.key_size : (i + 1) * self.key_size]
                    _sys().map_update(self.fd, k, raw_values[i * stride : (i + 1) * stride], flags)
                return count
            raise self._map_error(e, "batch update") from None

    def delete_batch(self, keys: Sequence[Any]) -> int:
        """Delete many keys in one BPF_MAP_DELETE_BATCH call; returns how many went."""
        if self.fixed_entries:
            raise MapError(f"{self._label}: entries of an array cannot be deleted", errno.EINVAL)
        if not keys:
            return 0
        raw = self._key.pack_many(keys)
        if raw is None:
            raw = b"".join(self._pack_key(k) for k in keys)
        try:
            return _sys().map_delete_batch(self.fd, raw, len(keys))
        except SyscallError as e:
            raise self._map_error(e, "batch delete") from None

    # ----------------------------------------------------------------- NumPy

    def _numpy_value_dtype(self) -> Any:
        import numpy as np

        vdt = self._value.numpy_dtype()
        if not self.per_cpu:
            return vdt
        return np.dtype((vdt, (possible_cpus(),)))

    def numpy_dtype(self) -> Any:
        """The structured dtype of :meth:`to_numpy` rows: fields ``key`` and ``value``."""
        import numpy as np

        return np.dtype([("key", self._key.numpy_dtype()), ("value", self._numpy_value_dtype())])

    def to_numpy(self) -> Any:
        """All entries as a NumPy structured array with fields ``key`` and ``value``."""
        import numpy as np

        bulk = self._read_bulk()
        if bulk is not None:
            raw_keys, raw_values, n = bulk
        else:
            chunks = list(self._raw_chunks(max(_DEFAULT_CHUNK, 4096)))
            n = sum(c for _, _, c in chunks)
            raw_keys = bytearray(b"".join(k for k, _, _ in chunks))
            raw_values = bytearray(b"".join(v for _, v, _ in chunks))
        out = np.zeros(n, dtype=self.numpy_dtype())
        if not n:
            return out
        kdt = self._key.numpy_dtype()
        out["key"] = np.frombuffer(raw_keys, dtype=kdt, count=n)
        vdt = self._value.numpy_dtype()
        if self.per_cpu:
            slot = np.dtype({"names": ["v"], "formats": [vdt], "offsets": [0],
                             "itemsize": _round8(self.value_size)})
            ncpu = possible_cpus()
            out["value"] = np.frombuffer(raw_values, dtype=slot, count=n * ncpu)["v"].reshape(
                n, ncpu)
        else:
            out["value"] = np.frombuffer(raw_values, dtype=vdt, count=n)
        return out

    def update_numpy(self, array: Any, flags: int = BPF_ANY) -> int:
        """Write a structured array with fields ``key`` and ``value`` (as :meth:`to_numpy` makes)."""
        import numpy as np

        arr = np.asarray(array)
        if arr.dtype.names is None or not {"key", "value"} <= set(arr.dtype.names):
            raise MapTypeError(
                f"{self._label}: update_numpy needs a structured array with fields "
                f"'key' and 'value', got dtype {arr.dtype}",
                errno.EINVAL,
            )
        keys = np.ascontiguousarray(arr["key"], dtype=self._key.numpy_dtype())
        want = self._numpy_value_dtype()
        values = np.ascontiguousarray(arr["value"], dtype=want.base if self.per_cpu else want)
        if self.per_cpu:
            padded = np.zeros(
                (len(arr), possible_cpus()),
                dtype=np.dtype({"names": ["v"], "formats": [want.base], "offsets": [0],
                                "itemsize": _round8(self.value_size)}),
            )
            padded["v"] = values.reshape(len(arr), -1) if values.ndim == 1 else values
            raw_values = padded.tobytes()
        else:
            raw_values = values.tobytes()
        return self._update_batch_raw(keys.tobytes(), raw_values, len(arr), flags)

    # ----------------------------------------------------------------- display

    def _shape_text(self) -> str:
        if self.keyless:
            return self._value.label
        return f"{self._key.label} -> {self._value.label}"

    def __repr__(self) -> str:
        parts = [self._shape_text(), f"max_entries={self.max_entries}"]
        if self.name:
            parts.append(f"name={self.name!r}")
        if self._fd is not None:
            parts.append(f"fd={self._fd}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def _repr_html_(self) -> str:
        import html

        title = html.escape(repr(self))
        if self._fd is None:
            return f"<p><code>{title}</code> (not loaded)</p>"
        rows = []
        total = 0
        for keys, values in self._item_chunks(_HTML_ROWS):
            for k, v in zip(keys, values):
                total += 1
                if len(rows) < _HTML_ROWS:
                    rows.append(
                        f"<tr><td>{html.escape(repr(k))}</td><td>{html.escape(repr(v))}</td></tr>"
                    )
        more = (
            f"<tr><td colspan='2'>... {total - _HTML_ROWS} more</td></tr>" if total > _HTML_ROWS
            else ""
        )
        return (
            f"<table><caption><code>{title}</code></caption>"
            f"<tr><th>key</th><th>value</th></tr>{''.join(rows)}{more}</table>"
        )

    # ----------------------------------------------------------------- per-CPU and histograms

    def sum(self, key: Any) -> Any:
        """The sum over CPUs of a per-CPU integer entry (plain maps: the value)."""
        value = self[key]
        return sum(value) if self.per_cpu else value

    def _hist_counts(self) -> dict[int, int]:
        """``{bucket: count}`` of an int -> int map (per-CPU counts summed)."""
        counts: dict[int, int] = {}
        for k, v in self.items():
            if not isinstance(k, int) or isinstance(v, (bytes, str)):
                raise MapTypeError(
                    f"{self._label}: a histogram needs int keys (buckets) and int counts",
                    errno.EINVAL,
                )
            counts[k] = counts.get(k, 0) + (sum(v) if self.per_cpu else v)
        return counts

    def log2_hist_text(self, val_type: str = "value", *, width: int = 40) -> str:
        """A BCC-style text histogram of an int -> int map whose keys are log2 buckets.

        Bucket ``k`` counts values in ``[2**(k-1), 2**k - 1]`` (bucket 0 counts
        zeros), the convention of ``bpf.log2(v) + 1`` style slot functions.
        """
        return format_log2_hist(self._hist_counts(), val_type, width=width)

    def print_log2_hist(self, val_type: str = "value", *, width: int = 40,
                        file: Any = None) -> None:
        """Print :meth:`log2_hist_text`."""
        print(self.log2_hist_text(val_type, width=width), file=file)

    def linear_hist_text(self, val_type: str = "value", *, step: int = 1,
                         width: int = 40) -> str:
        """A BCC-style text histogram of an int -> int map whose key ``k`` counts the
        values in ``[k * step, (k + 1) * step - 1]`` (a program's ``v // step``)."""
        return format_linear_hist(self._hist_counts(), val_type, step=step, width=width)

    def print_linear_hist(self, val_type: str = "value", *, step: int = 1, width: int = 40,
                          file: Any = None) -> None:
        """Print :meth:`linear_hist_text`::

            lat.print_linear_hist("usecs", step=10)
        """
        print(self.linear_hist_text(val_type, step=step, width=width), file=file)

    def plot(self, kind: str = "log2", *, step: int = 1, val_type: str = "value",
             ax: Any = None) -> Any:
        """A bar chart of the histogram with matplotlib (installed separately); returns the
        figure.  ``kind``: ``"log2"`` (keys are log2 slots, as for
        :meth:`print_log2_hist`) or ``"linear"`` (keys times ``step``).  ``ax``: draw
        into these axes instead of a new figure.
        """
        if kind not in ("log2", "linear"):
            raise ValueError(f"kind must be 'log2' or 'linear', got {kind!r}")
        try:
            import matplotlib.pyplot as plt
        except ImportError:
            raise ImportError(
                "Map.plot() needs matplotlib: pip install matplotlib"
            ) from None
        counts = self._hist_counts()
        top = max(counts, default=0)
        if kind == "log2":
            slots = range(1, max(top, 1) + 1)
            merged = {k: counts.get(k, 0) + (counts.get(0, 0) if k == 1 else 0) for k in slots}
            labels = [f"{(1 << k) >> 1}" if k > 1 else "0-1" for k in slots]
            heights = [merged[k] for k in slots]
        else:
            slots = range(min(counts, default=0), top + 1)
            labels = [str(k * step) for k in slots]
            heights = [counts.get(k, 0) for k in slots]
        if ax is None:
            fig, ax = plt.subplots()
        else:
            fig = ax.figure
        ax.bar(range(len(heights)), heights)
        ax.set_xticks(range(len(heights)), labels, rotation=45, ha="right")
        ax.set_xlabel(f"{val_type} ({'log2 buckets' if kind == 'log2' else f'step {step}'})")
        ax.set_ylabel("count")
        ax.set_title(self.name or type(self).__name__)
        fig.tight_layout()
        return fig


def format_log2_hist(counts: dict[int, int], val_type: str = "value", *, width: int = 40) -> str:
    """Render ``{slot: count}`` as a log2 histogram (see :meth:`Map.log2_hist_text`).

    Slot ``k >= 1`` covers ``[2**(k-1), 2**k - 1]``; slot 1 is shown as
    ``0 -> 1`` and also takes slot 0's count, as BCC's ``print_log2_hist`` does.
    """
    merged = {max(k, 1): 0 for k in counts}
    for k, n in counts.items():
        merged[max(k, 1)] += n
    if not merged:
        return ""
    top = max(merged)
    peak = max(merged.values()) or 1
    num_w = max(len(str((1 << top) - 1)), 10)
    label_w = num_w * 2 + 4
    lines = [f"{val_type:>{label_w}} : count     distribution"]
    for slot in range(1, top + 1):
        low, high = (1 << slot) >> 1, (1 << slot) - 1
        if low == high:
            low -= 1
        n = merged.get(slot, 0)
        bar = "*" * (n * width // peak)
        lines.append(f"{low:>{num_w}} -> {high:<{num_w}} : {n:<9} |{bar:<{width}}|")
    return "\n".join(lines)


def _btf_types(info: dict[str, Any], key_type: Any, value_type: Any) -> tuple[Any, Any, list[str]]:
    """``key_type``/``value_type``, each filled from the map's BTF when None."""
    from ._mapbtf import read_map_btf

    try:
        sides = read_map_btf(info)
    except (SyscallError, BTFError) as e:
        return key_type, value_type, [f"cannot read the map's BTF ({e}): bytes"]
    return (key_type if key_type is not None else sides.key,
            value_type if value_type is not None else sides.value, sides.notes)


def format_linear_hist(counts: dict[int, int], val_type: str = "value", *, step: int = 1,
                       width: int = 40) -> str:
    """Render ``{bucket: count}`` as a linear histogram: bucket ``k`` covers
    ``[k * step, (k + 1) * step - 1]`` (see :meth:`Map.linear_hist_text`)."""
    if step < 1:
        raise ValueError(f"step must be a positive int, got {step!r}")
    if not counts:
        return ""
    low_k, top = min(counts), max(counts)
    peak = max(counts.values()) or 1
    num_w = max(len(str((top + 1) * step - 1)), 8)
    label_w = num_w * 2 + 4 if step > 1 else num_w
    lines = [f"{val_type:>{label_w}} : count     distribution"]
    for k in range(low_k, top + 1):
        low, high = k * step, (k + 1) * step - 1
        label = f"{low:>{num_w}} -> {high:<{num_w}}" if step > 1 else f"{low:>{num_w}}"
        n = counts.get(k, 0)
        bar = "*" * (n * width // peak)
        lines.append(f"{label} : {n:<9} |{bar:<{width}}|")
    return "\n".join(lines)


class _BatchUnsupported(Exception):
    """The kernel refuses batch operations on this map: use key-by-key calls."""


def _join(buf: Any) -> bytes:
    if isinstance(buf, (bytes, bytearray, memoryview)):
        return bytes(buf)
    return b"".join(bytes(b) for b in buf)


# --------------------------------------------------------------------------- hash and array kinds


class HashMap(Map):
    """``BPF_MAP_TYPE_HASH``: ``HashMap(K, V, max_entries)``."""

    map_type = MapType.HASH


class ArrayMap(Map):
    """``BPF_MAP_TYPE_ARRAY``: ``ArrayMap(V, max_entries)``; keys are ``u32`` indexes."""

    map_type = MapType.ARRAY
    fixed_entries = True

    def __init__(self, value_type: Any, max_entries: int, *, flags: int = 0,
                 mmapable: bool = False, name: str | None = None,
                 pin: str | None = None) -> None:
        if mmapable:
            flags |= BPF_F_MMAPABLE
        super().__init__(u32, value_type, max_entries, flags=flags, name=name, pin=pin)

    def _raw_keys(self) -> Iterator[bytes]:
        pack = u32.pack
        return (pack(i) for i in range(self.max_entries))

    def numpy_view(self) -> Any:
        """A NumPy array over the map's own memory (``mmapable=True`` maps): no copy, no
        syscall; the program's writes show up in it and its writes reach the program::

            counts = bpf.ArrayMap(u64, 256, mmapable=True)
            ...
            view = counts.numpy_view()
            view[3] = 0             # the program sees 0 at index 3
            print(view.sum())

        Elements are the value type's dtype (structs: structured); the view
        keeps the mapping open after the map object is closed.
        """
        import mmap

        import numpy as np

        if self.per_cpu or not self.flags & BPF_F_MMAPABLE:
            raise MapError(
                f"{self._label} is not mmapable: declare it with "
                f"{type(self).__name__}(..., mmapable=True)",
                errno.EINVAL,
            )
        # kernel/bpf/arraymap.c: elements are round_up(value_size, 8) apart from offset 0
        stride = _round8(self.value_size)
        length = max(stride * self.max_entries, 1)
        length = (length + mmap.PAGESIZE - 1) // mmap.PAGESIZE * mmap.PAGESIZE
        try:
            mem = mmap.mmap(self.fd, length, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        except PermissionError:
            # frozen (a loaded .rodata, or m.freeze()): the kernel only maps it read-only,
            # and the view is read-only too
            try:
                mem = mmap.mmap(self.fd, length, mmap.MAP_SHARED, mmap.PROT_READ)
            except OSError as e:
                raise MapError(f"{self._label}: mmap failed: {e.strerror}", e.errno) from None
        except OSError as e:
            raise MapError(f"{self._label}: mmap failed: {e.strerror}", e.errno) from None
        return np.ndarray((self.max_entries,), dtype=self._value.numpy_dtype(), buffer=mem,
                          strides=(stride,))


class PerCpuHashMap(HashMap):
    """``BPF_MAP_TYPE_PERCPU_HASH``: values read back as one item per possible CPU."""

    map_type = MapType.PERCPU_HASH
    per_cpu = True


class PerCpuArrayMap(ArrayMap):
    """``BPF_MAP_TYPE_PERCPU_ARRAY``: values read back as one item per possible CPU."""

    map_type = MapType.PERCPU_ARRAY
    per_cpu = True


class LruHashMap(HashMap):
    """``BPF_MAP_TYPE_LRU_HASH``: a hash map that evicts the least recently used entries."""

    map_type = MapType.LRU_HASH


class LruPerCpuHashMap(PerCpuHashMap):
    """``BPF_MAP_TYPE_LRU_PERCPU_HASH``."""

    map_type = MapType.LRU_PERCPU_HASH


class LpmTrieMap(Map):
    """``BPF_MAP_TYPE_LPM_TRIE``: longest-prefix match.

    The key is a Struct whose first field is ``prefixlen: u32`` followed by
    the address bytes (``data: u8[4]`` for IPv4).  The kernel requires
    ``BPF_F_NO_PREALLOC``, which is always set.
    """

    map_type = MapType.LPM_TRIE

    def __init__(self, key_type: Any, value_type: Any, max_entries: int, *, flags: int = 0,
                 name: str | None = None, pin: str | None = None) -> None:
        kt = as_type(key_type)
        if not (isinstance(kt, StructType) and kt.fields and kt.fields[0].type == u32):
            raise TypeError(
                "LpmTrieMap keys must be a Struct starting with `prefixlen: u32`, then the data"
            )
        super().__init__(kt, value_type, max_entries, flags=flags | BPF_F_NO_PREALLOC,
                         name=name, pin=pin)


# --------------------------------------------------------------------------- keyless kinds


class _KeylessMap(Map):
    """Queue, stack and bloom filter: no keys, so no mapping interface."""

    keyless = True

    def __init__(self, value_type: Any, max_entries: int, *, flags: int = 0,
                 name: str | None = None, pin: str | None = None) -> None:
        super().__init__(None, value_type, max_entries, flags=flags, name=name, pin=pin)

    def _no_keys(self, *args: Any, **kwargs: Any) -> Any:
        raise MapTypeError(
            f"{self._label}: a {type(self).__name__} has no keys; use push/pop/peek",
            errno.EINVAL,
        )

    __getitem__ = __setitem__ = __delitem__ = _no_keys  # type: ignore[assignment]
    lookup = pop = update = _no_keys  # type: ignore[assignment]

    def __iter__(self) -> Iterator[Any]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def push(self, value: Any, flags: int = BPF_ANY) -> None:
        """Add ``value`` (``BPF_EXIST`` on a full queue/stack drops the oldest)."""
        packed = self._pack_one_value(value)
        try:
            _sys().map_update(self.fd, b"", packed, flags)
        except SyscallError as e:
            raise self._map_error(e, "push") from None


class QueueMap(_KeylessMap):
    """``BPF_MAP_TYPE_QUEUE``: FIFO; ``push(v)``, ``pop()``, ``peek()`` (None when empty)."""

    map_type = MapType.QUEUE

    def pop(self) -> Any:  # type: ignore[override]
        """Remove and return the next value, or None when empty."""
        raw = _sys().map_lookup_and_delete(self.fd, None, self.value_size)
        return None if raw is None else self._value.unpack(raw)

    def peek(self) -> Any:
        """The next value without removing it, or None when empty."""
        raw = _sys().map_lookup(self.fd, b"", self.value_size)
        return None if raw is None else self._value.unpack(raw)

    def __iter__(self) -> Iterator[Any]:
        """Drain: pop values until empty."""
        while (value := self.pop()) is not None:
            yield value

    def __len__(self) -> int:
        raise MapTypeError(f"{self._label}: the kernel does not report a queue's length")


class StackMap(QueueMap):
    """``BPF_MAP_TYPE_STACK``: LIFO; ``push(v)``, ``pop()``, ``peek()``."""

    map_type = MapType.STACK


class BloomFilterMap(_KeylessMap):
    """``BPF_MAP_TYPE_BLOOM_FILTER``: ``push(v)``; ``v in m`` may give false positives."""

    map_type = MapType.BLOOM_FILTER

    def __init__(self, value_type: Any, max_entries: int, *, hashes: int = 0, flags: int = 0,
                 name: str | None = None, pin: str | None = None) -> None:
        super().__init__(value_type, max_entries, flags=flags, name=name, pin=pin)
        self.map_extra = hashes

    def _create_args(self) -> dict[str, Any]:
        return {"map_extra": getattr(self, "map_extra", 0)}

    def __contains__(self, value: object) -> bool:
        """``v in m``: False means certainly absent; True may be a false positive."""
        try:
            packed = self._pack_one_value(value)
        except MapTypeError:
            return False
        try:
            return _sys().map_lookup_value(self.fd, packed)
        except SyscallError as e:
            raise self._map_error(e, "membership test") from None


# --------------------------------------------------------------------------- fd-valued kinds


def _fd_of(obj: Any) -> int:
    fd = getattr(obj, "fd", obj)
    if not isinstance(fd, int):
        raise TypeError(f"needs a loaded program/map or an fd, got {type(obj).__name__}")
    return fd


class _FdArray(Map):
    """Maps whose values are fds on write and kernel ids on read."""

    def __setitem__(self, key: Any, value: Any) -> None:
        self.update(key, _fd_of(value))


class ProgArray(_FdArray):
    """``BPF_MAP_TYPE_PROG_ARRAY`` for tail calls: ``progs[i] = program``; reads give prog ids."""

    map_type = MapType.PROG_ARRAY

    def __init__(self, max_entries: int, *, name: str | None = None,
                 pin: str | None = None) -> None:
        super().__init__(u32, u32, max_entries, name=name, pin=pin)

    def __iter__(self) -> Iterator[Any]:
        for i in range(self.max_entries):
            if self.lookup(i) is not None:
                yield i


class _MapOfMaps(_FdArray):
    """Outer maps holding inner maps: ``outer[k] = inner_map``; reads give map ids."""

    def _create_args(self) -> dict[str, Any]:
        assert self.inner is not None
        template = self.inner
        if template.loaded:
            return {"inner_map_fd": template.fd}
        # The kernel only needs an example inner map while creating the outer one.
        tmp = Map._make(int(template.map_type), template.key_size, template.value_size,
                        template.max_entries, template.flags, "inner", None, None)
        tmp.create()
        self._inner_tmp = tmp
        return {"inner_map_fd": tmp.fd}

    def create(self) -> Map:
        try:
            return super().create()
        finally:
            tmp = self.__dict__.pop("_inner_tmp", None)
            if tmp is not None:
                tmp.close()


class ArrayOfMaps(_MapOfMaps):
    """``BPF_MAP_TYPE_ARRAY_OF_MAPS``: ``ArrayOfMaps(inner_template, max_entries)``."""

    map_type = MapType.ARRAY_OF_MAPS
    fixed_entries = True

    def __init__(self, inner: Map, max_entries: int, *, name: str | None = None,
                 pin: str | None = None) -> None:
        self.inner = inner
        super().__init__(u32, u32, max_entries, name=name, pin=pin)


class HashOfMaps(_MapOfMaps):
    """``BPF_MAP_TYPE_HASH_OF_MAPS``: ``HashOfMaps(K, inner_template, max_entries)``."""

    map_type = MapType.HASH_OF_MAPS

    def __init__(self, key_type: Any, inner: Map, max_entries: int, *, name: str | None = None,
                 pin: str | None = None) -> None:
        self.inner = inner
        super().__init__(key_type, u32, max_entries, name=name, pin=pin)


class StackTraceMap(Map):
    """``BPF_MAP_TYPE_STACK_TRACE``: stack id -> ``u64[depth]`` instruction pointers."""

    map_type = MapType.STACK_TRACE

    def __init__(self, max_entries: int, *, depth: int = 127, name: str | None = None,
                 pin: str | None = None) -> None:
        super().__init__(u32, u64[depth], max_entries, name=name, pin=pin)
        self.depth = depth


# --------------------------------------------------------------------------- event kinds


class _EventMap(Map):
    """Event channels; reading them is :mod:`pyebpf.events`' job.

    Once a program using the channel is loaded: ``ch.poll(timeout)`` yields
    typed events, ``ch.consume(callback, timeout)`` calls back per event,
    ``ch.read_numpy(max_events)`` returns a structured array, ``ch.lost``
    counts drops the kernel reported.  ``events.EventReader(a, b)`` reads
    several channels on one epoll.
    """

    keyless = True
    event_type: BPFType | None = None
    _channel: Any = None
    _single: Any = None

    def _shape_text(self) -> str:
        return f"event={self.event_type.name if self.event_type else None}"

    def __iter__(self) -> Iterator[Any]:
        raise MapTypeError(f"{self._label}: read events with poll()/consume()/read_numpy()")

    def __len__(self) -> int:
        return 0

    def _open_channel(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _event_reader(self) -> Any:
        """The channel's reader (mappings, perf fds), made on first use and kept."""
        if self._channel is None:
            self._channel = self._open_channel()
        return self._channel

    def _reader(self) -> Any:
        if self._single is None:
            from .events import _SingleReader

            self._single = _SingleReader(self)
        return self._single

    def poll(self, timeout: float | None = None) -> Iterator[Any]:
        """Yield the events ready now; when there are none, wait up to ``timeout``
        seconds (None: forever) for some, yield those, and return::

            while running:
                for ev in events.poll(timeout=1.0):
                    handle(ev)
        """
        return self._reader().poll(timeout)

    def consume(self, callback: Any, timeout: float | None = None) -> int:
        """Call ``callback(event)`` for each event :meth:`poll` would yield; returns the count."""
        return self._reader().consume(callback, timeout)

    def read_numpy(self, max_events: int | None = None, timeout: float = 0) -> Any:
        """Up to ``max_events`` ready events (all by default) as a structured array of the
        event type's dtype; waits up to ``timeout`` seconds when none is ready."""
        return self._reader().read_numpy(max_events, timeout)

    @property
    def lost(self) -> int:
        """Events the kernel reported dropped (perf buffers; ring buffers report none:
        count failed ``reserve()`` calls in the program instead)."""
        return self._channel.lost if self._channel is not None else 0

    def _close_reader(self) -> None:
        single, self._single = self._single, None
        channel, self._channel = self._channel, None
        if single is not None:
            single.close()
        if channel is not None:
            channel.close()

    def _bind(self, fd: int, owned: bool = True) -> Map:
        if self._fd != fd:
            self._close_reader()
        return super()._bind(fd, owned)

    def close(self) -> None:
        self._close_reader()
        super().close()


class RingBuf(_EventMap):
    """``BPF_MAP_TYPE_RINGBUF``: ``RingBuf(size, event=T)``; ``size`` a power-of-2 page multiple."""

    map_type = MapType.RINGBUF

    def __init__(self, size: int = 256 * 1024, *, event: Any = None, name: str | None = None,
                 pin: str | None = None) -> None:
        if size <= 0 or size & (size - 1) or size % 4096:
            raise ValueError(f"RingBuf size must be a power of 2 and a multiple of 4096, got {size}")
        super().__init__(None, None, size, name=name, pin=pin)
        self.event_type = as_type(event) if event is not None else None
        self._value = _Codec(self.event_type, self.event_type.size if self.event_type else 0)

    @property
    def size(self) -> int:
        return self.max_entries

    def _open_channel(self) -> Any:
        from .events import RingBufReader

        return RingBufReader(self.fd, self.max_entries, self.event_type)


class PerfEventArray(_EventMap):
    """``BPF_MAP_TYPE_PERF_EVENT_ARRAY``: ``PerfEventArray(event=T)``, one slot per CPU.

    Call :meth:`open` before the program emits: the kernel drops samples for
    CPUs whose slot holds no reader yet.  ``poll()`` and friends open it with
    the default size on first use.
    """

    map_type = MapType.PERF_EVENT_ARRAY

    def __init__(self, *, event: Any = None, max_entries: int = 0, name: str | None = None,
                 pin: str | None = None) -> None:
        super().__init__(u32, u32, max_entries, name=name, pin=pin)
        self.event_type = as_type(event) if event is not None else None

    def create(self) -> Map:
        if not self.max_entries:
            self.max_entries = possible_cpus()
        return super().create()

    def open(self, pages: int = 64, wakeup_events: int = 1) -> PerfEventArray:
        """Open a perf ring of ``pages`` pages (a power of 2) per online CPU and store its
        fd in the map; returns the map.  Calling it again with the same options does
        nothing; other options reopen the rings (unread samples are dropped).

        ``wakeup_events=n`` wakes the reader every ``n`` samples per CPU instead of
        every sample: a busy producer pays for fewer wake-ups, and ``poll(timeout)``
        still returns what is there when the timeout ends.
        """
        if self._channel is not None and self._channel.options != (pages, wakeup_events):
            self._close_reader()
        if self._channel is None:
            from .events import PerfBufReader

            self._channel = PerfBufReader(self.fd, self.event_type, pages=pages,
                                          wakeup_events=wakeup_events)
        return self

    def _open_channel(self) -> Any:
        from .events import PerfBufReader

        return PerfBufReader(self.fd, self.event_type)


class _GenericMap(Map):
    """A map of a kind without its own class (reopened by id or pin): bytes in, bytes out."""

    _generic_type = 0

    @property  # type: ignore[override]
    def map_type(self) -> int:  # type: ignore[override]
        return self._generic_type

