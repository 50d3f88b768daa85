"""Hashes for the compile cache without loading OpenSSL.

``import hashlib`` initialises OpenSSL's ``_hashlib`` (over 2 ms in a new
process) even when only one hash is used.  CPython builds both hashes the
cache needs in: sha256 (``_sha2`` from 3.12, ``_sha256`` before), with the
same digests as OpenSSL's, and BLAKE2 (``_blake2``, which ``hashlib``
itself imports).  The builtin sha256 is about 6x slower than OpenSSL's, so
:func:`bulk_hash` (BLAKE2b, about 3x faster than it) hashes the large
inputs of a key: the compiler's sources and the kernel BTF samples.
"""

from __future__ import annotations

from typing import Any

try:
    from _sha2 import sha256  # Python >= 3.12
except ImportError:
    try:
        from _sha256 import sha256  # Python 3.11
    except ImportError:  # pragma: no cover - built without the builtin hashes
        from hashlib import sha256

try:
    from _blake2 import blake2b
except ImportError:  # pragma: no cover
    from hashlib import blake2b

__all__ = ["sha256", "bulk_hash"]


def bulk_hash(data: bytes = b"") -> Any:
    """A 256-bit BLAKE2b hash object (``update``, ``hexdigest``) for large inputs."""
    return blake2b(data, digest_size=32)
