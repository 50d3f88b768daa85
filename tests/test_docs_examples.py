"""Every program in docs/language.md compiles (and every error example fails as it says).

A ```python block is a program example when it defines a decorated program
(a line starting with ``@bpf.``).  Each runs as its own module, after the
preamble the document states; its programs are compiled in-process.  A block
whose first line is ``# CompileError: <text>`` must instead raise a
CompileError whose message contains ``<text>``.  Tracepoint contexts come
from the running kernel's tracefs, so those blocks need root.
"""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

import pytest

import pyebpf as bpf

DOC = Path(__file__).resolve().parent.parent / "docs" / "language.md"
PREAMBLE = (
    "import pyebpf as bpf\n"
    "from pyebpf import u8, u16, u32, u64, i8, i16, i32, i64, bool_, char\n"
)
KERNEL_SKIP = "needs root and a BPF-capable kernel (kernel test)"
# Examples of documented constructs the compiler does not handle yet; each is
# a bug to fix in the compiler, and the marker goes when it is fixed.
KNOWN_BUGS: dict[str, str] = {}  # example name -> reason, for known compiler bugs

_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
_DEF = re.compile(r"^def (\w+)\(", re.M)
_EXPECT = re.compile(r"\A# CompileError: (.+)\n")


def _examples() -> list[pytest.param]:
    params = []
    for block in _BLOCK.findall(DOC.read_text()):
        if not re.search(r"^@bpf\.", block, re.M):
            continue
        name = _DEF.findall(block)[-1]
        marks = []
        if "@bpf.tracepoint(" in block and os.geteuid() != 0:
            marks.append(pytest.mark.skip(reason=KERNEL_SKIP))
        if name in KNOWN_BUGS:
            marks.append(pytest.mark.xfail(reason=KNOWN_BUGS[name], strict=False))
        params.append(pytest.param(block, id=name, marks=marks))
    return params


def _import(source: str, path: Path) -> object:
    path.write_text(PREAMBLE + source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_document_has_examples() -> None:
    assert len(_examples()) >= 10


@pytest.mark.parametrize("block", _examples())
def test_example_compiles(block: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    expect = _EXPECT.match(block)
    module = _import(block, tmp_path / f"doc_{request.node.callspec.id}.py")
    programs = [v for v in vars(module).values() if isinstance(v, bpf.Program)]
    assert programs, "the block defines no program"
    if expect is None:
        compiled = bpf.compile(*programs)
        assert compiled.elf.startswith(b"\x7fELF")
        return
    with pytest.raises(bpf.CompileError) as info:
        bpf.compile(*programs)
    assert expect.group(1) in str(info.value)
