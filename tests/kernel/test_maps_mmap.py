"""Zero-copy NumPy views of mmapable arrays: a program's increments show up, and back."""

from __future__ import annotations

import errno

import numpy as np
import pytest

import pyebpf as bpf
from pyebpf import u16, u32, u64
from pyebpf.errors import MapError


class Pair(bpf.Struct):
    hits: u32
    tag: u16


counts = bpf.ArrayMap(u64, 8, mmapable=True)
pairs = bpf.ArrayMap(Pair, 4, mmapable=True)


@bpf.xdp
def bump(ctx) -> int:
    counts.increment(2)
    counts.increment(5, 10)
    p = pairs.lookup(1)
    if p is not None:
        p.hits += 1
    return bpf.XDP_PASS


def test_numpy_view_sees_program_writes_and_program_sees_ours() -> None:
    bump.load()
    try:
        view = counts.numpy_view()
        assert view.dtype == np.dtype("<u8") and view.shape == (8,) and not view.any()
        bump.test_run(b"\0" * 64, repeat=3)
        assert view.tolist() == [0, 0, 3, 0, 0, 30, 0, 0]
        view[2] = 100  # no syscall: the kernel's memory
        assert counts[2] == 100
        bump.test_run(b"\0" * 64)
        assert view[2] == 101 and counts[5] == 40
        counts[7] = 9  # a syscall write shows in the view
        assert view[7] == 9

        pv = pairs.numpy_view()  # 6-byte values, 8 bytes apart
        assert pv.strides == (8,) and pv.dtype.names == ("hits", "tag")
        pv["tag"][1] = 77
        bump.test_run(b"\0" * 64, repeat=2)
        assert pv["hits"].tolist() == [0, 6, 0, 0] and pairs[1] == Pair(hits=6, tag=77)
    finally:
        bump.close()
        counts.close()
        pairs.close()


def test_numpy_view_needs_mmapable() -> None:
    m = bpf.ArrayMap(u64, 4, name="t_nommap").create()
    try:
        with pytest.raises(MapError, match="mmapable=True"):
            m.numpy_view()
    finally:
        m.close()
    assert bpf.ArrayMap(u64, 4, mmapable=True).flags & 1024


def test_freeze_makes_user_writes_fail_and_views_read_only():
    import gc

    arr = bpf.ArrayMap(bpf.u64, 4, mmapable=True)
    arr.create()
    try:
        arr[1] = 11
        view = arr.numpy_view()
        with pytest.raises(MapError, match="numpy_view"):
            arr.freeze()  # a writable mapping is open
        del view
        gc.collect()
        arr.freeze()
        with pytest.raises(MapError) as exc:
            arr[2] = 5
        assert exc.value.errno == errno.EPERM
        ro = arr.numpy_view()
        assert ro.flags.writeable is False and list(ro) == [0, 11, 0, 0]
        with pytest.raises(ValueError):
            ro[0] = 1
        assert arr[1] == 11
    finally:
        arr.close()
