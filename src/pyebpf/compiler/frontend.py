"""Python ``ast`` -> typed IR, with every restriction checked at its location.

One ``visit_<Node>`` method per supported statement or expression kind;
anything else fails loudly at its location with a :class:`CompileError`
that says what to write instead.  Typing decisions come from
:mod:`pyebpf.compiler.rules`; this module only applies them.

Calls (helpers, kfuncs, intrinsics, functions) are lowered in :mod:`.calls`
and map and event methods in :mod:`.mapops`, mixins of :class:`Frontend`;
the values translation works with (:class:`Lit`, :class:`Known`,
:class:`Place`, ...) are in :mod:`.values`.  :class:`Registry` translates
each function programs call once per object (and per argument types).
"""

from __future__ import annotations

import ast
import contextlib
import types as pytypes
from typing import Any

from ..errors import CompileError
from ..lang.contexts import ContextType
from ..types import (
    ArrayType,
    BPFType,
    IntType,
    PointerType,
    Struct,
    StructType,
    as_type,
    bool_,
    i32,
    i64,
    u32,
    u64,
)
from . import rules
from . import tir as T
from .calls import CallLowering
from .mapops import MapLowering
from .source import FunctionSource, Loc, error, type_error
from .values import (
    RESULT_PARAM,
    ArrayCtor,
    Bitfield,
    BoundMapMethod,
    BytesMethod,
    CtxMethod,
    Env,
    InnerMapType,
    Known,
    Lit,
    LocalVar,
    MapUse,
    Place,
    StmtValue,
    StructCtor,
    Value,
    char_type,
    is_aggregate,
    is_global_var,
    is_kernel_struct,
    is_map_obj,
    relocatable,
    untrusted,
)

__all__ = ["translate", "Frontend", "Registry", "Lit", "Known", "Place", "MapUse"]


_BINOPS = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.FloorDiv: "//", ast.Mod: "%",
    ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^", ast.LShift: "<<", ast.RShift: ">>",
}
_CMPOPS = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
BPF_MAX_LOOPS = 8 * 1024 * 1024  # include/linux/bpf.h: bpf_iter_num_new's limit
_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}


