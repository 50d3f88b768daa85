"""Random whole programs (statements, not just expressions) and their Python reference.

A generated program has eight typed locals (``v_u8`` ... ``v_i64``, from
inputs), a local array ``arr`` (u32[8]), a local struct ``s`` (u64 ``a``,
i32 ``b``), a ``bpf.Global`` ``G``, and a random body of assignments,
augmented assignments, array and field reads and writes (constant and
variable indexes), ``if``/``else``, ``for`` loops, a ``@bpf.func`` call and an
inlined plain-function call.  :func:`reference` runs the same program in
Python with the semantics of docs/language.md; :func:`run_programs` compiles
several into one object, runs them in the kernel and returns mismatches.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st

from pyebpf.compiler import rules
from pyebpf.types import IntType, i32, u32, u64

from . import exprgen
from .exprgen import VARS, Node

ARR_LEN = 8
TYPES = dict(VARS)


@dataclass(frozen=True)
class Stmt:
    kind: str  # assign aug arrset arrget fset fget gadd if for call inline
    target: str = ""
    op: str = ""
    expr: Node | None = None
    expr2: Node | None = None
    index: str | int = 0  # a constant or a variable name
    body: tuple[Stmt, ...] = ()
    orelse: tuple[Stmt, ...] = ()
    count: int = 0


FIELDS = {"a": u64, "b": i32}


def _target(draw: st.DrawFn) -> str:
    return draw(st.sampled_from([n for n, _ in VARS]))


@st.composite
def stmt(draw: st.DrawFn, depth: int = 2) -> Stmt:
    kinds = ["assign", "aug", "arrset", "arrget", "fset", "fget", "gadd", "call", "inline"]
    if depth > 0:
        kinds += ["if", "for"]
    kind = draw(st.sampled_from(kinds))
    e = draw(exprgen.expr(depth=2))
    if kind in ("assign", "call", "inline"):
        return Stmt(kind, target=_target(draw), expr=e,
                    expr2=draw(exprgen.expr(depth=1)) if kind == "call" else None)
    if kind == "aug":
        return Stmt(kind, target=_target(draw), op=draw(st.sampled_from(exprgen.ARITH)), expr=e)
    if kind in ("arrset", "arrget"):
        index = draw(st.one_of(st.integers(-ARR_LEN, ARR_LEN - 1),
                               st.sampled_from([n for n, _ in VARS])))
        return Stmt(kind, target=_target(draw), expr=e, index=index)
    if kind in ("fset", "fget"):
        return Stmt(kind, target=draw(st.sampled_from(sorted(FIELDS))), expr=e,
                    op=_target(draw))
    if kind == "gadd":
        return Stmt(kind, expr=e)
    if kind == "if":
        return Stmt(kind, expr=draw(exprgen.cond(1)),
                    body=tuple(draw(st.lists(stmt(depth - 1), min_size=1, max_size=3))),
                    orelse=tuple(draw(st.lists(stmt(depth - 1), max_size=2))))
    return Stmt("for", count=draw(st.integers(0, 4)),
                body=tuple(draw(st.lists(stmt(depth - 1), min_size=1, max_size=3))))


def program() -> st.SearchStrategy[list[Stmt]]:
    return st.lists(stmt(), min_size=1, max_size=8)


# ---------------------------------------------------------------- source


def _lines(stmts: tuple[Stmt, ...] | list[Stmt], pad: str) -> list[str]:
    out: list[str] = []
    for s in stmts:
        k = s.kind
        e = s.expr.src() if s.expr is not None else ""
        if k == "assign":
            out.append(f"{pad}{s.target} = {e}")
        elif k == "aug":
            out.append(f"{pad}{s.target} {s.op}= {e}")
        elif k == "arrset":
            out.append(f"{pad}arr[{s.index}] = {e}")
        elif k == "arrget":
            out.append(f"{pad}{s.target} = arr[{s.index}]")
        elif k == "fset":
            out.append(f"{pad}s.{s.target} = {e}")
        elif k == "fget":
            out.append(f"{pad}{s.op} = s.{s.target}")
        elif k == "gadd":
            out.append(f"{pad}G.value += {e}")
        elif k == "call":
            out.append(f"{pad}{s.target} = mix(u64({e}), u64({s.expr2.src()}))")  # type: ignore[union-attr]
        elif k == "inline":
            out.append(f"{pad}{s.target} = twice({e})")
        elif k == "if":
            out.append(f"{pad}if {e}:")
            out.extend(_lines(s.body, pad + "    "))
            if s.orelse:
                out.append(f"{pad}else:")
                out.extend(_lines(s.orelse, pad + "    "))
        elif k == "for":
            out.append(f"{pad}for _ in range({s.count}):")
            out.extend(_lines(s.body, pad + "    "))
    return out


def source(programs: list[list[Stmt]]) -> str:
    n_out = len(VARS) + ARR_LEN + 3
    head = [
        "import pyebpf as bpf",
        "from pyebpf import u8, u16, u32, u64, i8, i16, i32, i64",
        "",
        f"inp = bpf.ArrayMap(u64, max_entries={len(VARS)})",
        f"out = bpf.ArrayMap(u64, max_entries={n_out * len(programs)})",
        "G = bpf.Global(u64)",
        "",
        "",
        "class S(bpf.Struct):",
        "    a: u64",
        "    b: i32",
        "",
        "",
        "@bpf.func",
        "def mix(a: u64, b: u64) -> u64:",
        "    return (a * 31) ^ b",
        "",
        "",
        "def twice(x):",
        "    return x + x",
        "",
    ]
    for p, stmts in enumerate(programs):
        base = p * n_out
        head += ["", "@bpf.socket_filter", f"def prog{p}(ctx) -> int:", "    G.value = 0"]
        head += [f"    {name} = {t.name}(inp.get({i}, 0))" for i, (name, t) in enumerate(VARS)]
        head += ["    arr = u32[8]()", "    s = S()"]
        head += _lines(stmts, "    ")
        for i, (name, _) in enumerate(VARS):
            head.append(f"    out[{base + i}] = u64({name})")
        for j in range(ARR_LEN):
            head.append(f"    out[{base + len(VARS) + j}] = u64(arr[{j}])")
        head += [f"    out[{base + len(VARS) + ARR_LEN}] = u64(s.a)",
                 f"    out[{base + len(VARS) + ARR_LEN + 1}] = u64(s.b)",
                 f"    out[{base + len(VARS) + ARR_LEN + 2}] = G.value",
                 "    return 0"]
    return "\n".join(head) + "\n"


# ---------------------------------------------------------------- reference


def _var(name: str) -> Node:
    return Node("var", op=name, type=TYPES[name])


def _index(s: Stmt, env: dict[str, int]) -> int | None:
    if isinstance(s.index, int):
        return s.index + ARR_LEN if s.index < 0 else s.index
    raw = u64.wrap(env[s.index])  # variable indexes read as u64; negative is out of range
    return raw if raw < ARR_LEN else None


def _run(stmts: tuple[Stmt, ...] | list[Stmt], st_: dict[str, object]) -> None:
    env: dict[str, int] = st_["env"]  # type: ignore[assignment]
    arr: list[int] = st_["arr"]  # type: ignore[assignment]
    fields: dict[str, int] = st_["s"]  # type: ignore[assignment]
    for s in stmts:
        k = s.kind
        value = exprgen.evaluate(s.expr, env) if s.expr is not None and k != "if" else 0
        if k == "assign":
            env[s.target] = TYPES[s.target].wrap(value)
        elif k == "aug":
            t = TYPES[s.target]
            node = Node("bin", op=s.op, type=_aug_type(s.op, t, s.expr), kids=(_var(s.target),
                                                                               s.expr))
            env[s.target] = t.wrap(exprgen.evaluate(node, env))
        elif k == "arrset":
            i = _index(s, env)
            if i is not None:
                arr[i] = u32.wrap(value)
        elif k == "arrget":
            i = _index(s, env)
            env[s.target] = TYPES[s.target].wrap(arr[i] if i is not None else 0)
        elif k == "fset":
            fields[s.target] = FIELDS[s.target].wrap(value)
        elif k == "fget":
            env[s.op] = TYPES[s.op].wrap(fields[s.target])
        elif k == "gadd":
            st_["G"] = u64.wrap(st_["G"] + u64.wrap(value))  # type: ignore[operator]
        elif k == "call":
            a, b = u64.wrap(value), u64.wrap(exprgen.evaluate(s.expr2, env))  # type: ignore[arg-type]
            env[s.target] = TYPES[s.target].wrap(u64.wrap(a * 31) ^ b)
        elif k == "inline":
            t = rules.plain(s.expr.type)  # type: ignore[union-attr,arg-type]
            env[s.target] = TYPES[s.target].wrap(t.wrap(t.wrap(value) * 2))
        elif k == "if":
            _run(s.body if exprgen.evaluate(s.expr, env) else s.orelse, st_)  # type: ignore[arg-type]
        elif k == "for":
            for _ in range(s.count):
                _run(s.body, st_)


def _aug_type(op: str, t: IntType, e: Node | None) -> IntType:
    assert e is not None
    if op in ("<<", ">>"):
        return rules.plain(t)
    return rules.arith_result(t, e.type)  # type: ignore[arg-type]


def reference(stmts: list[Stmt], raw: list[int]) -> list[int]:
    st_: dict[str, object] = {"env": exprgen.env_of(raw), "arr": [0] * ARR_LEN,
                              "s": {"a": 0, "b": 0}, "G": 0}
    _run(stmts, st_)
    env: dict[str, int] = st_["env"]  # type: ignore[assignment]
    fields: dict[str, int] = st_["s"]  # type: ignore[assignment]
    return ([u64.wrap(env[n]) for n, _ in VARS] + [u64.wrap(x) for x in st_["arr"]]  # type: ignore[attr-defined]
            + [u64.wrap(fields["a"]), u64.wrap(fields["b"]), st_["G"]])  # type: ignore[list-item]


def run_programs(programs: list[list[Stmt]], raw: list[int]) -> list[tuple[int, str, list, list]]:
    """Compile the programs into one object, run each, return (index, source, want, got)."""
    import pyebpf as bpf

    mod = exprgen.load_module(source(programs))
    progs = [getattr(mod, f"prog{i}") for i in range(len(programs))]
    n_out = len(VARS) + ARR_LEN + 3
    bad = []
    with bpf.load(*progs):
        for i, v in enumerate(raw):
            mod.inp[i] = v  # type: ignore[attr-defined]
        for p in progs:
            p.test_run(b"\0" * 64)
        got = mod.out.values()  # type: ignore[attr-defined]
        for i, stmts in enumerate(programs):
            want = reference(stmts, raw)
            have = got[i * n_out:(i + 1) * n_out]
            if have != want:
                bad.append((i, "\n".join(_lines(stmts, "")), want, have))
    for p in progs:
        p.close()
    return bad
