"""Every exception pyebpf raises, in one place.

::

    BPFError
     +-- CompileError (also SyntaxError)        a program pyebpf cannot compile
     |    +-- CompileTypeError (also TypeError)  a type error inside a program
     +-- VerifierError                         the kernel's verifier rejected a program
     +-- SyscallError (also OSError)           a bpf() / perf_event_open / attach call failed
     |    +-- AttachError                       attaching a program to a hook failed
     |    +-- MapError (also KeyError-free)     a map operation failed (also raised for bad keys)
     +-- NotSupportedError                     the running kernel lacks a feature
     +-- ELFError                              a malformed or unsupported ELF object
     +-- BTFError                              malformed BTF or a missing BTF type

Compile errors carry the user's location (``filename``, ``lineno``,
``col_offset``) and render it as ``file:line:col``, the source line and a
caret.  They are raised ``from None`` so compiler frames stay hidden; set
``PYEBPF_DEBUG=1`` to keep full tracebacks when working on pyebpf itself.
"""

from __future__ import annotations

import errno as _errno
import functools
import os
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

__all__ = [
    "BPFError",
    "CompileError",
    "CompileTypeError",
    "VerifierError",
    "SyscallError",
    "AttachError",
    "MapError",
    "NotSupportedError",
    "ELFError",
    "BTFError",
    "debug_tracebacks",
]


def debug_tracebacks() -> bool:
    """True when ``PYEBPF_DEBUG`` asks for full internal tracebacks."""
    return os.environ.get("PYEBPF_DEBUG", "") not in ("", "0")