class Frontend(CallLowering, MapLowering):
    """Translate one function; collect the maps it uses into ``self.maps``."""

    def __init__(self, src: FunctionSource, env: Env, ctx_type: ContextType | None,
                 section: str | None, maps: dict[int, MapUse],
                 registry: Registry | None = None) -> None:
        self.registry = registry if registry is not None else Registry(maps)
        self.return_type: BPFType | None = i32
        # A plain function's first `return` fixes its type (where, for messages); a bare
        # `return` before it is remembered, as a function returning a struct cannot have one.
        self.return_loc: Loc | None = None
        self.bare_return: Loc | None = None
        self.return_annotated = False
        self.src = src
        self.env = env
        self.ctx_type = ctx_type
        self.section = section
        self.maps = maps
        self.locals: dict[str, LocalVar] = {}
        self.nonnull: set[str] = set()
        self.pending: list[T.Stmt] = []
        self.loop_depth = 0
        self.ranges: dict[str, tuple[int, int]] = {}  # range() counters: name -> (lo, hi)
        self.ctx_name: str | None = None
        self.temp_counter = 0
        # struct_ops methods: parameter name -> its context field, and whether the member
        # returns a value ("value") or nothing ("void")
        self.param_fields: dict[str, str] = {}
        self.param_locals: set[str] = set()  # parameters that may be None, held in locals
        self.method_result: str | None = None

    # ------------------------------------------------------------ entry

    def function(self) -> T.Function:
        fn = self.src.tree
        loc = self.src.loc(fn)
        if isinstance(fn, ast.AsyncFunctionDef):
            error(loc, "async functions cannot be eBPF programs", "write a plain `def`")
        args = fn.args
        if self.ctx_type is not None and self.ctx_type.params is not None:
            return self.method(fn, loc)
        if args.vararg or args.kwarg or args.kwonlyargs or args.posonlyargs or args.defaults:
            error(loc, "programs take exactly one parameter, the context",
                  "write `def prog(ctx) -> int:`")
        if len(args.args) != 1:
            error(loc, f"a program takes one parameter (the context), not {len(args.args)}",
                  "write `def prog(ctx) -> int:`")
        self.ctx_name = args.args[0].arg
        body = self.block(fn.body)
        if not _terminates(body):
            body = body + (T.Return(T.Const(i32, loc, 0), loc),)
        return T.Function(fn.name, self.section, (("ctx", PointerType(None, "ctx")),), i32,
                          body, loc)

    def method(self, fn: ast.FunctionDef, loc: Loc) -> T.Function:
        """A program whose parameters are the hook's arguments (a struct_ops method).

        Parameter i reads the context field ``params[i]`` (read-only); an annotation must
        name that field's type.  The member's prototype says whether a value is returned.
        """
        ctx = self.ctx_type
        assert ctx is not None and ctx.params is not None
        args = fn.args
        fields = [ctx.fields[p] for p in ctx.params]
        want = ", ".join(_c_type(f.type) for f in fields) or "no arguments"
        prologue: list[T.Stmt] = []
        if args.vararg or args.kwarg or args.kwonlyargs or args.posonlyargs or args.defaults \
                or len(args.args) != len(fields):
            error(loc, f"{ctx.name} takes {len(fields)} argument(s) ({want}), not "
                  f"{len(args.args)}", f"give {fn.name}() one plain parameter per argument")
        for a, f in zip(args.args, fields):
            if a.annotation is not None:
                ty = self.type_of_annotation(a.annotation)
                if ty != f.type:
                    type_error(self.src.loc(a), f"parameter `{a.arg}` of {ctx.name} is a "
                               f"{_c_type(f.type)}, not a {_c_type(ty)}",
                               "leave the annotation out" if isinstance(f.type, PointerType)
                               else f"annotate it `{a.arg}: {f.type!r}` or leave it out")
            if isinstance(f.type, PointerType) and f.type.nullable:
                # A pointer the kernel may pass as NULL: read once into a local, so that
                # its None check covers every later use (one register to the verifier).
                prologue.extend(self.declare(a.arg, f.type, loc))
                ctx_ptr = T.Local(PointerType(None, "ctx"), loc, "ctx")
                prologue.append(T.Assign(loc, a.arg, T.Load(f.type, loc, ctx_ptr, f.offset)))
                self.param_locals.add(a.arg)
                continue
            self.param_fields[a.arg] = f.name
        if fn.returns is not None and ctx.result is None and not (
                isinstance(fn.returns, ast.Constant) and fn.returns.value is None):
            error(self.src.loc(fn.returns), f"{ctx.name} returns nothing",
                  "annotate it `-> None` (or leave the annotation out)")
        self.return_type = ctx.result or i32
        self.method_result = "value" if ctx.result is not None else "void"
        body = tuple(prologue) + self.block(fn.body)
        if not _terminates(body):
            if ctx.result is not None:
                last = fn.body[-1]
                error(self.src.loc(last), f"{fn.name}() can end here without returning; "
                      f"{ctx.name} returns a {ctx.result!r}", "end every path with `return`")
            body = body + (T.Return(loc, T.Const(i32, loc, 0)),)
        return T.Function(fn.name, self.section, (("ctx", PointerType(None, "ctx")),),
                          self.return_type, body, loc)

    def subprogram(self, name: str, param_types: list[BPFType] | None, is_global: bool,
                   annotated: bool, callback: bool = False) -> T.Function:
        """A called function: ``@bpf.func`` (annotated) or a plain function (typed by its call).

        A ``callback`` (for ``bpf.loop``) has the kernel's signature: ``(index: u64, ctx)``
        returning 0 to go on or 1 to stop.
        """
        fn = self.src.tree
        loc = self.src.loc(fn)
        args = fn.args
        if callback:
            if len(args.args) not in (1, 2):
                error(loc, f"a bpf.loop callback takes the index (and optionally ctx), "
                      f"not {len(args.args)} parameters", f"def {fn.name}(i: u64, ctx) -> i64:")
            params = [(args.args[0].arg, u64),
                      (args.args[1].arg if len(args.args) == 2 else "__ctx",
                       PointerType(None, "mem"))]
            for pname, ty in params:
                self.locals[pname] = LocalVar(pname, ty, False)
            self.return_type = i64
            if fn.returns is not None:
                self.return_type = self.type_of_annotation(fn.returns)
            body = self.block(fn.body)
            if not _terminates(body):
                body = body + (T.Return(loc, T.Const(self.return_type, loc, 0)),)
            return T.Function(name, None, tuple(params), self.return_type, body, loc, False)
        if args.vararg or args.kwarg or args.kwonlyargs or args.posonlyargs or args.defaults:
            error(loc, "functions called from programs take plain positional parameters",
                  "no *args, **kwargs, keyword-only parameters or defaults")
        if len(args.args) > 5:
            error(loc, f"{fn.name}() has {len(args.args)} parameters; BPF calls pass at most 5",
                  "group them in a struct, or use fewer")
        params: list[tuple[str, BPFType]] = []
        for i, a in enumerate(args.args):
            if annotated:
                ty = self.annotated_param(fn.name, a)
            else:
                assert param_types is not None
                ty = param_types[i]
            if isinstance(ty, PointerType) and ty.nullable:
                ty = PointerType(ty.target, ty.kind)  # the caller checked it (see call_function)
            if isinstance(ty, PointerType) and ty.kind == "ctx":
                # The caller's context: `ctx.<field>` and ctx.header() work as in a program.
                self.ctx_name = a.arg
                params.append(("ctx", ty))
                continue
            params.append((a.arg, ty))
        if annotated:
            if fn.returns is None:
                error(loc, f"@bpf.func {fn.name}() needs a return type", "write `-> u32`")
            self.return_type = self.type_of_annotation(fn.returns)
            if not isinstance(self.return_type, IntType):
                type_error(self.src.loc(fn.returns), f"@bpf.func {fn.name}() returns a "
                           f"{self.return_type!r}; BPF calls return an integer or bool",
                           "return a struct from a plain (inlined) function, or pass a pointer "
                           "to a local for the function to fill")
        else:
            # Fixed by the first return statement, unless annotated with a struct or array.
            self.return_type = self.declared_result(fn.returns)
            if self.return_type is not None:
                self.return_loc = self.src.loc(fn.returns)  # type: ignore[arg-type]
                self.return_annotated = True
        for pname, ty in params:
            if pname != "ctx" or self.ctx_name is None:
                self.locals[pname] = LocalVar(pname, ty, False)
        body = self.block(fn.body)
        result = self.return_type if is_aggregate(self.return_type) else None
        if result is not None:
            if not _terminates(body):
                error(self.src.loc(fn.body[-1]), f"{fn.name}() can end here without "
                      f"returning a {result!r}", f"end every path with `return` and a "
                      f"{result!r}")
            params.append((RESULT_PARAM, PointerType(result, "stack")))
            return T.Function(name, None, tuple(params), i64, body, loc, is_global,
                              result=result)
        ret = self.return_type or i64
        if not _terminates(body):
            body = body + (T.Return(loc, T.Const(ret, loc, 0)),)
        return T.Function(name, None, tuple(params), ret, body, loc, is_global)

    def annotated_param(self, fname: str, a: ast.arg) -> BPFType:
        """The type of a ``@bpf.func`` parameter: an integer, or a pointer (a BPF call's
        arguments are registers).

        A struct or array annotation takes that type by reference, as a plain function
        takes a local struct; a parameter without one receives the caller's context.
        """
        loc = self.src.loc(a)
        if a.annotation is None:
            if self.ctx_type is None or self.ctx_name is not None:
                error(loc, f"parameter `{a.arg}` of @bpf.func {fname}() needs a type",
                      f"write `{a.arg}: u32` (an integer type), or a struct or array type "
                      "to take one by reference; only the context parameter goes unannotated")
            return PointerType(None, "ctx")
        ty = self.type_of_annotation(a.annotation)
        if is_aggregate(ty):
            return PointerType(ty, "mem")
        if not isinstance(ty, IntType):
            type_error(loc, f"parameter `{a.arg}` is a {ty!r}; @bpf.func functions take "
                       "integers, bool, structs and arrays (by reference) and the context")
        return ty

    def declared_result(self, node: ast.expr | None) -> BPFType | None:
        """A struct or array a plain function's annotation promises to return, else None.

        Integer annotations are left as they were (the first return fixes the type), and
        so are annotations that are no pyebpf type at all (``-> int``).
        """
        if node is None:
            return None
        try:
            ty = self.type_of_annotation(node)
        except CompileError:
            return None
        return ty if is_aggregate(ty) else None

    # ------------------------------------------------------------ statements

    def block(self, stmts: list[ast.stmt]) -> tuple[T.Stmt, ...]:
        # Statements an enclosing statement queued (e.g. a for loop's variable) stay with it.
        outer, self.pending = self.pending, []
        try:
            return self._block(stmts)
        finally:
            self.pending = outer

    def _block(self, stmts: list[ast.stmt]) -> tuple[T.Stmt, ...]:
        out: list[T.Stmt] = []
        for node in stmts:
            if out and _terminates(tuple(out[-1:])):
                error(self.src.loc(node), "unreachable code after return/break/continue",
                      "remove it")
            method = getattr(self, f"visit_{type(node).__name__}", None)
            if method is None:
                self._unsupported_stmt(node)
            produced = method(node)
            out.extend(self.pending)
            self.pending = []
            if produced is not None:
                out.extend(produced if isinstance(produced, (list, tuple)) else [produced])
        return tuple(out)

    def _unsupported_stmt(self, node: ast.stmt) -> None:
        loc = self.src.loc(node)
        kind = type(node).__name__
        hints = {
            "Try": "eBPF has no exceptions: check values and return early instead",
            "Raise": "eBPF has no exceptions: return an error code instead",
            "With": "no context managers inside programs",
            "Global": "programs cannot rebind module globals; use a map or bpf.Global",
            "Nonlocal": "programs cannot rebind outer variables; use a map",
            "FunctionDef": "define helper functions at module level with @bpf.func",
            "ClassDef": "define structs at module level",
            "Import": "import at module level, outside the program",
            "ImportFrom": "import at module level, outside the program",
            "AsyncFor": "no async inside programs",
            "AsyncWith": "no async inside programs",
            "Delete": "only `del m[key]` on a map is supported",
            "Match": "use if/elif/else",
            "Assert": "check the condition with `if` and return early",
        }
        error(loc, f"`{kind}` statements are not supported in eBPF programs",
              hints.get(kind, "see docs/language.md for the supported subset"))

    def visit_Pass(self, node: ast.Pass) -> None:
        return None

    def visit_Expr(self, node: ast.Expr) -> T.Stmt | None:
        if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            return None  # docstring
        v = self.expr(node.value)
        if isinstance(v, T.Expr):
            return T.ExprStmt(v.loc, v)
        if isinstance(v, StmtValue):
            return v.stmt
        if isinstance(v, Place) and isinstance(v.pointer, T.ResultOf):
            return T.ExprStmt(v.loc, v.pointer)  # a call whose struct result is unused
        return None

    def visit_Return(self, node: ast.Return) -> T.Stmt | list[T.Stmt]:
        loc = self.src.loc(node)
        if self.method_result == "value" and node.value is None:
            error(loc, f"{self.ctx_type.name} returns a {self.return_type!r}",  # type: ignore[union-attr]
                  "return a value")
        if self.method_result == "void" and node.value is not None:
            error(loc, f"{self.ctx_type.name} returns nothing",  # type: ignore[union-attr]
                  "write a bare `return`")
        if node.value is None:
            if is_aggregate(self.return_type):
                self.mismatched_return(loc, "no value")
            self.bare_return = self.bare_return or loc
            return T.Return(loc, T.Const(self.return_type or i64, loc, 0))
        v = self.expr(node.value)
        if self.return_type is None:  # a plain function: its first return fixes the type
            ty = self.infer_type(v, loc)
            if not isinstance(ty, (IntType, StructType, ArrayType)):
                name = node.value.id if isinstance(node.value, ast.Name) else "p"
                type_error(loc, f"functions called from programs return integers, structs or "
                           f"arrays, not a pointer ({ty!r})",
                           f"return a copy of what it points to (`return {name}[0]`) or one "
                           "of its fields")
            if is_aggregate(ty) and self.bare_return is not None:
                self.return_type, self.return_loc = ty, loc
                self.mismatched_return(self.bare_return, "no value")
            self.return_type, self.return_loc = ty, loc
        want = self.return_type
        if is_aggregate(want):
            return self.return_aggregate(want, v, node.value, loc)
        if self.return_loc is not None and is_aggregate(self.infer_type(v, loc)):
            self.mismatched_return(loc, f"a {self.infer_type(v, loc)!r}")
        e = self.to_expr(v, want, self.src.loc(node.value))
        return T.Return(loc, self.convert(e, want, loc, implicit=True))

    def return_aggregate(self, ty: BPFType, v: Value, node: ast.expr, loc: Loc) -> list[T.Stmt]:
        """``return k`` of a struct or array: copied to the caller's result (see ResultOf)."""
        fits_bytes = isinstance(v, Known) and isinstance(v.obj, bytes) and \
            isinstance(ty, ArrayType) and ty.is_bytes
        got = self.infer_type(v, loc)
        if got != ty and not fits_bytes:
            self.mismatched_return(loc, f"a {got!r}")
        out = T.Local(PointerType(ty, "stack"), loc, RESULT_PARAM)
        stmts = self.aggregate_store(Place(out, 0, ty, loc), v, node, loc)
        return [*stmts, T.Return(loc, T.Const(i64, loc, 0))]

    def mismatched_return(self, loc: Loc, got: str) -> None:
        assert self.return_loc is not None
        name = self.src.tree.name
        where = "annotated" if self.return_annotated else "first returned"
        error(loc, f"this `return` gives {got}, but {name}() returns a {self.return_type!r} "
              f"({where} on line {self.return_loc.line})",
              "return the same type from every `return` (copy the value into a local of "
              "that type first)")

    def visit_Assign(self, node: ast.Assign) -> T.Stmt | list[T.Stmt]:
        loc = self.src.loc(node)
        if len(node.targets) != 1:
            error(loc, "chained assignment (a = b = c) is not supported", "assign one at a time")
        return self.assign(node.targets[0], node.value, None, loc)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> T.Stmt | list[T.Stmt] | None:
        loc = self.src.loc(node)
        if not isinstance(node.target, ast.Name):
            error(loc, "annotations are only allowed on plain local names", "write `x: u32 = ...`")
        ty = self.type_of_annotation(node.annotation)
        name = node.target.id
        if name in self.locals and self.locals[name].type != ty:
            type_error(loc, f"`{name}` is already a {self.locals[name].type!r}",
                       "use another name for a value of another type")
        if node.value is None:
            return self.declare(name, ty, loc)
        return self.assign(node.target, node.value, ty, loc)

    def visit_AugAssign(self, node: ast.AugAssign) -> T.Stmt | list[T.Stmt]:
        loc = self.src.loc(node)
        op = _BINOPS.get(type(node.op))
        if op is None:
            self._bad_operator(node.op, loc)
        target = node.target
        if isinstance(target, ast.Name):
            var = self.locals.get(target.id)
            if var is None:
                error(loc, f"`{target.id}` is used before it is assigned", "assign it first")
            if not isinstance(var.type, IntType):
                type_error(loc, f"`{op}=` needs an integer, `{target.id}` is {var.type!r}")
            cur = T.Local(var.type, loc, var.name)
            new = self.binary(op, cur, self.expr(node.value), loc)
            self.forget(var.name)
            return T.Assign(loc, var.name, self.convert(new, var.type, loc, implicit=True))
        place = self.place(target)
        if not isinstance(place.type, IntType):
            type_error(loc, f"`{op}=` needs an integer field, this is {place.type!r}")
        cur = self.load_place(place, loc)
        new = self.binary(op, cur, self.expr(node.value), loc)
        return self.store(place, new, loc)

    def assign(self, target: ast.expr, value_node: ast.expr, declared: BPFType | None,
               loc: Loc) -> T.Stmt | list[T.Stmt]:
        if isinstance(target, ast.Tuple):
            error(loc, "tuple unpacking is not supported", "assign each name on its own line")
        if isinstance(target, ast.Subscript) and self._is_map(target.value):
            m = self.map_of(target.value)
            key = self.map_key(m, target.slice)
            val = self.map_value_arg(m, value_node)
            return T.MapUpdate(loc, m.name, key, val, T.Const(u64, loc, 0))
        if isinstance(target, ast.Name):
            name = target.id
            if name == self.ctx_name:
                error(loc, "the context parameter cannot be reassigned", "use another name")
            if name in self.param_fields or name in self.param_locals:
                error(loc, f"parameter `{name}` is read-only", "assign it to a new local")
            v = self.expr(value_node)
            var = self.locals.get(name)
            ty = declared or (var.type if var else None)
            if ty is None:
                ty = self.infer_type(v, loc)
            out: list[T.Stmt] = []
            if var is None:
                out.extend(self.declare(name, ty, loc))
            self.forget(name)
            if isinstance(ty, (StructType, ArrayType)):
                out.extend(self.aggregate_init(name, ty, v, value_node, loc))
                return out
            expr = self.convert(self.to_expr(v, ty, loc), ty, loc, implicit=True)
            out.append(T.Assign(loc, name, expr))
            return out
        if isinstance(target, (ast.Attribute, ast.Subscript)):
            place = self.place(target)
            v = self.expr(value_node)
            if isinstance(place.type, (StructType, ArrayType)):
                return self.aggregate_store(place, v, value_node, loc)
            return self.store(place, self.to_expr(v, place.type, loc), loc)
        error(loc, "cannot assign to this expression", "assign to a local name, a field or m[key]")

    def declare(self, name: str, ty: BPFType, loc: Loc) -> list[T.Stmt]:
        if name in self.locals:
            if self.locals[name].type != ty:
                type_error(loc, f"`{name}` is a {self.locals[name].type!r}, not {ty!r}",
                           "a local's type is fixed by its first assignment; use another name")
            return []
        self.locals[name] = LocalVar(name, ty, isinstance(ty, (StructType, ArrayType)))
        return [T.Declare(loc, name, ty)]

    def aggregate_init(self, name: str, ty: BPFType, v: Value, node: ast.expr,
                       loc: Loc) -> list[T.Stmt]:
        dst = T.AddrOf(PointerType(ty, "stack"), loc, name)
        return self.aggregate_store(Place(dst, 0, ty, loc), v, node, loc)

    def aggregate_store(self, place: Place, v: Value, node: ast.expr, loc: Loc) -> list[T.Stmt]:
        self.require_writable(place, loc)
        dst = self.place_address(place)
        ty = place.type
        if isinstance(v, StructCtor):
            if v.type != ty:
                type_error(loc, f"cannot assign a {v.type!r} to a {ty!r}")
            stmts: list[T.Stmt] = [T.FillBytes(loc, dst, b"", ty.size)]
            for fname, fnode in v.fields.items():
                f = ty.by_name[fname]  # type: ignore[union-attr]
                sub = Place(dst, f.offset, f.type, loc)
                fv = self.expr(fnode)
                if isinstance(f.type, (StructType, ArrayType)):
                    stmts.extend(self.aggregate_store(sub, fv, fnode, self.src.loc(fnode)))
                else:
                    stmts.append(self.store(sub, self.to_expr(fv, f.type, loc), loc))
            return stmts
        if isinstance(v, ArrayCtor):
            if v.type != ty:
                type_error(loc, f"cannot assign a {v.type!r} to a {ty!r}")
            return [T.FillBytes(loc, dst, b"", ty.size)]
        if isinstance(v, Known) and isinstance(v.obj, (bytes, str)) and isinstance(ty, ArrayType):
            data = v.obj.encode() if isinstance(v.obj, str) else v.obj
            if not ty.is_bytes:
                type_error(loc, f"a bytes literal can only initialise a char/u8 array, not {ty!r}")
            if len(data) > ty.size:
                type_error(loc, f"{len(data)} bytes do not fit in {ty!r}")
            return [T.FillBytes(loc, dst, data, ty.size)]
        if isinstance(v, Place):
            if v.type != ty:
                type_error(loc, f"cannot copy a {v.type!r} into a {ty!r}")
            return [T.CopyBytes(loc, dst, self.place_address(v), ty.size)]
        if isinstance(v, T.Expr) and isinstance(v.type, PointerType) and v.type.target == ty:
            self.require_nonnull(v, loc)
            return [T.CopyBytes(loc, dst, v, ty.size)]
        type_error(loc, f"cannot assign this value to a {ty!r}",
                   f"build it with {ty.name}(...) or copy another {ty.name}")

    def require_writable(self, place: Place, loc: Loc) -> None:
        """Refuse a write (store, copy, atomic) to read-only memory where it is written."""
        if place.writable:
            return
        if place.refusal is not None:
            error(loc, *place.refusal)
        if isinstance(place.pointer, T.ResultOf):
            error(loc, "a function's result is a temporary value",
                  "assign it to a local first (`k = make_key(ctx)`), then change the local")
        if isinstance(place.pointer, T.GlobalAddr):
            error(loc, f"`{place.pointer.name}` is a bpf.Const, read-only in programs",
                  "use a bpf.Global for a variable the program writes; a Const is set "
                  "per load with prog.load(constants={...})")
        error(loc, "this field is read-only", "only some context fields may be written")

    def store(self, place: Place, value: Value, loc: Loc) -> T.Stmt:
        self.require_writable(place, loc)
        expr = self.convert(self.to_expr(value, place.type, loc), place.type, loc, implicit=True)
        if place.index is None:
            return T.Store(loc, place.pointer, place.offset, expr)
        store = T.Store(loc, self.indexed_pointer(place, loc), 0, expr)
        if not place.checked:
            return store
        return T.If(loc, self.index_in_bounds(place, loc), (store,), ())

    def load_place(self, place: Place, loc: Loc) -> T.Expr:
        """Read a scalar place; a variable index out of bounds reads 0."""
        if place.bitfield is not None:
            return self.bitfield_value(place, loc)
        if untrusted(place.pointer) and place.index is None:
            return self.probe_read(place, loc)
        if place.index is None:
            return T.Load(place.type, loc, place.pointer, place.offset)
        value = T.Load(place.type, loc, self.indexed_pointer(place, loc), 0)
        if not place.checked:
            return value
        return T.Conditional(place.type, loc, self.index_in_bounds(place, loc), value,
                             T.Const(place.type, loc, 0))

    def probe_read(self, place: Place, loc: Loc) -> T.Expr:
        """Copy a field through an untrusted kernel pointer into a stack slot and read it.

        A pointer field read this way is itself untrusted (its fields probe-read too).
        """
        ty = place.type
        if isinstance(ty, PointerType):
            ty = PointerType(ty.target, "kernel")
        address = place.pointer
        if isinstance(address, T.KernelFieldAddr) and place.offset == 0 and \
                isinstance(ty, IntType) and not ty.signed and relocatable(
                    address.struct, address.struct.field(address.member),
                    chained=isinstance(address.pointer, T.KernelFieldAddr)):
            # An unsigned member is read at its width on the loading kernel (a "field byte
            # size" relocation) into a zeroed u64, so a kernel where it is narrower or wider
            # gives its value, as clang's BPF_CORE_READ does; a signed one would need
            # sign-extending from that width, and keeps this BTF's.
            tmp = self.temp(u64, loc)
            self.pending.append(T.Assign(loc, tmp, T.Const(u64, loc, 0)))
            dst = T.AddrOf(PointerType(u64, "stack"), loc, tmp)
            self.pending.append(T.ExprStmt(loc, T.HelperCall(
                i64, loc, "probe_read_kernel", 113,
                (dst, T.KernelFieldSize(u32, loc, address), address))))
            return self.convert(T.Local(u64, loc, tmp), ty, loc)
        tmp = self.temp(ty, loc)
        src = place.pointer if place.offset == 0 else T.PtrAdd(
            PointerType(None, "kernel"), loc, place.pointer, T.Const(u64, loc, place.offset))
        dst = T.AddrOf(PointerType(ty, "stack"), loc, tmp)
        size = T.Const(u32, loc, ty.size)
        self.pending.append(T.ExprStmt(loc, T.HelperCall(
            i64, loc, "probe_read_kernel", 113, (dst, size, src))))
        return T.Local(ty, loc, tmp)

    def indexed_pointer(self, place: Place, loc: Loc) -> T.Expr:
        assert place.index is not None
        # Hidden from the optimiser and evaluated under the bounds check (see tir.Opaque).
        index = T.Opaque(u64, loc, place.index) if place.checked else place.index
        scaled = T.Binary(u64, loc, "*", index, T.Const(u64, loc, place.stride))
        offset = T.Binary(u64, loc, "+", scaled, T.Const(u64, loc, place.offset))
        kind = place.pointer.type.kind if isinstance(place.pointer.type, PointerType) else "mem"
        return T.PtrAdd(PointerType(place.type, kind), loc, place.pointer, offset)

    def index_in_bounds(self, place: Place, loc: Loc) -> T.Expr:
        assert place.index is not None
        return T.Compare(bool_, loc, "<", place.index, T.Const(u64, loc, place.bound))

    def visit_If(self, node: ast.If) -> T.Stmt:
        loc = self.src.loc(node)
        test = self.condition(node.test)
        saved = set(self.nonnull)
        narrowed_true, narrowed_false = self.narrowing(node.test)
        self.nonnull = saved | narrowed_true
        body = self.block(node.body)
        after_body = set(self.nonnull)
        self.nonnull = saved | narrowed_false
        orelse = self.block(node.orelse)
        after_else = set(self.nonnull)
        body_ends, else_ends = _terminates(body), _terminates(orelse)
        if body_ends and else_ends:
            self.nonnull = saved
        elif body_ends:
            self.nonnull = after_else
        elif else_ends:
            self.nonnull = after_body
        else:
            self.nonnull = after_body & after_else
        return T.If(loc, test, body, orelse)

    def visit_While(self, node: ast.While) -> T.Stmt:
        loc = self.src.loc(node)
        if node.orelse:
            error(loc, "`while ... else` is not supported", "move the else part after the loop")
        self.forget_assigned(node.body)
        outer, self.pending = self.pending, []
        test = self.condition(node.test)
        pre, self.pending = self.pending, outer
        body = self.loop_body(node.body)
        if pre:
            # The test needs statements of its own (a map get): run them on every iteration.
            stop = T.If(loc, T.Unary(bool_, loc, "not", test), (T.Break(loc),), ())
            return T.While(loc, T.Const(bool_, loc, 1), (*pre, stop, *body))
        return T.While(loc, test, body)

    def visit_For(self, node: ast.For) -> T.Stmt:
        loc = self.src.loc(node)
        if node.orelse:
            error(loc, "`for ... else` is not supported", "move the else part after the loop")
        it = node.iter
        if isinstance(it, ast.Call) and self._is_iter_range(it.func):
            return self.for_iter_range(node, it, loc)
        if not (isinstance(it, ast.Call) and isinstance(it.func, ast.Name)
                and it.func.id == "range" and not it.keywords and 1 <= len(it.args) <= 3):
            error(self.src.loc(it), "only `for x in range(...)` and "
                  "`for x in bpf.iter_range(...)` loops are supported",
                  "loop over range(n) with a bound the verifier can see, over "
                  "bpf.iter_range(n) for a bound known only at run time, or use bpf.loop()")
        if not isinstance(node.target, ast.Name):
            error(self.src.loc(node.target), "the loop variable must be a plain name")
        args = [self.expr(a) for a in it.args]
        if len(args) == 1:
            start: Value = Lit(0, loc)
            stop = args[0]
            step = 1
        else:
            start, stop = args[0], args[1]
            step = 1
            if len(args) == 3:
                if not isinstance(args[2], Lit) or args[2].value == 0:
                    error(self.src.loc(it.args[2]), "range() step must be a non-zero constant")
                step = args[2].value
        typed = [a.type for a in (start, stop) if isinstance(a, T.Expr)]
        ty: IntType = i64
        for t_ in typed:
            if not isinstance(t_, IntType):
                type_error(loc, "range() bounds must be integers")
        if typed:
            ty = typed[0]  # type: ignore[assignment]
            for t_ in typed[1:]:
                ty = rules.arith_result(ty, t_)  # type: ignore[arg-type]
        name = node.target.id
        self.pending.extend(
            self.declare(name, self.locals[name].type if name in self.locals else ty, loc))
        var_ty = self.locals[name].type
        self.forget_assigned(node.body)
        start_e = self.convert(self.to_expr(start, var_ty, loc), var_ty, loc, implicit=True)
        stop_e = self.convert(self.to_expr(stop, var_ty, loc), var_ty, loc, implicit=True)
        known = _counter_range(start, stop, step)
        assigned = any(isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Store)
                       for n in ast.walk(ast.Module(body=node.body, type_ignores=[])))
        outer = self.ranges.pop(name, None)
        if known is not None and not assigned:
            self.ranges[name] = known
        try:
            body = self.loop_body(node.body)
        finally:
            self.ranges.pop(name, None)
            if outer is not None:
                self.ranges[name] = outer
        return T.ForRange(loc, name, start_e, stop_e, step, body)

    def _is_iter_range(self, func: ast.expr) -> bool:
        if not isinstance(func, (ast.Name, ast.Attribute)):
            return False
        try:
            callee = self.expr(func)
        except CompileError:
            return False
        return isinstance(callee, Known) and \
            getattr(callee.obj, "__pyebpf_intrinsic__", None) == "iter_range"

    def for_iter_range(self, node: ast.For, it: ast.Call, loc: Loc) -> T.Stmt:
        """``for i in bpf.iter_range(start, stop)``: the kernel's open-coded numeric
        iterator (``bpf_iter_num_*`` kfuncs, Linux 6.4), verified once whatever the count.

        ``i`` is an i32 (the kfuncs' ``int``); the bounds are converted to i32.  The
        kernel runs at most ``BPF_MAX_LOOPS`` iterations: a longer (or reversed) range
        runs none, so constant bounds that would are refused here.
        """
        from ..errors import NotSupportedError
        from ..kernel import KFunc

        if it.keywords or not 1 <= len(it.args) <= 2:
            error(self.src.loc(it), "bpf.iter_range() takes a stop, or a start and a stop "
                  "(no step)", "for i in bpf.iter_range(n): ... or bpf.iter_range(lo, hi)")
        if not isinstance(node.target, ast.Name):
            error(self.src.loc(node.target), "the loop variable must be a plain name")
        try:
            sigs = {name: KFunc(f"bpf_iter_num_{name}").signature()
                    for name in ("new", "next", "destroy")}
        except NotSupportedError:
            error(self.src.loc(it), "this kernel has no open-coded numeric iterator "
                  "(the bpf_iter_num_new/next/destroy kfuncs are not in its BTF; Linux 6.4 "
                  "added them)", "loop over range() with a constant bound the verifier "
                  "can see, or call bpf.loop(n, callback) (Linux 5.17)")
        values = [self.expr(a) for a in it.args]
        bounds = [Lit(0, loc), *values] if len(values) == 1 else values
        for v, a_node in zip(bounds[len(bounds) - len(values):], it.args):
            if isinstance(v, Lit) and v.value != i32.wrap(v.value):
                error(self.src.loc(a_node), f"{v.value} does not fit the iterator's i32 bounds",
                      f"bounds are between {-2**31} and {2**31 - 1}")
        start, stop = bounds
        if isinstance(start, Lit) and isinstance(stop, Lit) and \
                stop.value - start.value > BPF_MAX_LOOPS:
            error(self.src.loc(it), f"bpf.iter_range() runs at most {BPF_MAX_LOOPS:,} "
                  "iterations (the kernel's BPF_MAX_LOOPS); it would run none of these",
                  "split the range into several loops")
        name = node.target.id
        self.pending.extend(self.declare(name, i32, loc))
        self.temp_counter += 1
        slot = f"__iter{self.temp_counter}"
        # The iterator's 8 bytes (struct bpf_iter_num): a u64 slot, 8-byte aligned.
        self.pending.extend(self.declare(slot, u64, loc))
        params = [sigs[n][0] for n in ("new", "next", "destroy")]
        it_type = params[0][0]
        ptr = T.AddrOf(PointerType(getattr(it_type, "target", None), "stack"), loc, slot)
        start_e, stop_e = (self.convert(self.to_expr(v, i32, loc), i32, loc, implicit=True)
                           for v in (start, stop))
        new = T.KfuncCall(i32, loc, "bpf_iter_num_new", (ptr, start_e, stop_e),
                          tuple(params[0]))
        step = T.KfuncCall(PointerType(i32, "mem", nullable=True), loc, "bpf_iter_num_next",
                           (ptr,), tuple(params[1]))
        destroy = T.KfuncCall(u64, loc, "bpf_iter_num_destroy", (ptr,), tuple(params[2]),
                              void=True)
        self.forget_assigned(node.body)
        self.ranges.pop(name, None)  # not a range() counter: its values are unknown here
        body = self.loop_body(node.body)
        return T.ForIter(loc, name, new, step, destroy, body)

    def loop_body(self, stmts: list[ast.stmt]) -> tuple[T.Stmt, ...]:
        saved = set(self.nonnull)
        self.loop_depth += 1
        try:
            body = self.block(stmts)
        finally:
            self.loop_depth -= 1
        self.nonnull = saved
        return body

    def visit_Break(self, node: ast.Break) -> T.Stmt:
        if not self.loop_depth:
            error(self.src.loc(node), "`break` outside a loop")
        return T.Break(self.src.loc(node))

    def visit_Continue(self, node: ast.Continue) -> T.Stmt:
        if not self.loop_depth:
            error(self.src.loc(node), "`continue` outside a loop")
        return T.Continue(self.src.loc(node))

    def visit_Delete(self, node: ast.Delete) -> list[T.Stmt]:
        out: list[T.Stmt] = []
        for target in node.targets:
            loc = self.src.loc(target)
            if not (isinstance(target, ast.Subscript) and self._is_map(target.value)):
                error(loc, "only `del m[key]` on a map is supported")
            m = self.map_of(target.value)
            out.append(T.MapDelete(loc, m.name, self.map_key(m, target.slice)))
        return out

    # ------------------------------------------------------------ narrowing

    def narrowing(self, test: ast.expr) -> tuple[set[str], set[str]]:
        """Names known non-null when ``test`` is true / false."""
        if isinstance(test, ast.Name) and self._nullable_local(test.id):
            return {test.id}, set()
        if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
            t, f = self.narrowing(test.operand)
            return f, t
        if (isinstance(test, ast.Compare) and len(test.ops) == 1
                and isinstance(test.left, ast.Name) and self._nullable_local(test.left.id)
                and isinstance(test.comparators[0], ast.Constant)
                and test.comparators[0].value is None):
            name = test.left.id
            if isinstance(test.ops[0], (ast.IsNot, ast.NotEq)):
                return {name}, set()
            if isinstance(test.ops[0], (ast.Is, ast.Eq)):
                return set(), {name}
        if isinstance(test, ast.BoolOp):
            parts = [self.narrowing(v) for v in test.values]
            if isinstance(test.op, ast.And):
                return set().union(*(p[0] for p in parts)), set()
            return set(), set().union(*(p[1] for p in parts))
        return set(), set()

    def _nullable_local(self, name: str) -> bool:
        var = self.locals.get(name)
        return var is not None and isinstance(var.type, PointerType) and var.type.nullable

    def forget(self, name: str) -> None:
        self.nonnull.discard(name)

    def forget_assigned(self, body: list[ast.stmt]) -> None:
        for node in ast.walk(ast.Module(body=body, type_ignores=[])):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                self.nonnull.discard(node.id)

    def require_nonnull(self, e: T.Expr, loc: Loc) -> None:
        if isinstance(e.type, PointerType) and e.type.nullable:
            name = e.name if isinstance(e, T.Local) else None
            if name is None or name not in self.nonnull:
                what = f"`{name}`" if name else "this pointer"
                why = (f"the kernel may pass NULL for {self.ctx_type.name}'s argument "  # type: ignore[union-attr]
                       f"`{name}` (its stub names it __nullable)" if name in self.param_locals
                       else "map lookups, ring-buffer reservations and ctx.header() can fail")
                error(loc, f"{what} may be None here",
                      f"check it first: `if {name or 'p'} is None: return ...` ({why})")

    # ------------------------------------------------------------ expressions

    def expr(self, node: ast.expr) -> Value:
        method = getattr(self, f"expr_{type(node).__name__}", None)
        if method is None:
            loc = self.src.loc(node)
            kind = type(node).__name__
            hints = {
                "List": "eBPF programs have no lists: use a fixed array (u32[8]) or a map",
                "Dict": "eBPF programs have no dicts: use a map (bpf.HashMap)",
                "Set": "eBPF programs have no sets: use a map (bpf.HashMap)",
                "ListComp": "no comprehensions: write a for loop over range()",
                "SetComp": "no comprehensions: write a for loop over range()",
                "DictComp": "no comprehensions: write a for loop over range()",
                "GeneratorExp": "no generators: write a for loop over range()",
                "Lambda": "no lambdas: define a @bpf.func at module level",
                "JoinedStr": "no f-strings: use bpf.trace_printk(b\"fmt %d\", x)",
                "Await": "no async inside programs",
                "Yield": "programs cannot be generators",
                "YieldFrom": "programs cannot be generators",
                "Starred": "no argument unpacking",
                "NamedExpr": "assign on its own line",
                "Slice": "no slices: index with a constant",
            }
            error(loc, f"{_describe(node)} is not supported in eBPF programs",
                  hints.get(kind, "see docs/language.md for the supported subset"))
        return method(node)

    def expr_Constant(self, node: ast.Constant) -> Value:
        loc = self.src.loc(node)
        v = node.value
        if isinstance(v, bool):
            return T.Const(bool_, loc, int(v))
        if isinstance(v, int):
            return Lit(v, loc)
        if isinstance(v, bytes):
            return Known(v, loc)
        if v is None:
            return Known(None, loc)
        if isinstance(v, float):
            error(loc, "floating point is not available in eBPF",
                  "use integers (scale by 1000, or use // for division)")
        if isinstance(v, str):
            error(loc, "str values are not supported in eBPF programs",
                  'use a bytes literal (b"...") for char arrays and format strings')
        error(loc, f"constant {v!r} is not supported")

    def expr_Name(self, node: ast.Name) -> Value:
        loc = self.src.loc(node)
        name = node.id
        if name == self.ctx_name:
            return T.Local(PointerType(None, "ctx"), loc, "ctx")
        if name in self.param_fields:
            return self.ctx_attribute(T.Local(PointerType(None, "ctx"), loc, "ctx"),
                                      self.param_fields[name], loc)
        var = self.locals.get(name)
        if var is not None:
            if var.aggregate:
                return Place(T.AddrOf(PointerType(var.type, "stack"), loc, name), 0, var.type, loc)
            ty = var.type
            if isinstance(ty, PointerType) and ty.nullable and name in self.nonnull:
                ty = PointerType(ty.target, ty.kind, nullable=False)
            return T.Local(ty, loc, name)
        found, obj = self.env.lookup(name)
        if not found:
            error(loc, f"name `{name}` is not defined",
                  "define it at module level (a map, a constant, a struct) or assign it first")
        return self.known(obj, loc, name)

    def known(self, obj: Any, loc: Loc, name: str = "") -> Value:
        if is_global_var(obj):
            use = self.registry.use_global(obj, name, self.env, loc)
            addr = T.GlobalAddr(PointerType(obj.type, "global"), loc, use.name)
            return Place(addr, 0, obj.type, loc, writable=obj.section != ".rodata")
        if isinstance(obj, bool):
            return T.Const(bool_, loc, int(obj))
        if isinstance(obj, int):
            return Lit(int(obj), loc)
        if isinstance(obj, float):
            error(loc, f"`{name}` is a float; floating point is not available in eBPF",
                  "use an integer constant")
        return Known(obj, loc)

    def expr_Attribute(self, node: ast.Attribute) -> Value:
        loc = self.src.loc(node)
        base = self.expr(node.value)
        attr = node.attr
        if isinstance(base, Known):
            obj = base.obj
            if isinstance(obj, pytypes.ModuleType) or _is_namespace(obj):
                if not hasattr(obj, attr):
                    error(loc, f"`{_dotted(node)}` does not exist",
                          "check the name (helpers are bpf.<name> without the bpf_ prefix)")
                return self.known(getattr(obj, attr), loc, _dotted(node))
            if is_map_obj(obj):
                return Known(BoundMapMethod(obj, attr), loc)
            if isinstance(obj, type) and issubclass(obj, Struct) or isinstance(obj, IntType):
                error(loc, f"`{_dotted(node)}`: types have no attributes inside programs")
            error(loc, f"cannot read attribute `{attr}` of {type(obj).__name__} in a program")
        if isinstance(base, T.Expr) and isinstance(base.type, PointerType) and base.type.kind == "ctx":
            return self.ctx_attribute(base, attr, loc)
        if isinstance(base, T.Expr) and isinstance(base.type, PointerType) and \
                isinstance(base.type.target, InnerMapType):
            self.require_nonnull(base, loc)
            return Known(BoundMapMethod(base.type.target.decl, attr, base), loc)
        place = self.as_place(base, loc)
        if place is not None:
            if attr == "value" and isinstance(place.pointer, T.GlobalAddr):
                return place  # `g.value` is the variable itself, as on the Python side
            if isinstance(place.type, ArrayType) and attr == "startswith":
                return Known(BytesMethod(place), loc)
            return self.field_place(place, attr, loc)
        error(loc, f"`.{attr}` needs a struct, a struct pointer or the context",
              "fields can be read from structs, map values and ctx")

    def ctx_attribute(self, ctx: T.Expr, attr: str, loc: Loc) -> Value:
        assert self.ctx_type is not None
        if attr in ("header", "arg"):
            return Known(CtxMethod(attr), loc)
        f = self.ctx_type.field(attr)
        if f is None:
            names = ", ".join(sorted(self.ctx_type.fields)) or "(none)"
            error(loc, f"the {self.ctx_type.name} context has no field `{attr}`",
                  f"fields: {names}")
        if f.kind in ("packet", "packet_end", "packet64", "packet_end64"):
            if not self.ctx_type.packet_access:
                error(loc, f"this program type cannot access packet memory via ctx.{attr}",
                      "use bpf.skb_load_bytes(ctx, offset, buf)")
            kind = "packet_end" if f.kind.startswith("packet_end") else "packet"
            return T.CtxPacketPtr(PointerType(None, kind), loc, ctx, f.offset,
                                  8 if f.kind.endswith("64") else 4)
        if f.kind == "data_loc":
            return T.DataLocPtr(PointerType(None, "mem"), loc, ctx, f.offset)
        return Place(ctx, f.offset, f.type, loc, writable=f.writable)

    def field_place(self, place: Place, attr: str, loc: Loc) -> Place:
        st = place.type
        if is_kernel_struct(st):
            try:
                kf = st.field(attr)  # type: ignore[attr-defined]
            except Exception as e:  # a BTFError about this member
                error(loc, f"cannot read {st!r}.{attr}: {e}")
            if kf is None:
                error(loc, f"{st!r} has no member `{attr}` in this kernel's BTF",
                      "check the kernel's struct (bpftool btf dump file /sys/kernel/btf/vmlinux)")
            if kf.bit_size:
                return self.bitfield_place(place, st, kf, loc)
            refusal = self.kernel_store_refusal(place, place.offset + kf.offset, kf.type)
            # The member's address is a CO-RE access (see tir.KernelFieldAddr): its offset
            # is resolved against the BTF of the kernel the object is loaded on.
            base = self.place_address(place)
            kind = base.type.kind if isinstance(base.type, PointerType) else "mem"
            addr = T.KernelFieldAddr(PointerType(kf.type, kind), loc, base, st, attr,
                                     kf.offset)
            field = Place(addr, 0, kf.type, loc, refusal is None, refusal=refusal)
            if untrusted(place.pointer) and isinstance(kf.type, ArrayType):
                # An array (task.comm) behind an untrusted pointer: read it to the stack.
                tmp = self.temp(kf.type, loc)
                src = addr
                dst = T.AddrOf(PointerType(kf.type, "stack"), loc, tmp)
                self.pending.append(T.ExprStmt(loc, T.HelperCall(i64, loc, "probe_read_kernel",
                                    113, (dst, T.Const(u32, loc, kf.type.size), src))))
                return Place(dst, 0, kf.type, loc, False, refusal=refusal)
            return field
        if not isinstance(st, StructType):
            error(loc, f"`.{attr}`: a {st!r} has no fields")
        f = st.by_name.get(attr)
        if f is None:
            error(loc, f"struct {st.name} has no field `{attr}`",
                  f"fields: {', '.join(x.name for x in st.fields)}")
        return Place(place.pointer, place.offset + f.offset, f.type, loc, place.writable,
                     place.index, place.bound, place.stride, place.checked, place.refusal)

    def bitfield_place(self, place: Place, st: Any, kf: Any, loc: Loc) -> Place:
        """A bitfield of a kernel struct: read-only, its value in a storage unit.

        Reads load the unit (through the trusted pointer, or with bpf_probe_read_kernel
        from a plain address) and shift and mask it (see :meth:`bitfield_value`); where
        the member can be a CO-RE access, the unit's offset and size and the shifts are
        relocations (tir.KernelBitfield).
        Stores are refused: none of the members the kernel lets programs write is a
        bitfield, and a store to one would have to rewrite its neighbours' bits too.
        """
        refusal = (f"{st!r}.{kf.name} is a {kf.bit_size}-bit bitfield: pyebpf reads kernel "
                   "bitfields but does not store to them",
                   "none of the kernel-struct members programs may write is a bitfield; "
                   "change this state through a kfunc or helper made for it (bpf.setsockopt, "
                   "for socket options)")
        base = self.place_address(place)
        if relocatable(st, kf, chained=isinstance(base, T.KernelFieldAddr)):
            return Place(base, 0, kf.type, loc, False, refusal=refusal,
                         bitfield=Bitfield(kf.unit, kf.bit_shift, kf.bit_size, st, kf.name))
        return Place(place.pointer, place.offset + kf.offset, kf.type, loc, False,
                     place.index, place.bound, place.stride, place.checked, refusal,
                     Bitfield(kf.unit, kf.bit_shift, kf.bit_size))

    def bitfield_value(self, place: Place, loc: Loc) -> T.Expr:
        """The value of a bitfield: its unit, shifted and masked as clang does
        (``(unit >> shift) & mask``; signed: ``(unit << left) >> (bits - width)``
        with an arithmetic shift, which sign-extends)."""
        bf = place.bitfield
        assert bf is not None
        if bf.struct is not None:  # relocated: see tir.KernelBitfield
            return T.KernelBitfield(place.type, loc, place.pointer, bf.struct, bf.member,
                                    untrusted(place.pointer))
        raw = self.load_place(place.replace(type=bf.unit, bitfield=None), loc)
        ty = place.type
        assert isinstance(ty, IntType)
        if ty.signed and not ty.is_bool:
            unit = rules.int_type(bf.unit.size, signed=True)
            left = bf.unit.bits - bf.shift - bf.width
            value: T.Expr = T.Cast(unit, loc, raw)
            if left:
                value = T.Binary(unit, loc, "<<", value, T.Const(unit, loc, left))
            value = T.Binary(unit, loc, ">>", value, T.Const(unit, loc, bf.unit.bits - bf.width))
        else:
            unit = bf.unit
            value = raw
            if bf.shift:
                value = T.Binary(unit, loc, ">>", value, T.Const(unit, loc, bf.shift))
            if bf.shift + bf.width < unit.bits:
                value = T.Binary(unit, loc, "&", value,
                                 T.Const(unit, loc, (1 << bf.width) - 1))
        return self.convert(value, ty, loc)

    def kernel_store_refusal(self, place: Place, offset: int,
                             ty: BPFType) -> tuple[str, str] | None:
        """Why the kernel will refuse a store to ``ty`` at ``offset`` behind a kernel-struct
        pointer (message, what to do instead); None when it allows it or pyebpf cannot know.

        Through a plain address (bpf_probe_read semantics) never; through a trusted BTF
        pointer as the program type's :class:`~pyebpf.lang.contexts.KernelWrites` says.
        """
        from ..kernel import write_refusal

        pointer = place.pointer
        while isinstance(pointer, T.KernelFieldAddr):  # a member of an embedded struct
            offset += pointer.offset
            pointer = pointer.pointer
        base = pointer.type.target if isinstance(pointer.type, PointerType) else None
        if not is_kernel_struct(base):
            return None
        if untrusted(place.pointer):
            return (f"{base!r} here is a plain address, read with bpf_probe_read_kernel: "
                    "BPF programs cannot store to kernel memory through it",
                    "stores go through pointers the verifier trusts (a struct_ops or BTF "
                    "argument), only where the kernel allows them; otherwise call a kfunc "
                    "made for the change (bpf_probe_write_user writes user memory, never "
                    "kernel memory)")
        writes = self.ctx_type.kernel_writes if self.ctx_type is not None else None
        if writes is None:
            return None
        why = write_refusal(writes, base, offset, ty.size)
        if why is None:
            return None
        where = self.ctx_type.name if self.ctx_type is not None else "this program"
        return (f"cannot store to {base!r} in {where}: {why}", writes.instead)

    def as_place(self, v: Value, loc: Loc) -> Place | None:
        """A Place for a struct/array value or a pointer to one."""
        if isinstance(v, Place) and isinstance(v.type, PointerType) and \
                v.type.target is not None:
            v = self.load_place(v, loc)  # a pointer field: follow it (task.real_parent.tgid)
        if isinstance(v, Place):
            return v
        if isinstance(v, T.Expr) and isinstance(v.type, PointerType) and v.type.target is not None:
            if False:
                return None
            self.require_nonnull(v, loc)
            return Place(v, 0, v.type.target, loc)
        return None

    def place(self, node: ast.expr) -> Place:
        loc = self.src.loc(node)
        v = self.expr(node)
        if isinstance(v, Place):
            return v
        error(loc, "cannot assign to this expression", "assign to a local, a field or m[key]")

    def place_address(self, place: Place) -> T.Expr:
        if place.bitfield is not None:
            error(place.loc, "a bitfield has no address", "read it into a local first")
        if place.index is not None:
            error(place.loc, "an element with a variable index cannot be passed by address",
                  "copy it to a local first")
        ptr = place.pointer
        if place.offset == 0:
            return ptr
        return T.PtrAdd(PointerType(place.type, "stack" if isinstance(ptr, T.AddrOf) else
                                    getattr(ptr.type, "kind", "mem")),
                        place.loc, ptr, T.Const(u64, place.loc, place.offset))

    def expr_Subscript(self, node: ast.Subscript) -> Value:
        loc = self.src.loc(node)
        if self._is_map(node.value):
            error(loc, "reading m[key] inside a program is not supported",
                  "use m.get(key, default) for a copy, or m.lookup(key) for a pointer")
        base = self.expr(node.value)
        idx = self.expr(node.slice)
        if isinstance(base, Known) and (isinstance(base.obj, BPFType) or isinstance(
                base.obj, type) and issubclass(base.obj, Struct)):
            if not isinstance(idx, Lit):
                error(self.src.loc(node.slice), "array lengths must be constants")
            return Known(self.type_from_object(base.obj, loc)[idx.value], loc)
        if isinstance(base, T.Expr) and isinstance(base.type, PointerType) and \
                base.type.kind in ("packet", "packet_end") and base.type.target is None:
            error(loc, "packet read without a bounds check",
                  "use h = ctx.header(T, offset) and check `if h is None: return ...`")
        place = self.as_place(base, loc)
        if place is None:
            error(loc, "only arrays and pointers can be indexed")
        if isinstance(place.type, ArrayType):
            elem, length = place.type.elem, place.type.length
        elif place.offset == 0 and isinstance(base, T.Expr):
            elem, length = place.type, 1
        else:
            error(loc, f"a {place.type!r} cannot be indexed")
        if not isinstance(idx, Lit):
            if place.index is not None:
                error(loc, "only one variable index per access", "index the outer array "
                      "with a constant, or copy the inner array to a local first")
            known = self.ranges.get(idx.name) if isinstance(idx, T.Local) else None
            in_range = known is not None and known[0] >= 0 and known[1] < length
            if isinstance(place.pointer.type, PointerType) and \
                    place.pointer.type.kind == "ctx" and not in_range:
                error(loc, "context arrays take constant indexes (the verifier requires it)",
                      "index with a constant, or a range() counter over constants (the loop "
                      "is unrolled)")
            if in_range:
                # A range() counter the body never assigns is always in bounds: no check,
                # so LLVM can still unroll the loop (as clang does for C).
                i = self.convert(idx, u64, loc)
                return Place(place.pointer, place.offset, elem, loc, place.writable,
                             index=i, bound=length, stride=elem.size, checked=False,
                             refusal=place.refusal)
            # The index is computed once, as an opaque u64 the bounds check and the access
            # share; otherwise LLVM may check a narrower copy than the one it adds.
            tmp = self.temp(u64, loc)
            wide = self.convert(self.int_expr(idx, loc), u64, loc)
            self.pending.append(T.Assign(loc, tmp, T.Opaque(u64, loc, wide)))
            return Place(place.pointer, place.offset, elem, loc, place.writable,
                         index=T.Local(u64, loc, tmp), bound=length, stride=elem.size,
                         refusal=place.refusal)
        value = idx.value + length if idx.value < 0 else idx.value  # Python's a[-1]
        if not 0 <= value < length:
            error(self.src.loc(node.slice), f"index {idx.value} is out of range for {length} elements")
        return Place(place.pointer, place.offset + value * elem.size, elem, loc, place.writable,
                     place.index, place.bound, place.stride, place.checked, place.refusal)

    def expr_UnaryOp(self, node: ast.UnaryOp) -> Value:
        loc = self.src.loc(node)
        v = self.expr(node.operand)
        if isinstance(node.op, ast.Not):
            return T.Unary(bool_, loc, "not", self.truth(v, loc))
        if isinstance(node.op, ast.UAdd):
            return v
        op = "-" if isinstance(node.op, ast.USub) else "~"
        if isinstance(v, Lit):
            return Lit(-v.value if op == "-" else ~v.value, loc)
        e = self.int_expr(v, loc)
        t = rules.plain(e.type)  # type: ignore[arg-type]
        return T.Unary(t, loc, op, self.convert(e, t, loc))

    def expr_BinOp(self, node: ast.BinOp) -> Value:
        loc = self.src.loc(node)
        op = _BINOPS.get(type(node.op))
        if op is None:
            self._bad_operator(node.op, loc)
        left, right = self.expr(node.left), self.expr(node.right)
        if op in ("+", "-") and isinstance(left, T.Expr) and isinstance(left.type, PointerType):
            return self.pointer_arith(op, left, right, loc)
        return self.binary(op, left, right, loc)

    def _bad_operator(self, op: ast.AST, loc: Loc) -> None:
        if isinstance(op, ast.Div):
            error(loc, "`/` gives a float; eBPF has integers only", "use `//`")
        if isinstance(op, ast.Pow):
            error(loc, "`**` is not supported", "multiply, or shift for powers of two")
        if isinstance(op, ast.MatMult):
            error(loc, "`@` is not supported")
        error(loc, f"operator {type(op).__name__} is not supported")

    def pointer_arith(self, op: str, ptr: T.Expr, off: Value, loc: Loc) -> T.Expr:
        if op == "-" and isinstance(off, T.Expr) and isinstance(off.type, PointerType):
            # p - q: the distance in bytes (e.g. ctx.data_end - ctx.data), as C's ptrdiff_t.
            self.require_nonnull(ptr, loc)
            self.require_nonnull(off, loc)
            # Opaque: LLVM would otherwise reassociate ``n + (end - start)`` into
            # ``(n + end) - start``, and the verifier refuses arithmetic on pkt_end.
            diff = T.Binary(i64, loc, "-", T.Cast(i64, loc, ptr), T.Cast(i64, loc, off))
            return T.Opaque(i64, loc, diff)
        if op == "-":
            if isinstance(off, Lit):
                off = Lit(-off.value, loc)
            else:
                error(loc, "only constant offsets can be subtracted from a pointer")
        off_e = self.convert(self.to_expr(off, u64, loc), u64, loc)
        pt = ptr.type
        assert isinstance(pt, PointerType)
        self.require_nonnull(ptr, loc)
        return T.PtrAdd(PointerType(None, pt.kind), loc, ptr, off_e)

    def binary(self, op: str, left: Value, right: Value, loc: Loc) -> Value:
        if isinstance(left, Lit) and isinstance(right, Lit):
            return Lit(_fold(op, left.value, right.value, loc), loc)
        if op in rules.SHIFT_OPS:
            l_e = self.int_expr(left, loc) if not isinstance(left, Lit) else None
            ty = rules.plain(l_e.type) if l_e is not None else rules.literal_type(left.value)  # type: ignore[union-attr,arg-type]
            l_e = self.convert(self.to_expr(left, ty, loc), ty, loc)
            if isinstance(right, Lit):
                r_e: T.Expr = T.Const(ty, loc, ty.wrap(right.value))
                if right.value < 0 or right.value >= ty.bits:
                    r_e = T.Const(u64, loc, right.value & 0xFFFFFFFFFFFFFFFF)
            else:
                r_e = self.int_expr(right, loc)
            return T.Binary(ty, loc, op, l_e, r_e)
        if isinstance(left, Lit) or isinstance(right, Lit):
            typed, lit = (right, left) if isinstance(left, Lit) else (left, right)
            e = self.int_expr(typed, loc)
            ty = rules.plain(e.type)  # type: ignore[arg-type]
            if op in ("//", "%") and not rules.literal_fits(lit.value, ty):  # type: ignore[union-attr]
                type_error(loc, f"{lit.value} does not fit in {ty!r}",  # type: ignore[union-attr]
                           "cast the other operand to a wider type, e.g. i64(...)")
            c = T.Const(ty, loc, ty.wrap(lit.value))  # type: ignore[union-attr]
            e = self.convert(e, ty, loc)
            lhs, rhs = (c, e) if isinstance(left, Lit) else (e, c)
            return T.Binary(ty, loc, op, lhs, rhs)
        l_e, r_e = self.int_expr(left, loc), self.int_expr(right, loc)
        ty = rules.arith_result(l_e.type, r_e.type)  # type: ignore[arg-type]
        return T.Binary(ty, loc, op, self.convert(l_e, ty, loc), self.convert(r_e, ty, loc))

    def expr_Compare(self, node: ast.Compare) -> Value:
        loc = self.src.loc(node)
        parts: list[T.Expr] = []
        left_node = node.left
        left = self.expr(left_node)
        for op_node, right_node in zip(node.ops, node.comparators):
            if isinstance(op_node, (ast.In, ast.NotIn)) and \
                    isinstance(right_node, (ast.Tuple, ast.List, ast.Set)):
                parts.append(self.membership(op_node, left, right_node, loc))
                left = None  # type: ignore[assignment]
                continue
            right = self.expr(right_node)
            parts.append(self.compare(op_node, left, right, loc))
            if len(node.ops) > 1 and not _simple(right_node):
                error(self.src.loc(right_node), "chained comparisons need simple middle operands",
                      "split it: `a < b and b < c`")
            left = right
        if len(parts) == 1:
            return parts[0]
        return T.Logical(bool_, loc, "and", tuple(parts))

    def membership(self, op_node: ast.cmpop, left: Value, items: ast.expr, loc: Loc) -> T.Expr:
        """``x in (1, 2, 3)``: equal to one of the constants (``not in``: to none)."""
        if left is None or len(node_elts := items.elts) == 0:  # type: ignore[attr-defined]
            error(loc, "`in` needs a value on the left and at least one item")
        tests = [self.compare(ast.Eq(), left, self.expr(e), loc) for e in node_elts]
        for e in node_elts:
            if not _simple(e):
                error(self.src.loc(e), "`in (...)` items must be simple values (constants, names)")
        anyof = tests[0] if len(tests) == 1 else T.Logical(bool_, loc, "or", tuple(tests))
        return anyof if isinstance(op_node, ast.In) else T.Unary(bool_, loc, "not", anyof)

    def compare(self, op_node: ast.cmpop, left: Value, right: Value, loc: Loc) -> T.Expr:
        if isinstance(op_node, (ast.Is, ast.IsNot)):
            if isinstance(left, Place) and isinstance(left.type, PointerType):
                left = self.load_place(left, loc)  # a pointer field: `ctx.task is None`
            if not (isinstance(right, Known) and right.obj is None):
                error(loc, "`is` is only supported as `is None` / `is not None`", "use == for integers")
            if not (isinstance(left, T.Expr) and isinstance(left.type, PointerType)):
                error(loc, "only pointers (map lookups, reservations, headers) can be None")
            t = T.Truth(bool_, loc, left)
            return t if isinstance(op_node, ast.IsNot) else T.Unary(bool_, loc, "not", t)
        if isinstance(op_node, (ast.In, ast.NotIn)):
            error(loc, "`in` is not supported inside programs",
                  "use m.lookup(key) is not None for maps")
        op = _CMPOPS[type(op_node)]
        if isinstance(right, Known) and isinstance(right.obj, bytes) or \
                isinstance(left, Known) and isinstance(left.obj, bytes):
            place, lit = (left, right) if isinstance(right, Known) else (right, left)
            if op not in ("==", "!=") or not isinstance(place, Place):
                type_error(loc, "bytes compare with == or != against a char/u8 array",
                           'comm == b"bash"')
            eq = self.bytes_equal(place, lit.obj, terminated=True, loc=loc)  # type: ignore[union-attr]
            return eq if op == "==" else T.Unary(bool_, loc, "not", eq)
        if isinstance(right, Known) and right.obj is None:
            error(loc, f"compare with None using `is`/`is not`, not `{op}`")
        if isinstance(left, Lit) and isinstance(right, Lit):
            return T.Const(bool_, loc, int(rules.compare(op, left.value, right.value)))
        if isinstance(left, T.Expr) and isinstance(left.type, PointerType) or \
                isinstance(right, T.Expr) and isinstance(right.type, PointerType):
            if not (isinstance(left, T.Expr) and isinstance(right, T.Expr)
                    and isinstance(left.type, PointerType) and isinstance(right.type, PointerType)):
                type_error(loc, "a pointer can only be compared with another pointer")
            return T.Compare(bool_, loc, op, left, right)
        if isinstance(left, Lit) or isinstance(right, Lit):
            if isinstance(left, Lit):
                left, right, op = right, left, _FLIP[op]
            e = self.int_expr(left, loc)
            ty = rules.plain(e.type)  # type: ignore[arg-type]
            lit = right.value  # type: ignore[union-attr]
            if not rules.literal_fits(lit, ty):
                wide = rules.compare_type(ty, rules.literal_type(lit))
                if wide is None or not rules.literal_fits(lit, wide):
                    # Every value of ty is on one side of the literal.
                    below = lit < ty.min
                    result = {"==": False, "!=": True, "<": not below, "<=": not below,
                              ">": below, ">=": below}[op]
                    return T.Const(bool_, loc, int(result))
                ty = wide
            return T.Compare(bool_, loc, op, self.convert(e, ty, loc), T.Const(ty, loc, lit))
        l_e, r_e = self.int_expr(left, loc), self.int_expr(right, loc)
        ty = rules.compare_type(l_e.type, r_e.type)  # type: ignore[arg-type]
        if ty is None:
            type_error(loc, f"comparing {l_e.type!r} with {r_e.type!r} mixes signed and unsigned",
                       f"cast one side, e.g. {r_e.type!r}(x) or i64(x)")
        return T.Compare(bool_, loc, op, self.convert(l_e, ty, loc), self.convert(r_e, ty, loc))

    def expr_BoolOp(self, node: ast.BoolOp) -> Value:
        loc = self.src.loc(node)
        op = "and" if isinstance(node.op, ast.And) else "or"
        saved = set(self.nonnull)
        values: list[Value] = []
        for v_node in node.values:
            values.append(self.expr(v_node))
            t, f = self.narrowing(v_node)
            self.nonnull |= t if op == "and" else f
        self.nonnull = saved
        if all(isinstance(v, T.Expr) and v.type == bool_ for v in values):
            return T.Logical(bool_, loc, op, tuple(values))  # type: ignore[arg-type]
        if all(not isinstance(v, Known) for v in values) and all(_simple(n) for n in node.values):
            # Python's value semantics: `a or b` is a if a else b (operands are side-effect free).
            exprs = [self.int_expr(v, loc) if not isinstance(v, Lit) else v for v in values]
            typed = [e.type for e in exprs if isinstance(e, T.Expr)]
            ty = typed[0]
            for t_ in typed[1:]:
                ty = rules.arith_result(ty, t_)  # type: ignore[arg-type]
            conv = [self.convert(self.to_expr(e, ty, loc), ty, loc) for e in exprs]
            result = conv[-1]
            for e in reversed(conv[:-1]):
                test = T.Truth(bool_, loc, e)
                result = T.Conditional(ty, loc, test, e, result) if op == "or" else \
                    T.Conditional(ty, loc, test, result, e)
            return result
        return T.Logical(bool_, loc, op, tuple(self.truth(v, loc) for v in values))

    def expr_IfExp(self, node: ast.IfExp) -> Value:
        loc = self.src.loc(node)
        test = self.condition(node.test)
        t, f = self.narrowing(node.test)
        saved = set(self.nonnull)
        self.nonnull = saved | t
        body = self.expr(node.body)
        self.nonnull = saved | f
        orelse = self.expr(node.orelse)
        self.nonnull = saved
        if isinstance(body, Lit) and isinstance(orelse, Lit):
            ty: BPFType = rules.literal_type(max(body.value, orelse.value))
        elif isinstance(body, Lit):
            ty = self.scalar(orelse, loc).type
        elif isinstance(orelse, Lit):
            ty = self.scalar(body, loc).type
        else:
            bt, ot = self.scalar(body, loc).type, self.scalar(orelse, loc).type
            if isinstance(bt, IntType) and isinstance(ot, IntType):
                ty = bt if bt == ot else rules.arith_result(bt, ot)
            elif bt == ot:
                ty = bt
            else:
                type_error(loc, f"the two branches have different types ({bt!r}, {ot!r})",
                           "cast one branch")
        b = self.convert(self.to_expr(body, ty, loc), ty, loc)
        o = self.convert(self.to_expr(orelse, ty, loc), ty, loc)
        return T.Conditional(ty, loc, test, b, o)

    def temp(self, ty: BPFType, loc: Loc) -> str:
        self.temp_counter += 1
        name = f"__tmp{self.temp_counter}"
        self.pending.extend(self.declare(name, ty, loc))
        return name

    # ------------------------------------------------------------ conversions

    def rvalue(self, node: ast.expr, want: BPFType | None = None) -> T.Expr:
        v = self.expr(node)
        return self.to_expr(v, want or i64, self.src.loc(node))

    def to_expr(self, v: Value, ty: BPFType, loc: Loc) -> T.Expr:
        """A typed expression for ``v``; literals take type ``ty``."""
        if isinstance(v, Lit):
            if isinstance(ty, PointerType):
                return T.Const(u64, loc, v.value)
            t = ty if isinstance(ty, IntType) else i64
            return T.Const(t, loc, t.wrap(v.value))
        return self.scalar(v, loc)

    def scalar(self, v: Value, loc: Loc) -> T.Expr:
        if isinstance(v, T.Expr):
            return v
        if isinstance(v, Lit):
            return T.Const(rules.literal_type(v.value), loc, v.value)
        if isinstance(v, Place):
            if isinstance(v.type, (StructType, ArrayType)):
                error(loc, f"a {v.type!r} cannot be used as a number",
                      "use one of its fields or elements")
            return self.load_place(v, loc)
        if isinstance(v, StmtValue):
            error(loc, "this call gives no value")
        if isinstance(v, StructCtor):
            error(loc, "a struct value cannot be used here", "assign it to a local first")
        if isinstance(v, Known) and v.obj is None:
            error(loc, "None can only be compared with `is`")
        obj = v.obj if isinstance(v, Known) else v
        error(loc, f"`{getattr(obj, '__name__', type(obj).__name__)}` is not a value",
              "programs compute with integers, structs and pointers")

    def int_expr(self, v: Value, loc: Loc) -> T.Expr:
        e = self.scalar(v, loc)
        if not isinstance(e.type, IntType):
            type_error(loc, f"expected an integer, got {e.type!r}",
                       "pointers must be checked for None and read through fields")
        return e

    def convert(self, e: T.Expr, ty: BPFType, loc: Loc, implicit: bool = False) -> T.Expr:
        if e.type == ty:
            return e
        if isinstance(ty, IntType) and isinstance(e.type, IntType):
            if ty.is_bool:
                return T.Truth(bool_, loc, e)
            return T.Cast(ty, loc, e)
        if isinstance(ty, PointerType) and isinstance(e.type, PointerType):
            if e.type.nullable and not ty.nullable:
                self.require_nonnull(e, loc)
            return e
        if isinstance(ty, PointerType) and isinstance(e.type, IntType) and e.type.size == 8:
            return T.Cast(ty, loc, e)
        if isinstance(ty, IntType) and isinstance(e.type, PointerType):
            target = e.type.target
            what = f"a pointer to {target!r}" if target is not None else "a pointer"
            type_error(loc, f"{what} where {ty!r} is expected",
                       "read the value it points to (`p[0]`, `p.field`), or take the "
                       "address as a number with u64(p)")
        type_error(loc, f"cannot convert {e.type!r} to {ty!r}")

    def truth(self, v: Value, loc: Loc) -> T.Expr:
        if isinstance(v, Lit):
            return T.Const(bool_, loc, int(bool(v.value)))
        e = self.scalar(v, loc)
        if e.type == bool_:
            return e
        return T.Truth(bool_, loc, e)

    def condition(self, node: ast.expr) -> T.Expr:
        return self.truth(self.expr(node), self.src.loc(node))

    def infer_type(self, v: Value, loc: Loc) -> BPFType:
        if isinstance(v, Lit):
            return rules.literal_type(v.value)
        if isinstance(v, (StructCtor, ArrayCtor)):
            return v.type
        if isinstance(v, Place):
            return v.type
        if isinstance(v, Known) and isinstance(v.obj, bytes):
            return ArrayType(char_type(), len(v.obj) + 1)
        return self.scalar(v, loc).type

    def type_of_annotation(self, node: ast.expr) -> BPFType:
        loc = self.src.loc(node)
        if isinstance(node, ast.Subscript):
            elem = self.type_of_annotation(node.value)
            n = self.expr(node.slice)
            if not isinstance(n, Lit):
                error(loc, "array lengths must be constants")
            return elem[n.value]
        v = self.expr(node)
        if not isinstance(v, Known):
            error(loc, "not a type", "use u8..u64, i8..i64, bool, a Struct or an array like u8[16]")
        return self.type_from_object(v.obj, loc)

    def type_from_object(self, obj: Any, loc: Loc) -> BPFType:
        try:
            return as_type(obj)
        except TypeError:
            error(loc, f"{obj!r} is not a pyebpf type",
                  "use u8..u64, i8..i64, bool, a Struct or an array like u8[16]")


