"""Plain stores into array and struct globals (bpf.Global), and reads of the same forms.

Elements, fields, nested fields, whole values, augmented assignments and
variable indexes (bounds-checked: out of range, a read gives 0 and a write
does nothing). Programs run for real (BPF_PROG_TEST_RUN); Python writes the
inputs first, through ``.value`` and ``.numpy_view()``, and every result is
checked exactly.
"""

from __future__ import annotations

import numpy as np
import pytest

import pyebpf as bpf
from pyebpf import char, u16, u32, u64

PACKET = b"\0" * 64


class Inner(bpf.Struct):
    a: u16
    b: u32


class Rec(bpf.Struct):
    x: u32
    y: u64
    inner: Inner
    arr: u32[3]
    on: bool
    tag: char[8]


slots = bpf.Global(u32[4])                  # .bss
wide = bpf.Global(u64[3], [10, 20, 30])     # .data
rec = bpf.Global(Rec)
twin = bpf.Global(Rec)
cells = bpf.Global(Inner[4])
out = bpf.Global(u64[7])
index = bpf.Global(u32)                     # Python sets it: a variable index
amount = bpf.Global(u32, 1)
BASE = bpf.Const(u32[2], [100, 200])

VARIABLES = (slots, wide, rec, twin, cells, out, index, amount, BASE)


@bpf.xdp
def elements(ctx) -> int:
    slots.value[0] = 7                  # a constant index
    slots[-1] = BASE[1]                 # `g` names the variable too; Python's negative index
    i = index.value
    slots.value[i] = 9                  # bounds-checked: nothing happens when i >= 4
    wide.value[i] += amount.value       # read 0 and write nothing when i >= 3
    wide[1] *= 2
    return bpf.XDP_PASS


@bpf.xdp
def cell_fields(ctx) -> int:
    i = index.value
    cells.value[i].b += amount.value    # a field of an element at a variable index
    cells.value[0] = Inner(a=1, b=2)
    return bpf.XDP_PASS


@bpf.xdp
def fields(ctx) -> int:
    rec.value.x = 5
    rec.y += u64(rec.value.x) << 32     # read-modify-write of a field Python set
    rec.value.inner.b = rec.value.inner.a + 1
    rec.value.arr[2] = 3
    rec.value.arr[index.value] += 10    # a variable index into a field
    rec.value.on = rec.value.inner.a > 5
    return bpf.XDP_PASS


@bpf.xdp
def whole(ctx) -> int:
    local = Rec(x=1, y=2, tag=b"abc")
    local.inner.a = 3
    local.arr[1] = 4
    rec.value = local                   # a local struct, padding and all
    twin.value = rec.value              # one global into another
    twin.value.x += 1                   # then only the copy changes
    rec.value.inner = Inner(a=7, b=8)   # a nested struct
    slots.value = u32[4]()              # a whole array
    return bpf.XDP_PASS


@bpf.xdp
def reads(ctx) -> int:
    i = index.value
    out.value[0] = slots.value[1]
    out.value[1] = slots.value[i]       # 0 when i >= 4
    out.value[2] = rec.value.inner.b
    out.value[3] = rec.value.arr[i]     # 0 when i >= 3
    out.value[4] = rec.y + BASE[0]
    out.value[5] = 1 if rec.value.on else 0
    local = rec.value                   # a whole struct read into a local
    out.value[6] = local.x + local.inner.a
    return bpf.XDP_DROP if rec.value.tag == b"drop" else bpf.XDP_PASS


def bump(r, by):
    r.x += by                           # an inlined function writing through a pointer
    r.arr[0] = r.x


@bpf.xdp
def through_function(ctx) -> int:
    bump(rec.value, amount.value)
    for k in range(4):                  # a range() counter: in bounds, no check
        slots.value[k] = u32(k) * amount.value
    return bpf.XDP_PASS


@pytest.fixture
def load():
    """Load programs (binding the variables to their maps); close everything afterwards."""
    loaded: list[bpf.Program] = []

    def loader(prog: bpf.Program) -> bpf.Program:
        prog.load()
        loaded.append(prog)
        return prog

    yield loader
    for prog in loaded:
        prog.close()
    for var in VARIABLES:
        var.close()


def run(prog: bpf.Program) -> int:
    return prog.test_run(PACKET).retval


