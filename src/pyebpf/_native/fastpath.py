"""Native single-element map commands: ``m[k]`` at the cost of the system call.

A cffi ABI call costs several hundred nanoseconds of argument conversion, GIL
release and errno bookkeeping: more than half of what the kernel spends on a
``BPF_MAP_LOOKUP_ELEM``.  This module compiles six small host functions with
the LLVM that pyebpf already carries (llvmlite emits an object for this
machine; its code is mapped executable here and cached as bytes, so later
processes need no LLVM) and wraps them as CPython builtins, so Python calls
them like ``os.getpid``:

- ``lookup(key: bytes) -> bytes | None`` (``None`` on ENOENT);
- ``update(key: bytes, value: bytes, flags: int) -> None``;
- ``delete(key: bytes) -> bool`` (``False`` on ENOENT);
- ``next_key(key: bytes | None) -> bytes | None`` (the first key for None; None
  after the last);
- ``lookup_int(key: int) -> int | None`` and ``update_int(key, value, flags)`` for
  maps of plain integers (no packing and no bytes object; OverflowError for a
  key or value outside its type).

Other failures raise ``OSError`` with the kernel's errno.  Each map gets its own
builtins whose ``self`` is a private ``bytearray`` holding the map's
``bpf_attr``, its key and value buffers and a pointer to a table of the libc
and CPython entry points the code calls (so the machine code has no absolute
addresses in it).  The builtins keep the GIL across the system call: map
commands never block, and holding it makes the shared buffers safe between
threads without a lock.

Only on a CPython with the GIL and the usual object layout (checked at run
time); elsewhere :func:`elem_functions` returns ``None`` and callers keep the
cffi path.  ``PYEBPF_NATIVE=0`` turns it off.
"""

from __future__ import annotations

import contextlib
import os
import struct
import sys
import threading
from typing import Any

from .cdef import ffi
from .elem_ir import (
    BYTEARRAY_START,
    HEADER,
    KEY_BUF,
    KEY_MAX,
    KEY_MIN,
    KEY_SIGNED,
    KEY_SIZE,
    NEXT_BUF,
    NR,
    RT,
    RT_NAMES,
    VALUE_BUF,
    VALUE_MAX,
    VALUE_MIN,
    VALUE_SIGNED,
    VALUE_SIZE,
    ir,
)

__all__ = ["elem_functions", "cheap", "ready", "prepare", "disable"]

_METH_O = 0x0008
_METH_FASTCALL = 0x0080


def _compile() -> tuple[bytes, dict[str, int]]:
    """The IR compiled for this machine's architecture (generic CPU, so the cached
    code runs on any CPU of the architecture): its code and each function's offset."""
    import llvmlite.binding as llvm

    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    module = llvm.parse_assembly(ir())
    module.verify()
    machine = llvm.Target.from_default_triple().create_target_machine(
        opt=2, cpu="", reloc="pic", codemodel="small")
    return _text_of(machine.emit_object(module))


def _text_of(obj: bytes) -> tuple[bytes, dict[str, int]]:
    """``.text`` and the offsets of its functions, from a little-endian ELF64 object.

    The code must need no relocation: every address it uses comes from the table.
    """
    if obj[:5] != b"\x7fELF\x02" or obj[5] != 1:
        raise OSError("expected a little-endian ELF64 object")
    (shoff,) = struct.unpack_from("<Q", obj, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", obj, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", obj, shoff + i * shentsize)
                for i in range(shnum)]

    def name(table: int, at: int) -> str:
        off = sections[table][4] + at
        return obj[off:obj.index(b"\0", off)].decode()

    index = {name(shstrndx, sec[0]): i for i, sec in enumerate(sections)}
    symtab = sections[index[".symtab"]]
    where: dict[str, tuple[int, int]] = {}
    for at in range(symtab[4], symtab[4] + symtab[5], 24):
        st_name, info, _other, shndx, value, _size = struct.unpack_from("<IBBHQQ", obj, at)
        if info & 0xF == 2 and st_name:  # STT_FUNC
            where[name(symtab[6], st_name)] = (shndx, value)
    homes = {shndx for shndx, _ in where.values()}
    if len(homes) != 1:
        raise OSError("expected the native functions in one section")
    (home,) = homes
    for sec in sections:
        if sec[1] in (4, 9) and sec[7] == home:  # SHT_RELA / SHT_REL against the code
            raise OSError("the native code needs relocations")
    body = sections[home]
    return obj[body[4]:body[4] + body[5]], {fname: value for fname, (_, value) in where.items()}


def _cache_path() -> Any:
    from pyebpf import cache
    from pyebpf._digest import sha256  # no OpenSSL start-up on this path

    if not cache.enabled():
        return None
    key = sha256(f"{ir()}\0{os.uname().machine}".encode()).hexdigest()[:32]
    return cache.cache_dir() / f"native-{key}.bin"


