"""Single-element map commands: the native builtins and the cffi path, on real maps.

Both paths must agree with each other and with the kernel on every outcome (found,
absent, refused); the native one must also survive threads, bad arguments and a
damaged code cache, and be found in the cache by the next process.
"""

import errno
import json
import os
import struct
import subprocess
import sys
import threading

import pytest

import pyebpf as bpf
from pyebpf import maps as M
from pyebpf._native import fastpath, syscalls
from pyebpf.errors import MapError
from pyebpf.maps import MapKeyError

U32, U64 = struct.Struct("<I"), struct.Struct("<Q")
BPF_NOEXIST, BPF_EXIST = 1, 2


@pytest.fixture
def table():
    m = bpf.HashMap(bpf.u32, bpf.u64, 64)
    m.create()
    yield m
    m.close()


@pytest.fixture(params=["native", "cffi"])
def ops(request, table):
    native = request.param == "native"
    if native:
        assert fastpath.prepare(), fastpath._failed
    o = syscalls.ElemOps(table.fd, 4, 8, native=native)
    kind = type(o.lookup).__name__
    assert (kind == "builtin_function_or_method") == native
    return o


def test_lookup_update_delete_outcomes(ops, table):
    assert ops.lookup(U32.pack(7)) is None
    assert ops.update(U32.pack(7), U64.pack(70), 0) is None
    assert U64.unpack(ops.lookup(U32.pack(7)))[0] == 70
    assert table[7] == 70  # the kernel holds what the path wrote
    table[8] = 80
    assert U64.unpack(ops.lookup(U32.pack(8)))[0] == 80
    with pytest.raises(OSError) as exc:
        ops.update(U32.pack(7), U64.pack(1), BPF_NOEXIST)
    assert exc.value.errno == errno.EEXIST
    with pytest.raises(OSError) as exc:
        ops.update(U32.pack(9), U64.pack(1), BPF_EXIST)
    assert exc.value.errno == errno.ENOENT
    # a refused update leaves flags at 0: the next lookup (flags must be 0) works
    assert U64.unpack(ops.lookup(U32.pack(7)))[0] == 70
    assert ops.delete(U32.pack(7)) is True
    assert ops.delete(U32.pack(7)) is False
    assert 7 not in table and table[8] == 80


def test_next_key_walks_every_key(ops, table):
    assert ops.next_key(None) is None  # empty map
    for k in range(10):
        table[k] = k
    seen, key = [], None
    while (key := ops.next_key(key)) is not None:
        seen.append(U32.unpack(key)[0])
    assert sorted(seen) == list(range(10))
    # a key that is gone restarts the walk from the first key (kernel semantics)
    assert ops.next_key(U32.pack(99)) == ops.next_key(None)
    # the walk left the attr pointing at the key and value buffers again
    assert U64.unpack(ops.lookup(U32.pack(3)))[0] == 3
    assert ops.update(U32.pack(3), U64.pack(33), 0) is None and table[3] == 33


def test_full_map_is_e2big(ops):
    small = bpf.HashMap(bpf.u32, bpf.u32, 2)
    small.create()
    try:
        o = syscalls.ElemOps(small.fd, 4, 4, native=ops.native)
        o.update(U32.pack(1), U32.pack(1), 0)
        o.update(U32.pack(2), U32.pack(2), 0)
        with pytest.raises(OSError) as exc:
            o.update(U32.pack(3), U32.pack(3), 0)
        assert exc.value.errno == errno.E2BIG
        with pytest.raises(MapError, match="full"):
            small[3] = 3
    finally:
        small.close()


