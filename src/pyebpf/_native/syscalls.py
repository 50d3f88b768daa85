"""One ``bpf(2)`` funnel and a small wrapper per command: bytes in, bytes out.

Every wrapper fills one ``bpf_attr`` piece from :mod:`.cdef` and calls
:func:`bpf`, which hands it to the current *funnel*.  The default funnel is
the real system call; tests replace it (:func:`replaced_funnel`) to check
what the loader and the maps ask of the kernel without root.  A funnel takes
``(cmd, attr_cdata, size)`` and returns the syscall's result, or a negative
errno; :func:`bpf` turns a failure into :class:`~pyebpf.errors.SyscallError`
named after the command (``"BPF_MAP_CREATE"``).

File descriptors the kernel returns for BPF objects are close-on-exec
(the kernel always sets ``O_CLOEXEC`` on them); ``perf_event_open`` is asked
for ``PERF_FLAG_FD_CLOEXEC``.
"""

from __future__ import annotations

import contextlib
import errno as _errno
import functools
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

from pyebpf._record import Record, record
from pyebpf.constants import (
    BPF_F_TEST_RUN_ON_CPU,
    PERF_ATTR_FLAG_BITS,
    PERF_ATTR_SIZE_VER8,
    PERF_FLAG_FD_CLOEXEC,
    Cmd,
)
from pyebpf.errors import SyscallError

from . import fastpath
from .cdef import ffi, libc

__all__ = [
    "BatchResult",
    "ProgLoadResult",
    "TestRunResult",
    "ProgLoadError",
    "log_reason",
    "PERF_EVENT_IOC_ENABLE",
    "PERF_EVENT_IOC_DISABLE",
    "PERF_EVENT_IOC_SET_OUTPUT",
    "PERF_EVENT_IOC_SET_BPF",
    "Funnel",
    "bpf",
    "set_funnel",
    "replaced_funnel",
    "map_create",
    "map_lookup",
    "map_update",
    "map_delete",
    "map_get_next_key",
    "map_lookup_and_delete",
    "map_lookup_value",
    "map_lookup_batch",
    "map_lookup_batch_into",
    "ElemOps",
    "map_update_batch",
    "map_delete_batch",
    "map_freeze",
    "prog_load",
    "prog_test_run",
    "obj_pin",
    "obj_get",
    "link_create",
    "link_update",
    "link_detach",
    "prog_attach",
    "prog_detach",
    "raw_tracepoint_open",
    "iter_create",
    "prog_info",
    "prog_xlated",
    "prog_line_info",
    "map_info",
    "link_info",
    "btf_info",
    "btf_raw",
    "prog_get_fd_by_id",
    "map_get_fd_by_id",
    "link_get_fd_by_id",
    "btf_get_fd_by_id",
    "prog_get_next_id",
    "map_get_next_id",
    "link_get_next_id",
    "btf_get_next_id",
    "btf_load",
    "enable_stats",
    "perf_event_open",
    "perf_event_ioc_enable",
    "perf_event_ioc_disable",
    "perf_event_ioc_set_output",
    "perf_event_ioc_set_bpf",
    "close",
]

# asm/unistd_64.h numbers; bpf(2) and perf_event_open(2) have no libc wrapper.
_SYSCALL_NUMBERS = {
    "x86_64": {"bpf": 321, "perf_event_open": 298},
    "aarch64": {"bpf": 280, "perf_event_open": 241},
    "arm64": {"bpf": 280, "perf_event_open": 241},
}

# _IO('$', 0), _IO('$', 1), _IO('$', 5), _IOW('$', 8, __u32) from linux/perf_event.h.
PERF_EVENT_IOC_ENABLE = 0x2400
PERF_EVENT_IOC_DISABLE = 0x2401
PERF_EVENT_IOC_SET_OUTPUT = 0x2405
PERF_EVENT_IOC_SET_BPF = 0x40042408

_LOG_START = 64 * 1024
_LOG_MAX = 64 * 1024 * 1024


def _syscall_number(name: str) -> int:
    machine = os.uname().machine
    try:
        return _SYSCALL_NUMBERS[machine][name]
    except KeyError:
        raise SyscallError(name, _errno.ENOSYS, f"unsupported architecture {machine!r}") from None


Funnel = Callable[[int, Any, int], int]


@functools.cache
def _nr() -> int:
    return _syscall_number("bpf")


# syscall(2) through a fixed four-argument type: cffi builds the call description
# of a variadic function anew at every call (about 0.4 us).  glibc's and musl's
# syscall() read the argument registers directly, which the fixed type fills.
_bpf_fixed = ffi.cast("long (*)(long, long, void *, long)", libc.syscall)


def _kernel_funnel(cmd: int, attr: Any, size: int) -> int:
    """The real ``bpf(cmd, attr, size)``; returns the result or ``-errno``."""
    nr = _nr()
    while True:
        ret = _bpf_fixed(nr, cmd, attr, size)
        if ret >= 0:
            return int(ret)
        err = ffi.errno
        if err != _errno.EINTR:
            return -err


_funnel: Funnel = _kernel_funnel


def set_funnel(fn: Funnel | None) -> Funnel:
    """Route every ``bpf()`` call through ``fn`` (``None`` restores the kernel); returns the old one."""
    global _funnel
    old = _funnel
    _funnel = fn if fn is not None else _kernel_funnel
    return old


@contextlib.contextmanager
def replaced_funnel(fn: Funnel) -> Iterator[Funnel]:
    """Context manager form of :func:`set_funnel`, for tests::

        with replaced_funnel(lambda cmd, attr, size: -errno.EPERM):
            ...
    """
    old = set_funnel(fn)
    try:
        yield fn
    finally:
        set_funnel(old)


def _op_name(cmd: int) -> str:
    try:
        return Cmd(cmd).op_name
    except ValueError:
        return f"bpf(cmd={cmd})"


