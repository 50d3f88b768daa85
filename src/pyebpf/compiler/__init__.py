"""The compiler: decorated Python functions -> one BPF ELF object.

``compile_programs(programs)`` runs the stages of DESIGN.md: frontend (ast ->
typed IR, checked), codegen (typed IR -> LLVM IR with debug info), target
(O2 + BPF backend -> ELF).  The result carries every intermediate form so
tools and tests can look at each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import CompileError
from . import tir
from .codegen import ModuleBuilder
from .frontend import MapUse, translate
from .target import emit_object

__all__ = ["CompiledObject", "compile_programs"]


@dataclass
class CompiledObject:
    """One compiled ELF object and the forms it went through."""

    elf: bytes
    llvm_ir: str
    unoptimized_ir: str
    typed_ir: str
    maps: dict[str, Any] = field(default_factory=dict)  # object map name -> declaration
    programs: list[str] = field(default_factory=list)
    cpu: str = "v3"


def compile_programs(programs: list[Any], *, cpu: str | None = None,
                     license: str = "GPL") -> CompiledObject:
    """Compile entry programs (``bpf.Program`` objects) into one object."""
    maps: dict[int, MapUse] = {}
    funcs: list[tuple[tir.Function, Any]] = []
    seen: dict[str, Any] = {}
    for prog in programs:
        if prog.name in seen and seen[prog.name] is not prog:
            raise CompileError(f"two programs are named {prog.name!r}; rename one")
        seen[prog.name] = prog
        fn, src = translate(prog.fn, prog.hook.section, prog.hook.context(), maps)
        funcs.append((fn, src))
    names: dict[str, Any] = {}
    for use in maps.values():
        other = names.get(use.name)
        if other is not None and other is not use.map:
            raise CompileError(
                f"two different maps are both named {use.name!r}; pass name=... to one of them"
            )
        names[use.name] = use.map
        if getattr(use.map, "name", None) is None:
            use.map._set_name(use.name)
    mb = ModuleBuilder(license=license)
    first_fn, first_src = funcs[0]
    file = mb.di_file(first_src.filename, first_src.text)
    mb.cu(file)
    for use in maps.values():
        mb.declare_map(use, file, first_fn.loc)
    for fn, src in funcs:
        mb.add_function(fn, src.filename, src.text)
    raw_ir = mb.finish()
    from .target import default_cpu

    chosen = cpu or default_cpu()
    elf, opt_ir = emit_object(raw_ir, chosen)
    return CompiledObject(
        elf=elf,
        llvm_ir=opt_ir,
        unoptimized_ir=raw_ir,
        typed_ir="\n".join(tir.dump(fn) for fn, _ in funcs),
        maps=names,
        programs=[fn.name for fn, _ in funcs],
        cpu=chosen,
    )
