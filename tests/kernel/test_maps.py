"""User-side map operations against real kernel maps created with ``m.create()``."""

import os
import uuid

import pytest

from pyebpf import maps as M
from pyebpf import tracefs
from pyebpf.errors import MapError
from pyebpf.types import Struct, char, i32, u8, u16, u32, u64

pytestmark = [
    pytest.mark.kernel,
    pytest.mark.skipif(
        os.geteuid() != 0, reason="needs root and a BPF-capable kernel (kernel test)"
    ),
]

NCPU = M.possible_cpus()


class FlowKey(Struct):
    saddr: u32
    dport: u16
    proto: u8


class Stats(Struct):
    comm: char[16]
    packets: u64
    delta: i32


@pytest.fixture
def created():
    """Create maps that are closed at the end of the test."""
    made: list[M.Map] = []

    def make(m: M.Map) -> M.Map:
        made.append(m.create())
        return m

    yield make
    for m in made:
        m.close()


HASH_KINDS = [M.HashMap, M.LruHashMap]
PER_CPU_HASH_KINDS = [M.PerCpuHashMap, M.LruPerCpuHashMap]


@pytest.mark.parametrize("kind", HASH_KINDS)
def test_hash_mapping_operations(created, kind):
    m = created(kind(u32, u64, max_entries=64, name="t_hash"))
    assert len(m) == 0 and list(m) == [] and m.items() == []
    for i in range(10):
        m[i] = i * i
    assert len(m) == 10
    assert m[3] == 9 and 3 in m and 42 not in m and "x" not in m
    assert m.get(42) is None and m.get(42, 7) == 7
    assert sorted(m.keys()) == list(range(10))
    assert sorted(m.values()) == sorted(i * i for i in range(10))
    assert dict(m.items()) == {i: i * i for i in range(10)}
    del m[3]
    assert 3 not in m
    with pytest.raises(KeyError):
        m[3]
    with pytest.raises(KeyError):
        del m[3]
    assert m.pop(4) == 16 and m.pop(4, "gone") == "gone"
    with pytest.raises(KeyError):
        m.pop(4)
    m.update({100: 1, 101: 2})
    assert m[100] == 1 and m[101] == 2
    m.clear()
    assert len(m) == 0


def test_update_flags(created):
    m = created(M.HashMap(u32, u64, max_entries=4, name="t_flags"))
    m.update(1, 10, M.BPF_NOEXIST)
    with pytest.raises(MapError, match="t_flags.*already has this key"):
        m.update(1, 11, M.BPF_NOEXIST)
    assert m[1] == 10
    m.update(1, 12, M.BPF_EXIST)
    assert m[1] == 12
    with pytest.raises(MapError, match="no such key"):
        m.update(2, 1, flags=M.BPF_EXIST)
    assert 2 not in m


def test_full_map_names_the_map(created):
    m = created(M.HashMap(u32, u32, max_entries=4, name="t_full"))
    for i in range(4):
        m[i] = i
    with pytest.raises(MapError, match=r"map 't_full' is full \(max_entries=4\)") as info:
        m[99] = 1
    assert info.value.errno == 7  # E2BIG
    m[2] = 20  # replacing an existing key still works on a full map
    assert m[2] == 20


def test_bad_types_fail_before_the_syscall(created):
    m = created(M.HashMap(u32, u8, max_entries=4, name="t_types"))
    with pytest.raises(MapError, match="t_types.*bad key.*u32") as info:
        m["one"] = 1
    assert isinstance(info.value, TypeError)
    with pytest.raises(M.MapTypeError, match="bad value.*u8"):
        m[1] = 256
    with pytest.raises(M.MapTypeError, match="bad key"):
        m[-1] = 1
    with pytest.raises(M.MapTypeError):
        m.get(1.5)
    assert len(m) == 0


