"""The on-disk cache of compiled objects: a second run of a script skips LLVM.

The compiler (:func:`pyebpf.compiler.compile_programs`) runs its frontend
(Python ast -> typed IR, no llvmlite), then asks this module for an entry
keyed by everything the object depends on:

- the typed IR of every function (constants folded, every type resolved),
- every map declaration (kind, key/value layouts with field names and
  offsets, max_entries, flags),
- each function's source file name and text (BTF line info embeds source
  lines, so even a comment edit changes the object),
- the BPF CPU version and license,
- :func:`environment`: pyebpf's version and a hash of the compiler's own
  sources, the kernel release and a fingerprint of the kernel's BTF.

An entry is one file ``<key>.bpfo`` under :func:`cache_dir`: a magic line, the
sha256 of the rest, a JSON header (key, sizes, llvmlite version) and the ELF,
optimised IR and unoptimised IR.  :func:`load` trusts nothing: a wrong magic,
checksum, key or an ELF that :func:`pyebpf.elf.read_object` rejects makes it
return ``None`` and the object is rebuilt (and the entry rewritten).  Writes
are atomic (temporary file + rename) so concurrent runs never see half an
entry.

Location: ``$PYEBPF_CACHE_DIR``, else ``$XDG_CACHE_HOME/pyebpf``, else
``~/.cache/pyebpf``.  ``PYEBPF_CACHE=0`` disables the cache.
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

from ._digest import bulk_hash, sha256
from ._record import Record, record

__all__ = ["Entry", "cache_dir", "enabled", "environment", "btf_fingerprint", "describe_map",
           "describe_type", "make_key", "load", "store", "write_file", "prune", "clear"]

MAGIC = b"PYEBPF-CACHE 2\n"  # 2: the parsed ObjectSpec is stored too
SUFFIX = ".bpfo"
_VMLINUX_BTF = "/sys/kernel/btf/vmlinux"
_BTF_SAMPLE = 64 * 1024
_HEADER_LEN = struct.Struct("<Q")
MAX_ENTRIES = 2000  # beyond this, store() removes the least recently used entries


@record
class Entry(Record):
    """A verified cache entry; ``spec`` is the ELF already parsed by ``elf.read_object``.

    The spec is stored pickled beside the ELF, so a cache hit needs neither
    the ELF reader nor pyelftools (about 40 ms of imports in a new process).
    """

    elf: bytes
    llvm_ir: str
    unoptimized_ir: str
    llvmlite_version: str
    spec: Any = None


def enabled() -> bool:
    """False when ``PYEBPF_CACHE=0`` (or ``off``/``no``/``false``)."""
    return os.environ.get("PYEBPF_CACHE", "1").strip().lower() not in ("0", "off", "no", "false")


def cache_dir() -> Path:
    """Where entries live (see the module docstring); not created here."""
    explicit = os.environ.get("PYEBPF_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "pyebpf"


# ---------------------------------------------------------------- the key


def btf_fingerprint(path: str = _VMLINUX_BTF) -> str:
    """A cheap fingerprint of the kernel's BTF: size and the first, middle and last 64 KiB.

    Hashing the whole file (about 5.5 MB) costs ~10 ms; these samples ~0.2 ms.
    The mtime is left out on purpose: sysfs reports the boot time, which would
    empty the cache at every reboot.  ``"none"`` when the kernel has no BTF.
    """
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            h = bulk_hash(str(size).encode())
            for where in (0, max(size // 2 - _BTF_SAMPLE // 2, 0), max(size - _BTF_SAMPLE, 0)):
                f.seek(where)
                h.update(f.read(_BTF_SAMPLE))
    except OSError:
        return "none"
    return h.hexdigest()


@cache
def _compiler_sources_hash() -> str:
    """Hash of the modules whose code decides what the compiler emits.

    The version number alone is not enough while developing (an editable
    install changes code without changing the version).
    """
    root = Path(__file__).parent
    files = sorted([*root.glob("compiler/*.py"), *root.glob("lang/*.py"), root / "types.py",
                    root / "cache.py"])
    h = bulk_hash()
    for p in files:
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


@cache
def environment() -> tuple[tuple[str, str], ...]:
    """What besides the program itself goes into every key (computed once per process)."""
    from . import __version__

    return (
        ("pyebpf", __version__),
        ("compiler", _compiler_sources_hash()),
        ("kernel", os.uname().release),
        ("btf", btf_fingerprint()),
    )


def describe_type(t: Any) -> str:
    """A type's full layout as text: names, sizes, signedness, field names and offsets."""
    from .types import ArrayType, IntType, PointerType, StructType

    if t is None:
        return "-"
    if isinstance(t, StructType):
        kind = "union" if t.union else "struct"
        fields = ", ".join(f"{f.name}@{f.offset}: {describe_type(f.type)}" for f in t.fields)
        return f"{kind} {t.name} size={t.size} align={t.align} {{{fields}}}"
    if isinstance(t, ArrayType):
        return f"{describe_type(t.elem)}[{t.length}]"
    if isinstance(t, PointerType):
        return f"*{t.kind}:{describe_type(t.target) if t.target is not None else 'void'}"
    if isinstance(t, IntType):
        return f"{t.name}:{t.size}:{'s' if t.signed else 'u'}"
    return f"{type(t).__name__}:{getattr(t, 'name', t)!r}:{getattr(t, 'size', '?')}"