def test_element_stores_constant_negative_and_variable_index(load) -> None:
    load(elements)
    index.value = 2
    amount.value = 5
    run(elements)
    assert slots.value == [7, 0, 9, 200]
    assert wide.value == [10, 40, 35]

    slots.numpy_view()[:] = [1, 2, 3, 4]  # what Python writes is what the program changes
    index.value = 1
    run(elements)
    assert slots.value == [7, 9, 3, 200]
    assert wide.value == [10, 90, 35]    # (40 + 5) * 2: the statements run in order


@pytest.mark.parametrize("i", [3, 4, 1000, 0xFFFFFFFF])
def test_out_of_range_variable_index_writes_nothing(load, i: int) -> None:
    load(elements)
    slots.value = [1, 2, 3, 4]
    index.value = i
    run(elements)
    # slots[3] exists for i == 3; wide has 3 elements, so wide[i] never does.
    assert slots.value == [7, 2, 3, 9 if i == 3 else 200]
    assert wide.value == [10, 40, 30]


def test_fields_of_array_elements_at_a_variable_index(load) -> None:
    load(cell_fields)
    cells.value = [Inner(a=9, b=10)] * 4
    index.value = 2
    amount.value = 5
    run(cell_fields)
    assert cells.value == [Inner(a=1, b=2), Inner(a=9, b=10), Inner(a=9, b=15), Inner(a=9, b=10)]
    index.value = 4
    run(cell_fields)
    assert cells.value == [Inner(a=1, b=2), Inner(a=9, b=10), Inner(a=9, b=15), Inner(a=9, b=10)]


def test_field_and_nested_field_stores_and_augmented_assignment(load) -> None:
    load(fields)
    rec.value = Rec(x=99, y=3, inner=Inner(a=41, b=0), arr=[1, 2, 0], tag=b"keep")
    index.value = 0
    run(fields)
    assert rec.value == Rec(x=5, y=(5 << 32) + 3, inner=Inner(a=41, b=42), arr=[11, 2, 3],
                            on=True, tag=b"keep")

    view = rec.numpy_view()
    view["inner"]["a"] = 2
    view["y"] = 1
    index.value = 2
    run(fields)
    assert rec.value == Rec(x=5, y=(5 << 32) + 1, inner=Inner(a=2, b=3), arr=[11, 2, 13],
                            on=False, tag=b"keep")

    index.value = 3                       # out of range for arr: arr stays as it was
    run(fields)
    assert rec.value.arr == [11, 2, 3]


def test_whole_value_stores(load) -> None:
    load(whole)
    rec.value = Rec(x=0xFFFFFFFF, y=2**64 - 1, inner=Inner(a=0xFFFF, b=0xFFFFFFFF),
                    arr=[9, 9, 9], on=True, tag=b"12345678")
    rec.numpy_view().reshape(1).view(np.uint8)[:] = 0xFF  # the padding too
    slots.value = [5, 6, 7, 8]
    run(whole)
    assert rec.value == Rec(x=1, y=2, inner=Inner(a=7, b=8), arr=[0, 4, 0], on=False,
                            tag=b"abc")
    assert twin.value == Rec(x=2, y=2, inner=Inner(a=3, b=0), arr=[0, 4, 0], on=False,
                             tag=b"abc")
    assert slots.value == [0, 0, 0, 0]
    # Every byte came from the local, which starts zeroed: no stale padding either.
    assert rec.numpy_view().tobytes() == bytes(Rec(x=1, y=2, inner=Inner(a=7, b=8),
                                                   arr=[0, 4, 0], tag=b"abc"))


def test_reads_of_elements_fields_and_whole_values_python_wrote(load) -> None:
    load(reads)
    slots.value = [11, 22, 33, 44]
    rec.value = Rec(x=6, y=1000, inner=Inner(a=4, b=77), arr=[5, 6, 7], on=True, tag=b"drop")
    index.value = 2
    assert run(reads) == bpf.XDP_DROP
    assert out.value == [22, 33, 77, 7, 1100, 1, 10]

    index.value = 3                       # in range for slots, not for arr
    rec.numpy_view()["on"] = False
    rec.numpy_view()["tag"] = b"pass"
    assert run(reads) == bpf.XDP_PASS
    assert out.value == [22, 44, 77, 0, 1100, 0, 10]

    index.value = 4                       # out of range for both
    assert run(reads) == bpf.XDP_PASS
    assert out.value[1] == 0 and out.value[3] == 0


def test_stores_through_an_inlined_function_and_a_range_loop(load) -> None:
    load(through_function)
    rec.value = Rec(x=10)
    amount.value = 3
    run(through_function)
    run(through_function)
    assert rec.value.x == 16 and rec.value.arr == [16, 0, 0]
    assert slots.value == [0, 3, 6, 9]