def test_struct_keys_and_values(created):
    m = created(M.HashMap(FlowKey, Stats, max_entries=16, name="t_struct"))
    k = FlowKey(saddr=0x0A000001, dport=53, proto=17)
    m[k] = Stats(comm="dig", packets=5, delta=-3)
    assert m[k] == Stats(comm="dig", packets=5, delta=-3)
    assert m[FlowKey(saddr=0x0A000001, dport=53, proto=17)].comm == "dig"
    assert m.items() == [(k, Stats(comm="dig", packets=5, delta=-3))]
    arr = m.to_numpy()
    assert arr["key"]["dport"][0] == 53
    assert arr["value"]["packets"][0] == 5 and arr["value"]["delta"][0] == -3
    assert arr["value"]["comm"][0] == b"dig"


def test_array_map(created):
    m = created(M.ArrayMap(u64, max_entries=8, name="t_array"))
    assert len(m) == 8
    assert m.items() == [(i, 0) for i in range(8)]
    m[3] = 33
    assert m[3] == 33 and m.get(7) == 0
    assert 8 not in m and m.get(8) is None
    with pytest.raises(KeyError):
        m[8]
    with pytest.raises(MapError, match="cannot be deleted"):
        del m[3]
    with pytest.raises(MapError):
        m[8] = 1
    m.clear()
    assert m[3] == 0


def test_per_cpu_array(created):
    m = created(M.PerCpuArrayMap(u32, max_entries=4, name="t_pcarr"))
    m[0] = 5  # a scalar goes to every CPU
    assert m[0] == [5] * NCPU and m.sum(0) == 5 * NCPU
    per = list(range(1, NCPU + 1))
    m[1] = per
    assert m[1] == per and m.sum(1) == sum(per)
    assert dict(m.items())[1] == per
    with pytest.raises(MapError, match="one item per possible CPU"):
        m[2] = [1] * (NCPU + 1)
    arr = m.to_numpy()
    assert arr["value"].shape == (4, NCPU)
    assert arr["value"][1].tolist() == per


@pytest.mark.parametrize("kind", PER_CPU_HASH_KINDS)
def test_per_cpu_hash(created, kind):
    m = created(kind(FlowKey, u64, max_entries=32, name="t_pchash"))
    keys = [FlowKey(saddr=i, dport=i, proto=6) for i in range(5)]
    for i, k in enumerate(keys):
        m[k] = [i + c for c in range(NCPU)]
    assert m.sum(keys[2]) == sum(2 + c for c in range(NCPU))
    assert dict(m.items()) == {k: [i + c for c in range(NCPU)] for i, k in enumerate(keys)}
    assert m.pop(keys[0]) == list(range(NCPU))
    assert len(m) == 4


def test_lru_evicts_instead_of_failing(created):
    m = created(M.LruHashMap(u32, u32, max_entries=8, name="t_lru"))
    for i in range(64):
        m[i] = i
    assert 0 < len(m) <= 8
    assert 63 in m


@pytest.mark.parametrize(
    "kind",
    [M.HashMap, M.LruHashMap, M.PerCpuHashMap, M.LruPerCpuHashMap],
)
def test_batch_and_key_by_key_agree(created, kind):
    m = created(kind(u32, u64, max_entries=2048, name="t_batch"))
    n = 1000
    assert m.update_batch(list(range(n)), [i * 3 for i in range(n)]) == n
    batched = dict(m.items())
    assert m._batch_ok, "BPF_MAP_LOOKUP_BATCH should work on this kernel"
    m._batch_ok = False  # force the get_next_key + lookup path
    slow = dict(m.items())
    m._batch_ok = True
    assert batched == slow and len(batched) == n
    expect = (lambda i: [i * 3] * NCPU) if m.per_cpu else (lambda i: i * 3)
    assert batched == {i: expect(i) for i in range(n)}
    chunks = list(m.items_batch(chunk=64))
    assert sum(len(c) for c in chunks) == n and len(chunks) > 1
    assert m.delete_batch(list(range(0, n, 2))) == n // 2
    assert sorted(m) == list(range(1, n, 2))


