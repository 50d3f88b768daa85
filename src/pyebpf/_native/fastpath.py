"""Native single-element map commands: ``m[k]`` at the cost of the system call.

A cffi ABI call costs several hundred nanoseconds of argument conversion, GIL
release and errno bookkeeping: more than half of what the kernel spends on a
``BPF_MAP_LOOKUP_ELEM``.  This module compiles four small host functions with
the LLVM that pyebpf already carries (llvmlite's MCJIT) and wraps them as
CPython builtins, so Python calls them like ``os.getpid``:

- ``lookup(key: bytes) -> bytes | None`` (``None`` on ENOENT);
- ``update(key: bytes, value: bytes, flags: int) -> None``;
- ``delete(key: bytes) -> bool`` (``False`` on ENOENT);
- ``next_key(key: bytes | None) -> bytes | None`` (the first key for None; None
  after the last).

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

import hashlib
import mmap
import os
import platform
import struct
import sys
import sysconfig
import threading
from typing import Any

from .cdef import ffi

__all__ = ["elem_functions", "cheap", "ready", "prepare", "disable"]

# Offsets in a map's context (the bytearray's buffer).
_ATTR = 0  # map_fd u32 @0, key ptr @8, value ptr @16, flags u64 @24 (bpf_attr, 32 bytes)
_NR = 32  # syscall number of bpf(2)
_KEY_SIZE = 40
_VALUE_SIZE = 48
_RT = 56  # pointer to the runtime table
_KEY_BUF, _VALUE_BUF, _NEXT_BUF = 64, 72, 80  # the buffers (attr's pointers move for next_key)
_HEADER = 88

# The runtime table: entry points by index (8 bytes each).
_RT_NAMES = (
    "syscall", "__errno_location", "memcpy",
    "PyBytes_AsStringAndSize", "PyBytes_FromStringAndSize", "Py_IncRef",
    "PyErr_SetFromErrno", "PyErr_SetString", "PyLong_AsUnsignedLongLongMask",
    "Py_None", "Py_True", "Py_False", "PyExc_OSError", "PyExc_ValueError", "size_message",
    "PyExc_TypeError", "args_message",
)
_RT_INDEX = {name: i for i, name in enumerate(_RT_NAMES)}

_ENOENT, _EINTR = 2, 4
_CMD_LOOKUP, _CMD_UPDATE, _CMD_DELETE, _CMD_NEXT_KEY = 1, 2, 3, 4  # enum bpf_cmd
# How much of bpf_attr each command reads: the kernel wants the rest zero, and
# DELETE_ELEM ends at ``key`` (our ``value`` pointer would make it EINVAL).
_ATTR_SIZE = {_CMD_LOOKUP: 32, _CMD_UPDATE: 32, _CMD_DELETE: 16, _CMD_NEXT_KEY: 24}

# Where a bytearray keeps its buffer pointer (PyByteArrayObject.ob_start); checked
# against the real address before anything is compiled.
_BYTEARRAY_START = 5 * 8

_METH_O = 0x0008
_METH_FASTCALL = 0x0080


def _ir() -> str:
    """The functions in LLVM IR; every external address comes from the table."""
    rt = {name: i for name, i in _RT_INDEX.items()}

    def fn(var: str, name: str) -> str:
        return (f"  %{var}.p = getelementptr i64, ptr %rt, i64 {rt[name]}\n"
                f"  %{var} = load ptr, ptr %{var}.p\n")

    prologue = (
        f"  %ctx.p = getelementptr i8, ptr %self, i64 {_BYTEARRAY_START}\n"
        "  %ctx = load ptr, ptr %ctx.p\n"
        f"  %rt.p = getelementptr i8, ptr %ctx, i64 {_RT}\n"
        "  %rt = load ptr, ptr %rt.p\n"
    )

    def copy_in(tag: str, obj: str, size_off: int, ptr_off: int, fail: str) -> str:
        """Copy a bytes argument of exactly the context's size into its buffer."""
        return (
            fn(f"asb.{tag}", "PyBytes_AsStringAndSize")
            + f"  %buf.{tag} = alloca ptr\n  %len.{tag} = alloca i64\n"
            f"  %r.{tag} = call i32 %asb.{tag}(ptr {obj}, ptr %buf.{tag}, ptr %len.{tag})\n"
            f"  %bad.{tag} = icmp ne i32 %r.{tag}, 0\n"
            f"  br i1 %bad.{tag}, label %null, label %sz.{tag}\n"
            f"sz.{tag}:\n"
            f"  %want.p.{tag} = getelementptr i8, ptr %ctx, i64 {size_off}\n"
            f"  %want.{tag} = load i64, ptr %want.p.{tag}\n"
            f"  %got.{tag} = load i64, ptr %len.{tag}\n"
            f"  %ok.{tag} = icmp eq i64 %want.{tag}, %got.{tag}\n"
            f"  br i1 %ok.{tag}, label %cp.{tag}, label %{fail}\n"
            f"cp.{tag}:\n"
            f"  %dst.p.{tag} = getelementptr i8, ptr %ctx, i64 {ptr_off}\n"
            f"  %dst.{tag} = load ptr, ptr %dst.p.{tag}\n"
            f"  %src.{tag} = load ptr, ptr %buf.{tag}\n"
            + fn(f"mc.{tag}", "memcpy")
            + f"  call ptr %mc.{tag}(ptr %dst.{tag}, ptr %src.{tag}, i64 %want.{tag})\n"
        )

    def syscall(cmd: int, ok: str) -> str:
        """bpf(cmd, &attr, 32), again on EINTR; on failure %errno holds the error."""
        return (
            fn("sc", "syscall") + fn("el", "__errno_location")
            + f"  %nr.p = getelementptr i8, ptr %ctx, i64 {_NR}\n"
            "  %nr = load i64, ptr %nr.p\n"
            "  br label %call\n"
            "call:\n"
            f"  %ret = call i64 (i64, ...) %sc(i64 %nr, i64 {cmd}, ptr %ctx, i64 {_ATTR_SIZE[cmd]})\n"
            "  %failed = icmp slt i64 %ret, 0\n"
            f"  br i1 %failed, label %err, label %{ok}\n"
            "err:\n"
            "  %errno.p = call ptr %el()\n"
            "  %errno = load i32, ptr %errno.p\n"
            f"  %intr = icmp eq i32 %errno, {_EINTR}\n"
            "  br i1 %intr, label %call, label %notintr\n"
            "notintr:\n"
            f"  %noent = icmp eq i32 %errno, {_ENOENT}\n"
        )

    def give(obj_name: str) -> str:
        """Return a new reference to None/True/False."""
        return (fn(f"o.{obj_name}", obj_name) + fn(f"inc.{obj_name}", "Py_IncRef")
                + f"  call void %inc.{obj_name}(ptr %o.{obj_name})\n"
                f"  ret ptr %o.{obj_name}\n")

    raise_oserror = (
        "oserror:\n" + fn("sfe", "PyErr_SetFromErrno") + fn("exc", "PyExc_OSError")
        + "  %exc.v = load ptr, ptr %exc\n"
        "  call ptr %sfe(ptr %exc.v)\n"
        "  ret ptr null\n"
    )
    raise_size = (
        "badsize:\n" + fn("ss", "PyErr_SetString") + fn("vexc", "PyExc_ValueError")
        + fn("msg", "size_message")
        + "  %vexc.v = load ptr, ptr %vexc\n"
        "  call void %ss(ptr %vexc.v, ptr %msg)\n"
        "  ret ptr null\n"
    )
    raise_args = (
        "badargs:\n" + fn("ss.a", "PyErr_SetString") + fn("texc", "PyExc_TypeError")
        + fn("amsg", "args_message")
        + "  %texc.v = load ptr, ptr %texc\n"
        "  call void %ss.a(ptr %texc.v, ptr %amsg)\n"
        "  ret ptr null\n"
    )
    null = "null:\n  ret ptr null\n"

    lookup = (
        "define ptr @pyebpf_lookup(ptr %self, ptr %key) {\n"
        "entry:\n" + prologue
        + copy_in("k", "%key", _KEY_SIZE, _ATTR + 8, "badsize")
        + syscall(_CMD_LOOKUP, "found")
        + "  br i1 %noent, label %missing, label %oserror\n"
        "missing:\n" + give("Py_None")
        + "found:\n"
        + fn("fsz", "PyBytes_FromStringAndSize")
        + f"  %vs.p = getelementptr i8, ptr %ctx, i64 {_VALUE_SIZE}\n"
        "  %vs = load i64, ptr %vs.p\n"
        f"  %vp.p = getelementptr i8, ptr %ctx, i64 {_ATTR + 16}\n"
        "  %vp = load ptr, ptr %vp.p\n"
        "  %res = call ptr %fsz(ptr %vp, i64 %vs)\n"
        "  ret ptr %res\n"
        + raise_oserror + raise_size + null + "}\n"
    )
    delete = (
        "define ptr @pyebpf_delete(ptr %self, ptr %key) {\n"
        "entry:\n" + prologue
        + copy_in("k", "%key", _KEY_SIZE, _ATTR + 8, "badsize")
        + syscall(_CMD_DELETE, "done")
        + "  br i1 %noent, label %missing, label %oserror\n"
        "missing:\n" + give("Py_False")
        + "done:\n" + give("Py_True")
        + raise_oserror + raise_size + null + "}\n"
    )
    update = (
        "define ptr @pyebpf_update(ptr %self, ptr %args, i64 %nargs) {\n"
        "entry:\n" + prologue
        + "  %three = icmp eq i64 %nargs, 3\n"
        "  br i1 %three, label %args3, label %badargs\n"
        "args3:\n"
        "  %key = load ptr, ptr %args\n"
        "  %value.p = getelementptr ptr, ptr %args, i64 1\n"
        "  %value = load ptr, ptr %value.p\n"
        "  %flags.p = getelementptr ptr, ptr %args, i64 2\n"
        "  %flags.o = load ptr, ptr %flags.p\n"
        + copy_in("k", "%key", _KEY_SIZE, _ATTR + 8, "badsize")
        + copy_in("v", "%value", _VALUE_SIZE, _ATTR + 16, "badsize")
        + fn("asull", "PyLong_AsUnsignedLongLongMask")
        + "  %flags = call i64 %asull(ptr %flags.o)\n"
        f"  %fl.p = getelementptr i8, ptr %ctx, i64 {_ATTR + 24}\n"
        "  store i64 %flags, ptr %fl.p\n"
        + syscall(_CMD_UPDATE, "done")
        + "  store i64 0, ptr %fl.p\n"
        "  br label %oserror\n"
        "done:\n"
        "  store i64 0, ptr %fl.p\n"  # lookups read the same attr: flags back to 0
        + give("Py_None")
        + raise_oserror + raise_size + raise_args + null + "}\n"
    )
    def ctx_ptr(var: str, off: int) -> str:
        return (f"  %{var}.p = getelementptr i8, ptr %ctx, i64 {off}\n"
                f"  %{var} = load ptr, ptr %{var}.p\n")

    # next_key(None) is the first key; attr.key is NULL for it, and attr's second
    # pointer is the next-key buffer during the call.
    next_key = (
        "define ptr @pyebpf_next_key(ptr %self, ptr %key) {\n"
        "entry:\n" + prologue
        + fn("none", "Py_None")
        + f"  %akey.p = getelementptr i8, ptr %ctx, i64 {_ATTR + 8}\n"
        f"  %aval.p = getelementptr i8, ptr %ctx, i64 {_ATTR + 16}\n"
        "  %first = icmp eq ptr %key, %none\n"
        "  br i1 %first, label %nokey, label %given\n"
        "nokey:\n"
        "  store ptr null, ptr %akey.p\n"
        "  br label %go\n"
        "given:\n"
        + copy_in("k", "%key", _KEY_SIZE, _ATTR + 8, "badsize")
        + "  br label %go\n"
        "go:\n"
        + ctx_ptr("nbuf", _NEXT_BUF)
        + "  store ptr %nbuf, ptr %aval.p\n"
        + syscall(_CMD_NEXT_KEY, "found")
        + "  br label %restore\n"
        "restore:\n"
        + ctx_ptr("kbuf.r", _KEY_BUF) + ctx_ptr("vbuf.r", _VALUE_BUF)
        + "  store ptr %kbuf.r, ptr %akey.p\n"
        "  store ptr %vbuf.r, ptr %aval.p\n"
        "  br i1 %noent, label %missing, label %oserror\n"
        "missing:\n" + give("Py_None")
        + "found:\n"
        + ctx_ptr("kbuf.f", _KEY_BUF) + ctx_ptr("vbuf.f", _VALUE_BUF)
        + "  store ptr %kbuf.f, ptr %akey.p\n"
        "  store ptr %vbuf.f, ptr %aval.p\n"
        + fn("fsz", "PyBytes_FromStringAndSize")
        + f"  %ks.p = getelementptr i8, ptr %ctx, i64 {_KEY_SIZE}\n"
        "  %ks = load i64, ptr %ks.p\n"
        "  %res = call ptr %fsz(ptr %nbuf, i64 %ks)\n"
        "  ret ptr %res\n"
        + raise_oserror + raise_size + null + "}\n"
    )
    return lookup + delete + update + next_key