def describe_map(name: str, m: Any) -> str:
    """A map declaration as text: everything of it that can reach the object."""
    parts = [
        f"map {name}", type(m).__name__, f"type={int(getattr(m, 'map_type', 0))}",
        f"key={describe_type(getattr(m, 'key_type', None))}/{getattr(m, 'key_size', 0)}",
        f"value={describe_type(getattr(m, 'value_type', None))}/{getattr(m, 'value_size', 0)}",
        f"max_entries={getattr(m, 'max_entries', 0)}", f"flags={getattr(m, 'flags', 0)}",
        f"pin={getattr(m, 'pin_name', None)}",
    ]
    inner = getattr(m, "inner", None)
    if inner is not None:
        parts.append(f"inner=({describe_map('', inner)})")
    return " ".join(parts)


def make_key(parts: Iterable[str | bytes]) -> str:
    """sha256 over ``parts`` (length-prefixed, so no two lists collide) and :func:`environment`."""
    h = sha256()
    for label, value in environment():
        h.update(f"{label}={value}\n".encode())
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        h.update(_HEADER_LEN.pack(len(data)) + data)
    return h.hexdigest()


# ---------------------------------------------------------------- entries


def _path(key: str) -> Path:
    return cache_dir() / f"{key}{SUFFIX}"


def load(key: str) -> Entry | None:
    """The verified entry for ``key``, or ``None`` (missing, stale, corrupt or not ours)."""
    if not enabled():
        return None
    path = _path(key)
    try:
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_uid != os.geteuid():
                return None  # someone else's file: never load it into the kernel
            data = f.read()
    except OSError:
        return None
    with contextlib.suppress(OSError):
        os.utime(path)  # "recently used", for prune()
    try:
        return _decode(key, data)
    except Exception:  # noqa: BLE001 - anything wrong with an entry just means "rebuild"
        return None


def _decode(key: str, data: bytes) -> Entry | None:
    if not data.startswith(MAGIC):
        return None
    digest_end = len(MAGIC) + 64
    digest, body = data[len(MAGIC):digest_end], data[digest_end + 1:]
    if data[digest_end:digest_end + 1] != b"\n" or \
            sha256(body).hexdigest().encode() != digest:
        return None
    (hlen,) = _HEADER_LEN.unpack_from(body)
    header = json.loads(body[_HEADER_LEN.size:_HEADER_LEN.size + hlen])
    if header.get("key") != key:
        return None
    pos = _HEADER_LEN.size + hlen
    blobs = []
    for size in header["sizes"]:
        blobs.append(body[pos:pos + size])
        pos += size
    if pos != len(body) or len(blobs) != 4:
        return None
    elf, opt_ir, raw_ir, spec_blob = blobs
    import pickle

    from .spec import ObjectSpec

    # The entry is the user's own file and its checksum matched: unpickling is safe here.
    spec = pickle.loads(spec_blob)
    if not isinstance(spec, ObjectSpec):
        return None
    return Entry(elf, opt_ir.decode(), raw_ir.decode(), header.get("llvmlite", "?"), spec)


def store(key: str, entry: Entry) -> Path | None:
    """Write ``entry`` atomically; returns its path, or ``None`` if the cache is off or unwritable."""
    if not enabled():
        return None
    import pickle

    spec = entry.spec
    if spec is None:
        from .elf import read_object
        from .errors import BPFError

        try:
            spec = read_object(entry.elf, source_name="<pyebpf>")
        except BPFError:
            return None  # never cache an object the ELF reader refuses
    blobs = [entry.elf, entry.llvm_ir.encode(), entry.unoptimized_ir.encode(),
             pickle.dumps(spec, protocol=pickle.HIGHEST_PROTOCOL)]
    header = json.dumps({"key": key, "llvmlite": entry.llvmlite_version,
                         "sizes": [len(b) for b in blobs]}).encode()
    body = b"".join([_HEADER_LEN.pack(len(header)), header, *blobs])
    data = MAGIC + sha256(body).hexdigest().encode() + b"\n" + body
    path = _path(key)
    if not write_file(path, data):
        return None  # a cache that cannot be written only costs speed
    prune()
    return path


def write_file(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` in the cache directory atomically (a temporary file
    renamed over it; the directory is created private); False if it cannot be written.

    Every file pyebpf keeps there goes through here: entries, per-boot probe
    records and the native map code.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        import tempfile

        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=path.suffix, dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        return False
    return True


def prune(max_entries: int = MAX_ENTRIES) -> int:
    """Remove the least recently used entries beyond ``max_entries``; returns how many."""
    try:
        entries = [(e.stat().st_mtime, e.path) for e in os.scandir(cache_dir())
                   if e.name.endswith(SUFFIX)]
    except OSError:
        return 0
    if len(entries) <= max_entries:
        return 0
    entries.sort()
    removed = 0
    for _, path in entries[:len(entries) - max_entries]:
        with contextlib.suppress(OSError):
            os.unlink(path)
            removed += 1
    return removed


def clear() -> int:
    """Delete every entry; returns how many were removed."""
    return prune(0)
