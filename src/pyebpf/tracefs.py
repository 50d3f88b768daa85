"""Kernel pseudo-filesystems: tracefs (tracepoint ids and formats) and bpffs (pins).

Tracepoint programs need two facts from tracefs: the event's numeric id (the
``config`` of ``perf_event_open(PERF_TYPE_TRACEPOINT)``) and its record layout
(``events/<category>/<name>/format``), which the compiler turns into the
fields of ``ctx``.  Pinning needs a mounted bpffs.  Both file systems may be
unmounted on a fresh machine; :func:`root` and :func:`bpffs_root` mount them
at their usual places when they are missing (root only).
"""

from __future__ import annotations

import errno
import functools
import os
from pathlib import Path
from typing import Any

from .errors import AttachError, NotSupportedError

__all__ = [
    "TraceField",
    "root",
    "bpffs_root",
    "event_id",
    "event_format",
    "parse_format",
    "list_events",
    "find_mount",
    "ensure_mount",
]

TRACEFS_DEFAULT = Path("/sys/kernel/tracing")
BPFFS_DEFAULT = Path("/sys/fs/bpf")


def find_mount(fstype: str, mounts_file: str = "/proc/mounts") -> Path | None:
    """The first mount point of a file system of type ``fstype``, or None."""
    try:
        with open(mounts_file) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[2] == fstype:
                    return Path(_unescape_mount_path(parts[1]))
    except OSError:
        return None
    return None


def _unescape_mount_path(text: str) -> str:
    # /proc/mounts escapes spaces and friends as octal (\040).
    if "\\" not in text:
        return text
    import re

    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), text)


# ctypes, and ctypes.util (which pulls in subprocess and tempfile), are
# imported only when something has to be mounted: they cost ~15 ms at import.
@functools.lru_cache(maxsize=1)
def _libc() -> Any:
    import ctypes
    import ctypes.util

    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _mount(fstype: str, target: Path) -> None:
    """mount(2) ``fstype`` on ``target`` (no source device: a pseudo file system)."""
    target.mkdir(parents=True, exist_ok=True)
    rc = _libc().mount(fstype.encode(), str(target).encode(), fstype.encode(), 0, None)
    if rc != 0:
        import ctypes

        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def ensure_mount(fstype: str, default: Path, purpose: str) -> Path:
    """Where ``fstype`` is mounted; mount it at ``default`` first when it is not.

    Raises :class:`NotSupportedError` naming ``purpose`` when it cannot be
    mounted (not root, or the kernel lacks the file system).
    """
    found = find_mount(fstype)
    if found is not None:
        return found
    try:
        _mount(fstype, default)
    except OSError as e:
        if e.errno == errno.EBUSY and find_mount(fstype) is not None:
            return find_mount(fstype)  # type: ignore[return-value]  # raced with another mount
        raise NotSupportedError(
            f"{fstype} (needed for {purpose})",
            detail=f"it is not mounted and `mount -t {fstype} {fstype} {default}` failed: "
            f"{e.strerror}; mount it as root",
        ) from None
    return default


def root() -> Path:
    """The mounted tracefs (mounted at /sys/kernel/tracing first if needed)."""
    return ensure_mount("tracefs", TRACEFS_DEFAULT, "tracepoints")


def bpffs_root() -> Path:
    """The mounted bpffs (mounted at /sys/fs/bpf first if needed): where pins live."""
    return ensure_mount("bpf", BPFFS_DEFAULT, "pinning maps, programs and links")


def list_events(category: str | None = None) -> list[str]:
    """Names ``"cat/name"`` of the tracepoints under ``events/`` (one category or all)."""
    events = root() / "events"
    cats = [category] if category else sorted(p.name for p in events.iterdir() if p.is_dir())
    out = []
    for cat in cats:
        d = events / cat
        if d.is_dir():
            out.extend(f"{cat}/{p.name}" for p in sorted(d.iterdir()) if (p / "id").exists())
    return out


