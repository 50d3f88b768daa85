"""Reading and writing a 100,000-entry hash map from Python, next to a libbpf C program.

The map is ``HashMap(u32, u64, 100_000)``, filled with keys 0..N-1 and used
by one loaded program (an XDP program that looks keys up), so the process
measured is one that "loaded one program and reads one map".  Measured
(median of --runs runs):

- full read: ``items()``, ``items_batch()`` (iterating every chunk),
  ``to_numpy()``, and the fallback path (get_next_key + lookup per key);
- single lookup latency: ``m[k]`` over existing keys;
- bulk update: ``update_batch(keys, values)`` and ``update_numpy(array)``;
- the C peer (c/maps_read.c, libbpf, opening the map by id):
  ``bpf_map_get_next_key`` + ``bpf_map_lookup_elem`` loop,
  ``bpf_map_lookup_batch``, single ``bpf_map_lookup_elem``, ``bpf_map_update_batch``;
- this process's RSS (VmRSS and peak VmHWM) after all of that, and the peak RSS
  of a small process that only loads one program and reads one 1,000-entry map
  (``--rss-child``), once with an empty compile cache (LLVM compiles) and once
  with the cache filled (no LLVM in the process).

Run as root (gcc and libbpf-dev for the C rows):
    python benchmarks/maps.py [--entries 100000] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyebpf as bpf
from pyebpf import u32, u64

HERE = Path(__file__).resolve().parent

ENTRIES = 100_000
for _i, _a in enumerate(sys.argv):  # the map's size must be known when the module is read
    if _a == "--entries" and _i + 1 < len(sys.argv):
        ENTRIES = int(sys.argv[_i + 1])

table = bpf.HashMap(u32, u64, ENTRIES)


@bpf.xdp
def reader(ctx) -> int:
    v = table.lookup(1)
    if v is not None:
        return bpf.XDP_PASS
    return bpf.XDP_DROP


def build(tmp: Path) -> Path | None:
    gcc = shutil.which("gcc")
    if gcc is None:
        print("gcc missing: no C rows", file=sys.stderr)
        return None
    out = tmp / "maps_read"
    done = subprocess.run([gcc, "-O2", "-o", str(out), str(HERE / "c" / "maps_read.c"), "-lbpf"],
                          capture_output=True, text=True)
    if done.returncode:
        print(f"cannot build maps_read.c (libbpf-dev?): {done.stderr.strip()}", file=sys.stderr)
        return None
    return out


def timed_ms(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def lookup_ns(keys: list[int], rounds: int = 3) -> float:
    best = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for k in keys:
            table[k]
        best.append((time.perf_counter() - t0) * 1e9 / len(keys))
    return statistics.median(best)


def rss_mib() -> tuple[float, float]:
    fields = {}
    with open("/proc/self/status") as f:
        for line in f:
            name, _, rest = line.partition(":")
            fields[name] = rest.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


_RSS_CHILD = """
import pyebpf as bpf
from pyebpf import u32, u64

small = bpf.HashMap(u32, u64, 1000)


@bpf.xdp
def reader(ctx) -> int:
    v = small.lookup(1)
    if v is not None:
        return bpf.XDP_PASS
    return bpf.XDP_DROP


reader.load()
small.update_batch(list(range(1000)), list(range(1000)))
assert len(small.items()) == 1000 and small[7] == 7
with open("/proc/self/status") as f:
    print([line.split()[1] for line in f if line.startswith("VmHWM")][0])
