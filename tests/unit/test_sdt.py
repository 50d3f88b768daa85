"""USDT notes and argument specs without a kernel: parsing (x86-64, arm64), encoding, slots."""

from __future__ import annotations

import re
import struct

import pytest

from pyebpf import sdt, usdt_args
from pyebpf.lang.contexts import usdt_context
from pyebpf.types import u64

X86 = sdt.PT_REGS_OFFSETS["x86_64"]


def parse(spec: str, machine: str = "x86_64") -> list[tuple[str, int, bool, str, int, str]]:
    return [(a.kind, a.size, a.signed, a.reg, a.value, a.symbol)
            for a in sdt.parse_args(spec, machine)]


def test_x86_operand_kinds() -> None:
    assert parse("-4@%eax 8@-16(%rbp) 8@%rdx -4@$5 2@(%rax) 8@0x10(%rsp) -4@$-3 8@$0xff") == [
        ("reg", 4, True, "rax", 0, ""),
        ("mem", 8, False, "rbp", -16, ""),
        ("reg", 8, False, "rdx", 0, ""),
        ("const", 4, True, "", 5, ""),
        ("mem", 2, False, "rax", 0, ""),
        ("mem", 8, False, "rsp", 16, ""),
        ("const", 4, True, "", -3, ""),
        ("const", 8, False, "", 255, ""),
    ]


def test_x86_symbol_operands_are_rip_relative() -> None:
    assert parse("-2@g_step(%rip) 8@table+8(%rip) 4@buf-4(%rip)") == [
        ("mem", 2, True, "rip", 0, "g_step"),
        ("mem", 8, False, "rip", 8, "table"),
        ("mem", 4, False, "rip", -4, "buf"),
    ]


def test_x86_index_operands() -> None:
    spec = ("8@(%rax,%rdx,4) -4@16(%rbx,%rcx,8) 8@sym(,%rax,8) -4@ss+8(,%r8,4) 2@(%rsi,%r9) "
            "1@-0x10(%r12,%r13d,2) 8@(,%rdi) 8@0(%rax,%riz,1) 4@arr(%rbx,%rcx,8)")
    assert [(a.kind, a.size, a.signed, a.reg, a.value, a.symbol, a.index, a.scale)
            for a in sdt.parse_args(spec, "x86_64")] == [
        ("mem", 8, False, "rax", 0, "", "rdx", 4),
        ("mem", 4, True, "rbx", 16, "", "rcx", 8),
        ("mem", 8, False, "", 0, "sym", "rax", 8),  # no base register
        ("mem", 4, True, "", 8, "ss", "r8", 4),
        ("mem", 2, False, "rsi", 0, "", "r9", 1),  # scale 1 when omitted
        ("mem", 1, False, "r12", -16, "", "r13", 2),
        ("mem", 8, False, "", 0, "", "rdi", 1),
        ("mem", 8, False, "rax", 0, "", "", 0),  # %riz: no index
        ("mem", 4, False, "rbx", 0, "arr", "rcx", 8),
    ]
    assert all(a.scale == 0 and a.index == "" for a in sdt.parse_args("8@-16(%rbp) 8@g(%rip)",
                                                                      "x86_64"))


@pytest.mark.parametrize(("name", "reg"), [("ah", "rax"), ("bh", "rbx"), ("ch", "rcx"),
                                           ("dh", "rdx")])
def test_x86_high_byte_registers_are_bits_8_to_15(name: str, reg: str) -> None:
    (arg,) = sdt.parse_args(f"-1@%{name}", "x86_64")
    assert (arg.kind, arg.reg, arg.shift) == ("reg", reg, 8)
    (low,) = sdt.parse_args(f"-1@%{name[0]}l", "x86_64")
    assert (low.reg, low.shift) == (reg, 0)
    spec = usdt_args.encode([arg], "x86_64")
    assert (spec.kind[0], spec.reg[0], spec.shift[0], spec.size[0]) == (2, X86[reg], 8, 1)