def bpf(cmd: int, attr: Any, size: int | None = None) -> int:
    """Issue ``bpf(cmd, attr)`` through the funnel; raise :class:`SyscallError` on failure."""
    if size is None:
        size = ffi.sizeof(attr[0]) if ffi.typeof(attr).kind == "pointer" else ffi.sizeof(attr)
    ret = _funnel(int(cmd), attr, size)
    if ret < 0:
        raise SyscallError(_op_name(cmd), -ret)
    return ret


# --- small helpers -----------------------------------------------------------------


def _new(piece: str) -> Any:
    return ffi.new(f"struct bpf_attr_{piece} *")


def _addr(buf: Any) -> int:
    """Address of a cffi buffer as the ``__aligned_u64`` the UAPI wants (0 for NULL)."""
    if buf is None or buf == ffi.NULL:
        return 0
    return int(ffi.cast("uintptr_t", buf))


def _in(data: bytes | None) -> Any:
    """A C copy of ``data`` kept alive by the caller's reference.

    ``None`` and ``b""`` give NULL: the kernel wants NULL keys for maps
    whose key_size is 0 (queue, stack, bloom filter).
    """
    if not data:
        return ffi.NULL
    return ffi.new("char[]", bytes(data))


def _out(size: int) -> Any:
    return ffi.new("char[]", max(size, 1))


def _name(buf: Any, name: str) -> None:
    raw = name.encode()[:15]
    ffi.memmove(buf, raw, len(raw))


def _cstr(data: Any) -> str:
    return ffi.string(data).decode("utf-8", "replace")


# --- maps ----------------------------------------------------------------------------


def map_create(
    map_type: int,
    key_size: int,
    value_size: int,
    max_entries: int,
    *,
    flags: int = 0,
    name: str = "",
    btf_fd: int = 0,
    btf_key_type_id: int = 0,
    btf_value_type_id: int = 0,
    btf_vmlinux_value_type_id: int = 0,
    inner_map_fd: int = 0,
    map_extra: int = 0,
    numa_node: int = 0,
    map_ifindex: int = 0,
) -> int:
    """``BPF_MAP_CREATE``: a new map; returns its fd."""
    attr = _new("map_create")
    attr.map_type = map_type
    attr.key_size = key_size
    attr.value_size = value_size
    attr.max_entries = max_entries
    attr.map_flags = flags
    attr.inner_map_fd = inner_map_fd
    attr.numa_node = numa_node
    _name(attr.map_name, name)
    attr.map_ifindex = map_ifindex
    attr.btf_fd = btf_fd
    attr.btf_key_type_id = btf_key_type_id
    attr.btf_value_type_id = btf_value_type_id
    attr.btf_vmlinux_value_type_id = btf_vmlinux_value_type_id
    attr.map_extra = map_extra
    return bpf(Cmd.MAP_CREATE, attr)


def _elem_attr(fd: int, key: Any, value: Any, flags: int) -> Any:
    attr = _new("map_elem")
    attr.map_fd = fd
    attr.key = _addr(key)
    attr.value = _addr(value)
    attr.flags = flags
    return attr


def _none_on(err: int, call: Callable[[], Any]) -> Any:
    try:
        return call()
    except SyscallError as exc:
        if exc.errno == err:
            return None
        raise


def map_lookup(fd: int, key: bytes, value_size: int, flags: int = 0) -> bytes | None:
    """``BPF_MAP_LOOKUP_ELEM``; ``None`` when the key is absent (ENOENT)."""
    k, v = _in(key), _out(value_size)
    attr = _elem_attr(fd, k, v, flags)
    if _none_on(_errno.ENOENT, lambda: bpf(Cmd.MAP_LOOKUP_ELEM, attr)) is None:
        return None
    return ffi.unpack(v, value_size)


def map_update(fd: int, key: bytes, value: bytes, flags: int = 0) -> None:
    """``BPF_MAP_UPDATE_ELEM`` with ``BPF_ANY``/``BPF_NOEXIST``/``BPF_EXIST``/``BPF_F_LOCK``."""
    k, v = _in(key), _in(value)
    bpf(Cmd.MAP_UPDATE_ELEM, _elem_attr(fd, k, v, flags))


def map_delete(fd: int, key: bytes) -> bool:
    """``BPF_MAP_DELETE_ELEM``; ``False`` when the key was absent."""
    k = _in(key)
    attr = _elem_attr(fd, k, None, 0)
    return _none_on(_errno.ENOENT, lambda: bpf(Cmd.MAP_DELETE_ELEM, attr)) is not None


def map_get_next_key(fd: int, key: bytes | None, key_size: int) -> bytes | None:
    """``BPF_MAP_GET_NEXT_KEY``: the key after ``key`` (first key for ``None``); ``None`` at the end."""
    k, nxt = _in(key), _out(key_size)
    attr = _elem_attr(fd, k, nxt, 0)
    if _none_on(_errno.ENOENT, lambda: bpf(Cmd.MAP_GET_NEXT_KEY, attr)) is None:
        return None
    return ffi.unpack(nxt, key_size)


def map_lookup_and_delete(
    fd: int, key: bytes | None, value_size: int, flags: int = 0
) -> bytes | None:
    """``BPF_MAP_LOOKUP_AND_DELETE_ELEM`` (queue/stack pop with ``key=None``); ``None`` if empty."""
    k, v = _in(key), _out(value_size)
    attr = _elem_attr(fd, k, v, flags)
    if _none_on(_errno.ENOENT, lambda: bpf(Cmd.MAP_LOOKUP_AND_DELETE_ELEM, attr)) is None:
        return None
    return ffi.unpack(v, value_size)


def map_lookup_value(fd: int, value: bytes, flags: int = 0) -> bool:
    """``BPF_MAP_LOOKUP_ELEM`` with no key and ``value`` in the value buffer (bloom
    filter membership): ``True`` when found, ``False`` on ENOENT."""
    v = _in(value)
    attr = _elem_attr(fd, None, v, flags)
    return _none_on(_errno.ENOENT, lambda: bpf(Cmd.MAP_LOOKUP_ELEM, attr)) is not None


