"""The compiler: decorated Python functions -> one BPF ELF object.

``compile_programs(programs)`` runs the stages of DESIGN.md in two halves:

1. :func:`front` -- frontend (ast -> typed IR, checked) for every program,
   and the maps they use.  Pure Python: nothing here imports llvmlite.
2. the backend -- codegen (typed IR -> LLVM IR with debug info) and target
   (O2 + BPF backend -> ELF), imported only when needed.

Between the two, :mod:`pyebpf.cache` is asked for an object built from the
same typed IR, maps, sources and kernel; on a hit the backend is skipped and
llvmlite is never imported.  The result carries every intermediate form so
tools and tests can look at each.
"""

from __future__ import annotations

import os
from typing import Any

from .. import kernel
from .._record import MutableRecord, factory, record
from ..errors import CompileError
from . import tir
from .frontend import MapUse, Registry, translate
from .source import FunctionSource

__all__ = ["CompiledObject", "FrontendResult", "compile_programs", "front", "cache_key"]


@record
class CompiledObject(MutableRecord):
    """One compiled ELF object and the forms it went through.

    ``spec`` is the object already parsed (set when it came from the cache,
    which must parse it to trust it); ``cache_hit`` says whether LLVM ran.
    """

    elf: bytes
    llvm_ir: str
    unoptimized_ir: str
    typed_ir: str
    maps: dict[str, Any] = factory(dict)  # object map name -> declaration
    programs: list[str] = factory(list)
    cpu: str = "v3"
    globals: dict[str, Any] = factory(dict)  # variable name -> bpf.Const / bpf.Global
    spec: Any = None
    cache_hit: bool = False
    cache_key: str | None = None


@record
class FrontendResult(MutableRecord):
    """The typed IR of every function, with its source, and the maps they use."""

    funcs: list[tuple[tir.Function, FunctionSource]]
    maps: dict[int, MapUse]
    names: dict[str, Any]  # object map name -> declaration
    globals: dict[str, Any] = factory(dict)  # variable name -> bpf.Const / bpf.Global

    @property
    def typed_ir(self) -> str:
        return "\n".join(tir.dump(fn) for fn, _ in self.funcs)


def front(programs: list[Any]) -> FrontendResult:
    """Stage 1: translate every program to typed IR; name the maps they use."""
    maps: dict[int, MapUse] = {}
    registry = Registry(maps)
    funcs: list[tuple[tir.Function, FunctionSource]] = []
    seen: dict[str, Any] = {}
    for prog in programs:
        if prog.name in seen and seen[prog.name] is not prog:
            raise CompileError(f"two programs are named {prog.name!r}; rename one")
        seen[prog.name] = prog
        funcs.append(translate(prog.fn, prog.hook.section, prog.hook.context(), maps, registry))
    taken = {fn.name for fn, _ in funcs}
    for fn, _ in registry.functions:
        if fn.name in taken:
            raise CompileError(f"a program and a function are both named {fn.name!r}; "
                               "rename one")
    funcs.extend(registry.functions)
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
    variables: dict[str, Any] = {}
    for use in registry.globals.values():
        if use.name in variables or use.name in names:
            raise CompileError(f"two globals or maps are named {use.name!r}; rename one")
        variables[use.name] = use.map
        use.map._set_name(use.name)
    return FrontendResult(funcs, maps, names, variables)


def cache_key(fr: FrontendResult, cpu: str, license: str) -> str:
    """The cache key of what :func:`_backend` would build from ``fr`` (see :mod:`pyebpf.cache`)."""
    from .. import cache

    parts: list[str] = [f"cpu={cpu}", f"license={license}"]
    for fn, src in fr.funcs:
        parts += [tir.dump(fn), f"file={src.filename}", src.text]
    parts += [cache.describe_map(use.name, use.map) for use in fr.maps.values()]
    parts += [f"global {name} {type(var).__name__} {cache.describe_type(var.type)} "
              f"{var.initial_bytes.hex()}" for name, var in fr.globals.items()]
    return cache.make_key(parts)


def _backend(fr: FrontendResult, cpu: str, license: str) -> tuple[bytes, str, str]:
    """Stage 2: codegen + target -> (ELF, optimised IR, unoptimised IR).  Imports llvmlite."""
    from .codegen import ModuleBuilder
    from .target import emit_object

    mb = ModuleBuilder(license=license)
    first_fn, first_src = fr.funcs[0]
    file = mb.di_file(first_src.filename, first_src.text)
    mb.cu(file)
    for use in fr.maps.values():
        mb.declare_map(use, file, first_fn.loc)
    for name, var in fr.globals.items():
        mb.declare_global(name, var, file, first_fn.loc)
    for fn, _ in fr.funcs:
        mb.declare_function(fn)
    for fn, src in fr.funcs:
        mb.add_function(fn, src.filename, src.text)
    raw_ir = mb.finish()
    elf, opt_ir = emit_object(raw_ir, cpu)
    return elf, opt_ir, raw_ir


def compile_programs(programs: list[Any], *, cpu: str | None = None,
                     license: str = "GPL", use_cache: bool = True) -> CompiledObject:
    """Compile entry programs (``bpf.Program`` objects) into one object (cached on disk)."""
    from .. import cache
    from .target import default_cpu  # no llvmlite at import: it loads LLVM lazily

    fr = front(programs)
    chosen = cpu or default_cpu()
    result = CompiledObject(elf=b"", llvm_ir="", unoptimized_ir="", typed_ir=fr.typed_ir,
                            globals=fr.globals, maps=fr.names, programs=[fn.name for fn, _ in fr.funcs], cpu=chosen)
    # Under $PYEBPF_KERNEL_BTF kernel structs are typed from another BTF, which the cache
    # key does not describe: compile afresh.
    use_cache = use_cache and cache.enabled() and not os.environ.get(kernel.BTF_ENV)
    if use_cache:
        result.cache_key = cache_key(fr, chosen, license)
        entry = cache.load(result.cache_key)
        if entry is not None:
            result.elf, result.llvm_ir, result.unoptimized_ir = (
                entry.elf, entry.llvm_ir, entry.unoptimized_ir)
            result.spec = entry.spec
            result.cache_hit = True
            return result
    result.elf, result.llvm_ir, result.unoptimized_ir = _backend(fr, chosen, license)
    if use_cache and result.cache_key is not None:
        import llvmlite

        from ..elf import read_object

        result.spec = read_object(result.elf, source_name="<pyebpf>")  # the loader needs it too
        cache.store(result.cache_key, cache.Entry(result.elf, result.llvm_ir,
                                                   result.unoptimized_ir, llvmlite.__version__,
                                                   result.spec))
    return result
