"""Map declarations and user-side logic without a kernel: a fake syscalls module.

Maps here are bound to made-up fds with ``owned=False``, so garbage collection
after the fake is gone never closes a real descriptor of the test process.
"""

import errno

import pytest

from pyebpf import maps as M
from pyebpf.constants import MapType
from pyebpf.errors import MapError, SyscallError
from pyebpf.types import Struct, u8, u16, u32, u64


class FakeKernel:
    """A dict-backed hash map with the kernel's get_next_key restart rule."""

    def __init__(self, batch: bool = True) -> None:
        self.entries: dict[bytes, bytes] = {}
        self.batch = batch
        self.calls: list[str] = []

    def map_lookup(self, fd, key, value_size, flags=0):
        self.calls.append("lookup")
        return self.entries.get(key)

    def map_update(self, fd, key, value, flags=0):
        self.calls.append("update")
        if flags == M.BPF_NOEXIST and key in self.entries:
            raise SyscallError("BPF_MAP_UPDATE_ELEM", errno.EEXIST)
        self.entries[key] = value

    def map_delete(self, fd, key):
        return self.entries.pop(key, None) is not None

    def map_get_next_key(self, fd, key, key_size):
        order = list(self.entries)
        if key is None or key not in self.entries:
            return order[0] if order else None  # restart, as the kernel does
        i = order.index(key)
        return order[i + 1] if i + 1 < len(order) else None

    def map_lookup_batch(self, fd, in_batch, key_size, value_size, count, **kw):
        if not self.batch:
            raise SyscallError("BPF_MAP_LOOKUP_BATCH", errno.EINVAL)
        start = int.from_bytes(in_batch, "little") if in_batch else 0
        items = list(self.entries.items())[start : start + count]
        end = start + len(items)

        class R:
            pass

        r = R()
        r.keys = b"".join(k for k, _ in items)
        r.values = b"".join(v for _, v in items)
        r.count = len(items)
        r.out_batch = end.to_bytes(8, "little")
        r.done = end >= len(self.entries)
        return r

    def close(self, fd):
        self.calls.append("close")


@pytest.fixture
def kernel(monkeypatch):
    fake = FakeKernel()
    monkeypatch.setattr(M, "_sys", lambda: fake)
    return fake


def test_declaration_attributes():
    m = M.HashMap(u32, u64, max_entries=10240)
    assert m.map_type == MapType.HASH and m.key_type == u32 and m.value_type == u64
    assert (m.key_size, m.value_size, m.max_entries, m.flags) == (4, 8, 10240, 0)
    assert m.name is None and m.pin_name is None and not m.per_cpu and not m.loaded
    m._set_name("counts")
    m._set_name("other")
    assert m.name == "counts"
    assert repr(m) == "HashMap(u32 -> u64, max_entries=10240, name='counts')"
    a = M.ArrayMap(u64, 256)
    assert a.key_type == u32 and a.map_type == MapType.ARRAY
    assert M.PerCpuArrayMap(u32, 4).per_cpu and M.LruPerCpuHashMap(u32, u32, 4).per_cpu
    assert M.LruHashMap(u32, u32, 4).map_type == MapType.LRU_HASH


def test_struct_types_are_normalised():
    class Key(Struct):
        a: u32
        b: u8

    m = M.HashMap(Key, u16, 4)
    assert m.key_size == 8 and m.key_type == Key.__bpf_type__


def test_bad_declarations():
    with pytest.raises(TypeError):
        M.HashMap(int.__add__, u32, 4)
    with pytest.raises(ValueError):
        M.HashMap(u32, u32, -1)
    with pytest.raises(TypeError, match="prefixlen"):
        M.LpmTrieMap(u32, u32, 4)
    with pytest.raises(ValueError, match="power of 2"):
        M.RingBuf(5000)


def test_lpm_forces_no_prealloc():
    class K(Struct):
        prefixlen: u32
        data: u8[4]

    assert M.LpmTrieMap(K, u32, 4).flags & M.BPF_F_NO_PREALLOC


def test_type_errors_before_any_syscall(kernel):
    m = M.HashMap(u32, u8, 4, name="m")._bind(3, owned=False)
    for bad_key in ("x", -1, 1 << 32, 1.5):
        with pytest.raises(M.MapTypeError, match="map 'm': bad key"):
            m[bad_key] = 1
    with pytest.raises(TypeError, match="bad value"):
        m[1] = 300
    assert kernel.calls == []