def _is_namespace(obj: Any) -> bool:
    return getattr(obj, "__pyebpf_namespace__", False)


def _fold(op: str, a: int, b: int, loc: Loc) -> int:
    if op in ("//", "%") and b == 0:
        error(loc, "division by zero in a constant expression")
    if op == "<<" and b < 0 or op == ">>" and b < 0:
        error(loc, "negative shift count")
    return {
        "+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b, "//": lambda: a // b,
        "%": lambda: a % b, "&": lambda: a & b, "|": lambda: a | b, "^": lambda: a ^ b,
        "<<": lambda: a << b, ">>": lambda: a >> b,
    }[op]()


def _terminates(stmts: tuple[T.Stmt, ...]) -> bool:
    if not stmts:
        return False
    last = stmts[-1]
    if isinstance(last, (T.Return, T.Break, T.Continue)):
        return True
    if isinstance(last, T.If):
        return _terminates(last.body) and _terminates(last.orelse)
    return False


def _simple(node: ast.expr) -> bool:
    """Side-effect free and cheap to evaluate twice."""
    if isinstance(node, (ast.Name, ast.Constant)):
        return True
    if isinstance(node, ast.Attribute):
        return _simple(node.value)
    if isinstance(node, ast.Subscript):
        return _simple(node.value) and _simple(node.slice)
    if isinstance(node, ast.UnaryOp):
        return _simple(node.operand)
    if isinstance(node, ast.BinOp):
        return _simple(node.left) and _simple(node.right)
    return False


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    if isinstance(node, ast.Name):
        return node.id
    return "..."


