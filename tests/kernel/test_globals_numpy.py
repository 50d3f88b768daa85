"""Zero-copy NumPy views of global data: bpf.Global/bpf.Const and clang objects' sections.

Programs run for real (BPF_PROG_TEST_RUN); every value is checked exactly, on
both sides: what the program wrote shows in the view, and what Python wrote
through the view is what the program reads on its next run.
"""

from __future__ import annotations

import gc
import mmap
from pathlib import Path

import numpy as np
import pytest

import pyebpf as bpf
from pyebpf import u32, u64
from pyebpf._native import syscalls

DATA = Path(__file__).parent.parent / "data"
PACKET = b"\0" * 64


class Tally(bpf.Struct):
    packets: u64
    last: u32
    flags: u32


hits = bpf.Global(u64)              # .bss
step = bpf.Global(u64, 1)           # .data: Python sets it, the program adds it
slots = bpf.Global(u32[4])          # .bss
tally = bpf.Global(Tally)           # .bss
SCALE = bpf.Const(u32[2], [3, 5])   # .rodata


@bpf.xdp
def writer(ctx) -> int:
    hits.value += step.value
    slots.value[2 - (hits.value & 1)] += SCALE[0]   # odd hits: slot 1, even: slot 2
    tally.value.packets += step.value
    tally.value.last = u32(hits.value)
    bpf.atomic_or(tally.value.flags, SCALE[1])      # an atomic works on a global's field too
    return bpf.XDP_PASS


def _bpf_map_mapped(address: int) -> bool:
    """Whether ``address`` lies in an mmap of a BPF map (``anon_inode:bpf-map``)."""
    with open("/proc/self/maps") as f:
        for line in f:
            if line.rstrip().endswith("anon_inode:bpf-map"):
                lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
                if lo <= address < hi:
                    return True
    return False


def _address(view: np.ndarray) -> int:
    return view.__array_interface__["data"][0]


@pytest.fixture
def loaded_writer():
    writer.load()
    try:
        yield writer
    finally:
        writer.close()
        for var in (hits, step, slots, tally, SCALE):
            var.close()


def test_views_have_the_variables_shapes_and_dtypes(loaded_writer) -> None:
    h, s, t, c = hits.numpy_view(), slots.numpy_view(), tally.numpy_view(), SCALE.numpy_view()
    assert (h.shape, h.dtype) == ((), np.dtype("<u8"))
    assert (s.shape, s.dtype) == ((4,), np.dtype("<u4"))
    assert t.shape == () and t.dtype == Tally.dtype and t.dtype.names == ("packets", "last", "flags")
    assert c.tolist() == [3, 5]
    assert h.flags.writeable and s.flags.writeable and t.flags.writeable
    assert not c.flags.writeable


def test_program_writes_show_in_the_views_and_view_writes_reach_the_program(loaded_writer) -> None:
    h, st, s, t = hits.numpy_view(), step.numpy_view(), slots.numpy_view(), tally.numpy_view()
    writer.test_run(PACKET, repeat=3)  # hits 1, 2, 3: slots 1, 2, 1 get SCALE[0]
    assert h[()] == 3 and s.tolist() == [0, 6, 3, 0]
    assert t.item() == (3, 3, 5) and tally.value == Tally(packets=3, last=3, flags=5)

    st[()] = 10                       # the program adds what Python wrote
    t["packets"] = 1000
    s[3] = 77
    writer.test_run(PACKET)           # hits 13 (odd): slot 1
    assert step.value == 10 and h[()] == 13 and hits.value == 13
    assert s.tolist() == [0, 9, 3, 77] and slots.value == [0, 9, 3, 77]
    assert t.item() == (1010, 13, 5)

    h[()] = 100                       # 110 is even: slot 2 this time
    writer.test_run(PACKET)
    assert h[()] == 110 and s.tolist() == [0, 9, 6, 77] and t["last"] == 110


def test_views_share_memory_with_value(loaded_writer) -> None:
    h = hits.numpy_view()
    hits.value = 41                   # through the variable's own mmap
    assert h[()] == 41
    h += 1                            # in place: no copy anywhere
    assert hits.value == 42 and hits.numpy_view()[()] == 42


def test_const_view_is_read_only(loaded_writer) -> None:
    c = SCALE.numpy_view()
    with pytest.raises(ValueError, match="read-only"):
        c[0] = 9
    with pytest.raises(ValueError):
        c.flags.writeable = True
    with pytest.raises(bpf.BPFError, match="read-only"):
        SCALE.value = [9, 9]
    assert SCALE.value == [3, 5] and c.tolist() == [3, 5]


def test_constants_set_at_load_show_in_the_view() -> None:
    writer.load(constants={"SCALE": [4, 6]})
    try:
        assert SCALE.numpy_view().tolist() == [4, 6]
        writer.test_run(PACKET)           # hits 1: slot 1 gets 4, flags get 6
        assert slots.numpy_view().tolist() == [0, 4, 0, 0] and tally.value.flags == 6
    finally:
        writer.close()
        for var in (hits, step, slots, tally, SCALE):
            var.close()


def test_view_before_load_is_a_clear_error() -> None:
    never = bpf.Global(u64, name="never_loaded")
    with pytest.raises(bpf.BPFError, match="never_loaded is not loaded"):
        never.numpy_view()


