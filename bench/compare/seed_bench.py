#!/usr/bin/env python3
"""The seed's design under bench-compare's workloads, run by bench-compare in the same run.

The tracker is bench_python.py's SeedStyleTracker (the seed's ProfessionalHedgeTracker as its
summary describes it: one dict, one threading.Lock, one process). It cannot be shared between
processes, so where the C alternatives run N processes this runs N threads of one process,
which the GIL runs one at a time. The workloads, keys, sampling (one cycle in 16 timed op by op,
the clock's own cost subtracted) and the "row" lines mirror bench/compare/driver.c, which
parses them.

Usage: seed_bench.py [--duration S] [--warmup S]
"""
import argparse
import os
import random
import sys
import threading
import time
import types

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# bench_python.py imports the binding at its top. The seed tracker needs nothing from it, and
# this must run where the binding cannot be imported (sanitizer builds load an instrumented
# module the interpreter cannot), so an empty module stands in for it.
sys.modules.setdefault("hedgeshm", types.ModuleType("hedgeshm"))
from bench_python import SeedStyleTracker  # noqa: E402

KEYS_PER, HOT_KEYS, MAX_PROCS, SAMPLE_EVERY, MAX_SAMPLES = 16, 4, 8, 16, 65536
WORKLOADS = [("disjoint", 1, 1, 0), ("disjoint", 2, 2, 0), ("disjoint", 4, 4, 0),
             ("disjoint", 8, 8, 0), ("hot", 2, 2, 0), ("hot", 4, 4, 0), ("hot", 8, 8, 0),
             ("readers", 2, 1, 1), ("readers", 4, 2, 2), ("readers", 8, 4, 4)]
FIELDS = ("claim", "activate", "status", "release")
clock = time.perf_counter_ns