def map_freeze(fd: int) -> None:
    """``BPF_MAP_FREEZE``: no more writes from user space."""
    bpf(Cmd.MAP_FREEZE, _elem_attr(fd, None, None, 0))


@record
class BatchResult(Record):
    """One chunk of ``BPF_MAP_LOOKUP_BATCH``: ``count`` packed keys and values.

    Pass ``out_batch`` as the next call's ``in_batch``; ``done`` is set when
    the kernel reported the end of the map (ENOENT).
    """

    keys: bytes
    values: bytes
    count: int
    out_batch: bytes
    done: bool


def _batch_attr(fd: int, count: int, flags: int, elem_flags: int) -> Any:
    attr = _new("batch")
    attr.map_fd = fd
    attr.count = count
    attr.flags = flags
    attr.elem_flags = elem_flags
    return attr


def map_lookup_batch(
    fd: int,
    in_batch: bytes | None,
    key_size: int,
    value_size: int,
    count: int,
    *,
    delete: bool = False,
    flags: int = 0,
    elem_flags: int = 0,
) -> BatchResult:
    """``BPF_MAP_LOOKUP_BATCH`` (or ``..._AND_DELETE_BATCH``): up to ``count`` entries.

    ``value_size`` is the size the kernel copies per entry (for per-CPU maps:
    ``round_up(value_size, 8) * ncpus``).
    """
    # The batch token is a u32 bucket for hash maps and a key for the others.
    token_size = max(key_size, 8)
    in_b, out_b = _in(in_batch), _out(token_size)
    keys, values = _out(key_size * count), _out(value_size * count)
    attr = _batch_attr(fd, count, flags, elem_flags)
    attr.in_batch = _addr(in_b)
    attr.out_batch = _addr(out_b)
    attr.keys = _addr(keys)
    attr.values = _addr(values)
    cmd = Cmd.MAP_LOOKUP_AND_DELETE_BATCH if delete else Cmd.MAP_LOOKUP_BATCH
    done = _none_on(_errno.ENOENT, lambda: bpf(cmd, attr)) is None
    got = attr.count
    return BatchResult(
        keys=ffi.unpack(keys, key_size * got),
        values=ffi.unpack(values, value_size * got),
        count=got,
        out_batch=ffi.unpack(out_b, token_size),
        done=done,
    )


def map_lookup_batch_into(
    fd: int, in_batch: bytes | None, key_size: int, keys: Any, values: Any, count: int
) -> tuple[int, bytes, bool]:
    """``BPF_MAP_LOOKUP_BATCH`` straight into the caller's writable buffers (bytearray,
    memoryview slice, NumPy array) with room for ``count`` entries: no copy.

    Returns ``(entries written, out_batch token, done)``.
    """
    token_size = max(key_size, 8)  # a u32 bucket for hash maps, a key for the others
    in_b, out_b = _in(in_batch), _out(token_size)
    attr = _batch_attr(fd, count, 0, 0)
    attr.in_batch = _addr(in_b)
    attr.out_batch = _addr(out_b)
    attr.keys = _addr(ffi.from_buffer(keys, require_writable=True))
    attr.values = _addr(ffi.from_buffer(values, require_writable=True))
    done = _none_on(_errno.ENOENT, lambda: bpf(Cmd.MAP_LOOKUP_BATCH, attr)) is None
    return int(attr.count), ffi.unpack(out_b, token_size), done


# Single-element commands made through the cffi path in this process; past the
# threshold the native path is compiled even if that means importing llvmlite.
_elem_calls = 0
_NATIVE_AFTER = 20_000


class ElemOps:
    """One map's single-element commands, the hot path of ``m[k]``, ``m[k] = v``,
    ``del m[k]`` and ``k in m``:

    - ``lookup(key) -> bytes | None`` (None when the key is absent);
    - ``update(key, value, flags) -> None``;
    - ``delete(key) -> bool`` (False when the key is absent);
    - ``next_key(key | None) -> bytes | None`` (the first key for None, None at the end);
    - ``lookup_int(key: int) -> int | None`` and ``update_int(key, value, flags)``
      on the native path for maps of plain integers (``ints`` gives their
      signedness), else None.

    Keys and values are packed bytes of the map's sizes; other failures raise
    ``OSError`` with the kernel's errno.  The three are builtins from
    :mod:`.fastpath` when it is ready (compiled code whose cost is the system
    call), else methods over a cffi attr prepared once.  A process starts on the
    native path when the code is cached or llvmlite is already loaded, and
    switches to it after ``_NATIVE_AFTER`` cffi-path calls otherwise.  Safe to
    share between threads.
    """

    def __init__(self, fd: int, key_size: int, value_size: int, *, native: bool = True,
                 ints: tuple[bool, bool] | None = None) -> None:
        self.fd = fd
        self.ints = ints  # (key signed, value signed) of a map of plain integers
        self.key_size = key_size
        self.value_size = value_size
        self.native = native  # False keeps the cffi path (tests compare the two)
        self._nr_value = _syscall_number("bpf")
        self._lock = threading.Lock()
        self._prepared = False
        if native and _funnel is _kernel_funnel and (fastpath.ready() or fastpath.cheap()):
            fastpath.prepare()
        self._bind()

    def _bind(self) -> None:
        native = None
        if self.native and _funnel is _kernel_funnel:
            native = fastpath.elem_functions(
                self.fd, self._nr_value, self.key_size, self.value_size, self.ints)
        if native is not None:
            (self.lookup, self.update, self.delete, self.next_key,
             self.lookup_int, self.update_int) = native
            return
        self.lookup, self.update, self.delete = self._lookup, self._update, self._delete
        self.next_key = self._next_key
        self.lookup_int: Any = None
        self.update_int: Any = None
        if not self._prepared:
            self._prepared = True
            self._key, self._value = _out(self.key_size), _out(self.value_size)
            self._kbuf = ffi.buffer(self._key, self.key_size)
            self._vbuf = ffi.buffer(self._value, self.value_size)
            self.attr = _elem_attr(self.fd, self._key, self._value, 0)
            self._size = ffi.sizeof(self.attr[0])
            self._attr_arg = ffi.cast("void *", self.attr)

    def _call(self, cmd: Cmd) -> int:
        """The command on the prepared attr: its result, or ``-errno``."""
        if _funnel is not _kernel_funnel:
            return _funnel(int(cmd), self.attr, self._size)
        # DELETE_ELEM reads up to ``key``: a longer attr with ``value`` set is EINVAL.
        size = 16 if cmd == Cmd.MAP_DELETE_ELEM else self._size
        while True:
            ret = _bpf_fixed(_nr(), int(cmd), self._attr_arg, size)
            if ret >= 0:
                return int(ret)
            err = ffi.errno
            if err != _errno.EINTR:
                return -err

    def _count(self) -> None:
        """One more cffi-path call to the kernel; past the threshold, switch to native."""
        global _elem_calls
        if _funnel is not _kernel_funnel:
            return
        _elem_calls += 1
        if _elem_calls >= _NATIVE_AFTER and self.native and fastpath.prepare():
            self._bind()

    def _lookup(self, key: bytes) -> bytes | None:
        with self._lock:
            self._kbuf[:] = key
            ret = self._call(Cmd.MAP_LOOKUP_ELEM)
            value = self._vbuf[:] if ret >= 0 else None
        self._count()
        if ret < 0 and ret != -_errno.ENOENT:
            raise SyscallError(Cmd.MAP_LOOKUP_ELEM.op_name, -ret)
        return value

    def _update(self, key: bytes, value: bytes, flags: int = 0) -> None:
        with self._lock:
            self._kbuf[:] = key
            self._vbuf[:] = value
            self.attr.flags = flags
            ret = self._call(Cmd.MAP_UPDATE_ELEM)
            self.attr.flags = 0
        self._count()
        if ret < 0:
            raise SyscallError(Cmd.MAP_UPDATE_ELEM.op_name, -ret)

    def _next_key(self, key: bytes | None) -> bytes | None:
        found = map_get_next_key(self.fd, key, self.key_size)
        self._count()
        return found

    def _delete(self, key: bytes) -> bool:
        with self._lock:
            self._kbuf[:] = key
            ret = self._call(Cmd.MAP_DELETE_ELEM)
        self._count()
        if ret < 0 and ret != -_errno.ENOENT:
            raise SyscallError(Cmd.MAP_DELETE_ELEM.op_name, -ret)
        return ret >= 0