def test_views_outlive_close_and_reload(loaded_writer) -> None:
    writer.test_run(PACKET, repeat=2)
    old = hits.numpy_view()
    address = _address(old)
    assert old[()] == 2 and _bpf_map_mapped(address)

    # A reload binds the variable to a fresh map; the old view keeps the old one
    # mapped (mmap.close() refuses while it exists) and stays readable.
    writer.close()
    writer.load()
    writer.test_run(PACKET)
    assert hits.value == 1 and hits.numpy_view()[()] == 1
    assert old[()] == 2 and _bpf_map_mapped(address)

    hits.close()
    with pytest.raises(bpf.BPFError, match="not loaded"):
        hits.numpy_view()
    assert old[()] == 2               # still valid memory after close()

    del old
    gc.collect()
    assert not _bpf_map_mapped(address)  # the last view took the mapping with it


def test_objects_of_our_programs_have_globals_too() -> None:
    with bpf.load(writer) as obj:
        g = obj.globals
        assert set(g) == {"hits", "step", "slots", "tally", "SCALE"}
        assert set(g.sections) == {".bss", ".data", ".rodata"}
        bss = g.numpy_view(".bss")
        assert set(bss.dtype.names) == {"hits", "slots", "tally"}
        writer.test_run(PACKET)
        assert bss["hits"] == 1 and g["hits"].value == 1 and hits.value == 1
        assert g["tally"].value.flags == 5 and g["SCALE"].numpy_view().tolist() == [3, 5]
    for var in (hits, step, slots, tally, SCALE):
        var.close()


# --------------------------------------------------------------------------- clang object


@pytest.fixture
def clang_obj():
    with bpf.Object.from_file(DATA / "globals.o") as obj:
        yield obj


def test_clang_sections_are_mmapable_and_rodata_is_frozen(clang_obj) -> None:
    for name in (".rodata", ".data", ".bss"):
        info = syscalls.map_info(clang_obj.maps[name].fd)
        assert info["map_flags"] & bpf.maps.BPF_F_MMAPABLE, name
    # Frozen: the kernel refuses a writable mapping (bpf_map_mmap: EPERM).
    with pytest.raises(PermissionError):
        mmap.mmap(clang_obj.maps[".rodata"].fd, mmap.PAGESIZE, mmap.MAP_SHARED,
                  mmap.PROT_READ | mmap.PROT_WRITE)


def test_clang_section_views_are_typed_from_btf(clang_obj) -> None:
    g = clang_obj.globals
    assert g.sections == (".rodata", ".data", ".bss")
    ro, data, bss = (g.numpy_view(s) for s in g.sections)
    assert ro.shape == data.shape == bss.shape == ()
    assert ro.dtype.names == ("scale", "limits") and ro.dtype.itemsize == 24
    assert data.dtype.names == ("counter", "deltas", "label")
    assert bss.dtype.names == ("runs", "input", "history", "last")
    assert bss.dtype["last"].names == ("x", "y", "tag")
    assert bss.dtype.fields["history"][0] == np.dtype(("<u4", (4,)))
    # Initial values, straight from the ELF's sections
    assert ro["scale"] == 3 and ro["limits"].tolist() == [10, 20]
    assert data["counter"] == 5 and data["deltas"].tolist() == [1, -2, 3, -4]
    assert data["label"] == b"abc"
    assert bss["runs"] == bss["input"] == 0 and not bss["history"].any()
    assert bss["last"].item() == (0, 0, 0)
    assert data.flags.writeable and bss.flags.writeable and not ro.flags.writeable


def test_clang_program_and_python_share_the_sections(clang_obj) -> None:
    g = clang_obj.globals
    data, bss = g.numpy_view(".data"), g.numpy_view(".bss")
    step = clang_obj.programs["step"]
    bss["input"] = 7                  # read by the program's next runs
    assert step.test_run(PACKET, repeat=2).retval == bpf.XDP_PASS
    assert bss["runs"] == 2 and bss["history"].tolist() == [21, 21, 0, 0]
    assert bss["last"].item() == (7, -7, 22)
    assert data["counter"] == 11 and data["deltas"].tolist() == [2, -1, 3, -4]

    data["counter"] = 100             # the program adds scale (3) to what we wrote
    g["input"].numpy_view()[()] = 9   # per-variable view, same memory
    step.test_run(PACKET)
    assert data["counter"] == 103 and bss["history"].tolist() == [21, 21, 27, 0]
    assert g["counter"].value == 103 and g["last"].value.y == -9


def test_clang_per_variable_access(clang_obj) -> None:
    g = clang_obj.globals
    assert list(g) == ["scale", "limits", "counter", "deltas", "label", "runs", "input",
                       "history", "last"]
    assert isinstance(g["scale"], bpf.Const) and isinstance(g["counter"], bpf.Global)
    assert g["label"].value == "abc" and g["deltas"].value == [1, -2, 3, -4]
    g["label"].value = "xyz"
    assert g.numpy_view(".data")["label"] == b"xyz"
    with pytest.raises(bpf.BPFError, match="read-only"):
        g["scale"].value = 1
    with pytest.raises(ValueError, match="read-only"):
        g["limits"].numpy_view()[0] = 1
    with pytest.raises(KeyError, match="no global variable 'nope'"):
        g["nope"]
    with pytest.raises(bpf.BPFError, match="no global-data section '.kconfig'"):
        g.numpy_view(".kconfig")


def test_clang_views_outlive_the_object() -> None:
    obj = bpf.Object.from_file(DATA / "globals.o")
    bss = obj.globals.numpy_view(".bss")
    counter = obj.globals["counter"]
    bss["runs"] = 5
    obj.close()
    assert bss["runs"] == 5           # the view kept its mapping
    with pytest.raises(bpf.BPFError, match="closed"):
        _ = obj.globals
    with pytest.raises(bpf.BPFError, match="not loaded"):
        _ = counter.value