def test_key_error_and_noexist(kernel):
    m = M.HashMap(u32, u32, 4, name="m")._bind(3, owned=False)
    m[1] = 2
    with pytest.raises(KeyError):
        m[5]
    with pytest.raises(MapError, match="already has this key"):
        m.update(1, 3, M.BPF_NOEXIST)


@pytest.mark.parametrize("batch", [True, False])
def test_items_batch_and_fallback(kernel, batch):
    kernel.batch = batch
    m = M.HashMap(u32, u64, 1000, name="m")._bind(3, owned=False)
    for i in range(600):
        m[i] = i * 2
    assert m.items() == [(i, i * 2) for i in range(600)]
    assert [len(c) for c in m.items_batch(chunk=250)] == [250, 250, 100]
    assert m._batch_ok is batch


def test_iteration_restart_yields_each_key_once(kernel):
    m = M.HashMap(u32, u32, 100, name="m")._bind(3, owned=False)
    for i in range(20):
        m[i] = i
    seen = []
    for k in m:
        seen.append(k)
        if k % 4 == 0:
            del m[k]  # current key gone: the fake restarts from the first key
    assert seen == list(range(20))


def test_per_cpu_packing(kernel, monkeypatch):
    monkeypatch.setattr(M, "possible_cpus", lambda: 3)
    m = M.PerCpuHashMap(u32, u32, 4, name="m")._bind(3, owned=False)
    m[1] = 7
    assert kernel.entries[u32.pack(1)] == (7).to_bytes(8, "little") * 3
    m[2] = [1, 2, 3]
    assert m[2] == [1, 2, 3] and m.sum(2) == 6
    with pytest.raises(MapError, match="one item per possible CPU"):
        m[3] = [1, 2]


def test_close_and_del_release_owned_fds(kernel):
    m = M.HashMap(u32, u32, 4)._bind(9)  # a fake fd: close it while the fake is in place
    m.close()
    assert kernel.calls == ["close"] and not m.loaded
    M.HashMap(u32, u32, 4)._bind(9, owned=False).close()
    assert kernel.calls == ["close"]


def test_from_spec_picks_the_class(kernel):
    from pyebpf.spec import MapSpec

    spec = MapSpec(name="pc", map_type=int(MapType.PERCPU_ARRAY), key_size=4, value_size=8,
                   max_entries=2)
    m = M.Map.from_spec(spec, 5, value_type=u64, owned=False)
    assert type(m) is M.PerCpuArrayMap and m.name == "pc" and m.fd == 5
    raw = M.Map.from_spec(MapSpec(name="x", map_type=int(MapType.SOCKMAP), key_size=4,
                                  value_size=4, max_entries=1), 6, owned=False)
    assert raw.map_type == MapType.SOCKMAP and raw.key_type is None
    with pytest.raises(M.MapTypeError, match="8 bytes"):
        M.Map.from_spec(spec, 5, value_type=u32, owned=False)


def test_log2_hist_text():
    text = M.format_log2_hist({0: 1, 1: 1, 2: 4, 4: 2})
    lines = text.splitlines()
    assert "count     distribution" in lines[0]
    assert lines[1].split(":")[0].split() == ["0", "->", "1"] and ": 2 " in lines[1]
    assert lines[2].split(":")[0].split() == ["2", "->", "3"] and "*" * 40 in lines[2]
    assert lines[4].split(":")[0].split() == ["8", "->", "15"]
    assert M.format_log2_hist({}) == ""


def test_html_repr(kernel):
    m = M.HashMap(u32, u32, 100, name="h")._bind(3, owned=False)
    for i in range(60):
        m[i] = i
    html = m._repr_html_()
    assert html.count("<tr><td>") == 50 and "10 more" in html
    assert "not loaded" in M.HashMap(u32, u32, 1)._repr_html_()


def test_maps_are_identity_objects():
    a, b = M.HashMap(u32, u32, 4), M.HashMap(u32, u32, 4)
    assert a != b and a == a and len({a, b}) == 2
    assert bool(a)  # without touching the (unloaded) kernel map