def _cached_code() -> tuple[bytes, dict[str, int]] | None:
    global _from_cache
    if _from_cache is None:
        _from_cache = _read_cached_code() or False
    return _from_cache or None


def _read_cached_code() -> tuple[bytes, dict[str, int]] | None:
    from pyebpf._digest import sha256  # no OpenSSL start-up on this path

    path = _cache_path()
    try:
        data = path.read_bytes() if path is not None else b""
    except OSError:
        return None
    digest, _, payload = data.partition(b"\n")
    if not payload or sha256(payload).hexdigest().encode() != digest:
        return None  # absent, torn or damaged: compile again
    header, _, code = payload.partition(b"\n")
    try:
        offsets = {k: int(v) for k, v in (p.split("=") for p in header.decode().split())}
    except ValueError:
        return None
    return code, offsets


def _store_code(code: bytes, offsets: dict[str, int]) -> None:
    from pyebpf._digest import sha256  # no OpenSSL start-up on this path

    path = _cache_path()
    if path is None:
        return
    payload = " ".join(f"{k}={v}" for k, v in sorted(offsets.items())).encode() + b"\n" + code
    data = sha256(payload).hexdigest().encode() + b"\n" + payload
    from pyebpf import cache

    if not cache.write_file(path, data):
        return  # a read-only cache only costs the next process a compile
    for old in path.parent.glob("native-*.bin"):  # code of earlier pyebpf versions
        if old != path:
            with contextlib.suppress(OSError):
                old.unlink()


