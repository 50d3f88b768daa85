"""Typed IR: what the frontend produces and codegen consumes.

Small immutable records (:mod:`pyebpf._record`), each with a ``type`` (a :mod:`pyebpf.types` type)
and a ``loc`` (:class:`~pyebpf.compiler.source.Loc`).  Every implicit
conversion is explicit here as a :class:`Cast`, so codegen never decides a
type: it only emits what the tree says.  :func:`dump` renders a tree as text
for golden tests.
"""

from __future__ import annotations

from typing import Any

from .._record import Record, record
from ..types import BPFType, PointerType, bool_
from .source import Loc

# ---------------------------------------------------------------- expressions


@record
class Expr(Record):
    _compare_exclude = frozenset({"loc"})
    type: BPFType
    loc: Loc


@record
class Const(Expr):
    value: int


@record
class Local(Expr):
    """Read of a local variable (an int, bool or pointer held in a stack slot)."""

    name: str


@record
class AddrOf(Expr):
    """Address of a local aggregate (struct or array) on the stack."""

    name: str


@record
class Unary(Expr):
    op: str  # "-", "~", "not"
    operand: Expr


@record
class Binary(Expr):
    """Integer arithmetic; both operands already have ``type``.

    ``op`` is one of ``+ - * // % & | ^ << >>``.  Signedness comes from
    ``type``; ``//`` and ``%`` floor for signed types (Python), and give
    ``0`` / the dividend for a zero divisor.
    """

    op: str
    left: Expr
    right: Expr


@record
class Compare(Expr):
    """``op`` in ``== != < <= > >=``; operands share one integer or pointer type."""

    op: str
    left: Expr
    right: Expr


@record
class Logical(Expr):
    """Short-circuit ``and`` / ``or`` over bool operands."""

    op: str
    values: tuple[Expr, ...]


@record
class Truth(Expr):
    """``bool(value)``: non-zero integer, non-null pointer."""

    value: Expr


@record
class Conditional(Expr):
    test: Expr
    body: Expr
    orelse: Expr


@record
class Cast(Expr):
    """Integer conversion (wrap to ``type``), or pointer <-> u64."""

    value: Expr


@record
class Opaque(Expr):
    """``value``, hidden from the optimiser (an empty asm barrier).

    Keeps a bounds-checked index from being used before its check: LLVM may
    otherwise move pointer arithmetic above the comparison, and the verifier
    refuses arithmetic on a stack pointer with an unbounded register.  Also
    keeps a pointer difference whole (the verifier refuses ``pkt_end + n``).
    """

    value: Expr


@record
class BitLength(Expr):
    """``value.bit_length()`` of an unsigned 64-bit value (the log2 histogram slot)."""

    value: Expr


@record
class ByteSwap(Expr):
    """Reverse the bytes of ``value`` (host <-> network order on little-endian BPF)."""

    value: Expr


@record
class AtomicRMW(Expr):
    """``op`` (add and or xor xchg) on memory at ``pointer + offset``; gives the old value."""

    op: str
    pointer: Expr
    offset: int
    value: Expr


@record
class CmpXchg(Expr):
    """Compare-and-exchange at ``pointer + offset``; gives the old value."""

    pointer: Expr
    offset: int
    expected: Expr
    new: Expr


@record
class BytesEqual(Expr):
    """Whether the bytes at ``pointer + offset`` equal ``data`` (string compare, startswith)."""

    pointer: Expr
    offset: int
    data: bytes


@record
class HelperCall(Expr):
    """A call of kernel helper ``helper_id``; ``args`` are already converted."""

    name: str
    helper_id: int
    args: tuple[Expr, ...]


@record
class KfuncCall(Expr):
    """A call of kernel function ``name`` (resolved by the loader through kernel BTF)."""

    name: str
    args: tuple[Expr, ...]
    params: tuple[BPFType, ...]
    void: bool = False


@record
class MapRef(Expr):
    """The address of a map declared in ``.maps`` (a helper's map argument)."""

    map_name: str


@record
class GlobalAddr(Expr):
    """The address of global variable ``name`` (in .rodata, .data or .bss)."""

    name: str


@record
class FuncAddr(Expr):
    """The address of function ``name`` (a bpf_loop callback)."""

    name: str