def _describe(node: ast.expr) -> str:
    names = {
        "List": "a list", "Dict": "a dict", "Set": "a set", "ListComp": "a list comprehension",
        "SetComp": "a set comprehension", "DictComp": "a dict comprehension",
        "GeneratorExp": "a generator expression", "Lambda": "a lambda", "JoinedStr": "an f-string",
        "Await": "await", "Yield": "yield", "YieldFrom": "yield from", "Tuple": "a tuple",
        "Starred": "*unpacking", "NamedExpr": "the walrus operator", "Slice": "a slice",
    }
    return names.get(type(node).__name__, f"`{type(node).__name__}` expression")


class Registry:
    """The functions programs call, translated once per object (and per argument types).

    ``@bpf.func`` functions become BPF-to-BPF calls; plain Python functions
    become internal functions LLVM always inlines, one per set of argument
    types (so they are generic like Python functions).
    """

    def __init__(self, maps: dict[int, MapUse]) -> None:
        self.maps = maps
        self.globals: dict[int, MapUse] = {}  # id(declaration) -> (object name, declaration)
        self.strings: dict[bytes, Any] = {}  # string constants passed to helpers
        self.done: dict[tuple[Any, ...], T.Function] = {}
        self.functions: list[tuple[T.Function, FunctionSource]] = []
        self.active: set[tuple[Any, ...]] = set()
        self.names: set[str] = set()

    def string_constant(self, data: bytes) -> Any:
        """A read-only global holding ``data`` and a NUL (one per distinct string)."""
        var = self.strings.get(data)
        if var is None:
            from ..types import char
            from ..variables import Const

            var = Const(char[len(data) + 1], data, name=f"__str{len(self.strings)}")
            self.strings[data] = var
        return var

    def use_global(self, var: Any, name: str, env: Env, loc: Loc) -> MapUse:
        """Name ``var`` (a bpf.Const / bpf.Global) once per object, by its module-level name."""
        use = self.globals.get(id(var))
        if use is None:
            found = var.name or next((k for scope in (env.closure, env.globals)
                                      for k, v in scope.items() if v is var), None) or name
            if not found or not found.isidentifier():
                error(loc, "this global variable has no name", "declare it at module level")
            use = MapUse(found, var)
            self.globals[id(var)] = use
        return use

    def request(self, fn: Any, arg_types: list[BPFType] | None, annotated: bool,
                is_global: bool, loc: Loc, callback: bool = False,
                ctx_type: ContextType | None = None) -> T.Function:
        key = (fn, tuple(arg_types) if arg_types is not None else None, callback,
               ctx_type.name if ctx_type is not None else None)
        found = self.done.get(key)
        if found is not None:
            return found
        if key in self.active:
            error(loc, f"{fn.__name__}() calls itself; eBPF has no recursion",
                  "rewrite it as a bounded loop")
        name = fn.__name__
        if not annotated:
            name = "__inline_" + name + "".join("_" + _type_tag(t) for t in arg_types or ())
        while name in self.names:
            name += "_"
        self.active.add(key)
        try:
            src = FunctionSource.of(fn)
            fe = Frontend(src, _env_of(fn), ctx_type, None, self.maps, self)
            func = fe.subprogram(name, arg_types, is_global, annotated, callback)
        finally:
            self.active.discard(key)
        if not annotated:
            func = func.replace(inline=True)
        self.names.add(name)
        self.done[key] = func
        self.functions.append((func, src))
        return func


