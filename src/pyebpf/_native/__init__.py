"""The only package that imports cffi or touches raw memory.

:mod:`.cdef` declares the kernel structs once; :mod:`.syscalls` wraps each
``bpf(2)`` command (bytes in, bytes out) behind one replaceable funnel.
"""

from . import syscalls
from .syscalls import *  # noqa: F403  (the wrappers are this package's API)

__all__ = list(syscalls.__all__)
