"""elf.read_object on the clang-built fixtures in tests/data (see build.sh there)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from pyebpf.elf import read_object
from pyebpf.errors import ELFError
from pyebpf.spec import FuncInfo, MapSpec, Relocation

DATA = Path(__file__).resolve().parent.parent / "data"


def load(name: str):
    return read_object((DATA / name).read_bytes(), source_name=name)


def test_xdp_programs_and_subprograms():
    spec = load("xdp_maps.o")
    assert list(spec.programs) == ["global_add", "double_it", "xdp_count"]
    assert set(spec.entry_programs) == {"xdp_count"}
    assert set(spec.subprograms) == {"global_add", "double_it"}
    prog = spec.programs["xdp_count"]
    assert prog.section == "xdp" and not prog.is_subprogram
    assert prog.insn_count == 54
    assert spec.programs["global_add"].insn_count == 5
    assert spec.programs["double_it"].insn_count == 6
    assert spec.license == "GPL"
    assert spec.kern_version == 0


def test_xdp_relocations():
    spec = load("xdp_maps.o")
    assert spec.programs["xdp_count"].relocations == (
        Relocation(6, "map", "counts"),
        Relocation(16, "map", "counts"),
        Relocation(20, "map_value", ".rodata", 8),  # limit: symbol value 8 + imm 0
        Relocation(23, "map_value", ".bss", 0),  # seen_b
        Relocation(26, "map_value", ".data", 0),  # hits
        Relocation(35, "map", "pairs"),
        Relocation(40, "map_value", ".bss", 8),  # seen_a
        Relocation(44, "call", "double_it"),  # via the .text section symbol + imm
        Relocation(51, "call", "global_add"),  # via the function symbol, imm -1
    )
    assert spec.programs["global_add"].relocations == (Relocation(0, "map_value", ".rodata", 8),)
    assert spec.programs["double_it"].relocations == (Relocation(1, "map_value", ".rodata", 0),)


def test_map_value_addend_is_symbol_value_plus_insn_imm():
    # .rodata's string literal is addressed through the section symbol; move
    # it by patching the imm clang left in the ld_imm64 and the addend follows.
    raw = bytearray((DATA / "tp_ringbuf.o").read_bytes())
    spec = read_object(bytes(raw))
    reloc = spec.programs["on_execve"].relocations[1]
    assert reloc == Relocation(15, "map_value", ".rodata", 0)
    text_off = _section_offset(raw, "tracepoint/syscalls/sys_enter_execve")
    struct.pack_into("<i", raw, text_off + 15 * 8 + 4, 5)
    patched = read_object(bytes(raw))
    assert patched.programs["on_execve"].relocations[1] == Relocation(15, "map_value", ".rodata", 5)


def _section_offset(raw: bytes, name: str) -> int:
    from io import BytesIO

    from elftools.elf.elffile import ELFFile

    return ELFFile(BytesIO(raw)).get_section_by_name(name)["sh_offset"]


def test_xdp_btf_maps():
    spec = load("xdp_maps.o")
    assert spec.maps["counts"] == MapSpec(
        name="counts", map_type=1, key_size=4, value_size=8, max_entries=1024,
        key_type_id=8, value_type_id=11, btf_var_type_id=14,
    )
    assert spec.maps["pairs"] == MapSpec(
        name="pairs", map_type=2, key_size=4, value_size=16, max_entries=4, flags=0x80,
        pinning=1, key_type_id=8, value_type_id=20, btf_var_type_id=24,
    )


def test_global_data_maps():
    spec = load("xdp_maps.o")
    rodata, data, bss = spec.maps[".rodata"], spec.maps[".data"], spec.maps[".bss"]
    assert rodata == MapSpec(
        name=".rodata", map_type=2, key_size=4, value_size=16, max_entries=1,
        flags=0x80 | 0x400, value_type_id=48, global_data=True,
        initial_data=struct.pack("<IIQ", 7, 0, 99),
    )
    assert (data.flags, data.value_size, data.initial_data) == (0x400, 8, struct.pack("<Q", 3))
    assert (bss.flags, bss.value_size, bss.initial_data) == (0x400, 12, bytes(12))
    assert data.value_type_id == 46 and bss.value_type_id == 45


def test_func_and_line_info():
    spec = load("xdp_maps.o")
    prog = spec.programs["xdp_count"]
    assert prog.func_info == (FuncInfo(0, 30),)
    assert spec.programs["double_it"].func_info == (FuncInfo(0, 32),)
    first = prog.line_info[0]
    assert (first.insn, first.line, first.col) == (0, 45, 19)
    assert first.file == "./xdp_maps.c"
    assert first.source == "\t__u32 key = ctx->ingress_ifindex;"
    # Every line-info insn is inside the function, in order.
    insns = [li.insn for li in prog.line_info]
    assert insns == sorted(insns) and 0 <= insns[-1] < prog.insn_count
    source = (DATA / "xdp_maps.c").read_text().splitlines()
    for li in prog.line_info:
        # line 0 marks compiler-made instructions (no source line).
        assert li.source == (source[li.line - 1] if li.line else "")
    sub = spec.programs["global_add"].line_info
    assert [(li.insn, li.line) for li in sub] == [(0, 39), (3, 39), (4, 39)]


def test_ringbuf_tracepoint_license_version():
    spec = load("tp_ringbuf.o")
    assert spec.license == "Dual MIT/GPL"
    assert spec.kern_version == 0x60100
    assert spec.maps["events"] == MapSpec(
        name="events", map_type=27, key_size=0, value_size=0, max_entries=4096,
        btf_var_type_id=spec.maps["events"].btf_var_type_id,
    )
    assert spec.maps[".rodata"].initial_data == b"execve %d\0"
    prog = spec.programs["on_execve"]
    assert prog.relocations[0] == Relocation(0, "map", "events")
    assert prog.section == "tracepoint/syscalls/sys_enter_execve"


def test_two_programs_in_one_section_and_callbacks():
    spec = load("tailcall.o")
    assert [(p.name, p.section, p.insn_count) for p in spec.programs.values()] == [
        ("step", ".text", 7),
        ("tail_target", "tc", 2),
        ("entry", "tc", 28),
    ]
    assert spec.programs["entry"].relocations == (
        Relocation(6, "map", "outer"),
        Relocation(17, "func_addr", "step", 0),  # bpf_loop callback
        Relocation(22, "map", "jump"),
    )
    assert spec.programs["entry"].insns[:8] == bytes.fromhex("bf16000000000000")  # r6 = r1


def test_prog_array_and_map_in_map_values():
    spec = load("tailcall.o")
    inner = MapSpec(name="outer.inner", map_type=2, key_size=4, value_size=4, max_entries=1,
                    key_type_id=8, value_type_id=8)
    outer = spec.maps["outer"]
    assert outer.map_type == 12 and outer.max_entries == 4 and outer.value_size == 4
    assert outer.inner == inner
    assert outer.init_slots == ((0, "inner_a"), (2, "inner_b"))
    jump = spec.maps["jump"]
    assert (jump.map_type, jump.max_entries, jump.init_slots) == (3, 2, ((1, "tail_target"),))
    assert spec.maps["inner_a"].max_entries == 1


def test_kfunc_ksym_kconfig():
    spec = load("kfunc.o")
    assert spec.programs["run"].relocations == (
        Relocation(0, "kfunc", "bpf_rcu_read_lock"),
        Relocation(1, "kfunc", "bpf_rcu_read_unlock"),
        Relocation(2, "ksym", "bpf_prog_active"),
        Relocation(5, "kconfig", "CONFIG_HZ"),
        Relocation(8, "kconfig", "LINUX_KERNEL_VERSION"),
    )
    assert spec.maps == {}


def test_specs_are_deterministic():
    assert load("tailcall.o") == load("tailcall.o")


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "malformed ELF"),
        (b"\x7fELF" + bytes(60), "malformed ELF"),
        (b"not an elf at all" * 10, "malformed ELF"),
    ],
)
def test_garbage_raises_elf_error(data, message):
    with pytest.raises(ELFError, match=message):
        read_object(data, source_name="junk.o")


def test_truncated_object_raises_elf_error():
    raw = (DATA / "xdp_maps.o").read_bytes()
    for cut in (100, len(raw) // 2, len(raw) - 10):
        with pytest.raises(ELFError):
            read_object(raw[:cut])


def test_non_bpf_elf_is_rejected():
    import sys

    with pytest.raises(ELFError):
        read_object(Path(sys.executable).resolve().read_bytes()[:1 << 20])


def test_core_relocations_per_program():
    from pyebpf.btf import CoreRelo

    spec = load("core.o")
    relos = spec.extra["core_relos"]["core_prog"]
    assert [(r.insn_off, r.type_id, r.kind, r.access) for r in relos] == [
        (2, 5, 0, "0:0"),  # task->pid: field byte offset
        (15, 5, 0, "0:2"),  # task->real_parent
        (22, 5, 0, "0:1"),  # ->tgid
        (29, 7, 2, "0:0"),  # field exists on task_struct___old
        (31, 5, 9, "0"),  # type size
    ]
    assert all(isinstance(r, CoreRelo) for r in relos)


def test_core_relocate_against_local_btf():
    from pyebpf.btf import BTF, core_relocate

    spec = load("core.o")
    local = BTF(spec.btf)
    values = [core_relocate(local, r, local) for r in spec.extra["core_relos"]["core_prog"]]
    # pid at 0, real_parent at 8, tgid at 4; no_such_field absent; sizeof == 16
    assert values == [0, 8, 4, 0, 16]


@pytest.mark.parametrize(
    "fixture, program, expected",
    [
        ("xdp_maps.o", "xdp_count", (6, 37, "")),  # XDP, BPF_XDP
        ("tailcall.o", "entry", (3, 0, "")),  # SCHED_CLS
        ("tp_ringbuf.o", "on_execve", (5, 0, "syscalls/sys_enter_execve")),  # TRACEPOINT
        ("kfunc.o", "run", (31, 0, "")),  # SYSCALL
        ("core.o", "core_prog", (17, 0, "sys_enter")),  # RAW_TRACEPOINT
        ("xdp_maps.o", "double_it", (0, 0, "")),  # subprogram
    ],
)
def test_program_types_from_section_names(fixture, program, expected):
    prog = load(fixture).programs[program]
    assert (prog.prog_type, prog.expected_attach_type, prog.attach_to) == expected
