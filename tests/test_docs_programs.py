"""Every program in docs/guide.md, docs/hooks.md and docs/maps.md compiles.

Unlike docs/language.md (tests/test_docs_examples.py), these documents show
programs together with how they are used: attaching to an interface, a
cgroup, a process.  Only the declarations of a block run here (imports,
classes, functions, and assignments that build maps, types or constants);
statements that would attach, load or send anything are left out, so no
example ever touches this machine's interfaces.  The programs the block
defines are then compiled in-process.
"""

from __future__ import annotations

import ast
import os
import re
import sys
import types
from pathlib import Path

import pytest

import pyebpf as bpf

DOCS = Path(__file__).resolve().parent.parent / "docs"
PREAMBLE = (
    "import pyebpf as bpf\n"
    "from pyebpf import u8, u16, u32, u64, i8, i16, i32, i64, bool_, char\n"
)
KERNEL_SKIP = "needs root and a BPF-capable kernel (kernel test)"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
# Calls an assignment may make and still be a declaration.
_DECLARING = re.compile(r"^(bpf\.|net\.|[A-Z])")


def _declares(node: ast.stmt) -> bool:
    if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef)):
        return True
    if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        calls = [n for n in ast.walk(node.value) if isinstance(n, ast.Call)]
        return (all(isinstance(t, ast.Name) for t in targets)
                and all(_DECLARING.match(ast.unparse(c.func)) for c in calls))
    return False


def _run_declarations(block: str, path: Path, module: types.ModuleType) -> dict:
    """Run the block's declarations as module ``path`` (written in full, so the
    compiler reads the programs' source at their real lines); a declaration that
    needs a name the example leaves to the reader (a socket, a pid) is skipped."""
    path.write_text(block)
    module.__file__ = str(path)
    namespace = module.__dict__
    exec(compile(PREAMBLE, "<preamble>", "exec"), namespace)
    for node in ast.parse(block).body:
        if not _declares(node):
            continue
        code = compile(ast.Module([node], type_ignores=[]), str(path), "exec")
        try:
            exec(code, namespace)
        except NameError:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                raise
    return namespace


def _examples() -> list:
    params = []
    for doc in ("guide.md", "hooks.md", "maps.md"):
        for i, block in enumerate(_BLOCK.findall((DOCS / doc).read_text())):
            if not re.search(r"^@bpf\.", block, re.M) or not re.search(r"^(def|class) ", block,
                                                                        re.M):
                continue  # no program, or only decorator signatures
            marks = []
            if os.geteuid() != 0:  # contexts of tracepoints and BTF hooks come from the kernel
                marks.append(pytest.mark.skip(reason=KERNEL_SKIP))
            params.append(pytest.param(block, id=f"{doc}-{i}", marks=marks))
    return params


def test_the_documents_have_programs() -> None:
    assert len(_examples()) >= 10


@pytest.mark.parametrize("block", _examples())
def test_program_compiles(block: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    path = tmp_path / f"doc_{request.node.callspec.id.replace('.', '_').replace('-', '_')}.py"
    module = types.ModuleType(path.stem)
    sys.modules[path.stem] = module  # struct annotations resolve through the module
    try:
        namespace = _run_declarations(block, path, module)
    finally:
        del sys.modules[path.stem]
    programs = [v for v in namespace.values() if isinstance(v, bpf.Program)]
    tables = [v for v in namespace.values() if isinstance(v, bpf.StructOps)]
    assert programs or tables, "the block defines no program"
    if programs:
        assert bpf.compile(*programs).elf.startswith(b"\x7fELF")
    for table in tables:  # struct_ops: the methods compile together, typed from kernel BTF
        assert table.compile().elf.startswith(b"\x7fELF")