def _event_dir(category: str, name: str) -> Path:
    d = root() / "events" / category / name
    if (d / "id").exists():
        return d
    try:
        candidates = list_events(category) if (root() / "events" / category).is_dir() else []
        if not candidates:
            candidates = list_events()
    except OSError:
        candidates = []
    import difflib

    close = difflib.get_close_matches(f"{category}/{name}", candidates, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise attach_error(f"no tracepoint {category}/{name} in {root() / 'events'}{hint}", errno.ENOENT)


def attach_error(message: str, err: int, op: str = "attach") -> AttachError:
    """An :class:`AttachError` whose text is exactly ``message`` (plus the errno name)."""
    exc = AttachError(op, err)
    exc.strerror = f"{message} [{errno.errorcode.get(err, err)}]" if err else message
    exc.args = (err, exc.strerror)
    return exc


def event_id(category: str, name: str) -> int:
    """The id of tracepoint ``category/name`` (perf_event_open's ``config``)."""
    d = _event_dir(category, name)
    try:
        return int((d / "id").read_text().strip())
    except PermissionError:
        raise NotSupportedError(f"reading tracepoint ids ({d / 'id'})", detail="permission denied") from None


class TraceField:
    """One field of a tracepoint record, as its ``format`` file describes it.

    ``c_type`` is the C type without the array suffix (``"unsigned long"``),
    ``array_len`` the element count for ``x[N]`` (0 for scalars and for
    ``__data_loc`` arrays), ``is_data_loc`` marks ``__data_loc`` fields (a
    u32 holding ``offset | length << 16`` of data stored after the record),
    ``is_common`` the ``common_*`` header every record starts with.

    Immutable, compared and hashed by value.  (A plain class rather than a
    frozen dataclass: that costs ~1 ms to create at import.)
    """

    __slots__ = ("name", "c_type", "offset", "size", "signed", "is_data_loc", "array_len",
                 "is_common")

    def __init__(
        self,
        name: str,
        c_type: str,
        offset: int,
        size: int,
        signed: bool,
        is_data_loc: bool = False,
        array_len: int = 0,
        is_common: bool = False,
    ) -> None:
        init = object.__setattr__
        init(self, "name", name)
        init(self, "c_type", c_type)
        init(self, "offset", offset)
        init(self, "size", size)
        init(self, "signed", signed)
        init(self, "is_data_loc", is_data_loc)
        init(self, "array_len", array_len)
        init(self, "is_common", is_common)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}: TraceField is immutable")

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, f) for f in self.__slots__)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not TraceField:
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        inner = ", ".join(f"{f}={getattr(self, f)!r}" for f in self.__slots__)
        return f"TraceField({inner})"

    def __reduce__(self) -> tuple[object, ...]:
        return (TraceField, self._values())


@functools.lru_cache(maxsize=1)
def _format_patterns() -> tuple[Any, Any]:
    """The regexes for a ``format`` line and a field declaration (compiled on first use)."""
    import re

    field_re = re.compile(
        r"field:(?P<decl>[^;]*);\s*offset:(?P<offset>\d+);\s*size:(?P<size>\d+);"
        r"(?:\s*signed:(?P<signed>-?\d+);)?"
    )
    decl_re = re.compile(r"^(?P<type>.*?)\s*\b(?P<name>[A-Za-z_]\w*)\s*(?:\[(?P<len>[^\]]*)\])?$")
    return field_re, decl_re


def _parse_decl(decl: str) -> tuple[str, str, bool, int | None]:
    """``"__data_loc char[] filename"`` -> (c_type, name, is_data_loc, array_len or None)."""
    decl_re = _format_patterns()[1]
    decl = " ".join(decl.split())
    data_loc = decl.startswith("__data_loc ")
    if data_loc:
        decl = decl[len("__data_loc ") :]
        # The kernel writes "__data_loc char[] filename": the brackets sit on the type.
        decl = decl.replace("[]", "")
        m = decl_re.match(decl)
        if not m:
            raise ValueError(f"cannot parse tracepoint field {decl!r}")
        return m["type"].strip(), m["name"], True, 0
    m = decl_re.match(decl)
    if not m:
        raise ValueError(f"cannot parse tracepoint field {decl!r}")
    length = m["len"]
    if length is None:
        return m["type"].strip(), m["name"], False, None
    length = length.strip()
    return m["type"].strip(), m["name"], False, int(length, 0) if length.isdigit() else 0


def parse_format(text: str) -> list[TraceField]:
    """Parse the text of a tracepoint ``format`` file into its fields, in record order."""
    field_re = _format_patterns()[0]
    fields: list[TraceField] = []
    for line in text.splitlines():
        m = field_re.search(line)
        if not m:
            continue
        c_type, name, data_loc, length = _parse_decl(m["decl"])
        size = int(m["size"])
        fields.append(
            TraceField(
                name=name,
                c_type=c_type,
                offset=int(m["offset"]),
                size=size,
                signed=m["signed"] not in (None, "0"),
                is_data_loc=data_loc,
                array_len=length or 0,
                is_common=name.startswith("common_"),
            )
        )
    return fields


def event_format(category: str, name: str) -> list[TraceField]:
    """The fields of tracepoint ``category/name`` (common header fields included)."""
    path = _event_dir(category, name) / "format"
    try:
        return parse_format(path.read_text())
    except PermissionError:
        raise NotSupportedError(f"reading tracepoint formats ({path})", detail="permission denied") from None
