#!/usr/bin/env python3
"""Generate ``src/pyebpf/lang/_helper_table.py`` from the kernel's UAPI ``bpf.h``.

The source is the kernel's ``include/uapi/linux/bpf.h``; by default the copy
installed at ``/usr/include/linux/bpf.h`` (Debian's ``linux-libc-dev``, UAPI
6.1 on the machine the table was first generated on).  Two parts of it are read:

- the helper id list, ``___BPF_FUNC_MAPPER(FN, ctx...)`` with ``FN(name, id,
  ##ctx)`` entries (6.2 and later) or ``__BPF_FUNC_MAPPER(FN)`` with ``FN(name)``
  entries whose id is their position (6.1 and earlier);
- the helper documentation comment, where each helper starts with its C
  prototype (`` * long bpf_map_delete_elem(struct bpf_map *map, const void *key)``)
  followed by ``Description`` and ``Return`` paragraphs.

Each C parameter becomes one of the argument kinds of :mod:`pyebpf.lang.helpers`
(see :func:`arg_kinds`), the C return type a return kind, and the first sentence
of the description the one-line doc.  Helpers newer than the header read are
taken from :data:`NEWER_HELPERS`, a hand-kept supplement; the handful of
existing entries whose Python signature differs from the mechanical mapping are
pinned in :data:`KEPT`.

Usage::

    python scripts/gen_helpers.py                       # regenerate from /usr/include
    python scripts/gen_helpers.py path/to/bpf.h         # from a newer kernel tree
    python scripts/gen_helpers.py --check               # exit 1 if the table is stale
    python scripts/gen_helpers.py -o /tmp/table.py      # write elsewhere
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

DEFAULT_HEADER = Path("/usr/include/linux/bpf.h")
OUTPUT = Path(__file__).resolve().parent.parent / "src" / "pyebpf" / "lang" / "_helper_table.py"

# ---------------------------------------------------------------- hand-kept data

# Helpers added after UAPI 6.1, from the kernel's include/uapi/linux/bpf.h
# (the FN list ends at cgrp_storage_delete = 211, and upstream has declared the
# list frozen: new kernel functions are kfuncs).  Each entry is (id, the C
# prototype as written in the header's doc comment, the first sentence of its
# Description).  A header that documents the helper itself takes precedence.
NEWER_HELPERS: dict[str, tuple[int, str, str]] = {
    "cgrp_storage_get": (
        210,
        "void *bpf_cgrp_storage_get(struct bpf_map *map, struct cgroup *cgroup, "
        "void *value, u64 flags)",
        "Get a bpf_local_storage from the cgroup.",
    ),
    "cgrp_storage_delete": (
        211,
        "long bpf_cgrp_storage_delete(struct bpf_map *map, struct cgroup *cgroup)",
        "Delete a bpf_local_storage from a cgroup.",
    ),
}

# Entries whose Python-facing signature predates this generator and that
# programs, tests and docs already use: (args, returns) kept as they were.
KEPT: dict[str, tuple[str, str]] = {
    # The source bytes are a local buffer whose size is implied, like every
    # other "buf"; the header's `const void *from, u32 len` would add a length.
    "skb_store_bytes": ("ctx u32 buf size u64", "i64"),
    # A 64-bit key for the Python side (the kernel reads the low 32 bits);
    # narrowing it now would reject existing code that passes a u64.
    "redirect_map": ("map u64 u64", "i64"),
    # Addresses handed back as plain integers, to be read with probe_read_*.
    "get_current_task_btf": ("", "u64"),
    "task_pt_regs": ("ptr", "u64"),
}

# ---------------------------------------------------------------- C type mapping

# Context structures: a helper whose first parameter is one of these is
# called with the program's `ctx`.
CTX_STRUCTS = frozenset({
    "sk_buff", "__sk_buff", "xdp_buff", "xdp_md", "bpf_sock_ops", "sk_msg_buff",
    "sk_msg_md", "pt_regs", "bpf_sock_addr", "sk_reuseport_md", "bpf_perf_event_data",
    "bpf_sysctl", "bpf_sk_lookup",
})
# `void *` first parameters that name the context.
CTX_VOID_NAMES = frozenset({"ctx", "skb"})
# `void *` parameters that are maps in disguise (the verifier wants a map).
MAP_VOID_NAMES = frozenset({"map", "ringbuf"})
# Pointers to headers the kernel reads in place inside the packet (the
# syncookie helpers): never copied to a local buffer, so their length is an
# explicit argument.
PACKET_HEADER_NAMES = frozenset({"iph", "th"})

INT_KINDS = {
    "u64": "u64", "__u64": "u64", "unsigned long": "u64", "size_t": "u64",
    "u32": "u32", "__u32": "u32", "__be32": "u32", "__wsum": "u32", "unsigned int": "u32",
    "u16": "u32", "__u16": "u32", "__be16": "u32", "u8": "u32", "__u8": "u32",
    "s64": "i64", "__s64": "i64", "long": "i64",
    "int": "i32", "s32": "i32", "__s32": "i32",
}
RETURN_KINDS = {"long": "i64", "s64": "i64", "u64": "u64", "u32": "u32", "int": "i32",
                "void": "void"}
SIZE_NAME = re.compile(r"size|len|sz")


@dataclass(frozen=True)
class Param:
    const: bool
    base: str  # the type without `const`, `struct` kept: "void", "struct bpf_map", "u32"
    stars: int
    name: str

    @property
    def is_pointer(self) -> bool:
        return self.stars > 0

    @property
    def struct(self) -> str | None:
        return self.base[len("struct "):] if self.base.startswith("struct ") else None


@dataclass(frozen=True)
class Entry:
    name: str
    id: int
    args: str
    returns: str
    proto: str
    doc: str


class HeaderError(Exception):
    """The header does not have the shape this script reads."""


def parse_param(text: str) -> Param:
    m = re.fullmatch(r"(const\s+)?([A-Za-z_][\w ]*?)\s*(\**)\s*(\w+)", text.strip())
    if not m:
        raise HeaderError(f"cannot read parameter {text!r}")
    return Param(bool(m[1]), m[2].strip(), len(m[3]), m[4])


def arg_kinds(name: str, params: list[Param]) -> str:
    """The helper's argument kinds, one per C parameter.

    - ``struct bpf_map *`` (or ``void *map``/``void *ringbuf``) is a ``map``;
    - the first parameter is ``ctx`` when it is a context structure or
      ``void *ctx``;
    - a writable (non-``const``) ``void``/``char``/struct pointer directly
      followed by an integer named like a size becomes ``buf`` + ``size``: the
      user passes a local array or struct and its size is filled in;
    - a ``const`` pointer (or a packet header read in place) and its length
      stay ``ptr`` + an explicit integer, so read-only sources can be packet
      or map memory too;
    - integers map by width and sign; any other pointer is a ``ptr``.
    """
    kinds: list[str] = []
    for i, p in enumerate(params):
        if kinds and kinds[-1] == "buf":
            kinds.append("size")
        elif p.is_pointer and (p.struct == "bpf_map" or
                               (p.base == "void" and p.name in MAP_VOID_NAMES)):
            kinds.append("map")
        elif i == 0 and p.is_pointer and (p.struct in CTX_STRUCTS or
                                          (p.base == "void" and p.name in CTX_VOID_NAMES)):
            kinds.append("ctx")
        elif p.is_pointer:
            nxt = params[i + 1] if i + 1 < len(params) else None
            sized = (nxt is not None and not nxt.is_pointer and nxt.base in INT_KINDS
                     and SIZE_NAME.search(nxt.name) is not None)
            buffer_like = p.stars == 1 and (p.base in ("void", "char") or p.struct is not None)
            writable = not p.const and p.name not in PACKET_HEADER_NAMES
            kinds.append("buf" if sized and buffer_like and writable else "ptr")
        elif p.base in INT_KINDS:
            kinds.append(INT_KINDS[p.base])
        else:
            raise HeaderError(f"bpf_{name}: no argument kind for C type {p.base!r}")
    return " ".join(kinds)


def return_kind(name: str, ret: str) -> str:
    ret = ret.strip()
    if ret.endswith("*"):
        return "ptr"
    if ret not in RETURN_KINDS:
        raise HeaderError(f"bpf_{name}: no return kind for C type {ret!r}")
    return RETURN_KINDS[ret]


# ---------------------------------------------------------------- header reading

PROTO = re.compile(r"^ \* (?P<proto>(?P<ret>[a-z][\w ]*?\s*\**)\s*bpf_(?P<name>\w+)\((?P<params>.*)\))\s*$")


def read_ids(text: str) -> dict[str, int]:
    """``enum bpf_func_id`` as written by the FN mapper macro, ``unspec`` left out."""
    m = re.search(r"^#define ___?BPF_FUNC_MAPPER\(FN[^)]*\)\s*\\\n((?:.*\\\n)*)", text, re.M)
    if not m:
        raise HeaderError("no __BPF_FUNC_MAPPER / ___BPF_FUNC_MAPPER list")
    ids: dict[str, int] = {}
    for pos, fn in enumerate(re.finditer(r"FN\((\w+)(?:,\s*(\d+))?", m[1])):
        ids[fn[1]] = int(fn[2]) if fn[2] is not None else pos
    ids.pop("unspec", None)
    return ids


def read_docs(text: str) -> dict[str, tuple[str, str, str, str]]:
    """name -> (prototype, C return type, parameter text, first description sentence)."""
    start = text.find("Start of BPF helper function descriptions:")
    end = text.find("*/", start)
    if start < 0 or end < 0:
        raise HeaderError("no helper description comment")
    docs: dict[str, tuple[str, str, str, str]] = {}
    lines = text[start:end].splitlines()
    for i, line in enumerate(lines):
        m = PROTO.match(line)
        if m and m["name"] not in docs:  # bpf_sk_assign is documented twice; the first wins
            docs[m["name"]] = (m["proto"], m["ret"], m["params"], first_sentence(lines[i + 1:]))
    return docs


def first_sentence(lines: list[str]) -> str:
    """The first sentence of a helper's Description paragraph, RST markup removed."""
    words: list[str] = []
    in_description = False
    for line in lines:
        body = line.lstrip(" *").strip()
        if body == "Description":
            in_description = True
            continue
        if body == "Return" or PROTO.match(line) or (in_description and not body and words):
            break
        if in_description:
            words.append(body)
    text = " ".join(words)
    text = re.sub(r"\*\*?([^*]+?)\*\*?", r"\1", text).replace("\\ ", "")
    m = re.match(r"(.+?[.:])(\s|$)", text)
    return (m[1] if m else text).rstrip(":") + ("" if m and m[1].endswith(".") else ".")