def test_native_checks_its_arguments(table):
    assert fastpath.prepare()
    o = syscalls.ElemOps(table.fd, 4, 8)
    with pytest.raises(ValueError, match="wrong size"):
        o.lookup(b"abc")
    with pytest.raises(ValueError, match="wrong size"):
        o.update(U32.pack(1), b"\0" * 9, 0)
    with pytest.raises(TypeError):
        o.lookup("abcd")
    with pytest.raises(ValueError, match="wrong size"):
        o.next_key(b"ab")
    with pytest.raises(TypeError):
        o.update(U32.pack(1), U64.pack(1))  # flags missing
    assert o.lookup(U32.pack(1)) is None  # nothing was written by the refused calls


def test_map_uses_the_native_path_and_reports_errors(table):
    table[1] = 10
    assert table[1] == 10
    assert type(table._ops.lookup).__name__ == "builtin_function_or_method"
    with pytest.raises(MapKeyError, match="has no key 2"):
        table[2]
    with pytest.raises(MapKeyError):
        del table[2]
    table.update(1, 11, flags=BPF_EXIST)
    with pytest.raises(MapError, match="already has this key"):
        table.update(1, 12, flags=BPF_NOEXIST)
    with pytest.raises(M.MapTypeError, match="bad key"):
        table["one"]
    with pytest.raises(M.MapTypeError, match="bad value"):
        table[1] = -1
    assert table.get(3, "none") == "none" and table[1] == 11
    assert "one" not in table and 1 in table


def test_struct_and_per_cpu_values_take_the_same_path():
    class Pair(bpf.Struct):
        a: bpf.u32
        b: bpf.u64

    h = bpf.HashMap(Pair, Pair, 8)
    pc = bpf.PerCpuHashMap(bpf.u32, bpf.u64, 8)
    h.create()
    pc.create()
    try:
        h[Pair(a=1, b=2)] = Pair(a=3, b=4)
        got = h[Pair(a=1, b=2)]
        assert (got.a, got.b) == (3, 4)
        ncpu = M.possible_cpus()
        pc[5] = list(range(ncpu))
        assert pc[5] == list(range(ncpu)) and pc.sum(5) == sum(range(ncpu))
    finally:
        h.close()
        pc.close()


def test_threads_share_a_map_without_mixing_buffers(ops, table):
    """Four threads update and read back their own keys through one ElemOps."""
    rounds, errors = 3000, []

    def worker(tid: int) -> None:
        try:
            for i in range(rounds):
                key = tid * 16 + i % 16
                ops.update(U32.pack(key), U64.pack(key * 1000 + i), 0)
                got = U64.unpack(ops.lookup(U32.pack(key)))[0]
                if got != key * 1000 + i:
                    errors.append((tid, i, got))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(table) == 64


_CHILD = r"""
import json, sys
import pyebpf as bpf
from pyebpf._native import fastpath, syscalls
syscalls._NATIVE_AFTER = int(sys.argv[1])
m = bpf.HashMap(bpf.u32, bpf.u64, 8)
m.create()
kinds = []
for i in range(6):
    m[i] = i * 3
    kinds.append(type(m._ops.lookup).__name__)
print(json.dumps({"values": [m[i] for i in range(6)], "kinds": kinds,
                  "llvmlite": "llvmlite.binding" in sys.modules,
                  "failed": fastpath._failed}))
"""


def _child(cache_dir, after: int, **env) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(after)], capture_output=True, text=True,
        env={**os.environ, "PYEBPF_CACHE_DIR": str(cache_dir), **env}, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_switch_to_native_after_threshold_then_cache_serves_next_process(tmp_path):
    # No cached code, llvmlite not loaded: cffi first, native from the 4th call on.
    first = _child(tmp_path, after=4)
    assert first["values"] == [0, 3, 6, 9, 12, 15] and first["failed"] is None
    assert first["kinds"][:3] == ["method"] * 3
    assert first["kinds"][-1] == "builtin_function_or_method"
    assert list(tmp_path.glob("native-*.bin"))
    # The next process finds the code in the cache: native from the first call,
    # without importing llvmlite.
    second = _child(tmp_path, after=10**9)
    assert second["kinds"] == ["builtin_function_or_method"] * 6
    assert second["llvmlite"] is False and second["values"] == first["values"]


