"""BTF reader, builder, fix-ups and .BTF.ext on the fixtures' BTF (no kernel needed)."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import pytest

from pyebpf import btf as B
from pyebpf.errors import BTFError

DATA = Path(__file__).resolve().parent.parent / "data"


def section(name: str, sec: str) -> bytes:
    from elftools.elf.elffile import ELFFile

    return ELFFile(BytesIO((DATA / name).read_bytes())).get_section_by_name(sec).data()


@pytest.fixture(scope="module")
def xdp_btf() -> B.BTF:
    return B.BTF.from_bytes(section("xdp_maps.o", ".BTF"))


def test_types_decode(xdp_btf):
    assert xdp_btf.types[0] == B.Void()
    pair = xdp_btf.find("pair", kind="struct")
    assert isinstance(pair, B.Struct) and pair.size == 16
    assert [(m.name, m.bit_offset) for m in pair.members] == [("a", 0), ("b", 64)]
    assert xdp_btf.member_offset("pair", "b") == 8
    u32 = xdp_btf.find("__u32", kind="typedef")
    assert xdp_btf.resolved(u32.id) == B.Int("unsigned int", 4, 0, 32, 0)
    assert xdp_btf.size_of(u32.id) == 4
    func = xdp_btf.find("double_it", kind="func")
    assert func.linkage == B.FUNC_STATIC
    proto = xdp_btf.types[func.type]
    assert [p.name for p in proto.params] == ["x"]


def test_find_errors(xdp_btf):
    with pytest.raises(BTFError, match="no type struct 'nope'"):
        xdp_btf.find("nope", kind="struct")
    with pytest.raises(BTFError, match="unknown BTF kind"):
        xdp_btf.find("pair", kind="structure")
    with pytest.raises(BTFError, match="has no member 'c'"):
        xdp_btf.member_offset("pair", "c")
    with pytest.raises(BTFError, match="out of range"):
        xdp_btf.types[10_000]


def test_bad_headers():
    with pytest.raises(BTFError, match="too short"):
        B.BTF(b"\x9f\xeb")
    with pytest.raises(BTFError, match="magic"):
        B.BTF(bytes(24))
    raw = bytearray(section("xdp_maps.o", ".BTF"))
    raw[12:16] = (10**6).to_bytes(4, "little")  # type_len past the end
    with pytest.raises(BTFError):
        B.BTF(bytes(raw))


@pytest.mark.parametrize("fixture", ["xdp_maps.o", "tailcall.o", "kfunc.o", "tp_ringbuf.o"])
def test_builder_round_trip(fixture):
    raw = section(fixture, ".BTF")
    btf = B.BTF(raw)
    builder = B.BTFBuilder(btf.strings)
    for t in btf.types[1:]:
        builder.add(t)
    assert builder.to_bytes() == raw


def test_builder_every_kind():
    b = B.BTFBuilder()
    kinds = [
        B.Int("int", 4, B.INT_SIGNED, 32, 0),
        B.Ptr(type=1),
        B.Array(type=1, index_type=1, nelems=3),
        B.Struct("s", 8, (B.Member("a", 1, 0), B.Member("bf", 1, 35, 3))),
        B.Union("u", 4, (B.Member("x", 1, 0),)),
        B.Enum("e", 4, (B.EnumValue("A", -1), B.EnumValue("B", 2)), signed=True),
        B.Enum64("e64", 8, (B.EnumValue("BIG", 1 << 40),)),
        B.Fwd("f", is_union=True),
        B.Typedef("t", 1),
        B.Volatile(type=1),
        B.Const(type=1),
        B.Restrict(type=2),
        B.FuncProto(return_type=1, params=(B.Param("a", 1), B.Param("", 0))),
        B.Func("fn", 13, B.FUNC_GLOBAL),
        B.Var("v", 1, B.VAR_GLOBAL_ALLOCATED),
        B.Datasec(".data", 4, (B.VarSecInfo(15, 0, 4),)),
        B.Float("double", 8),
        B.DeclTag("tag", 4, 1),
        B.TypeTag("user", 2),
    ]
    for t in kinds:
        b.add(t)
    back = B.BTF(b.to_bytes())
    assert list(back.types[1:]) == kinds
    assert [t.id for t in back.types[1:]] == list(range(1, len(kinds) + 1))
    assert back.find("e64").values[0].value == 1 << 40
    assert back.members(4)[1].bitfield_size == 3


def test_fixup_fills_datasec_sizes_and_offsets():
    raw = section("xdp_maps.o", ".BTF")
    fixed = B.BTF(B.fixup_object_btf(
        raw,
        {".bss": 12, ".data": 8, ".rodata": 16, ".maps": 80, "license": 4},
        {(".rodata", "threshold"): 0, (".rodata", "limit"): 8, (".bss", "seen_b"): 0,
         (".bss", "seen_a"): 8, (".data", "hits"): 0, (".maps", "counts"): 0,
         (".maps", "pairs"): 32, ("license", "LICENSE"): 0},
    ))
    before = B.BTF(raw).find(".rodata", "datasec")
    assert before.size == 0
    rodata = fixed.find(".rodata", "datasec")
    assert rodata.size == 16
    assert [(fixed.types[v.type].name, v.offset, v.size) for v in rodata.vars] == [
        ("threshold", 0, 4), ("limit", 8, 8)]
    assert fixed.find(".maps", "datasec").vars[1].offset == 32
    # Ids and string offsets are kept, so .BTF.ext still points at the right places.
    assert len(fixed) == len(B.BTF(raw))
    assert fixed.strings.startswith(B.BTF(raw).strings)


def test_fixup_missing_symbol_is_an_error():
    with pytest.raises(BTFError, match="'seen_b'.*no symbol"):
        B.fixup_object_btf(section("xdp_maps.o", ".BTF"), {}, {})


def test_fixup_externs():
    raw = section("kfunc.o", ".BTF")
    fixed = B.BTF(B.fixup_object_btf(raw, {"license": 4}, {("license", "LICENSE"): 0}))
    for t in fixed.types[1:]:
        if isinstance(t, B.Var):
            assert t.linkage != B.VAR_GLOBAL_EXTERN
        if isinstance(t, B.Func):
            assert t.linkage != B.FUNC_EXTERN
    ksyms = fixed.find(".ksyms", "datasec")
    assert all(isinstance(fixed.types[v.type], B.Var) for v in ksyms.vars)
    assert ksyms.size >= 12
    kconfig = fixed.find(".kconfig", "datasec")
    assert [(fixed.types[v.type].name, v.offset, v.size) for v in kconfig.vars] == [
        ("CONFIG_HZ", 0, 4), ("LINUX_KERNEL_VERSION", 4, 4)]
    assert kconfig.size == 8


def test_btf_ext_records():
    btf = B.BTF(section("xdp_maps.o", ".BTF"))
    ext = B.BTFExt.from_bytes(section("xdp_maps.o", ".BTF.ext"), btf)
    assert set(ext.func_info) == {".text", "xdp"}
    assert ext.func_info["xdp"] == [B.ExtFuncInfo(0, 30)]
    # .text holds global_add at byte 0 and double_it at byte 0x28.
    assert ext.func_info[".text"] == [B.ExtFuncInfo(0, 26), B.ExtFuncInfo(0x28, 32)]
    first = ext.line_info["xdp"][0]
    assert (first.insn_off, first.line, first.col) == (0, 45, 19)
    assert first.line_col == 45 << 10 | 19
    assert ext.core_relos == {}


def test_btf_ext_bad_magic():
    btf = B.BTF(section("xdp_maps.o", ".BTF"))
    with pytest.raises(BTFError, match="magic"):
        B.BTFExt(bytes(32), btf)


@pytest.mark.parametrize("fixture", ["xdp_maps.o", "tailcall.o", "kfunc.o", "tp_ringbuf.o"])
def test_lookup_by_name_matches_a_full_scan(fixture):
    # find_all searches packed name offsets; it must agree with decoding every type.
    btf = B.BTF(section(fixture, ".BTF"))
    by_name: dict[str, list[int]] = {}
    for t in btf.types[1:]:
        if t.name:
            by_name.setdefault(t.name, []).append(t.id)
    assert by_name
    for name, ids in by_name.items():
        assert [t.id for t in btf.find_all(name)] == ids
        for t in btf.find_all(name):
            assert btf.find(name, t.kind).id == min(i for i in ids if btf.types[i].kind == t.kind)


def test_lookup_by_name_sees_only_type_names():
    b = B.BTFBuilder()
    b.add(B.Int("int", 4, B.INT_SIGNED, 32, 0))
    b.add(B.Struct("s", 8, (B.Member("t", 1, 0), B.Member("only_member", 1, 32))))
    b.add(B.Typedef("t", 2))
    b.add(B.Struct("t", 4, (B.Member("s", 1, 0),)))
    b.add(B.Typedef("st", 2))  # "s" is a suffix of "st": not the same name
    btf = B.BTF(b.to_bytes())
    assert [(t.kind, t.id) for t in btf.find_all("t")] == [("typedef", 3), ("struct", 4)]
    assert btf.find("t", "struct").id == 4
    assert [t.id for t in btf.find_all("s")] == [2]
    assert btf.find_all("only_member") == [] and btf.find_all("") == []
    assert btf.find("s") is btf.find("s")  # decoded once, remembered by name
    assert btf.find_id("int") == 1


def test_truncated_or_unknown_records_are_errors():
    b = B.BTFBuilder()
    b.add(B.Int("int", 4, B.INT_SIGNED, 32, 0))
    b.add(B.Struct("s", 8, (B.Member("a", 1, 0),)))
    raw = bytearray(b.to_bytes())
    type_len = int.from_bytes(raw[12:16], "little")

    def with_type_len(n: int) -> bytes:
        out = bytearray(raw)
        out[12:16] = n.to_bytes(4, "little")
        return bytes(out)

    with pytest.raises(BTFError, match="whole number of words"):
        B.BTF(with_type_len(type_len - 2))
    with pytest.raises(BTFError, match="overrun"):  # the struct's member is cut off
        B.BTF(with_type_len(type_len - 4))
    with pytest.raises(BTFError, match="malformed BTF type record at byte 40"):
        B.BTF(with_type_len(20))  # the struct's header is cut after its name_off
    bad_kind = bytearray(raw)
    bad_kind[24 + 7] = 25  # the int's info word: kind 25 does not exist
    with pytest.raises(BTFError, match="malformed BTF type record at byte 24"):
        B.BTF(bytes(bad_kind))


def _pair_btf() -> B.BTF:
    """Two of each kind the compatibility rule tells apart (ids in comments)."""
    b = B.BTFBuilder()
    u8 = b.add(B.Int("unsigned char", size=1, encoding=0, bits=8))  # 1
    i64 = b.add(B.Int("long", size=8, encoding=B.INT_SIGNED, bits=64))  # 2
    b.add(B.Ptr("", type=u8))  # 3
    b.add(B.Array("", type=u8, index_type=u8, nelems=4))  # 4
    b.add(B.Array("", type=i64, index_type=u8, nelems=2))  # 5
    b.add(B.Struct("s", size=8, members=(B.Member("x", i64, 0),)))  # 6
    b.add(B.Union("u", size=8, members=(B.Member("y", u8, 0),)))  # 7
    b.add(B.Enum("e", 4, (B.EnumValue("A", 0),)))  # 8
    b.add(B.Enum64("e___v2", 8, (B.EnumValue("B", 1),)))  # 9
    b.add(B.Enum("other", 4, ()))  # 10
    b.add(B.Enum("", 4, ()))  # 11
    b.add(B.Typedef("u8_t", type=u8))  # 12
    return B.BTF.from_bytes(b.to_bytes())


@pytest.mark.parametrize(("local", "target", "compatible"), [
    (1, 2, True),    # integers of any size and sign
    (12, 2, True),   # through typedefs
    (3, 3, True),    # pointers
    (4, 5, True),    # arrays of integers, of other sizes and lengths
    (6, 7, True),    # any struct or union: members are matched by name afterwards
    (8, 9, True),    # enum and enum64 of the same essential name
    (8, 11, True),   # an anonymous enum
    (8, 10, False),  # enums of other names
    (1, 8, False),   # an integer is not an enum
    (1, 6, False),   # nor a struct
    (1, 4, False),   # nor an array
    (3, 2, False),   # a pointer is not an integer
    (4, 6, False),   # an array is not a struct
])
def test_fields_compatible_follows_libbpf(local: int, target: int, compatible: bool) -> None:
    btf = _pair_btf()
    assert B.fields_compatible(btf, local, btf, target) is compatible


def test_core_relocation_of_a_member_of_another_kind_does_not_resolve() -> None:
    def btf_with(member_type: B.Type) -> B.BTF:
        b = B.BTFBuilder()
        t = b.add(member_type)
        b.add(B.Struct("task", size=16, members=(B.Member("state", t, 64),)))
        return B.BTF.from_bytes(b.to_bytes())

    local = btf_with(B.Int("int", size=4, encoding=B.INT_SIGNED, bits=32))
    relo = B.CoreRelo(0, 2, 0, B.CORE_FIELD_BYTE_OFFSET, "0:0")
    assert B.core_relocate(local, relo, btf_with(B.Int("long", size=8, bits=64))) == 8
    assert B.core_relocate(local, relo, btf_with(B.Struct("x", size=4))) is None
