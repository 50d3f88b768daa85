"""Bad programs are refused at the user's file:line, with a message and no compiler internals."""

from __future__ import annotations

import inspect
import re
import traceback

import pytest

import pyebpf as bpf

from . import bad_programs

PROGRAMS = [
    (name, obj)
    for name, obj in vars(bad_programs).items()
    if isinstance(obj, bpf.Program)
]
INTERNALS = ("frontend.py", "codegen.py", "llvmlite", "pyelftools", "cffi", "site-packages",
             "pyebpf/compiler")


def _expected(prog: bpf.Program) -> tuple[int, str]:
    """The line marked ``# ERR words``; ``# ERR-AT f`` sends the search to function ``f``."""
    fn = prog.fn
    for _ in range(3):
        lines, first = inspect.getsourcelines(fn)
        text = "".join(lines)
        follow = re.search(r"# ERR-AT (\w+)", text)
        if follow:
            fn = getattr(bad_programs, follow.group(1))
            fn = getattr(fn, "fn", fn)
            continue
        for i, line in enumerate(lines):
            m = re.search(r"# ERR (.*)$", line)
            if m:
                return first + i, m.group(1).strip()
        break
    raise AssertionError(f"{prog.name} has no # ERR marker")


def test_there_are_enough_bad_programs() -> None:
    assert len(PROGRAMS) >= 25


@pytest.mark.parametrize("name,prog", PROGRAMS, ids=[n for n, _ in PROGRAMS])
def test_bad_program_is_reported_at_its_line(name: str, prog: bpf.Program) -> None:
    line, words = _expected(prog)
    with pytest.raises(bpf.CompileError) as info:
        prog.compile()
    err = info.value
    assert err.filename == bad_programs.__file__
    assert err.lineno == line, str(err)
    text = str(err)
    assert text.startswith(f"{bad_programs.__file__}:{line}:"), text
    assert words in text, text
    assert "^" in text  # the caret under the column
    for internal in INTERNALS:
        assert internal not in text
    # Raised without the compiler's own frames chained to it.
    assert err.__cause__ is None and err.__suppress_context__
    shown = "".join(traceback.format_exception(type(err), err, err.__traceback__))
    assert "During handling" not in shown


def test_compile_errors_are_syntax_errors_and_type_errors() -> None:
    with pytest.raises(SyntaxError):
        bad_programs.uses_list.compile()
    with pytest.raises(TypeError):
        bad_programs.mixed_signedness.compile()


def test_error_gives_a_hint() -> None:
    with pytest.raises(bpf.CompileError) as info:
        bad_programs.unchecked_lookup.compile()
    assert "hint: check it first" in str(info.value)


def test_internal_codegen_failure_is_a_compile_error_at_the_line(monkeypatch) -> None:
    """Should codegen fail on something the frontend let through, the user sees their line."""
    from pyebpf.compiler import codegen

    def broken(self, s):
        raise TypeError("cannot store i32 to [16 x i8]*: mismatching types")

    monkeypatch.setattr(codegen.ModuleBuilder, "stmt_Store", broken)
    monkeypatch.setenv("PYEBPF_CACHE", "0")
    monkeypatch.delenv("PYEBPF_DEBUG", raising=False)
    prog = bpf.xdp(_stores_a_field)
    with pytest.raises(bpf.CompileError) as info:
        prog.compile()
    err = info.value
    line = inspect.getsourcelines(_stores_a_field)[1] + 2
    assert (err.filename, err.lineno) == (__file__, line)
    text = str(err)
    assert "internal compiler error" in text and "please report" in text
    for internal in INTERNALS:
        assert internal not in text
    assert err.__cause__ is None and err.__suppress_context__


def _stores_a_field(ctx) -> int:
    p = bad_programs.Pair()
    p.b = 2
    return 0
