"""Kernel helpers callable from programs: one table entry per helper.

Each :class:`Helper` has the kernel's id (``enum bpf_func_id`` in
``include/uapi/linux/bpf.h``), the Python-side argument list and a return
type.  Argument kinds:

- ``"u64" "u32" "i32" "i64"``: an integer, converted to that type;
- ``"ctx"``: the program's context (pass ``ctx``);
- ``"map"``: a map declared at module level;
- ``"ptr"``: a pointer (a context/map/packet pointer, or an integer address);
- ``"buf"``: a local array or struct; its address is passed and its size
  fills the helper's next (implicit) ``"size"`` argument;
- ``"size"``: implicit, never written by the user.

The table is every helper of the kernel's UAPI list, generated into
``_helper_table.py`` by ``scripts/gen_helpers.py`` from ``include/uapi/linux/bpf.h``
(``FN(name, id)`` entries of ``___BPF_FUNC_MAPPER`` and the documented C
prototypes); rerun that script rather than editing the table.

Inside programs the helpers are called as ``bpf.<name>(...)``, e.g.
``bpf.get_current_pid_tgid()`` or ``bpf.get_current_comm(comm)`` where
``comm: char[16]`` is a local.  Outside programs, calling one raises.
"""

from __future__ import annotations

from typing import Any

from .._record import Record, record
from ._helper_table import TABLE

__all__ = ["Helper", "HELPERS", "by_name"]


@record
class Helper(Record):
    name: str
    id: int
    args: tuple[str, ...]
    returns: str = "u64"  # "u64" "i64" "i32" "u32" "void" "ptr"
    doc: str = ""
    c_proto: str = ""  # the kernel's C prototype, as documented in bpf.h

    @property  # type: ignore[misc]
    def __doc__(self) -> str:  # type: ignore[override]
        """What ``help(bpf.<helper>)`` shows: the kernel helper, its id and arguments."""
        args = ", ".join(self.user_args) or "no arguments"
        text = f"bpf_{self.name} (helper #{self.id}; {args}) -> {self.returns}: {self.doc}"
        return f"{text}\n\nC: {self.c_proto}" if self.c_proto else text

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(
            f"bpf.{self.name}() runs only inside an eBPF program "
            "(a function decorated with @bpf.xdp, @bpf.tracepoint, ...)"
        )

    @property
    def user_args(self) -> tuple[str, ...]:
        return tuple(a for a in self.args if a != "size")


def _row(name: str, id: int, args: str, returns: str, c_proto: str, doc: str) -> Helper:
    return Helper(name, id, tuple(args.split()), returns, doc, c_proto)


HELPERS: dict[str, Helper] = {row[0]: _row(*row) for row in TABLE}


def by_name(name: str) -> Helper | None:
    """The helper ``bpf_<name>`` (``name`` without the prefix), or None."""
    return HELPERS.get(name)
