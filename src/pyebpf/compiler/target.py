"""LLVM IR text -> optimised BPF ELF bytes, in-process (no llc, no clang).

The BPF CPU version (``v2``/``v3``/``v4``) is what the running kernel
supports (:func:`pyebpf.features.cpu_version`), unless the caller asks for
one; ``v3`` when the kernel cannot be probed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

from ..errors import BPFError, debug_tracebacks

__all__ = ["emit_object", "default_cpu"]

_lock = threading.Lock()


@cache
def _llvm() -> Any:
    import llvmlite.binding as llvm

    llvm.initialize_all_targets()
    llvm.initialize_all_asmprinters()
    return llvm


# LLVM options pyebpf's compiles need: (option, pyebpf's value, the value after a compile).
# They are process-wide (llvmlite has no per-module or per-pass-builder way to give them),
# so they are set around each compile only, under the lock, and then put back for any
# other llvmlite user in the process:
# - the backend's own 512-byte stack check is a fatal error that would end the whole
#   process; pyebpf lets the object through and the verifier rejects it at its line;
# - LLVM 22 costs small constant-count loops a little above its full-unroll threshold
#   where clang 14 unrolled them; unrolled, they verify and run faster.
# Afterwards: -bpf-stack-size's default (512), and 150, the threshold LLVM uses at O2
# (llvmlite's default level) when the option was never given. An option cannot be
# "ungiven" through llvmlite, so at O3 another user gets 150 rather than LLVM's 300.
_OPTIONS = (("-bpf-stack-size", "65536", "512"), ("-unroll-threshold", "400", "150"))


@contextmanager
def _pyebpf_options(llvm: Any) -> Iterator[None]:
    """pyebpf's LLVM options for the duration of one compile (hold ``_lock``)."""
    for name, ours, _ in _OPTIONS:
        llvm.set_option("pyebpf", f"{name}={ours}")
    try:
        yield
    finally:
        for name, _, after in _OPTIONS:
            llvm.set_option("pyebpf", f"{name}={after}")


@cache
def _target_machine(cpu: str) -> Any:
    llvm = _llvm()
    target = llvm.Target.from_triple("bpfel")
    return target.create_target_machine(cpu=cpu, opt=2, reloc="static", codemodel="small")


def default_cpu() -> str:
    try:
        from ..features import cpu_version

        return cpu_version()
    except Exception:
        return "v3"


def emit_object(llvm_ir: str, cpu: str | None = None, opt: int = 2) -> tuple[bytes, str]:
    """Optimise ``llvm_ir`` and emit a relocatable BPF ELF; also return the optimised IR."""
    llvm = _llvm()
    cpu = cpu or default_cpu()
    with _lock:  # LLVM contexts are not shared safely between threads
        try:
            mod = llvm.parse_assembly(llvm_ir)
            mod.verify()
        except RuntimeError as exc:
            if debug_tracebacks():
                raise
            raise BPFError(
                "internal compiler error: pyebpf produced LLVM IR that does not verify "
                f"({str(exc).strip().splitlines()[0] if str(exc).strip() else exc}); "
                "please report it with the program (set PYEBPF_DEBUG=1 for details)"
            ) from None
        tm = _target_machine(cpu)
        with _pyebpf_options(llvm):
            if opt:
                pto = llvm.create_pipeline_tuning_options(speed_level=opt)
                pb = llvm.create_pass_builder(tm, pto)
                pb.getModulePassManager().run(mod, pb)
            return tm.emit_object(mod), str(mod)
