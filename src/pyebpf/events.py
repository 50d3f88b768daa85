"""Event readers: ring buffers and perf buffers on ``mmap`` + ``epoll``.

A :class:`~pyebpf.maps.RingBuf` or :class:`~pyebpf.maps.PerfEventArray`
declared with ``event=T`` is read from user space once a program using it is
loaded::

    for ev in events.poll(timeout=1.0):     # typed events (T instances / ints / bytes)
        print(ev.pid, ev.comm)
    events.consume(print, timeout=1.0)      # a callback per event; returns the count
    arr = events.read_numpy()               # one structured array (T.dtype) per batch
    events.lost                             # perf buffers: samples the kernel dropped

Several channels on one epoll: ``EventReader(rb1, rb2, perf)``; its
``poll()`` yields ``(channel, event)`` pairs.

How it reads (no system call per event):

- **Ring buffer** (``BPF_MAP_TYPE_RINGBUF``): the consumer page is mapped
  read-write at offset 0; the producer page and the data area are mapped
  read-only from offset one page, and the kernel maps the data area twice in
  a row, so a record never wraps in the reader's view.  Each record starts
  with an 8-byte header: ``len | BPF_RINGBUF_BUSY_BIT (1<<31) |
  BPF_RINGBUF_DISCARD_BIT (1<<30)`` then ``pg_off``; records are 8-aligned.
  The reader stops at a busy record, skips discarded ones, and stores the new
  consumer position after each batch.  The kernel keeps no drop counter for
  ring buffers: count failed ``reserve()`` calls in the program.
- **Perf buffer** (``BPF_MAP_TYPE_PERF_EVENT_ARRAY``): one
  ``perf_event_open(PERF_TYPE_SOFTWARE, PERF_COUNT_SW_BPF_OUTPUT, cpu=i)`` per
  online CPU, ``1 + 2**n`` pages mapped, its fd stored in the map's slot
  ``i``.  ``PERF_RECORD_SAMPLE`` records (a ``u32`` size, then the data) are
  decoded, wrapping at the end of the data area; ``PERF_RECORD_LOST`` adds to
  :attr:`lost`.  Events arrive in order per CPU.  Open it with
  ``perf.open()`` *before* the program runs: samples emitted while no reader
  is open are dropped by the kernel.

Decoding is batched: a fixed-size event type gets one precompiled
``struct.Struct`` (ring buffers: the 8-byte header skipped as padding,
unpacked with ``iter_unpack`` over a run of contiguous records whose length
words were checked at once) and a generated constructor that stores the
fields into a Struct instance's ``__dict__``; ``poll()`` decodes 256 at a
time.  ``read_numpy()`` copies a run of records as one strided NumPy block.
Perf readers also flush the kernel's pending lost count (:class:`PerfBufReader`).
"""

from __future__ import annotations

import contextlib
import errno
import mmap
import select
import struct
import time
from collections.abc import Callable, Iterator
from itertools import starmap
from typing import Any

from .errors import MapError
from .types import ArrayType, BPFType, IntType, StructType

__all__ = ["EventReader", "RingBufReader", "PerfBufReader"]

# UAPI linux/bpf.h
BPF_RINGBUF_BUSY_BIT = 1 << 31
BPF_RINGBUF_DISCARD_BIT = 1 << 30
BPF_RINGBUF_HDR_SZ = 8
# UAPI linux/perf_event.h
PERF_TYPE_SOFTWARE = 1
PERF_COUNT_SW_CPU_CLOCK = 0
PERF_COUNT_SW_BPF_OUTPUT = 10
PERF_SAMPLE_RAW = 1 << 10
PERF_RECORD_LOST = 2
PERF_RECORD_SAMPLE = 9
_PERF_LOST_SIZE = 24  # struct { perf_event_header; u64 id; u64 lost; }
# struct perf_event_mmap_page: data_head at byte 1024, data_tail at 1032 (u64 indexes).
_DATA_HEAD = 1024 // 8
_DATA_TAIL = 1032 // 8