def build(text: str) -> list[Entry]:
    ids = read_ids(text)
    docs = read_docs(text)
    for name, (id_, proto, doc) in NEWER_HELPERS.items():
        if name not in docs:
            m = PROTO.match(" * " + proto)
            assert m, proto
            docs[name] = (proto, m["ret"], m["params"], doc)
        ids.setdefault(name, id_)
    missing = sorted(set(ids) - set(docs))
    if missing:
        raise HeaderError(f"helpers in the id list without a prototype: {', '.join(missing)}")
    entries = []
    for name, id_ in sorted(ids.items(), key=lambda kv: kv[1]):
        proto, ret, params_text, doc = docs[name]
        parts = [p for p in params_text.split(",") if p.strip() not in ("void", "...")]
        params = [parse_param(p) for p in parts]
        args, returns = KEPT.get(name) or (arg_kinds(name, params), return_kind(name, ret))
        entries.append(Entry(name, id_, args, returns, proto, doc))
    return entries


# ---------------------------------------------------------------- output

def render(entries: list[Entry], source: str) -> str:
    out = [
        '"""The kernel\'s helper table, generated: do not edit.',
        "",
        f"Generated by scripts/gen_helpers.py from {source}",
        "(plus the supplement of newer helpers kept in that script).  To regenerate::",
        "",
        "    /work/venv/bin/python scripts/gen_helpers.py [path/to/include/uapi/linux/bpf.h]",
        "",
        "Each row: (name without bpf_, id, argument kinds, return kind, C prototype, doc).",
        '"""',
        "",
        "# fmt: off",
        "TABLE: tuple[tuple[str, int, str, str, str, str], ...] = (",
    ]
    for e in entries:
        out.append(f"    ({e.name!r}, {e.id}, {e.args!r}, {e.returns!r},")
        out.append(f"     {e.proto!r},")
        out.append(f"     {e.doc!r}),")
    out.append(")")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("header", nargs="?", type=Path, default=DEFAULT_HEADER,
                    help=f"the UAPI bpf.h to read (default {DEFAULT_HEADER})")
    ap.add_argument("-o", "--output", type=Path, default=OUTPUT)
    ap.add_argument("--check", action="store_true",
                    help="compare with the output file instead of writing it")
    opts = ap.parse_args(argv)
    text = render(build(opts.header.read_text()), str(opts.header))
    if opts.check:
        current = opts.output.read_text() if opts.output.exists() else ""
        if current != text:
            print(f"{opts.output} is stale; rerun scripts/gen_helpers.py", file=sys.stderr)
            return 1
        return 0
    opts.output.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
