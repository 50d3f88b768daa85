"""Random integer expressions, their Python reference values, and programs that compute them.

Used by the property-based test (tests/kernel/test_semantics.py) and the
longer fuzzing campaign (benchmarks/fuzz_semantics.py).  The reference
evaluator follows docs/language.md: Python's value of the expression with
every integer result wrapped to its static type, operands converted to the
result type first, shifts reading their count as unsigned, ``x // 0 == 0``
and ``x % 0 == x``, exact comparisons.
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from hypothesis import strategies as st

from pyebpf.compiler import rules
from pyebpf.types import INT_TYPES, IntType, u64

VARS = [(f"v_{t.name}", t) for t in INT_TYPES]
ARITH = ["+", "-", "*", "//", "%", "&", "|", "^", "<<", ">>"]
CMP = ["==", "!=", "<", "<=", ">", ">="]


@dataclass(frozen=True)
class Node:
    kind: str  # var lit cast bin un cmp ifexp
    op: str = ""
    type: IntType | None = None  # static type (None for literals and comparisons)
    value: int = 0
    kids: tuple[Node, ...] = ()

    def src(self) -> str:
        k = self.kind
        if k == "var":
            return self.op
        if k == "lit":
            return f"({self.value})"
        if k == "cast":
            return f"{self.type.name}({self.kids[0].src()})"  # type: ignore[union-attr]
        if k == "bin" or k == "cmp":
            return f"({self.kids[0].src()} {self.op} {self.kids[1].src()})"
        if k == "un":
            return f"({self.op}{self.kids[0].src()})"
        if k == "ifexp":
            c, a, b = self.kids
            return f"({a.src()} if {c.src()} else {b.src()})"
        raise ValueError(k)


def _typed(n: Node) -> bool:
    return n.kind != "lit"


@st.composite
def literal(draw: st.DrawFn, small: bool = False) -> Node:
    if small:
        return Node("lit", value=draw(st.integers(0, 127)))
    return Node("lit", value=draw(st.one_of(
        st.integers(-300, 300), st.sampled_from([0, 1, 7, 31, 32, 63, 64, 255, 65535, -1, 2**31]))))


@st.composite
def typed_leaf(draw: st.DrawFn) -> Node:
    name, t = draw(st.sampled_from(VARS))
    return Node("var", op=name, type=t)


def _cmp_ok(a: Node, b: Node) -> bool:
    if not (_typed(a) and _typed(b)):
        return True
    return rules.compare_type(a.type, b.type) is not None  # type: ignore[arg-type]


@st.composite
def expr(draw: st.DrawFn, depth: int = 3) -> Node:
    """A typed integer expression (never a bare literal)."""
    if depth <= 0 or draw(st.integers(0, 3)) == 0:
        return draw(typed_leaf())
    kind = draw(st.sampled_from(["bin", "bin", "bin", "un", "cast", "ifexp"]))
    if kind == "un":
        k = draw(expr(depth - 1))
        return Node("un", op=draw(st.sampled_from(["-", "~"])), type=rules.plain(k.type), kids=(k,))
    if kind == "cast":
        k = draw(expr(depth - 1))
        return Node("cast", type=draw(st.sampled_from(INT_TYPES)), kids=(k,))
    if kind == "ifexp":
        c = draw(cond(depth - 1))
        a, b = draw(expr(depth - 1)), draw(expr(depth - 1))
        return Node("ifexp", type=rules.arith_result(a.type, b.type), kids=(c, a, b))  # type: ignore[arg-type]
    op = draw(st.sampled_from(ARITH))
    left = draw(expr(depth - 1))
    right_lit = draw(st.booleans())
    if op in ("<<", ">>"):
        if draw(st.booleans()):
            right = Node("lit", value=draw(st.integers(0, 70)))
        else:
            right = draw(expr(depth - 1))
        if draw(st.integers(0, 4)) == 0:
            return Node("bin", op=op, type=rules.literal_type(7), kids=(Node("lit", value=draw(
                st.integers(-5, 5))), right if _typed(right) else left))
        return Node("bin", op=op, type=rules.plain(left.type), kids=(left, right))  # type: ignore[arg-type]
    if right_lit:
        lit = draw(literal(small=op in ("//", "%")))
        kids = (left, lit) if draw(st.booleans()) else (lit, left)
        return Node("bin", op=op, type=rules.plain(left.type), kids=kids)  # type: ignore[arg-type]
    right = draw(expr(depth - 1))
    return Node("bin", op=op, type=rules.arith_result(left.type, right.type), kids=(left, right))  # type: ignore[arg-type]


@st.composite
def cond(draw: st.DrawFn, depth: int) -> Node:
    a = draw(expr(max(depth, 0)))
    b = draw(st.one_of(expr(max(depth, 0)), literal()))
    if not _cmp_ok(a, b):
        b = Node("cast", type=a.type, kids=(b,))
    return Node("cmp", op=draw(st.sampled_from(CMP)), kids=(a, b))


def evaluate(n: Node, env: dict[str, int]) -> int:
    """The reference value of ``n`` (a bool for comparisons)."""
    k = n.kind
    if k == "var":
        return env[n.op]
    if k == "lit":
        return n.value
    if k == "cast":
        return n.type.wrap(evaluate(n.kids[0], env))  # type: ignore[union-attr]
    if k == "un":
        t = n.type
        return rules.unary(n.op, t, t.wrap(evaluate(n.kids[0], env)))  # type: ignore[arg-type]
    if k == "cmp":
        return int(rules.compare(n.op, evaluate(n.kids[0], env), evaluate(n.kids[1], env)))
    if k == "ifexp":
        c, a, b = n.kids
        chosen = a if evaluate(c, env) else b
        return n.type.wrap(evaluate(chosen, env))  # type: ignore[union-attr]
    t = n.type
    assert t is not None
    left, right = n.kids
    va, vb = evaluate(left, env), evaluate(right, env)
    if n.op in ("<<", ">>"):
        count = vb if right.kind != "lit" else vb
        return rules.apply(n.op, t, t.wrap(va), count)
    return rules.apply(n.op, t, t.wrap(va), t.wrap(vb))


def inputs() -> st.SearchStrategy[list[int]]:
    """Raw u64 inputs, one per variable (each variable wraps its own)."""
    interesting = st.sampled_from([0, 1, 2, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF,
                                   0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 2**63 - 1, 2**63,
                                   2**64 - 1, 2**64 - 2])
    return st.lists(st.one_of(interesting, st.integers(0, 2**64 - 1)),
                    min_size=len(VARS), max_size=len(VARS))


def env_of(raw: list[int]) -> dict[str, int]:
    return {name: t.wrap(v) for (name, t), v in zip(VARS, raw)}


def program_source(exprs: list[Node]) -> str:
    lines = [
        "import pyebpf as bpf",
        "from pyebpf import u8, u16, u32, u64, i8, i16, i32, i64",
        "",
        f"inp = bpf.ArrayMap(u64, max_entries={len(VARS)})",
        f"out = bpf.ArrayMap(u64, max_entries={len(exprs)})",
        "",
        "",
        "@bpf.socket_filter",
        "def prog(ctx) -> int:",
    ]
    for i, (name, t) in enumerate(VARS):
        lines.append(f"    {name} = {t.name}(inp.get({i}, 0))")
    for i, e in enumerate(exprs):
        lines.append(f"    out[{i}] = u64({e.src()})")
    lines.append("    return 0")
    return "\n".join(lines) + "\n"


def load_module(source: str) -> object:
    """Import generated source from a real file (the compiler reads source files)."""
    d = Path(tempfile.mkdtemp(prefix="pyebpf-gen-"))
    name = f"pyebpf_gen_{uuid.uuid4().hex}"
    path = d / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def run_batch(exprs: list[Node], raw: list[int]) -> list[tuple[str, int, int]]:
    """Compile ``exprs`` into programs, run them in the kernel, return the mismatches.

    Branchy expressions can exhaust the verifier's budget (1M instructions
    explored); such a batch is split in two and each half run on its own.
    """
    from pyebpf import VerifierError

    try:
        return _run_one(exprs, raw)
    except VerifierError as e:
        if "too large" not in e.reason or len(exprs) == 1:
            raise
    half = len(exprs) // 2
    return run_batch(exprs[:half], raw) + run_batch(exprs[half:], raw)


def _run_one(exprs: list[Node], raw: list[int]) -> list[tuple[str, int, int]]:
    mod = load_module(program_source(exprs))
    prog, inp, out = mod.prog, mod.inp, mod.out  # type: ignore[attr-defined]
    try:
        prog.load()
        for i, v in enumerate(raw):
            inp[i] = v
        prog.test_run(b"\0" * 64)
        got = out.values()
    finally:
        prog.close()
        inp.close()
        out.close()
    env = env_of(raw)
    bad = []
    for e, g in zip(exprs, got):
        want = u64.wrap(evaluate(e, env))
        if g != want:
            bad.append((e.src(), want, g))
    return bad