def timer_cost():
    """Median ns between two back-to-back clock reads: taken off every sampled delta."""
    d = []
    for _ in range(20001):
        a = clock()
        d.append(clock() - a)
    d.sort()
    return d[len(d) // 2]


TIMER = 0


class Samples:
    """Every stride-th op timed; a full buffer keeps every other sample, stride doubles."""

    def __init__(self):
        self.rows, self.stride, self.countdown = [], SAMPLE_EVERY, 0

    def due(self):
        if self.countdown:
            self.countdown -= 1
            return False
        return True

    def keep(self, t):
        row = tuple(max(0, t[i + 1] - t[i] - TIMER) for i in range(4))
        if len(self.rows) == MAX_SAMPLES:
            self.rows = self.rows[::2]
            self.stride *= 2
        self.rows.append(row)
        self.countdown = self.stride - 1


def keys_of(kind, idx):
    if kind == "disjoint":
        first = idx * KEYS_PER
        return [("corr-%d" % idx, "SYM%04d.pro" % (first + i)) for i in range(KEYS_PER)]
    first = MAX_PROCS * KEYS_PER
    return [("corr-hot", "SYM%04d.pro" % (first + i)) for i in range(HOT_KEYS)]


def writer(tracker, kind, idx, ctl, out):
    lock, activate = tracker.lock_position, tracker.activate_position
    status, reset = tracker.get_position_status, tracker.reset_position
    keys = keys_of(kind, idx)
    rng = random.Random(idx + 1)
    picks = [keys[rng.randrange(len(keys))] for _ in range(4096)] if kind != "disjoint" else keys
    npicks = len(picks)
    s, wins, attempts, i = Samples(), 0, 0, 0
    ctl["start"].wait()
    t_begin = clock()
    while not ctl["stop"]:
        group, symbol = picks[i % npicks]
        i += 1
        due = s.due()
        if due:
            t = [clock()]
        attempts += 1
        if not lock(group, symbol):
            continue
        if due:
            t.append(clock())
        ticket = (idx + 1) << 48 | (wins + 1)
        activate(group, symbol, ticket, None)
        if due:
            t.append(clock())
        st = status(group, symbol)
        if due:
            t.append(clock())
        if st is None or st["order_id"] != ticket:
            raise SystemExit("seed tracker: status of %s/%s lost its ticket" % (group, symbol))
        reset(group, symbol)
        wins += 1
        if due:
            t.append(clock())
            s.keep(t)
    out[idx] = {"wins": wins, "attempts": attempts, "reads": 0,
                "elapsed": clock() - t_begin, "samples": s.rows}


def reader(tracker, idx, ctl, out):
    status = tracker.get_position_status
    rng = random.Random(1000 + idx)
    keys = keys_of("hot", idx)
    picks = [keys[rng.randrange(len(keys))] for _ in range(4096)]
    s, reads, i = Samples(), 0, 0
    ctl["start"].wait()
    t_begin = clock()
    while not ctl["stop"]:
        group, symbol = picks[i % 4096]
        i += 1
        due = s.due()
        if due:
            t0 = clock()
        status(group, symbol)
        reads += 1
        if due:
            t1 = clock()
            s.keep([t0, t0, t0, t1, t1 + TIMER])
    out[idx] = {"wins": 0, "attempts": 0, "reads": reads, "elapsed": clock() - t_begin,
                "samples": s.rows}


def pct(values):
    """Nearest-rank p50 and p99, as driver.c computes them."""
    if not values:
        return 0, 0
    values.sort()
    n = len(values)

    def rank(p):
        r = int(p * n + 0.999999)
        return values[max(r, 1) - 1]
    return rank(0.5), rank(0.99)


def run(tracker, kind, procs, writers, duration):
    ctl = {"stop": False, "start": threading.Barrier(procs + 1)}
    out = {}
    threads = [threading.Thread(target=writer, args=(tracker, kind, i, ctl, out))
               if i < writers else threading.Thread(target=reader, args=(tracker, i, ctl, out))
               for i in range(procs)]
    for th in threads:
        th.start()
    ctl["start"].wait()
    time.sleep(duration)
    ctl["stop"] = True
    for th in threads:
        th.join()
    if len(out) != procs:
        raise SystemExit("seed tracker: a thread failed")
    return out


def chunked(op, budget_ns):
    """Median ns per op of chunks of about 50 us of back-to-back ops (as batch.c)."""
    per, v, end = 1, [], clock() + budget_ns
    while not v or clock() < end:
        t0 = clock()
        for _ in range(per):
            op()
        dt = clock() - t0
        if dt < 50000:
            per *= 2
            continue
        v.append(dt / per)
    v.sort()
    return v[len(v) // 2]


def batch_means(tracker, budget_s):
    """The uncontended cycle and status timed in chunks, for the ratios (see batch.c)."""
    keys = keys_of("disjoint", 0)
    lock, activate = tracker.lock_position, tracker.activate_position
    status, reset = tracker.get_position_status, tracker.reset_position
    n = [0]

    def cycle():
        group, symbol = keys[n[0] % KEYS_PER]
        n[0] += 1
        if not lock(group, symbol):
            raise SystemExit("seed tracker: batch position taken")
        activate(group, symbol, n[0], None)
        reset(group, symbol)

    def read():
        group, symbol = keys[n[0] % KEYS_PER]
        n[0] += 1
        status(group, symbol)

    budget = int(budget_s * 1e9 / 2)
    cycle_ns = chunked(cycle, budget)
    for i, (group, symbol) in enumerate(keys):
        lock(group, symbol)
        activate(group, symbol, i + 1, None)
    status_ns = chunked(read, budget)
    for group, symbol in keys:
        reset(group, symbol)
    return cycle_ns, status_ns


def row(kind, procs, writers, readers, out, extra=None):
    w = [out[i] for i in range(writers)]
    rd = [out[i] for i in range(writers, procs)]
    wsamples = [x for o in w for x in o["samples"]]
    r = {"wins": sum(o["wins"] for o in w), "attempts": sum(o["attempts"] for o in w),
         "reads": sum(o["reads"] for o in rd),
         "cycles_per_s": sum(o["wins"] * 1e9 / o["elapsed"] for o in w),
         "reads_per_s": sum(o["reads"] * 1e9 / o["elapsed"] for o in rd),
         "min_wins": min(o["wins"] for o in w),
         "samples": len(wsamples) + sum(len(o["samples"]) for o in rd)}
    r["cycle_p50"], r["cycle_p99"] = pct([a + b + d for a, b, _, d in wsamples])
    for j, name in enumerate(FIELDS):
        r[name + "_p50"], r[name + "_p99"] = pct([x[j] for x in wsamples])
    r["rstatus_p50"], r["rstatus_p99"] = pct([x[2] for o in rd for x in o["samples"]])
    r.update(extra or {})
    print("row kind=%s procs=%d writers=%d readers=%d %s" % (
        kind, procs, writers, readers, " ".join("%s=%.1f" % kv for kv in r.items())), flush=True)


def main():
    global TIMER
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=float, default=1.0, help="seconds per workload")
    ap.add_argument("--warmup", type=float, default=0.2, help="seconds, not recorded")
    args = ap.parse_args()
    TIMER = timer_cost()
    tracker = SeedStyleTracker()
    run(tracker, "disjoint", 1, 1, args.warmup)
    for kind, procs, writers, readers in WORKLOADS:
        out = run(tracker, kind, procs, writers, args.duration)
        extra = None
        if kind == "disjoint" and procs == 1:
            c, st = batch_means(tracker, args.duration / 2)
            extra = {"batch_cycle_ns": c, "batch_status_ns": st}
        row(kind, procs, writers, readers, out, extra)


if __name__ == "__main__":
    main()
