#!/usr/bin/env python3
"""The Python binding against the tracker it replaces, measured in one run.

Two operations, each timed on both trackers in the same process, interleaved round by round
so that frequency changes and noise hit both alike:

  cycle   lock_position + activate_position + reset_position on one position (ns per call)
  status  get_position_status of an ACTIVE position (ns per call)

The seed-style tracker is the seed's ProfessionalHedgeTracker as its summary describes it
(../shared/seed/hedge-tracking-summary.md): one dict of positions, a dict per position,
states as strings, every method under one threading.Lock, one process. It holds no logging,
no MT5 calls and no validation, so it is the fastest that design can be; the binding does
more (key validation, a shared segment, fencing tokens, the GIL released around every call
that may wait) and is shared by every process on the host.

Usage: bench_python.py [--quick] [--positions N] [--rounds N] [--require-faster]
Needs the module on PYTHONPATH (meson's benchmark sets it to the build tree).
"""
import argparse
import os
import sys
import threading
import time

import hedgeshm


class SeedStyleTracker:
    """The seed's single-process tracker: a dict per position under one lock."""

    AVAILABLE, HEDGING, ACTIVE, ERROR = "AVAILABLE", "HEDGING", "ACTIVE", "ERROR"

    def __init__(self):
        self._lock = threading.Lock()
        self.positions = {}
        self.stats = {"locks": 0, "conflicts": 0, "activations": 0, "resets": 0}

    def lock_position(self, group_id, symbol):
        key = (group_id, symbol)
        with self._lock:
            pos = self.positions.get(key)
            if pos is not None and pos["status"] != self.AVAILABLE:
                self.stats["conflicts"] += 1
                return False
            self.positions[key] = {
                "status": self.HEDGING,
                "group_id": group_id,
                "symbol": symbol,
                "order_id": None,
                "hedge_symbol": None,
                "locked_at": time.time(),
                "activated_at": None,
            }
            self.stats["locks"] += 1
            return True

    def activate_position(self, group_id, symbol, order_id, hedge_symbol):
        with self._lock:
            pos = self.positions.get((group_id, symbol))
            if pos is None or pos["status"] != self.HEDGING:
                return False
            pos["status"] = self.ACTIVE
            pos["order_id"] = order_id
            pos["hedge_symbol"] = hedge_symbol
            pos["activated_at"] = time.time()
            self.stats["activations"] += 1
            return True

    def reset_position(self, group_id, symbol):
        with self._lock:
            pos = self.positions.get((group_id, symbol))
            if pos is None or pos["status"] not in (self.HEDGING, self.ACTIVE):
                return False
            pos["status"] = self.AVAILABLE
            pos["order_id"] = None
            pos["hedge_symbol"] = None
            self.stats["resets"] += 1
            return True

    def is_position_available(self, group_id, symbol):
        with self._lock:
            pos = self.positions.get((group_id, symbol))
            return pos is None or pos["status"] == self.AVAILABLE

    def get_position_status(self, group_id, symbol):
        with self._lock:
            pos = self.positions.get((group_id, symbol))
            return dict(pos) if pos is not None else None


def time_cycle(tracker, keys, loops):
    """ns per call of lock + activate + reset over keys, loops times."""
    lock, activate, reset = (tracker.lock_position, tracker.activate_position,
                             tracker.reset_position)
    start = time.perf_counter_ns()
    for _ in range(loops):
        for group, symbol in keys:
            if not lock(group, symbol):
                raise SystemExit("lock refused on a free position")
            activate(group, symbol, 1000, "GBPUSD")
            reset(group, symbol)
    return (time.perf_counter_ns() - start) / (loops * len(keys) * 3)


def time_status(tracker, keys, loops):
    """ns per get_position_status call over keys, loops times."""
    status = tracker.get_position_status
    start = time.perf_counter_ns()
    for _ in range(loops):
        for group, symbol in keys:
            status(group, symbol)
    return (time.perf_counter_ns() - start) / (loops * len(keys))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="short run (proves it works)")
    ap.add_argument("--positions", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=0, help="rounds (best of), 0: default")
    ap.add_argument("--require-faster", action="store_true",
                    help="exit 1 when the binding is slower than the seed-style tracker")
    args = ap.parse_args()
    rounds = args.rounds or (3 if args.quick else 15)
    loops = 50 if args.quick else 400

    name = "/hshm-bench-py-%d" % os.getpid()
    keys = [("corr-%d" % (i % 8), "SYM%03d.pro" % i) for i in range(args.positions)]
    binding = hedgeshm.HedgeTracker(name, create=True, capacity=max(64, 2 * args.positions))
    seed = SeedStyleTracker()
    try:
        best = {}
        for _ in range(rounds):
            for label, tracker in (("binding", binding), ("seed", seed)):
                ns = time_cycle(tracker, keys, loops)
                best[label, "cycle"] = min(ns, best.get((label, "cycle"), ns))
        for tracker in (binding, seed):
            for group, symbol in keys:
                tracker.lock_position(group, symbol)
                tracker.activate_position(group, symbol, 1000, "GBPUSD")
        for _ in range(rounds):
            for label, tracker in (("binding", binding), ("seed", seed)):
                ns = time_status(tracker, keys, loops)
                best[label, "status"] = min(ns, best.get((label, "status"), ns))
    finally:
        binding.close()
        hedgeshm.destroy(name)

    print("python %s, %d positions, best of %d rounds of %d passes (ns per call)"
          % (sys.version.split()[0], len(keys), rounds, loops))
    print("%-8s %12s %12s %8s" % ("op", "binding", "seed-style", "ratio"))
    slower = False
    for op in ("cycle", "status"):
        b, s = best["binding", op], best["seed", op]
        slower |= b >= s
        print("%-8s %12.0f %12.0f %7.2fx" % (op, b, s, s / b))
    print("ratio = seed-style ns / binding ns; above 1 means the binding is faster")
    print("target (binding faster on both): %s" % ("missed" if slower else "met"))
    if slower and args.require_faster:
        sys.exit(1)


if __name__ == "__main__":
    main()