@pytest.mark.parametrize(("name", "reg"), [
    ("rax", "rax"), ("eax", "rax"), ("ax", "rax"), ("al", "rax"), ("cl", "rcx"),
    ("sil", "rsi"), ("dil", "rdi"), ("bpl", "rbp"), ("spl", "rsp"), ("esp", "rsp"),
    ("r8", "r8"), ("r8d", "r8"), ("r9w", "r9"), ("r15b", "r15"), ("r10l", "r10"),
])
def test_x86_register_views_name_their_full_register(name: str, reg: str) -> None:
    (arg,) = sdt.parse_args(f"-1@%{name}", "x86_64")
    assert arg.reg == reg and reg in X86


def test_x86_pt_regs_offsets() -> None:
    # arch/x86/include/asm/ptrace.h: r15 at 0 ... ax 80, cx 88, dx 96, si 104, di 112, ip 128, sp 152
    assert (X86["r15"], X86["rbp"], X86["rax"], X86["rdi"], X86["rip"], X86["rsp"]) == \
        (0, 32, 80, 112, 128, 152)
    assert sorted(X86.values()) == [8 * i for i in range(15)] + [128, 152]


def test_arm64_operand_kinds() -> None:
    spec = "-4@x0 8@[sp, 16] 8@[x1] -4@5 4@w3 -8@[x29, -8] 4@#7 8@[sp, #-16] 8@sp"
    assert parse(spec, "aarch64") == [
        ("reg", 4, True, "x0", 0, ""),
        ("mem", 8, False, "sp", 16, ""),
        ("mem", 8, False, "x1", 0, ""),
        ("const", 4, True, "", 5, ""),
        ("reg", 4, False, "x3", 0, ""),
        ("mem", 8, True, "x29", -8, ""),
        ("const", 4, False, "", 7, ""),
        ("mem", 8, False, "sp", -16, ""),
        ("reg", 8, False, "sp", 0, ""),
    ]
    assert parse("8@x1", "arm64") == parse("8@x1", "aarch64")


@pytest.mark.parametrize(("spec", "machine", "message"), [
    ("3@%eax", "x86_64", "size 3 is not 1, 2, 4 or 8"),
    ("%eax", "x86_64", "expected SIZE@OPERAND"),
    ("4@%xmm0", "x86_64", "register 'xmm0' is not supported"),
    ("4@8(%rip)", "x86_64", "numeric %rip offset"),
    ("4@%fs:8", "x86_64", "expected $imm, %reg, disp(%base), disp(%base,%index,scale)"),
    ("4@(%rax,%rbx,3)", "x86_64", "scale 3 is not 1, 2, 4 or 8"),
    ("4@(%rax,%rsp,2)", "x86_64", "%rsp cannot be an index register"),
    ("4@g(%rip,%rax,2)", "x86_64", "a %rip-relative operand has no index register"),
    ("4@(%ah)", "x86_64", "%ah cannot be a base or index register"),
    ("4@8(,%bh,2)", "x86_64", "%bh cannot be a base or index register"),
    ("4@8()", "x86_64", "a memory operand without registers or symbol"),
    ("4@(%rax,%rbx,4", "x86_64", "expected $imm, %reg"),
    ("4@[x31]", "aarch64", "register 'x31' is not supported"),
    ("4@{x0}", "aarch64", "expected a constant, a register"),
    ("4@r0", "riscv64", "specs of riscv64 are not understood"),
])
def test_bad_specs_name_the_token(spec: str, machine: str, message: str) -> None:
    # after a good argument, so the message must name the bad token itself
    with pytest.raises(ValueError, match=re.escape(message)) as info:
        sdt.parse_args(f"8@%rdi {spec}" if machine == "x86_64" else spec, machine)
    assert machine == "riscv64" or repr(spec) in str(info.value)