def test_damaged_cache_is_compiled_again(tmp_path):
    _child(tmp_path, after=1)
    (code,) = tmp_path.glob("native-*.bin")
    data = bytearray(code.read_bytes())
    data[-1] ^= 0xFF
    code.write_bytes(bytes(data))
    again = _child(tmp_path, after=1)
    assert again["values"] == [0, 3, 6, 9, 12, 15] and again["failed"] is None
    assert again["kinds"][-1] == "builtin_function_or_method"
    assert code.read_bytes() != bytes(data)  # rewritten with a good digest


def test_native_off_keeps_the_cffi_path(tmp_path):
    off = _child(tmp_path, after=1, PYEBPF_NATIVE="0")
    assert off["kinds"] == ["method"] * 6
    assert off["values"] == [0, 3, 6, 9, 12, 15]
    assert "PYEBPF_NATIVE" in off["failed"]


INT_TYPES = [bpf.u8, bpf.i8, bpf.u16, bpf.i16, bpf.u32, bpf.i32, bpf.u64, bpf.i64]


def _bounds(t) -> tuple[int, int]:
    bits = t.size * 8
    return (-(1 << bits - 1), (1 << bits - 1) - 1) if t.signed else (0, (1 << bits) - 1)


@pytest.mark.parametrize("kt", INT_TYPES, ids=lambda t: t.name)
@pytest.mark.parametrize("vt", [bpf.u8, bpf.i16, bpf.i32, bpf.u64, bpf.i64], ids=lambda t: t.name)
def test_int_paths_every_width_and_sign(kt, vt):
    """lookup_int/update_int agree with the bytes path at the edges of every key and
    value type."""
    assert fastpath.prepare()
    m = bpf.HashMap(kt, vt, 16)
    m.create()
    try:
        klo, khi = _bounds(kt)
        vlo, vhi = _bounds(vt)
        pairs = {klo: vhi, khi: vlo, 0: -1 if vt.signed else 1, klo + 1: vhi - 1}
        for k, v in pairs.items():
            m.update(k, v)
        ops = m._elem_ops()
        assert ops.lookup_int is not None
        for k, v in pairs.items():
            assert ops.lookup_int(k) == v and m[k] == v and m.get(k) == v
            assert m[k] == vt.unpack(ops.lookup(kt.pack(k)))  # same as the bytes path
        missing = khi - 1 if khi - 1 not in pairs else 1
        assert ops.lookup_int(missing) is None and m.get(missing, "x") == "x"
        with pytest.raises(OverflowError):
            ops.lookup_int(khi + 1)
        with pytest.raises(OverflowError):
            ops.lookup_int(klo - 1)
        with pytest.raises(M.MapTypeError, match="bad key"):
            m[khi + 1]
        with pytest.raises(MapKeyError):
            m[missing]
        # writes: update_int range-checks both sides, the general path names the culprit
        assert ops.update_int is not None
        with pytest.raises(OverflowError):
            ops.update_int(klo, vhi + 1, 0)
        with pytest.raises(M.MapTypeError, match="bad value"):
            m[klo] = vlo - 1
        with pytest.raises(M.MapTypeError, match="bad key"):
            m[khi + 1] = 0
        with pytest.raises(MapError, match="already has this key"):
            m.update(klo, 0, flags=BPF_NOEXIST)
        m[klo] = vlo
        assert vt.unpack(ops.lookup(kt.pack(klo))) == vlo == m[klo]
    finally:
        m.close()


def test_lookup_int_other_key_objects(table):
    import numpy as np

    table[3] = 30
    table[1] = 10
    assert table[np.uint32(3)] == 30  # __index__ objects take the general path
    assert table[True] == 10
    with pytest.raises(M.MapTypeError):
        table[3.0]
    with pytest.raises(M.MapTypeError):
        table[-1]
    with pytest.raises(M.MapTypeError):
        table.lookup(2**40)

