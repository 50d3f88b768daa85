"""The ``pyebpf`` command (also ``python -m pyebpf``).

::

    pyebpf compile FILE.py [-o OUT.o]     every bpf.Program of FILE into one ELF object
    pyebpf disasm FILE.py|FILE.o          instructions under their source lines
    pyebpf run FILE.py [--duration S]     load, attach every program, print maps each second
    pyebpf prog list                      the kernel's programs (id, type, name, tag, sizes)
    pyebpf map dump PIN|ID                a kernel map's entries, typed from its BTF
    pyebpf cache dir|clear                where compiled objects are cached / empty it

A :class:`~pyebpf.errors.BPFError` prints its message (no traceback) and
exits with status 1; ``PYEBPF_DEBUG=1`` shows the traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

__all__ = ["main"]


class UsageError(Exception):
    """A mistake on the command line: printed, exit status 2."""


# ---------------------------------------------------------------- loading a user's file


def import_file(path: str) -> ModuleType:
    """Import ``path`` as a module (its directory first on ``sys.path``, as ``python FILE`` does)."""
    p = Path(path).resolve()
    if not p.is_file():
        raise UsageError(f"no such file: {path}")
    name = p.stem if p.stem.isidentifier() else "pyebpf_user_module"
    spec = importlib.util.spec_from_file_location(name, p)
    if spec is None or spec.loader is None:
        raise UsageError(f"cannot import {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(p.parent))
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def programs_of(module: ModuleType) -> list[Any]:
    """The ``bpf.Program`` objects at module level, in definition order."""
    from .programs import Program

    found: dict[int, Any] = {}
    for value in vars(module).values():
        if isinstance(value, Program) and value.fn is not None:
            found.setdefault(id(value), value)
    if not found:
        raise UsageError(f"{module.__file__} defines no eBPF program (@bpf.xdp, @bpf.tracepoint, ...)")
    return list(found.values())


def maps_of(module: ModuleType) -> dict[str, Any]:
    """The ``bpf.Map`` objects at module level, by variable name."""
    from .maps import Map

    return {name: v for name, v in vars(module).items() if isinstance(v, Map)}


# ---------------------------------------------------------------- commands


def cmd_compile(args: argparse.Namespace, out: TextIO) -> int:
    from .programs import compile as compile_programs

    progs = programs_of(import_file(args.file))
    dest = Path(args.output) if args.output else Path(args.file).with_suffix(".o")
    compiled = compile_programs(*progs, path=dest)
    hit = " (from the compile cache)" if compiled._compiled.cache_hit else ""
    out.write(f"wrote {dest}: {len(progs)} program(s) ({', '.join(p.name for p in progs)}), "
              f"{len(compiled.maps)} map(s), {len(compiled.elf)} bytes, cpu {compiled.cpu}{hit}\n")
    return 0


def cmd_disasm(args: argparse.Namespace, out: TextIO) -> int:
    from .disasm import disassemble_object

    path = Path(args.file)
    try:
        head = path.read_bytes()[:4]
    except OSError as e:
        raise UsageError(f"cannot read {args.file}: {e.strerror}") from None
    if head == b"\x7fELF":
        from .elf import read_object

        out.write(disassemble_object(read_object(path.read_bytes(), source_name=str(path))))
        return 0
    from .programs import compile as compile_programs

    out.write(compile_programs(*programs_of(import_file(args.file))).disassembly())
    return 0


def _attach_options(prog: Any, args: argparse.Namespace) -> dict[str, Any]:
    kind = prog.hook.kind
    if kind in ("xdp", "tc"):
        if not args.ifname:
            raise UsageError(f"{prog.name} is a {kind} program: pass --ifname IFACE")
        return {"ifname": args.ifname}
    if kind == "cgroup_skb":
        if not args.cgroup:
            raise UsageError(f"{prog.name} is a cgroup program: pass --cgroup /sys/fs/cgroup/...")
        return {"cgroup": args.cgroup}
    if kind == "socket_filter":
        raise UsageError(f"{prog.name} is a socket filter: attach it to a socket in your own "
                         "code (prog.attach(sock=s)); `pyebpf run` cannot")
    return {}


def _format_value(v: Any) -> str:
    if isinstance(v, (bytes, bytearray)):
        return bytes(v).hex(" ")
    if isinstance(v, list):
        return "[" + ", ".join(_format_value(x) for x in v) + "]"
    return str(v)


def print_map(name: str, m: Any, out: TextIO, limit: int = 50) -> None:
    """``name (n entries)`` then up to ``limit`` sorted ``key: value`` lines."""
    try:
        items = list(m.items())
    except Exception as e:  # noqa: BLE001 - an event map or odd kind: say so, keep going
        out.write(f"{name}: (cannot list: {e})\n")
        return
    with contextlib.suppress(TypeError):  # unorderable keys (structs): kernel order
        items.sort(key=lambda kv: kv[0])
    out.write(f"{name} ({len(items)} entries)\n")
    for k, v in items[:limit]:
        out.write(f"  {_format_value(k)}: {_format_value(v)}\n")
    if len(items) > limit:
        out.write(f"  ... {len(items) - limit} more\n")


def cmd_run(args: argparse.Namespace, out: TextIO) -> int:
    import pyebpf as bpf

    from .maps import Map, _EventMap

    module = import_file(args.file)
    progs = programs_of(module)
    options = {p.name: _attach_options(p, args) for p in progs}
    maps = {n: m for n, m in maps_of(module).items() if not isinstance(m, _EventMap)}
    with bpf.load(*progs):
        links = [p.attach(**options[p.name]) for p in progs]
        out.write(f"attached {', '.join(f'{p.name} [{p.hook.section}]' for p in progs)}; "
                  "Ctrl-C to stop\n")
        out.flush()
        loaded = {n: m for n, m in maps.items() if isinstance(m, Map) and m.loaded}
        start = time.monotonic()
        try:
            while args.duration is None or time.monotonic() - start < args.duration:
                left = None if args.duration is None else args.duration - (time.monotonic() - start)
                time.sleep(args.interval if left is None else max(min(args.interval, left), 0))
                if args.duration is None or time.monotonic() - start < args.duration:
                    _print_maps(loaded, out, time.monotonic() - start)
        except KeyboardInterrupt:
            pass
        _print_maps(loaded, out, time.monotonic() - start, final=True)
        for link in links:
            link.close()
    return 0


def _print_maps(maps: dict[str, Any], out: TextIO, elapsed: float, final: bool = False) -> None:
    out.write(f"--- {'final' if final else f'{elapsed:.1f}s'}\n")
    for name, m in maps.items():
        print_map(name, m, out)
    out.flush()


def cmd_prog_list(args: argparse.Namespace, out: TextIO) -> int:
    from ._native import syscalls
    from .constants import ProgramType
    from .errors import SyscallError

    rows = []
    next_id = syscalls.prog_get_next_id(0)
    while next_id is not None:
        try:
            fd = syscalls.prog_get_fd_by_id(next_id)
        except SyscallError:  # unloaded meanwhile
            next_id = syscalls.prog_get_next_id(next_id)
            continue
        try:
            info = syscalls.prog_info(fd)
        finally:
            syscalls.close(fd)
        try:
            kind = ProgramType(info["type"]).name.lower()
        except ValueError:
            kind = str(info["type"])
        rows.append((str(info["id"]), kind, info["name"] or "-", info["tag"],
                     str(info["jited_prog_len"]), str(info["xlated_prog_len"]),
                     ",".join(map(str, info["map_ids"])) or "-"))
        next_id = syscalls.prog_get_next_id(next_id)
    _table(("ID", "TYPE", "NAME", "TAG", "JITED", "XLATED", "MAPS"), rows, out)
    return 0


def _table(head: Sequence[str], rows: list[Sequence[str]], out: TextIO) -> None:
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    for r in [head, *rows]:
        out.write("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() + "\n")


def cmd_map_dump(args: argparse.Namespace, out: TextIO) -> int:
    from .constants import MapType
    from .maps import Map

    target = args.map
    m = Map.from_id(int(target)) if target.isdigit() else Map.from_pinned(target)
    try:
        info = m.info()
        try:
            kind = MapType(info["type"]).name.lower()
        except ValueError:
            kind = str(info["type"])
        out.write(f"map {info['id']} {info['name'] or '-'}: {kind}, key {info['key_size']}B, "
                  f"value {info['value_size']}B, max_entries {info['max_entries']}\n")
        out.write(f"types (from BTF): {m._shape_text()}\n")
        for note in m.btf_notes:
            out.write(f"note: {note}\n")
        print_map("entries", m, out, limit=args.limit)
    finally:
        m.close()
    return 0


def cmd_cache(args: argparse.Namespace, out: TextIO) -> int:
    from . import cache

    if args.action == "dir":
        state = "" if cache.enabled() else "  (disabled by PYEBPF_CACHE=0)"
        out.write(f"{cache.cache_dir()}{state}\n")
    else:
        out.write(f"removed {cache.clear()} entries from {cache.cache_dir()}\n")
    return 0


# ---------------------------------------------------------------- argument parsing


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pyebpf", description="Compile, inspect and run eBPF "
                                "programs written in Python.")
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("compile", help="compile a file's programs into one ELF object")
    c.add_argument("file")
    c.add_argument("-o", "--output", help="object file to write (default: FILE with .o)")
    c.set_defaults(run=cmd_compile)

    d = sub.add_parser("disasm", help="disassemble a .py file's programs or an ELF object")
    d.add_argument("file")
    d.set_defaults(run=cmd_disasm)

    r = sub.add_parser("run", help="load and attach a file's programs, print its maps")
    r.add_argument("file")
    r.add_argument("--duration", type=float, help="stop after S seconds (default: Ctrl-C)")
    r.add_argument("--interval", type=float, default=1.0, help="seconds between map prints")
    r.add_argument("--ifname", help="interface for XDP / TC programs")
    r.add_argument("--cgroup", help="cgroup v2 directory for cgroup programs")
    r.set_defaults(run=cmd_run)

    prog = sub.add_parser("prog", help="kernel programs").add_subparsers(dest="action",
                                                                         required=True)
    prog.add_parser("list", help="list loaded programs").set_defaults(run=cmd_prog_list)

    m = sub.add_parser("map", help="kernel maps").add_subparsers(dest="action", required=True)
    dump = m.add_parser("dump", help="print a map's entries, typed from its BTF (hex without BTF)")
    dump.add_argument("map", help="a pinned path or a map id")
    dump.add_argument("--limit", type=int, default=1000, help="entries to print at most")
    dump.set_defaults(run=cmd_map_dump)

    k = sub.add_parser("cache", help="the compile cache")
    k.add_argument("action", choices=("dir", "clear"))
    k.set_defaults(run=cmd_cache)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    from .errors import BPFError, debug_tracebacks

    args = _parser().parse_args(argv)
    command: Callable[[argparse.Namespace, TextIO], int] = args.run
    try:
        return command(args, sys.stdout)
    except UsageError as e:
        print(f"pyebpf: {e}", file=sys.stderr)
        return 2
    except BPFError as e:
        if debug_tracebacks():
            raise
        print(f"pyebpf: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `pyebpf prog list | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