def test_batch_with_bad_items_names_the_item(created):
    import numpy as np

    m = created(M.HashMap(u32, i32, max_entries=16, name="t_badbatch"))
    with pytest.raises(MapError, match="bad key int -1"):
        m.update_batch([1, -1], [1, 2])
    with pytest.raises(MapError, match="bad value int 2147483648"):
        m.update_batch([1, 2], [1, 2**31])
    with pytest.raises(MapError, match="bad key str"):
        m.delete_batch([1, "2"])
    assert len(m) == 0  # nothing was written by the refused calls
    assert m.update_batch(np.arange(3, dtype=np.uint32), [-1, -2, -3]) == 3
    assert dict(m.items()) == {0: -1, 1: -2, 2: -3}


def test_array_batch(created):
    m = created(M.ArrayMap(u32, max_entries=300, name="t_arrb"))
    m.update_batch(list(range(300)), list(range(1000, 1300)))
    assert m.items() == [(i, 1000 + i) for i in range(300)]
    assert m.values()[:3] == [1000, 1001, 1002]


def test_numpy_round_trip(created):
    np = pytest.importorskip("numpy")
    src = created(M.HashMap(u32, u64, max_entries=512, name="t_np1"))
    src.update_batch(list(range(500)), [i << 33 for i in range(500)])
    arr = src.to_numpy()
    assert arr.dtype.names == ("key", "value") and len(arr) == 500
    assert dict(zip(arr["key"].tolist(), arr["value"].tolist())) == dict(src.items())
    dst = created(M.HashMap(u32, u64, max_entries=512, name="t_np2"))
    assert dst.update_numpy(arr) == 500
    assert dict(dst.items()) == dict(src.items())
    pc = created(M.PerCpuHashMap(u32, u32, max_entries=8, name="t_np3"))
    rows = np.zeros(2, dtype=pc.numpy_dtype())
    rows["key"] = [1, 2]
    rows["value"] = [[7] * NCPU, list(range(NCPU))]
    pc.update_numpy(rows)
    assert pc[1] == [7] * NCPU and pc[2] == list(range(NCPU))


def test_iteration_survives_concurrent_deletes(created):
    m = created(M.HashMap(u32, u32, max_entries=256, name="t_iterdel"))
    for i in range(200):
        m[i] = i
    seen = []
    for k in m:
        seen.append(k)
        del m[k]  # the current key vanishes: get_next_key restarts from the first key
        if k % 3 == 0 and (k + 1) in m:
            del m[k + 1]
    assert len(seen) == len(set(seen))
    assert len(m) == 0


def test_iteration_yields_each_key_once_while_others_vanish(created):
    m = created(M.HashMap(u32, u32, max_entries=256, name="t_iterdel2"))
    for i in range(100):
        m[i] = i
    seen = []
    for k in m:
        seen.append(k)
        if len(seen) == 10:
            for j in range(100):
                if j not in seen and j % 2:
                    del m[j]
    assert len(seen) == len(set(seen))
    assert set(seen) >= {j for j in range(100) if j % 2 == 0}


def test_pin_from_pinned_and_from_id(created):
    m = created(M.HashMap(FlowKey, u64, max_entries=8, name="t_pin"))
    k = FlowKey(saddr=1, dport=2, proto=3)
    m[k] = 99
    path = tracefs.bpffs_root() / f"pyebpf_test_{uuid.uuid4().hex[:8]}"
    assert m.pin(path) == path
    try:
        again = M.Map.from_pinned(path, FlowKey, u64)
        assert type(again) is M.HashMap and again[k] == 99
        again[k] = 100
        assert m[k] == 100
        raw = M.Map.from_pinned(path)
        assert raw.items() == [(bytes(k), (100).to_bytes(8, "little"))]
        by_id = M.Map.from_id(m.id, FlowKey, u64)
        assert by_id[k] == 100 and by_id.name == "t_pin"
        pc = created(M.PerCpuArrayMap(u32, 2, name="t_pin_pc"))
        assert type(M.Map.from_id(pc.id)) is M.PerCpuArrayMap
        with pytest.raises(M.MapTypeError, match="is 4 bytes"):
            M.Map.from_pinned(path, u32, u64)
        for opened in (again, raw, by_id):
            opened.close()
    finally:
        path.unlink()
    with pytest.raises(MapError, match="cannot open the pinned map"):
        M.Map.from_pinned(path)