_PAGE = mmap.PAGESIZE
_BATCH = 4096  # records decoded before the consumer position moves on
# Events decoded per step of poll()/consume(): few enough that the objects of a step
# are freed before the garbage collector's youngest generation fills (700 net
# allocations; an event is two, the object and its __dict__).  With 4096 per step
# each step's events survived into older generations and full collections took a
# quarter of the decoding time.
_CHUNK = 256
# When the last wait found events soon, check the rings for this long before sleeping
# in epoll: a busy producer is then read without a wake-up (which costs the producer an
# irq_work and the reader a context switch).
_SPIN = 50e-6
_HDR = struct.Struct("<I")
_PERF_HDR = struct.Struct("<IHH")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
# The flush event's sampling period: 20 us stays under the kernel's default limit of
# 100,000 samples/s (perf_event_max_sample_rate); waited for at most _FLUSH_TIMEOUT s.
_FLUSH_PERIOD_NS = 20_000
_FLUSH_TIMEOUT = 0.01


def _sys() -> Any:
    from ._native import syscalls

    return syscalls


def _round8(n: int) -> int:
    return (n + 7) & ~7


# --------------------------------------------------------------------------- decoding


def _flat_format(t: BPFType) -> tuple[str, list[tuple[str, str, int, int]]] | None:
    """A ``struct`` format for ``t`` and, per field, (name, kind, first item, item count).

    None when a field has no flat format (nested structs, bool arrays): the
    decoder then uses ``T.from_buffer``.
    """
    if isinstance(t, IntType):
        return IntType._formats[(t.size, t.signed)] if not t.is_bool else "?", [("", "int", 0, 1)]
    if not isinstance(t, StructType) or t.union:
        return None
    fmt: list[str] = []
    fields: list[tuple[str, str, int, int]] = []
    pos = 0
    item = 0
    for f in t.fields:
        ft = f.type
        if f.offset > pos:
            fmt.append(f"{f.offset - pos}x")
        if isinstance(ft, IntType):
            fmt.append("?" if ft.is_bool else IntType._formats[(ft.size, ft.signed)])
            fields.append((f.name, "int", item, 1))
            item += 1
        elif isinstance(ft, ArrayType) and ft.is_string:
            fmt.append(f"{ft.length}s")
            fields.append((f.name, "str", item, 1))
            item += 1
        elif isinstance(ft, ArrayType) and ft.is_bytes and not ft.elem.signed:  # type: ignore
            fmt.append(f"{ft.length}s")
            fields.append((f.name, "int", item, 1))
            item += 1
        elif (isinstance(ft, ArrayType) and isinstance(ft.elem, IntType)
              and not ft.elem.is_bool):
            fmt.append(f"{ft.length}{IntType._formats[(ft.elem.size, ft.elem.signed)]}")
            fields.append((f.name, "list", item, ft.length))
            item += ft.length
        else:
            return None
        pos = f.offset + ft.size
    if t.size > pos:
        fmt.append(f"{t.size - pos}x")
    return "".join(fmt), fields