@record
class MapLookup(Expr):
    """``m.lookup(key)``: a nullable pointer to the value."""

    map_name: str
    key: Expr
    map_ptr: Expr | None = None  # an inner map (from a map of maps) instead of map_name


@record
class Load(Expr):
    """Read ``type`` at ``pointer + offset`` (a field through a pointer)."""

    pointer: Expr
    offset: int


@record
class PtrAdd(Expr):
    """``pointer + offset`` bytes (``offset`` an integer expression)."""

    pointer: Expr
    offset: Expr


@record
class KernelFieldAddr(Expr):
    """The address of member ``member`` of kernel struct ``struct`` at ``pointer``.

    Codegen emits it as a CO-RE access (``llvm.preserve.*.access.index``), so the
    object carries a field-offset relocation the loader resolves against the BTF of
    the kernel it is loaded on; ``offset`` is the member's offset in the BTF the
    program was compiled against.  A member of an embedded struct is a chain of
    these (``icsk.icsk_ack.pending``).
    """

    pointer: Expr
    struct: Any  # a pyebpf.kernel.KernelStruct
    member: str
    offset: int


@record
class KernelFieldSize(Expr):
    """The size of the member ``address`` (a :class:`KernelFieldAddr`) points at, on the
    kernel the object is loaded on: a CO-RE "field byte size" relocation."""

    address: KernelFieldAddr


@record
class KernelBitfield(Expr):
    """The value of bitfield ``member`` of kernel struct ``struct`` at ``pointer``.

    Codegen reads it as clang's ``BPF_CORE_READ_BITFIELD(_PROBED)`` does, every fact
    about its storage a CO-RE relocation (see :mod:`pyebpf.compiler.core`);
    ``probed`` when ``pointer`` is a plain address (bpf_probe_read_kernel).
    """

    pointer: Expr
    struct: Any  # a pyebpf.kernel.KernelStruct
    member: str
    probed: bool


@record
class CtxPacketPtr(Expr):
    """A packet pointer read from a u32 context field (``xdp_md.data`` ...)."""

    ctx: Expr
    offset: int
    width: int = 4  # __u32 in xdp_md/__sk_buff; 8 for __bpf_md_ptr fields (sk_msg_md)


@record
class DataLocPtr(Expr):
    """Address of a tracepoint ``__data_loc`` field: ``ctx + (u32 at offset & 0xffff)``."""

    ctx: Expr
    offset: int


@record
class HeaderPtr(Expr):
    """``ctx.header(T, offset)``: a bounds-checked, nullable packet pointer to T."""

    data: Expr
    data_end: Expr
    offset: Expr
    size: int


@record
class Call(Expr):
    """A BPF-to-BPF call of subprogram ``func``."""

    func: str
    args: tuple[Expr, ...]


@record
class ResultOf(Expr):
    """Make ``call``, then give the address of local aggregate ``slot``.

    A function that returns a struct or an array writes it through its last
    argument, the address of ``slot`` (a caller's temporary, as C's ``sret``).
    A node rather than a statement before the expression, so the call runs
    where the expression is evaluated (under a condition, in a loop test).
    """

    call: Call
    slot: str


# ---------------------------------------------------------------- statements


@record
class Stmt(Record):
    _compare_exclude = frozenset({"loc"})
    loc: Loc


@record
class Declare(Stmt):
    """A local's stack slot; aggregates are zero-initialised."""

    name: str
    type: BPFType


@record
class Assign(Stmt):
    name: str
    value: Expr


@record
class Store(Stmt):
    """Write ``value`` at ``pointer + offset``."""

    pointer: Expr
    offset: int
    value: Expr


@record
class CopyBytes(Stmt):
    """Copy ``size`` bytes from ``src`` to ``dst`` (aggregate assignment)."""

    dst: Expr
    src: Expr
    size: int


@record
class FillBytes(Stmt):
    """Write ``data`` (bytes) at ``dst`` and zero the rest up to ``size``."""

    dst: Expr
    data: bytes
    size: int


@record
class MapUpdate(Stmt):
    map_name: str
    key: Expr
    value: Expr
    flags: Expr
    map_ptr: Expr | None = None


@record
class MapDelete(Stmt):
    map_name: str
    key: Expr
    map_ptr: Expr | None = None


@record
class MapIncrement(Stmt):
    """Lookup-or-insert, then atomic add of ``by`` to the (integer) value."""

    map_name: str
    key: Expr
    by: Expr
    fixed_entries: bool = False  # an array: every slot exists, nothing to insert
    map_ptr: Expr | None = None


