"""Jupyter support: ``%load_ext pyebpf`` and the ``%%ebpf`` cell magic.

::

    %load_ext pyebpf

    %%ebpf
    counts = bpf.HashMap(u32, u64, max_entries=1024)

    @bpf.tracepoint("syscalls/sys_enter_getpid")
    def on_getpid(ctx) -> int:
        counts.increment(u32(bpf.get_current_pid_tgid() >> 32))
        return 0

The cell runs in the notebook's namespace (with ``bpf`` and the integer types
already imported), then every program it defined is compiled and loaded, so
errors show at once, at the cell's line.  ``%%ebpf --attach`` also attaches
them; the links are kept in ``_ebpf_links`` and detached by ``%ebpf detach``.
Maps render as HTML tables (``Map._repr_html_``).
"""

from __future__ import annotations

from typing import Any

__all__ = ["load_ipython_extension", "run_cell"]

_PRELUDE = ("import pyebpf as bpf\n"
            "from pyebpf import u8, u16, u32, u64, i8, i16, i32, i64, char, bool_\n")


def run_cell(cell: str, namespace: dict[str, Any], *, attach: bool = False,
             filename: str = "<ebpf-cell>") -> list[Any]:
    """Run ``cell`` in ``namespace``; compile, load (and attach) the programs it defines.

    Returns the programs.  The cell's source is registered with ``linecache``
    so the compiler (and its errors) can show the cell's lines.
    """
    import linecache

    from .programs import Program

    exec(compile(_PRELUDE, "<pyebpf prelude>", "exec"), namespace)
    lines = cell.splitlines(keepends=True)
    linecache.cache[filename] = (len(cell), None, lines, filename)
    before = {k: v for k, v in namespace.items() if isinstance(v, Program)}
    exec(compile(cell, filename, "exec"), namespace)
    programs = [v for k, v in namespace.items()
                if isinstance(v, Program) and before.get(k) is not v]
    links = namespace.setdefault("_ebpf_links", [])
    for prog in programs:
        prog.load()
        if attach:
            links.append(prog.attach())
    return programs


def load_ipython_extension(ipython: Any) -> None:
    """Register ``%%ebpf`` (and ``%ebpf detach``) with an IPython shell."""
    from IPython.core.magic import register_line_cell_magic

    counter = {"n": 0}

    @register_line_cell_magic
    def ebpf(line: str, cell: str | None = None) -> Any:
        ns = ipython.user_ns
        if cell is None:
            if line.strip() == "detach":
                for link in ns.pop("_ebpf_links", []):
                    link.close()
                return None
            raise ValueError("use %%ebpf as a cell magic, or `%ebpf detach`")
        counter["n"] += 1
        programs = run_cell(cell, ns, attach="--attach" in line.split(),
                            filename=f"<ebpf-cell-{counter['n']}>")
        names = ", ".join(p.name for p in programs) or "no programs"
        print(f"loaded: {names}")
        return None

    del ebpf
