"""BTF key/value types -> pyebpf types, for maps opened by pin or id (no kernel needed)."""

from __future__ import annotations

from pyebpf import btf as B
from pyebpf._mapbtf import types_for
from pyebpf.types import ArrayType, StructType, char, i16, u8, u32, u64


def _btf(*types: B.Type) -> B.BTF:
    b = B.BTFBuilder()
    for t in types:
        b.add(t)
    return B.BTF(b.to_bytes())


INT = B.Int("unsigned int", 4, 0, 32)  # 1
LONG = B.Int("unsigned long long", 8, 0, 64)  # 2
CHAR = B.Int("char", 1, B.INT_SIGNED, 8)  # 3
SHORT = B.Int("short", 2, B.INT_SIGNED, 16)  # 4


def test_ints_arrays_typedefs_and_enums():
    btf = _btf(INT, LONG, CHAR, SHORT,
               B.Array(type=3, index_type=1, nelems=16),  # 5: char[16]
               B.Typedef("u32_t", 1),  # 6
               B.Enum("e", 2, (B.EnumValue("A", -1),), signed=True))  # 7
    s = types_for(btf, 6, 5, 4, 16)
    assert s.key == u32 and s.value == ArrayType(char, 16) and not s.notes
    assert types_for(btf, 7, 2, 2, 8).key == i16
    assert types_for(btf, 7, 2, 2, 8).value == u64


def test_struct_keeps_btf_offsets_names_and_padding():
    btf = _btf(INT, LONG, CHAR, SHORT,
               B.Array(type=3, index_type=1, nelems=5),  # 5: char[5]
               # explicit gap: b at 8 (natural), name at 16, s at 24 (natural: 22), size 32
               B.Struct("flow", 32, (B.Member("a", 1, 0), B.Member("b", 2, 64),
                                     B.Member("name", 5, 128), B.Member("s", 4, 192))))
    s = types_for(btf, 1, 6, 4, 32)
    st = s.value
    assert isinstance(st, StructType) and st.name == "flow" and st.size == 32
    assert [(f.name, f.type, f.offset) for f in st.fields] == [
        ("a", u32, 0), ("b", u64, 8), ("name", ArrayType(char, 5), 16), ("s", i16, 24)]
    raw = bytearray(32)
    raw[0:4] = (7).to_bytes(4, "little")
    raw[8:16] = (1 << 40).to_bytes(8, "little")
    raw[16:19] = b"abc"
    raw[24:26] = (-2).to_bytes(2, "little", signed=True)
    v = st.unpack(bytes(raw))
    assert (v.a, v.b, v.name, v.s) == (7, 1 << 40, "abc", -2)
    assert bytes(v) == bytes(raw)
    assert st.numpy_format["offsets"] == [0, 8, 16, 24]


def test_packed_struct():
    btf = _btf(INT, LONG, B.Struct("packed", 12, (B.Member("a", 1, 0), B.Member("b", 2, 32))))
    st = types_for(btf, 1, 3, 4, 12).value
    assert [f.offset for f in st.fields] == [0, 4] and st.size == 12
    raw = (1).to_bytes(4, "little") + (2).to_bytes(8, "little")
    v = st.unpack(raw)
    assert (v.a, v.b) == (1, 2) and bytes(v) == raw


def test_unions_bitfields_and_size_mismatch_stay_bytes_with_a_note():
    btf = _btf(INT, LONG,
               B.Union("u", 8, (B.Member("x", 1, 0), B.Member("y", 2, 0))),  # 3
               B.Struct("bits", 4, (B.Member("lo", 1, 0, 3), B.Member("hi", 1, 3, 29))),  # 4
               B.Struct("outer", 16, (B.Member("tag", 1, 0), B.Member("u", 3, 64))))  # 5
    s = types_for(btf, 3, 4, 8, 4)
    assert s.key is None and s.value is None
    assert any("union u" in n for n in s.notes) and any("bitfields" in n for n in s.notes)
    outer = types_for(btf, 1, 5, 4, 16).value
    assert [(f.name, f.type) for f in outer.fields] == [("tag", u32), ("u", ArrayType(u8, 8))]
    mismatch = types_for(btf, 1, 2, 4, 4)
    assert mismatch.value is None and "is 8 bytes" in mismatch.notes[0]
