"""USDT arguments at run time: the spec map, the BPF-side decoder, and spec slots.

One probe may have several sites (inlined copies) whose argument specs differ
(``-4@%eax`` at one, ``-4@-12(%rbp)`` at another), so the decoding is not
compiled into the program.  Instead:

- :data:`SPECS` is an array map of :class:`UsdtSpec` (one slot per distinct
  decoded spec), shared by every ``@bpf.usdt`` program of the process;
- when a program is attached, each site's spec is encoded (:func:`encode`) and
  written to a slot (:class:`SpecSlots`: identical specs share one), and the
  site's uprobe gets the slot number as its BPF cookie;
- ``ctx.arg(n)`` in the program is an inlined call of :func:`read_arg`: it
  looks the slot up with ``bpf_get_attach_cookie`` and reads the register
  (``bpf_probe_read_kernel`` at ``ctx + offset``, as ``pt_regs`` is the
  context), the memory operand (``bpf_probe_read_user`` of exactly its size)
  or the constant, then sign- or zero-extends it.

Slot 0 is never handed out: a program attached without a cookie reads zeros.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import pyebpf as bpf  # read_arg is a pyebpf program function: it calls bpf.<helper>

from .maps import ArrayMap
from .sdt import MAX_ARGS, PT_REGS_OFFSETS, UsdtArg, architecture
from .types import Struct, i64, u8, u16, u32, u64

__all__ = ["UsdtSpec", "SPECS", "MAX_SPECS", "read_arg", "encode", "SpecSlots", "SPEC_MAP_NAME"]

#: Distinct specs attached at once, per process (libbpf's default is 256).
MAX_SPECS = 1024
SPEC_MAP_NAME = "__usdt_specs"

# UsdtSpec.kind values; 0 marks an argument the site does not have.  _MEM: at
# base + index * scale + value; _ADDR: at index * scale + value (no base register).
_CONST, _REG, _MEM, _ADDR = 1, 2, 3, 4


class UsdtSpec(Struct):
    """How to find each argument of one probe site (arrays indexed by argument number).

    The fields after ``signed`` were added for index operands and high-byte
    registers; zero there means neither, so the fields before keep their
    layout and meaning.
    """

    value: i64[MAX_ARGS]  # the constant (already extended), or the memory displacement
    reg: u16[MAX_ARGS]  # byte offset of the (base) register in struct pt_regs
    kind: u8[MAX_ARGS]  # _CONST, _REG, _MEM, _ADDR; 0: no such argument
    size: u8[MAX_ARGS]  # 1, 2, 4 or 8 bytes
    signed: u8[MAX_ARGS]
    index: u16[MAX_ARGS]  # byte offset of the index register in struct pt_regs
    scale: u8[MAX_ARGS]  # 1, 2, 4 or 8; 0: no index register
    shift: u8[MAX_ARGS]  # the value is register >> shift (8 for %ah..%dh)


SPECS = ArrayMap(UsdtSpec, max_entries=MAX_SPECS, name=SPEC_MAP_NAME)


# --------------------------------------------------------------------------- BPF side
# Written in pyebpf's own language: ctx.arg(n) in a usdt program is an inlined call of
# read_arg(ctx, n) (see ContextType.arg_reader), with n a u32 constant.


def read_arg(ctx, n):  # type: ignore[no-untyped-def]
    spec = SPECS.lookup(u32(bpf.get_attach_cookie(ctx)))
    if spec is None:
        return u64(0)
    kind = spec.kind[n]
    if kind == _CONST:
        return u64(spec.value[n])
    if kind != _REG and kind != _MEM and kind != _ADDR:
        return u64(0)
    reg = u64[1]()
    raw = u64(0)
    if kind != _ADDR:
        bpf.probe_read_kernel(reg, u64(ctx) + spec.reg[n])
        raw = reg[0] >> (spec.shift[n] & 63)
    size = spec.size[n]
    if kind != _REG:
        addr = raw + u64(spec.value[n])
        scale = spec.scale[n]
        if scale != 0:
            bpf.probe_read_kernel(reg, u64(ctx) + spec.index[n])
            addr += reg[0] * scale
        # exactly `size` bytes: a wider read could run past the end of a mapping
        if size == 1:
            b1 = u8[1]()
            bpf.probe_read_user(b1, addr)
            raw = b1[0]
        elif size == 2:
            b2 = u16[1]()
            bpf.probe_read_user(b2, addr)
            raw = b2[0]
        elif size == 4:
            b4 = u32[1]()
            bpf.probe_read_user(b4, addr)
            raw = b4[0]
        else:
            bpf.probe_read_user(reg, addr)
            raw = reg[0]
    shift = 64 - 8 * u64(size)
    if spec.signed[n]:
        return u64(i64(raw << shift) >> shift)
    return (raw << shift) >> shift


# --------------------------------------------------------------------------- user side


def encode(args: Sequence[UsdtArg], machine: str, *, site_address: int = 0,
           symbol_address: Callable[[str], int] | None = None,
           position_dependent: bool = False) -> UsdtSpec:
    """The :class:`UsdtSpec` of one site's parsed arguments.

    A ``symbol(%rip)`` operand becomes a memory operand relative to the
    instruction pointer, which at the probe is the site's runtime address:
    ``symbol_address(symbol) - site_address`` is then the displacement, the
    same whatever address the file is loaded at.  A symbol with another base
    register or none (``arr(,%rax,8)``) is an absolute address, which only a
    ``position_dependent`` file (``ET_EXEC``: loaded where it was linked) can
    hold; in any other file it is refused.
    """
    regs = PT_REGS_OFFSETS[architecture(machine)]
    fields: dict[str, list[int]] = {f: [] for f in ("value", "reg", "kind", "size", "signed",
                                                     "index", "scale", "shift")}
    for a in args:
        value, reg, index = a.value, 0, 0
        if a.kind == "const":
            value, kind = a.extend(a.value), _CONST
        else:
            kind = _REG if a.kind == "reg" else _MEM if a.reg else _ADDR
            reg = regs[a.reg] if a.reg else 0
            index = regs[a.index] if a.index else 0
        if a.symbol:
            if symbol_address is None:
                raise ValueError(f"{a.text!r}: no symbol table to resolve {a.symbol!r}")
            if a.reg == "rip":
                value += symbol_address(a.symbol) - site_address
            elif position_dependent:
                value += symbol_address(a.symbol)
            else:
                raise ValueError(f"{a.text!r}: the absolute address of {a.symbol!r} in a "
                                 "position-independent file depends on where it is loaded")
        for name, v in (("value", value), ("reg", reg), ("kind", kind), ("size", a.size),
                        ("signed", int(a.signed)), ("index", index), ("scale", a.scale),
                        ("shift", a.shift)):
            fields[name].append(v)
    pad = [0] * (MAX_ARGS - len(args))
    return UsdtSpec(**{name: values + pad for name, values in fields.items()})


class SpecSlots:
    """Slots of one spec map (by map id): identical specs share a slot, counted by users."""

    _lock = threading.Lock()
    _by_map: dict[int, dict[bytes, list[int]]] = {}  # map id -> spec bytes -> [slot, users]

    @classmethod
    def acquire(cls, map_id: int, specs: Sequence[UsdtSpec],
                write: Callable[[int, bytes], None]) -> tuple[list[int], Callable[[], None]]:
        """A slot per spec (written with ``write(slot, bytes)`` when new); and the release.

        Raises ``OverflowError`` when the map has no free slot left.
        """
        with cls._lock:
            table = cls._by_map.setdefault(map_id, {})
            taken: list[bytes] = []
            slots: list[int] = []
            try:
                for spec in specs:
                    data = bytes(spec)
                    entry = table.get(data)
                    if entry is None:
                        used = {s for s, _ in table.values()}
                        slot = next((i for i in range(1, MAX_SPECS) if i not in used), None)
                        if slot is None:
                            raise OverflowError(f"all {MAX_SPECS - 1} USDT spec slots are in "
                                                "use; detach other USDT probes first")
                        write(slot, data)
                        entry = table[data] = [slot, 0]
                    entry[1] += 1
                    taken.append(data)
                    slots.append(entry[0])
            except BaseException:
                cls._release(map_id, taken)
                raise

        def release() -> None:
            with cls._lock:
                cls._release(map_id, taken)

        return slots, release

    @classmethod
    def in_use(cls, map_id: int) -> int:
        """How many slots of map ``map_id`` attached probes hold now."""
        with cls._lock:
            return len(cls._by_map.get(map_id, {}))

    @classmethod
    def _release(cls, map_id: int, taken: list[bytes]) -> None:
        table = cls._by_map.get(map_id, {})
        for data in taken:
            entry = table.get(data)
            if entry is not None:
                entry[1] -= 1
                if entry[1] <= 0:
                    del table[data]
        taken.clear()
