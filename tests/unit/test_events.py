"""Ring buffer parsing without a kernel: a ring emulated in plain memory.

The emulation writes records the way the kernel does (8-byte header
``len | BUSY | DISCARD``, ``pg_off``; 8-aligned) into a data area that is
mirrored twice in a row, as the kernel's double mapping shows it.
"""

from __future__ import annotations

import struct

import numpy as np
import pytest

import pyebpf as bpf
from pyebpf import char, u8, u16, u32, u64
from pyebpf.events import (
    BPF_RINGBUF_BUSY_BIT,
    BPF_RINGBUF_DISCARD_BIT,
    RingBufReader,
    _Decoder,
)


class Event(bpf.Struct):
    pid: u32
    flag: u8
    comm: char[8]
    port: u16
    vals: u32[3]
    seq: u64


class FakeRing:
    """Producer side of a ring buffer in memory, and a reader over it."""

    def __init__(self, size: int = 256, event=Event) -> None:
        self.size = size
        self.consumer = bytearray(8)
        self.producer = bytearray(8)
        self.data = bytearray(2 * size)
        self.pos = 0
        self.reader = RingBufReader(-1, size, bpf.types.as_type(event) if event else None,
                                    buffers=(self.consumer, self.producer, self.data))

    def _write(self, off: int, raw: bytes) -> None:
        for i, b in enumerate(raw):
            j = (off + i) % self.size
            self.data[j] = self.data[j + self.size] = b

    def push(self, payload: bytes, *, busy: bool = False, discard: bool = False) -> int:
        """Append a record (committed unless ``busy``); returns its position."""
        start = self.pos
        hdr = len(payload) | (BPF_RINGBUF_BUSY_BIT if busy else 0) | (
            BPF_RINGBUF_DISCARD_BIT if discard else 0)
        self._write(start, struct.pack("<II", hdr, 0) + payload)
        self.pos += (len(payload) + 8 + 7) & ~7
        self.producer[:] = struct.pack("<Q", self.pos)
        return start

    def commit(self, start: int) -> None:
        """Clear the busy bit of the record at ``start``."""
        off = start % self.size
        hdr = struct.unpack_from("<I", self.data, off)[0] & ~BPF_RINGBUF_BUSY_BIT
        self._write(off, struct.pack("<I", hdr))

    @property
    def consumed(self) -> int:
        return struct.unpack("<Q", self.consumer)[0]


def ev(seq: int) -> Event:
    return Event(pid=seq * 10, flag=1, comm="ab", port=80, vals=[1, 2, seq], seq=seq)


def test_decoder_matches_from_buffer():
    e = ev(7)
    d = _Decoder(Event.__bpf_type__)
    got = d.decode(bytes(e))
    assert got == e and got == Event.from_buffer(bytes(e))
    assert repr(got) == repr(e)
    with pytest.raises(bpf.MapError, match="shorter"):
        d.decode(bytes(e)[:-1])


def test_records_in_order_and_consumer_advances():
    ring = FakeRing()
    for i in range(3):
        ring.push(bytes(ev(i)))
    assert ring.reader.drain() == [ev(0), ev(1), ev(2)]
    assert ring.consumed == ring.pos
    assert ring.reader.drain() == []


def test_busy_record_stops_the_batch_until_committed():
    ring = FakeRing()
    ring.push(bytes(ev(1)))
    busy = ring.push(bytes(ev(2)), busy=True)
    ring.push(bytes(ev(3)))
    assert ring.reader.drain() == [ev(1)]
    assert ring.reader.drain() == []
    ring.commit(busy)
    assert ring.reader.drain() == [ev(2), ev(3)]


def test_discarded_records_are_skipped():
    ring = FakeRing()
    ring.push(bytes(ev(1)))
    ring.push(bytes(ev(2)), discard=True)
    ring.push(bytes(ev(3)))
    assert ring.reader.drain() == [ev(1), ev(3)]
    assert ring.consumed == ring.pos


def test_records_across_the_end_of_the_ring_read_whole():
    ring = FakeRing(size=256)  # 48-byte records: the 6th one straddles the end
    seqs = list(range(20))
    got = []
    for s in seqs:
        ring.push(bytes(ev(s)))
        got.extend(ring.reader.drain())
    assert got == [ev(s) for s in seqs]


def test_read_numpy_fast_path_and_slow_records():
    ring = FakeRing(size=1024)
    ring.push(bytes(ev(1)))
    ring.push(bytes(ev(2)))
    ring.push(bytes(ev(3)), discard=True)
    ring.push(bytes(ev(4)) + b"extra!!!")  # a longer record: the event is its prefix
    ring.push(bytes(ev(5)))
    busy = ring.push(bytes(ev(6)), busy=True)
    arr = ring.reader.drain_numpy(100)
    assert arr.dtype == Event.dtype
    assert arr["seq"].tolist() == [1, 2, 4, 5]
    assert arr["comm"].tolist() == [b"ab"] * 4
    assert arr["vals"][3].tolist() == [1, 2, 5]
    ring.commit(busy)
    assert ring.reader.drain_numpy(100)["seq"].tolist() == [6]
    assert ring.reader.drain_numpy(100).shape == (0,)


def test_read_numpy_respects_max_events():
    ring = FakeRing(size=1024)
    for i in range(10):
        ring.push(bytes(ev(i)))
    assert ring.reader.drain_numpy(4)["seq"].tolist() == [0, 1, 2, 3]
    assert ring.reader.drain(3) == [ev(4), ev(5), ev(6)]
    assert ring.reader.drain_numpy(100)["seq"].tolist() == [7, 8, 9]


def test_int_and_untyped_channels():
    ring = FakeRing(event=u64)
    ring.push(struct.pack("<Q", 5))
    ring.push(struct.pack("<Q", 6))
    assert ring.reader.drain() == [5, 6]
    raw = FakeRing(event=None)
    raw.push(b"abc")
    raw.push(b"defghijkl")
    assert raw.reader.drain() == [b"abc", b"defghijkl"]


def test_numpy_dtype_matches_struct_layout():
    assert _Decoder(Event.__bpf_type__).numpy_dtype().itemsize == Event.__bpf_type__.size
    assert np.dtype(Event.dtype) == _Decoder(Event.__bpf_type__).numpy_dtype()