"""


def small_process_rss() -> tuple[float, float]:
    """Peak RSS (MiB) of a process that loads one program and reads one map: with an
    empty compile cache, then with the cache that run filled."""
    peaks = []
    with tempfile.TemporaryDirectory() as cache:
        script = Path(cache) / "rss_child.py"  # a file: the compiler reads the source
        script.write_text(_RSS_CHILD)
        env = {**os.environ, "PYEBPF_CACHE_DIR": cache}
        for _ in range(2):
            done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                                  text=True, check=True)
            peaks.append(int(done.stdout.split()[-1]) / 1024)
    return peaks[0], peaks[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=ENTRIES)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--lookups", type=int, default=100_000)
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: it loads a program and creates a map")

    import numpy as np

    n = args.entries
    reader.load()
    keys = list(range(n))
    values = [k * 3 for k in keys]
    update_ms = timed_ms(lambda: table.update_batch(keys, values), args.runs)
    arr = table.to_numpy()
    update_np_ms = timed_ms(lambda: table.update_numpy(arr), args.runs)
    assert len(table.items()) == n and dict(table.items())[7] == 21

    def all_chunks() -> None:
        for _ in table.items_batch():
            pass

    def fallback() -> None:
        table._batch_ok = False
        try:
            table.items()
        finally:
            table._batch_ok = True

    rows = {
        "items()": timed_ms(table.items, args.runs),
        "items_batch() (every chunk)": timed_ms(all_chunks, args.runs),
        "to_numpy()": timed_ms(table.to_numpy, args.runs),
        "items() without batch ops (get_next_key + lookup)": timed_ms(fallback, 3),
    }
    lookups = [k % n for k in range(0, args.lookups * 7919, 7919)]
    single_ns = lookup_ns(lookups)
    rss, hwm = rss_mib()

    c: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        exe = build(Path(tmp))
        if exe is not None:
            done = subprocess.run([str(exe), str(table.id), str(args.lookups)],
                                  capture_output=True, text=True, check=True)
            c = {k: float(v) for k, v in (line.split() for line in done.stdout.splitlines())}
    reader.close()
    table.close()

    print(f"Machine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, "
          f"Linux {platform.release()}, Python {platform.python_version()}, "
          f"numpy {np.__version__}")
    print(f"Map: HashMap(u32, u64, {n}), {n} entries; median of {args.runs} runs\n")
    print("| measurement | pyebpf | C (libbpf) | ratio |")
    print("|---|---:|---:|---:|")

    def line(label: str, py: float, cval: float | None, unit: str = "ms") -> None:
        ctext = f"{cval:.1f} {unit}" if cval else "-"
        ratio = f"{py / cval:.2f}x" if cval else "-"
        print(f"| {label} | {py:.1f} {unit} | {ctext} | {ratio} |")

    cb = c.get("batch_read")
    line("full read: items() vs C lookup_batch", rows["items()"], cb)
    line("full read: items_batch() vs C lookup_batch", rows["items_batch() (every chunk)"], cb)
    line("full read: to_numpy() vs C lookup_batch", rows["to_numpy()"], cb)
    line("full read without batch: get_next_key + lookup",
         rows["items() without batch ops (get_next_key + lookup)"], c.get("next_key_loop"))
    line("single lookup m[k] vs bpf_map_lookup_elem", single_ns, c.get("lookup_ns"), "ns")
    line("bulk update: update_batch(keys, values)", update_ms, c.get("update_batch"))
    line("bulk update: update_numpy(array)", update_np_ms, c.get("update_batch"))
    print(f"\nRSS of this process (one program loaded, one map read): "
          f"{rss:.0f} MiB now, {hwm:.0f} MiB peak")
    cold_rss, warm_rss = small_process_rss()
    print(f"Peak RSS of a process that loads one program and reads one 1,000-entry map: "
          f"{cold_rss:.0f} MiB with an empty compile cache, {warm_rss:.0f} MiB with it filled")
    if cb:
        print("\nTargets: items() <= 2.5x C batch: "
              f"{rows['items()'] / cb:.2f}x; to_numpy() <= 1.5x: {rows['to_numpy()'] / cb:.2f}x; "
              f"single lookup <= 1.6x: {single_ns / c['lookup_ns']:.2f}x")


if __name__ == "__main__":
    main()
