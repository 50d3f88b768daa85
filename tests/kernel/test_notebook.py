"""The %%ebpf cell magic in a real IPython shell: programs defined in a cell load (and attach)."""

from __future__ import annotations

import os

import pytest

IPython = pytest.importorskip("IPython")


def test_cell_magic_loads_and_attaches_the_cells_programs() -> None:
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "pyebpf")
    cell = f'''
seen = bpf.ArrayMap(u64, max_entries=1)

@bpf.tracepoint("syscalls/sys_enter_getppid")
def nb_prog(ctx) -> int:
    if bpf.get_current_pid_tgid() >> 32 == {os.getpid()}:
        seen.increment(0)
    return 0
'''
    shell.run_cell_magic("ebpf", "--attach", cell)
    ns = shell.user_ns
    assert ns["nb_prog"].loaded
    for _ in range(3):
        os.getppid()
    assert ns["seen"][0] == 3
    assert "<table" in ns["seen"]._repr_html_()
    shell.run_line_magic("ebpf", "detach")
    os.getppid()
    assert ns["seen"][0] == 3
    ns["nb_prog"].close()


def test_compile_errors_point_into_the_cell() -> None:
    from IPython.core.interactiveshell import InteractiveShell

    import pyebpf as bpf

    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "pyebpf")
    cell = "@bpf.xdp\ndef bad(ctx) -> int:\n    x = 1.5\n    return 0\n"
    with pytest.raises(bpf.CompileError) as info:
        from pyebpf.notebook import run_cell

        run_cell(cell, shell.user_ns, filename="<ebpf-test-cell>")
    assert info.value.filename == "<ebpf-test-cell>" and info.value.lineno == 3
    assert "x = 1.5" in str(info.value)
