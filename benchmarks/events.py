"""Events per second from a ring buffer and a perf buffer, next to a libbpf consumer.

A program on syscalls/sys_enter_getppid, filtered by the generator's pid,
emits one 32-byte event per call while a C generator process
(c/events_getppid_gen.c) calls getppid() in a tight loop.  Measured:

- streaming, for --seconds each: events/s received by RingBuf ``poll()``
  (typed Struct per event), ``consume(callback)`` and ``read_numpy()``; the
  PerfEventArray path (``poll()``); and a C consumer using libbpf's
  ``ring_buffer__poll`` on the same ring (c/events_ringbuf_consumer.c, opened
  by map id).  Also the generator's calls/s with that consumer, and the loss
  (ring: failed reserves counted by the program; perf: PERF_RECORD_LOST).
  produced == received + lost is checked for every row.
- draining a pre-filled 64 MiB ring buffer (about 1.68 M records of 40 bytes):
  ``read_numpy()``, ``poll()``, ``consume()`` and libbpf ``ring_buffer__consume``.

``--pin`` pins the generator to CPU 0 and every consumer (this process and
the C peer) to CPU 1, so a consumer never shares the generator's CPU.

Run as root (gcc and libbpf-dev for the C rows):
    python benchmarks/events.py [--seconds 2] [--ring-mib 4] [--pin]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pyebpf as bpf
from pyebpf import u32, u64

HERE = Path(__file__).resolve().parent
BIG = 64 << 20

GEN_PID = 0  # the generator's pid, frozen into the programs when they compile


class Event(bpf.Struct):
    seq: u64
    ts: u64
    pid: u32
    cpu: u32
    arg: u64


RING_SIZE = 4 << 20
for _i, _a in enumerate(sys.argv):  # the ring size must be known when the module is read
    if _a == "--ring-mib" and _i + 1 < len(sys.argv):
        RING_SIZE = int(sys.argv[_i + 1]) << 20

ring = bpf.RingBuf(RING_SIZE, event=Event)
big = bpf.RingBuf(BIG, event=Event)
perf = bpf.PerfEventArray(event=Event)
stats = bpf.ArrayMap(u64, 2)  # [0] events produced, [1] failed reserves


def fill(e):  # noqa: ANN001, ANN201 - inlined into both ring programs
    e.seq = 1
    e.ts = bpf.ktime_get_ns()
    e.pid = GEN_PID
    e.cpu = bpf.get_smp_processor_id()
    e.arg = 42


@bpf.tracepoint("syscalls/sys_enter_getppid")
def to_ring(ctx) -> int:
    if bpf.get_current_pid_tgid() >> 32 != GEN_PID:
        return 0
    stats.increment(0)
    e = ring.reserve()
    if e is None:
        stats.increment(1)
        return 0
    fill(e)
    ring.submit(e)
    return 0


@bpf.tracepoint("syscalls/sys_enter_getppid")
def to_big(ctx) -> int:
    if bpf.get_current_pid_tgid() >> 32 != GEN_PID:
        return 0
    stats.increment(0)
    e = big.reserve()
    if e is None:
        stats.increment(1)
        return 0
    fill(e)
    big.submit(e)
    return 0


@bpf.tracepoint("syscalls/sys_enter_getppid")
def to_perf(ctx) -> int:
    if bpf.get_current_pid_tgid() >> 32 != GEN_PID:
        return 0
    stats.increment(0)
    ev = Event(seq=1, ts=bpf.ktime_get_ns(), pid=GEN_PID, cpu=bpf.get_smp_processor_id(),
               arg=42)
    perf.output(ctx, ev)
    return 0


# ---------------------------------------------------------------- helpers


def build(tmp: Path, name: str, libs: list[str]) -> Path | None:
    gcc = shutil.which("gcc")
    if gcc is None:
        return None
    out = tmp / name
    done = subprocess.run([gcc, "-O2", "-o", str(out), str(HERE / "c" / f"{name}.c"), *libs],
                          capture_output=True, text=True)
    if done.returncode != 0:
        print(f"# cannot build {name}: {done.stderr.strip()[:200]}", file=sys.stderr)
        return None
    return out


class Generator:
    """The long-lived C generator: run(seconds, max_calls) in the background."""

    def __init__(self, exe: Path) -> None:
        self.proc = subprocess.Popen([str(exe)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, bufsize=1)
        self.pid = self.proc.pid
        self.result: tuple[int, float] | None = None

    def start(self, seconds: float, max_calls: int = -1) -> threading.Thread:
        self.result = None
        self.proc.stdin.write(f"{seconds} {max_calls}\n")  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]

        def wait() -> None:
            calls, elapsed = self.proc.stdout.readline().split()  # type: ignore[union-attr]
            self.result = (int(calls), float(elapsed))

        t = threading.Thread(target=wait, daemon=True)
        t.start()
        return t

    def close(self) -> None:
        self.proc.stdin.close()  # type: ignore[union-attr]
        self.proc.wait()


def reset() -> None:
    stats[0] = 0
    stats[1] = 0


def stream(gen: Generator, seconds: float, step) -> tuple[int, float, int]:
    """Run the generator for ``seconds`` while ``step()`` reads; (received, elapsed, calls)."""
    reset()
    received = 0
    t = gen.start(seconds)
    while t.is_alive():
        received += step()
    for _ in range(5):  # what is left once the generator stopped
        received += step()
    assert gen.result is not None
    calls, elapsed = gen.result
    return received, elapsed, calls


def row(rows: list, label: str, received: int, elapsed: float, calls: int, lost: int) -> None:
    produced = stats[0]
    check = "ok" if produced == received + lost else f"MISMATCH produced={produced}"
    rows.append((label, received / elapsed, calls / elapsed, lost, check))
    print(f"# {label}: {received / elapsed:,.0f} ev/s, generator {calls / elapsed:,.0f}/s, "
          f"lost {lost} ({check})", file=sys.stderr)


def fill_big(gen: Generator) -> int:
    """Fill the 64 MiB ring (until a reserve fails); returns the records in it."""
    big.read_numpy()
    reset()
    with to_big.attach():
        gen.start(30, (BIG // 40) + 50_000).join()
    return stats[0] - stats[1]


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--ring-mib", type=int, default=4)
    parser.add_argument("--pin", action="store_true",
                        help="generator on CPU 0, consumers on CPU 1")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root")

    tmp = Path(tempfile.mkdtemp(prefix="pyebpf-events-"))
    gen_exe = build(tmp, "events_getppid_gen", [])
    cons_exe = build(tmp, "events_ringbuf_consumer", ["-lbpf"])
    if gen_exe is None:
        sys.exit("needs gcc to build the generator")
    gen = Generator(gen_exe)
    if args.pin:
        os.sched_setaffinity(gen.pid, {0})
        os.sched_setaffinity(0, {1})  # this thread; the C consumer inherits it
    global GEN_PID
    GEN_PID = gen.pid
    for p in (to_ring, to_big, to_perf):
        p.load()
    perf.open(pages=256)  # 1 MiB per CPU
    secs = args.seconds
    rows: list = []

    # --- baseline: no program
    t = gen.start(secs)
    t.join()
    base_calls, base_elapsed = gen.result  # type: ignore[misc]

    # --- streaming
    with to_ring.attach():
        n, el, calls = stream(gen, secs, lambda: sum(1 for _ in ring.poll(timeout=0.05)))
        row(rows, "RingBuf poll() (typed Struct per event)", n, el, calls, stats[1])

        def cb(ev: Event) -> None:
            pass

        n, el, calls = stream(gen, secs, lambda: ring.consume(cb, timeout=0.05))
        row(rows, "RingBuf consume(callback)", n, el, calls, stats[1])
        ring.read_numpy()  # NumPy imported and the dtype built before the clock starts
        n, el, calls = stream(gen, secs, lambda: len(ring.read_numpy(timeout=0.05)))
        row(rows, "RingBuf read_numpy()", n, el, calls, stats[1])
        if cons_exe is not None:
            reset()
            ring.read_numpy()
            c = subprocess.Popen([str(cons_exe), str(ring.id), "poll", str(secs + 1.0)],
                                 stdout=subprocess.PIPE, text=True)
            assert c.stdout.readline().strip() == "ready"  # type: ignore[union-attr]
            t = gen.start(secs)
            out, _ = c.communicate()
            t.join()
            calls, el = gen.result  # type: ignore[misc]
            row(rows, "C libbpf ring_buffer__poll", int(out.split()[0]), el, calls, stats[1])
    with to_perf.attach():
        perf.read_numpy()
        lost0 = perf.lost
        n, el, calls = stream(gen, secs, lambda: sum(1 for _ in perf.poll(timeout=0.05)))
        # The final drain reads every CPU's ring and makes the kernel write its pending
        # PERF_RECORD_LOST (events.PerfBufReader): no extra sample is needed.
        n += len(perf.read_numpy())
        row(rows, "PerfEventArray poll() (1 MiB per CPU)", n, el, calls, perf.lost - lost0)
        perf.open(pages=256, wakeup_events=64)
        lost0 = perf.lost
        n, el, calls = stream(gen, secs, lambda: sum(1 for _ in perf.poll(timeout=0.05)))
        n += len(perf.read_numpy())
        row(rows, "PerfEventArray poll(), open(wakeup_events=64)", n, el, calls,
            perf.lost - lost0)

    # --- draining a pre-filled 64 MiB ring
    drains: list = []

    def timed(label: str, fn, runs: int = 3) -> None:
        times = []
        ok = "ok"
        for _ in range(runs):  # the median of fresh fills: the first run pays page faults
            filled = fill_big(gen)
            t0 = time.perf_counter()
            got = fn()
            times.append(time.perf_counter() - t0)
            if got != filled:
                ok = f"MISMATCH filled={filled} got={got}"
        dt = sorted(times)[len(times) // 2]
        drains.append((label, filled, dt * 1e3, got / dt, ok))
        print(f"# drain {label}: {got} in {dt * 1e3:.1f} ms = {got / dt:,.0f} ev/s ({ok})",
              file=sys.stderr)

    def drain_poll() -> int:
        total = 0
        while k := sum(1 for _ in big.poll(timeout=0)):
            total += k
        return total

    def drain_consume() -> int:
        total = 0
        while k := big.consume(lambda ev: None, timeout=0):
            total += k
        return total

    timed("read_numpy()", lambda: len(big.read_numpy()))
    timed("poll()", drain_poll)
    timed("consume(callback)", drain_consume)
    if cons_exe is not None:
        filled = fill_big(gen)
        c = subprocess.run([str(cons_exe), str(big.id), "drain", "0"], capture_output=True,
                           text=True, check=True)
        n_c, secs_c = c.stdout.split()[1:3]
        ok = "ok" if int(n_c) == filled else f"MISMATCH filled={filled}"
        drains.append(("C libbpf ring_buffer__consume (its own clock)", filled,
                       float(secs_c) * 1e3, int(n_c) / float(secs_c), ok))
    gen.close()

    print(f"\nMachine: {platform.node()}, {os.cpu_count()} CPUs, Linux {platform.release()}, "
          f"Python {platform.python_version()}\n")
    print(f"Generator alone (no program attached): {base_calls / base_elapsed:,.0f} getppid/s\n")
    pinned = ", generator pinned to CPU 0, consumers to CPU 1" if args.pin else ", unpinned"
    print(f"Streaming for {secs:g} s each, ring buffer {args.ring_mib} MiB, 32-byte events"
          f"{pinned}:\n")
    print("| consumer | events/s received | generator calls/s | lost | produced == received + lost |")
    print("|---|---:|---:|---:|---|")
    for label, rate, gen_rate, lost, check in rows:
        print(f"| {label} | {rate:,.0f} | {gen_rate:,.0f} | {lost:,} | {check} |")
    print("\nDraining a pre-filled 64 MiB ring buffer (median of 3 fills):\n")
    print("| consumer | records | ms | events/s | all read |")
    print("|---|---:|---:|---:|---|")
    for label, filled, ms, rate, ok in drains:
        print(f"| {label} | {filled:,} | {ms:.1f} | {rate:,.0f} | {ok} |")


if __name__ == "__main__":
    main()