def test_at_most_twelve_arguments() -> None:
    assert len(sdt.parse_args(" ".join(["8@%rdi"] * 12), "x86_64")) == 12
    with pytest.raises(ValueError, match="13 arguments; a USDT probe has at most 12"):
        sdt.parse_args(" ".join(["8@%rdi"] * 13), "x86_64")


def test_extend() -> None:
    (s8, u8_, s4) = sdt.parse_args("-1@%al 1@%al -4@%eax", "x86_64")
    assert s8.extend(0xFB) == -5 and u8_.extend(0xFB) == 251
    assert s8.extend(0x1_7F) == 127 and s4.extend(0xFFFF_FFFF_8000_0000) == -(1 << 31)


def test_encode_registers_memory_constants_symbols() -> None:
    args = sdt.parse_args("-4@%r9d 8@-16(%rbp) 4@$-1 -2@g(%rip)", "x86_64")
    spec = usdt_args.encode(args, "x86_64", site_address=0x1000,
                            symbol_address={"g": 0x4010}.__getitem__)
    assert list(spec.kind[:5]) == [2, 3, 1, 3, 0]  # reg, mem, const, mem, absent
    assert list(spec.reg[:4]) == [X86["r9"], X86["rbp"], 0, X86["rip"]]
    # a constant is stored extended; a symbol becomes its distance from the site's ip
    assert list(spec.value[:4]) == [0, -16, 0xFFFF_FFFF, 0x3010]
    assert list(spec.size[:4]) == [4, 8, 4, 2] and list(spec.signed[:4]) == [1, 0, 0, 1]
    assert len(bytes(spec)) == usdt_args.UsdtSpec.__bpf_type__.size


def test_encode_index_operands() -> None:
    args = sdt.parse_args("8@(%rax,%rdx,4) -4@-16(%rbx,%rcx,8) 8@(,%rdi,1) 2@(%rsi,%riz,1)",
                          "x86_64")
    spec = usdt_args.encode(args, "x86_64")
    # base + index * scale (3), or no base register (4); %riz is a plain base operand
    assert list(spec.kind[:5]) == [3, 3, 4, 3, 0]
    assert list(spec.reg[:4]) == [X86["rax"], X86["rbx"], 0, X86["rsi"]]
    assert list(spec.index[:4]) == [X86["rdx"], X86["rcx"], X86["rdi"], 0]
    assert list(spec.scale[:4]) == [4, 8, 1, 0] and list(spec.value[:4]) == [0, -16, 0, 0]
    assert list(spec.size[:4]) == [8, 4, 8, 2] and list(spec.signed[:4]) == [0, 1, 0, 0]


def test_absolute_symbols_need_a_position_dependent_file() -> None:
    args = sdt.parse_args("8@arr(,%rdi,8) -4@ss+8(,%rax,4) 4@m-4(%rbx,%rcx,8) -2@g(%rip)",
                          "x86_64")
    symbols = {"arr": 0x404040, "ss": 0x404100, "m": 0x405000, "g": 0x404010}.__getitem__
    spec = usdt_args.encode(args, "x86_64", site_address=0x401000, symbol_address=symbols,
                            position_dependent=True)
    assert list(spec.kind[:4]) == [4, 4, 3, 3]
    # absolute symbols are their address; %rip ones stay relative to the site
    assert list(spec.value[:4]) == [0x404040, 0x404108, 0x404FFC, 0x3010]
    assert list(spec.index[:4]) == [X86["rdi"], X86["rax"], X86["rcx"], 0]
    with pytest.raises(ValueError, match=re.escape(
            "'8@arr(,%rdi,8)': the absolute address of 'arr' in a position-independent file")):
        usdt_args.encode(args, "x86_64", site_address=0x1000, symbol_address=symbols)
    # %rip-relative symbols need no absolute address
    assert usdt_args.encode(args[3:], "x86_64", site_address=0x1000,
                            symbol_address=symbols).value[0] == 0x404010 - 0x1000