def map_update_batch(
    fd: int, keys: bytes, values: bytes, count: int, flags: int = 0, elem_flags: int = 0
) -> int:
    """``BPF_MAP_UPDATE_BATCH``: ``count`` packed keys and values; returns how many were written."""
    k, v = _in(keys), _in(values)
    attr = _batch_attr(fd, count, flags, elem_flags)
    attr.keys = _addr(k)
    attr.values = _addr(v)
    bpf(Cmd.MAP_UPDATE_BATCH, attr)
    return int(attr.count)


def map_delete_batch(fd: int, keys: bytes, count: int) -> int:
    """``BPF_MAP_DELETE_BATCH``: returns how many of the ``count`` keys were deleted."""
    k = _in(keys)
    attr = _batch_attr(fd, count, 0, 0)
    attr.keys = _addr(k)
    bpf(Cmd.MAP_DELETE_BATCH, attr)
    return int(attr.count)


# --- programs -------------------------------------------------------------------------


@record
class ProgLoadResult(Record):
    """A loaded program's fd and whatever verifier log was asked for."""

    fd: int
    log: str


# Summary lines the verifier prints after its verdict.
# Lines after the verdict: statistics, and the two states of an "infinite loop" report.
_LOG_TRAILERS = ("processed ", "verification time", "stack depth", "-- END PROG LOAD LOG --",
                 "cur state:", "old state:")


def log_reason(log: str) -> str:
    """The verifier's verdict: the last line of ``log`` that is not a statistics trailer."""
    for line in reversed(log.splitlines()):
        text = line.strip()
        if text and not text.startswith(_LOG_TRAILERS):
            return text
    return ""


class ProgLoadError(SyscallError):
    """``BPF_PROG_LOAD`` failed; ``.log`` holds the verifier log (may be empty)."""

    def __init__(self, err: int, log: str) -> None:
        self.log = log
        reason = log_reason(log)
        detail = f"verifier: {reason}" if reason else "empty verifier log"
        super().__init__(Cmd.PROG_LOAD.op_name, err, detail)