def test_pin_option_reuses_a_pinned_map():
    name = f"pyebpf_test_{uuid.uuid4().hex[:8]}"
    first = M.HashMap(u32, u32, 8, name="t_pinopt", pin=name).create()
    try:
        first[1] = 11
        second = M.HashMap(u32, u32, 8, name="t_pinopt", pin=name).create()
        assert second[1] == 11 and second.id == first.id
        second.close()
        with pytest.raises(MapError, match="different shape"):
            M.HashMap(u32, u64, 8, pin=name).create()
    finally:
        first.close()
        (tracefs.bpffs_root() / name).unlink()


def test_unloaded_map_says_what_to_do():
    m = M.HashMap(u32, u32, 4, name="t_unloaded")
    with pytest.raises(MapError, match="load a program that uses it first, or call m.create()"):
        m[1]
    assert "fd=" not in repr(m)


def test_close_and_context_manager():
    with M.HashMap(u32, u32, 4, name="t_ctx").create() as m:
        fd = m.fd
        m[1] = 2
        assert f"fd={fd}" in repr(m)
    assert not m.loaded
    with pytest.raises(OSError):
        os.fstat(fd)


def test_queue_and_stack(created):
    q = created(M.QueueMap(u32, max_entries=8, name="t_queue"))
    for v in (1, 2, 3):
        q.push(v)
    assert q.peek() == 1 and q.pop() == 1 and list(q) == [2, 3] and q.pop() is None
    s = created(M.StackMap(u64, max_entries=8, name="t_stack"))
    for v in (1, 2, 3):
        s.push(v)
    assert s.pop() == 3 and s.peek() == 2
    with pytest.raises(M.MapTypeError, match="push/pop/peek"):
        s[0]


def test_lpm_trie(created):
    class V4Key(Struct):
        prefixlen: u32
        addr: u8[4]

    m = created(M.LpmTrieMap(V4Key, u32, 16, name="t_lpm"))
    assert m.flags & M.BPF_F_NO_PREALLOC
    m[V4Key(prefixlen=16, addr=bytes([10, 1, 0, 0]))] = 16
    m[V4Key(prefixlen=24, addr=bytes([10, 1, 2, 0]))] = 24
    assert m[V4Key(prefixlen=32, addr=bytes([10, 1, 2, 3]))] == 24
    assert m[V4Key(prefixlen=32, addr=bytes([10, 1, 9, 9]))] == 16
    assert V4Key(prefixlen=32, addr=bytes([10, 2, 0, 1])) not in m
    assert len(m) == 2


def test_other_kinds_create(created):
    inner = M.ArrayMap(u32, 4)
    outer = created(M.ArrayOfMaps(inner, 4, name="t_aom"))
    real_inner = created(M.ArrayMap(u32, 4, name="t_inner"))
    outer[0] = real_inner
    assert outer[0] == real_inner.id
    hom = created(M.HashOfMaps(u32, inner, 4, name="t_hom"))
    hom[7] = real_inner
    assert hom[7] == real_inner.id
    created(M.RingBuf(4096 * 4, event=Stats, name="t_rb"))
    pea = created(M.PerfEventArray(event=Stats, name="t_pea"))
    assert pea.max_entries == NCPU
    created(M.StackTraceMap(16, name="t_stacks"))
    created(M.ProgArray(4, name="t_progs"))
    created(M.BloomFilterMap(u32, 16, name="t_bloom")).push(77)
