"""How long from a Python function to an attached eBPF program, next to C and bpftrace.

The program is the quick start's: a tracepoint on syscalls/sys_enter_getpid
counting calls per pid in a hash map.  Measured (median of --runs):

- pyebpf warm: in one process, a fresh Program (and a fresh map) per run;
  compile, load and attach timed separately and together.
- pyebpf cold: a new `python` process that imports pyebpf, compiles, loads
  and attaches; wall time from spawn until the child says it is attached,
  and the child's peak RSS.  With the on-disk compile cache off
  (PYEBPF_CACHE=0), on but empty, and on and filled.
- C: clang -O2 -g -target bpf (wall), then a small libbpf loader
  (benchmarks/c/loader.c): its own open/load/attach timing and the wall time
  from exec until it is attached.
- bpftrace: wall time from exec until its BEGIN probe prints (probes are
  attached before BEGIN runs).
- pythonbpf (optional, from its own venv, default /tmp/pythonbpf-venv or
  $PYTHONBPF_VENV): benchmarks/peers/pythonbpf_getpid.py, cold (exec to
  attached, peak RSS) and warm (BPF() + load + attach_all in one process).
  It needs Python >= 3.12 and LLVM >= 21 opt/llc (put first on PATH here);
  its rows are skipped, with the reason, when any of that is missing.

Run as root:  python benchmarks/compile_latency.py [--runs 20]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
HAS_TIME = Path("/usr/bin/time").exists()
TRACEPOINT = "syscalls/sys_enter_getpid"
PYTHONBPF_VENV = Path(os.environ.get("PYTHONBPF_VENV", "/tmp/pythonbpf-venv"))
PYTHONBPF_SCRIPT = HERE / "peers" / "pythonbpf_getpid.py"
PYTHONBPF_MIN_LLVM = 21  # llvmlite 0.50's IR: opaque pointers, captures(none)

PROGRAM = textwrap.dedent(
    """
    import pyebpf as bpf
    from pyebpf import u32, u64

    counts = bpf.HashMap(u32, u64, max_entries=10240)

    @bpf.tracepoint("syscalls/sys_enter_getpid")
    def on_getpid(ctx) -> int:
        pid = u32(bpf.get_current_pid_tgid() >> 32)
        counts.increment(pid)
        return 0
    """
)

COLD_SCRIPT = PROGRAM + textwrap.dedent(
    """
    import sys
    link = on_getpid.attach()
    sys.stdout.write("attached\\n")
    sys.stdout.flush()
    link.detach()
    """
)


def median_ms(xs: list[float]) -> float:
    return statistics.median(xs) * 1e3


# ---------------------------------------------------------------- pyebpf, warm


def warm(runs: int, workdir: Path, cache: bool) -> dict[str, float]:
    """compile / load / attach in this process, a fresh Program and map each run."""
    os.environ["PYEBPF_CACHE"] = "1" if cache else "0"
    os.environ["PYEBPF_CACHE_DIR"] = str(workdir / "warm-cache")
    path = workdir / "warm_prog.py"
    path.write_text(PROGRAM)
    spec = importlib.util.spec_from_file_location("warm_prog", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    import pyebpf as bpf
    from pyebpf import u32, u64

    fn = mod.on_getpid.fn
    times: dict[str, list[float]] = {"compile": [], "load": [], "attach": [], "total": []}
    for _ in range(runs + 1):  # the first run warms imports and LLVM up
        mod.counts = bpf.HashMap(u32, u64, max_entries=10240)
        prog = bpf.tracepoint(TRACEPOINT)(fn)
        t0 = time.perf_counter()
        prog.compile()
        t1 = time.perf_counter()
        prog.load()
        t2 = time.perf_counter()
        link = prog.attach()
        t3 = time.perf_counter()
        link.detach()
        prog.close()
        mod.counts.close()
        for k, v in (("compile", t1 - t0), ("load", t2 - t1), ("attach", t3 - t2),
                     ("total", t3 - t0)):
            times[k].append(v)
    return {k: median_ms(v[1:]) for k, v in times.items()}


# ---------------------------------------------------------------- processes


def spawn_until(cmd: list[str], marker: str, env: dict[str, str] | None = None,
                ) -> tuple[float, float]:
    """(seconds until a stdout line contains marker, peak RSS in MiB).

    The peak RSS comes from /usr/bin/time (the child's own maximum: a child
    forked from this process would report this process's RSS instead).
    """
    fd, rss_path = tempfile.mkstemp(prefix="rss-")
    os.close(fd)
    timed = ["/usr/bin/time", "-f", "%M", "-o", rss_path, *cmd] if HAS_TIME else cmd
    t0 = time.perf_counter()
    p = subprocess.Popen(timed, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                         text=True)
    assert p.stdout is not None
    ready = None
    for line in p.stdout:
        if ready is None and marker in line:
            ready = time.perf_counter() - t0
    err = p.stderr.read() if p.stderr else ""
    p.wait()
    rss_text = Path(rss_path).read_text().strip().splitlines()
    os.unlink(rss_path)
    if p.returncode != 0 or ready is None:
        raise RuntimeError(f"{cmd[0]} failed ({p.returncode}): {err.strip()[-500:]}")
    rss = int(rss_text[-1]) / 1024 if HAS_TIME and rss_text else float("nan")
    return ready, rss


def python_env(workdir: Path, **extra: str) -> dict[str, str]:
    """The children's environment: bytecode cached (as for an installed package) outside the tree."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(workdir / "pycache")
    env.update(extra)
    return env


def cold(runs: int, workdir: Path, mode: str) -> dict[str, float]:
    """A fresh interpreter each run: import, compile, load, attach."""
    script = workdir / "cold_prog.py"
    script.write_text(COLD_SCRIPT)
    cache_dir = workdir / f"cold-cache-{mode}"
    env = python_env(workdir, PYEBPF_CACHE="0" if mode == "off" else "1",
                     PYEBPF_CACHE_DIR=str(cache_dir))
    spawn_until([sys.executable, str(script)], "attached", env)  # bytecode (and cache) filled
    ready, rss = [], []
    for _ in range(runs):
        if mode == "empty":
            shutil.rmtree(cache_dir, ignore_errors=True)
        r, m = spawn_until([sys.executable, str(script)], "attached", env)
        ready.append(r)
        rss.append(m)
    return {"ready": median_ms(ready), "rss_mib": statistics.median(rss)}


def python_start(runs: int, workdir: Path, code: str, python: str = sys.executable,
                 env: dict[str, str] | None = None) -> float:
    """A fresh interpreter running ``code``, until it prints: the floor for any cold figure."""
    cmd, env = [python, "-c", f"{code}; print('ready')"], env or python_env(workdir)
    spawn_until(cmd, "ready", env)
    return median_ms([spawn_until(cmd, "ready", env)[0] for _ in range(runs)])


# ---------------------------------------------------------------- C and bpftrace


def c_toolchain(runs: int, workdir: Path) -> dict[str, float] | None:
    src, loader_src = HERE / "c" / "getpid.bpf.c", HERE / "c" / "loader.c"
    obj, loader = workdir / "getpid.bpf.o", workdir / "loader"
    arch_inc = f"/usr/include/{platform.machine()}-linux-gnu"
    clang = ["clang", "-O2", "-g", "-target", "bpf", f"-I{arch_inc}", "-c", str(src),
             "-o", str(obj)]
    subprocess.run(["gcc", "-O2", "-o", str(loader), str(loader_src), "-lbpf"], check=True)
    compile_s = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(clang, check=True)
        compile_s.append(time.perf_counter() - t0)
    ready, rss, inner = [], [], []
    for _ in range(runs):
        out = subprocess.run([str(loader), str(obj)], capture_output=True, text=True,
                             check=True).stdout.split()
        inner.append((float(out[3]) + float(out[5])) / 1e3)  # load + attach, as it measured
        r, m = spawn_until([str(loader), str(obj)], "attach")
        ready.append(r)
        rss.append(m)
    return {"clang": median_ms(compile_s), "load_attach": median_ms(inner),
            "loader_ready": median_ms(ready), "rss_mib": statistics.median(rss)}


def bpftrace(runs: int) -> dict[str, float]:
    script = ('tracepoint:syscalls:sys_enter_getpid { @[pid] = count(); } '
              'BEGIN { printf("ready\\n"); exit(); }')
    ready, rss = [], []
    for _ in range(runs):
        r, m = spawn_until(["bpftrace", "-e", script], "ready")
        ready.append(r)
        rss.append(m)
    return {"ready": median_ms(ready), "rss_mib": statistics.median(rss)}


# ---------------------------------------------------------------- pythonbpf


def llvm_major(tool: str) -> int:
    out = subprocess.run([tool, "--version"], capture_output=True, text=True).stdout
    for word in out.replace("-", " ").split():
        if word[:1].isdigit() and "." in word:
            return int(word.split(".")[0])
    return 0


def pythonbpf_setup(workdir: Path) -> tuple[str, dict[str, str]] | str:
    """(the venv's python, the children's env), or why pythonbpf cannot run here."""
    python = PYTHONBPF_VENV / "bin" / "python"
    if not python.exists():
        return (f"{PYTHONBPF_VENV} not found (setup: python3.12 -m venv {PYTHONBPF_VENV} && "
                f"{PYTHONBPF_VENV}/bin/pip install pythonbpf)")
    r = subprocess.run([str(python), "-c", "import pythonbpf"], capture_output=True, text=True)
    if r.returncode != 0:
        err = (r.stderr.strip().splitlines() or ["?"])[-1]
        return f"import pythonbpf failed in {PYTHONBPF_VENV}: {err}"
    llcs = [shutil.which("llc") or ""]
    llcs += sorted((str(p) for p in Path("/usr/lib").glob("llvm-*/bin/llc")),
                   key=lambda p: -int(p.split("llvm-")[1].split("/")[0]))
    for llc in llcs:
        bindir = Path(llc).parent
        if llc and (bindir / "opt").exists() and llvm_major(llc) >= PYTHONBPF_MIN_LLVM:
            break
    else:
        return (f"no LLVM >= {PYTHONBPF_MIN_LLVM} opt/llc (pythonbpf runs them from PATH; "
                "apt-get install llvm-22)")
    env = python_env(workdir, PATH=f"{bindir}:{os.environ.get('PATH', '')}",
                     TMPDIR=str(workdir))  # BPF() leaves its .o files in the temp dir
    return str(python), env


def pythonbpf(runs: int, python: str, env: dict[str, str]) -> dict[str, float]:
    cmd = [python, str(PYTHONBPF_SCRIPT)]
    spawn_until(cmd, "attached", env)  # bytecode written
    ready, rss = [], []
    for _ in range(runs):
        r, m = spawn_until(cmd, "attached", env)
        ready.append(r)
        rss.append(m)
    out = subprocess.run([*cmd, "--warm", str(runs)], capture_output=True, text=True, env=env,
                         check=True).stdout
    warm_ms = json.loads(out.strip().splitlines()[-1])
    return {"ready": median_ms(ready), "rss_mib": statistics.median(rss),
            **{f"warm_{k}": v for k, v in warm_ms.items()}}


# ---------------------------------------------------------------- report


def missing_tools() -> list[str]:
    need = {"clang": "clang", "gcc": "gcc", "bpftrace": "bpftrace", "/usr/bin/time": "time"}
    out = [pkg for tool, pkg in need.items() if shutil.which(tool) is None]
    if not Path("/usr/include/bpf/libbpf.h").exists():
        out.append("libbpf-dev")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("run as root: loading and attaching needs CAP_BPF + CAP_PERFMON", file=sys.stderr)
        return 1
    missing = missing_tools()
    if missing:
        print(f"missing (apt-get install {' '.join(missing)}): their rows are skipped")
    has_cache = importlib.util.find_spec("pyebpf.cache") is not None
    n = args.runs
    rows: list[tuple[str, float, str]] = []
    skipped: list[str] = []
    with tempfile.TemporaryDirectory(prefix="pyebpf-bench-") as tmp:
        work = Path(tmp)
        w = warm(n, work, cache=False)
        rows.append(("pyebpf warm, no cache: compile", w["compile"], ""))
        rows.append(("pyebpf warm, no cache: load", w["load"], ""))
        rows.append(("pyebpf warm, no cache: attach", w["attach"], ""))
        rows.append(("pyebpf warm, no cache: compile+load+attach", w["total"], ""))
        if has_cache:
            wc = warm(n, work, cache=True)
            rows.append(("pyebpf warm, cache hit: compile+load+attach", wc["total"],
                         f"compile {wc['compile']:.1f} ms"))
        rows.append(("python -c pass (interpreter start)", python_start(n, work, "pass"), ""))
        rows.append(("python -c 'import pyebpf'", python_start(n, work, "import pyebpf"), ""))
        modes = ["off", "empty", "warm"] if has_cache else ["off"]
        label = {"off": "PYEBPF_CACHE=0", "empty": "cache on, empty", "warm": "cache on, filled"}
        for mode in modes:
            c = cold(n, work, mode)
            rows.append((f"pyebpf cold start to attached, {label[mode]}", c["ready"],
                         f"peak RSS {c['rss_mib']:.0f} MiB"))
        if not {"clang", "gcc", "libbpf-dev"} & set(missing):
            cc = c_toolchain(n, work)
            assert cc is not None
            rows.append(("C: clang -O2 -g -target bpf", cc["clang"], ""))
            rows.append(("C: libbpf loader, load+attach (its own clock)", cc["load_attach"], ""))
            rows.append(("C: libbpf loader, exec to attached", cc["loader_ready"],
                         f"peak RSS {cc['rss_mib']:.0f} MiB"))
            rows.append(("C: clang + loader exec to attached", cc["clang"] + cc["loader_ready"],
                         ""))
        if "bpftrace" not in missing:
            b = bpftrace(n)
            rows.append(("bpftrace: exec to attached (BEGIN prints)", b["ready"],
                         f"peak RSS {b['rss_mib']:.0f} MiB"))
        setup = pythonbpf_setup(work)
        if isinstance(setup, str):
            skipped.append(f"pythonbpf rows skipped: {setup}")
        else:
            pb_python, pb_env = setup
            version = subprocess.run([pb_python, "-c", "import platform; "
                                      "print(platform.python_version())"],
                                     capture_output=True, text=True).stdout.strip()
            rows.append((f"pythonbpf venv: python {version} -c 'import pythonbpf'",
                         python_start(n, work, "import pythonbpf", pb_python, pb_env), ""))
            p = pythonbpf(n, pb_python, pb_env)
            for k in ("compile", "load", "attach"):
                rows.append((f"pythonbpf warm: {k}", p[f"warm_{k}"],
                             "BPF(): IR in-process, opt + llc processes" if k == "compile"
                             else "load()" if k == "load" else "attach_all()"))
            rows.append(("pythonbpf warm: compile+load+attach", p["warm_total"], ""))
            rows.append(("pythonbpf cold start to attached", p["ready"],
                         f"peak RSS {p['rss_mib']:.0f} MiB"))
    if not has_cache:
        print("note: pyebpf.cache is not installed here; cached rows are skipped")
    for line in skipped:
        print(line)
    print(f"\nmedian of {n} runs; {platform.node()} {platform.release()}, "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}\n")
    print("| measurement | ms | notes |\n|---|---:|---|")
    for name, ms, note in rows:
        print(f"| {name} | {ms:.1f} | {note} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