class _Decoder:
    """Turns event bytes into the channel's Python values, one or a batch at a time."""

    def __init__(self, event_type: BPFType | None) -> None:
        self.type = event_type
        self.size = event_type.size if event_type is not None else 0
        flat = _flat_format(event_type) if event_type is not None else None
        self._flat = flat
        self._struct = struct.Struct("<" + flat[0]) if flat else None
        self._maker: Callable[..., Any] | None = None

    @property
    def fixed(self) -> bool:
        return self.type is not None

    def maker(self) -> Callable[..., Any]:
        """A function of the unpacked items of one event that returns the event value."""
        if self._maker is None:
            self._maker = self._build_maker()
        return self._maker

    def _build_maker(self) -> Callable[..., Any]:
        assert self._flat is not None and self.type is not None
        nitems = sum(count for _, _, _, count in self._flat[1])
        params = [f"a{i}" for i in range(nitems)]
        if isinstance(self.type, IntType):
            body = "    return bool(a0)\n" if self.type.is_bool else "    return a0\n"
        else:
            # Generated once per event type: items arrive as arguments (itertools.starmap
            # over struct.iter_unpack).  Stores into the fresh instance's __dict__ measured
            # faster than __dict__.update(**fields) or one object.__setattr__ per field,
            # and bypass Struct.__setattr__'s field-name check (the names come from the type).
            stores = []
            for name, kind, item, count in self._flat[1]:
                if kind == "int":
                    expr = f"a{item}"
                elif kind == "str":
                    expr = f"a{item}.partition(b'\\0')[0].decode('utf-8', 'replace')"
                else:
                    expr = "[" + ", ".join(f"a{i}" for i in range(item, item + count)) + "]"
                stores.append(f"    d[{name!r}] = {expr}\n")
            body = "    o = _new(_cls)\n    d = o.__dict__\n" + "".join(stores) + "    return o\n"
        src = f"def make({', '.join(params)}, _new=_new, _cls=_cls):\n{body}"
        scope: dict[str, Any] = {"_new": object.__new__,
                                 "_cls": getattr(self.type, "cls", None)}
        exec(src, scope)  # the source above is built from field names only
        return scope["make"]

    def decode(self, data: memoryview | bytes) -> Any:
        """One event from its bytes (a record at least ``size`` bytes long)."""
        if self.type is None:
            return bytes(data)
        if len(data) < self.size:
            raise MapError(
                f"an event of {len(data)} bytes is shorter than {self.type.name} "
                f"({self.size} bytes): the program emits another type than event= declares",
                errno.EINVAL,
            )
        if self._struct is not None:
            return self.maker()(*self._struct.unpack_from(data))
        return self.type.unpack(data[: self.size])

    def numpy_dtype(self) -> Any:
        import numpy as np

        if self.type is None:
            raise MapError("read_numpy needs a channel declared with event=T", errno.EINVAL)
        return np.dtype(self.type.numpy_format)


# --------------------------------------------------------------------------- channels


