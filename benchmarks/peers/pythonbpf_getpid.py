"""The quick start's program written for pythonbpf (a peer, run from its own venv).

A tracepoint on syscalls/sys_enter_getpid counting calls per pid in a hash
map, as pythonbpf's README writes it: compiled with ``BPF()`` (llvmlite IR,
then ``opt -O2`` and ``llc -march=bpf`` as subprocesses), loaded and
attached through pylibbpf.  Prints "attached", then (with --print) the map.

With --warm N it instead compiles, loads and attaches N+1 times in this
process (a fresh BPF object each time) and prints a JSON line of the median
milliseconds of the last N.  pythonbpf needs Python >= 3.12 and an LLVM >= 21
``opt``/``llc`` first on PATH (it emits opaque pointers and ``captures(none)``).

Run:  /tmp/pythonbpf-venv/bin/python benchmarks/peers/pythonbpf_getpid.py [--print | --warm N]
"""

import gc
import json
import os
import statistics
import sys
import time
from ctypes import c_int32, c_int64, c_uint64, c_void_p

from pythonbpf import BPF, bpf, bpfglobal, map, section
from pythonbpf.helper import pid
from pythonbpf.maps import HashMap


@bpf
@map
def counts() -> HashMap:
    return HashMap(key=c_int32, value=c_uint64, max_entries=10240)


@bpf
@section("tracepoint/syscalls/sys_enter_getpid")
def on_getpid(ctx: c_void_p) -> c_int64:
    p = pid()
    prev = counts.lookup(p)
    if prev:
        counts.update(p, prev + 1)
    else:
        counts.update(p, 1)
    return 0


@bpf
@bpfglobal
def LICENSE() -> str:
    return "GPL"


if __name__ == "__main__" and "--warm" in sys.argv:
    n = int(sys.argv[sys.argv.index("--warm") + 1])
    times = {"compile": [], "load": [], "attach": [], "total": []}
    for _ in range(n + 1):  # the first run warms imports up
        t0 = time.perf_counter()
        b = BPF()  # the source of this module, to IR (llvmlite), then opt and llc
        t1 = time.perf_counter()
        b.load()
        t2 = time.perf_counter()
        b.attach_all()
        t3 = time.perf_counter()
        for name in b.get_program_names():
            b.get_program(name).detach()
        del b
        gc.collect()
        for k, v in (("compile", t1 - t0), ("load", t2 - t1), ("attach", t3 - t2),
                     ("total", t3 - t0)):
            times[k].append(v)
    print(json.dumps({k: statistics.median(v[1:]) * 1e3 for k, v in times.items()}))
elif __name__ == "__main__":
    b = BPF()
    # pythonbpf's README says b.load_and_attach(); pylibbpf 0.0.6 has load() + attach_all()
    b.load()
    b.attach_all()
    sys.stdout.write("attached\n")
    sys.stdout.flush()
    if "--print" in sys.argv:
        for _ in range(3):
            os.getpid()
        print(dict(b["counts"].items()))