def reported_here(fn: F) -> F:
    """For public entry points (``prog.load()``, ``bpf.compile()``, ...): an error in the
    user's program (a :class:`CompileError` or :class:`VerifierError`, which carry its
    location) surfaces from the call without pyebpf's inner frames, so the traceback
    is the user's code and then the offending line.  ``PYEBPF_DEBUG=1`` keeps them."""

    @functools.wraps(fn)
    def entry(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (CompileError, VerifierError) as e:
            if debug_tracebacks():
                raise
            raise e.with_traceback(None) from None

    return entry  # type: ignore[return-value]


class BPFError(Exception):
    """Base class of every pyebpf error."""


class CompileError(BPFError, SyntaxError):
    """A construct pyebpf cannot compile, reported at the user's source line.

    ``str(err)`` shows ``file:line:col: message``, the source line, a caret
    under the column, and a hint saying what to write instead.
    """

    def __init__(
        self,
        message: str,
        filename: str = "<unknown>",
        lineno: int = 0,
        col_offset: int = 0,
        source_line: str = "",
        hint: str = "",
    ) -> None:
        self.message = message
        self.filename = filename
        self.lineno = lineno
        self.col_offset = col_offset
        self.source_line = source_line
        self.hint = hint
        # SyntaxError fields, so tools that understand SyntaxError show the spot; the
        # hint rides in ``msg`` because Python's traceback display prints only that.
        self.msg = f"{message}\nhint: {hint}" if hint else message
        self.offset = col_offset + 1
        self.text = source_line
        BPFError.__init__(self, self._render())

    def _render(self) -> str:
        where = f"{self.filename}:{self.lineno}:{self.col_offset + 1}"
        lines = [f"{where}: {self.message}"]
        if self.source_line:
            stripped = self.source_line.rstrip("\n")
            lines.append("    " + stripped)
            lines.append("    " + " " * self.col_offset + "^")
        if self.hint:
            lines.append(f"hint: {self.hint}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self._render()


class CompileTypeError(CompileError, TypeError):
    """A type error inside a program (mixing signedness, wrong argument type, ...)."""


class VerifierError(BPFError):
    """The kernel verifier rejected a program.

    Attributes: ``program`` (name), ``reason`` (the verifier's last message),
    ``filename``/``lineno``/``source_line`` (the Python line of the failing
    instruction, when line info is available), ``hint`` and ``log`` (the full
    verifier log).
    """

    def __init__(
        self,
        program: str,
        reason: str,
        log: str,
        *,
        errno: int = 0,
        filename: str | None = None,
        lineno: int | None = None,
        source_line: str = "",
        hint: str = "",
    ) -> None:
        self.program = program
        self.reason = reason
        self.log = log
        self.errno = errno
        self.filename = filename
        self.lineno = lineno
        self.source_line = source_line
        self.hint = hint
        super().__init__(self._render())

    def _render(self) -> str:
        head = f"the kernel verifier rejected program {self.program!r}: {self.reason}"
        lines = []
        if self.filename and self.lineno:
            lines.append(f"{self.filename}:{self.lineno}: {head}")
            if self.source_line:
                lines.append("    " + self.source_line.strip())
        else:
            lines.append(head)
        if self.hint:
            lines.append(f"hint: {self.hint}")
        lines.append("(the full verifier log is in the .log attribute)")
        return "\n".join(lines)


_CAPABILITY_HINT = {
    "BPF_PROG_LOAD": "CAP_BPF (plus CAP_PERFMON for tracing or CAP_NET_ADMIN for networking)",
    "BPF_MAP_CREATE": "CAP_BPF",
    "BPF_BTF_LOAD": "CAP_BPF",
    "BPF_LINK_CREATE": "CAP_BPF plus CAP_PERFMON or CAP_NET_ADMIN for the hook",
    "BPF_PROG_ATTACH": "CAP_NET_ADMIN (or CAP_SYS_ADMIN for cgroups)",
    "BPF_RAW_TRACEPOINT_OPEN": "CAP_BPF and CAP_PERFMON",
    "perf_event_open": "CAP_PERFMON",
    "BPF_PROG_TEST_RUN": "CAP_BPF (plus CAP_NET_ADMIN for networking programs)",
}


class SyscallError(BPFError, OSError):
    """A ``bpf()`` command or an attach-related system call failed.

    ``.op`` names the operation (``"BPF_MAP_CREATE"``, ``"perf_event_open"``),
    ``.errno`` the error number.  For ``EPERM`` the message names the
    capability the call needs.
    """

    def __init__(self, op: str, err: int, detail: str = "") -> None:
        self.op = op
        name = _errno.errorcode.get(err, str(err))
        text = f"{op} failed: [{name}] {os.strerror(err) if err else 'error'}"
        if detail:
            text += f" ({detail})"
        if err == _errno.EPERM:
            cap = _CAPABILITY_HINT.get(op, "CAP_BPF / CAP_SYS_ADMIN")
            text += f"; this needs root or {cap}"
        OSError.__init__(self, err, text)
        self.errno = err
        self.strerror = text

    def __str__(self) -> str:
        return self.strerror or ""


class AttachError(SyscallError):
    """Attaching a program to its hook failed (bad interface, missing tracepoint, ...)."""


class MapError(SyscallError):
    """A map operation failed: wrong key/value type or size, full map, missing key."""

    def __init__(self, message: str, err: int = 0, op: str = "map") -> None:
        OSError.__init__(self, err, message)
        self.op = op
        self.errno = err
        self.strerror = message

    def __str__(self) -> str:
        return self.strerror or ""


class NotSupportedError(BPFError):
    """The running kernel lacks a feature.

    ``.feature`` names it; ``.since`` is the kernel version that has it, when
    that is known.
    """

    def __init__(self, feature: str, since: str | None = None, detail: str = "") -> None:
        self.feature = feature
        self.since = since
        text = f"this kernel does not support {feature}"
        if since:
            text += f" (added in Linux {since})"
        if detail:
            text += f": {detail}"
        super().__init__(text)


class ELFError(BPFError):
    """A malformed ELF object, or one using something pyebpf does not load."""


class BTFError(BPFError):
    """Malformed BTF, or a type that BTF does not have."""