def prog_load(
    prog_type: int,
    insns: bytes,
    license: str,
    *,
    name: str = "",
    expected_attach_type: int = 0,
    prog_btf_fd: int = 0,
    func_info: bytes = b"",
    func_info_rec_size: int = 8,
    line_info: bytes = b"",
    line_info_rec_size: int = 16,
    attach_btf_id: int = 0,
    attach_btf_obj_fd: int = 0,
    attach_prog_fd: int = 0,
    kern_version: int = 0,
    prog_flags: int = 0,
    fd_array: list[int] | None = None,
    log_level: int = 0,
) -> ProgLoadResult:
    """``BPF_PROG_LOAD``.  On failure, loads again with a verifier log and raises
    :class:`ProgLoadError` carrying it (the log buffer grows until the log fits)."""
    insns_buf = _in(insns)
    license_buf = ffi.new("char[]", license.encode())
    fi_buf, li_buf = _in(func_info or None), _in(line_info or None)
    fds_buf = ffi.new("int[]", list(fd_array)) if fd_array else ffi.NULL

    def attempt(level: int, log_size: int) -> tuple[int, str, int]:
        log_buf = ffi.new("char[]", log_size) if log_size else ffi.NULL
        attr = _new("prog_load")
        attr.prog_type = prog_type
        attr.insn_cnt = len(insns) // 8
        attr.insns = _addr(insns_buf)
        attr.license = _addr(license_buf)
        attr.log_level = level
        attr.log_size = log_size
        attr.log_buf = _addr(log_buf)
        attr.kern_version = kern_version
        attr.prog_flags = prog_flags
        _name(attr.prog_name, name)
        attr.expected_attach_type = expected_attach_type
        attr.prog_btf_fd = prog_btf_fd
        if func_info:
            attr.func_info_rec_size = func_info_rec_size
            attr.func_info = _addr(fi_buf)
            attr.func_info_cnt = len(func_info) // func_info_rec_size
        if line_info:
            attr.line_info_rec_size = line_info_rec_size
            attr.line_info = _addr(li_buf)
            attr.line_info_cnt = len(line_info) // line_info_rec_size
        attr.attach_btf_id = attach_btf_id
        attr.attach_prog_fd = attach_prog_fd or attach_btf_obj_fd
        attr.fd_array = _addr(fds_buf)
        ret = _funnel(int(Cmd.PROG_LOAD), attr, ffi.sizeof(attr[0]))
        log = _cstr(log_buf) if log_size else ""
        return ret, log, int(attr.log_true_size)

    log_size = _LOG_START if log_level else 0
    ret, log, _ = attempt(log_level, log_size)
    if ret >= 0:
        return ProgLoadResult(ret, log)
    # Failed: load again with a log, growing the buffer while the kernel says it is short.
    level = log_level or 1
    log_size = _LOG_START
    while True:
        ret, log, true_size = attempt(level, log_size)
        if ret >= 0:  # pragma: no cover - the kernel changed its mind
            return ProgLoadResult(ret, log)
        if -ret != _errno.ENOSPC or log_size >= _LOG_MAX:
            raise ProgLoadError(-ret, log)
        log_size = min(_LOG_MAX, max(log_size * 2, true_size + 1))


@record
class TestRunResult(Record):
    """What ``BPF_PROG_TEST_RUN`` returned: the program's return value (the
    kernel's ``__u32``), output packet/context and the average duration per
    run in nanoseconds."""

    __test__ = False  # not a pytest test class

    retval: int
    data_out: bytes
    ctx_out: bytes
    duration_ns: int


def prog_test_run(
    fd: int,
    *,
    data_in: bytes = b"",
    data_size_out: int = 0,
    ctx_in: bytes = b"",
    ctx_size_out: int = 0,
    repeat: int = 1,
    flags: int = 0,
    cpu: int = 0,
    batch_size: int = 0,
    ctx_in_out: bool = False,
) -> TestRunResult:
    """``BPF_PROG_TEST_RUN``: run the program ``repeat`` times on ``data_in``/``ctx_in``.

    ``ctx_in_out``: the kernel writes the context back over ``ctx_in`` (syscall
    programs do this instead of using ``ctx_out``); ``ctx_out`` is then those bytes.
    """
    d_in, c_in = _in(data_in or None), _in(ctx_in or None)
    d_out = _out(data_size_out) if data_size_out else ffi.NULL
    c_out = _out(ctx_size_out) if ctx_size_out else ffi.NULL
    attr = _new("test_run")
    attr.prog_fd = fd
    attr.data_size_in = len(data_in)
    attr.data_in = _addr(d_in)
    attr.data_size_out = data_size_out
    attr.data_out = _addr(d_out)
    attr.ctx_size_in = len(ctx_in)
    attr.ctx_in = _addr(c_in)
    attr.ctx_size_out = ctx_size_out
    attr.ctx_out = _addr(c_out)
    attr.repeat = repeat
    attr.flags = flags
    if flags & BPF_F_TEST_RUN_ON_CPU:
        attr.cpu = cpu
    attr.batch_size = batch_size
    bpf(Cmd.PROG_TEST_RUN, attr)
    data_len = min(attr.data_size_out, data_size_out)
    ctx_len = min(attr.ctx_size_out, ctx_size_out)
    if ctx_in_out and ctx_in:
        ctx_back = ffi.unpack(ffi.cast("char *", c_in), len(ctx_in))
    else:
        ctx_back = ffi.unpack(c_out, ctx_len) if ctx_len else b""
    return TestRunResult(
        retval=int(attr.retval),
        data_out=ffi.unpack(d_out, data_len) if data_len else b"",
        ctx_out=ctx_back,
        duration_ns=int(attr.duration),
    )


# --- pinning -----------------------------------------------------------------------------


def obj_pin(fd: int, path: str) -> None:
    """``BPF_OBJ_PIN``: pin a map, program or link at ``path`` on a bpffs."""
    p = ffi.new("char[]", os.fsencode(path))
    attr = _new("obj")
    attr.pathname = _addr(p)
    attr.bpf_fd = fd
    bpf(Cmd.OBJ_PIN, attr)


def obj_get(path: str, flags: int = 0) -> int:
    """``BPF_OBJ_GET``: open the object pinned at ``path``; returns a new fd."""
    p = ffi.new("char[]", os.fsencode(path))
    attr = _new("obj")
    attr.pathname = _addr(p)
    attr.file_flags = flags
    return bpf(Cmd.OBJ_GET, attr)


# --- attaching ------------------------------------------------------------------------------