class _Channel:
    """One source of events on an epoll: its fds, and how to drain it."""

    fds: list[int]
    decoder: _Decoder
    lost: int = 0
    #: events decoded (so consumed from the kernel) that an interrupted poll() did not hand out
    pending: list | None = None

    def take(self, limit: int) -> list:
        """:meth:`drain`, after the events an interrupted ``poll()`` left over."""
        pending = self.pending
        if pending:
            self.pending = None
            return pending
        return self.drain(limit)

    def take_numpy(self, limit: int) -> Any:
        """:meth:`drain_numpy`, after the events an interrupted ``poll()`` left over."""
        import numpy as np

        pending = self.pending
        if not pending:
            return self.drain_numpy(limit)
        self.pending = None
        pack = self.decoder.type.pack  # type: ignore[union-attr]
        head = np.frombuffer(bytearray(b"".join(pack(e) for e in pending)),
                             dtype=self.decoder.numpy_dtype())
        tail = self.drain_numpy(max(0, limit - len(head)))
        out = np.empty(len(head) + len(tail), dtype=head.dtype)
        out[: len(head)] = head
        out[len(head) :] = tail
        return out

    def ready(self) -> bool:  # pragma: no cover - abstract
        """Whether data may be waiting (a cheap check of the shared positions, no syscall)."""
        raise NotImplementedError

    def drain(self, limit: int) -> list:  # pragma: no cover - abstract
        """Up to ``limit`` decoded events that are ready now ([] when none)."""
        raise NotImplementedError

    def drain_raw(self, limit: int) -> list[bytes | memoryview]:  # pragma: no cover - abstract
        raise NotImplementedError

    def drain_numpy(self, limit: int) -> Any:
        import numpy as np

        dtype = self.decoder.numpy_dtype()
        size = self.decoder.size
        raws = self.drain_raw(limit)
        buf = bytearray(b"".join(bytes(r[:size]) for r in raws))
        return np.frombuffer(buf, dtype=dtype)

    def close(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


class RingBufReader(_Channel):
    """The reader side of one ``BPF_MAP_TYPE_RINGBUF`` map (see the module docstring).

    ``consumer``, ``producer`` and ``data`` may be given as buffers instead of
    mapping ``map_fd`` (unit tests emulate a ring buffer in plain memory):
    ``data`` must then hold the data area twice in a row.
    """

    def __init__(self, map_fd: int, size: int, event_type: BPFType | None, *,
                 buffers: tuple[Any, Any, Any] | None = None) -> None:
        if size <= 0 or size & (size - 1):
            raise ValueError(f"ring buffer size must be a power of 2, got {size}")
        self.fds = [map_fd]
        self.size = size
        self.mask = size - 1
        self.decoder = _Decoder(event_type)
        self._maps: list[mmap.mmap] = []
        if buffers is None:
            cons = mmap.mmap(map_fd, _PAGE, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
            self._maps.append(cons)
            try:
                # MAP_POPULATE: page-table setup happens here, not on the first drain.
                prod = mmap.mmap(map_fd, _PAGE + 2 * size,
                                 mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0),
                                 mmap.PROT_READ, offset=_PAGE)
            except OSError:
                cons.close()
                raise
            self._maps.append(prod)
            consumer, producer, data = cons, prod, memoryview(prod)[_PAGE:]
        else:
            consumer, producer, data = buffers
        # Aligned 8-byte loads/stores through a 'Q' view: single instructions on
        # 64-bit targets; x86-64 keeps loads ordered (acquire) and stores ordered (release).
        self._cons = memoryview(consumer).cast("B").cast("Q")
        self._prod = memoryview(producer).cast("B").cast("Q")
        self._data = memoryview(data).cast("B")
        stride = _round8(BPF_RINGBUF_HDR_SZ + self.decoder.size)
        self._stride = stride
        flat = self.decoder._flat
        self._batch_struct = (
            struct.Struct(f"<8x{flat[0]}{stride - 8 - self.decoder.size}x") if flat else None
        )

    def close(self) -> None:
        for v in (self._cons, self._prod, self._data):
            v.release()
        for m in self._maps:
            m.close()
        self._maps = []

    def ready(self) -> bool:
        """Whether records (maybe still busy) sit between the consumer and producer positions."""
        return self._prod[0] != self._cons[0]

    def _scan(self, limit: int, on_record: Callable[[memoryview], None],
              end: int | None = None) -> int:
        """The slow path: record by record from the consumer position up to ``end`` (default:
        the producer position); returns the records handed to ``on_record``."""
        cons_pos = self._cons[0]
        prod_pos = self._prod[0] if end is None else end
        data, mask = self._data, self.mask
        n = 0
        while cons_pos < prod_pos and n < limit:
            off = cons_pos & mask
            hdr = _HDR.unpack_from(data, off)[0]
            if hdr & BPF_RINGBUF_BUSY_BIT:
                break
            length = hdr & ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT)
            if not hdr & BPF_RINGBUF_DISCARD_BIT:
                on_record(data[off + 8 : off + 8 + length])
                n += 1
            cons_pos += _round8(length + BPF_RINGBUF_HDR_SZ)
        self._cons[0] = cons_pos
        return n

    def _whole_records(self, limit: int, end: int) -> tuple[int, int]:
        """(offset, count) of the records of the event's stride between the consumer position
        and ``end``, at most ``limit``.  The data area is mapped twice in a row, so they are
        contiguous in ``_data``; the caller checks their length words (:meth:`_plain`)."""
        cons_pos = self._cons[0]
        return cons_pos & self.mask, max(0, min((end - cons_pos) // self._stride, limit))

    def _plain(self, lengths: list[int]) -> int:
        """How many of the records with these length words the fast paths take as a block:
        committed records of exactly the event size (a busy, discarded or other-size
        record ends the run)."""
        size = self.decoder.size
        return len(lengths) if lengths.count(size) == len(lengths) else _first_other(lengths, size)

    def drain(self, limit: int = _BATCH) -> list:
        out: list = []
        decode = self.decoder.decode

        def slow(rec: memoryview) -> None:
            out.append(decode(rec))

        if self._batch_struct is None:
            self._scan(limit, slow)
            return out
        make = self.decoder.maker()
        unpack = self._batch_struct.iter_unpack
        stride = self._stride
        while len(out) < limit:
            end = self._prod[0]
            off, count = self._whole_records(limit - len(out), end)
            if count:
                count = self._plain(self._data[off : off + count * stride].cast("I")[:: stride // 4]
                                    .tolist())
            if count:
                view = self._data[off : off + count * stride]
                out.extend(starmap(make, unpack(view)))
                view.release()
                self._cons[0] += count * stride
                if self._cons[0] == end:
                    break  # all that was there; the caller comes back for more
            # One record the fast path cannot take (skipping discarded ones), or none left.
            elif not self._scan(1, slow, end):
                break
        return out

    def drain_raw(self, limit: int = _BATCH) -> list:
        out: list = []
        self._scan(limit, lambda rec: out.append(bytes(rec)))
        return out

    def drain_numpy(self, limit: int) -> Any:
        """Up to ``limit`` events as one structured array: what was there when called.

        Stopping at the producer position read on entry bounds the call: a producer
        as fast as the copy cannot keep it looping.
        """
        import numpy as np

        dtype = self.decoder.numpy_dtype()
        size = self.decoder.size
        stride = self._stride
        end = self._prod[0]
        # Copied in the widest unit dividing the event size: the copy is one strided
        # NumPy assignment, several times faster per byte in u64 than in u8 columns.
        unit = next(u for u in (8, 4, 2, 1) if size % u == 0)
        parts = []
        total = 0
        raws: list[bytes] = []
        while total < limit:
            off, count = self._whole_records(limit - total, end)
            if count:  # the length words as one strided array: no Python int per record
                lengths = np.ndarray((count,), dtype="<u4", buffer=self._data, offset=off,
                                     strides=(stride,))
                other = lengths != size
                del lengths
                if other.any():
                    count = int(other.argmax())
            if count:
                rows = np.ndarray((count, size // unit), dtype=f"<u{unit}", buffer=self._data,
                                  offset=off + BPF_RINGBUF_HDR_SZ, strides=(stride, unit))
                parts.append(rows.copy().view(dtype)[:, 0])  # copied before the kernel reuses it
                del rows
                total += count
                self._cons[0] += count * stride
                continue
            # Not a plain record next (discarded, busy, another size) or nothing left:
            # the slow path takes one record, skipping discarded ones.
            raws.clear()
            if not self._scan(1, lambda rec: raws.append(bytes(rec)), end):
                break  # empty, or the next record is still busy
            if len(raws[0]) < size:
                self.decoder.decode(raws[0])  # raises the size error
            parts.append(np.frombuffer(bytearray(raws[0][:size]), dtype=dtype))
            total += 1
        if len(parts) == 1:
            return parts[0]
        # np.concatenate would repack a padded structured dtype: fill one array instead.
        out = np.empty(total, dtype=dtype)
        pos = 0
        for part in parts:
            out[pos : pos + len(part)] = part
            pos += len(part)
        return out


class _PerfRing:
    """One CPU's perf ring: the event fd, its mapping, and the event that flushes its
    lost count (see :meth:`PerfBufReader._flush`)."""

    def __init__(self, fd: int, pages: int) -> None:
        self.fd = fd
        self.mm = mmap.mmap(fd, (1 + pages) * _PAGE, mmap.MAP_SHARED,
                            mmap.PROT_READ | mmap.PROT_WRITE)
        self.meta = memoryview(self.mm)[:_PAGE].cast("Q")
        self.data = memoryview(self.mm)[_PAGE:]
        self.size = pages * _PAGE
        self.flush_fd = -1
        #: seen nearly full since the last flush: the kernel may hold an unreported lost count
        self.dirty = False

    def close(self) -> None:
        self.meta.release()
        self.data.release()
        self.mm.close()
        if self.flush_fd >= 0:
            _sys().close(self.flush_fd)
        _sys().close(self.fd)


class PerfBufReader(_Channel):
    """The reader side of one ``BPF_MAP_TYPE_PERF_EVENT_ARRAY`` (see the module docstring).

    Exact loss accounting: the kernel counts a dropped sample in the ring and
    writes the ``PERF_RECORD_LOST`` record only with the next record that fits
    (``perf_output_begin``), so the count of the last overflow would stay in the
    kernel once the producer stops.  Each ring therefore gets a second, disabled
    ``PERF_COUNT_SW_CPU_CLOCK`` event on the same CPU whose output is redirected
    into it (``PERF_EVENT_IOC_SET_OUTPUT``); when the reader empties a ring that
    was nearly full since the last flush, it enables that event until one of its
    header-only samples lands, which writes the pending lost record first.
    """

    def __init__(self, map_fd: int, event_type: BPFType | None, *, pages: int = 64,
                 wakeup_events: int = 1, cpus: list[int] | None = None) -> None:
        if pages <= 0 or pages & (pages - 1):
            raise ValueError(f"pages must be a power of 2, got {pages}")
        self.map_fd = map_fd
        self.options = (pages, wakeup_events)
        self.decoder = _Decoder(event_type)
        self.lost = 0
        self.rings: list[_PerfRing] = []
        self._slots: list[int] = []
        # Free space below which a dropped sample may have been counted since the last
        # read: the largest sample (perf headers are u16-sized when the event type is
        # unknown) plus the lost record the kernel writes before it.
        sample = 8 + _round8(4 + self.decoder.size) if event_type is not None else 1 << 16
        self._nearly_full = sample + _PERF_LOST_SIZE
        sys_ = _sys()
        try:
            for cpu in cpus if cpus is not None else _online_cpus():
                fd = sys_.perf_event_open(
                    PERF_TYPE_SOFTWARE, PERF_COUNT_SW_BPF_OUTPUT, pid=-1, cpu=cpu,
                    sample_period=1, sample_type=PERF_SAMPLE_RAW,
                    wakeup_events=wakeup_events,
                )
                try:
                    ring = _PerfRing(fd, pages)
                except BaseException:
                    sys_.close(fd)
                    raise
                self.rings.append(ring)
                ring.flush_fd = _open_flush_event(cpu, fd)
                sys_.map_update(map_fd, _U32.pack(cpu), _U32.pack(fd), 0)
                self._slots.append(cpu)
                sys_.perf_event_ioc_enable(fd)
        except BaseException:
            self.close()
            raise
        self.fds = [r.fd for r in self.rings]

    def close(self) -> None:
        sys_ = _sys()
        for cpu in self._slots:
            with contextlib.suppress(Exception):  # the map may be gone already
                sys_.map_delete(self.map_fd, _U32.pack(cpu))
        self._slots = []
        for r in self.rings:
            r.close()
        self.rings = []

    def ready(self) -> bool:
        return any(r.meta[_DATA_HEAD] != r.meta[_DATA_TAIL] for r in self.rings)

    def _each_sample(self, limit: int, on_sample: Callable[[memoryview | bytes], None]) -> int:
        n = 0
        for ring in self.rings:
            n += self._read_ring(ring, limit - n, on_sample)
            if ring.dirty and ring.meta[_DATA_HEAD] == ring.meta[_DATA_TAIL] and self._flush(ring):
                n += self._read_ring(ring, limit - n, on_sample)
        return n

    def _read_ring(self, ring: _PerfRing, limit: int,
                   on_sample: Callable[[memoryview | bytes], None]) -> int:
        meta, data, size = ring.meta, ring.data, ring.size
        head = meta[_DATA_HEAD]
        start = tail = meta[_DATA_TAIL]
        mask = size - 1
        n = 0
        while tail < head and n < limit:
            off = tail & mask
            rtype, _misc, rsize = _PERF_HDR.unpack_from(data, off)
            if off + rsize > size:  # the record wraps around the end of the data area
                rec: memoryview | bytes = bytes(data[off:]) + bytes(data[: off + rsize - size])
            else:
                rec = data[off : off + rsize]
            # Header-only samples are the flush event's (sample_type 0); ours carry raw data.
            if rtype == PERF_RECORD_SAMPLE and rsize > 8:
                raw = _U32.unpack_from(rec, 8)[0]
                on_sample(rec[12 : 12 + raw])
                n += 1
            elif rtype == PERF_RECORD_LOST:
                self.lost += _U64.unpack_from(rec, 16)[0]
            tail += rsize
        # A sample dropped before this store saw the old tail, and the head only grew
        # since: so the ring still looks nearly full from the old tail now.
        if size - (meta[_DATA_HEAD] - start) <= self._nearly_full:
            ring.dirty = True
        meta[_DATA_TAIL] = tail
        return n

    def _flush(self, ring: _PerfRing) -> bool:
        """Make the kernel write the ring's pending ``PERF_RECORD_LOST``; False if it did not
        within the time allowed (the ring stays dirty and is flushed next time)."""
        if ring.flush_fd < 0:
            return False
        sys_ = _sys()
        head = ring.meta[_DATA_HEAD]
        sys_.perf_event_ioc_enable(ring.flush_fd)
        try:
            deadline = time.perf_counter() + _FLUSH_TIMEOUT
            while ring.meta[_DATA_HEAD] == head and time.perf_counter() < deadline:
                pass
        finally:
            sys_.perf_event_ioc_disable(ring.flush_fd)
        if ring.meta[_DATA_HEAD] == head:
            return False
        ring.dirty = False
        return True

    def drain(self, limit: int = _BATCH) -> list:
        out: list = []
        decode = self.decoder.decode
        self._each_sample(limit, lambda rec: out.append(decode(rec)))
        return out

    def drain_raw(self, limit: int = _BATCH) -> list:
        out: list = []
        self._each_sample(limit, lambda rec: out.append(bytes(rec)))
        return out


def _open_flush_event(cpu: int, ring_fd: int) -> int:
    """A disabled CPU-clock event on ``cpu`` writing into ``ring_fd``'s ring; -1 if the
    kernel refuses (loss is then reported only with the next sample, as before)."""
    sys_ = _sys()
    try:
        fd = sys_.perf_event_open(PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK, pid=-1, cpu=cpu,
                                  sample_period=_FLUSH_PERIOD_NS, sample_type=0, disabled=True)
    except OSError:
        return -1
    try:
        sys_.perf_event_ioc_set_output(fd, ring_fd)
    except OSError:
        sys_.close(fd)
        return -1
    return fd


def _first_other(values: list[int], value: int) -> int:
    """Index of the first item of ``values`` that is not ``value``."""
    for i, v in enumerate(values):
        if v != value:
            return i
    return len(values)


def _online_cpus() -> list[int]:
    with open("/sys/devices/system/cpu/online") as f:
        text = f.read().strip()
    cpus: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        cpus.extend(range(int(lo), int(hi or lo) + 1))
    return cpus


# --------------------------------------------------------------------------- the reader


class EventReader:
    """Reads one or more event channels (ring buffers, perf buffers) on one epoll.

    ``EventReader(rb1, rb2, perf)``; :meth:`poll` yields ``(channel, event)``
    pairs, :meth:`consume` calls ``callback(channel, event)``.  Each channel
    must be loaded (a program using it was loaded).  A single channel's own
    ``events.poll()`` / ``consume()`` / ``read_numpy()`` use a private reader.
    Close it (or use it as a context manager) to release the epoll fd; the
    channels' mappings belong to the channels.
    """

    def __init__(self, *channels: Any) -> None:
        if not channels:
            raise TypeError("EventReader needs at least one RingBuf or PerfEventArray")
        self.channels = list(channels)
        self._epoll = select.epoll()
        self._hot = False
        try:
            self._readers = [ch._event_reader() for ch in self.channels]
            for r in self._readers:
                for fd in r.fds:
                    self._epoll.register(fd, select.EPOLLIN)
        except BaseException:
            self._epoll.close()
            raise

    def close(self) -> None:
        """Release the epoll fd."""
        self._epoll.close()

    def __enter__(self) -> EventReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def lost(self) -> int:
        """Samples the kernel reported lost on the perf channels (ring buffers count none)."""
        return sum(r.lost for r in self._readers)

    def _ready(self) -> bool:
        return any(r.ready() for r in self._readers)

    def _wait(self, timeout: float | None) -> None:
        """Until a channel has data or ``timeout`` seconds pass (None: forever)."""
        if self._hot:
            deadline = time.perf_counter() + min(_SPIN, timeout if timeout is not None else _SPIN)
            while time.perf_counter() < deadline:
                if self._ready():
                    return
        start = time.perf_counter()
        self._epoll.poll(-1 if timeout is None else timeout)
        # Hot: the producer was quick to come back, so spinning next time likely pays.
        self._hot = time.perf_counter() - start < _SPIN * 10

    def _batches(self, timeout: float | None, limit: int) -> Iterator[tuple[int, list]]:
        """(channel index, events) batches: what is ready; if nothing, what comes within timeout.

        One pass drains every channel up to what it held when the pass began
        (plus what arrives meanwhile, up to ``limit``), so a busy producer
        cannot keep ``poll()`` from returning.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            got = False
            for i, r in enumerate(self._readers):
                budget = limit
                while budget > 0:
                    batch = r.take(min(budget, _CHUNK))
                    if not batch:
                        break
                    got = True
                    budget -= len(batch)
                    yield i, batch
            if got or timeout == 0:
                return
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return
            # Woken for a record still busy, or by a perf ring's non-sample record:
            # read again and wait for the rest of the timeout.
            self._wait(remaining)

    def poll(self, timeout: float | None = None, limit: int = 1 << 20) -> Iterator[tuple[Any, Any]]:
        """Yield ``(channel, event)`` for the events ready now, waiting up to ``timeout``
        seconds (None: forever) when there are none, then return."""
        for i, batch in self._batches(timeout, limit):
            ch = self.channels[i]
            for ev in batch:
                yield ch, ev

    def consume(self, callback: Callable[[Any, Any], Any], timeout: float | None = None,
                limit: int = 1 << 20) -> int:
        """Call ``callback(channel, event)`` for each event :meth:`poll` would yield; the count."""
        n = 0
        for i, batch in self._batches(timeout, limit):
            ch = self.channels[i]
            for ev in batch:
                callback(ch, ev)
            n += len(batch)
        return n


class _SingleReader(EventReader):
    """The private reader behind a channel's own ``poll()``: yields bare events."""

    def poll(self, timeout: float | None = None, limit: int = 1 << 20) -> Iterator[Any]:
        it: Iterator[Any] = iter(())
        try:
            for _, batch in self._batches(timeout, limit):
                it = iter(batch)
                yield from it
        finally:
            # Events decoded (so consumed from the kernel) but not yet handed out when
            # the caller stopped iterating are yielded first next time.
            rest = list(it)
            if rest:
                self._readers[0].pending = rest

    def consume(self, callback: Callable[[Any], Any], timeout: float | None = None,
                limit: int = 1 << 20) -> int:
        n = 0
        for _, batch in self._batches(timeout, limit):
            for ev in batch:
                callback(ev)
            n += len(batch)
        return n

    def read_numpy(self, max_events: int | None = None, timeout: float = 0) -> Any:
        r = self._readers[0]
        limit = (1 << 62) if max_events is None else max_events
        arr = r.take_numpy(limit)
        if not len(arr) and timeout != 0:
            self._wait(timeout)
            arr = r.take_numpy(limit)
        return arr

