"""Several Python processes, each with its own tracker on one segment, contending for the
same positions: exactly one winner per round (forked processes, a multiprocessing.Barrier per
round), exactly one winner per key (fresh interpreters started with spawn), and the fork
rule (a tracker opened by the parent refuses to work in the child)."""
import multiprocessing
import os
import time
import unittest

import hedgeshm
from support import SegmentCase

PROCESSES = 6
ROUNDS = 60
KEYS = 24


def contend_rounds(name, barrier, results):
    """One contender: every round, race for the same position; the winner activates, and
    resets once everybody has tried. Reports (round, pid, won); failures as the exit code."""
    tracker = hedgeshm.HedgeTracker(name)
    pid = os.getpid()
    for r in range(ROUNDS):
        barrier.wait(timeout=60)
        won = tracker.lock_position("mp", "XAUUSD")
        results.put((r, pid, won))
        if won:
            if not tracker.activate_position("mp", "XAUUSD", 5000 + r, "XAGUSD"):
                os._exit(3)
            status = tracker.get_position_status("mp", "XAUUSD")
            if status["owner_pid"] != pid or status["ticket"] != 5000 + r:
                os._exit(4)
        barrier.wait(timeout=60)
        if won and not tracker.reset_position("mp", "XAUUSD"):
            os._exit(5)
    tracker.close()


def contend_keys(name, barrier, results):
    """One contender in a fresh interpreter: race for every key once."""
    tracker = hedgeshm.HedgeTracker(name)
    barrier.wait(timeout=60)
    won = [k for k in range(KEYS) if tracker.lock_position("spawn", "SYM%02d" % k)]
    results.put((os.getpid(), won))
    tracker.close()


def run_all(ctx, target, args, count):
    procs = [ctx.Process(target=target, args=args) for _ in range(count)]
    for p in procs:
        p.start()
    return procs


class ProcessesTest(SegmentCase):
    def collect(self, procs, results, expected):
        got = []
        deadline = time.monotonic() + 120
        while len(got) < expected and time.monotonic() < deadline:
            try:
                got.append(results.get(timeout=1))
            except Exception:
                if not any(p.is_alive() for p in procs) and results.empty():
                    break
        for p in procs:
            p.join(timeout=60)
            self.assertEqual(p.exitcode, 0, "contender %d failed" % p.pid)
        return got

    def test_one_winner_per_round_forked(self):
        ctx = multiprocessing.get_context("fork")
        barrier, results = ctx.Barrier(PROCESSES), ctx.Queue()
        procs = run_all(ctx, contend_rounds, (self.name, barrier, results), PROCESSES)
        got = self.collect(procs, results, PROCESSES * ROUNDS)
        self.assertEqual(len(got), PROCESSES * ROUNDS)
        winners = {}
        for r, pid, won in got:
            if won:
                winners.setdefault(r, []).append(pid)
        self.assertEqual(sorted(winners), list(range(ROUNDS)))
        self.assertEqual({r: len(w) for r, w in winners.items()}, {r: 1 for r in range(ROUNDS)})
        stats = self.tracker.get_statistics()
        self.assertEqual((stats["locks_won"], stats["activations"], stats["resets"]),
                         (ROUNDS, ROUNDS, ROUNDS))
        self.assertEqual(stats["lock_conflicts"], ROUNDS * (PROCESSES - 1))
        self.assertEqual(self.tracker.get_position_status("mp", "XAUUSD")["state"], "AVAILABLE")

    def test_one_winner_per_key_spawned(self):
        ctx = multiprocessing.get_context("spawn")
        count = 3
        barrier, results = ctx.Barrier(count), ctx.Queue()
        procs = run_all(ctx, contend_keys, (self.name, barrier, results), count)
        got = self.collect(procs, results, count)
        self.assertEqual(len(got), count)
        won = sorted(k for _, keys in got for k in keys)
        self.assertEqual(won, list(range(KEYS)))  # every key once, no key twice
        owners = {st["symbol"]: st["owner_pid"] for st in self.tracker.positions("HEDGING")}
        for pid, keys in got:
            for k in keys:
                self.assertEqual(owners["SYM%02d" % k], pid)

    def test_tracker_refuses_work_after_fork(self):
        parent = self.open()
        parent.lock_position("fork", "EURUSD")
        registered = parent.info()["procs_registered"]
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                for call, args in ((parent.lock_position, ("fork", "X")),
                                   (parent.get_position_status, ("fork", "EURUSD")),
                                   (parent.reset_position, ("fork", "EURUSD")),
                                   (parent.token, ("fork", "EURUSD"))):
                    try:
                        call(*args)
                        code = 2
                    except ValueError as e:
                        if "fork" not in str(e):
                            code = 3
                parent.close()  # must not unregister the parent's handle
                with hedgeshm.HedgeTracker(self.name) as mine:  # a child's own tracker works
                    if mine.lock_position("fork", "EURUSD"):
                        code = 4
                    if not mine.lock_position("fork", "CHILD"):
                        code = 5
            except BaseException:
                code = 6
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        self.assertEqual(os.waitstatus_to_exitcode(status), 0)
        self.assertEqual(parent.info()["procs_registered"], registered)
        self.assertTrue(parent.reset_position("fork", "EURUSD"))
        self.assertEqual(parent.get_position_status("fork", "CHILD")["owner_pid"], pid)

    def test_dead_owner_lease_runs_out(self):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                t = hedgeshm.HedgeTracker(self.name, lease_ms=100)
                code = 0 if t.lock_position("dead", "EURUSD") else 2
            finally:
                os._exit(code)  # dies holding the lock
        _, status = os.waitpid(pid, 0)
        self.assertEqual(os.waitstatus_to_exitcode(status), 0)
        st = self.tracker.get_position_status("dead", "EURUSD")
        self.assertEqual((st["state"], st["owner_pid"]), ("HEDGING", pid))
        time.sleep(0.2)
        self.assertTrue(self.tracker.get_position_status("dead", "EURUSD")["lease_expired"])
        self.assertFalse(self.tracker.lock_position("dead", "EURUSD"))  # the syncer's call


if __name__ == "__main__":
    unittest.main()
