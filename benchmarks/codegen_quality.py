"""Code quality next to clang: the same programs in C (clang -O2) and in pyebpf.

For each pair in benchmarks/codegen/ (NAME.bpf.c and NAME.py, the same logic
written idiomatically in each language) this loads both, reads from the
kernel (BPF_OBJ_GET_INFO_BY_FD) the verifier-processed instruction count
(verified_insns) and the xlated instruction count (xlated_prog_len / 8), and
times BPF_PROG_TEST_RUN on the same input packet: --rounds rounds, C and
pyebpf interleaved (the order alternates each round), --repeat runs per call
(--xdp-repeat for XDP, whose test_run has a fixed per-call cost); medians.
Both sides must return the same value and leave the same packet.

The C objects are loaded with pyebpf's own loader (bpf.Object.from_file).

Run as root:  python benchmarks/codegen_quality.py [--rounds 15] [--dump DIR]
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import platform
import statistics
import struct
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SRC = HERE / "codegen"


# ---------------------------------------------------------------- input packets


def _eth(proto: int) -> bytes:
    return bytes([2] * 6) + bytes([4] * 6) + struct.pack("!H", proto)


def _ipv4(proto: int, payload: bytes) -> bytes:
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0, 64, proto, 0,
                       bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])) + payload


def udp4(dport: int = 4242, payload: bytes = bytes(range(64))) -> bytes:
    udp = struct.pack("!HHHH", 1234, dport, 8 + len(payload), 0) + payload
    return _eth(0x0800) + _ipv4(17, udp)


def tcp4(dport: int = 8080) -> bytes:
    tcp = struct.pack("!HHIIHHHH", 40000, dport, 1, 0, 0x5010, 512, 0, 0) + b"x" * 32
    return _eth(0x0800) + _ipv4(6, tcp)


def udp6_hbh() -> bytes:
    payload = b"y" * 32
    udp = struct.pack("!HHHH", 1234, 4242, 8 + len(payload), 0) + payload
    hbh = bytes([17, 0]) + bytes([1, 4, 0, 0, 0, 0])  # next header UDP, 8 bytes, PadN
    daddr = bytes(15) + b"\x07"
    ip6 = struct.pack("!IHBB16s16s", 0x60000000, len(hbh) + len(udp), 0, 64,
                      bytes(15) + b"\x01", daddr)
    return _eth(0x86DD) + ip6 + hbh + udp


# name: (input packet, what it exercises)
PROGRAMS: dict[str, tuple[bytes, str]] = {
    "parse_udp": (udp4(), "eth/IPv4 (variable IHL)/UDP parse, port compare, ctx write"),
    "port_filter": (tcp4(), "XDP: TCP/UDP port filter, port list and range"),
    "count_array": (udp4(), "array map, in-place add"),
    "count_hash": (udp4(), "hash map, atomic add or insert (`increment`)"),
    "count_percpu": (udp4(), "per-CPU hash map, add or insert"),
    "checksum": (udp4(), "bounded loop: 16-bit ones'-complement sum, fold"),
    "subprog": (udp4(), "BPF-to-BPF call (2 calls)"),
    "struct_update": (udp4(), "hash map of structs, in-place field updates"),
    "byteswap": (udp4(), "ntohl/ntohs, 64-bit combine, array store"),
    "hash5": (udp4(), "murmur3-style hash of the 5-tuple, % 61"),
    "ipv6_parse": (udp6_hbh(), "IPv6 + hop-by-hop extension header, variable offset"),
    "histogram": (udp4(), "log2 by shifts and compares, atomic increment"),
    "sockfilter": (udp4(), "socket filter, 2 x skb_load_bytes"),
}


# ---------------------------------------------------------------- build and load


def compile_c(name: str, workdir: Path) -> Path:
    obj = workdir / f"{name}.bpf.o"
    arch_inc = f"/usr/include/{platform.machine()}-linux-gnu"
    subprocess.run(["clang", "-O2", "-g", "-target", "bpf", f"-I{arch_inc}", f"-I{SRC}",
                    "-c", str(SRC / f"{name}.bpf.c"), "-o", str(obj)], check=True)
    return obj


def load_py(name: str) -> Any:
    import pyebpf as bpf

    spec = importlib.util.spec_from_file_location(f"codegen_{name}", SRC / f"{name}.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    prog = getattr(mod, name)
    assert isinstance(prog, bpf.Program), name
    prog.load()
    return prog


def counts(prog: Any) -> tuple[int, int]:
    info = prog.info()
    return int(info["verified_insns"]), int(info["xlated_prog_len"]) // 8


def is_xdp(name: str) -> bool:
    return "SEC(\"xdp\")" in (SRC / f"{name}.bpf.c").read_text()


# ---------------------------------------------------------------- report


def geomean(xs: list[float]) -> float:
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--repeat", type=int, default=200_000, help="runs per test_run (tc, socket)")
    ap.add_argument("--xdp-repeat", type=int, default=1_000_000, help="runs per test_run (XDP)")
    ap.add_argument("--dump", type=Path, help="write both disassemblies (xlated) into DIR")
    ap.add_argument("names", nargs="*", help="only these programs")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("run as root: loading programs needs CAP_BPF", file=sys.stderr)
        return 1
    import pyebpf as bpf

    names = args.names or list(PROGRAMS)
    rows = []
    with tempfile.TemporaryDirectory(prefix="pyebpf-codegen-") as tmp:
        work = Path(tmp)
        loaded: dict[str, tuple[Any, Any, Any]] = {}
        for name in names:
            obj = bpf.Object.from_file(compile_c(name, work))
            loaded[name] = (obj, obj.programs[name], load_py(name))
            if args.dump:
                args.dump.mkdir(parents=True, exist_ok=True)
                for side, p in (("c", obj.programs[name]), ("py", loaded[name][2])):
                    out = subprocess.run(["bpftool", "prog", "dump", "xlated", "id", str(p.id)],
                                         capture_output=True, text=True).stdout
                    (args.dump / f"{name}.{side}.xlated").write_text(out)
        for name in names:  # same result on the same packet
            _, c, py = loaded[name]
            pkt = PROGRAMS[name][0]
            rc, rp = c.test_run(pkt), py.test_run(pkt)
            if (rc.retval, rc.data) != (rp.retval, rp.data):
                print(f"{name}: C returned {rc.retval}, pyebpf {rp.retval} (or packets differ)",
                      file=sys.stderr)
                return 1
        ns: dict[tuple[str, str], list[float]] = {}
        for r in range(args.rounds):
            for name in names:
                _, c, py = loaded[name]
                pkt = PROGRAMS[name][0]
                rep = args.xdp_repeat if is_xdp(name) else args.repeat
                order = (("c", c), ("py", py)) if r % 2 == 0 else (("py", py), ("c", c))
                for side, p in order:
                    ns.setdefault((name, side), []).append(
                        p.test_run(pkt, repeat=rep).duration_ns)
        for name in names:
            obj, c, py = loaded[name]
            cv, cx = counts(c)
            pv, px = counts(py)
            ct = statistics.median(ns[(name, "c")])
            pt = statistics.median(ns[(name, "py")])
            rows.append((name, cv, pv, cx, px, ct, pt))
            py.close()
            obj.close()
    print(f"\n{platform.node()} {platform.release()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}; {args.rounds} rounds, repeat {args.repeat} "
          f"(XDP {args.xdp_repeat}); medians\n")
    print("| program | verified C | verified py | ratio | xlated C | xlated py | ratio "
          "| ns/run C | ns/run py | ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    rv, rx, rt = [], [], []
    for name, cv, pv, cx, px, ct, pt in rows:
        rv.append(pv / cv)
        rx.append(px / cx)
        rt.append(pt / ct)
        print(f"| {name} | {cv} | {pv} | {pv / cv:.2f} | {cx} | {px} | {px / cx:.2f} "
              f"| {ct:.1f} | {pt:.1f} | {pt / ct:.2f} |")
    print(f"| **geometric mean** | | | **{geomean(rv):.3f}** | | | **{geomean(rx):.3f}** "
          f"| | | **{geomean(rt):.3f}** |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
