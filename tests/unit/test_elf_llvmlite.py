"""elf.read_object on objects emitted in-process by llvmlite's LLVM (the compiler's path)."""

from __future__ import annotations

import pytest

from pyebpf.elf import read_object
from pyebpf.spec import FuncInfo, Relocation

llvm = pytest.importorskip("llvmlite.binding")

SOURCE = """\
# a hand-written stand-in for a compiled Python file
def prog(ctx):
    return helper(1)

def helper(x):
    return x + 1
"""

IR = r"""
target datalayout = "e-m:e-p:64:64-i64:64-i128:128-n32:64-S128"
target triple = "bpfel"

@_license = global [4 x i8] c"GPL\00", section "license", align 1, !dbg !20
@llvm.compiler.used = appending global [1 x ptr] [ptr @_license], section "llvm.metadata"

define i32 @helper(i32 %x) noinline section ".text" !dbg !30 {
  %r = add i32 %x, 1, !dbg !31
  ret i32 %r, !dbg !31
}

define i32 @prog(ptr %ctx) section "xdp" !dbg !10 {
  %v = call i32 @helper(i32 1), !dbg !15
  %w = add i32 %v, 1, !dbg !15
  ret i32 %w, !dbg !15
}

!llvm.dbg.cu = !{!0}
!llvm.module.flags = !{!3, !4}
!0 = distinct !DICompileUnit(language: DW_LANG_C99, file: !1, producer: "pyebpf", isOptimized: true, runtimeVersion: 0, emissionKind: FullDebug, globals: !24)
!1 = !DIFile(filename: "prog.py", directory: "@DIR@")
!3 = !{i32 2, !"Debug Info Version", i32 3}
!4 = !{i32 7, !"Dwarf Version", i32 5}
!10 = distinct !DISubprogram(name: "prog", scope: !1, file: !1, line: 2, type: !11, scopeLine: 2, flags: DIFlagPrototyped, spFlags: DISPFlagDefinition | DISPFlagOptimized, unit: !0)
!11 = !DISubroutineType(types: !12)
!12 = !{!13, !14}
!13 = !DIBasicType(name: "int", size: 32, encoding: DW_ATE_signed)
!14 = !DIDerivedType(tag: DW_TAG_pointer_type, baseType: null, size: 64)
!15 = !DILocation(line: 3, column: 5, scope: !10)
!20 = !DIGlobalVariableExpression(var: !21, expr: !DIExpression())
!21 = distinct !DIGlobalVariable(name: "_license", scope: !0, file: !1, line: 1, type: !22, isLocal: false, isDefinition: true)
!22 = !DICompositeType(tag: DW_TAG_array_type, baseType: !23, size: 32, elements: !25)
!23 = !DIBasicType(name: "char", size: 8, encoding: DW_ATE_signed_char)
!24 = !{!20}
!25 = !{!26}
!26 = !DISubrange(count: 4)
!30 = distinct !DISubprogram(name: "helper", scope: !1, file: !1, line: 5, type: !32, scopeLine: 5, flags: DIFlagPrototyped, spFlags: DISPFlagDefinition | DISPFlagOptimized, unit: !0)
!31 = !DILocation(line: 6, column: 5, scope: !30)
!32 = !DISubroutineType(types: !33)
!33 = !{!13, !13}
"""

PLAIN_IR = r"""
target triple = "bpfel"
define i32 @xdp_pass(ptr %ctx) section "xdp" {
  ret i32 2
}
"""


def emit(ir: str) -> bytes:
    llvm.initialize_all_targets()
    llvm.initialize_all_asmprinters()
    module = llvm.parse_assembly(ir)
    module.verify()
    machine = llvm.Target.from_triple("bpfel").create_target_machine(
        cpu="v3", opt=2, reloc="static", codemodel="small"
    )
    return machine.emit_object(module)


def test_without_debug_info():
    spec = read_object(emit(PLAIN_IR), source_name="plain")
    prog = spec.programs["xdp_pass"]
    assert prog.section == "xdp" and not prog.is_subprogram
    # w0 = 2 (or r0 = 2); exit
    assert prog.insn_count == 2 and prog.insns[8:] == bytes.fromhex("9500000000000000")
    assert prog.insns[4:8] == (2).to_bytes(4, "little")
    assert spec.btf is None and prog.line_info == () and prog.func_info == ()


def test_with_debug_info(tmp_path):
    # LLVM reads the source file to put each line's text into .BTF.
    (tmp_path / "prog.py").write_text(SOURCE)
    spec = read_object(emit(IR.replace("@DIR@", str(tmp_path))), source_name="dbg")
    assert spec.license == "GPL"
    assert spec.btf is not None
    prog, helper = spec.programs["prog"], spec.programs["helper"]
    assert helper.is_subprogram and helper.section == ".text"
    assert Relocation(1, "call", "helper") in prog.relocations
    assert len(prog.func_info) == 1 and prog.func_info[0].insn == 0
    assert helper.func_info == (FuncInfo(0, helper.func_info[0].type_id),)
    lines = {(li.line, li.source) for li in prog.line_info}
    assert (3, "    return helper(1)") in lines
    assert {li.file for li in prog.line_info} == {str(tmp_path / "prog.py")}
    assert {li.line for li in helper.line_info} <= {5, 6}


CALLS_IR = r"""
target triple = "bpfel"
define internal i32 @h(i32 %x) noinline section ".text" {
  %r = add i32 %x, 3
  ret i32 %r
}
define i32 @g(i32 %x) noinline section ".text" {
  %r = call i32 @h(i32 %x)
  ret i32 %r
}
define i32 @prog(ptr %c) section "xdp" {
  %v = call i32 @g(i32 1)
  %w = call i32 @h(i32 %v)
  ret i32 %w
}
"""


def test_calls_with_and_without_relocations():
    # LLVM 22 resolves g -> h (same section) itself: `call -4`, no relocation;
    # prog -> g uses g's symbol, prog -> h (static) the .text section symbol.
    spec = read_object(emit(CALLS_IR))
    assert spec.programs["g"].relocations == (Relocation(0, "call", "h"),)
    assert spec.programs["prog"].relocations == (
        Relocation(1, "call", "g"),
        Relocation(3, "call", "h"),
    )
    assert spec.programs["prog"].prog_type == 6  # BPF_PROG_TYPE_XDP