def test_spec_layout_keeps_the_fields_older_specs_use() -> None:
    """The fields before `index` keep their offsets; a spec without index operands or high
    bytes has zeros after them, which the decoder reads as "neither"."""
    layout = {f.name: f.offset for f in usdt_args.UsdtSpec.__bpf_type__.fields}
    assert layout == {"value": 0, "reg": 96, "kind": 120, "size": 132, "signed": 144,
                      "index": 156, "scale": 180, "shift": 192}
    old_style = usdt_args.encode(sdt.parse_args("-4@%r9d 8@-16(%rbp) 4@$-1", "x86_64"),
                                 "x86_64")
    assert bytes(old_style)[156:] == bytes(208 - 156)


ARM64 = sdt.PT_REGS_OFFSETS["aarch64"]


def test_arm64_pt_regs_offsets() -> None:
    # arch/arm64/include/uapi/asm/ptrace.h struct user_pt_regs: u64 regs[31], sp, pc, pstate
    user_pt_regs = {**{f"x{i}": 8 * i for i in range(31)}, "sp": 248, "pc": 256}
    assert user_pt_regs == ARM64
    # the same facts as the probe contexts' table (ip, sp, sizeof(struct pt_regs))
    from pyebpf.lang.contexts import PT_REGS_LAYOUTS

    _, ret, ip, sp, size = PT_REGS_LAYOUTS["aarch64"]
    assert (ret, ip, sp) == (ARM64["x0"], ARM64["pc"], ARM64["sp"]) and size == 8 * 34


@pytest.mark.parametrize("n", range(31))
def test_arm64_every_register_and_its_w_view(n: int) -> None:
    spec = usdt_args.encode(sdt.parse_args(f"8@x{n} -4@w{n} 8@[x{n}] -4@[x{n}, -{n + 1}]",
                                           "aarch64"), "aarch64")
    assert list(spec.kind[:5]) == [2, 2, 3, 3, 0]  # reg, reg, mem, mem
    assert list(spec.reg[:4]) == [8 * n] * 4
    assert list(spec.value[:4]) == [0, 0, 0, -(n + 1)]
    assert list(spec.size[:4]) == [8, 4, 8, 4] and list(spec.signed[:4]) == [0, 1, 0, 1]
    # nothing x86-only: no index register, no high-byte shift
    assert not any(spec.index) and not any(spec.scale) and not any(spec.shift)


def test_encode_arm64_specs() -> None:
    # as gcc writes them on aarch64 (glibc's, and the -O0/-O2 builds of tests/data/usdt_args.c)
    spec = usdt_args.encode(sdt.parse_args(
        "-1@w1 1@w2 -2@[sp, 14] 2@[x29, #-2] -4@[sp] 4@w5 -8@x19 8@[x0, 8] -4@-3 -4@#42 "
        "8@sp 4@wsp", "arm64"), "aarch64")
    assert list(spec.kind) == [2, 2, 3, 3, 3, 2, 2, 3, 1, 1, 2, 2]
    assert list(spec.reg) == [8, 16, 248, 232, 248, 40, 152, 0, 0, 0, 248, 248]
    assert list(spec.value) == [0, 0, 14, -2, 0, 0, 0, 8, -3, 42, 0, 0]
    assert list(spec.size) == [1, 1, 2, 2, 4, 4, 8, 8, 4, 4, 8, 4]
    assert list(spec.signed) == [1, 0, 1, 0, 1, 0, 1, 0, 1, 1, 0, 0]


def test_encode_arm64_constants_are_extended_like_x86() -> None:
    spec = usdt_args.encode(sdt.parse_args("4@-1 -1@255 2@0x12345", "aarch64"), "aarch64")
    assert list(spec.value[:3]) == [0xFFFF_FFFF, -1, 0x2345]