def _counter_range(start: Any, stop: Any, step: int) -> tuple[int, int] | None:
    """The values a ``range(start, stop, step)`` counter takes, when both ends are constants."""
    if not (isinstance(start, Lit) and isinstance(stop, Lit)):
        return None
    values = range(start.value, stop.value, step)
    if not values:
        return None
    return min(values[0], values[-1]), max(values[0], values[-1])


def _type_tag(t: BPFType) -> str:
    return "".join(c if c.isalnum() else "_" for c in repr(t))


def _env_of(fn: Any) -> Env:
    closure: dict[str, Any] = {}
    if getattr(fn, "__closure__", None):
        for name, cell in zip(fn.__code__.co_freevars, fn.__closure__):
            with contextlib.suppress(ValueError):
                closure[name] = cell.cell_contents
    return Env(fn.__globals__, closure)


def _c_type(t: BPFType) -> str:
    """A type as a message names it: ``struct sock *`` for a kernel-struct pointer."""
    if isinstance(t, PointerType) and t.target is not None:
        return f"{t.target!r} *"
    return repr(t)


def translate(fn: Any, section: str, ctx_type: ContextType, maps: dict[int, MapUse],
              registry: Registry | None = None) -> tuple[T.Function, FunctionSource]:
    """Translate program function ``fn`` (entry of ``section``) to typed IR.

    Functions it calls are translated into ``registry.functions``.
    """
    src = FunctionSource.of(fn)
    fe = Frontend(src, _env_of(fn), ctx_type, section, maps, registry)
    return fe.function(), src