def _compile() -> tuple[bytes, dict[str, int]]:
    """The IR compiled for this machine's architecture (generic CPU, so the cached
    code runs on any CPU of the architecture): its code and each function's offset."""
    import llvmlite.binding as llvm

    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    module = llvm.parse_assembly(_ir())
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

    if not cache.enabled():
        return None
    key = hashlib.sha256(f"{_ir()}\0{platform.machine()}".encode()).hexdigest()[:32]
    return cache.cache_dir() / f"native-{key}.bin"


def _cached_code() -> tuple[bytes, dict[str, int]] | None:
    global _from_cache
    if _from_cache is None:
        _from_cache = _read_cached_code() or False
    return _from_cache or None


def _read_cached_code() -> tuple[bytes, dict[str, int]] | None:
    path = _cache_path()
    try:
        data = path.read_bytes() if path is not None else b""
    except OSError:
        return None
    digest, _, payload = data.partition(b"\n")
    if not payload or hashlib.sha256(payload).hexdigest().encode() != digest:
        return None  # absent, torn or damaged: compile again
    header, _, code = payload.partition(b"\n")
    try:
        offsets = {k: int(v) for k, v in (p.split("=") for p in header.decode().split())}
    except ValueError:
        return None
    return code, offsets


def _store_code(code: bytes, offsets: dict[str, int]) -> None:
    path = _cache_path()
    if path is None:
        return
    payload = " ".join(f"{k}={v}" for k, v in sorted(offsets.items())).encode() + b"\n" + code
    data = hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        for old in path.parent.glob("native-*.bin"):  # code of earlier pyebpf versions
            if old != path:
                old.unlink()
    except OSError:
        pass  # a read-only cache only costs the next process a compile