def link_create(
    prog_fd: int,
    target: int,
    attach_type: int,
    *,
    flags: int = 0,
    target_btf_id: int = 0,
    perf_event_cookie: int = 0,
    netfilter: tuple[int, int, int, int] | None = None,
    tcx_relative: tuple[int, int] | None = None,
    uprobe_multi: dict[str, Any] | None = None,
    kprobe_multi: dict[str, Any] | None = None,
    iter_info: bytes | None = None,
) -> int:
    """``BPF_LINK_CREATE``: attach ``prog_fd`` to ``target`` (fd or ifindex); returns the link fd.

    ``uprobe_multi`` keys: ``path`` (str), ``offsets`` (list), optional
    ``ref_ctr_offsets``, ``cookies``, ``pid``, ``flags``.  ``kprobe_multi``
    keys: ``syms`` (list of str) or ``addrs``, optional ``cookies``, ``flags``.
    """
    keep: list[Any] = []  # C buffers that must outlive the call

    def u64s(values: list[int] | None) -> int:
        if not values:
            return 0
        buf = ffi.new("uint64_t[]", list(values))
        keep.append(buf)
        return _addr(buf)

    attr = _new("link_create")
    attr.prog_fd = prog_fd
    attr.target_fd = target & 0xFFFFFFFF  # some hooks take -1 (unused)
    attr.attach_type = attach_type
    attr.flags = flags
    if target_btf_id:
        attr.target_btf_id = target_btf_id
    if perf_event_cookie:
        attr.perf_event.bpf_cookie = perf_event_cookie
    if iter_info is not None:
        buf = _in(iter_info)
        keep.append(buf)
        attr.iter_info = _addr(buf)
        attr.iter_info_len = len(iter_info)
    if netfilter is not None:
        nf = attr.netfilter
        nf.pf, nf.hooknum, nf.priority, nf.flags = netfilter
    if tcx_relative is not None:
        attr.tcx.relative_fd, attr.tcx.expected_revision = tcx_relative
    if uprobe_multi is not None:
        um = attr.uprobe_multi
        path = ffi.new("char[]", os.fsencode(uprobe_multi["path"]))
        keep.append(path)
        offsets = list(uprobe_multi["offsets"])
        um.path = _addr(path)
        um.offsets = u64s(offsets)
        um.ref_ctr_offsets = u64s(uprobe_multi.get("ref_ctr_offsets"))
        um.cookies = u64s(uprobe_multi.get("cookies"))
        um.cnt = len(offsets)
        um.flags = uprobe_multi.get("flags", 0)
        um.pid = uprobe_multi.get("pid", 0)
    if kprobe_multi is not None:
        km = attr.kprobe_multi
        syms = kprobe_multi.get("syms") or []
        addrs = kprobe_multi.get("addrs") or []
        if syms:
            names = [ffi.new("char[]", s.encode()) for s in syms]
            table = ffi.new("char *[]", names)
            keep += [names, table]
            km.syms = _addr(table)
        km.addrs = u64s(addrs)
        km.cookies = u64s(kprobe_multi.get("cookies"))
        km.cnt = len(syms) or len(addrs)
        km.flags = kprobe_multi.get("flags", 0)
    return bpf(Cmd.LINK_CREATE, attr)


def link_update(link_fd: int, new_prog_fd: int, *, old_prog_fd: int = 0, flags: int = 0) -> None:
    """``BPF_LINK_UPDATE``: swap the program behind a link (``BPF_F_REPLACE`` checks the old one)."""
    attr = _new("link_update")
    attr.link_fd = link_fd
    attr.new_prog_fd = new_prog_fd
    attr.old_prog_fd = old_prog_fd
    attr.flags = flags
    bpf(Cmd.LINK_UPDATE, attr)


def link_detach(link_fd: int) -> None:
    """``BPF_LINK_DETACH``: detach the link's program while keeping the fd."""
    attr = _new("link_detach")
    attr.link_fd = link_fd
    bpf(Cmd.LINK_DETACH, attr)


def prog_attach(
    target_fd: int, prog_fd: int, attach_type: int, flags: int = 0, replace_prog_fd: int = 0
) -> None:
    """``BPF_PROG_ATTACH`` (cgroups, sockmaps, flow dissector, lirc)."""
    attr = _new("prog_attach")
    attr.target_fd = target_fd
    attr.attach_bpf_fd = prog_fd
    attr.attach_type = attach_type
    attr.attach_flags = flags
    attr.replace_bpf_fd = replace_prog_fd
    bpf(Cmd.PROG_ATTACH, attr)


def prog_detach(target_fd: int, prog_fd: int, attach_type: int) -> None:
    """``BPF_PROG_DETACH``."""
    attr = _new("prog_attach")
    attr.target_fd = target_fd
    attr.attach_bpf_fd = prog_fd
    attr.attach_type = attach_type
    bpf(Cmd.PROG_DETACH, attr)


def raw_tracepoint_open(name: str | None, prog_fd: int) -> int:
    """``BPF_RAW_TRACEPOINT_OPEN`` (``name=None`` for tp_btf / fentry-style programs)."""
    n = ffi.new("char[]", name.encode()) if name else ffi.NULL
    attr = _new("raw_tp")
    attr.name = _addr(n)
    attr.prog_fd = prog_fd
    return bpf(Cmd.RAW_TRACEPOINT_OPEN, attr)


def iter_create(link_fd: int) -> int:
    """``BPF_ITER_CREATE``: a readable fd producing the iterator's output."""
    attr = _new("iter_create")
    attr.link_fd = link_fd
    return bpf(Cmd.ITER_CREATE, attr)


# --- info, ids -----------------------------------------------------------------------------


def _get_info(fd: int, info: Any) -> None:
    attr = _new("info")
    attr.bpf_fd = fd
    attr.info_len = ffi.sizeof(info[0])
    attr.info = _addr(info)
    bpf(Cmd.OBJ_GET_INFO_BY_FD, attr)


def _fields(info: Any, names: tuple[str, ...]) -> dict[str, Any]:
    return {n: int(getattr(info, n)) for n in names}


_PROG_INFO_INTS = (
    "type", "id", "jited_prog_len", "xlated_prog_len", "load_time", "created_by_uid",
    "nr_map_ids", "ifindex", "gpl_compatible", "btf_id", "nr_func_info", "nr_line_info",
    "run_time_ns", "run_cnt", "recursion_misses", "verified_insns", "attach_btf_obj_id",
    "attach_btf_id",
)


def prog_info(fd: int) -> dict[str, Any]:
    """``struct bpf_prog_info`` of a program, as a dict with the kernel's field names.

    ``tag`` is hex; ``map_ids`` lists the maps the program uses.
    """
    info = ffi.new("struct bpf_prog_info *")
    _get_info(fd, info)
    nr = info.nr_map_ids
    if nr:
        ids = ffi.new("uint32_t[]", nr)
        info2 = ffi.new("struct bpf_prog_info *")
        info2.nr_map_ids = nr
        info2.map_ids = _addr(ids)
        _get_info(fd, info2)
        map_ids = [int(ids[i]) for i in range(min(nr, info2.nr_map_ids))]
    else:
        map_ids = []
    out = _fields(info, _PROG_INFO_INTS)
    out["name"] = _cstr(info.name)
    out["tag"] = bytes(ffi.buffer(info.tag)).hex()
    out["map_ids"] = map_ids
    return out


