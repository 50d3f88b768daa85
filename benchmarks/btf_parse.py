"""Time and memory to open the kernel's BTF and find ``task_struct``: pyebpf vs bpftool.

Each measurement runs in a fresh process, so nothing is cached:

- pyebpf: ``import pyebpf.btf`` + ``BTF.kernel()`` +
  ``find("task_struct", "struct")`` + ``member_offset("task_struct", "pid")``;
  wall time of those calls (and of each step) and the process's RSS growth
  (VmRSS before/after) and peak RSS; then, in the same process, a second
  lookup and the compiler's other queries (``func_proto`` of a function and
  of a tracepoint, ``find_kfunc``).
- bpftool: ``bpftool btf dump file /sys/kernel/btf/vmlinux format raw``
  (parses everything and prints it, output to /dev/null) and
  ``bpftool btf dump file ... format c`` for reference; wall time and peak
  RSS of the child (``ru_maxrss``).

Usage: ``python benchmarks/btf_parse.py [--runs 5]``; prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys

VMLINUX = "/sys/kernel/btf/vmlinux"

PYEBPF_CHILD = r"""
import json, resource, time
def rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
before = rss()
t0 = time.perf_counter()
from pyebpf.btf import BTF
t_import = time.perf_counter()
vmlinux = BTF.kernel()
t_open = time.perf_counter()
task = vmlinux.find("task_struct", "struct")
pid_off = vmlinux.member_offset("task_struct", "pid")
t1 = time.perf_counter()
vmlinux.find("sk_buff", "struct")
t2 = time.perf_counter()
# what the compiler asks next: a kernel function, a tp_btf target, a kfunc
vmlinux.func_proto("do_unlinkat")
vmlinux.func_proto("sched_switch", tracepoint=True)
vmlinux.find_kfunc("bpf_rcu_read_lock")
t3 = time.perf_counter()
print(json.dumps({"first_ms": (t1 - t0) * 1e3, "import_ms": (t_import - t0) * 1e3,
                  "open_ms": (t_open - t_import) * 1e3, "find_ms": (t1 - t_open) * 1e3,
                  "second_ms": (t2 - t1) * 1e3, "compiler_ms": (t3 - t2) * 1e3,
                  "rss_growth_kib": rss() - before,
                  "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "types": len(vmlinux), "pid_offset": pid_off, "task_size": task.size}))
"""


def run_pyebpf() -> dict:
    out = subprocess.run([sys.executable, "-c", PYEBPF_CHILD], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout)


BPFTOOL_CHILD = r"""
import json, os, resource, subprocess, sys, time
t0 = time.perf_counter()
with open(os.devnull, "wb") as null:
    subprocess.run(["bpftool", "btf", "dump", "file", sys.argv[1], "format", sys.argv[2]],
                   stdout=null, check=True)
ms = (time.perf_counter() - t0) * 1e3
print(json.dumps({"ms": ms, "peak_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def run_bpftool(fmt: str) -> dict:
    # in its own parent process, so RUSAGE_CHILDREN's peak is bpftool's alone
    out = subprocess.run([sys.executable, "-c", BPFTOOL_CHILD, VMLINUX, fmt],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    size = os.path.getsize(VMLINUX) if os.path.exists(VMLINUX) else 0
    py = [run_pyebpf() for _ in range(args.runs)]
    print(f"kernel BTF: {size / 1e6:.1f} MB, {py[0]['types']} types; "
          f"task_struct is {py[0]['task_size']} bytes, pid at {py[0]['pid_offset']}; "
          f"median of {args.runs} fresh processes\n")
    print("| tool | what | ms | RSS |")
    print("|---|---|---:|---:|")
    med = statistics.median
    print(f"| pyebpf | import + open + find task_struct + member offset | "
          f"{med(r['first_ms'] for r in py):.1f} | "
          f"+{med(r['rss_growth_kib'] for r in py) / 1024:.1f} MiB "
          f"(peak {med(r['peak_kib'] for r in py) / 1024:.1f} MiB, interpreter included) |")
    for key, what in (("import_ms", "of which: import pyebpf.btf"),
                      ("open_ms", "of which: BTF.kernel() (read + index)"),
                      ("find_ms", "of which: find + member_offset"),
                      ("second_ms", "a second lookup (sk_buff)"),
                      ("compiler_ms", "then func_proto x2 + find_kfunc")):
        print(f"| pyebpf | {what} | {med(r[key] for r in py):.1f} | - |")
    if shutil.which("bpftool"):
        for fmt in ("raw", "c"):
            runs = [run_bpftool(fmt) for _ in range(args.runs)]
            print(f"| bpftool | btf dump format {fmt} (all types, to /dev/null) | "
                  f"{med(r['ms'] for r in runs):.1f} | peak {max(r['peak_kib'] for r in runs) / 1024:.1f} MiB |")
    else:
        print("| bpftool | not installed | - | - |")


if __name__ == "__main__":
    main()