class _Native:
    """The loaded code, its table, and the objects that must live as long as it does."""

    def __init__(self, code: bytes, offsets: dict[str, int]) -> None:
        import ctypes

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
        }
        self._table = ffi.new("uint64_t[]", len(_RT_NAMES))
        for i, name in enumerate(_RT_NAMES):
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
                            ("update", _METH_FASTCALL), ("next_key", _METH_O)):
            address = base + offsets[f"pyebpf_{name}"]
            self._defs[name] = MethodDef(f"bpf_map_{name}".encode(), address, flags, None)
        new = api.PyCFunction_NewEx
        new.restype = ctypes.py_object
        # (method def, self, module): the "module" slot keeps the holder alive
        new.argtypes = [ctypes.c_void_p, ctypes.py_object, ctypes.py_object]
        self._new = new

    def functions(self, fd: int, nr: int, key_size: int, value_size: int) -> tuple[Any, ...]:
        key_off = _HEADER
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
        words[_NR // 8] = nr
        words[_KEY_SIZE // 8] = key_size
        words[_VALUE_SIZE // 8] = value_size
        words[_RT // 8] = self.table_addr
        words[_KEY_BUF // 8] = base + key_off
        words[_VALUE_BUF // 8] = base + value_off
        words[_NEXT_BUF // 8] = base + next_off
        holder = _Context(ctx, pin, self)
        ref = self._ctypes.byref
        return tuple(self._new(ref(self._defs[name]), ctx, holder)
                     for name in ("lookup", "update", "delete", "next_key"))


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
    if ffi.cast("uintptr_t *", id(probe) + _BYTEARRAY_START)[0] != start:
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


def elem_functions(fd: int, nr: int, key_size: int, value_size: int) -> tuple[Any, ...] | None:
    """``(lookup, update, delete, next_key)`` builtins for one map, or None without the
    native path."""
    if _native is None:
        return None
    return _native.functions(fd, nr, key_size, value_size)