def prog_xlated(fd: int) -> bytes:
    """The program's instructions as the verifier rewrote them (``xlated_prog_insns``)."""
    info = ffi.new("struct bpf_prog_info *")
    _get_info(fd, info)
    size = info.xlated_prog_len
    if not size:
        return b""
    buf = _out(size)
    info2 = ffi.new("struct bpf_prog_info *")
    info2.xlated_prog_len = size
    info2.xlated_prog_insns = _addr(buf)
    _get_info(fd, info2)
    return ffi.unpack(buf, min(size, info2.xlated_prog_len))


def prog_line_info(fd: int) -> bytes:
    """The program's ``bpf_line_info`` records (16 bytes each) as the kernel holds them."""
    info = ffi.new("struct bpf_prog_info *")
    _get_info(fd, info)
    nr, rec = info.nr_line_info, info.line_info_rec_size or 16
    if not nr:
        return b""
    buf = _out(nr * rec)
    info2 = ffi.new("struct bpf_prog_info *")
    info2.nr_line_info = nr
    info2.line_info_rec_size = rec
    info2.line_info = _addr(buf)
    _get_info(fd, info2)
    return ffi.unpack(buf, nr * rec)


_MAP_INFO_INTS = (
    "type", "id", "key_size", "value_size", "max_entries", "map_flags", "ifindex",
    "btf_vmlinux_value_type_id", "btf_id", "btf_key_type_id", "btf_value_type_id",
    "btf_vmlinux_id", "map_extra",
)


def map_info(fd: int) -> dict[str, Any]:
    """``struct bpf_map_info`` of a map, as a dict with the kernel's field names."""
    info = ffi.new("struct bpf_map_info *")
    _get_info(fd, info)
    out = _fields(info, _MAP_INFO_INTS)
    out["name"] = _cstr(info.name)
    return out


def link_info(fd: int) -> dict[str, Any]:
    """``struct bpf_link_info``: ``type``, ``id``, ``prog_id`` and the type's own fields."""
    info = ffi.new("struct bpf_link_info *")
    _get_info(fd, info)
    out: dict[str, Any] = _fields(info, ("type", "id", "prog_id"))
    # LinkType numbers -> the union member that describes them.
    per_type = {
        2: ("tracing", ("attach_type", "target_obj_id", "target_btf_id")),
        3: ("cgroup", ("cgroup_id", "attach_type")),
        5: ("netns", ("netns_ino", "attach_type")),
        6: ("xdp", ("ifindex",)),
        9: ("struct_ops", ("map_id",)),
        10: ("netfilter", ("pf", "hooknum", "priority", "flags")),
        11: ("tcx", ("ifindex", "attach_type")),
        13: ("netkit", ("ifindex", "attach_type")),
    }
    member = per_type.get(out["type"])
    if member is not None:
        out.update(_fields(getattr(info, member[0]), member[1]))
    return out


def btf_info(fd: int) -> dict[str, Any]:
    """``struct bpf_btf_info``: ``id``, ``btf_size``, ``name``, ``kernel_btf``."""
    info = ffi.new("struct bpf_btf_info *")
    name = _out(64)
    info.name = _addr(name)
    info.name_len = 64
    _get_info(fd, info)
    out = _fields(info, ("id", "btf_size", "kernel_btf"))
    out["name"] = _cstr(name)
    return out


def btf_raw(fd: int) -> bytes:
    """The raw BTF (header, types, strings) of a BTF object fd (``bpf_btf_info.btf``)."""
    size = btf_info(fd)["btf_size"]
    buf = _out(size)
    info = ffi.new("struct bpf_btf_info *")
    info.btf = _addr(buf)
    info.btf_size = size
    _get_info(fd, info)
    return ffi.unpack(buf, min(size, info.btf_size))


def _fd_by_id(cmd: Cmd, obj_id: int) -> int:
    attr = _new("get_id")
    attr.start_id = obj_id
    return bpf(cmd, attr)


def _next_id(cmd: Cmd, start_id: int) -> int | None:
    attr = _new("get_id")
    attr.start_id = start_id
    if _none_on(_errno.ENOENT, lambda: bpf(cmd, attr)) is None:
        return None
    return int(attr.next_id)


def prog_get_fd_by_id(obj_id: int) -> int:
    """``BPF_PROG_GET_FD_BY_ID``."""
    return _fd_by_id(Cmd.PROG_GET_FD_BY_ID, obj_id)


def map_get_fd_by_id(obj_id: int) -> int:
    """``BPF_MAP_GET_FD_BY_ID``."""
    return _fd_by_id(Cmd.MAP_GET_FD_BY_ID, obj_id)


def link_get_fd_by_id(obj_id: int) -> int:
    """``BPF_LINK_GET_FD_BY_ID``."""
    return _fd_by_id(Cmd.LINK_GET_FD_BY_ID, obj_id)


def btf_get_fd_by_id(obj_id: int) -> int:
    """``BPF_BTF_GET_FD_BY_ID``."""
    return _fd_by_id(Cmd.BTF_GET_FD_BY_ID, obj_id)


def prog_get_next_id(start_id: int) -> int | None:
    """``BPF_PROG_GET_NEXT_ID``: the next program id after ``start_id``; ``None`` at the end."""
    return _next_id(Cmd.PROG_GET_NEXT_ID, start_id)


def map_get_next_id(start_id: int) -> int | None:
    """``BPF_MAP_GET_NEXT_ID``."""
    return _next_id(Cmd.MAP_GET_NEXT_ID, start_id)


