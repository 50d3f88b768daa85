"""pyebpf's LLVM options hold for its own compiles only, not for other llvmlite users."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pyebpf as bpf
from pyebpf import u32
from pyebpf.compiler.target import emit_object

# A loop of 60 iterations: its full unroll costs more than LLVM's O2 threshold (150) and
# less than pyebpf's (400), so whether it is unrolled shows which threshold a compile had.
LOOP = """
target triple = "bpfel"
define i64 @f(i64 %x) {
entry:
  br label %loop
loop:
  %i = phi i64 [0, %entry], [%next, %loop]
  %acc = phi i64 [%x, %entry], [%v2, %loop]
  %v0 = add i64 %acc, %i
  %v1 = mul i64 %v0, %i
  %v2 = mul i64 %v1, %i
  %next = add i64 %i, 1
  %c = icmp ult i64 %next, 60
  br i1 %c, label %loop, label %exit
exit:
  ret i64 %v2
}
"""


def _plain_llvmlite_unrolls(ir_text: str) -> bool:
    """Optimise with llvmlite at its defaults, as another library in the process would."""
    import llvmlite.binding as llvm

    tm = llvm.Target.from_triple("bpfel").create_target_machine(cpu="v3", opt=2)
    mod = llvm.parse_assembly(ir_text)
    pb = llvm.create_pass_builder(tm, llvm.create_pipeline_tuning_options(speed_level=2))
    pb.getModulePassManager().run(mod, pb)
    return "phi" not in str(mod)


@bpf.socket_filter
def small(ctx) -> int:
    total: u32 = 0
    for i in range(4):
        total += ctx.len >> u32(i)
    return total


def test_unroll_threshold_is_pyebpfs_during_its_compiles_only() -> None:
    _, optimised = emit_object(LOOP)
    assert "phi" not in optimised  # unrolled with pyebpf's threshold
    small.compile(cpu="v3")
    assert not _plain_llvmlite_unrolls(LOOP)  # LLVM's own threshold again afterwards


def test_stack_limit_is_back_for_other_llvmlite_users() -> None:
    """After a pyebpf compile, LLVM's BPF backend refuses a 600-byte stack again.

    That check ends the process (an LLVM fatal error), so it runs in a child.
    """
    child = textwrap.dedent("""
        import llvmlite.binding as llvm
        from pyebpf.compiler.target import emit_object
        big = '''
        target triple = "bpfel"
        declare void @use(ptr)
        define void @f() {
          %buf = alloca [600 x i8]
          call void @use(ptr %buf)
          ret void
        }
        '''
        emit_object(big)  # pyebpf's compile lets it through (the verifier would refuse it)
        print("pyebpf compiled", flush=True)
        tm = llvm.Target.from_triple("bpfel").create_target_machine(cpu="v3", opt=2)
        tm.emit_object(llvm.parse_assembly(big))
        print("plain llvmlite compiled", flush=True)
    """)
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True,
                          timeout=60)
    assert "pyebpf compiled" in done.stdout
    assert "plain llvmlite compiled" not in done.stdout
    assert "stack limit" in done.stderr.lower()