@pytest.mark.parametrize(("spec", "message"), [
    ("8@[x0, x1]", "expected a constant, a register, [reg] or [reg, off]"),
    ("8@pc", "register 'pc' is not supported"),
    ("8@xzr", "register 'xzr' is not supported"),
    ("8@%rax", "expected a constant, a register"),
])
def test_arm64_refusals(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        sdt.parse_args(f"8@x0 {spec}", "aarch64")


def test_architecture_names() -> None:
    assert [sdt.architecture(m) for m in ("x86_64", "amd64", "aarch64", "arm64")] == [
        "x86_64", "x86_64", "aarch64", "aarch64"]
    with pytest.raises(ValueError, match=r"specs of aarch64_be are not understood \(known: "
                                         r"x86_64, aarch64\)"):
        sdt.architecture("aarch64_be")
    with pytest.raises(ValueError, match="specs of s390x are not understood"):
        usdt_args.encode([], "s390x")


def test_encode_without_symbols_says_so() -> None:
    with pytest.raises(ValueError, match="no symbol table to resolve 'g'"):
        usdt_args.encode(sdt.parse_args("8@g(%rip)", "x86_64"), "x86_64")


def _spec(v: int) -> usdt_args.UsdtSpec:
    return usdt_args.encode(sdt.parse_args(f"8@${v}", "x86_64"), "x86_64")


def test_slots_share_identical_specs_and_never_hand_out_zero() -> None:
    written: dict[int, bytes] = {}
    slots, release = usdt_args.SpecSlots.acquire(-1, [_spec(1), _spec(2), _spec(1)],
                                                 written.__setitem__)
    assert slots[0] == slots[2] != slots[1] and 0 not in slots
    assert sorted(written) == sorted(set(slots)) and written[slots[0]] == bytes(_spec(1))
    again, release2 = usdt_args.SpecSlots.acquire(-1, [_spec(2)], written.__setitem__)
    assert again == [slots[1]] and usdt_args.SpecSlots.in_use(-1) == 2
    release()
    assert usdt_args.SpecSlots.in_use(-1) == 1  # spec 2 still used by the second attach
    release2()
    release2()  # releasing twice is harmless
    assert usdt_args.SpecSlots.in_use(-1) == 0


def test_slots_run_out_cleanly() -> None:
    specs = [_spec(v) for v in range(usdt_args.MAX_SPECS)]
    with pytest.raises(OverflowError, match="USDT spec slots are in use"):
        usdt_args.SpecSlots.acquire(-2, specs, lambda slot, data: None)
    assert usdt_args.SpecSlots.in_use(-2) == 0  # what was taken before the failure is back


def _note(pc: int, base: int, sem: int, provider: str, name: str, args: str) -> bytes:
    desc = struct.pack("<QQQ", pc, base, sem) + b"\0".join(
        s.encode() for s in (provider, name, args)) + b"\0"
    owner = b"stapsdt\0"
    pad = b"\0" * (-len(desc) % 4)
    return struct.pack("<III", len(owner), len(desc), 3) + owner + desc + pad


def test_notes_are_split_into_sites() -> None:
    data = _note(0x1130, 0x2004, 0x4010, "app", "req", "-4@%edi 8@%rsi") + \
        _note(0x1150, 0x2004, 0, "app", "done", "")
    assert sdt._parse_notes(data) == [
        (0x1130, 0x2004, 0x4010, "app", "req", "-4@%edi 8@%rsi"),
        (0x1150, 0x2004, 0, "app", "done", ""),
    ]


def test_context_without_the_binary_allows_twelve_u64_arguments() -> None:
    ctx = usdt_context("/nonexistent/app", "app", "req", "x86_64")
    assert [ctx.fields[f"arg{i}"].type for i in range(12)] == [u64] * 12
    assert "arg12" not in ctx.fields and {"ip", "sp"} <= set(ctx.fields)
    assert ctx.arg_reader is usdt_args.read_arg and "arguments unknown" in ctx.name