def link_get_next_id(start_id: int) -> int | None:
    """``BPF_LINK_GET_NEXT_ID``."""
    return _next_id(Cmd.LINK_GET_NEXT_ID, start_id)


def btf_get_next_id(start_id: int) -> int | None:
    """``BPF_BTF_GET_NEXT_ID``."""
    return _next_id(Cmd.BTF_GET_NEXT_ID, start_id)


# --- BTF, stats -------------------------------------------------------------------------------


def btf_load(data: bytes, *, log_level: int = 0) -> int:
    """``BPF_BTF_LOAD``; on failure loads again with a log and raises a
    :class:`SyscallError` whose message ends with the log's last lines."""
    blob = _in(data)

    def attempt(level: int, log_size: int) -> tuple[int, str]:
        log_buf = ffi.new("char[]", log_size) if log_size else ffi.NULL
        attr = _new("btf_load")
        attr.btf = _addr(blob)
        attr.btf_size = len(data)
        attr.btf_log_level = level
        attr.btf_log_size = log_size
        attr.btf_log_buf = _addr(log_buf)
        ret = _funnel(int(Cmd.BTF_LOAD), attr, ffi.sizeof(attr[0]))
        return ret, (_cstr(log_buf) if log_size else "")

    ret, _ = attempt(log_level, _LOG_START if log_level else 0)
    if ret >= 0:
        return ret
    ret, log = attempt(log_level or 1, _LOG_MAX // 16)
    if ret >= 0:  # pragma: no cover - the kernel changed its mind
        return ret
    tail = " | ".join([ln for ln in log.splitlines() if ln.strip()][-3:])
    raise SyscallError(Cmd.BTF_LOAD.op_name, -ret, f"BTF log: {tail}" if tail else "")


def enable_stats(stats_type: int = 0) -> int:
    """``BPF_ENABLE_STATS``: returns an fd; statistics stay on while it is open."""
    attr = _new("enable_stats")
    attr.type = stats_type
    return bpf(Cmd.ENABLE_STATS, attr)


# --- perf events ------------------------------------------------------------------------------


def perf_event_open(
    type: int,
    config: int,
    *,
    pid: int = -1,
    cpu: int = 0,
    group_fd: int = -1,
    flags: int = PERF_FLAG_FD_CLOEXEC,
    sample_period: int = 0,
    sample_freq: int = 0,
    freq: bool = False,
    sample_type: int = 0,
    wakeup_events: int = 0,
    config1: int = 0,
    config2: int = 0,
    size: int = PERF_ATTR_SIZE_VER8,
    disabled: bool = False,
    inherit: bool = False,
    exclude_kernel: bool = False,
    exclude_user: bool = False,
    watermark: bool = False,
    probe_offset: int | None = None,
    uprobe_path: str | None = None,
    kprobe_func: str | None = None,
) -> int:
    """``perf_event_open(2)``: returns the event fd (close-on-exec).

    ``uprobe_path``/``kprobe_func`` fill ``config1`` with a string pointer and
    ``probe_offset`` fills ``config2``, as the kprobe/uprobe PMUs expect.
    """
    attr = ffi.new("struct perf_event_attr *")
    attr.type = type
    attr.size = size
    attr.config = config
    attr.sample_period = sample_freq if freq else sample_period
    attr.sample_type = sample_type
    attr.wakeup_events = wakeup_events
    bits = {
        "disabled": disabled, "inherit": inherit, "exclude_kernel": exclude_kernel,
        "exclude_user": exclude_user, "freq": freq, "watermark": watermark,
    }
    attr.flags = sum(1 << PERF_ATTR_FLAG_BITS[k] for k, on in bits.items() if on)
    path = uprobe_path if uprobe_path is not None else kprobe_func
    path_buf = ffi.new("char[]", os.fsencode(path)) if path is not None else ffi.NULL
    attr.config1 = _addr(path_buf) if path is not None else config1
    attr.config2 = probe_offset if probe_offset is not None else config2
    ret = libc.syscall(
        ffi.cast("long", _syscall_number("perf_event_open")), ffi.cast("void *", attr),
        ffi.cast("long", pid), ffi.cast("long", cpu), ffi.cast("long", group_fd),
        ffi.cast("long", flags),
    )
    if ret < 0:
        raise SyscallError("perf_event_open", ffi.errno)
    return int(ret)


def _ioctl(fd: int, request: int, arg: int, op: str) -> None:
    if libc.ioctl(fd, ffi.cast("unsigned long", request), ffi.cast("long", arg)) < 0:
        raise SyscallError(op, ffi.errno)


def perf_event_ioc_enable(fd: int) -> None:
    """``ioctl(PERF_EVENT_IOC_ENABLE)``."""
    _ioctl(fd, PERF_EVENT_IOC_ENABLE, 0, "PERF_EVENT_IOC_ENABLE")


def perf_event_ioc_disable(fd: int) -> None:
    """``ioctl(PERF_EVENT_IOC_DISABLE)``."""
    _ioctl(fd, PERF_EVENT_IOC_DISABLE, 0, "PERF_EVENT_IOC_DISABLE")


def perf_event_ioc_set_output(fd: int, target_fd: int) -> None:
    """``ioctl(PERF_EVENT_IOC_SET_OUTPUT)``: ``fd``'s records go to ``target_fd``'s ring
    (both on the same CPU)."""
    _ioctl(fd, PERF_EVENT_IOC_SET_OUTPUT, target_fd, "PERF_EVENT_IOC_SET_OUTPUT")


def perf_event_ioc_set_bpf(fd: int, prog_fd: int) -> None:
    """``ioctl(PERF_EVENT_IOC_SET_BPF)``: run ``prog_fd`` on every event of ``fd``."""
    _ioctl(fd, PERF_EVENT_IOC_SET_BPF, prog_fd, "PERF_EVENT_IOC_SET_BPF")


def close(fd: int) -> None:
    """Close a file descriptor (ignores EBADF so cleanup paths stay simple)."""
    with contextlib.suppress(OSError):
        os.close(fd)