class _Native:
    """The loaded code, its table, and the objects that must live as long as it does."""

    def __init__(self, code: bytes, offsets: dict[str, int]) -> None:
        import ctypes
        import mmap

        self._ctypes = ctypes
        api = ctypes.pythonapi
        c_library = ctypes.CDLL(None)

        def addr(name: str) -> int:
            if name in ("Py_None", "Py_True", "Py_False"):
                return id({"Py_None": None, "Py_True": True, "Py_False": False}[name])
            if name.startswith("PyExc_"):
                # the table holds the variable's address; the code loads the object
                return ctypes.addressof(ctypes.c_void_p.in_dll(api, name))
            if name in self._messages:
                return int(ffi.cast("uintptr_t", self._messages[name]))
            lib = c_library if name in ("syscall", "__errno_location", "memcpy") else api
            return ctypes.cast(getattr(lib, name), ctypes.c_void_p).value or 0

        self._messages = {
            "size_message": ffi.new("char[]", b"pyebpf: key or value of the wrong size"),
            "args_message": ffi.new("char[]", b"bpf_map_update takes (key, value, flags)"),
            "range_message": ffi.new("char[]", b"pyebpf: key or value out of the range of its type"),
        }
        self._table = ffi.new("uint64_t[]", len(RT_NAMES))
        for i, name in enumerate(RT_NAMES):
            self._table[i] = addr(name)
            if not self._table[i]:
                raise OSError(f"no address for {name}")
        self.table_addr = int(ffi.cast("uintptr_t", self._table))

        # Written while writable, then read+execute only (never both at once).
        self._code = mmap.mmap(-1, max(len(code), 1), prot=mmap.PROT_READ | mmap.PROT_WRITE)
        self._code.write(code)
        base = ctypes.addressof(ctypes.c_char.from_buffer(self._code))
        mprotect = c_library.mprotect
        mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        if mprotect(base, len(self._code), mmap.PROT_READ | mmap.PROT_EXEC) != 0:
            raise OSError(ctypes.get_errno(), "mprotect of the native code failed")

        # One PyMethodDef per function, alive for the life of the process.
        class MethodDef(ctypes.Structure):
            _fields_ = [("name", ctypes.c_char_p), ("meth", ctypes.c_void_p),
                        ("flags", ctypes.c_int), ("doc", ctypes.c_char_p)]

        self._defs = {}
        for name, flags in (("lookup", _METH_O), ("delete", _METH_O),
                            ("update", _METH_FASTCALL), ("next_key", _METH_O),
                            ("lookup_int", _METH_O), ("update_int", _METH_FASTCALL)):
            address = base + offsets[f"pyebpf_{name}"]
            self._defs[name] = MethodDef(f"bpf_map_{name}".encode(), address, flags, None)
        new = api.PyCFunction_NewEx
        new.restype = ctypes.py_object
        # (method def, self, module): the "module" slot keeps the holder alive
        new.argtypes = [ctypes.c_void_p, ctypes.py_object, ctypes.py_object]
        self._new = new

    def functions(self, fd: int, nr: int, key_size: int, value_size: int,
                  ints: tuple[bool, bool] | None) -> tuple[Any, ...]:
        key_off = HEADER
        value_off = key_off + (key_size + 7) // 8 * 8
        next_off = value_off + (value_size + 7) // 8 * 8
        ctx = bytearray(next_off + max(key_size, 1))
        # The exported view pins the buffer: a bytearray with exports cannot be resized.
        pin = memoryview(ctx)
        base = int(ffi.cast("uintptr_t", ffi.from_buffer(ctx)))
        words = ffi.cast("uint64_t *", ffi.from_buffer(ctx))
        words[0] = fd
        words[1] = base + key_off
        words[2] = base + value_off
        words[3] = 0
        words[NR // 8] = nr
        words[KEY_SIZE // 8] = key_size
        words[VALUE_SIZE // 8] = value_size
        words[RT // 8] = self.table_addr
        words[KEY_BUF // 8] = base + key_off
        words[VALUE_BUF // 8] = base + value_off
        words[NEXT_BUF // 8] = base + next_off
        names = ["lookup", "update", "delete", "next_key"]
        if ints is not None and key_size in (1, 2, 4, 8) and value_size in (1, 2, 4, 8):
            for signed, size, where in ((ints[0], key_size, (KEY_SIGNED, KEY_MIN, KEY_MAX)),
                                        (ints[1], value_size, (VALUE_SIGNED, VALUE_MIN, VALUE_MAX))):
                bits = size * 8
                low, high = (-(1 << bits - 1), (1 << bits - 1) - 1) if signed else (0, (1 << bits) - 1)
                for off, word in zip(where, (int(signed), low, high)):
                    words[off // 8] = word & (2**64 - 1)
            names += ["lookup_int", "update_int"]
        holder = _Context(ctx, pin, self)
        ref = self._ctypes.byref
        made = [self._new(ref(self._defs[name]), ctx, holder) for name in names]
        return (*made, None, None) if len(made) == 4 else tuple(made)


class _Context:
    """What a map's builtins keep alive (through their ``__module__`` slot): the pinned
    context buffer and the code itself."""

    def __init__(self, ctx: bytearray, pin: memoryview, native: _Native) -> None:
        self.ctx, self.pin, self.native = ctx, pin, native


_native: _Native | None = None
_failed: str | None = None
_from_cache: Any = None  # the cached code once read; False when there is none
_lock = threading.Lock()


def _supported() -> str | None:
    """Why the native path cannot run here, or None."""
    import sysconfig

    if os.environ.get("PYEBPF_NATIVE", "1") == "0":
        return "turned off by PYEBPF_NATIVE=0"
    if sys.implementation.name != "cpython":
        return "not CPython"
    if sysconfig.get_config_var("Py_GIL_DISABLED"):
        return "free-threaded CPython"
    if sys.maxsize != 2**63 - 1:
        return "not a 64-bit build"
    probe = bytearray(8)
    start = int(ffi.cast("uintptr_t", ffi.from_buffer(probe)))
    if ffi.cast("uintptr_t *", id(probe) + BYTEARRAY_START)[0] != start:
        return "unexpected bytearray layout"
    return None


def prepare() -> bool:
    """Compile the native functions now (about 5 ms with llvmlite imported); True if ready."""
    global _native, _failed
    if _native is not None:
        return True
    if _failed is not None:
        return False
    with _lock:
        if _native is None and _failed is None:
            reason = _supported()
            if reason is None:
                try:
                    found = _cached_code()
                    if found is None:
                        found = _compile()
                        _store_code(*found)
                    _native = _Native(*found)
                except Exception as exc:  # any failure leaves the cffi path in charge
                    reason = f"{type(exc).__name__}: {exc}"
            _failed = reason
    return _native is not None


def cheap() -> bool:
    """True when :func:`prepare` costs a few milliseconds, not a compile: the code is
    in the cache, or llvmlite is already loaded (this process compiled a program)."""
    if _native is not None or _failed is not None:
        return _native is not None
    return "llvmlite.binding" in sys.modules or _cached_code() is not None


def ready() -> bool:
    """True once the native functions are compiled in this process."""
    return _native is not None


def disable(reason: str = "disabled") -> None:
    """Stop handing out native functions (maps already holding some keep them)."""
    global _native, _failed
    _native, _failed = None, reason


def elem_functions(fd: int, nr: int, key_size: int, value_size: int,
                   ints: tuple[bool, bool] | None = None) -> tuple[Any, ...] | None:
    """``(lookup, update, delete, next_key, lookup_int, update_int)`` builtins for one
    map, or None without the native path.  The last two are None unless ``ints``
    gives the signedness of an integer key and value of 1, 2, 4 or 8 bytes."""
    if _native is None:
        return None
    return _native.functions(fd, nr, key_size, value_size, ints)