@record
class AtomicAdd(Stmt):
    pointer: Expr
    offset: int
    value: Expr


@record
class ExprStmt(Stmt):
    value: Expr


@record
class If(Stmt):
    test: Expr
    body: tuple[Stmt, ...]
    orelse: tuple[Stmt, ...]


@record
class While(Stmt):
    test: Expr
    body: tuple[Stmt, ...]


@record
class ForRange(Stmt):
    """``for var in range(start, stop, step)``; ``step`` a non-zero constant."""

    var: str
    start: Expr
    stop: Expr
    step: int
    body: tuple[Stmt, ...]


@record
class ForIter(Stmt):
    """``for var in bpf.iter_range(start, stop)``: an open-coded numeric iterator loop.

    ``new`` (``bpf_iter_num_new(&it, start, stop)``) runs once, ``next``
    (``bpf_iter_num_next(&it)``, a nullable ``int *``) before each iteration
    gives ``var`` or ends the loop, and ``destroy`` (``bpf_iter_num_destroy(&it)``)
    runs on every way out: the end, ``break``, and a ``return`` in the body.
    The three share one stack slot nothing else touches (the verifier requires it).
    """

    var: str
    new: KfuncCall
    next: KfuncCall
    destroy: KfuncCall
    body: tuple[Stmt, ...]


@record
class Break(Stmt):
    pass


@record
class Continue(Stmt):
    pass


@record
class Return(Stmt):
    value: Expr


@record
class Function(Record):
    """A compiled function: an entry program (``section`` set) or a subprogram."""

    _compare_exclude = frozenset({"loc"})

    name: str
    section: str | None
    params: tuple[tuple[str, BPFType], ...]
    return_type: BPFType
    body: tuple[Stmt, ...]
    loc: Loc
    is_global: bool = False
    inline: bool = False  # a plain Python function: always inlined by LLVM
    # A struct or array result, written through the last parameter (see ResultOf).
    result: BPFType | None = None


BOOL = bool_


def is_pointer(t: BPFType) -> bool:
    return isinstance(t, PointerType)


def dump(node: Any, indent: int = 0) -> str:
    """Render a typed-IR tree as indented text (stable, for golden tests)."""
    pad = "  " * indent
    if isinstance(node, (list, tuple)):
        return "\n".join(dump(n, indent) for n in node)
    if isinstance(node, Function):
        head = f"{pad}func {node.name}({', '.join(f'{n}: {t!r}' for n, t in node.params)})"
        head += f" -> {node.return_type!r}"
        if node.result is not None:
            head += f" (result {node.result!r} through {node.params[-1][0]})"
        if node.section:
            head += f"  [section {node.section}]"
        if node.is_global:
            head += "  [global]"  # verified on its own (and a different object: cache keys)
        return head + "\n" + dump(node.body, indent + 1)
    if isinstance(node, Expr):
        return _expr_text(node)
    if isinstance(node, Stmt):
        name = type(node).__name__
        parts = []
        nested = []
        for fname in node._fields:
            if fname == "loc":
                continue
            v = getattr(node, fname)
            if v is None:  # an optional field left out
                continue
            if isinstance(v, tuple) and v and isinstance(v[0], Stmt) or fname in (
                "body",
                "orelse",
            ):
                nested.append((fname, v))
            else:
                parts.append(_expr_text(v) if isinstance(v, Expr) else repr(v))
        out = f"{pad}{name} {' '.join(parts)}".rstrip()
        for label, block in nested:
            if label == "orelse" and not block:
                continue
            out += f"\n{pad} {label}:"
            if block:
                out += "\n" + dump(block, indent + 1)
        return out
    return pad + repr(node)


def _expr_text(e: Expr) -> str:
    name = type(e).__name__
    inner = []
    for fname in e._fields:
        if fname in ("loc", "type"):
            continue
        v = getattr(e, fname)
        if v is None:  # an optional field left out
            continue
        if isinstance(v, Expr):
            inner.append(_expr_text(v))
        elif isinstance(v, tuple):
            inner.append("(" + ", ".join(_expr_text(x) if isinstance(x, Expr) else repr(x) for x in v) + ")")
        else:
            inner.append(repr(v))
    return f"{name}<{e.type!r}>({', '.join(inner)})"
