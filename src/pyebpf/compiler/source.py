"""A program's Python source with its real file, line and column numbers.

``FunctionSource.of(fn)`` parses a decorated function the way the user wrote
it (``inspect.getsource``), keeping locations relative to the real file so
errors and BTF line info point at the user's lines.  :class:`Loc` is the
location every typed-IR node carries; :func:`error` raises a
:class:`~pyebpf.errors.CompileError` there, hiding compiler frames.
"""

from __future__ import annotations

import ast
import linecache
import textwrap
from typing import Any, NoReturn

from .._record import MutableRecord, Record, record
from ..errors import CompileError, CompileTypeError

__all__ = ["Loc", "FunctionSource", "error", "type_error"]


@record
class Loc(Record):
    """A position in the user's source: file, 1-based line, 0-based column."""

    filename: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.filename}:{self.line}:{self.col + 1}"

    @property
    def source_line(self) -> str:
        return linecache.getline(self.filename, self.line).rstrip("\n")


@record
class FunctionSource(MutableRecord):
    """The parsed ``def`` of a program function and where it lives."""

    filename: str
    tree: ast.FunctionDef
    text: str  # the whole file's text, for BTF line info and excerpts
    first_line: int

    @classmethod
    def of(cls, fn: Any) -> FunctionSource:
        while hasattr(fn, "__wrapped__"):  # like inspect.unwrap, without importing inspect
            fn = fn.__wrapped__
        found = _quick_source(fn) or _inspect_source(fn)
        if found is None:
            raise CompileError(
                f"cannot read the source of {getattr(fn, '__qualname__', fn)!r}",
                hint="define programs in a file or a notebook cell, not with exec() "
                "or in an interactive prompt without source",
            ) from None
        filename, lines, first = found
        raw = "".join(lines)
        dedented = textwrap.dedent(raw)
        indent = _leading_width(raw) - _leading_width(dedented)
        module = ast.parse(dedented, filename=filename)
        func = next(n for n in module.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)))
        first_line = max(first, 1)
        for node in ast.walk(func):
            if hasattr(node, "lineno"):
                node.lineno += first_line - 1
                node.col_offset += indent
                if getattr(node, "end_lineno", None) is not None:
                    node.end_lineno += first_line - 1
                    node.end_col_offset += indent
        linecache.checkcache(filename)
        text = "".join(linecache.getlines(filename)) or raw
        return cls(filename=filename, tree=func, text=text, first_line=first_line)  # type: ignore[arg-type]

    def loc(self, node: ast.AST) -> Loc:
        return Loc(self.filename, getattr(node, "lineno", self.first_line), getattr(node, "col_offset", 0))


def _quick_source(fn: Any) -> tuple[str, list[str], int] | None:
    """The ``def`` (with its decorators) from the file's lines, without ``inspect``.

    ``inspect.getsourcelines`` tokenizes the file, which costs ~10 ms of
    imports and regex compilation in a new process; the block is found here
    by indentation and confirmed by parsing it.  ``None`` when unsure.
    """
    code = getattr(fn, "__code__", None)
    if code is None:
        return None
    filename = code.co_filename
    lines = linecache.getlines(filename)
    start = code.co_firstlineno - 1  # the first decorator's line, or the def's
    if not 0 <= start < len(lines):
        return None
    base = _leading_width(lines[start])
    end = start + 1
    seen_def = lines[start].lstrip().startswith(("def ", "async def "))
    while end < len(lines):
        line = lines[end]
        if line.strip() and _leading_width(line) <= base:
            if seen_def or not line.lstrip().startswith(("def ", "async def ", "@")):
                break
            seen_def = line.lstrip().startswith(("def ", "async def "))
        end += 1
    chunk = lines[start:end]
    try:
        module = ast.parse(textwrap.dedent("".join(chunk)))
    except SyntaxError:
        return None
    if len(module.body) != 1 or not isinstance(module.body[0], (ast.FunctionDef,
                                                                  ast.AsyncFunctionDef)):
        return None
    if module.body[0].name != code.co_name:
        return None
    return filename, chunk, start + 1


def _inspect_source(fn: Any) -> tuple[str, list[str], int] | None:
    import inspect

    try:
        lines, first = inspect.getsourcelines(fn)
        filename = inspect.getsourcefile(fn) or inspect.getfile(fn)
    except (OSError, TypeError):
        return None
    return filename, lines, first


def _leading_width(text: str) -> int:
    for line in text.splitlines():
        if line.strip():
            return len(line) - len(line.lstrip())
    return 0


def error(loc: Loc, message: str, hint: str = "", *, type_error: bool = False) -> NoReturn:
    """Raise a CompileError at ``loc`` (its source line and caret included)."""
    cls = CompileTypeError if type_error else CompileError
    raise cls(message, loc.filename, loc.line, loc.col, loc.source_line, hint)


def type_error(loc: Loc, message: str, hint: str = "") -> NoReturn:
    """Raise a CompileTypeError (also a TypeError) at ``loc``."""
    error(loc, message, hint, type_error=True)
